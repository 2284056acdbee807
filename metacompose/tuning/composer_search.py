"""Tuning the composer's own hyperparameters (backtest origins, their step, the agent) by cross-validation.

A configuration is scored by :meth:`metacompose.Composer.cross_validation` on the training data: the
whole composer (backtest, pool selection, agent) is refitted at each of the last ``n_windows`` cutoffs
on the data before it, and its composed forecast is scored after the cutoff
(:func:`metacompose.cross_validation.cross_validation_scores`). The search, the warm starts and the store
are those of the members' tuning (:func:`metacompose.tuning.tune`), under the name ``"Composer"``.
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping

import numpy as np
import pandas as pd
from optuna.distributions import BaseDistribution, IntDistribution

from metacompose.checks import check_horizon, check_int, check_season_length
from metacompose.composer import Composer
from metacompose.cross_validation import cross_validation_scores
from metacompose.data import validate_frame
from metacompose.errors import InputError
from metacompose.features import panel_features
from metacompose.metrics import check_metric
from metacompose.tuning.search import TuningResult, run_search, store_search
from metacompose.tuning.space import check_distributions
from metacompose.tuning.store import TuningStore
from metacompose.tuning.warm_start import warm_start_points

__all__ = ["COMPOSER_PARAMETERS", "composer_space", "tune_composer"]

COMPOSER_PARAMETERS = ("n_origins", "step", "agent", "pool_selection")
"""The composer's constructor arguments a search may vary."""


def composer_space(horizon: int) -> dict[str, BaseDistribution]:
    """The default space: ``n_origins`` from 2 to 8 and ``step`` from 1 to ``h``."""
    return {"n_origins": IntDistribution(2, 8), "step": IntDistribution(1, max(1, int(horizon)))}


def tune_composer(df: pd.DataFrame, horizon: int, season_length: int, *, space: Mapping | None = None,
                  n_trials: int = 10, n_windows: int = 1, warm_start: str | None = None,
                  store: TuningStore | None = None, n_warm: int = 3, k: int = 3, metric: str = "mase",
                  seed: int = 0, label: str = "", **composer_kwargs: Any) -> TuningResult:
    """Tune the composer's hyperparameters on cross-validation windows of the training data.

    Args:
        df: the training data, a long frame (``unique_id``, ``ds``, ``y``; other names through
            ``id_col``/``time_col``/``target_col`` in ``composer_kwargs``).
        horizon: ``h``; season_length: ``m``.
        space: name -> optuna distribution over :data:`COMPOSER_PARAMETERS`; None: :func:`composer_space`.
        n_trials: trials in all; n_windows: cross-validation cutoffs per trial (the last ones, ``h`` apart).
        warm_start, store, n_warm, k, seed, label: as :func:`metacompose.tuning.tune`.
        metric: ``"mase"`` or ``"smape"`` of the composed forecast over the windows.
        composer_kwargs: the composer's other arguments, fixed (``models``, ``agent``, ``n_jobs``, ...).

    Returns:
        a :class:`~metacompose.tuning.TuningResult` (``model = "Composer"``); ``result.build(horizon=h,
        season_length=m, **composer_kwargs)`` is the tuned composer, unfitted.

    Raises:
        InputError: an unknown or fixed-twice parameter, an empty or malformed space, bad sizes, or a warm
            start without usable stored results.
        TuningError: no trial completed (each trial's error is in the message).
    """
    space = check_distributions(composer_space(horizon) if space is None else space, COMPOSER_PARAMETERS,
                                "the composer's search")
    twice = sorted(set(space) & set(composer_kwargs) | {"horizon", "season_length"} & set(composer_kwargs))
    if twice:
        raise InputError(f"{', '.join(twice)} cannot be both searched or fixed and passed in composer_kwargs")
    unknown = set(composer_kwargs) - set(inspect.signature(Composer.__init__).parameters)
    if unknown:
        raise InputError(f"unknown Composer argument(s): {', '.join(sorted(unknown))}")
    h, m = check_horizon(horizon), check_season_length(season_length)
    n_trials, n_windows, n_warm = check_int(n_trials, "n_trials"), check_int(n_windows, "n_windows"), check_int(n_warm, "n_warm", 0)
    metric = check_metric(metric)
    cols = {c: composer_kwargs.get(c, d) for c, d in (("id_col", "unique_id"), ("time_col", "ds"), ("target_col", "y"))}
    ys = validate_frame(df, **cols).values
    features = panel_features(ys, m, h)
    first = warm_start_points(warm_start, store, "Composer", metric, features, space, min(n_warm, n_trials), k, seed)
    column = {"mase": "MASE", "smape": "sMAPE"}[metric]

    def evaluate(values: dict) -> tuple[float, dict]:
        try:
            comp = Composer(horizon=h, season_length=m, **composer_kwargs, **values)
            cv = comp.cross_validation(df, n_windows)
        except InputError as exc:
            return float("nan"), {"error": str(exc)}
        value = float(cross_validation_scores(cv, df, m, **cols).loc["composed", column])
        return (value, {}) if np.isfinite(value) else (float("nan"), {"error": "no composed forecast was scored"})

    best, value, table, done = run_search("the composer", space, evaluate, n_trials, first, warm_start, seed)
    if store is not None:
        store_search(store, "Composer", metric, features, done, (h, m, len(ys)), label)
    return TuningResult("Composer", metric, best, dict(best), value, table, features, Composer)
