"""Choose the pool on the backtest: backward elimination of the equal-weight mean's members.

A model can make the equal-weight mean worse even when it is not the worst model on its own,
and a weak model can make it better when its errors offset the others'. So the pool is chosen
on the combination, not on the ranking of the single models: starting from the whole pool,
the model whose removal most lowers the equal-weight mean's backtest error is dropped, for as
long as a one-sided paired t-test over the series says that removal lowers it and more than
``min_models`` remain. Only the backtest origins
with fully known actuals are scored (``ForecastCube.backtest_mask``), so the final origin, and
any test part, plays no part.

This is the pruning idea of ensemble selection (Caruana et al. 2004, ICML, "Ensemble
selection from libraries of models"; used by AutoGluon) and of forecast pooling (Kourentzes,
Barrow & Petropoulos 2019, IJPE 209, "Another look at forecast selection and combination:
evidence from forecast pooling"), run backwards without replacement so that the result is a
plain pool for the composition agent to weight.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from metacompose.cube import ForecastCube
from metacompose.errors import InputError
from metacompose.checks import check_int
from metacompose.metrics import check_alpha, check_metric, improvement_p_value


class PoolSelection(NamedTuple):
    """What :func:`select_pool` chose.

    Attributes:
        models: aliases kept, in the cube's model order.
        dropped: aliases dropped, in the order they were removed.
        scores: the equal-weight mean's backtest error before any removal and after each one
            (``len(dropped) + 1`` values, in ``metric`` units: MASE, or sMAPE in percent).
        p_values: for each removal, the one-sided p-value that it lowered the error.
        metric: ``"mase"`` or ``"smape"``.
    """

    models: list[str]
    dropped: list[str]
    scores: list[float]
    p_values: list[float]
    metric: str


def series_errors(cube: ForecastCube, members, metric: str = "mase") -> np.ndarray:
    """Backtest error of the equal-weight mean of the models ``members``, per series.

    Args:
        cube: the backtest, forecasts ``(S, O, M, H)``.
        members: model indices into the cube's model axis (at least one).
        metric: ``"mase"`` (absolute error over each series' MASE scale) or ``"smape"``
            (percent, M3/M4 definition), averaged over the steps, then over the series'
            origins in ``cube.backtest_mask``.

    Returns:
        float64 ``(S,)``; NaN for a series without a backtest origin with known actuals.

    Raises:
        InputError: unknown ``metric`` or no ``members``.
    """
    check_metric(metric)
    idx = list(members)
    if not idx:
        raise InputError("the equal-weight mean needs at least one model")
    mean = cube.forecasts[:, :, idx].astype(np.float64).mean(axis=2, keepdims=True)  # (S, O, 1, H)
    single = replace(cube, forecasts=mean, failed=cube.failed[:, :, :1], models=["mean"])
    e = single.errors(metric)[:, :, 0]                                                 # (S, O)
    known = cube.backtest_mask
    n = known.sum(axis=1)
    total = np.where(known, np.nan_to_num(e), 0.0).sum(axis=1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def select_pool(cube: ForecastCube, metric: str = "mase", min_models: int = 2,
                alpha: float | None = 0.05) -> PoolSelection:
    """Drop models while that lowers the equal-weight mean's error on the backtest origins.

    Args:
        cube: the backtest of the candidate pool, forecasts ``(S, O, M, H)``.
        metric: ``"mase"`` or ``"smape"`` (see :func:`series_errors`); the score is the
            mean over series.
        min_models: fewest models kept (``>= 1``); a pool of at most ``min_models`` is kept whole.
        alpha: a removal is made only when a one-sided paired t-test over the series
            (:func:`scipy.stats.ttest_rel`) says it lowers the error at this level, so that
            noise does not thin the pool. None: any decrease is enough.

    Returns:
        a :class:`PoolSelection`; ``cube.take_models(selection.models)`` is the chosen pool's
        cube. A cube with fewer than two series with known backtest actuals keeps every model.

    Raises:
        InputError: unknown ``metric``, ``min_models`` not a positive int, or ``alpha`` not
            in ``(0, 1)`` and not None.
    """
    check_int(min_models, "min_models")
    check_alpha(alpha)
    kept = list(range(cube.shape[2]))
    current = series_errors(cube, kept, metric)
    rows = np.isfinite(current)
    scores, dropped, p_values = [float(np.mean(current[rows])) if rows.any() else float("nan")], [], []
    while len(kept) > min_models and rows.sum() >= 2:
        trials = {j: series_errors(cube, [k for k in kept if k != j], metric)[rows] for j in kept}
        j = min(kept, key=lambda k: trials[k].mean())
        gain = current[rows] - trials[j]
        if not gain.mean() > 0:
            break
        p = improvement_p_value(current[rows], trials[j])
        if alpha is not None and not p < alpha:
            break
        kept.remove(j)
        current[rows] = trials[j]
        dropped.append(cube.models[j])
        scores.append(float(trials[j].mean()))
        p_values.append(p)
    return PoolSelection([cube.models[k] for k in kept], dropped, scores, p_values, metric)
