"""The first step of a backtest: check its arguments and lay out origins, chunks and cache files.

:func:`plan_backtest` returns a :class:`BacktestPlan`, which :func:`metacompose.backtest.run_backtest`
runs and :func:`metacompose.backtest.assemble_backtest` turns into a cube.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from metacompose.backtest_cache import CACHE_VERSION, cache_key, model_id
from metacompose.checks import check_horizon, check_int, check_optional_int, check_season_length, check_timeout
from metacompose.errors import InputError
from metacompose.feature_sets import FEATURE_SETS, check_feature_set
from metacompose.features import FEATURE_NAMES
from metacompose.models import Forecaster, PanelForecaster

CHUNK = 32  # series per joblib task and per cache file
MAX_ABS = 1e35  # largest |value| accepted: the cube stores float32 (max 3.4e38), with room for forecasts


def rolling_origins(n: int, h: int, n_origins: int, step: int, min_train: int) -> np.ndarray:
    """Origins (int64 ``(n_origins + 1,)``) for a series of length ``n``, oldest first.

    Backtest origins are ``n - h - step * j`` for ``j = n_origins - 1 .. 0`` (so the last
    one's horizon ends at the end of the training data), then the final origin ``n``.
    A backtest origin with fewer than ``min_train`` observations before it is ``-1``.
    """
    back = [n - h - step * j for j in range(n_origins - 1, -1, -1)]
    return np.array([o if o >= min_train else -1 for o in back] + [n], dtype=np.int64)


@dataclass
class BacktestPlan:
    """A backtest's checked arguments and its layout, built by :func:`plan_backtest`.

    Attributes:
        ys: ``S`` float64 series ``(t_i,)``; ids: their ``S`` ids (str).
        models: the ``M`` forecasters of the pool.
        horizon: ``H``; season_length: ``m``; n_origins: backtest origins per series;
        step: distance between backtest origins; min_train: fewest observations before a
            backtest origin.
        origins: int64 ``(S, n_origins + 1)``, ``-1`` where a backtest origin does not fit.
        chunks: ranges of series indices, one per task of per-series models and per cache file.
        chunk_paths: the cache file of each chunk (None: no cache).
        panel_paths: model index -> the cache file of that panel model (None: no cache).
        timeout, panel_timeout: seconds per fit (None: no limit), see :func:`backtest`.
        train_seconds: CPU seconds a panel model's training may take at one origin before it is
            cut short (None: no limit), see :func:`backtest`.
        features: the feature set of the cube (:data:`metacompose.feature_sets.FEATURE_SETS`).
        feature_paths: the cache file of each chunk's features for a set other than ``"basic"``
            (whose features travel in the chunk files); None: no cache, or ``"basic"``.
    """

    ys: list
    ids: list
    models: list
    horizon: int
    season_length: int
    n_origins: int
    step: int
    min_train: int
    origins: np.ndarray
    chunks: list
    chunk_paths: list
    panel_paths: dict
    timeout: float | None = None
    panel_timeout: float | None = None
    train_seconds: float | None = None
    features: str = "basic"
    feature_paths: list = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(S, O, M)``: series, origins (the final one included), models."""
        return len(self.ys), self.n_origins + 1, len(self.models)

    @property
    def feature_names(self) -> list[str]:
        """The ``F`` names of the cube's features (those of ``features``)."""
        return list(FEATURE_SETS[self.features].names)

    @property
    def aliases(self) -> list[str]:
        """The ``M`` model aliases, in pool order."""
        return [mdl.alias for mdl in self.models]

    @property
    def local(self) -> list[int]:
        """Indices of the per-series models (run in the chunk tasks)."""
        return [j for j, mdl in enumerate(self.models) if not isinstance(mdl, PanelForecaster)]

    @property
    def panel(self) -> list[int]:
        """Indices of the panel models (one task per origin)."""
        return [j for j, mdl in enumerate(self.models) if isinstance(mdl, PanelForecaster)]


def plan_backtest(
    series: Sequence[np.ndarray],
    models: Sequence[Forecaster],
    horizon: int,
    season_length: int = 1,
    ids: Sequence | None = None,
    n_origins: int = 5,
    step: int | None = None,
    cache_dir: str | Path | None = None,
    timeout: float | None = None,
    panel_timeout: float | None = None,
    train_seconds: float | None = None,
    features: str = "basic",
) -> BacktestPlan:
    """Check a backtest's arguments and lay out its origins, chunks and cache files.

    Args:
        series, models, horizon, season_length, ids, n_origins, step, cache_dir, timeout,
        panel_timeout, train_seconds, features: as :func:`metacompose.backtest.backtest`.

    Returns:
        the :class:`BacktestPlan`.

    Raises:
        InputError: as :func:`metacompose.backtest.backtest`.
    """
    h = check_horizon(horizon)
    m = check_season_length(season_length)
    if len(series) == 0 or len(models) == 0:
        raise InputError("backtest needs at least one series and one model")
    n_origins = check_int(n_origins, "n_origins")
    step = max(1, h // 3) if step is None else check_optional_int(step, "step")
    timeout, panel_timeout = check_timeout(timeout, "timeout"), check_timeout(panel_timeout, "panel_timeout")
    train_seconds = check_timeout(train_seconds, "train_seconds")
    features = check_feature_set(features)
    ys, ids = _checked_series(series, ids)
    min_train = max(max(mdl.min_length for mdl in models), 2 * m if m > 1 else 4)
    origins = np.stack([rolling_origins(len(y), h, n_origins, step, min_train) for y in ys])
    chunks = [range(a, min(a + CHUNK, len(ys))) for a in range(0, len(ys), CHUNK)]
    plan = BacktestPlan(ys, ids, list(models), h, m, n_origins, step, min_train, origins, chunks, [], {},
                        timeout, panel_timeout, train_seconds, features)
    cache = Path(cache_dir) if cache_dir is not None else None
    plan.chunk_paths, plan.panel_paths = _cache_paths(plan, cache)
    plan.feature_paths = _feature_paths(plan, cache)
    return plan


def final_origin_plan(series: Sequence[np.ndarray], models: Sequence[Forecaster], horizon: int, season_length: int,
                      ids: Sequence, rows: Sequence[int], timeout: float | None = None,
                      panel_timeout: float | None = None, train_seconds: float | None = None,
                      features: str = "basic") -> BacktestPlan:
    """A plan of one origin, the end of every series (``O = 1``), for :func:`metacompose.backtest.run_backtest`.

    The per-series models run on the series ``rows`` only (chunks of consecutive rows, at most
    :data:`CHUNK` each); the panel models are fitted on every series at its end, as at the
    final origin of a full backtest (a panel model learns from all series), and their rows
    outside ``rows`` are to be ignored. Nothing is cached. :meth:`metacompose.composer.Composer.update`
    uses it for the new final origin.

    Args:
        series: ``S`` series, float64 ``(t_i,)``, each up to its end; models, horizon,
            season_length, ids, timeout, panel_timeout, train_seconds, features: as :func:`plan_backtest`.
        rows: indices of the series whose per-series forecasts are wanted (sorted, distinct).

    Returns:
        the plan (``n_origins = 0``; ``origins[:, 0]`` is each series' length).

    Raises:
        InputError: as :func:`plan_backtest`.
    """
    plan = plan_backtest(series, models, horizon, season_length, ids, 1, 1, None, timeout, panel_timeout,
                         train_seconds, features)
    plan.n_origins = 0
    plan.origins = np.array([[len(y)] for y in plan.ys], dtype=np.int64).reshape(len(plan.ys), 1)
    chunks, start = [], None
    rows = [int(r) for r in rows]
    for a, r in enumerate(rows):
        if start is None:
            start = r
        if a + 1 == len(rows) or rows[a + 1] != r + 1 or r + 1 - start == CHUNK:
            chunks.append(range(start, r + 1))
            start = None
    plan.chunks, plan.chunk_paths, plan.feature_paths = chunks, [None] * len(chunks), [None] * len(chunks)
    return plan


def _checked_series(series: Sequence[np.ndarray], ids: Sequence | None) -> tuple[list, list]:
    """The series as float64 arrays and their ids as strings (default ``"0".."S-1"``).

    Raises:
        InputError: a series holds values beyond :data:`MAX_ABS`.
    """
    ys = [np.asarray(y, dtype=np.float64) for y in series]
    ids = [str(i) for i in range(len(ys))] if ids is None else [str(i) for i in ids]
    for i, y in enumerate(ys):
        if y.size and not np.max(np.abs(y)) <= MAX_ABS:
            raise InputError(f"series {ids[i]!r} holds values up to {np.max(np.abs(y)):.3g}, beyond what the forecast "
                             f"cube stores (float32; |y| <= {MAX_ABS:.0e}); rescale the series, e.g. divide it by 1e30")
    return ys, ids


def _cache_paths(plan: BacktestPlan, cache: Path | None) -> tuple[list, dict]:
    """The cache file of every chunk and of every panel model (all None without a cache folder).

    A chunk's key covers its per-series models, horizon, season length, the names of the
    ``"basic"`` features (which every chunk file holds, whatever the plan's feature set), origins
    and series; a panel model's key covers that model, its training's CPU limit and all
    origins and series.
    """
    if cache is None:
        return [None] * len(plan.chunks), {j: None for j in plan.panel}
    h, m, ys = plan.horizon, plan.season_length, plan.ys
    spec = [model_id(plan.models[j]) for j in plan.local] + [h, m, FEATURE_NAMES, CACHE_VERSION]
    chunk_paths = [cache / f"chunk-{cache_key(spec, plan.origins[r.start:r.stop], *ys[r.start:r.stop])}.npz"
                   for r in plan.chunks]
    panel_paths = {}
    for j in plan.panel:
        key = cache_key([model_id(plan.models[j]), h, m, CACHE_VERSION, plan.train_seconds], plan.origins, *ys)
        panel_paths[j] = cache / f"panel-{plan.models[j].alias}-{key}.npz"
    return chunk_paths, panel_paths


def _feature_paths(plan: BacktestPlan, cache: Path | None) -> list:
    """The cache file of every chunk's features of a set other than ``"basic"`` (all None without a cache
    folder or for ``"basic"``, whose features are in the chunk files).

    A key covers the feature set and its names, the season length, the chunk's origins and series (not
    the models nor the horizon: the features of a set are shared by every pool and horizon).
    """
    if cache is None or plan.features == "basic":
        return [None] * len(plan.chunks)
    spec = ["features", plan.features, plan.feature_names, plan.season_length, CACHE_VERSION]
    keys = [cache_key(spec, plan.origins[r.start:r.stop], *plan.ys[r.start:r.stop]) for r in plan.chunks]
    return [cache / f"features-{plan.features}-{key}.npz" for key in keys]
