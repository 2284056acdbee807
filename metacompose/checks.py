"""Argument checks shared by every public constructor and function: one message per kind of mistake.

Each check returns the value converted to its plain Python type, or raises
:class:`~metacompose.errors.InputError` (a ``ValueError``) naming the argument.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from metacompose.errors import InputError


def check_int(value: Any, name: str, low: int = 1) -> int:
    """``value`` as an ``int`` ``>= low`` (bools are refused: ``True`` is not a count).

    Raises:
        InputError: not an integer, or below ``low``; the message names ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise InputError(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_optional_int(value: Any, name: str, low: int = 1) -> int | None:
    """``None``, or :func:`check_int` of ``value``.

    Raises:
        InputError: as :func:`check_int`.
    """
    return None if value is None else check_int(value, name, low)


def check_horizon(h: Any) -> int:
    """The forecast horizon ``h`` as a positive ``int``.

    Raises:
        InputError: ``h`` is not an integer or is ``<= 0``.
    """
    return check_int(h, "horizon h")


def check_season_length(m: Any) -> int:
    """The season length ``m`` (1 = no seasonality) as a positive ``int``.

    Raises:
        InputError: ``m`` is not an integer or is ``<= 0``.
    """
    return check_int(m, "season_length")


def check_number(value: Any, name: str, low: float = -math.inf, high: float = math.inf,
                 low_open: bool = False) -> float:
    """``value`` as a finite ``float`` in ``[low, high]`` (``(low, high]`` with ``low_open``).

    Raises:
        InputError: not a real number, not finite, or out of range; the message names ``name``.
    """
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > low if low_open else v >= low) and v <= high
    if not ok:
        lo = "(" if low_open else "["
        raise InputError(f"{name} must be a finite number in {lo}{low:g}, {high:g}], got {value!r}")
    return v


def check_choice(value: Any, name: str, choices) -> Any:
    """``value`` if it is one of ``choices``.

    Raises:
        InputError: it is not; the message lists the choices.
    """
    if value not in choices:
        raise InputError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_flag(value: Any, name: str) -> bool:
    """``value`` if it is a bool (numpy's included).

    Raises:
        InputError: anything else (a string such as ``"yes"``, a number, None).
    """
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_timeout(value: Any, name: str = "timeout") -> float | None:
    """``None`` (no limit) or a positive, finite number of seconds.

    Raises:
        InputError: anything else.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be None or a positive number of seconds, got {value!r}")
    return float(value)


def check_levels(level: Any, name: str = "level") -> list[int | float]:
    """Interval levels in percent: one number or a sequence, each in the open interval ``(0, 100)``.

    Args:
        level: e.g. ``95`` or ``[80, 95]`` (the coverage of a central interval, in percent).
        name: the argument's name, for the message.

    Returns:
        the distinct levels in increasing order; a whole number becomes an ``int`` (so that
        ``80.0`` names the columns ``-lo-80``, statsforecast's convention), others a ``float``.

    Raises:
        InputError: an empty sequence, or an entry that is not a finite number strictly
            between 0 and 100 (e.g. ``0``, ``100``, ``-5``). Levels are percentages: ``0.95``
            is accepted and means 0.95 percent, not 95.
    """
    values = [level] if not isinstance(level, (list, tuple, np.ndarray, range)) else list(np.ravel(level))
    if not values:
        raise InputError(f"{name} must be a number in (0, 100) or a list of them, got an empty list")
    out = []
    for v in values:
        ok = not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))
        if not ok or not math.isfinite(float(v)) or not 0.0 < float(v) < 100.0:
            raise InputError(f"{name} must be a number in (0, 100) (a percentage, e.g. 80 or 95) "
                             f"or a list of them, got {v!r}")
        out.append(int(v) if float(v).is_integer() else float(v))
    return sorted(set(out))
