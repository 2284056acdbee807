"""The command line's argument types and its checks of output destinations.

Every check here runs before any work: a bad ``--n-jobs``, ``--season-length`` or
``--timeout``, an ``--out`` that names a folder or an unsupported file type, or a ``--plots``
that names a file is refused at once, as one line ``error: ...`` with exit status 2, instead
of a traceback after the whole computation.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
from pathlib import Path
from typing import NoReturn

import pandas as pd

from metacompose.errors import InputError

TABLE_FORMATS = {".csv": "csv", "": "csv", ".parquet": "parquet", ".pq": "parquet"}
"""Suffix of an output table (lower case) -> format; no suffix writes CSV."""


class Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose usage errors are one line, ``error: ...`` (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Print ``error: <message> (see '<prog> --help')`` to stderr and exit with status 2.

        Raises:
            SystemExit: always, with code 2.
        """
        print(f"error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def positive_int(text: str) -> int:
    """``text`` as an integer ``>= 1`` (an argparse ``type``).

    Raises:
        argparse.ArgumentTypeError: not an integer, or below 1.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def seed(text: str) -> int:
    """``text`` as a seed, an integer ``>= 0`` (an argparse ``type``).

    Raises:
        argparse.ArgumentTypeError: not an integer, or negative.
    """
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def n_jobs(text: str) -> int:
    """``text`` as a number of workers: a positive integer, or -1 for every core (joblib's convention).

    Raises:
        argparse.ArgumentTypeError: anything else (0, -2, 1.5, a word).
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 and value != -1:
        raise argparse.ArgumentTypeError(f"must be a positive number of workers, or -1 for all cores, got {text!r}")
    return value


def seconds(text: str) -> float:
    """``text`` as a positive, finite number of seconds (an argparse ``type``).

    Raises:
        argparse.ArgumentTypeError: not a number, not finite, or ``<= 0``.
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def separator(text: str) -> str:
    """``text`` as a CSV separator, where ``\\t`` (backslash, t) or ``tab`` mean a tab (an argparse ``type``).

    Raises:
        argparse.ArgumentTypeError: an empty separator.
    """
    if text in ("\\t", "tab", "TAB"):
        return "\t"
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _check_creatable(path: Path, option: str) -> None:
    """Check that the folders above ``path`` exist as folders or can be created there.

    Raises:
        InputError: a parent is an existing file, or the nearest existing one is not writable.
    """
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{option} {str(path)!r}: {parent} is a file, so no folder can be created there")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {str(path)!r}: cannot write in {parent} (permission denied)")


def check_out_file(path: str | Path, option: str = "--out") -> str:
    """Check an output table's path before any work, and return the format its suffix asks for.

    Args:
        path: the file to write: ``.csv``, ``.csv.gz`` (compressed) or no suffix for CSV,
            ``.parquet``/``.pq`` for Parquet.
        option: the option's name, for messages.

    Returns:
        ``"csv"`` or ``"parquet"``.

    Raises:
        InputError: ``path`` is an existing folder or ends with a path separator, a folder above
            it is a file or not writable, its suffix is not supported (the message lists the
            supported ones), or Parquet is asked for without pyarrow (the message names the
            ``metacompose[parquet]`` extra).
    """
    text = str(path)
    p = Path(path)
    if p.is_dir() or text.endswith(("/", os.sep)):
        raise InputError(f"{option} {text!r} is a folder; give a file path, e.g. {str(p / 'forecasts.csv')!r}")
    suffix = ".csv" if p.name.lower().endswith(".csv.gz") else p.suffix.lower()
    fmt = TABLE_FORMATS.get(suffix)
    if fmt is None:
        raise InputError(f"{option} {text!r}: unsupported file type {p.suffix!r}; supported: .csv, .csv.gz (or no "
                         "suffix: CSV), .parquet, .pq")
    if fmt == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise InputError(f"{option} {text!r}: writing Parquet needs pyarrow: pip install 'metacompose[parquet]'")
    _check_creatable(p, option)
    return fmt


def check_out_folder(path: str | Path, option: str) -> Path:
    """Check, before any work, that ``path`` is a folder or can be created as one.

    Args:
        path: the folder; option: the option's name, for messages.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: ``path`` is an existing file, or a folder above it is a file or not writable.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{option} {str(path)!r} is a file; give a folder (created if needed)")
    _check_creatable(p, option)
    return p


def write_table(frame: pd.DataFrame, path: str | Path, fmt: str) -> None:
    """Write ``frame`` without its index as CSV or Parquet (``fmt`` from :func:`check_out_file`),
    creating the folders above ``path``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def ignored_columns(df: pd.DataFrame, columns) -> str | None:
    """The line saying which columns of ``df`` besides ``columns`` (id, time, target) are ignored.

    Returns:
        the line, or None when there are none or a named column is missing (validation then
        reports the missing one).
    """
    names = [str(c) for c in df.columns]
    if not set(columns) <= set(names):
        return None
    extra = [c for c in names if c not in set(columns)]
    if not extra:
        return None
    return (f"ignoring {len(extra)} other column(s) {extra}: metacompose forecasts each series from its own "
            "history only (no exogenous variables)")
