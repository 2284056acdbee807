"""The user-facing Composer: backtest a pool, train a composition agent, forecast.

Example:
    >>> from metacompose import Composer
    >>> comp = Composer(models=["ARIMA", "ETS", "Theta"], agent="ppo", horizon=6, season_length=1)
    >>> comp.fit(train_df)            # long frame: unique_id, ds, y
    >>> fc = comp.predict()           # unique_id, ds, one column per model, composed, weight_<model>
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from metacompose.agents import CompositionAgent, get_agent, load_agent
from metacompose.backtest import BacktestReport, backtest
from metacompose.checks import check_horizon, check_int, check_optional_int, check_season_length, check_timeout
from metacompose.combine import weighted_forecasts
from metacompose.cross_validation import cross_validation
from metacompose.cube import ForecastCube
from metacompose.data import Panel, validate_frame
from metacompose.errors import FileFormatError, InputError, NotFittedError, UnknownModelError
from metacompose.fileio import read_header, save_container
from metacompose.intervals import interval_columns
from metacompose.models import DEFAULT_POOL, Forecaster, build_pool
from metacompose.pool_selection import PoolSelection, select_pool
from metacompose.update import load_series, save_series, update_composer

FORMAT, VERSION = "metacompose.composer", 1
"""``composer.json``'s format name and version. Version 1 files written before the constructor
parameters were saved (no ``"params"`` key) still load, with defaults for what they lack."""
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

    # -- persistence -------------------------------------------------------------------
    def _saved_params(self) -> dict[str, Any]:
        """The constructor arguments as JSON values (what :meth:`load` passes back to the constructor).

        An agent instance is saved by its name and parameters; ``agent_kwargs`` keep their JSON
        values only (a callback, say, is left out); ``progress`` is not saved.
        """
        if isinstance(self.agent, str):
            agent, kwargs = self.agent, self.agent_kwargs
        else:
            agent, kwargs = self.agent_.name, self.agent_.get_params()
        params = {k: v for k, v in self.get_params().items() if k != "progress"}
        return {**params, "models": self._pool_param, "agent": agent, "agent_kwargs": _json_values(kwargs),
                "cache_dir": None if self.cache_dir is None else str(self.cache_dir)}

    def save(self, path: str | Path) -> Path:
        """Save to a folder: ``composer.json`` (constructor parameters and the panel's ids and
        timestamps), the series' values (``series.*``, for :meth:`update`), the cube
        (``cube.json``/``.npz``) and the agent (``agent.*``, its own safe format).

        Args:
            path: the folder (created if needed).

        Returns:
            the folder's path.

        Raises:
            NotFittedError: ``fit`` was not called.
        """
        if self.cube_ is None:
            raise NotFittedError("call Composer.fit(df) before save()")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.cube_.save(path / "cube")
        self.agent_.save(path / "agent")
        save_series(self.panel_, path / "series")
        freqs = [int(f) if isinstance(f, (int, np.integer)) else f.freqstr for f in self.panel_.freqs]
        last = [int(d) if isinstance(d, (int, np.integer)) else pd.Timestamp(d).isoformat() for d in self.panel_.last_ds]
        header = {
            "horizon": self.horizon, "season_length": self.season_length, "models": self.models,
            "agent": type(self.agent_).__name__, "random_state": self.random_state,
            "columns": [self.id_col, self.time_col, self.target_col], "freqs": freqs, "last_ds": last,
            "ids": [str(i) for i in self.panel_.ids], "params": self._saved_params(),
        }
        save_container(path / "composer", FORMAT, VERSION, header=header)  # last: only a complete folder has one
        return path

    @staticmethod
    def read_header(path: str | Path) -> dict[str, Any]:
        """The checked ``composer.json`` header of a folder written by :meth:`save`.

        Args:
            path: the composer's folder.

        Returns:
            the header: ``horizon``, ``season_length``, ``models`` (the pool, in cube order),
            ``agent`` (its class name), ``random_state``, ``columns``, ``freqs``, ``last_ds``,
            ``ids`` and, in files written since the constructor parameters are saved, ``params``.

        Raises:
            FileNotFoundError: no ``composer.json`` in ``path``.
            FileFormatError: not a composer header, not JSON, or from a newer version.
        """
        return read_header(Path(path) / "composer.json", FORMAT, VERSION, "composer")

    @classmethod
    def load(cls, path: str | Path) -> "Composer":
        """Load a composer saved by :meth:`save`; nothing is unpickled.

        The composer is built through the constructor from its saved parameters (files that
        predate them get the defaults for what they lack), then its fitted state (``cube_``,
        ``agent_``, the panel's ids, timestamps and values, ``weights_``, ``forecast_``) is restored:
        it predicts exactly as the saved one did, ``fit`` and ``update`` work as before saving. Its
        pool is rebuilt from the aliases: custom models must be registered to fit again
        (a pool that cannot be rebuilt still loads and predicts).

        Args:
            path: the composer's folder.

        Returns:
            the composer, fitted.

        Raises:
            FileNotFoundError: the folder or a file is missing.
            FileFormatError: not a composer folder, corrupted, or from a newer version.
        """
        path = Path(path)
        header = cls.read_header(path)
        try:
            cube, agent = ForecastCube.load(path / "cube"), load_agent(path / "agent")
            params = _constructor_params(header, agent)
            try:
                comp = cls(**params)
            except UnknownModelError:  # custom models that are not registered: it predicts, fit says why not
                comp = cls(**{**params, "models": None})
                comp.pool, comp._pool_param = [], params["models"]
            comp._restore(header, cube, agent, load_series(path / "series", header["ids"]))
        except FileFormatError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{path / 'composer.json'} is incomplete or malformed: {type(exc).__name__}: {exc}") from None
        return comp

    def _restore(self, header: dict, cube: ForecastCube, agent: CompositionAgent, values: list) -> None:
        """Set the fitted state saved in ``header`` with its cube, agent and series' values (``[]``: none saved)."""
        self.cube_, self.agent_ = cube, agent
        freqs = [f if isinstance(f, int) else pd.tseries.frequencies.to_offset(f) for f in header["freqs"]]
        last = [d if isinstance(d, int) else pd.Timestamp(d) for d in header["last_ds"]]
        self.panel_ = Panel(header["ids"], values, last, freqs)
        self._finish()


def _json_values(values: dict) -> dict:
    """The items of ``values`` that are JSON values (others, e.g. callbacks, are left out)."""
    out = {}
    for k, v in values.items():
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            continue
        out[k] = v
    return out


def _constructor_params(header: dict, agent: CompositionAgent) -> dict[str, Any]:
    """The constructor arguments of a saved composer; for a version-1 header without them, those it recorded.

    A composer saved with ``train_agent=False`` gets the loaded ``agent`` back as its agent.

    Raises:
        KeyError, TypeError: the header lacks or garbles what it needs.
    """
    params = header.get("params")
    if params is None:  # written before the parameters were saved: what the header has, defaults for the rest
        id_col, time_col, target_col = header["columns"]
        params = {"models": header["models"], "agent": agent.name, "horizon": header["horizon"],
                  "season_length": header["season_length"], "random_state": header["random_state"],
                  "id_col": id_col, "time_col": time_col, "target_col": target_col, "pool_selection": False}
    if not isinstance(params, dict):
        raise TypeError("'params' must be a JSON object")
    params = dict(params)
    if not params.get("train_agent", True):
        params["agent"] = agent
    return params
