"""Forecast-accuracy metrics in the M3/M4 conventions.

* sMAPE (Makridakis & Hibon 2000, M4 definition): ``200 * |y - yhat| / (|y| + |yhat|)``,
  in percent (0..200), averaged over horizon and series. A point where ``y == yhat == 0``
  counts as 0 (a perfect forecast) instead of 0/0, so an all-zero series forecast by zeros
  scores 0 and forecast by anything else scores 200 per point. Negative values are fine:
  the absolute values keep the denominator non-negative (a point with ``y = -yhat`` scores 200).
* MASE (Hyndman & Koehler 2006): mean absolute error divided by the in-sample mean
  absolute seasonal-naive error with lag ``m``; when the training part is shorter than
  ``m + 1`` the lag-1 naive error is used. A zero scale (a constant training part) is
  replaced by 1.0 so the ratio stays finite; :func:`mase_scale` documents this. MASE is
  scale-free: multiplying the training part, the actuals and the forecasts by ``c > 0``
  leaves it unchanged (except for a constant training part, whose scale is the fixed 1.0).
* OWA (M4): the mean of sMAPE and MASE, each relative to Naive2's.
* The composition reward (:func:`reward_errors`, :func:`reward`): the equal-weight
  combination's horizon error minus the composed forecast's, in reward units (MASE as is,
  sMAPE as a fraction, ``REWARD_UNITS``), clipped; the environments and agents use these.

Every formula has one definition here: :func:`smape_points` (sMAPE), :func:`scaled_errors`
(MASE), :func:`horizon_errors` (either, averaged over the horizon) and :func:`reward`; the
cube, the environments, the agents, the pool selection and the benchmarks call them.
* Comparing two forecasts' errors over the same series: :func:`improvement_p_value`, a
  one-sided paired t-test (a cross-sectional Diebold-Mariano comparison, Diebold & Mariano
  1995), used by the guards that keep equal weights or a whole pool without evidence.

NaN in the actuals marks an unknown value and is left out of every mean; a mean over no
known value is NaN.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import ttest_rel

from metacompose.errors import InputError


def _pair(y, yhat) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    yhat = np.asarray(yhat, dtype=np.float64)
    try:
        np.broadcast_shapes(y.shape, yhat.shape)
    except ValueError:
        raise InputError(f"actuals of shape {y.shape} and forecasts of shape {yhat.shape} do not match") from None
    return y, yhat


def _nanmean(a: np.ndarray, axis):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice" -> NaN, documented
        return np.nanmean(a, axis=axis)


def smape(y: np.ndarray, yhat: np.ndarray, axis=None) -> np.ndarray | float:
    """sMAPE in percent (0..200), averaged over ``axis`` (all axes by default), ignoring NaN in ``y``.

    Args:
        y: actuals, any shape; NaN marks unknown values and is left out.
        yhat: forecasts, same (or a broadcastable) shape as ``y``.
        axis: axes to average over (None = all).

    Returns:
        a float (``axis=None``) or an array; NaN where no actual is known.

    Raises:
        InputError: the shapes of ``y`` and ``yhat`` do not broadcast.
    """
    return _nanmean(smape_points(y, yhat), axis)


def smape_points(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Pointwise sMAPE in percent, ``200 * |y - yhat| / (|y| + |yhat|)``: the one sMAPE formula.

    Args:
        y: actuals, any shape; NaN marks unknown values.
        yhat: forecasts, same (or a broadcastable) shape.

    Returns:
        float64 array of the broadcast shape, in ``[0, 200]``; 0 where ``y == yhat == 0``;
        NaN where ``y`` is NaN.

    Raises:
        InputError: the shapes do not broadcast.
    """
    y, yhat = _pair(y, yhat)
    # divide both by the larger magnitude first, so that huge finite values cannot overflow
    top = np.maximum(np.abs(y), np.abs(yhat))
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(top > 0, y / np.where(top > 0, top, 1.0), 0.0)
        b = np.where(top > 0, yhat / np.where(top > 0, top, 1.0), 0.0)
        den = np.abs(a) + np.abs(b)
        val = np.where(den > 0, 200.0 * np.abs(a - b) / np.where(den > 0, den, 1.0), 0.0)
    return np.where(np.isnan(y), np.nan, np.minimum(val, 200.0))


def mase_scale(y: np.ndarray, season_length: int) -> float:
    """In-sample mean absolute seasonal-naive error of ``y`` (shape ``(t,)``) with lag ``m``.

    Falls back to lag 1 when ``t <= m``; returns 1.0 when ``t < 2`` or the error is 0
    (a constant series), numerically zero (below ``MIN_SCALE`` = 1e-150, where dividing
    by it overflows) or not finite, so that MASE stays finite.

    Args:
        y: the training part of one series, ``(t,)``.
        season_length: ``m`` >= 1.

    Returns:
        the scale (> 0, in the units of ``y``).
    """
    y = np.asarray(y, dtype=np.float64)
    m = season_length if y.shape[0] > season_length else 1
    if y.shape[0] <= m:
        return 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        scale = float(np.mean(np.abs(y[m:] - y[:-m])))
    return scale if scale > MIN_SCALE and np.isfinite(scale) else 1.0


MIN_SCALE = 1e-150


def mase(y: np.ndarray, yhat: np.ndarray, scale, axis=None) -> np.ndarray | float:
    """MASE: ``|y - yhat| / scale`` averaged over ``axis`` (all by default), NaN in ``y`` ignored.

    Args:
        y, yhat: actuals and forecasts, same shape, e.g. ``(S, H)``.
        scale: MASE scale broadcastable against ``y``, e.g. shape ``(S, 1)``; positive
            (use :func:`mase_scale`).
        axis: axes to average over (None = all).

    Returns:
        a float (``axis=None``) or an array, >= 0; NaN where no actual is known.

    Raises:
        InputError: shapes that do not broadcast, or a scale that is not positive and finite.
    """
    scale = np.asarray(scale, dtype=np.float64)
    if np.any(~np.isfinite(scale)) or np.any(scale <= 0):
        raise InputError("the MASE scale must be positive and finite; use metacompose.metrics.mase_scale")
    return _nanmean(scaled_errors(y, yhat, scale), axis)


def scaled_errors(y: np.ndarray, yhat: np.ndarray, scale) -> np.ndarray:
    """Pointwise absolute scaled errors ``|y - yhat| / scale``: the one MASE formula (MASE units).

    Args:
        y, yhat: actuals and forecasts, broadcastable shapes; NaN in ``y`` gives NaN.
        scale: the MASE scale (:func:`mase_scale`), broadcastable against them.

    Returns:
        float64 array of the broadcast shape.

    Raises:
        InputError: the shapes do not broadcast.
    """
    y, yhat = _pair(y, yhat)
    return np.abs(y - yhat) / scale


ERROR_METRICS = ("mase", "smape")
# Rewards are error differences in these units: MASE as is, sMAPE as a fraction (percent / 100),
# so that both metrics give rewards of order one.
REWARD_UNITS = {"mase": 1.0, "smape": 0.01}


def check_metric(metric, name: str = "metric") -> str:
    """``metric`` if it is ``"mase"`` or ``"smape"``.

    Raises:
        InputError: anything else; the message names ``name``.
    """
    if metric not in ERROR_METRICS:
        raise InputError(f"{name} must be one of {ERROR_METRICS}, got {metric!r}")
    return metric


def horizon_errors(y: np.ndarray, yhat: np.ndarray, scale, metric: str) -> np.ndarray:
    """Error of each forecast averaged over its horizon (the last axis), unknown steps left out.

    Args:
        y: actuals ``(..., H)``; NaN marks an unknown step.
        yhat: forecasts ``(..., H)`` broadcastable against ``y``, e.g. ``(S, O, M, H)``
            against ``(S, O, 1, H)``.
        scale: MASE scale broadcastable against ``y[..., :1]`` (used for ``"mase"`` only).
        metric: ``"mase"`` (MASE units) or ``"smape"`` (percent).

    Returns:
        float64 array of the broadcast shape without its last axis; NaN where no step is known.

    Raises:
        InputError: unknown ``metric`` or shapes that do not broadcast.
    """
    if check_metric(metric) == "mase":
        return _nanmean(scaled_errors(y, yhat, scale), -1)
    return _nanmean(smape_points(y, yhat), -1)


def reward_errors(y: np.ndarray, yhat: np.ndarray, scale, metric: str) -> np.ndarray:
    """:func:`horizon_errors` in reward units: MASE as is, sMAPE as a fraction (``REWARD_UNITS``).

    Args and Raises: as :func:`horizon_errors`.

    Returns:
        float64 array of the broadcast shape without its last axis.
    """
    return REWARD_UNITS[check_metric(metric)] * horizon_errors(y, yhat, scale, metric)


def reward(error_reference, error_composed, clip: float) -> np.ndarray:
    """The composition reward: how much lower the composed forecast's error is than a reference's.

    ``clip(error_reference - error_composed, -clip, clip)``, with both errors in reward units
    (:func:`reward_errors`); NaN counts as no gain.

    Args:
        error_reference, error_composed: broadcastable arrays of horizon errors.
        clip: bound of the reward's absolute value (> 0).

    Returns:
        float64 array; positive where the composed forecast is more accurate.
    """
    gain = np.asarray(error_reference, dtype=np.float64) - error_composed
    return np.clip(np.nan_to_num(gain), -clip, clip)


def owa(smape_model: float, mase_model: float, smape_naive2: float, mase_naive2: float) -> float:
    """M4's overall weighted average: mean of the two ratios to Naive2 (1.0 = as good as Naive2)."""
    return 0.5 * (smape_model / smape_naive2 + mase_model / mase_naive2)


def check_alpha(alpha, name: str = "alpha") -> float | None:
    """A significance level: a number in ``(0, 1)``, or None (no test).

    Raises:
        InputError: anything else; the message names ``name``.
    """
    if alpha is None:
        return None
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0.0 < alpha < 1.0:
        raise InputError(f"{name} must lie in (0, 1) or be None, got {alpha!r}")
    return float(alpha)


def improvement_p_value(reference: np.ndarray, candidate: np.ndarray) -> float:
    """One-sided p-value that ``candidate``'s errors are lower than ``reference``'s, paired by series.

    Args:
        reference, candidate: ``(S,)`` errors of two forecasts of the same series (any one
            unit); pairs with a NaN are left out.

    Returns:
        the p-value of :func:`scipy.stats.ttest_rel` with ``alternative="greater"``; when
        every pair differs by the same amount (no variance), 0.0 if that amount is a gain
        and 1.0 otherwise; 1.0 with fewer than two pairs.
    """
    ref, cand = np.asarray(reference, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    known = np.isfinite(ref) & np.isfinite(cand)
    gain = ref[known] - cand[known]
    if gain.size < 2:
        return 1.0
    if np.ptp(gain) > 0:
        return float(ttest_rel(ref[known], cand[known], alternative="greater").pvalue)
    return 0.0 if gain[0] > 0 else 1.0
