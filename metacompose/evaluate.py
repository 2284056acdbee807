"""Score composed and base forecasts on a held-out test part (sMAPE, MASE, MAPE and tail figures)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from metacompose.cube import ForecastCube
from metacompose.metrics import mape, mase, smape

TAIL_QUANTILE = 99.0
"""Percentile of per-series sMAPE reported as a tail figure (:func:`tail_figures`)."""
TAIL_RATIO = 2.0
"""A series counts as a failure when its sMAPE exceeds this multiple of the reference's (:func:`tail_figures`)."""


def test_matrix(test: pd.DataFrame, ids, horizon: int, id_col="unique_id", time_col="ds", target_col="y") -> np.ndarray:
    """Test values as float64 ``(S, H)`` in the order of ``ids``; NaN where a series has fewer than ``H`` values."""
    out = np.full((len(ids), horizon), np.nan)
    groups = {k: g.sort_values(time_col)[target_col].to_numpy(dtype=float) for k, g in test.groupby(id_col, sort=False)}
    for i, sid in enumerate(ids):
        v = groups.get(sid, np.array([]))[:horizon]
        out[i, : v.shape[0]] = v
    return out


def score(forecast: np.ndarray, actual: np.ndarray, scales: np.ndarray) -> dict[str, float]:
    """sMAPE (percent, M3/M4 definition), MASE (Hyndman & Koehler 2006) and MAPE (percent) of ``(S, H)`` forecasts."""
    return {"sMAPE": float(smape(actual, forecast)), "MASE": float(mase(actual, forecast, scales[:, None])),
            "MAPE": float(mape(actual, forecast))}


def tail_figures(forecast: np.ndarray, actual: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How bad the worst series are: the tail of the per-series sMAPE, and failures against a reference.

    Args:
        forecast, reference: forecasts ``(S, H)`` (``reference``: usually Naive's), same units as ``actual``.
        actual: actuals ``(S, H)``; NaN where unknown.

    Returns:
        ``"p99 sMAPE"``: the :data:`TAIL_QUANTILE` percentile over series of each series' sMAPE
        (percent; numpy's linear interpolation); ``"share >2x ref"``: the share of series (0..1)
        whose sMAPE exceeds :data:`TAIL_RATIO` times the reference's on that series. Series
        with no known actual are left out; both are NaN when none is left.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row has no sMAPE
        own, ref = smape(actual, forecast, axis=1), smape(actual, reference, axis=1)
    ok = np.isfinite(own) & np.isfinite(ref)
    if not ok.any():
        return {"p99 sMAPE": np.nan, "share >2x ref": np.nan}
    return {"p99 sMAPE": float(np.percentile(own[ok], TAIL_QUANTILE)),
            "share >2x ref": float(np.mean(own[ok] > TAIL_RATIO * ref[ok]))}


def comparison_table(cube: ForecastCube, composed: dict[str, np.ndarray], actual: np.ndarray,
                     reference: np.ndarray | None = None) -> pd.DataFrame:
    """One row per base model (its forecast at the final origin) and per composed forecast.

    Args:
        cube: the backtest cube; its last origin is the forecast being scored.
        composed: name -> composed forecast ``(S, H)`` at the final origin.
        actual: test values ``(S, H)``.
        reference: forecasts ``(S, H)`` the tail figures compare with (Naive's, say); None: no tail figures.

    Returns:
        frame indexed by method with columns ``sMAPE``, ``MASE`` and ``MAPE`` (:func:`score`) and,
        with a ``reference``, ``p99 sMAPE`` and ``share >2x ref`` (:func:`tail_figures`).
    """
    forecasts = {alias: cube.forecasts[:, -1, j].astype(np.float64) for j, alias in enumerate(cube.models)}
    forecasts.update(composed)
    rows = {}
    for name, fc in forecasts.items():
        rows[name] = score(fc, actual, cube.scales)
        if reference is not None:
            rows[name].update(tail_figures(fc, actual, reference))
    return pd.DataFrame(rows).T


def weight_diversity(weights: np.ndarray, cube: ForecastCube) -> dict[str, float]:
    """How much weights ``(S, M)`` differ across series.

    Returns:
        ``mean_entropy`` (nats; 0 = one model, log M = equal weights), ``max_entropy`` (log M),
        ``share_top_differs``: among series whose weights are not all equal, the share whose
        top-weighted model is not the pool's best single model on the backtest (lowest mean
        MASE over all backtest origins), ``distinct_top_models`` among them, and
        ``share_equal``: the share of series with exactly equal weights.
    """
    w = np.clip(weights, 1e-12, 1.0)
    ent = -(w * np.log(w)).sum(axis=1)
    err = cube.errors("mase")[:, :-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        best = int(np.nanargmin(np.nanmean(err.reshape(-1, err.shape[-1]), axis=0)))
    top = weights.argmax(axis=1)
    has_top = np.ptp(weights, axis=1) > 1e-9          # rows of exactly equal weights have no top model
    return {
        "mean_entropy": float(ent.mean()), "max_entropy": float(np.log(weights.shape[1])),
        "share_top_differs": float(np.mean(top[has_top] != best)) if has_top.any() else 0.0,
        "distinct_top_models": int(np.unique(top[has_top]).size), "share_equal": float(np.mean(~has_top)),
    }
