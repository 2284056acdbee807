"""metacompose's one file container: a JSON header beside an ``.npz`` of arrays, written atomically.

Everything metacompose saves (forecast cubes, composition agents and their checkpoints,
composers, learned-optimizer weights and checkpoints) is a *container* at a base path
``<base>``:

* ``<base>.json``: ``{"format": <name>, "version": <int>, ...}``, the rest of the header
  being the owner's JSON values;
* ``<base>.npz``: named numeric arrays (absent when the owner has none), read with
  ``allow_pickle=False``, so an object array (a pickle in disguise) is refused, not executed,
  plus the SHA-256 of the header (``__header_sha256__``) that ties the two files together;
* optional extra files ``<base><suffix>`` written by the owner (the PPO policy's
  ``state_dict`` as ``<base>.pt``, read back with ``torch.load(weights_only=True)``).

:func:`save_container` writes every file to a temporary name first and moves them into place
with :func:`os.replace`, the header last: a run killed mid-write leaves either the previous
container or none, never a header that points to half-written arrays.
:func:`load_container` checks the format name and refuses versions newer than the reader.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from metacompose.errors import FileFormatError, InputError

SUFFIXES = (".json", ".npz", ".pt")
DIGEST = "__header_sha256__"  # the reserved array name of the header digest


def container_base(path: str | Path) -> Path:
    """The base path of a container: ``path`` without a ``.json``/``.npz``/``.pt`` suffix."""
    path = Path(path)
    return path.with_suffix("") if path.suffix in SUFFIXES else path


def container_file(base: str | Path, suffix: str) -> Path:
    """The file ``<base><suffix>`` of a container (``suffix`` appended, never replacing one)."""
    base = Path(base)
    return base.with_name(base.name + suffix)


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def write_arrays(path: str | Path, arrays: Mapping[str, np.ndarray], compress: bool = True) -> Path:
    """Write ``arrays`` to the ``.npz`` file ``path`` atomically (temporary file, then rename).

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    with open(tmp, "wb") as fh:
        (np.savez_compressed if compress else np.savez)(fh, **dict(arrays))
    os.replace(tmp, path)
    return path


def _digest(header: Mapping) -> np.ndarray:
    """SHA-256 of the header's canonical JSON, as uint8 ``(32,)``: ties an ``.npz`` to its header."""
    text = json.dumps(header, sort_keys=True, separators=(",", ":"))
    return np.frombuffer(hashlib.sha256(text.encode("utf-8")).digest(), dtype=np.uint8)


def save_container(path: str | Path, fmt: str, version: int, header: Mapping | None = None,
                   arrays: Mapping[str, np.ndarray] | None = None,
                   extras: Mapping[str, Callable[[Path], None]] | None = None, compress: bool = True) -> Path:
    """Write a container atomically (see the module notes).

    The header is serialised first (a value JSON cannot hold fails before any file is
    touched); the ``.npz`` carries the digest of its header (array ``__header_sha256__``), so
    a container whose files come from two different writes (a run killed between the
    renames) is refused on loading instead of mixing them.

    Args:
        path: the base path (a ``.json``/``.npz``/``.pt`` suffix is dropped).
        fmt: the format name stored as ``header["format"]``; version: its version.
        header: further JSON values of the header (must not use the keys ``format``/``version``).
        arrays: named numeric arrays for ``<base>.npz`` (None: no npz is written, unless
            there are ``extras``, whose write it then ties to the header).
        extras: ``{suffix: writer}``; each ``writer(tmp_path)`` writes ``<base><suffix>``.
        compress: ``np.savez_compressed`` (default) or plain ``np.savez``.

    Returns:
        the path of the JSON header.

    Raises:
        InputError: ``header`` uses a reserved key, or an array uses the reserved name.
        TypeError: the header holds a value JSON cannot represent.
    """
    base = container_base(path)
    fields = dict(header or {})
    if "format" in fields or "version" in fields:
        raise InputError("'format' and 'version' are reserved header keys")
    header = {"format": fmt, "version": int(version), **fields}
    text = json.dumps(header, indent=1)
    base.parent.mkdir(parents=True, exist_ok=True)
    if arrays is not None or extras:
        arrays = dict(arrays or {})
        if DIGEST in arrays:
            raise InputError(f"{DIGEST!r} is a reserved array name")
        write_arrays(container_file(base, ".npz"), {**arrays, DIGEST: _digest(header)}, compress)
    for suffix, writer in (extras or {}).items():
        target = container_file(base, suffix)
        writer(_tmp(target))
        os.replace(_tmp(target), target)
    js = container_file(base, ".json")
    _tmp(js).write_text(text)
    os.replace(_tmp(js), js)
    return js


def check_version(header: dict, supported: int, what: str) -> None:
    """Refuse a header whose ``version`` is missing, not a positive integer, or newer than ``supported``.

    Raises:
        FileFormatError: with a message naming ``what`` (e.g. ``"cube"``).
    """
    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise FileFormatError(f"{what} file has no valid integer format version (got {version!r})")
    if version > supported:
        raise FileFormatError(
            f"{what} format version {version} is newer than this metacompose supports ({supported}); upgrade metacompose"
        )


def read_header(path: str | Path, fmt: str, supported: int, what: str) -> dict:
    """Read and check a container's JSON header.

    Args:
        path: the ``.json`` file.
        fmt: the expected ``format`` field; supported: newest version this code reads;
        what: the kind of file, for messages.

    Returns:
        the header as a dict.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: not JSON, not this kind of file, or an unsupported version.
    """
    try:
        header = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{path} is not valid JSON: {exc}") from None
    except UnicodeDecodeError:
        raise FileFormatError(f"{path} is not a text JSON file") from None
    if not isinstance(header, dict) or header.get("format") != fmt:
        raise FileFormatError(f"{path} is not a metacompose {what} file")
    check_version(header, supported, what)
    return header


def read_arrays(path: str | Path, what: str, keys=None, header: Mapping | None = None) -> dict[str, np.ndarray]:
    """Read the arrays of an ``.npz`` file without unpickling.

    Args:
        path: the ``.npz`` file (a path or an importlib ``Traversable``); what: the kind of
            file, for messages; keys: names to read (all if None).
        header: the container's header; when given and the file carries a header digest
            (:func:`save_container` writes one), the two must belong together.

    Returns:
        name -> array (without the digest).

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: corrupted, holds object (pickled) arrays, lacks a key, or belongs
            to another header than ``header``.
    """
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            names = [k for k in z.files if k != DIGEST] if keys is None else list(keys)
            arrays = {k: z[k] for k in names}
            digest = z[DIGEST] if DIGEST in z.files else None
    except FileNotFoundError:
        raise
    except Exception as exc:  # zipfile/numpy raise many types on corrupt or pickled files
        raise FileFormatError(f"{path} is corrupted or not a {what} file: {exc}") from None
    if header is not None and digest is not None and not np.array_equal(digest, _digest(header)):
        raise FileFormatError(f"{path} was not written with its JSON header (an interrupted write?); "
                              f"save the {what} again")
    return arrays


def load_container(path: str | Path, fmt: str, supported: int, what: str, keys=None,
                   arrays: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a container written by :func:`save_container`; never unpickles anything.

    Args:
        path: the base path (a ``.json``/``.npz``/``.pt`` suffix is dropped).
        fmt, supported, what: as :func:`read_header`.
        keys: array names that must be present (all present ones if None).
        arrays: False when the container has no ``.npz`` (the dict returned is then empty).

    Returns:
        ``(header, arrays)``.

    Raises:
        FileNotFoundError: a file is missing.
        FileFormatError: as :func:`read_header` and :func:`read_arrays`.
    """
    base = container_base(path)
    header = read_header(container_file(base, ".json"), fmt, supported, what)
    return header, (read_arrays(container_file(base, ".npz"), what, keys, header) if arrays else {})
