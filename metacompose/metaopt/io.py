"""Save and load learned-optimizer weights without pickle.

File format (one ``.npz`` file, read with ``allow_pickle=False``):

* ``__header__``: a uint8 array holding UTF-8 JSON
  ``{"format": "metacompose.metaopt", "version": 1, "kind": ..., "config": {...},
  "arrays": {name: shape}, "meta": {...}}``;
* one float32 array per tensor, named as in the header.

``kind`` is ``"optimizer_net"`` for :class:`~metacompose.metaopt.network.OptimizerNet`
weights; :func:`save_arrays` / :func:`load_arrays` store other array dicts (Meta-SGD rates,
Reptile initialisations) in the same container.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import FileFormatError

FORMAT = "metacompose.metaopt"
VERSION = 1


def save_arrays(path, arrays: dict[str, np.ndarray], kind: str, config: dict | None = None,
                meta: dict | None = None) -> Path:
    """Write named arrays plus a JSON header to ``path`` (``.npz``), atomically.

    Args:
        path: destination; ``.npz`` is appended when missing.
        arrays: name -> array (stored as float32).
        kind: what the arrays are (checked on load).
        config: constructor arguments needed to rebuild the object (JSON-serialisable).
        meta: free-form provenance (seed, data, wall time ...), JSON-serialisable.

    Returns:
        The path written.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    if "__header__" in arrays:
        raise ValueError("'__header__' is a reserved array name")
    header = {"format": FORMAT, "version": VERSION, "kind": kind, "config": config or {},
              "arrays": {k: list(v.shape) for k, v in arrays.items()}, "meta": meta or {}}
    blob = np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    with open(tmp, "wb") as fh:
        np.savez(fh, __header__=blob, **arrays)
    os.replace(tmp, path)
    return path


def load_arrays(path, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`save_arrays`.

    Args:
        path: the ``.npz`` file (a ``str``, ``Path`` or importlib ``Traversable``).
        kind: when given, the header's ``kind`` must match it.

    Returns:
        ``(arrays, header)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FileFormatError: not a metacompose.metaopt file, corrupt, wrong kind, array
            shapes differ from the header, or written by a newer format version.
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise
    import io as _io

    try:
        with np.load(_io.BytesIO(raw), allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise FileFormatError(f"{path}: not a readable metacompose.metaopt file ({exc})") from exc
    if "__header__" not in data:
        raise FileFormatError(f"{path}: no header; not a metacompose.metaopt file")
    try:
        header = json.loads(data.pop("__header__").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{path}: corrupt header ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise FileFormatError(f"{path}: not a metacompose.metaopt file")
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        raise FileFormatError(f"{path}: invalid format version {version!r}")
    if version > VERSION:
        raise FileFormatError(f"{path}: format version {version} is newer than this metacompose "
                              f"supports ({VERSION}); upgrade metacompose")
    if kind is not None and header.get("kind") != kind:
        raise FileFormatError(f"{path}: holds {header.get('kind')!r}, expected {kind!r}")
    shapes = header.get("arrays", {})
    if set(shapes) != set(data) or any(list(data[k].shape) != list(s) for k, s in shapes.items()):
        raise FileFormatError(f"{path}: arrays do not match the header")
    for k, v in data.items():
        if v.dtype.kind != "f" or not np.all(np.isfinite(v)):
            raise FileFormatError(f"{path}: array {k!r} is not finite float data")
    return data, header


def save_weights(path, net, meta: dict | None = None) -> Path:
    """Save an :class:`~metacompose.metaopt.network.OptimizerNet` (config + weights).

    Args:
        path: destination ``.npz``.
        net: the network.
        meta: provenance stored in the header (seed, training data, meta-loss ...).

    Returns:
        The path written.
    """
    arrays = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    return save_arrays(path, arrays, kind="optimizer_net", config=net.config(), meta=meta)


def load_weights(path):
    """Load an :class:`~metacompose.metaopt.network.OptimizerNet` saved by :func:`save_weights`.

    Args:
        path: the ``.npz`` file.

    Returns:
        ``(net, header)``: the network (float32, eval mode) and the file's JSON header.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FileFormatError: the file is corrupt, of another kind, of a newer version, or its
            arrays do not fit the network its config describes.
    """
    from .network import OptimizerNet

    arrays, header = load_arrays(path, kind="optimizer_net")
    try:
        net = OptimizerNet(**header["config"])
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}, strict=True)
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise FileFormatError(f"{path}: weights do not fit the stored config ({exc})") from exc
    net.eval()
    return net, header
