"""Forecast-accuracy metrics in the M3/M4 conventions.

* sMAPE (Makridakis & Hibon 2000, M4 definition): ``200 * |y - yhat| / (|y| + |yhat|)``,
  in percent, averaged over horizon and series. A point where ``y == yhat == 0`` counts
  as 0 (a perfect forecast) instead of 0/0.
* MASE (Hyndman & Koehler 2006): mean absolute error divided by the in-sample mean
  absolute seasonal-naive error with lag ``m``; when the training part is shorter than
  ``m + 1`` the lag-1 naive error is used. A zero scale (a constant training part) is
  replaced by 1.0 so the ratio stays finite; :func:`mase_scale` documents this.
* OWA (M4): the mean of sMAPE and MASE, each relative to Naive2's.
"""

from __future__ import annotations

import numpy as np


def smape(y: np.ndarray, yhat: np.ndarray, axis=None) -> np.ndarray | float:
    """sMAPE in percent (0..200), averaged over ``axis`` (all axes by default), ignoring NaN in ``y``.

    Args:
        y: actuals, any shape; NaN marks unknown values and is left out.
        yhat: forecasts, same shape as ``y``.
    """
    y = np.asarray(y, dtype=np.float64)
    yhat = np.asarray(yhat, dtype=np.float64)
    den = np.abs(y) + np.abs(yhat)
    num = 200.0 * np.abs(y - yhat)
    with np.errstate(invalid="ignore", divide="ignore"):
        val = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    val = np.where(np.isnan(y), np.nan, val)
    return np.nanmean(val, axis=axis)


def mase_scale(y: np.ndarray, season_length: int) -> float:
    """In-sample mean absolute seasonal-naive error of ``y`` (shape ``(t,)``) with lag ``m``.

    Falls back to lag 1 when ``t <= m``; returns 1.0 when ``t < 2`` or the error is 0
    (a constant series), so that MASE stays finite.
    """
    y = np.asarray(y, dtype=np.float64)
    m = season_length if y.shape[0] > season_length else 1
    if y.shape[0] <= m:
        return 1.0
    scale = float(np.mean(np.abs(y[m:] - y[:-m])))
    return scale if scale > 0 and np.isfinite(scale) else 1.0


def mase(y: np.ndarray, yhat: np.ndarray, scale, axis=None) -> np.ndarray | float:
    """MASE: ``|y - yhat| / scale`` averaged over ``axis`` (all by default), NaN in ``y`` ignored.

    Args:
        y, yhat: actuals and forecasts, same shape, e.g. ``(S, H)``.
        scale: MASE scale broadcastable against ``y``, e.g. shape ``(S, 1)``.
    """
    err = np.abs(np.asarray(y, dtype=np.float64) - np.asarray(yhat, dtype=np.float64))
    return np.nanmean(err / np.asarray(scale, dtype=np.float64), axis=axis)


def owa(smape_model: float, mase_model: float, smape_naive2: float, mase_naive2: float) -> float:
    """M4's overall weighted average: mean of the two ratios to Naive2 (1.0 = as good as Naive2)."""
    return 0.5 * (smape_model / smape_naive2 + mase_model / mase_naive2)
