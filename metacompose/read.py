"""Reading long CSV and Parquet files (re-exported as :func:`metacompose.data.read_table`).

CSV files: the separator is detected (``,``, ``;``, tab or ``|``: the one that splits the first
50 lines into the same number of fields, more than one; ``,`` first among equals) unless one is
given. Series ids are data, read verbatim as strings: ``001`` stays ``"001"``, ``1e3`` stays
``"1e3"``, and ``NA``, ``null`` or ``None`` are ids like any other; only an empty field is a missing
id. The other columns keep pandas' defaults (numbers inferred; ``NA``, ``NaN``, ``null``, empty
fields, ... are missing values). A ``;``-separated file whose numbers have decimal commas (``1,5``:
every value of a column other than the id and time columns) is read with ``decimal=","``.
Parquet files keep their stored types, ids included.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pandas as pd

from metacompose.errors import InputError

try:  # pandas' default missing-value strings
    from pandas._libs.parsers import STR_NA_VALUES as _NA_VALUES
except ImportError:  # pragma: no cover - the same list, should pandas move it
    _NA_VALUES = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
                  "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}

SEPARATORS: tuple[str, ...] = (",", ";", "\t", "|")
_SNIFF_LINES = 50


def read_table(path: str | Path, sep: str | None = None, id_col: str = "unique_id", time_col: str = "ds") -> pd.DataFrame:
    """Read a long CSV (``.csv``, ``.txt``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``) file.

    Args:
        path: the file.
        sep: the CSV separator; None detects it (``,``, ``;``, tab or ``|``, see the module docstring).
            Ignored for Parquet.
        id_col: the series id column, read as strings, verbatim (when the file has it).
        time_col: the time column (named in the hint when the separator looks wrong).

    Returns:
        the frame, as read (check it with :func:`metacompose.data.validate_frame`).

    Raises:
        FileNotFoundError: the file does not exist.
        InputError: not a .csv/.parquet file, unreadable content, Parquet without pyarrow, or a
            CSV read as one column whose name holds another separator (the separator looks wrong).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    name = path.name.lower()
    try:
        if path.suffix.lower() in (".csv", ".txt") or name.endswith(".csv.gz"):
            return _read_csv(path, sep, id_col, time_col)
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except InputError:
        raise
    except ImportError as exc:
        raise InputError(f"reading {path.name} needs pyarrow: pip install 'metacompose[parquet]' ({exc})") from None
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"could not read {path}: {type(exc).__name__}: {exc}") from None
    raise InputError(f"unsupported file type {path.suffix!r}: give a .csv or .parquet long file")


def _read_csv(path: Path, sep: str | None, id_col: str, time_col: str) -> pd.DataFrame:
    """A CSV file with ids as verbatim strings (see :func:`read_table`).

    Raises:
        InputError: a single column that looks like a wrong separator.
        ValueError, OSError, UnicodeDecodeError: from pandas, for unreadable content.
    """
    if sep is None:
        sep = detect_separator(path)
    header = pd.read_csv(path, sep=sep, nrows=0).columns
    if id_col in header:
        na = {c: ([""] if c == id_col else list(_NA_VALUES)) for c in header}
        df = pd.read_csv(path, sep=sep, dtype={id_col: str}, keep_default_na=False, na_values=na)
    else:
        df = pd.read_csv(path, sep=sep)
    _check_one_column(df, path, sep, id_col, time_col)
    if sep == ";" and _decimal_commas(df, id_col, time_col):
        kw = dict(dtype={id_col: str}, keep_default_na=False, na_values=na) if id_col in header else {}
        df = pd.read_csv(path, sep=sep, decimal=",", **kw)
    return df


def _decimal_commas(df: pd.DataFrame, id_col: str, time_col: str) -> bool:
    """Whether a text column other than the id and time columns holds only numbers with a decimal comma
    (``1,5``) or plain integers, at least one with a comma."""
    for c in df.columns:
        if c in (id_col, time_col) or not pd.api.types.is_object_dtype(df[c]):
            continue
        v = df[c].dropna().astype(str).str.strip()
        if len(v) and v.str.fullmatch(r"[+-]?\d+(?:,\d+)?").all() and v.str.contains(",").any():
            return True
    return False


def detect_separator(path: str | Path) -> str:
    """The separator of a CSV file: among ``,``, ``;``, tab and ``|``, the one that splits each of
    the first 50 lines into the same number (> 1) of fields, the most fields winning (``,`` first
    among equals); ``,`` when none does."""
    lines = _head_lines(Path(path))
    best, best_fields = ",", 1
    for sep in SEPARATORS:
        counts = {len(row) for row in csv.reader(lines, delimiter=sep) if row}
        if len(counts) == 1 and (fields := counts.pop()) > best_fields:
            best, best_fields = sep, fields
    return best


def _head_lines(path: Path) -> list[str]:
    """The first lines of a (possibly gzipped) text file; undecodable bytes are replaced."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    lines = []
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as f:
            for _ in range(_SNIFF_LINES):
                line = f.readline()
                if not line:
                    break
                lines.append(line)
    except (OSError, EOFError):
        return []  # pandas reports the problem when it reads the file
    return lines


def _check_one_column(df: pd.DataFrame, path: Path, sep: str, id_col: str, time_col: str) -> None:
    """Refuse a frame read as one column whose name another separator would split.

    Raises:
        InputError: saying the separator looks wrong, and which one to pass.
    """
    if df.shape[1] != 1 or not isinstance(df.columns[0], str):
        return
    head = df.columns[0]
    splits = {s: head.split(s) for s in SEPARATORS if s != sep and s in head}
    if not splits:
        return
    best = max(splits, key=lambda s: ((id_col in splits[s]) + (time_col in splits[s]), len(splits[s])))
    raise InputError(f"{path.name} was read as one column, {head!r}, with the separator {sep!r}: the separator looks "
                     f"wrong; its header splits by {best!r} into {splits[best][:6]}. Pass sep={best!r} "
                     f"(--sep on the command line)")
