"""Learned-optimizer files: weights, Meta-SGD rates, Reptile initialisations and checkpoints.

Each is a :mod:`metacompose.fileio` container (``<base>.json`` header beside ``<base>.npz``
arrays, written atomically, read without unpickling) of format ``"metacompose.metaopt"``,
version 1. The header's own fields:

* ``kind``: what the arrays are (checked on load): ``"optimizer_net"`` for
  :class:`~metacompose.metaopt.network.OptimizerNet` weights (:func:`save_weights`),
  ``"meta_train_checkpoint"`` for meta-training checkpoints
  (:mod:`~metacompose.metaopt.checkpoint`), or any name given to :func:`save_arrays`;
* ``config``: the arguments that rebuild the object (the network's constructor arguments);
* ``arrays``: ``{name: shape}`` of the float32 arrays in the ``.npz``;
* ``meta``: free-form provenance (seed, data, wall time ...).

On load the header must describe the arrays exactly (same names and shapes), and every
array must be finite float data.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..errors import FileFormatError
from ..fileio import load_container, save_container
from .network import OptimizerNet

FORMAT = "metacompose.metaopt"
VERSION = 1
WEIGHTS_KIND = "optimizer_net"
_WHAT = "learned-optimizer"

__all__ = ["FORMAT", "VERSION", "WEIGHTS_KIND", "save_arrays", "load_arrays", "save_weights", "load_weights",
           "default_weights_path"]


def default_weights_path():
    """Header of the meta-trained weights shipped inside the package (``weights/default.json``).

    Returns:
        an importlib ``Traversable`` (a ``pathlib.Path`` for an installed package); pass it to
        :func:`load_weights`.
    """
    return resources.files("metacompose.metaopt").joinpath("weights/default.json")


def save_arrays(path, arrays: dict[str, np.ndarray], kind: str, config: dict | None = None,
                meta: dict | None = None) -> Path:
    """Write named arrays (as float32) with a header describing them, atomically.

    Args:
        path: the container's base path; a ``.json``/``.npz`` suffix is dropped.
        arrays: name -> array.
        kind: what the arrays are (checked on load).
        config: constructor arguments needed to rebuild the object (JSON-serialisable).
        meta: free-form provenance (seed, data, wall time ...), JSON-serialisable.

    Returns:
        the path of the JSON header.
    """
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    header = {"kind": kind, "config": config or {}, "arrays": {k: list(v.shape) for k, v in arrays.items()},
              "meta": meta or {}}
    return save_container(path, FORMAT, VERSION, header=header, arrays=arrays, compress=False)


def _read_container(path) -> tuple[dict, dict[str, np.ndarray]]:
    """:func:`~metacompose.fileio.load_container`, with a half-present container as a format error.

    Raises:
        FileNotFoundError: neither the header nor the arrays exist.
        FileFormatError: as ``load_container``, or only one of the two files exists.
    """
    try:
        return load_container(path, FORMAT, VERSION, _WHAT)
    except FileNotFoundError as exc:
        missing = Path(exc.filename) if exc.filename else None
        if missing is None:
            raise
        if missing.suffix == ".json" and missing.with_suffix(".npz").exists():
            raise FileFormatError(
                f"{path}: {missing.with_suffix('.npz').name} has no JSON header {missing.name} beside it, so it "
                f"is not a {FORMAT} file (files written before the JSON + npz container were one .npz)"
            ) from None
        if missing.suffix == ".npz":
            raise FileFormatError(f"{path}: the header {missing.with_suffix('.json').name} has no arrays "
                                  f"file {missing.name}") from None
        raise


def load_arrays(path, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read a container written by :func:`save_arrays`.

    Args:
        path: the container's base path (a ``.json``/``.npz`` suffix is dropped).
        kind: when given, the header's ``kind`` must match it.

    Returns:
        ``(arrays, header)``.

    Raises:
        FileNotFoundError: no such container.
        FileFormatError: not a metacompose.metaopt file, corrupt, half-present, wrong kind,
            array names or shapes differ from the header, non-finite or non-float arrays, or
            written by a newer format version.
    """
    header, data = _read_container(path)
    if kind is not None and header.get("kind") != kind:
        raise FileFormatError(f"{path}: holds {header.get('kind')!r}, expected {kind!r}")
    shapes = header.get("arrays", {})
    if (not isinstance(shapes, dict) or set(shapes) != set(data)
            or any(list(data[k].shape) != list(s) for k, s in shapes.items())):
        raise FileFormatError(f"{path}: arrays do not match the header")
    for k, v in data.items():
        if v.dtype.kind != "f" or not np.all(np.isfinite(v)):
            raise FileFormatError(f"{path}: array {k!r} is not finite float data")
    return data, header


def save_weights(path, net: OptimizerNet, meta: dict | None = None) -> Path:
    """Save an :class:`~metacompose.metaopt.network.OptimizerNet` (config + weights).

    Args:
        path: the container's base path (a ``.json``/``.npz`` suffix is dropped).
        net: the network.
        meta: provenance stored in the header (seed, training data, meta-loss ...).

    Returns:
        the path of the JSON header.
    """
    arrays = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    return save_arrays(path, arrays, kind=WEIGHTS_KIND, config=net.config(), meta=meta)


def load_weights(path) -> tuple[OptimizerNet, dict]:
    """Load an :class:`~metacompose.metaopt.network.OptimizerNet` saved by :func:`save_weights`.

    Args:
        path: the container's base path (a ``.json``/``.npz`` suffix is dropped).

    Returns:
        ``(net, header)``: the network (float32, eval mode) and the file's JSON header.

    Raises:
        FileNotFoundError: no such container.
        FileFormatError: the file is corrupt, of another kind, of a newer version, or its
            arrays do not fit the network its config describes.
    """
    arrays, header = load_arrays(path, kind=WEIGHTS_KIND)
    try:
        net = OptimizerNet(**header["config"])
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}, strict=True)
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise FileFormatError(f"{path}: weights do not fit the stored config ({exc})") from exc
    net.eval()
    return net, header
