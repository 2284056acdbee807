"""Time stamps of a long frame: parsing them, and the step (frequency) of each series.

Parsing (:func:`parse_timestamps`), beyond plain datetimes and integers:

- **UTC offsets that change within the column** (ISO strings written across a daylight-saving
  change, ``...T01:00+01:00`` then ``...T03:00+02:00``): the instants are converted to UTC, so
  hourly (or finer) data stays regular and the forecast continues in UTC (``+00:00``). When
  every time stamp falls at the same local time of day (daily or coarser data written at local
  midnight), the local dates are kept instead, without the offset, so a day stays a calendar day.
  One offset throughout keeps that fixed offset as the time zone.
- **Day-first dates** (``31/01/2020``, ``13.02.2020``): numeric ``d/m/y`` dates are read
  day-first when a first field above 12 appears, month-first when a second field above 12
  appears; both (``13/02/2020`` and ``02/13/2020``) is an error naming one of each. When neither
  appears, both readings are tried on the first 20 series and the one whose series are the more
  regular wins (monthly ``01/02/2020, 01/03/2020, ...`` read month-first would be
  daily runs with gaps); a tie (both regular) is read month-first for ``/`` and ``-`` (pandas'
  default) and day-first for ``.``, with a ``UserWarning`` naming the reading chosen.
- A string that is not a date: the error names that string and its series (the first one that
  fails in the format of the column's first value), never a valid one.

The season length a frequency suggests is in :mod:`metacompose.seasons`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format
from pandas.tseries.frequencies import to_offset

from metacompose.errors import InputError

_NUMERIC_DATE = r"^\s*(\d{1,2})([/.\-])(\d{1,2})[/.\-](\d{2}|\d{4})(?:[ T].*)?$"
_OFFSET_SUFFIX = r"\s*(?:Z|[+-]\d{2}:?\d{2})$"
_SAMPLE_SERIES = 20  # series scored when deciding between day-first and month-first
_SAMPLE_WINDOWS = 24  # 3-stamp windows scored per series


def parse_timestamps(ds: pd.Series, ids: pd.Series, time_col: str):
    """A frame's time column as ``(timestamps, kind)``: a DatetimeIndex (``"datetime"``) or int64 (``"int"``).

    Args:
        ds: the time column, in frame order; ids: the series id of each row (for messages);
        time_col: the column's name (for messages).

    Returns:
        ``(DatetimeIndex, "datetime")`` or ``(int64 ndarray, "int")``, in frame order.

    Raises:
        InputError: missing time stamps, booleans, non-integral numbers, or a value that is not
            a date (the message names it and its series).
    """
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
    return _parse_dates(ds, ids, time_col), "datetime"


def _to_datetime(ds: pd.Series, **kw) -> pd.Series:
    """``pd.to_datetime`` without its notices (format guesses, mixed time zones: handled by the callers)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(ds, **kw)


def _parse_dates(ds: pd.Series, ids: pd.Series, time_col: str) -> pd.DatetimeIndex:
    """Dates given as strings or objects, parsed as the module docstring says.

    Raises:
        InputError: a value is not a date (named, with its series).
    """
    dayfirst = _day_first(ds, ids, time_col)
    try:
        out = _to_datetime(ds, dayfirst=dayfirst)
    except (ValueError, TypeError, OverflowError) as exc:
        if "time zone" not in str(exc).lower() and "utc=true" not in str(exc).lower():
            raise _not_a_date(ds, ids, time_col, dayfirst) from None
        out = None  # mixed offsets refused outright (later pandas)
    if out is not None and pd.api.types.is_datetime64_any_dtype(out):
        return pd.DatetimeIndex(out)
    return _mixed_offsets(ds, ids, time_col, dayfirst)


def _mixed_offsets(ds: pd.Series, ids: pd.Series, time_col: str, dayfirst: bool) -> pd.DatetimeIndex:
    """Time stamps whose UTC offsets differ: UTC instants, or local dates when all fall at one time of day.

    Raises:
        InputError: a value is not a date.
    """
    try:
        utc = pd.DatetimeIndex(_to_datetime(ds, utc=True, dayfirst=dayfirst))
    except (ValueError, TypeError, OverflowError):
        raise _not_a_date(ds, ids, time_col, dayfirst) from None
    try:
        if pd.api.types.is_string_dtype(ds) and all(isinstance(v, str) for v in ds.iloc[:1000]):
            local = pd.DatetimeIndex(_to_datetime(ds.str.replace(_OFFSET_SUFFIX, "", regex=True), dayfirst=dayfirst))
        else:
            local = pd.DatetimeIndex([pd.Timestamp(v).tz_localize(None) if pd.Timestamp(v).tzinfo else pd.Timestamp(v)
                                      for v in ds])
    except (ValueError, TypeError, OverflowError):
        return utc
    if local.tz is None and len(np.unique((local - local.normalize()).asi8)) == 1:
        return local
    return utc


def _day_first(ds: pd.Series, ids: pd.Series, time_col: str) -> bool:
    """Whether numeric ``d/m/y`` date strings are day-first (False for any other column).

    Raises:
        InputError: some dates have a first field above 12 and others a second one (both orders).
    """
    if not pd.api.types.is_object_dtype(ds) and not pd.api.types.is_string_dtype(ds):
        return False
    uniq = pd.Series(pd.unique(ds.to_numpy(dtype=object)))
    if not all(isinstance(v, str) for v in uniq):
        return False
    parts = uniq.str.extract(_NUMERIC_DATE)
    if parts[0].isna().any():
        return False
    a, b = parts[0].astype(int).to_numpy(), parts[2].astype(int).to_numpy()
    if (a > 12).any() and (b > 12).any():
        day, month = uniq[int(np.argmax(a > 12))], uniq[int(np.argmax(b > 12))]
        where = {v: ids.iloc[int(np.argmax((ds == v).to_numpy()))] for v in (day, month)}
        raise InputError(f"column {time_col!r} mixes day-first dates ({day!r} in series {where[day]!r}) and "
                         f"month-first ones ({month!r} in series {where[month]!r}); write one format, e.g. ISO "
                         "dates (YYYY-MM-DD)")
    if (a > 12).any() or (b > 12).any():
        return bool((a > 12).any())
    if not (a != b).any():
        return False  # both readings agree
    return _ambiguous_order(ds, ids, time_col, parts[1].iloc[0], uniq[int(np.argmax(a != b))])


def _ambiguous_order(ds: pd.Series, ids: pd.Series, time_col: str, sep: str, example: str) -> bool:
    """Day-first (True) or month-first, for dates whose day and month are both <= 12: the reading under
    which the first series are the more regular; a tie warns and follows the separator's convention."""
    codes, _ = pd.factorize(ids)
    keep = (codes >= 0) & (codes < _SAMPLE_SERIES)
    scores = {}
    for dayfirst in (False, True):
        try:
            t = pd.DatetimeIndex(_to_datetime(ds[keep], dayfirst=dayfirst))
        except (ValueError, TypeError, OverflowError):
            scores[dayfirst] = -1
            continue
        scores[dayfirst] = sum(_regularity(t[codes[keep] == c].sort_values()) for c in range(_SAMPLE_SERIES))
    if scores[True] != scores[False]:
        return scores[True] > scores[False]
    dayfirst = sep == "."
    read = _to_datetime(pd.Series([example]), dayfirst=dayfirst).iloc[0].date()
    warnings.warn(f"column {time_col!r}: dates like {example!r} read either day-first or month-first give regular "
                  f"series; read {'day' if dayfirst else 'month'}-first ({example!r} is {read}). If that is wrong, "
                  f"write ISO dates (YYYY-MM-DD) or parse the column first (pd.to_datetime(..., dayfirst=...))",
                  UserWarning, stacklevel=2)
    return dayfirst


def _regularity(idx: pd.DatetimeIndex) -> int:
    """How regular a sorted series of time stamps looks: 1000 when a frequency fits the whole series,
    else the number of its (first 24) 3-stamp windows that have one."""
    if len(idx) < 3:
        return 0
    if infer_freq(idx) is not None:
        return 1000
    return sum(infer_freq(idx[i:i + 3]) is not None for i in range(min(len(idx) - 2, _SAMPLE_WINDOWS)))


def _not_a_date(ds: pd.Series, ids: pd.Series, time_col: str, dayfirst: bool) -> InputError:
    """The error for a column that does not parse, naming the first value that fails and its series."""
    values = ds.to_numpy(dtype=object)
    first = next((v for v in values if isinstance(v, str)), None)
    fmt = guess_datetime_format(first, dayfirst=dayfirst) if first is not None else None
    try:
        bad = _to_datetime(ds, format=fmt or "mixed", dayfirst=dayfirst, errors="coerce").isna().to_numpy()
    except (ValueError, TypeError, OverflowError):
        bad = np.zeros(len(ds), dtype=bool)
    j = int(np.argmax(bad)) if bad.any() else 0
    culprit, sid = values[j], ids.iloc[j]
    how = "which is not a date"
    if fmt is not None and bad.any() and culprit != first:
        how += f" in the format of the first one, {first!r} ({fmt})"
    return InputError(f"column {time_col!r} must hold datetimes or integers, got dtype {ds.dtype} "
                      f"(e.g. {culprit!r} in series {sid!r}, {how})")


def int_step(sid: Any, t: np.ndarray, time_col: str) -> int:
    """The constant step of sorted integer time stamps ``t`` of series ``sid`` (1 for a single stamp).

    Raises:
        InputError: the steps are not all equal (the message names the first gap).
    """
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


def infer_freq(idx: pd.DatetimeIndex) -> str | None:
    """``pd.infer_freq`` as a frequency string (pandas 2 returns a string, later pandas an offset)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*infer_freq.*")
        freq = pd.infer_freq(idx)
    return None if freq is None else to_offset(freq).freqstr


def datetime_step(sid: Any, idx: pd.DatetimeIndex, time_col: str):
    """The pandas offset of the sorted time stamps ``idx`` of series ``sid``.

    Raises:
        InputError: fewer than 3 stamps, missing stamps on the series' grid (the first is named),
            a stamp off that grid, or no frequency at all.
    """
    if len(idx) < 3:
        raise InputError(f"series {sid!r}: need at least 3 timestamps to infer the frequency of {time_col}")
    freq = infer_freq(idx)
    if freq is not None:
        return to_offset(freq)
    guesses = Counter(f for f in (infer_freq(idx[i:i + 3]) for i in range(min(len(idx) - 2, 100))) if f)
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
