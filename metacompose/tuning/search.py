"""The hyperparameter search: optuna's TPE over a pool member's backtest error inside the training data.

:func:`tune` scores each configuration by a rolling-origin backtest of the model on the panel
(:func:`backtest_error`; :func:`metacompose.backtest.backtest`, the final origin's forecast is
not scored, so nothing after the data given is used). The search is optuna's (Akiba et al. 2019)
with its tree-structured Parzen estimator (Bergstra et al. 2011), a model-based optimiser; a warm
start (:mod:`metacompose.tuning.warm_start`) enqueues the first trials from earlier panels.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import optuna
import pandas as pd

from metacompose.backtest import backtest
from metacompose.checks import check_horizon, check_int, check_number, check_season_length
from metacompose.data import validate_frame
from metacompose.errors import InputError, TuningError
from metacompose.features import panel_features
from metacompose.metrics import check_metric
from metacompose.models import Forecaster
from metacompose.tuning.space import check_space, default_space, model_class, model_params, suggest
from metacompose.tuning.store import TuningStore
from metacompose.tuning.warm_start import warm_start_points

__all__ = ["TuningResult", "backtest_error", "run_search", "store_search", "tune"]


@dataclass
class TuningResult:
    """What :func:`tune` (or :func:`~metacompose.tuning.tune_composer`) found.

    Attributes:
        model: the model's alias (``"Composer"`` for the composer).
        metric: ``"mase"`` or ``"smape"``, the backtest error minimised (MASE units, or sMAPE in percent).
        best_values: the best point of the space (derived names such as ``lookback`` kept).
        best_params: the constructor keyword arguments it stands for (``lookback`` -> ``input_length``, ...).
        best_value: its backtest error.
        trials: one row per trial: ``number``, ``source`` (``"metric"``/``"model"`` for warm-start
            trials, ``"search"`` for the sampler's), ``state`` (``COMPLETE``/``FAIL``), ``value``
            (NaN if failed), ``best_so_far`` (running minimum), ``fallback_share``, ``error`` (why a
            trial failed), and one column per parameter.
        features: the panel's features ``(F,)`` (:func:`metacompose.features.panel_features`).
        model_class: the class :meth:`build` builds (the member's, or :class:`~metacompose.Composer`).
    """

    model: str
    metric: str
    best_values: dict
    best_params: dict
    best_value: float
    trials: pd.DataFrame
    features: np.ndarray = field(repr=False)
    model_class: type = field(repr=False, default=Forecaster)

    def build(self, **params: Any):
        """A new ``model_class`` with the best parameters, ``params`` added or overriding them: for a pool
        member ``result.build(season_length=12)``, for the composer ``result.build(models=[...])``."""
        return self.model_class(**{**self.best_params, **params})


def _as_series(series) -> list[np.ndarray]:
    """A long frame (``unique_id``, ``ds``, ``y``) or a sequence of arrays, as float64 arrays."""
    if isinstance(series, pd.DataFrame):
        return list(validate_frame(series).values)
    if isinstance(series, np.ndarray) and series.ndim == 1:
        raise InputError("pass a list of series (or a long DataFrame), not one array")
    out = [np.asarray(y, dtype=np.float64) for y in series]
    if not out:
        raise InputError("tuning needs at least one series")
    return out


def backtest_error(model: Forecaster, series: Sequence[np.ndarray], horizon: int, season_length: int,
                   metric: str = "mase", n_origins: int = 2, step: int | None = None,
                   n_jobs: int = 1) -> tuple[float, float]:
    """Mean backtest error of one model on a panel, every fit scored, all inside the data given.

    The last ``h`` points of each series are held back; :func:`metacompose.backtest.backtest` runs on
    the rest, with ``n_origins`` backtest origins, and its final origin (the end of the shortened
    series) is scored on the held-back points. So every one of the ``n_origins + 1`` fits per series
    is scored and none looks past the data given. Series of at most ``h + 2`` points are left out.

    Args:
        model: the forecaster; series: ``S`` arrays ``(t_i,)``; horizon: ``h``; season_length: ``m``;
        metric: ``"mase"`` (MASE units, scale of each shortened series) or ``"smape"`` (percent); per
            origin averaged over the horizon, then over every series and origin with known actuals;
        n_origins, step, n_jobs: as :func:`metacompose.backtest.backtest`.

    Returns:
        ``(error, fallback_share)``: the error, and the share of (series, origin) fits where the
        model failed and its fallback forecast instead (those fallback forecasts are scored too).

    Raises:
        InputError: no series longer than ``h + 2``, or as :func:`~metacompose.backtest.backtest`.
    """
    kept = [np.asarray(y, dtype=np.float64) for y in series if len(y) > horizon + 2]
    if not kept:
        raise InputError(f"no series has more than h + 2 = {horizon + 2} points to tune on")
    with warnings.catch_warnings():  # a short series has no backtest origin: its final origin is still scored
        warnings.filterwarnings("ignore", message=".*too short for any backtest origin", category=UserWarning)
        cube, _ = backtest([y[:-horizon] for y in kept], [model], horizon, season_length, n_origins=n_origins,
                           step=step, n_jobs=n_jobs)
    actuals = cube.actuals.copy()
    actuals[:, -1] = np.stack([y[-horizon:] for y in kept])
    cube = replace(cube, actuals=actuals)
    err = cube.errors(metric)[:, :, 0][cube.valid]
    return float(np.nanmean(err)), float(cube.failed[:, :, 0][cube.valid].mean())


@contextlib.contextmanager
def _quiet_optuna():
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def _trial_table(study: optuna.Study, source: str | None, n_first: int) -> pd.DataFrame:
    rows = []
    for t in study.trials:
        ok = t.state == optuna.trial.TrialState.COMPLETE
        rows.append({"number": t.number, "source": source if t.number < n_first else "search", "state": t.state.name,
                     "value": t.value if ok else np.nan, "fallback_share": t.user_attrs.get("fallback_share", np.nan),
                     "error": t.user_attrs.get("error", ""), **t.params})
    table = pd.DataFrame(rows)
    table.insert(4, "best_so_far", table["value"].cummin())
    return table


def run_search(name: str, space: Mapping, evaluate: Callable[[dict], tuple[float, dict]], n_trials: int,
               first: Sequence[dict], source: str | None, seed: int) -> tuple[dict, float, pd.DataFrame, list[dict]]:
    """Optuna's TPE sampler (seed ``seed``) over ``space`` for ``n_trials`` trials, the points ``first`` tried first.

    Cold (no ``first``), TPE starts from optuna's default 10 random trials; warm, the points ``first``
    are its start-up design and TPE models from the trial after them (the warm-started Bayesian
    optimisation of Feurer, Springenberg & Hutter 2015).

    Args:
        name: what is tuned, for messages; space: name -> optuna distribution;
        evaluate: point -> ``(value, attributes)``; a NaN value fails the trial, ``attributes["error"]``
            says why (kept in the table with ``fallback_share``);
        first: warm-start points, enqueued in order; source: their label in the table.

    Returns:
        ``(best point, its value, trial table, completed trials)``: the table as :attr:`TuningResult.trials`,
        the completed trials as ``{"params": point, "value": value}`` (a :class:`TuningStore` entry's).

    Raises:
        TuningError: no trial completed (the reasons in the message).
    """
    def objective(trial: optuna.Trial) -> float:
        value, attrs = evaluate(suggest(trial, space))
        for key, v in attrs.items():
            trial.set_user_attr(key, v)
        return value

    with _quiet_optuna():
        # warm points replace TPE's random start-up design (Feurer et al. 2015); cold: optuna's default 10
        startup = len(first) if first else 10
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
        study = optuna.create_study(direction="minimize", sampler=sampler)
        for point in first:
            study.enqueue_trial(dict(point))
        study.optimize(objective, n_trials=n_trials)
    table = _trial_table(study, source, len(first))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        reasons = "; ".join(sorted(set(table["error"].astype(str))))
        raise TuningError(f"no trial of {name} completed: {reasons}")
    best = min(done, key=lambda t: t.value)
    return dict(best.params), float(best.value), table, [{"params": t.params, "value": t.value} for t in done]


def store_search(store: TuningStore, name: str, metric: str, features: np.ndarray, trials: list[dict],
                 sizes: tuple[int, int, int], label: str) -> None:
    """Add a search's completed ``trials`` to ``store`` (``sizes``: h, m, S) and save it when it has a path."""
    store.add(name, metric, features, trials, *sizes, label)
    if store.path is not None:
        store.save()


def tune(model, series, horizon: int, season_length: int = 1, *, space: Mapping | None = None, n_trials: int = 20,
         warm_start: str | None = None, store: TuningStore | None = None, n_warm: int = 3, k: int = 3,
         metric: str = "mase", n_origins: int = 2, step: int | None = None, max_fallback: float = 0.5,
         n_jobs: int = 1, seed: int = 0, label: str = "") -> TuningResult:
    """Tune one pool member's hyperparameters on the backtest of a panel.

    Args:
        model: a registered alias (``"MLP"``, ``"ARIMA"``, ...) or a :class:`~metacompose.models.Forecaster` subclass.
        series: the training data: a long frame (``unique_id``, ``ds``, ``y``) or ``S`` arrays ``(t_i,)``.
        horizon: ``h``; season_length: ``m``.
        space: name -> optuna distribution (:mod:`metacompose.tuning.space`; derived names ``lookback``,
            ``width``, ``depth``); None: the built-in space of ``model`` (:data:`~metacompose.tuning.space.DEFAULT_SPACES`).
        n_trials: trials in all, warm-start trials included.
        warm_start: None (cold: optuna's TPE after 10 random start-up trials), ``"metric"`` (best
            configurations of the ``k`` nearest stored panels) or ``"model"`` (a meta-model trained on
            the store ranks configurations); see :mod:`metacompose.tuning.warm_start`. The warm-start
            points replace the random start-up trials: TPE models from the trial after them.
        store: earlier results (:class:`TuningStore`); needed by a warm start. This panel's completed
            trials are added to it, and it is saved when it has a path.
        n_warm: warm-start trials (at most ``n_trials``; default 3); k: nearest panels of the metric-based
            warm start.
        metric: ``"mase"`` or ``"smape"``, the backtest error minimised (:func:`backtest_error`).
        n_origins, step: backtest origins per series before the scored final one, and their distance
            (:func:`backtest_error`).
        max_fallback: a trial fails when more than this share of its fits fell back to the fallback model.
        n_jobs: backtest workers; seed: seed of the sampler and of the model-based warm start.
        label: free text stored with this panel.

    Returns:
        a :class:`TuningResult`.

    Raises:
        InputError: an unknown model or parameter, an empty or malformed space, bad sizes, a warm start
            without a store or without stored results for this model and metric, or as
            :func:`backtest_error` raises.
        TuningError: no trial completed (each trial's error is in the message).
        FileFormatError: the store cannot be saved over (see :meth:`TuningStore.save`).
    """
    cls = model_class(model)
    space = check_space(cls, default_space(cls) if space is None else space)
    h, m = check_horizon(horizon), check_season_length(season_length)
    n_trials, n_warm = check_int(n_trials, "n_trials"), check_int(n_warm, "n_warm", 0)
    metric = check_metric(metric)
    max_fallback = check_number(max_fallback, "max_fallback", low=0.0, high=1.0)
    ys = _as_series(series)
    features = panel_features(ys, m, h)
    first = warm_start_points(warm_start, store, cls.alias, metric, features, space, min(n_warm, n_trials), k, seed)

    def evaluate(values: dict) -> tuple[float, dict]:
        try:
            forecaster = cls(season_length=m, **model_params(cls, values, h))
        except InputError as exc:
            return float("nan"), {"error": str(exc)}
        value, share = backtest_error(forecaster, ys, h, m, metric, n_origins, step, n_jobs)
        if share > max_fallback or not np.isfinite(value):
            return float("nan"), {"fallback_share": share,
                                  "error": f"{share:.0%} of the fits fell back (max_fallback {max_fallback:.0%})"}
        return value, {"fallback_share": share}

    best, value, table, done = run_search(cls.alias, space, evaluate, n_trials, first, warm_start, seed)
    if store is not None:
        store_search(store, cls.alias, metric, features, done, (h, m, len(ys)), label)
    return TuningResult(cls.alias, metric, best, model_params(cls, best, h), value, table, features, cls)
