"""The user-facing Composer: backtest a pool, train a composition agent, forecast.

Example:
    >>> from metacompose import Composer
    >>> comp = Composer(models=["ARIMA", "ETS", "Theta"], agent="ppo", horizon=6, season_length=1)
    >>> comp.fit(train_df)            # long frame: unique_id, ds, y
    >>> fc = comp.predict()           # unique_id, ds, one column per model, composed, weight_<model>
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from metacompose.agents import CompositionAgent, get_agent
from metacompose.backtest import BacktestReport, backtest
from metacompose.checks import check_horizon, check_int, check_optional_int, check_season_length, check_timeout
from metacompose.combine import weighted_forecasts
from metacompose.cross_validation import cross_validation
from metacompose.cube import ForecastCube
from metacompose.composer_io import load_composer, read_composer_header, save_composer
from metacompose.data import validate_frame
from metacompose.errors import InputError, NotFittedError
from metacompose.intervals import interval_columns
from metacompose.models import DEFAULT_POOL, Forecaster, build_pool
from metacompose.pool_selection import PoolSelection, select_pool
from metacompose.update import update_composer

COMPOSED = "composed"


class Composer:
    """Compose the forecasts of a pool with a learned (or baseline) weighting agent.

    Args:
        models: aliases (see ``metacompose.models.REGISTRY``) and/or Forecaster instances;
            default ``DEFAULT_POOL``, pruned on the backtest (see ``pool_selection``).
        agent: a name from ``metacompose.agents.AGENTS`` (``"ppo"``, ``"equal"``,
            ``"best"``, ``"inverse_error"``, ``"median"``, ...) or an agent instance.
        horizon: ``h``, steps to forecast (positive int).
        season_length: ``m`` (1 = no seasonality).
        n_origins: backtest origins per series before the final one (positive int).
        step: spacing of backtest origins (default ``max(1, h // 3)``).
        n_jobs: joblib workers for the backtest.
        cache_dir: folder caching backtest results (None = no cache).
        random_state: seed of the agent.
        agent_kwargs: extra arguments for the agent, e.g. ``{"total_timesteps": 50_000}``.
        id_col, time_col, target_col: column names of the long frame.
        progress: show progress bars.
        timeout: seconds one per-series model fit may take before its fallback forecasts
            instead (None = no limit); panel_timeout: the same for one panel fit.
        backend: joblib backend of the backtest (None: local processes; ``"dask"`` runs on
            the current ``distributed.Client``, see :func:`metacompose.backtest.backtest`).
        pool_selection: drop pool members whose removal significantly lowers the
            equal-weight mean's error on the backtest origins, before the agent is trained
            (:func:`metacompose.pool_selection.select_pool`, scored in the agent's
            ``reward_metric`` if it has one, else MASE). None: on for the default pool with
            an agent to train, off otherwise.
        train_agent: True (default): ``fit`` trains the agent on the backtest. False: ``agent``
            is an agent instance trained before (e.g. ``load_agent(path)``) and ``fit`` uses it
            as it is, never training it again; its pool (``agent.models_``, when it has one)
            must be the composer's pool, in the same order.

    Raises:
        InputError: bad horizon, season length, ``n_origins``, ``step`` or timeout, bad pool,
            or ``train_agent=False`` with an agent name; UnknownModelError: unknown alias.
    """

    def __init__(
        self,
        models: Sequence[str | Forecaster] | None = None,
        agent: Any = "ppo",
        horizon: int = 1,
        season_length: int = 1,
        n_origins: int = 5,
        step: int | None = None,
        n_jobs: int = 1,
        cache_dir: str | Path | None = None,
        random_state: int = 0,
        agent_kwargs: dict | None = None,
        id_col: str = "unique_id",
        time_col: str = "ds",
        target_col: str = "y",
        progress: bool = False,
        timeout: float | None = None,
        panel_timeout: float | None = None,
        backend: str | None = None,
        pool_selection: bool | None = None,
        train_agent: bool = True,
    ) -> None:
        self.horizon = check_horizon(horizon)
        self.season_length = check_season_length(season_length)
        self.pool = build_pool(list(models) if models is not None else list(DEFAULT_POOL), self.season_length)
        self._pool_param = None if models is None else [m.alias for m in self.pool]
        if not train_agent and isinstance(agent, str):
            raise InputError(f"train_agent=False needs a trained agent instance (e.g. load_agent(path)), not {agent!r}")
        self.agent, self.train_agent = agent, bool(train_agent)
        self.n_origins, self.step = check_int(n_origins, "n_origins"), check_optional_int(step, "step")
        self.n_jobs, self.cache_dir = n_jobs, cache_dir
        self.random_state, self.agent_kwargs = random_state, dict(agent_kwargs or {})
        self.id_col, self.time_col, self.target_col = id_col, time_col, target_col
        self.progress = progress
        self.timeout, self.panel_timeout = check_timeout(timeout, "timeout"), check_timeout(panel_timeout, "panel_timeout")
        self.backend = backend
        default_selection = models is None and self.train_agent
        self.pool_selection = default_selection if pool_selection is None else bool(pool_selection)
        self.pool_selection_: PoolSelection | None = None
        self.cube_: ForecastCube | None = None
        self.report_: BacktestReport | None = None
        self.update_report_: BacktestReport | None = None  # the fits at the new origin of the last update()

    @property
    def models(self) -> list[str]:
        """Aliases of the pool, in cube order."""
        return list(self.cube_.models) if self.cube_ is not None else [m.alias for m in self.pool]

    def _make_agent(self):
        if isinstance(self.agent, str):
            kw = dict(self.agent_kwargs)
            if self.agent.lower() == "ppo":
                kw.setdefault("seed", self.random_state)
            return get_agent(self.agent, **kw)
        return self.agent

    def fit(self, df: pd.DataFrame) -> "Composer":
        """Backtest the pool on every series of ``df``, train the agent, and prepare the forecast.

        Args:
            df: long frame with ``id_col``, ``time_col``, ``target_col``; the training data only.

        Returns:
            self, with ``cube_`` (the :class:`ForecastCube`), ``report_`` (backtest report),
            ``agent_`` (the fitted agent; with ``train_agent=False`` the given one, untouched),
            ``weights_`` ``(S, M)`` and ``forecast_`` ``(S, H)``; with ``pool_selection``,
            ``pool_selection_`` (a ``PoolSelection``) and a cube of the kept models only.

        Raises:
            InputError: missing columns, non-numeric/NaN/inf values, duplicate or irregular
                timestamps; a trained agent (``train_agent=False``) whose pool differs from the
                cube's; a loaded composer whose models are not registered.
            SeriesTooShortError: a series is shorter than the longest ``min_length`` of the pool.
        """
        if not self.pool:
            raise InputError(f"this composer's pool {self._pool_param} could not be rebuilt when it was loaded; "
                             "register its models (metacompose.models.REGISTRY) to fit it again")
        need = max(m.min_length for m in self.pool)
        self.panel_ = validate_frame(df, self.id_col, self.time_col, self.target_col, min_length=need)
        self.cube_, self.report_ = backtest(
            self.panel_.values, self.pool, self.horizon, self.season_length, ids=self.panel_.ids,
            n_origins=self.n_origins, step=self.step, n_jobs=self.n_jobs, cache_dir=self.cache_dir,
            progress=self.progress, timeout=self.timeout, panel_timeout=self.panel_timeout,
            backend=self.backend,
        )
        agent = self._make_agent()
        if self.pool_selection:
            self.pool_selection_ = select_pool(self.cube_, metric=getattr(agent, "reward_metric", "mase"))
            self.cube_ = self.cube_.take_models(self.pool_selection_.models)
        if self.train_agent:
            self.agent_ = agent.fit(self.cube_)
        else:
            trained_on = getattr(agent, "models_", None)
            if trained_on is not None and list(trained_on) != list(self.cube_.models):
                raise InputError(f"the agent was trained on the pool {list(trained_on)}; this composer's pool is "
                                 f"{list(self.cube_.models)}")
            self.agent_ = agent
        self._finish()
        return self

    def _finish(self) -> None:
        """Weights ``(S, M)`` and composed forecast ``(S, H)`` at the final origin, and the composed
        forecast at every origin ``composed_`` ``(S, O, H)`` (its backtest errors give the intervals),
        from ``agent_`` and ``cube_``."""
        w = np.asarray(self.agent_.weights(self.cube_), dtype=np.float64)
        self.weights_ = w[:, -1]
        if type(self.agent_).combine is CompositionAgent.combine:  # the weights applied: no second weights() call
            self.composed_ = weighted_forecasts(w, self.cube_.forecasts)
        else:  # an agent with its own combination (e.g. the exact median)
            self.composed_ = np.asarray(self.agent_.combine(self.cube_), dtype=np.float64)
        self.forecast_ = self.composed_[:, -1].copy()

    def predict(self, level=None) -> pd.DataFrame:
        """Forecasts for the ``h`` steps after each series' end, with conformal intervals if asked.

        Args:
            level: None (no intervals), or a level or list of levels in percent, each in
                ``(0, 100)``, e.g. ``[80, 95]``: split-conformal intervals per horizon step from
                the backtest errors in ``cube_``, pooled over series (:mod:`metacompose.intervals`
                explains the method and its caveats), for the composed forecast and each model.
                Only what is known at the final origin is used; a loaded composer gives the same.

        Returns:
            long frame with ``id_col``, ``time_col``, one column per model (its forecast,
            in the units of the series), ``composed`` (the agent's forecast) and one
            ``weight_<model>`` column per model (the weights used; they sum to 1 per series).
            With ``level``, each forecast column ``<name>`` is followed by
            ``<name>-lo-<level>`` (highest level first) and ``<name>-hi-<level>`` (lowest
            first), statsforecast's names and order, e.g. ``composed-lo-95``; bounds are
            ``-inf``/``inf`` where too few backtest errors exist for the level.

        Raises:
            NotFittedError: ``fit`` was not called.
            InputError: a level that is not a number in ``(0, 100)``.
        """
        if self.cube_ is None:
            raise NotFittedError("call Composer.fit(df) before predict()")
        S, _, M, H = self.cube_.shape
        bands = {} if level is None else interval_columns(self.cube_, self.composed_, level, COMPOSED)
        rows = {self.id_col: np.repeat(np.array(self.panel_.ids, dtype=object), H)}
        rows[self.time_col] = [d for i in range(S) for d in self.panel_.future_ds(i, H)]
        for j, alias in enumerate(self.cube_.models):
            rows[alias] = self.cube_.forecasts[:, -1, j].astype(np.float64).reshape(-1)
            rows.update(bands.get(alias, {}))
        rows[COMPOSED] = self.forecast_.reshape(-1)
        rows.update(bands.get(COMPOSED, {}))
        for j, alias in enumerate(self.cube_.models):
            rows[f"weight_{alias}"] = np.repeat(self.weights_[:, j], H)
        return pd.DataFrame(rows)

    def weights(self) -> pd.DataFrame:
        """Weights at the final origin as a wide frame: one row per series, one column per model."""
        if self.cube_ is None:
            raise NotFittedError("call Composer.fit(df) before weights()")
        out = pd.DataFrame(self.weights_, columns=self.cube_.models)
        out.insert(0, self.id_col, self.panel_.ids)
        return out

    # -- cross-validation and updates (the work is in metacompose.cross_validation / metacompose.update) --
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments as given (the pool's instances, the agent as passed, live
        ``agent_kwargs``): ``Composer(**comp.get_params())`` is an unfitted composer set up like this one."""
        names = ("train_agent", "horizon", "season_length", "n_origins", "step", "n_jobs", "cache_dir", "random_state",
                 "id_col", "time_col", "target_col", "progress", "timeout", "panel_timeout", "backend", "pool_selection")
        return {"models": None if self._pool_param is None else list(self.pool), "agent": self.agent,
                "agent_kwargs": dict(self.agent_kwargs), **{k: getattr(self, k) for k in names}}

    def cross_validation(self, df: pd.DataFrame, n_windows: int, step: int | None = None, level=None) -> pd.DataFrame:
        """The whole composer refitted at each of the last ``n_windows`` cutoffs on the data up to it only
        (this one is not changed), in statsforecast's layout. Args, Returns, Raises: as
        :func:`metacompose.cross_validation.cross_validation`; scores: ``cross_validation_scores`` there."""
        return cross_validation(self, df, n_windows, step, level)

    def update(self, new_df: pd.DataFrame) -> "Composer":
        """Append new observations of fitted series and forecast from their new end: base models fitted at
        that origin only, the agent untrained; unknown series, gaps, overlapping or older timestamps are
        errors. Args, Returns, Raises: as :func:`metacompose.update.update_composer` (its module notes say how)."""
        return update_composer(self, new_df)

    # -- persistence (the work is in metacompose.composer_io) ---------------------------------
    def save(self, path: str | Path) -> Path:
        """Save to a folder (constructor parameters, panel, cube, agent; no pickle). Args, Returns,
        Raises: as :func:`metacompose.composer_io.save_composer`."""
        return save_composer(self, path)

    @staticmethod
    def read_header(path: str | Path) -> dict[str, Any]:
        """The checked ``composer.json`` header of a saved folder. Args, Returns, Raises: as
        :func:`metacompose.composer_io.read_composer_header`."""
        return read_composer_header(path)

    @classmethod
    def load(cls, path: str | Path) -> "Composer":
        """Load a composer saved by :meth:`save` through the constructor; nothing is unpickled. Args,
        Returns, Raises: as :func:`metacompose.composer_io.load_composer`."""
        return load_composer(cls, path)
