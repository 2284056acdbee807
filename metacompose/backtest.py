"""Rolling-origin backtest of a pool of forecasters into a :class:`ForecastCube`.

For every series the backtest fits every model at several origins inside the training
data and at the final origin (the end of the training data), in parallel over series
with joblib -- on local processes, or, with ``backend="dask"`` (or another joblib backend the
caller registered), on a cluster through joblib's backend switch, running the very same task
functions (:mod:`metacompose.backtest_tasks`). Panel models (:class:`PanelForecaster`) are fitted once
per origin on all series (:func:`~metacompose.backtest_tasks.panel_fit`), as tasks of the
same parallel run as the chunks of series (:func:`~metacompose.backtest_tasks.series_chunk`),
so a long neural fit on one worker overlaps the per-series fits on the others. A model that
raises, or returns NaN/inf, is replaced by its declared fallback for that series and origin;
every replacement is counted in the :class:`BacktestReport`. Results are cached on disk as
``.npz`` arrays (no pickle; :mod:`metacompose.backtest_cache`), per chunk of series, so a
rerun skips what is done.

:func:`backtest` runs three steps, each usable on its own: :func:`plan_backtest` checks the
arguments and lays out origins, chunks and cache files (a :class:`BacktestPlan`,
:mod:`metacompose.backtest_plan`);
:func:`run_backtest` runs the tasks that the cache does not already hold (a
:class:`BacktestRun`); :func:`assemble_backtest` builds the cube and completes the report.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from joblib import delayed

from metacompose.backtest_cache import CHUNK_ARRAYS, PANEL_ARRAYS, read_cached, write_cached
from metacompose.backtest_plan import CHUNK, MAX_ABS, BacktestPlan, plan_backtest, rolling_origins
from metacompose.backtest_tasks import MAX_MESSAGES, feature_chunk, fit_predict, panel_chain, panel_fit, series_chunk
from metacompose.cube import ForecastCube
from metacompose.metrics import mase_scale
from metacompose.models import Forecaster, get_model
from metacompose.parallel import parallel
from metacompose.progress import LOGGER, SeriesProgress
from metacompose.report import BacktestReport, FailureKind

FEATURE_ARRAYS = ("feats",)  # the array of a feature set's cache file (a set other than "basic")

__all__ = [
    "BacktestPlan", "BacktestReport", "BacktestRun", "CHUNK", "MAX_ABS", "assemble_backtest", "backtest",
    "plan_backtest", "rolling_origins", "run_backtest",
]


@dataclass
class BacktestRun:
    """What :func:`run_backtest` computed or read from the cache, before assembly.

    Attributes:
        chunks: per chunk of the plan, ``(forecasts (s, O, M_local, H), kind codes (s, O, M_local),
            features (s, O, F), origin scales (s, O), messages)``.
        panel_forecasts: panel model index -> float32 ``(S, O, H)``.
        panel_kinds: panel model index -> int8 kind codes ``(S, O)``.
        features: per chunk, float32 ``(s, O, F)`` of the plan's feature set when it is not
            ``"basic"`` (whose features are in ``chunks``); empty otherwise.
        report: the run's report (failure messages, cached chunks, seconds); the counts are
            filled in by :func:`assemble_backtest`.
    """

    chunks: list
    report: BacktestReport
    panel_forecasts: dict = field(default_factory=dict)
    panel_kinds: dict = field(default_factory=dict)
    features: list = field(default_factory=list)


def run_backtest(plan: BacktestPlan, n_jobs: int = 1, backend: str | None = None,
                 progress: bool | None = False) -> BacktestRun:
    """Run the tasks of ``plan`` that the cache does not hold, and write their cache files.

    Panel fits are scheduled first: they are the longest tasks, so the chunks of series fill
    the other workers. A panel row that is not finite is forecast by the model's fallback,
    for that series and origin alone.

    Args:
        plan: from :func:`plan_backtest`; n_jobs, backend, progress: as :func:`backtest`.

    Returns:
        the :class:`BacktestRun`.

    Raises:
        InputError: a ``backend`` not registered with joblib, or ``"dask"`` without ``distributed``
            installed (only checked when there is a task to run).
    """
    t0 = time.perf_counter()
    S, O, _ = plan.shape
    if plan.chunk_paths and plan.chunk_paths[0] is not None:
        plan.chunk_paths[0].parent.mkdir(parents=True, exist_ok=True)
    run = BacktestRun(chunks=[None] * len(plan.chunks), report=BacktestReport(S, O, fallbacks=dict.fromkeys(plan.aliases, 0)))
    for j in plan.panel:
        run.panel_forecasts[j] = np.full((S, O, plan.horizon), np.nan, dtype=np.float32)
        run.panel_kinds[j] = np.zeros((S, O), dtype=np.int8)
    tasks, jobs, fresh = _schedule(plan, run)
    busy = {"per-series models": 0.0, **{f"panel:{plan.models[j].alias}": 0.0 for j in plan.panel}}
    out = parallel(n_jobs, backend)(jobs) if jobs else iter(())
    tracker = SeriesProgress(plan, [sub for t in tasks for sub in (t[1] if t[0] == "chain" else [t])], progress)
    for (res, secs), task in zip(out, tasks):
        if task[0] == "chunk":
            run.chunks[task[1]] = res
            for key, value in secs.items():
                busy[key] = busy.get(key, 0.0) + value
            write_cached(plan.chunk_paths[task[1]], dict(zip(CHUNK_ARRAYS, res)))
            tracker.advance(task)
            continue
        subtasks, results, seconds = (task[1], res, secs) if task[0] == "chain" else ([task], [res], [secs])
        for sub, r, s in zip(subtasks, results, seconds):
            busy[f"panel:{plan.models[sub[1]].alias}"] += s
            _take_panel(plan, run, sub, r)
            tracker.panel_done(sub, s, r[3])
            tracker.advance(sub)
    tracker.close(busy)
    failures = run.report.failures
    for chunk in run.chunks:
        failures.extend(str(s) for s in chunk[-1][: max(0, MAX_MESSAGES - len(failures))])
    for j in fresh:
        write_cached(plan.panel_paths[j], {"fc": run.panel_forecasts[j], "kind": run.panel_kinds[j]})
    if plan.features != "basic":
        busy[f"features:{plan.features}"] = _run_features(plan, run, n_jobs, backend)
    run.report.seconds = {**busy, "wall": time.perf_counter() - t0}
    return run


def _run_features(plan: BacktestPlan, run: BacktestRun, n_jobs: int, backend: str | None) -> float:
    """Fill ``run.features`` with the plan's (non-basic) feature set per chunk, from its own cache files
    (:func:`metacompose.backtest_plan.plan_backtest`: they do not depend on the pool, so another pool or
    horizon reuses them) or computed; returns the seconds of compute."""
    run.features = [read_cached(path, FEATURE_ARRAYS) for path in plan.feature_paths]
    run.features = [None if f is None else f[0] for f in run.features]
    todo = [c for c, f in enumerate(run.features) if f is None]
    if not todo:
        return 0.0
    LOGGER.info("backtest: %s features of %d series", plan.features, sum(len(plan.chunks[c]) for c in todo))
    jobs = [delayed(feature_chunk)(plan.ys[plan.chunks[c].start:plan.chunks[c].stop],
                                   plan.origins[plan.chunks[c].start:plan.chunks[c].stop], plan.season_length,
                                   plan.features) for c in todo]
    seconds = 0.0
    for c, (feats, secs) in zip(todo, parallel(n_jobs, backend)(jobs)):
        run.features[c], seconds = feats, seconds + secs
        write_cached(plan.feature_paths[c], {FEATURE_ARRAYS[0]: feats})
    return seconds


def _schedule(plan: BacktestPlan, run: BacktestRun) -> tuple[list, list, list]:
    """Fill ``run`` from the cache; list the tasks (and their joblib calls) for the rest.

    Returns:
        ``(tasks, jobs, fresh)``: ``("panel", j, k, rows)``, ``("chain", [("panel", j, k, rows), ...])``
        (a warm-started panel model's backtest origins, fitted in order by one task) or
        ``("chunk", c)`` per task, the delayed calls in the same order, and the panel models that
        are computed, not cached.
    """
    tasks, jobs, fresh = [], [], []
    h, ys, origins = plan.horizon, plan.ys, plan.origins
    for j in plan.panel:
        cached = read_cached(plan.panel_paths[j], PANEL_ARRAYS)
        if cached is not None:
            run.panel_forecasts[j], run.panel_kinds[j] = cached
            run.report.cached_chunks += 1
            continue
        fresh.append(j)
        model, each = plan.models[j], []
        for k in range(plan.n_origins + 1):
            rows = np.flatnonzero(origins[:, k] >= 0)
            if rows.size:
                each.append((("panel", j, k, rows), [ys[i][: origins[i, k]] for i in rows]))
        chained = each[:-1] if model.warm_starts else []  # the last one is the final origin: every series has it
        if len(chained) > 1:  # backtest origins in time order, warm-started; the final origin from scratch
            tasks.append(("chain", [t for t, _ in chained]))
            jobs.append(delayed(panel_chain)(model, [p for _, p in chained], h, plan.panel_timeout, plan.train_seconds))
            each = each[-1:]
        for task, prefixes in each:
            tasks.append(task)
            jobs.append(delayed(panel_fit)(model, prefixes, h, plan.panel_timeout, plan.train_seconds))
    local_models = [plan.models[j] for j in plan.local]
    for c, rng in enumerate(plan.chunks):
        cached = read_cached(plan.chunk_paths[c], CHUNK_ARRAYS)
        if cached is not None:
            run.chunks[c] = cached
            run.report.cached_chunks += 1
            continue
        tasks.append(("chunk", c))
        jobs.append(delayed(series_chunk)(ys[rng.start:rng.stop], plan.ids[rng.start:rng.stop],
                                          origins[rng.start:rng.stop], local_models, h, plan.season_length,
                                          plan.timeout))
    return tasks, jobs, fresh


def _take_panel(plan: BacktestPlan, run: BacktestRun, task: tuple, result: tuple) -> None:
    """Store one panel fit's forecasts; rows that are not finite fall back, series by series."""
    _, j, k, rows = task
    pred, code, msg, cut = result
    model, report = plan.models[j], run.report
    if msg is not None and len(report.failures) < MAX_MESSAGES:
        report.failures.append(f"{model.alias} (panel) @ origin index {k}: {msg}"[:300])
    if cut is not None:
        report.cut_short.setdefault(model.alias, []).append((k, *cut))
    for r, i in enumerate(rows):
        if np.all(np.isfinite(pred[r])):
            run.panel_forecasts[j][i, k] = pred[r]
        else:  # this series falls back alone
            fallback = get_model(model.fallback or "Naive", plan.season_length)
            prefix = plan.ys[i][: plan.origins[i, k]]
            run.panel_forecasts[j][i, k], _, _, _ = fit_predict(fallback, prefix, plan.horizon, plan.season_length)
            run.panel_kinds[j][i, k] = code


def assemble_backtest(plan: BacktestPlan, run: BacktestRun) -> tuple[ForecastCube, BacktestReport]:
    """Build the cube from a run's results and complete its report (failure counts, short series).

    Args:
        plan: the plan; run: its :class:`BacktestRun`.

    Returns:
        ``(cube, report)`` as :func:`backtest` returns them.
    """
    S, O, M = plan.shape
    h, local, report = plan.horizon, plan.local, run.report
    forecasts = np.full((S, O, M, h), np.nan, dtype=np.float32)
    kinds = np.zeros((S, O, M), dtype=np.int8)
    feats = np.zeros((S, O, len(plan.feature_names)), dtype=np.float32)
    oscale = np.ones((S, O), dtype=np.float32)
    for c, (rng, (fc, kd, ft, osc, _)) in enumerate(zip(plan.chunks, run.chunks)):
        forecasts[rng.start:rng.stop][:, :, local] = fc
        kinds[rng.start:rng.stop][:, :, local] = kd
        feats[rng.start:rng.stop] = ft if plan.features == "basic" else run.features[c]
        oscale[rng.start:rng.stop] = osc
    for j in plan.panel:
        forecasts[:, :, j], kinds[:, :, j] = run.panel_forecasts[j], run.panel_kinds[j]
    valid = plan.origins >= 0
    forecasts[~valid] = np.nan
    kinds[~valid] = FailureKind.NONE
    _count_failures(report, kinds, plan.ids, plan.aliases)
    report.short_series = [plan.ids[i] for i in np.flatnonzero(~valid[:, :-1].any(axis=1))]
    cube = ForecastCube(
        forecasts=forecasts, actuals=_actuals(plan), scales=np.array([mase_scale(y, plan.season_length) for y in plan.ys],
                                                                     dtype=np.float32),
        origin_scales=oscale, origins=plan.origins, features=feats, failed=kinds > 0, series_ids=plan.ids,
        models=plan.aliases, feature_names=plan.feature_names, season_length=plan.season_length, horizon=h,
        meta={"n_origins": plan.n_origins, "step": plan.step, "min_train": plan.min_train},
    )
    return cube, report


def _actuals(plan: BacktestPlan) -> np.ndarray:
    """The values after each backtest origin, float32 ``(S, O, H)``; NaN at the final origin and where unknown."""
    S, O, _ = plan.shape
    actuals = np.full((S, O, plan.horizon), np.nan, dtype=np.float32)
    for i, y in enumerate(plan.ys):
        for k in range(O - 1):
            o = plan.origins[i, k]
            if o >= 0:
                seg = y[o:o + plan.horizon]
                actuals[i, k, : seg.shape[0]] = seg
    return actuals


def _count_failures(report: BacktestReport, kinds: np.ndarray, ids: list, aliases: list) -> None:
    """Count failures per model, per kind and per series from the kind codes ``(S, O, M)``."""
    for j, a in enumerate(aliases):
        report.fallbacks[a] = int((kinds[:, :, j] > 0).sum())
        report.failure_kinds[a] = {k.label: int((kinds[:, :, j] == k).sum()) for k in FailureKind if k}
    per_series = (kinds > 0).sum(axis=1)  # (S, M)
    for i in np.flatnonzero(per_series.sum(axis=1)):
        report.failures_by_series[ids[i]] = {a: int(per_series[i, j]) for j, a in enumerate(aliases) if per_series[i, j]}


def backtest(
    series: Sequence[np.ndarray],
    models: Sequence[Forecaster],
    horizon: int,
    season_length: int = 1,
    ids: Sequence | None = None,
    n_origins: int = 5,
    step: int | None = None,
    n_jobs: int = 1,
    cache_dir: str | Path | None = None,
    progress: bool | None = False,
    timeout: float | None = None,
    panel_timeout: float | None = None,
    backend: str | None = None,
    train_seconds: float | None = None,
    features: str = "basic",
) -> tuple[ForecastCube, BacktestReport]:
    """Backtest a pool on a panel of series.

    Args:
        series: ``S`` finite float arrays ``(t_i,)`` (the training data; nothing after it).
        models: the pool, ``M`` forecasters with unique aliases.
        horizon: ``H``, steps forecast at each origin.
        season_length: ``m``.
        ids: ``S`` series ids (default ``"0".."S-1"``).
        n_origins: backtest origins per series, before the final origin (>= 1).
        step: distance between backtest origins (default ``max(1, H // 3)``).
        n_jobs: joblib workers for the tasks (-1 = all cores).
        cache_dir: folder for cached results (none if None).
        progress: a tqdm progress bar on stderr that counts series (each series' share of the
            per-series models and of every panel fit); None shows it only when stderr is a
            terminal. Whatever the bar, the ``metacompose`` logger gets a line per panel fit and
            a progress line at most every 10 seconds (:class:`metacompose.parallel.SeriesProgress`).
        timeout: seconds one fit-and-predict of a per-series model (one series, one origin)
            may take before its fallback forecasts instead (None: no limit); see
            :mod:`metacompose.timeout`.
        panel_timeout: the same for one ``fit_panel``/``predict_panel`` of a panel model at
            one origin, all series at once (None: no limit).
        backend: joblib backend for the tasks (None: joblib's default, local processes).
            ``"dask"`` runs them on the Dask cluster of the current ``distributed.Client``
            (create one first, e.g. ``Client(LocalCluster())`` or
            ``Client("tcp://scheduler:8786")``). Any other name registered with joblib works
            too (``joblib.register_parallel_backend``; for Ray, call
            ``ray.util.joblib.register_ray()`` first, then pass ``"ray"``). With a backend,
            ``n_jobs=1`` means all the cluster's workers (-1). Panel fits run on the cluster
            too. The cube is the same whichever backend runs the tasks.
        train_seconds: CPU seconds the training of a panel model may take at one origin; a
            training that reaches it stops early and keeps its parameters (``report.cut_short``;
            :mod:`metacompose.budget`). None: no limit.
        features: the series features of the cube, computed at each origin on ``y[:origin]``: a
            name of :data:`metacompose.feature_sets.FEATURE_SETS`, ``"basic"`` (default; seven
            features, :mod:`metacompose.features`), ``"catch22"`` (pycatch22) or ``"tsfeatures"``
            (FFORMA's features from Nixtla's tsfeatures). A set other than ``"basic"`` is cached in
            its own files, so changing it never refits the models.

    Returns:
        ``(cube, report)``: a cube with ``O = n_origins + 1`` origins and the run's report.

    Raises:
        InputError: empty ``series`` or ``models``, ``n_origins`` or ``step`` not a positive
            integer, ``horizon``/``season_length`` not positive integers, a timeout that is not
            a positive number, values beyond :data:`MAX_ABS`, an unknown feature set, a ``backend``
            that is not registered with joblib, or ``"dask"`` without ``distributed`` installed.

    Warns:
        UserWarning: some series are too short for any backtest origin.
    """
    plan = plan_backtest(series, models, horizon, season_length, ids, n_origins, step, cache_dir, timeout,
                         panel_timeout, train_seconds, features)
    cube, report = assemble_backtest(plan, run_backtest(plan, n_jobs, backend, progress))
    if report.short_series:
        warnings.warn(f"{len(report.short_series)} series (e.g. {report.short_series[0]!r}) are too short for any "
                      f"backtest origin (they need at least {plan.min_train + plan.horizon} observations): their "
                      "weights are chosen without any past error", UserWarning, stacklevel=2)
    return cube, report
