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
* MAPE (:func:`mape`, Hyndman & Koehler 2006): ``100 * |y - yhat| / |y|`` in percent; points
  with ``y == 0`` are left out (undefined there).
* OWA (M4): the mean of sMAPE and MASE, each relative to Naive2's.
* The composition reward (:func:`reward_errors`, :func:`reward`): the equal-weight
  combination's horizon error minus the composed forecast's, in reward units (MASE as is,
  sMAPE as a fraction, ``REWARD_UNITS``), clipped; the environments and agents use these.

Every formula has one definition here: :func:`smape_points` (sMAPE), :func:`scaled_errors`
(MASE), :func:`horizon_errors` (either, averaged over the horizon) and :func:`reward`; the
cube, the environments, the agents, the pool selection and the benchmarks call them.
* Prediction intervals (:func:`coverage`, :func:`interval_score`, :func:`msis`): the share of
  actuals inside ``[lo, hi]``; the interval (Winkler) score of Winkler (1972) and Gneiting &
  Raftery (2007); and MSIS, the M4 competition's interval score scaled like MASE
  (Makridakis, Spiliotis & Assimakopoulos 2020). :func:`interval_score_points` is the one
  interval-score formula.
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

from metacompose.checks import check_levels
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
    return _nanmean(scaled_errors(y, yhat, _check_scale(scale)), axis)


def _check_scale(scale) -> np.ndarray:
    scale = np.asarray(scale, dtype=np.float64)
    if np.any(~np.isfinite(scale)) or np.any(scale <= 0):
        raise InputError("the MASE scale must be positive and finite; use metacompose.metrics.mase_scale")
    return scale


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


def mape(y: np.ndarray, yhat: np.ndarray, axis=None) -> np.ndarray | float:
    """MAPE in percent: mean of ``100 * |y - yhat| / |y|`` over ``axis`` (all by default).

    The mean absolute percentage error (Hyndman & Koehler 2006, "Another look at measures of
    forecast accuracy", IJF 22(4), section 3.2), undefined where ``y == 0``: such points are left
    out of the mean, as NaN actuals are (as utilsforecast's ``mape`` does).

    Args:
        y: actuals, any shape (NaN: unknown); yhat: forecasts, broadcastable; axis: axes to average over.

    Returns:
        a float (``axis=None``) or an array, ``>= 0``; NaN where no non-zero actual is known.

    Raises:
        InputError: the shapes do not broadcast.
    """
    y, yhat = _pair(y, yhat)
    points = np.where(y != 0, 100.0 * np.abs(y - yhat) / np.abs(np.where(y != 0, y, 1.0)), np.nan)
    return _nanmean(points, axis)


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


def _bounds(y, lo, hi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _pair(y, lo) + (_pair(y, hi)[1],)


def _level(level) -> float:
    """One interval level in percent, checked (a number in ``(0, 100)``)."""
    if isinstance(level, (list, tuple, np.ndarray)) and np.size(level) != 1:
        raise InputError(f"level must be one number in (0, 100), got {level!r}")
    return float(check_levels(level)[0])


def coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, axis=None) -> np.ndarray | float:
    """Share of the known actuals inside their interval ``lo <= y <= hi`` (bounds included).

    The empirical coverage of a prediction interval: a well-calibrated ``level``% interval
    covers about ``level / 100`` of the points (e.g. Gneiting & Raftery 2007, section 6.2).

    Args:
        y: actuals, any shape, e.g. ``(S, H)``; NaN marks unknown values and is left out.
        lo, hi: lower and upper bounds, broadcastable against ``y``, in the units of ``y``
            (``lo <= hi`` is expected, not checked; infinite bounds are allowed).
        axis: axes to average over (None = all).

    Returns:
        a float in ``[0, 1]`` (``axis=None``) or an array; NaN where no actual is known.

    Raises:
        InputError: shapes that do not broadcast.
    """
    y, lo, hi = _bounds(y, lo, hi)
    inside = np.where(np.isnan(y), np.nan, ((y >= lo) & (y <= hi)).astype(np.float64))
    return _nanmean(inside, axis)


def interval_score_points(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, level) -> np.ndarray:
    """Pointwise interval score of a central ``level``% interval: the one interval-score formula.

    ``(hi - lo) + (2 / a) (lo - y) 1{y < lo} + (2 / a) (y - hi) 1{y > hi}`` with
    ``a = 1 - level / 100``: the width plus a penalty for each miss, proportional to its
    distance (Winkler 1972, "A decision-theoretic approach to interval estimation", JASA
    67(337); Gneiting & Raftery 2007, "Strictly proper scoring rules, prediction, and
    estimation", JASA 102(477), eq. 43). Lower is better; it is a proper score for the
    ``a / 2`` and ``1 - a / 2`` quantiles.

    Args:
        y: actuals, any shape; NaN marks unknown values.
        lo, hi: bounds broadcastable against ``y``, in the units of ``y``.
        level: the interval's nominal coverage in percent, in ``(0, 100)``.

    Returns:
        float64 array of the broadcast shape, in the units of ``y``; NaN where ``y`` is NaN;
        ``inf`` where a bound is infinite.

    Raises:
        InputError: shapes that do not broadcast, or ``level`` not one number in ``(0, 100)``.
    """
    y, lo, hi = _bounds(y, lo, hi)
    a = 1.0 - _level(level) / 100.0
    with np.errstate(invalid="ignore"):
        score = (hi - lo) + (2.0 / a) * np.maximum(lo - y, 0.0) + (2.0 / a) * np.maximum(y - hi, 0.0)
    return np.where(np.isnan(y), np.nan, score)


def interval_score(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, level, axis=None) -> np.ndarray | float:
    """Mean interval (Winkler) score over ``axis`` (all by default), NaN in ``y`` ignored.

    Args, Raises: as :func:`interval_score_points` (``axis``: axes to average over).

    Returns:
        a float (``axis=None``) or an array, in the units of ``y``; NaN where no actual is known.
    """
    return _nanmean(interval_score_points(y, lo, hi, level), axis)


def msis(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, level, scale, axis=None) -> np.ndarray | float:
    """MSIS, the mean scaled interval score of the M4 competition.

    Per series, ``1/h * sum_t IS_t / scale`` with ``IS_t`` the :func:`interval_score_points`
    of step ``t`` and ``scale`` the in-sample mean absolute seasonal-naive error with lag
    ``m`` (MASE's, :func:`mase_scale`); the M4 competition scores the 95% interval
    (``a = 0.05``) and averages over series (Makridakis, Spiliotis & Assimakopoulos 2020,
    "The M4 Competition: 100,000 time series and 61 forecasting methods", IJF 36(1), 54-74,
    section 3.2). Averaging over every known point of ``(S, H)`` arrays with one horizon is
    the same mean.

    Args:
        y: actuals, e.g. ``(S, H)``; NaN marks unknown values and is left out.
        lo, hi: bounds broadcastable against ``y``, in the units of ``y``.
        level: nominal coverage in percent, in ``(0, 100)`` (95 in M4).
        scale: MASE scale broadcastable against ``y``, e.g. ``(S, 1)``; positive and finite.
        axis: axes to average over (None = all).

    Returns:
        a float (``axis=None``) or an array, scale-free, ``>= 0``; NaN where no actual is known.

    Raises:
        InputError: shapes that do not broadcast, a bad ``level``, or a scale that is not
            positive and finite.
    """
    return _nanmean(interval_score_points(y, lo, hi, level) / _check_scale(scale), axis)
