"""Safe reading of metacompose's files: a JSON header with a format name and version, and npz arrays.

Nothing here unpickles: arrays are read with ``allow_pickle=False``, so an object array
(a pickle in disguise) is refused instead of executed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from metacompose.errors import FileFormatError


def check_version(header: dict, supported: int, what: str) -> None:
    """Refuse a file header whose ``version`` is missing, not a positive integer, or newer than ``supported``.

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


def read_header(path: Path, fmt: str, supported: int, what: str) -> dict:
    """Read and check a JSON header.

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


def read_arrays(path: Path, what: str, keys=None) -> dict[str, np.ndarray]:
    """Read the arrays of an ``.npz`` file without unpickling.

    Args:
        path: the ``.npz`` file; what: the kind of file, for messages;
        keys: names to read (all if None).

    Returns:
        name -> array.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: corrupted, holds object (pickled) arrays, or lacks a key.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in (z.files if keys is None else keys)}
    except FileNotFoundError:
        raise
    except Exception as exc:  # zipfile/numpy raise many types on corrupt or pickled files
        raise FileFormatError(f"{path} is corrupted or not a {what} file: {exc}") from None
