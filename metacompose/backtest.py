"""Rolling-origin backtest of a pool of forecasters into a :class:`ForecastCube`.

For every series the backtest fits every model at several origins inside the training
data and at the final origin (the end of the training data), in parallel over series
with joblib -- on this machine's processes, or, with ``backend="dask"`` (or ``"ray"``),
on a cluster through joblib's backend switch, running the very same task functions.
Panel models (:class:`PanelForecaster`) are fitted once per origin on all series
(:func:`_panel_fit`), as tasks of the same parallel run as the chunks of series
(:func:`_series_chunk`), so a long neural fit on one worker overlaps the per-series fits
on the others. A model that raises, or returns NaN/inf, is replaced by its declared fallback for
that series and origin; every replacement is counted in the :class:`BacktestReport`.
Results are cached on disk as ``.npz`` arrays (no pickle), per chunk of series, so a rerun
skips what is done.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from joblib import Parallel, delayed, parallel_config

from metacompose.cube import ForecastCube
from metacompose.errors import ForecastError, InputError
from metacompose.features import FEATURE_NAMES, series_features
from metacompose.metrics import mase_scale
from metacompose.models import Forecaster, PanelForecaster, get_model
from metacompose.models.base import check_horizon
from metacompose.report import KINDS, BacktestReport
from metacompose.timeout import run_with_timeout

CHUNK = 32  # series per joblib task and per cache file
_CACHE_VERSION = 2
MAX_ABS = 1e35  # largest |value| accepted: the cube stores float32 (max 3.4e38), with room for forecasts


def rolling_origins(n: int, h: int, n_origins: int, step: int, min_train: int) -> np.ndarray:
    """Origins (int64 ``(n_origins + 1,)``) for a series of length ``n``, oldest first.

    Backtest origins are ``n - h - step * j`` for ``j = n_origins - 1 .. 0`` (so the last
    one's horizon ends at the end of the training data), then the final origin ``n``.
    A backtest origin with fewer than ``min_train`` observations before it is ``-1``.
    """
    back = [n - h - step * j for j in range(n_origins - 1, -1, -1)]
    out = np.array([o if o >= min_train else -1 for o in back] + [n], dtype=np.int64)
    return out


def _kind(exc: BaseException) -> int:
    """Kind code (1-based index in :data:`KINDS`) of a failure."""
    if isinstance(exc, TimeoutError):
        return 3
    if isinstance(exc, ForecastError):
        return 2
    return 1


def _fit_predict(model: Forecaster, y: np.ndarray, h: int, m: int, timeout: float | None = None
                 ) -> tuple[np.ndarray, str | None, int]:
    """Forecast with ``model``, walking its fallback chain on failure.

    Returns:
        ``(forecast (h,), first error message or None, kind code of the first failure or 0)``.
    """
    err, kind = None, 0
    current = model
    for _ in range(4):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = current.clone()
                out = run_with_timeout(lambda: est.fit(y).predict(h), timeout)
            if not np.all(np.abs(out) < np.finfo(np.float32).max):
                raise ForecastError(f"{current.alias} forecast values beyond the float32 range of the cube")
            return out, err, kind
        except Exception as exc:  # any failure of a plug-in falls back, by contract
            if err is None:
                err, kind = f"{type(exc).__name__}: {exc}", _kind(exc)
            if current.fallback is None:
                break
            current = get_model(current.fallback, m)
    return np.full(h, float(y[-1])), err or "fallback chain exhausted", kind or 1


def _series_chunk(ys, ids, origins, models, h, m, timeout=None):
    """Per-series work for one chunk: forecasts of the non-panel models, failure kinds, features, scales.

    Returns:
        ``((forecasts (S, O, M, h), kind codes (S, O, M), features (S, O, F), origin scales (S, O),
        messages), seconds of compute)``.
    """
    t0 = time.perf_counter()
    S, O, M, F = len(ys), origins.shape[1], len(models), len(FEATURE_NAMES)
    fc = np.full((S, O, M, h), np.nan, dtype=np.float32)
    kinds = np.zeros((S, O, M), dtype=np.int8)
    feats = np.zeros((S, O, F), dtype=np.float32)
    oscale = np.ones((S, O), dtype=np.float32)
    msgs = []
    for i, y in enumerate(ys):
        for k in range(O):
            o = int(origins[i, k])
            if o < 1:
                continue
            prefix = y[:o]
            oscale[i, k] = mase_scale(prefix, m)
            feats[i, k] = series_features(prefix, m, float(oscale[i, k]))
            for j, model in enumerate(models):
                fc[i, k, j], err, kinds[i, k, j] = _fit_predict(model, prefix, h, m, timeout)
                if err is not None and len(msgs) < 20:
                    msgs.append(f"{model.alias} @ series {ids[i]}, origin {o}: {err}"[:300])
    return (fc, kinds, feats, oscale, np.array(msgs, dtype=str)), time.perf_counter() - t0


def _key(*parts) -> str:
    hsh = hashlib.sha256()
    for p in parts:
        hsh.update(p.tobytes() if isinstance(p, np.ndarray) else json.dumps(p, sort_keys=True, default=str).encode())
    return hsh.hexdigest()[:32]


def _model_id(model: Forecaster) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}{model.get_params()}"


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
        progress: a tqdm progress bar over the tasks (chunks of series, panel fits) on
            stderr; None shows it only when stderr is a terminal.
        timeout: seconds one fit-and-predict of a per-series model (one series, one origin)
            may take before its fallback forecasts instead (None: no limit). See the module notes.
        panel_timeout: the same for one ``fit_panel``/``predict_panel`` of a panel model at
            one origin, all series at once (None: no limit).
        backend: joblib backend for the chunks of series (None: joblib's default, local
            processes). ``"dask"`` runs them on the Dask cluster of the current
            ``distributed.Client`` (create one first, e.g. ``Client(LocalCluster())`` or
            ``Client("tcp://scheduler:8786")``); ``"ray"`` on the current Ray cluster (joblib
            backend registered by ``ray.util.joblib``). With a backend, ``n_jobs=1`` means all
            the cluster's workers (-1). Panel fits run on the cluster too. The cube is
            the same whichever backend runs the tasks.

    Returns:
        ``(cube, report)``: a cube with ``O = n_origins + 1`` origins and the run's report.

    Raises:
        InputError: empty ``series`` or ``models``, ``n_origins < 1``, ``step < 1``,
            ``horizon``/``season_length`` not positive, or a timeout that is not positive.
    """
    h = check_horizon(horizon)
    m = int(season_length)
    if m < 1:
        raise InputError(f"season_length must be >= 1, got {season_length}")
    if len(series) == 0 or len(models) == 0:
        raise InputError("backtest needs at least one series and one model")
    if n_origins < 1:
        raise InputError(f"n_origins must be >= 1, got {n_origins}")
    step = max(1, h // 3) if step is None else int(step)
    if step < 1:
        raise InputError(f"step must be >= 1, got {step}")
    for name, t in (("timeout", timeout), ("panel_timeout", panel_timeout)):
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not np.isfinite(t) or t <= 0):
            raise InputError(f"{name} must be None or a positive number of seconds, got {t!r}")
    ys = [np.asarray(y, dtype=np.float64) for y in series]
    ids = [str(i) for i in range(len(ys))] if ids is None else [str(i) for i in ids]
    for i, y in enumerate(ys):
        if y.size and not np.max(np.abs(y)) <= MAX_ABS:
            raise InputError(f"series {ids[i]!r} holds values up to {np.max(np.abs(y)):.3g}, beyond what the forecast "
                             f"cube stores (float32; |y| <= {MAX_ABS:.0e}); rescale the series, e.g. divide it by 1e30")
    aliases = [mdl.alias for mdl in models]
    min_train = max(max(mdl.min_length for mdl in models), 2 * m if m > 1 else 4)
    origins = np.stack([rolling_origins(len(y), h, n_origins, step, min_train) for y in ys])
    S, O, M = len(ys), n_origins + 1, len(models)
    report = BacktestReport(S, O, fallbacks={a: 0 for a in aliases})
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)

    local = [j for j, mdl in enumerate(models) if not isinstance(mdl, PanelForecaster)]
    panel = [j for j, mdl in enumerate(models) if isinstance(mdl, PanelForecaster)]
    forecasts = np.full((S, O, M, h), np.nan, dtype=np.float32)
    kinds = np.zeros((S, O, M), dtype=np.int8)
    feats = np.zeros((S, O, len(FEATURE_NAMES)), dtype=np.float32)
    oscale = np.ones((S, O), dtype=np.float32)

    t0 = time.perf_counter()
    local_models = [models[j] for j in local]
    spec = [_model_id(models[j]) for j in local] + [h, m, FEATURE_NAMES, _CACHE_VERSION]
    chunks = [range(a, min(a + CHUNK, S)) for a in range(0, S, CHUNK)]
    names = ("fc", "kind", "feats", "oscale", "msgs")
    results, tasks, jobs = {}, [], []
    panel_fc = {j: np.full((S, O, h), np.nan, dtype=np.float32) for j in panel}
    panel_kd = {j: np.zeros((S, O), dtype=np.int8) for j in panel}
    panel_paths = {}
    # panel fits first: they are the longest tasks, so the per-series chunks fill the other workers
    for j in panel:
        key = _key([_model_id(models[j]), h, m, _CACHE_VERSION], origins, *ys)
        path = panel_paths[j] = cache / f"panel-{models[j].alias}-{key}.npz" if cache is not None else None
        cached = _load_npz(path, ("fc", "kind"))
        if cached is not None:
            panel_fc[j], panel_kd[j] = cached
            panel_paths[j] = None
            report.cached_chunks += 1
            continue
        for k in range(O):
            rows = np.flatnonzero(origins[:, k] >= 0)
            if rows.size:
                tasks.append(("panel", j, k, rows))
                jobs.append(delayed(_panel_fit)(models[j], [ys[i][: origins[i, k]] for i in rows], h, panel_timeout))
    for c, rng in enumerate(chunks):
        key = _key(spec, origins[rng.start:rng.stop], *[ys[i] for i in rng])
        path = cache / f"chunk-{key}.npz" if cache is not None else None
        cached = _load_npz(path, names)
        if cached is not None:
            results[c] = cached
            report.cached_chunks += 1
            continue
        tasks.append(("chunk", c, path))
        jobs.append(delayed(_series_chunk)([ys[i] for i in rng], ids[rng.start:rng.stop],
                                           origins[rng.start:rng.stop], local_models, h, m, timeout))
    busy = {"per-series models": 0.0, **{f"panel:{models[j].alias}": 0.0 for j in panel}}
    out = _parallel(n_jobs, backend)(jobs) if jobs else iter(())
    # the bar comes first in zip, so that it is run to its end and closes at 100%
    for (res, secs), task in zip(_bar(out, progress, total=len(jobs), desc="backtest", unit="task"), tasks):
        if task[0] == "chunk":
            _, c, path = task
            results[c] = res
            busy["per-series models"] += secs
            _save_npz(path, dict(zip(names, res)))
            continue
        _, j, k, rows = task
        busy[f"panel:{models[j].alias}"] += secs
        pred, code, msg = res
        if msg is not None and len(report.failures) < 20:
            report.failures.append(f"{models[j].alias} (panel) @ origin index {k}: {msg}"[:300])
        for r, i in enumerate(rows):
            if np.all(np.isfinite(pred[r])):
                panel_fc[j][i, k] = pred[r]
            else:  # this series falls back alone
                fb = get_model(models[j].fallback or "Naive", m)
                panel_fc[j][i, k], _, _ = _fit_predict(fb, ys[i][: origins[i, k]], h, m)
                panel_kd[j][i, k] = code
    for c, rng in enumerate(chunks):
        fc, kd, ft, osc, msgs = results[c]
        forecasts[rng.start:rng.stop][:, :, local] = fc
        kinds[rng.start:rng.stop][:, :, local] = kd
        feats[rng.start:rng.stop] = ft
        oscale[rng.start:rng.stop] = osc
        report.failures.extend(str(s) for s in msgs[: max(0, 20 - len(report.failures))])
    for j in panel:
        forecasts[:, :, j], kinds[:, :, j] = panel_fc[j], panel_kd[j]
        _save_npz(panel_paths[j], {"fc": panel_fc[j], "kind": panel_kd[j]})
    report.seconds = {**busy, "wall": time.perf_counter() - t0}

    valid = origins >= 0
    forecasts[~valid] = np.nan
    kinds[~valid] = 0
    _fill_failures(report, kinds, ids, aliases)
    report.short_series = [ids[i] for i in np.flatnonzero(~valid[:, :-1].any(axis=1))]
    if report.short_series:
        warnings.warn(f"{len(report.short_series)} series (e.g. {report.short_series[0]!r}) are too short for any "
                      f"backtest origin (they need at least {min_train + h} observations): their weights are chosen "
                      "without any past error", UserWarning, stacklevel=2)
    actuals = np.full((S, O, h), np.nan, dtype=np.float32)
    for i, y in enumerate(ys):
        for k in range(O - 1):
            o = origins[i, k]
            if o >= 0:
                seg = y[o:o + h]
                actuals[i, k, : seg.shape[0]] = seg
    scales = np.array([mase_scale(y, m) for y in ys], dtype=np.float32)
    cube = ForecastCube(
        forecasts=forecasts, actuals=actuals, scales=scales, origin_scales=oscale, origins=origins,
        features=feats, failed=kinds > 0, series_ids=ids, models=aliases, feature_names=list(FEATURE_NAMES),
        season_length=m, horizon=h, meta={"n_origins": n_origins, "step": step, "min_train": min_train},
    )
    return cube, report


def _parallel(n_jobs: int, backend: str | None) -> Parallel:
    """A joblib ``Parallel`` yielding results in order, on ``backend`` (see :func:`backtest`).

    Raises:
        InputError: ``backend`` is not a registered joblib backend (and not ``"ray"`` with Ray installed).
    """
    if backend is None:
        return Parallel(n_jobs=n_jobs, return_as="generator")
    from joblib.parallel import BACKENDS, EXTERNAL_BACKENDS

    if backend == "ray" and "ray" not in BACKENDS:
        try:
            from ray.util.joblib import register_ray
        except ImportError:
            raise InputError("backend='ray' needs Ray: pip install 'ray[default]'") from None
        register_ray()
    if backend == "dask" and "dask" not in BACKENDS:
        try:
            import distributed  # noqa: F401  (joblib registers its dask backend lazily)
        except ImportError:
            raise InputError("backend='dask' needs Dask: pip install 'metacompose[distributed]'") from None
    if backend not in BACKENDS and backend not in EXTERNAL_BACKENDS:
        raise InputError(f"unknown joblib backend {backend!r}; known: {', '.join(sorted(BACKENDS))}, dask, ray")
    with parallel_config(backend=backend):  # the Parallel keeps the backend built by joblib's own switch
        return Parallel(n_jobs=-1 if n_jobs == 1 else n_jobs, return_as="generator")


def _bar(iterable, progress, **kw):
    """Wrap ``iterable`` in a tqdm bar when ``progress`` is True (None: only on a terminal)."""
    if progress is False:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=None if progress is None else False, **kw)


def _fill_failures(report: BacktestReport, kinds: np.ndarray, ids: list, aliases: list) -> None:
    """Count failures per model, per kind and per series from the kind codes ``(S, O, M)``."""
    for j, a in enumerate(aliases):
        report.fallbacks[a] = int((kinds[:, :, j] > 0).sum())
        report.failure_kinds[a] = {k: int((kinds[:, :, j] == n + 1).sum()) for n, k in enumerate(KINDS)}
    per_series = (kinds > 0).sum(axis=1)  # (S, M)
    for i in np.flatnonzero(per_series.sum(axis=1)):
        report.failures_by_series[ids[i]] = {a: int(per_series[i, j]) for j, a in enumerate(aliases) if per_series[i, j]}


def _panel_fit(model: PanelForecaster, prefixes: list, h: int, timeout: float | None):
    """Fit ``model`` on all ``prefixes`` (one origin) and forecast ``h`` steps.

    Returns:
        ``((forecasts (R, h) float64, kind code for rows that are not finite, error message or
        None), seconds of compute)``; when the fit raises, every row is NaN and the code is that
        failure's kind.
    """
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = model.clone()
            pred = np.asarray(run_with_timeout(lambda: est.fit_panel(prefixes).predict_panel(h), timeout), float)
        out = pred, 2, None
    except Exception as exc:
        out = np.full((len(prefixes), h), np.nan), _kind(exc), f"{type(exc).__name__}: {exc}"
    return out, time.perf_counter() - t0


def _load_npz(path: Path | None, names: tuple[str, ...]) -> tuple | None:
    """The arrays ``names`` of a cache file, or None when there is none (a damaged one is recomputed)."""
    if path is None or not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return tuple(z[k] for k in names)
    except Exception:  # a truncated or foreign cache file is recomputed, not trusted
        return None


def _save_npz(path: Path | None, arrays: dict) -> None:
    """Write a cache file atomically: a killed run never leaves a half-written one."""
    if path is None:
        return
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
