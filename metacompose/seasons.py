"""The season length ``m`` a panel's frequencies suggest, and the rule of one ``m`` per run.

Season lengths (:func:`infer_season_length`, used when no ``season_length`` is given): the
usual cycle of each frequency, the table of statsforecast's and GluonTS' ``get_seasonality``
except that daily data gets the weekly cycle (7) and weekly data the yearly one (52):

=========================  ==========  ===========================================
frequency                  ``m``       cycle
=========================  ==========  ===========================================
yearly (``YS``, ``YE``)    1           none shorter than a year
quarterly (``QS``, ...)    4           a year
monthly (``MS``, ``ME``)   12          a year
semi-monthly (``SMS``)     24          a year
weekly (``W-SUN``, ...)    52          a year
daily (``D``)              7           a week
business-daily (``B``)     5           a week
hourly (``h``)             24          a day
half-hourly (``30min``)    48          a day
15-minute (``15min``)      96          a day
minutely (``min``)         1440        a day
secondly (``s``)           3600        an hour
integer time stamps        1           no calendar
=========================  ==========  ===========================================

Multiples divide the cycle (``2h`` -> 12, ``2W`` -> 26, ``7D`` is weekly -> 52); a step that does
not divide its cycle, and any other offset (business hours, Easter, ...), gets 1. Only one
``m`` is supported: see :func:`check_one_season_length` for several seasonalities.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from metacompose.checks import check_season_length
from metacompose.errors import InputError

_O = pd.offsets
# (offset classes, steps in one cycle for n=1, the cycle, the frequency's name)
_CALENDAR = (
    ((_O.YearBegin, _O.YearEnd, _O.BYearBegin, _O.BYearEnd, _O.FY5253), 1, "year", "yearly"),
    ((_O.QuarterBegin, _O.QuarterEnd, _O.BQuarterBegin, _O.BQuarterEnd, _O.FY5253Quarter), 4, "year", "quarterly"),
    ((_O.MonthBegin, _O.MonthEnd, _O.BusinessMonthBegin, _O.BusinessMonthEnd, _O.CustomBusinessMonthBegin,
      _O.CustomBusinessMonthEnd, _O.WeekOfMonth, _O.LastWeekOfMonth), 12, "year", "monthly"),
    ((_O.SemiMonthBegin, _O.SemiMonthEnd), 24, "year", "semi-monthly"),
    ((_O.Week,), 52, "year", "weekly"),
    ((_O.BusinessDay,), 5, "week", "business-daily"),  # CustomBusinessDay included
)
_TICK_NAMES = {1: "secondly", 60: "minutely", 900: "15-minute", 1800: "half-hourly", 3600: "hourly", 86400: "daily",
               604800: "weekly"}


def _season_of(freq: Any) -> tuple[int, str]:
    """``(m, reason)`` for one frequency (a pandas offset, or an int step)."""
    if isinstance(freq, (int, np.integer)):
        return 1, "season length 1: integer time stamps carry no calendar (pass season_length, -m, for seasonal data)"
    if isinstance(freq, str):
        try:
            freq = pd.tseries.frequencies.to_offset(freq)
        except ValueError:
            return _no_season(freq)
    code = getattr(freq, "freqstr", str(freq))
    n = abs(int(getattr(freq, "n", 1))) or 1
    for classes, steps, cycle, name in _CALENDAR:
        if isinstance(freq, classes):
            base = steps
            break
    else:
        if isinstance(freq, (_O.Day, _O.Tick)):
            seconds = n * 86400 if isinstance(freq, _O.Day) else pd.Timedelta(freq).total_seconds()
            return _tick_season(code, int(seconds)) if seconds >= 1 and seconds == int(seconds) else _no_season(code)
        return _no_season(code)
    return _season_text(code, name if n == 1 else None, base, n, cycle)


def _tick_season(code: str, seconds: int) -> tuple[int, str]:
    """``(m, reason)`` for a fixed step of ``seconds``."""
    if seconds % 604800 == 0:
        return _season_text(code, _TICK_NAMES.get(seconds), 52, seconds // 604800, "year")
    if seconds % 86400 == 0:
        return _season_text(code, _TICK_NAMES.get(seconds), 7, seconds // 86400, "week")
    if seconds >= 60:
        return _season_text(code, _TICK_NAMES.get(seconds), 86400, seconds, "day")
    return _season_text(code, _TICK_NAMES.get(seconds), 3600, seconds, "hour")


def _season_text(code: str, name: str | None, base: int, n: int, cycle: str) -> tuple[int, str]:
    """``(base // n, reason)`` when ``n`` divides ``base`` (steps in one ``cycle``), else ``(1, reason)``."""
    what = f"{name} ({code!r})" if name else repr(code)
    if base == 1:
        return 1, f"season length 1 inferred from the {what} time stamps (no cycle shorter than {_per(cycle)})"
    if base % n:
        return 1, (f"season length 1 for the {what} time stamps: {_per(cycle)} is not a whole number of steps; "
                   "pass season_length (-m) to choose one")
    m = base // n
    return m, f"season length {m} inferred from the {what} time stamps ({m} steps {_per(cycle)})"


def _per(cycle: str) -> str:
    """The cycle with its article: ``"a year"``, ``"an hour"``."""
    return ("an " if cycle == "hour" else "a ") + cycle


def _no_season(code: str) -> tuple[int, str]:
    """``(1, reason)`` for a frequency without a conventional cycle."""
    return 1, f"season length 1: no conventional season for the {code!r} time stamps; pass season_length (-m)"


def infer_season_length(freqs) -> tuple[int, str]:
    """The usual season length ``m`` of a panel's frequencies (the table in the module docstring).

    Args:
        freqs: the step of each series, as :attr:`metacompose.data.Panel.freqs` holds them: pandas
            offsets for datetimes, ints for integer time stamps (frequency strings such as ``"MS"``
            are accepted too).

    Returns:
        ``(m, reason)``: the season length of the most common frequency (the first seen among equals),
        and a one-line text for the run's log, e.g. ``"season length 12 inferred from the monthly
        ('MS') time stamps (12 steps a year)"``, which says so when the series' frequencies differ.
    """
    keys = ["int" if isinstance(f, (int, np.integer)) else getattr(f, "freqstr", str(f)) for f in freqs]
    if not keys:
        return 1, "season length 1: no series to infer it from"
    counts = Counter(keys)
    key = counts.most_common(1)[0][0]
    m, reason = _season_of(freqs[keys.index(key)])
    if len(counts) > 1:
        others = ", ".join(f"{k} ({c})" for k, c in counts.most_common() if k != key)
        reason += (f"; the most common frequency, {counts[key]} of {len(keys)} series (the others: {others}): "
                   "pass season_length (-m) to choose another")
    return m, reason


def check_one_season_length(m: Any) -> int:
    """The season length, refusing several: metacompose composes models that each take one ``m``.

    Several seasonalities (half-hourly data with a daily cycle of 48 and a weekly one of 336) are not
    modelled together. Choose one: ``m=336`` when every series holds at least three weeks (1008
    half-hours; the seasonal adjustment of ARIMA, ETS and Theta needs ``3m`` observations, and its 336
    indices hold the daily shape of each weekday), else ``m=48`` (the daily cycle only).

    Args:
        m: the ``season_length`` given.

    Returns:
        ``m`` as a positive ``int``.

    Raises:
        InputError: a list, tuple, set or array of season lengths (the message says what to do),
            or ``m`` not a positive integer.
    """
    if isinstance(m, (list, tuple, set, frozenset, np.ndarray, pd.Series)):
        given = [int(v) if isinstance(v, (int, np.integer)) else v for v in m]
        longest = max((v for v in given if isinstance(v, int)), default=None)
        example = f"m={longest} when every series holds at least 3 x {longest} observations, else a shorter one" \
            if longest else "one of them"
        raise InputError(f"season_length takes one season length m, got {given}: several seasonalities are not "
                         f"supported (each base model takes a single m). Choose one, e.g. {example} (for half-hourly "
                         "data: m=336, the weekly cycle, holds the daily shape of each weekday; m=48 the daily cycle only)")
    return check_season_length(m)
