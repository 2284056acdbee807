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

from metacompose.backtest import BacktestReport, backtest
from metacompose.cube import ForecastCube
from metacompose.fileio import read_header
from metacompose.data import validate_frame
from metacompose.errors import FileFormatError, InputError, NotFittedError
from metacompose.models import DEFAULT_POOL, Forecaster, build_pool
from metacompose.pool_selection import PoolSelection, select_pool
from metacompose.models.base import check_horizon

FORMAT, VERSION = "metacompose.composer", 1
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
        n_origins: backtest origins per series before the final one.
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
            ``reward_metric`` if it has one, else MASE). None: on for the default pool, off
            for a pool you pass.

    Raises:
        InputError: bad horizon, season length or pool; UnknownModelError: unknown alias.
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
    ) -> None:
        self.horizon = check_horizon(horizon)
        if isinstance(season_length, bool) or not isinstance(season_length, (int, np.integer)) or season_length < 1:
            raise InputError(f"season_length must be a positive integer, got {season_length!r}")
        self.season_length = int(season_length)
        self.pool = build_pool(list(models) if models is not None else list(DEFAULT_POOL), self.season_length)
        self.agent = agent
        self.n_origins, self.step, self.n_jobs, self.cache_dir = n_origins, step, n_jobs, cache_dir
        self.random_state, self.agent_kwargs = random_state, dict(agent_kwargs or {})
        self.id_col, self.time_col, self.target_col = id_col, time_col, target_col
        self.progress = progress
        self.timeout, self.panel_timeout, self.backend = timeout, panel_timeout, backend
        self.pool_selection = models is None if pool_selection is None else bool(pool_selection)
        self.pool_selection_: PoolSelection | None = None
        self.cube_: ForecastCube | None = None
        self.report_: BacktestReport | None = None

    @property
    def models(self) -> list[str]:
        """Aliases of the pool, in cube order."""
        return list(self.cube_.models) if self.cube_ is not None else [m.alias for m in self.pool]

    def _make_agent(self):
        from metacompose.agents import get_agent

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
            ``agent_`` (the fitted agent), ``weights_`` ``(S, M)`` and ``forecast_`` ``(S, H)``;
            with ``pool_selection``, ``pool_selection_`` (a ``PoolSelection``) and a cube of
            the kept models only.

        Raises:
            InputError: missing columns, non-numeric/NaN/inf values, duplicate or irregular timestamps.
            SeriesTooShortError: a series is shorter than the longest ``min_length`` of the pool.
        """
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
        self.agent_ = agent.fit(self.cube_)
        self._finish()
        return self

    def _finish(self) -> None:
        from metacompose.agents.base import CompositionAgent
        from metacompose.combine import weighted_forecasts

        w = np.asarray(self.agent_.weights(self.cube_), dtype=np.float64)
        self.weights_ = w[:, -1]
        if type(self.agent_).combine is CompositionAgent.combine:  # the weights applied: no second weights() call
            self.forecast_ = weighted_forecasts(w[:, -1:], self.cube_.forecasts[:, -1:])[:, 0]
        else:  # an agent with its own combination (e.g. the exact median)
            self.forecast_ = np.asarray(self.agent_.combine(self.cube_)[:, -1], dtype=np.float64)

    def predict(self) -> pd.DataFrame:
        """Forecasts for the ``h`` steps after each series' end.

        Returns:
            long frame with ``id_col``, ``time_col``, one column per model (its forecast,
            in the units of the series), ``composed`` (the agent's forecast) and one
            ``weight_<model>`` column per model (the weights used; they sum to 1 per series).

        Raises:
            NotFittedError: ``fit`` was not called.
        """
        if self.cube_ is None:
            raise NotFittedError("call Composer.fit(df) before predict()")
        S, _, M, H = self.cube_.shape
        rows = {self.id_col: np.repeat(np.array(self.panel_.ids, dtype=object), H)}
        rows[self.time_col] = [d for i in range(S) for d in self.panel_.future_ds(i, H)]
        for j, alias in enumerate(self.cube_.models):
            rows[alias] = self.cube_.forecasts[:, -1, j].astype(np.float64).reshape(-1)
        rows[COMPOSED] = self.forecast_.reshape(-1)
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

    # -- persistence -------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Save to a folder: ``composer.json``, the cube (npz + JSON) and the agent (its own safe format).

        Raises:
            NotFittedError: ``fit`` was not called.
        """
        if self.cube_ is None:
            raise NotFittedError("call Composer.fit(df) before save()")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.cube_.save(path / "cube")
        self.agent_.save(path / "agent")
        freqs = [int(f) if isinstance(f, (int, np.integer)) else f.freqstr for f in self.panel_.freqs]
        last = [int(d) if isinstance(d, (int, np.integer)) else pd.Timestamp(d).isoformat() for d in self.panel_.last_ds]
        header = {
            "format": FORMAT, "version": VERSION, "horizon": self.horizon, "season_length": self.season_length,
            "models": self.models, "agent": type(self.agent_).__name__, "random_state": self.random_state,
            "columns": [self.id_col, self.time_col, self.target_col], "freqs": freqs, "last_ds": last,
            "ids": [str(i) for i in self.panel_.ids],
        }
        (path / "composer.json").write_text(json.dumps(header, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Composer":
        """Load a composer saved by :meth:`save`; nothing is unpickled.

        The loaded composer predicts exactly as the saved one did; its pool is rebuilt
        from the aliases (custom models come back as their built-in namesakes only for
        refitting, which needs them registered).

        Raises:
            FileNotFoundError: the folder or a file is missing.
            FileFormatError: not a composer folder, corrupted, or from a newer version.
        """
        path = Path(path)
        header = read_header(path / "composer.json", FORMAT, VERSION, "composer")
        try:
            return cls._from_header(path, header)
        except FileFormatError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{path / 'composer.json'} is incomplete or malformed: {type(exc).__name__}: {exc}") from None

    @classmethod
    def _from_header(cls, path: Path, header: dict) -> "Composer":
        from metacompose.agents import load_agent
        from metacompose.data import Panel

        self = cls.__new__(cls)
        self.horizon, self.season_length = header["horizon"], header["season_length"]
        self.id_col, self.time_col, self.target_col = header["columns"]
        self.cube_ = ForecastCube.load(path / "cube")
        self.agent_ = load_agent(path / "agent")
        self.agent, self.random_state, self.agent_kwargs = self.agent_, header["random_state"], {}
        self.report_, self.progress, self.timeout, self.panel_timeout, self.backend = None, False, None, None, None
        self.pool_selection, self.pool_selection_ = False, None
        try:
            self.pool = build_pool(header["models"], self.season_length)
        except InputError:
            self.pool = []
        freqs = [f if isinstance(f, int) else pd.tseries.frequencies.to_offset(f) for f in header["freqs"]]
        last = [d if isinstance(d, int) else pd.Timestamp(d) for d in header["last_ds"]]
        self.panel_ = Panel(header["ids"], [], last, freqs)
        self._finish()
        return self
