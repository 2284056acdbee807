"""Rolling-origin backtest of a pool of forecasters into a :class:`ForecastCube`.

For every series the backtest fits every model at several origins inside the training
data and at the final origin (the end of the training data), in parallel over series
with joblib. Panel models (:class:`PanelForecaster`) are fitted once per origin on all
series. A model that raises, or returns NaN/inf, is replaced by its declared fallback for
that series and origin; every replacement is counted in the :class:`BacktestReport`.
Results are cached on disk as ``.npz`` arrays (no pickle), per chunk of series, so a rerun
skips what is done.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from joblib import Parallel, delayed

from metacompose.cube import ForecastCube
from metacompose.errors import InputError
from metacompose.features import FEATURE_NAMES, series_features
from metacompose.metrics import mase_scale
from metacompose.models import Forecaster, PanelForecaster, get_model
from metacompose.models.base import check_horizon

CHUNK = 32  # series per joblib task and per cache file


@dataclass
class BacktestReport:
    """What a backtest did.

    Attributes:
        n_series: ``S``; n_origins: ``O`` (backtest origins + the final one).
        fallbacks: per model alias, how many (series, origin) forecasts came from its fallback.
        failures: up to 20 examples ``"model @ series, origin: error"``.
        seconds: wall time per stage (``"per-series models"``, ``"panel:<alias>"``).
        cached_chunks: chunks read from the cache instead of computed.
    """

    n_series: int
    n_origins: int
    fallbacks: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    cached_chunks: int = 0

    @property
    def n_fallbacks(self) -> int:
        """Total number of fallback forecasts."""
        return int(sum(self.fallbacks.values()))

    def summary(self) -> str:
        """One human-readable paragraph."""
        fb = ", ".join(f"{k}: {v}" for k, v in self.fallbacks.items() if v) or "none"
        secs = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        return (f"backtest: {self.n_series} series x {self.n_origins} origins; fallbacks: {fb}; "
                f"time: {secs}; cached chunks: {self.cached_chunks}")


def rolling_origins(n: int, h: int, n_origins: int, step: int, min_train: int) -> np.ndarray:
    """Origins (int64 ``(n_origins + 1,)``) for a series of length ``n``, oldest first.

    Backtest origins are ``n - h - step * j`` for ``j = n_origins - 1 .. 0`` (so the last
    one's horizon ends at the end of the training data), then the final origin ``n``.
    A backtest origin with fewer than ``min_train`` observations before it is ``-1``.
    """
    back = [n - h - step * j for j in range(n_origins - 1, -1, -1)]
    out = np.array([o if o >= min_train else -1 for o in back] + [n], dtype=np.int64)
    return out


def _fit_predict(model: Forecaster, y: np.ndarray, h: int, m: int) -> tuple[np.ndarray, str | None]:
    """Forecast with ``model``, walking its fallback chain on failure; returns (forecast, error or None)."""
    err = None
    current = model
    for _ in range(4):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return current.clone().fit(y).predict(h), err
        except Exception as exc:  # any failure of a plug-in falls back, by contract
            err = err or f"{type(exc).__name__}: {exc}"
            if current.fallback is None:
                break
            current = get_model(current.fallback, m)
    return np.full(h, float(y[-1])), err or "fallback chain exhausted"


def _series_chunk(ys, origins, models, h, m):
    """Per-series work for one chunk: forecasts of the non-panel models, features and scales."""
    S, O, M, F = len(ys), origins.shape[1], len(models), len(FEATURE_NAMES)
    fc = np.full((S, O, M, h), np.nan, dtype=np.float32)
    failed = np.zeros((S, O, M), dtype=bool)
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
                fc[i, k, j], err = _fit_predict(model, prefix, h, m)
                if err is not None:
                    failed[i, k, j] = True
                    msgs.append(f"{model.alias} @ series {i}, origin {o}: {err}"[:300])
    return fc, failed, feats, oscale, np.array(msgs[:20], dtype=str)


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
    progress: bool = False,
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
        n_jobs: joblib workers for the per-series models (-1 = all cores).
        cache_dir: folder for cached results (none if None).
        progress: show a tqdm progress bar over chunks of series.

    Returns:
        ``(cube, report)``: a cube with ``O = n_origins + 1`` origins and the run's report.

    Raises:
        InputError: empty ``series`` or ``models``, ``n_origins < 1``, ``step < 1``, or
            ``horizon``/``season_length`` not positive.
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
    ys = [np.asarray(y, dtype=np.float64) for y in series]
    ids = [str(i) for i in range(len(ys))] if ids is None else [str(i) for i in ids]
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
    failed = np.zeros((S, O, M), dtype=bool)
    feats = np.zeros((S, O, len(FEATURE_NAMES)), dtype=np.float32)
    oscale = np.ones((S, O), dtype=np.float32)

    t0 = time.perf_counter()
    local_models = [models[j] for j in local]
    spec = [_model_id(models[j]) for j in local] + [h, m, FEATURE_NAMES, 1]
    chunks = [range(a, min(a + CHUNK, S)) for a in range(0, S, CHUNK)]
    todo, results = [], {}
    for c, rng in enumerate(chunks):
        key = _key(spec, origins[rng.start:rng.stop], *[ys[i] for i in rng])
        path = cache / f"chunk-{key}.npz" if cache is not None else None
        if path is not None and path.exists():
            with np.load(path, allow_pickle=False) as z:
                results[c] = tuple(z[k] for k in ("fc", "failed", "feats", "oscale", "msgs"))
            report.cached_chunks += 1
        else:
            todo.append((c, path))
    jobs = (delayed(_series_chunk)([ys[i] for i in chunks[c]], origins[chunks[c].start:chunks[c].stop], local_models, h, m)
            for c, _ in todo)
    out = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    if progress:
        from tqdm.auto import tqdm

        out = tqdm(out, total=len(todo), desc="backtest", unit="chunk")
    for n_done, res in enumerate(out):
        c, path = todo[n_done]
        results[c] = res
        if path is not None:
            np.savez(path, **dict(zip(("fc", "failed", "feats", "oscale", "msgs"), res)))
    for c, rng in enumerate(chunks):
        fc, fl, ft, osc, msgs = results[c]
        forecasts[rng.start:rng.stop][:, :, local] = fc
        failed[rng.start:rng.stop][:, :, local] = fl
        feats[rng.start:rng.stop] = ft
        oscale[rng.start:rng.stop] = osc
        report.failures.extend(str(s) for s in msgs[: max(0, 20 - len(report.failures))])
    report.seconds["per-series models"] = time.perf_counter() - t0

    for j in panel:
        t1 = time.perf_counter()
        fc, fl = _panel_model(models[j], ys, origins, h, m, cache, report)
        forecasts[:, :, j], failed[:, :, j] = fc, fl
        report.seconds[f"panel:{models[j].alias}"] = time.perf_counter() - t1

    valid = origins >= 0
    forecasts[~valid] = np.nan
    failed[~valid] = False
    for j, a in enumerate(aliases):
        report.fallbacks[a] = int(failed[:, :, j].sum())
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
        features=feats, failed=failed, series_ids=ids, models=aliases, feature_names=list(FEATURE_NAMES),
        season_length=m, horizon=h, meta={"n_origins": n_origins, "step": step, "min_train": min_train},
    )
    return cube, report


def _panel_model(model: PanelForecaster, ys, origins, h, m, cache, report):
    """Fit a panel model once per origin on all series with that origin; fall back per series."""
    S, O = origins.shape
    fc = np.full((S, O, h), np.nan, dtype=np.float32)
    fl = np.zeros((S, O), dtype=bool)
    key = _key([_model_id(model), h, m, 1], origins, *ys)
    path = cache / f"panel-{model.alias}-{key}.npz" if cache is not None else None
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as z:
            report.cached_chunks += 1
            return z["fc"], z["failed"]
    for k in range(O):
        rows = np.flatnonzero(origins[:, k] >= 0)
        prefixes = [ys[i][: origins[i, k]] for i in rows]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pred = model.clone().fit_panel(prefixes).predict_panel(h)
        except Exception as exc:
            pred = np.full((len(rows), h), np.nan)
            if len(report.failures) < 20:
                report.failures.append(f"{model.alias} (panel) @ origin index {k}: {type(exc).__name__}: {exc}"[:300])
        for r, i in enumerate(rows):
            if np.all(np.isfinite(pred[r])):
                fc[i, k] = pred[r]
            else:
                fb = get_model(model.fallback or "Naive", m)
                fc[i, k], _ = _fit_predict(fb, prefixes[r], h, m)
                fl[i, k] = True
    if path is not None:
        np.savez(path, fc=fc, failed=fl)
    return fc, fl
