"""Scale-free series features, computed on the data known at a forecast origin.

Every feature is computed on ``y[:origin]`` only, divided by its MASE scale, and squashed
into a bounded range, so the environment's observation never sees the future and never
depends on the units of a series. The definitions follow Hyndman, Wang & Laptev (2015)
and Wang, Smith & Hyndman (2006) (trend and seasonal strength from a decomposition); the
decomposition is statsmodels' ``seasonal_decompose`` (classical moving averages).
"""

from __future__ import annotations

import warnings

import numpy as np
from statsmodels.tsa.seasonal import seasonal_decompose
from statsmodels.tsa.stattools import acf

from metacompose.errors import InputError
from metacompose.metrics import mase_scale

FEATURE_NAMES: list[str] = [
    "log_length",        # log(1 + t) / log(1000)
    "trend_strength",    # 1 - Var(remainder) / Var(trend + remainder), in [0, 1]
    "seasonal_strength", # 1 - Var(remainder) / Var(season + remainder), in [0, 1]; 0 if m == 1
    "acf1_diff",         # lag-1 autocorrelation of the first differences, in [-1, 1]
    "volatility",        # tanh(std of scaled first differences / 4)
    "recent_drift",      # tanh(mean of last m differences / MASE scale / 4)
    "level_shift",       # tanh((mean of last m - mean of first m) / MASE scale / 10)
]


def _strength(component: np.ndarray, remainder: np.ndarray) -> float:
    mask = np.isfinite(component) & np.isfinite(remainder)
    if mask.sum() < 3:
        return 0.0
    var_r = np.var(remainder[mask])
    var_cr = np.var(component[mask] + remainder[mask])
    if var_cr <= 0:
        return 0.0
    return float(np.clip(1.0 - var_r / var_cr, 0.0, 1.0))


def series_features(y: np.ndarray, season_length: int, scale: float) -> np.ndarray:
    """Features of one series prefix, float32 of shape ``(F,)`` with ``F = len(FEATURE_NAMES)``.

    Args:
        y: observations known at the origin, shape ``(t,)``, ``t >= 1``.
        season_length: seasonal period ``m``.
        scale: MASE scale of ``y`` (see :func:`metacompose.metrics.mase_scale`), > 0.

    Every value lies in ``[-1, 1]``.
    """
    y = np.asarray(y, dtype=np.float64)
    t = y.shape[0]
    m = max(1, int(season_length))
    z = (y - y[-1]) / scale
    out = np.zeros(len(FEATURE_NAMES), dtype=np.float64)
    out[0] = min(1.0, np.log1p(t) / np.log(1000.0))
    d = np.diff(z)
    if t >= 4:
        period = m if (m > 1 and t >= 2 * m + 1) else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if period is not None:
                dec = seasonal_decompose(z, period=period, model="additive", two_sided=True)
                out[1] = _strength(dec.trend, dec.resid)
                out[2] = _strength(dec.seasonal, dec.resid)
            else:
                x = np.arange(t, dtype=np.float64)
                coef = np.polyfit(x, z, 1)
                trend = np.polyval(coef, x)
                out[1] = _strength(trend - trend.mean(), z - trend)
            if d.shape[0] >= 3 and np.std(d) > 0:
                out[3] = float(np.nan_to_num(acf(d, nlags=1, fft=False)[1]))
    if d.shape[0] >= 1:
        out[4] = np.tanh(np.std(d) / 4.0)
        out[5] = np.tanh(np.mean(d[-m:]) / 4.0)
    if t >= 2 * m:
        out[6] = np.tanh((np.mean(z[-m:]) - np.mean(z[:m])) / 10.0)
    return np.clip(np.nan_to_num(out), -1.0, 1.0).astype(np.float32)


def series_feature_matrix(ys, season_length: int) -> np.ndarray:
    """:func:`series_features` of each whole series, each with its own MASE scale
    (:func:`~metacompose.metrics.mase_scale`, lag ``m``).

    Args:
        ys: series, each float ``(t_i,)`` with ``t_i >= 1``; season_length: ``m``.

    Returns:
        float64 ``(S, F)``, ``F = len(FEATURE_NAMES)``, every value in ``[-1, 1]``.
    """
    rows = [series_features(y, season_length, mase_scale(np.asarray(y, dtype=np.float64), season_length)) for y in ys]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES))


def panel_features(series, season_length: int, horizon: int) -> np.ndarray:
    """Features of a whole panel, for comparing tuning tasks (:mod:`metacompose.tuning`).

    The mean and the standard deviation over the series of :func:`series_feature_matrix`, then
    ``log(1 + h) / log(100)`` and ``log(1 + m) / log(100)``: a meta-feature vector in the spirit
    of Feurer et al. (2015, "Initializing Bayesian hyperparameter optimization via
    meta-learning", AAAI) built from the project's own scale-free series features.

    Args:
        series: ``S >= 1`` finite float arrays ``(t_i,)``, ``t_i >= 1``.
        season_length: ``m``; horizon: ``h``.

    Returns:
        float64 ``(2F + 2,)`` with ``F = len(FEATURE_NAMES)``; every value is bounded.

    Raises:
        InputError: no series.
    """
    if len(series) == 0:
        raise InputError("panel features need at least one series")
    rows = series_feature_matrix(series, season_length)
    sizes = np.log1p([horizon, season_length]) / np.log(100.0)
    return np.concatenate([rows.mean(axis=0), rows.std(axis=0), sizes])
