"""The user-facing Composer: backtest a pool, train a composition agent, forecast.

Example:
    >>> from metacompose import Composer
    >>> comp = Composer(models=["ARIMA", "ETS", "Theta"], agent="ppo", horizon=6, season_length=1)
    >>> comp.fit(train_df)            # long frame: unique_id, ds, y
    >>> fc = comp.predict()           # unique_id, ds, one column per model, composed, weight_<model>
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from metacompose.agent_choice import PRETRAINED, choose_agent, make_agent
from metacompose.agents import CompositionAgent
from metacompose.backtest import BacktestReport, backtest
from metacompose.budget import check_budget, plan_budget
from metacompose.checks import check_choice, check_horizon, check_int, check_optional_int, check_timeout
from metacompose.combine import weighted_forecasts
from metacompose.cross_validation import cross_validation
from metacompose.cube import ForecastCube
from metacompose.composer_io import load_composer, read_composer_header, save_composer
from metacompose.data import check_one_season_length, infer_season_length, validate_frame
from metacompose.decision import Decision, describe
from metacompose.errors import InputError, NotFittedError
from metacompose.feature_sets import check_feature_set
from metacompose.intervals import interval_columns
from metacompose.models import DEFAULT_POOL, Forecaster, build_pool
from metacompose.pool_selection import PoolSelection, select_pool
from metacompose.progress import LOGGER
from metacompose.update import update_composer

COMPOSED = "composed"


class Composer:
    """Compose the forecasts of a pool with a learned (or baseline) weighting agent.

    Args:
        models: aliases (see ``metacompose.models.REGISTRY``) and/or Forecaster instances;
            default ``DEFAULT_POOL``, pruned on the backtest (see ``pool_selection``).
        agent: ``"auto"`` (default): PPO trained on the panel, or, for a panel of fewer than 50
            series with the default pool and features, the pretrained agent shipped in the package
            (:mod:`metacompose.agent_choice`; the run says which and why); ``"pretrained"``: that
            agent whatever the panel (it needs the default pool and features); a name from
            ``metacompose.agents.AGENTS`` (``"ppo"``, ``"a2c"``, ``"sac"``, ``"td3"``, ``"ddpg"``,
            ``"equal"``, ``"best"``, ``"inverse_error"``, ``"median"``, ...); or an agent instance.
        horizon: ``h``, steps to forecast (positive int).
        season_length: ``m`` (1 = no seasonality); None (default): inferred at ``fit`` from the
            time stamps' frequency (monthly 12, quarterly 4, daily 7, half-hourly 48, integer
            time stamps 1, ...; :func:`metacompose.data.infer_season_length`), and said so in
            ``decision_``. A pool of instances keeps each instance's own ``m``.
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
        time_budget: CPU seconds each member's backtest may take: ``"auto"`` (default;
            proportional to the data, :func:`metacompose.budget.member_budget`), a number, or None
            (no budget). A per-series member whose estimated cost exceeds it is dropped before the
            backtest (never with ``train_agent=False``: a trained agent needs its whole pool); a
            panel member's training is cut short at ``budget / origins`` per origin. Both are
            reported in ``decision_`` (:mod:`metacompose.budget`).
        nonnegative: ``"auto"`` (default): the forecasts of every series whose training data are
            all ``>= 0`` are clipped at 0 (each member's, at every origin, before the agent sees
            them; so the composed forecast is ``>= 0`` too); True: every series' forecasts;
            False: none.
        features: the series features the agent sees at each origin (computed on ``y[:origin]``):
            ``"basic"`` (default), ``"catch22"`` or ``"tsfeatures"``
            (:data:`metacompose.feature_sets.FEATURE_SETS`, :func:`metacompose.backtest.backtest`).

    Raises:
        InputError: bad horizon, season length, ``n_origins``, ``step``, timeout, time budget or
            ``nonnegative``, unknown ``features``, bad pool, ``train_agent=False`` with an agent name,
            or agent arguments the agent does not take; UnknownModelError: unknown alias or agent name.
    """

    def __init__(
        self,
        models: Sequence[str | Forecaster] | None = None,
        agent: Any = "auto",
        horizon: int = 1,
        season_length: int | None = None,
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
        time_budget: float | str | None = "auto",
        nonnegative: bool | str = "auto",
        features: str = "basic",
    ) -> None:
        self.horizon = check_horizon(horizon)
        self._season_param = None if season_length is None else check_one_season_length(season_length)
        self.season_length = self._season_param or 1  # the m in use; fit infers it when season_length is None
        self._models_param = None if models is None else list(models)
        self.pool = build_pool(self._pool_models(), self.season_length)
        self._pool_param = None if models is None else [m.alias for m in self.pool]
        if not train_agent and isinstance(agent, str) and agent.lower() != PRETRAINED:
            raise InputError(f"train_agent=False needs a trained agent instance (e.g. load_agent(path)), not {agent!r}")
        self.agent = agent
        self.train_agent = bool(train_agent) and not (isinstance(agent, str) and agent.lower() == PRETRAINED)
        self.n_origins, self.step = check_int(n_origins, "n_origins"), check_optional_int(step, "step")
        self.n_jobs, self.cache_dir = n_jobs, cache_dir
        self.random_state, self.agent_kwargs = random_state, dict(agent_kwargs or {})
        self.id_col, self.time_col, self.target_col = id_col, time_col, target_col
        self.progress = progress
        self.timeout, self.panel_timeout = check_timeout(timeout, "timeout"), check_timeout(panel_timeout, "panel_timeout")
        self.backend = backend
        default_selection = models is None and self.train_agent
        self.pool_selection = default_selection if pool_selection is None else bool(pool_selection)
        self.time_budget = check_budget(time_budget)
        self.nonnegative = nonnegative if nonnegative == "auto" else check_choice(nonnegative, "nonnegative",
                                                                                  (True, False))
        self.features = check_feature_set(features)
        make_agent(self)  # an unknown agent or a misspelt argument fails now, not after the backtest
        self.pool_selection_: PoolSelection | None = None
        self.cube_: ForecastCube | None = None
        self.report_: BacktestReport | None = None
        self.update_report_: BacktestReport | None = None  # the fits at the new origin of the last update()
        self.decision_: Decision | None = None
        self.season_reason_ = "given" if season_length is not None else "not yet inferred"

    def _pool_models(self) -> list:
        """The pool as given (aliases and/or instances), or the default pool."""
        return list(DEFAULT_POOL) if self._models_param is None else list(self._models_param)

    @property
    def models(self) -> list[str]:
        """Aliases of the pool, in cube order."""
        return list(self.cube_.models) if self.cube_ is not None else [m.alias for m in self.pool]

    def fit(self, df: pd.DataFrame) -> "Composer":
        """Backtest the pool on every series of ``df``, train the agent, and prepare the forecast.

        Args:
            df: long frame with ``id_col``, ``time_col``, ``target_col``; the training data only.

        Returns:
            self, with ``cube_`` (the :class:`ForecastCube`), ``report_`` (backtest report),
            ``decision_`` (a :class:`~metacompose.decision.Decision`: season length, members kept
            and dropped, the weights' source and why, backtest errors), ``dropped_`` (members left
            out by the time budget, alias -> why), ``clipped_`` (forecasts clipped at 0),
            ``agent_`` (the fitted agent; with ``train_agent=False`` the given one, untouched),
            ``weights_`` ``(S, M)`` (mean over the steps), ``step_weights_`` ``(S, H, M)`` and
            ``forecast_`` ``(S, H)``, all at the final origin; with ``pool_selection``,
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
        t0 = time.perf_counter()
        need = 1 if self._season_param is None else max(m.min_length for m in self.pool)  # None: the pool needs m
        self.panel_ = validate_frame(df, self.id_col, self.time_col, self.target_col, min_length=need)
        LOGGER.info("data: %d series, %d observations", len(self.panel_.ids), sum(len(v) for v in self.panel_.values))
        self._set_season_length()
        if min(len(v) for v in self.panel_.values) < max(m.min_length for m in self.pool):  # raises the length error
            validate_frame(df, self.id_col, self.time_col, self.target_col, min_length=max(m.min_length for m in self.pool))
        self.agent_choice_ = choose_agent(self, len(self.panel_.ids))
        if self.agent_choice_.reason:
            LOGGER.info("agent: %s", self.agent_choice_.reason)
        budget = None if self.time_budget is None else plan_budget(
            self.pool, self.panel_.values, self.horizon, self.n_origins + 1, self.time_budget, self.agent_choice_.train)
        if budget is not None:
            LOGGER.info(budget.summary())
        self.dropped_ = {} if budget is None else dict(budget.dropped)
        self.cube_, self.report_ = backtest(
            self.panel_.values, self.pool if budget is None else budget.kept, self.horizon, self.season_length,
            ids=self.panel_.ids, n_origins=self.n_origins, step=self.step, n_jobs=self.n_jobs, cache_dir=self.cache_dir,
            progress=self.progress, timeout=self.timeout, panel_timeout=self.panel_timeout, backend=self.backend,
            train_seconds=None if budget is None else budget.panel_seconds, features=self.features,
        )
        self.cube_, self.clipped_ = self.cube_.clip_at_zero(self._nonnegative_rows(self.panel_.values))
        agent = self.agent_choice_.agent
        if self.pool_selection and self.agent_choice_.train:
            self.pool_selection_ = select_pool(self.cube_, metric=getattr(agent, "reward_metric", "mase"))
            self.cube_ = self.cube_.take_models(self.pool_selection_.models)
            LOGGER.info("pool selection: kept %s; dropped %s", ", ".join(self.pool_selection_.models),
                        ", ".join(self.pool_selection_.dropped) or "none")
        self.agent_ = self._fitted_agent(agent)
        self._finish()
        self.decision_ = describe(self)
        LOGGER.info("fit: done in %.1f s; weights: %s (%s)", time.perf_counter() - t0, self.decision_.source,
                    self.decision_.reason)
        return self

    def _set_season_length(self) -> None:
        """``season_length`` and ``season_reason_``: as given, or inferred from the panel's time stamps
        (then the pool is rebuilt with it)."""
        if self._season_param is not None:
            self.season_length, self.season_reason_ = self._season_param, "given"
            return
        self.season_length, self.season_reason_ = infer_season_length(self.panel_.freqs)
        self.pool = build_pool(self._pool_models(), self.season_length)
        LOGGER.info("season length: %s", self.season_reason_)

    def _nonnegative_rows(self, values) -> np.ndarray:
        """bool ``(S,)``: the series whose forecasts are clipped at 0 (see ``nonnegative``)."""
        if self.nonnegative == "auto":
            return np.array([bool(np.all(np.asarray(v) >= 0)) for v in values], dtype=bool)
        return np.full(len(values), bool(self.nonnegative))

    def _fitted_agent(self, agent):
        """The agent trained on ``cube_`` or, untrained (``train_agent=False``, the pretrained agent), the
        given one after checking its pool."""
        if self.agent_choice_.train:
            t0 = time.perf_counter()
            LOGGER.info("agent %s: training on %d series x %d backtest origins", getattr(agent, "name", agent),
                        self.cube_.shape[0], self.cube_.shape[1] - 1)
            fitted = agent.fit(self.cube_)
            LOGGER.info("agent %s: trained in %.1f s", getattr(agent, "name", agent), time.perf_counter() - t0)
            return fitted
        trained_on = getattr(agent, "models_", None)
        if trained_on is not None and list(trained_on) != list(self.cube_.models):
            raise InputError(f"the agent was trained on the pool {list(trained_on)}; this composer's pool is "
                             f"{list(self.cube_.models)}")
        return agent

    def _finish(self) -> None:
        """Weights at the final origin, ``weights_`` ``(S, M)`` (mean over the steps) and
        ``step_weights_`` ``(S, H, M)``, the composed forecast there ``forecast_`` ``(S, H)``, and
        at every origin ``composed_`` ``(S, O, H)`` (its backtest errors give the intervals),
        from ``agent_`` and ``cube_``."""
        w = np.asarray(self.agent_.step_weights(self.cube_), dtype=np.float64)      # (S, O, H, M)
        self.step_weights_ = w[:, -1]
        self.weights_ = self.step_weights_.mean(axis=1)
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
            ``weight_<model>`` column per model (the weights used at that step; they sum to 1 per row).
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
            rows[f"weight_{alias}"] = self.step_weights_[:, :, j].reshape(-1)
        return pd.DataFrame(rows)

    def weights(self) -> pd.DataFrame:
        """Weights at the final origin as a wide frame: one row per series, one column per model
        (an agent that weighs each horizon step on its own: the mean over the steps; ``predict``
        gives each step's)."""
        if self.cube_ is None:
            raise NotFittedError("call Composer.fit(df) before weights()")
        out = pd.DataFrame(self.weights_, columns=self.cube_.models)
        out.insert(0, self.id_col, self.panel_.ids)
        return out

    # -- cross-validation and updates (the work is in metacompose.cross_validation / metacompose.update) --
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments as given (the pool's instances, the agent as passed, live
        ``agent_kwargs``): ``Composer(**comp.get_params())`` is an unfitted composer set up like this one."""
        names = ("train_agent", "horizon", "n_origins", "step", "n_jobs", "cache_dir", "random_state", "id_col",
                 "time_col", "target_col", "progress", "timeout", "panel_timeout", "backend", "pool_selection",
                 "time_budget", "nonnegative", "features")
        models = None if self._pool_param is None else (list(self.pool) if self.pool else list(self._pool_param))
        return {"models": models, "agent": self.agent,
                "season_length": self._season_param, "agent_kwargs": dict(self.agent_kwargs),
                **{k: getattr(self, k) for k in names}}

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
