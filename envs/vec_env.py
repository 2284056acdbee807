"""``CubeVecEnv``: many ``EnsembleWeights-v0`` episodes stepped at once, with numpy only.

:class:`~metacompose.envs.EnsembleWeightsEnv` steps one series at a time in Python; PPO
from stable-baselines3 wrapped around ``N`` copies of it (``DummyVecEnv``) spends most of
its time in that per-copy Python code. The observations never depend on the actions (the
problem is a contextual bandit laid out in time), so everything an episode can see is
known in advance:

* the observation of every origin, :func:`~metacompose.envs.observation.observation_table`
  ``(S, O, D)``;
* the forecasts ``(S, O, M, H)`` and actuals, the origin scales, each model's error and the
  equal-weight combination's error at every origin.

One :meth:`CubeVecEnv.step_wait` maps the ``(N, K * M)`` actions to weights per horizon step
(:func:`~metacompose.combine.action_to_step_weights`), combines the ``N`` current origins'
forecasts in one batched product per cube, scores them against the precomputed equal-weight error and
moves every episode one origin on; finished episodes restart at once on a new series
(stable-baselines3's auto-reset: the last observation is in ``info["terminal_observation"]``).

Copy ``i`` draws its series exactly as an ``EnsembleWeightsEnv`` reset with seed
``seed + i`` does (a Gymnasium ``np_random`` generator per copy), so
``CubeVecEnv(cube, N, seed=s)`` reproduces, observation for observation and reward for
reward (to float rounding), ``make_vec_env(EnsembleWeightsEnv, N, seed=s)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np
from gymnasium.utils import seeding
from stable_baselines3.common.vec_env import VecEnv

from metacompose.checks import check_int
from metacompose.combine import action_to_step_weights, equal_weights, weighted_sum
from metacompose.cube import ForecastCube, check_cubes
from metacompose.envs.ensemble_weights import EnsembleWeightsEnv
from metacompose.envs.observation import DEFAULT_HISTORY
from metacompose.errors import InputError
from metacompose.history import known_scales
from metacompose.metrics import reward, reward_errors


class _Panel(NamedTuple):
    """One cube's arrays as the batched environment steps them (local series and origin indices)."""

    forecasts: np.ndarray   # (S_c, O_c, M, H_c) float64
    actuals: np.ndarray     # (S_c, O_c, H_c) float64, 0 where not steppable
    scales: np.ndarray      # (S_c, O_c) scale known at each origin
    horizon: int            # H_c


class CubeVecEnv(VecEnv):
    """``n_envs`` episodes of ``EnsembleWeights-v0`` over one cube or several, stepped together in numpy.

    Same episodes, observations, rewards and ``info`` entries as ``n_envs`` copies of
    :class:`~metacompose.envs.EnsembleWeightsEnv` (see its docstring for the spaces and the
    reward); only the stepping is batched. At the end of an episode ``info`` also holds
    ``terminal_observation`` and ``episode`` (``{"r": return, "l": length, "t": 0.0}``,
    as stable-baselines3's ``Monitor`` writes it, so PPO logs episode rewards).

    Several cubes (cross-learning): episodes are drawn uniformly from the series of all the
    cubes, whose series are numbered one after the other (cube 0's first, then cube 1's, ...).
    The cubes must share the pool and the features (the observation's entries mean the same
    thing); their horizons, season lengths and numbers of origins may differ. The action's
    knots are relative positions along the horizon (:func:`~metacompose.combine.horizon_profile`),
    so one action means the same for every horizon.

    Args:
        cube: the forecast cube, or a sequence of cubes.
        n_envs: ``N``, episodes stepped at once.
        series: indices (or a boolean mask) of the series to draw episodes from (numbered
            across the cubes); default every series with at least one backtest origin.
        reward_metric: ``"mase"`` or ``"smape"``.
        temperature: action scale before the softmax.
        history: past origins summarised by the ``recent_error`` block.
        reward_clip: bound of the reward's absolute value.
        observations: optional precomputed ``observation_table(cube, history)``, ``(S, O, D)``
            (a list of them, one per cube, for several cubes).
        seed: copy ``i`` is seeded with ``seed + i`` at the first reset (None: random);
            :meth:`seed` (which PPO calls) overrides it.
        horizon_knots: ``K``, knots of the per-step weights (see ``EnsembleWeightsEnv``).

    Raises:
        InputError: as :class:`~metacompose.envs.EnsembleWeightsEnv`, ``n_envs < 1``, or cubes
            that do not share their pool and features.
    """

    def __init__(
        self,
        cube: ForecastCube | Sequence[ForecastCube],
        n_envs: int = 64,
        series: Any = None,
        reward_metric: str = "mase",
        temperature: float = 3.0,
        history: int = DEFAULT_HISTORY,
        reward_clip: float = 5.0,
        observations: np.ndarray | Sequence[np.ndarray] | None = None,
        seed: int | None = None,
        horizon_knots: int = 1,
    ) -> None:
        n_envs = check_int(n_envs, "n_envs")
        cubes = check_cubes(cube)
        if isinstance(cube, ForecastCube):
            tables = [observations]
        else:
            tables = [None] * len(cubes) if observations is None else list(observations)
        if len(tables) != len(cubes):
            raise InputError(f"{len(cubes)} cubes need {len(cubes)} observation tables, got {len(tables)}")
        # one reference environment per cube validates the arguments and builds its observation table
        refs = [EnsembleWeightsEnv(c, series=series if len(cubes) == 1 else None, reward_metric=reward_metric,
                                   temperature=temperature, history=history, reward_clip=reward_clip,
                                   observations=t, horizon_knots=horizon_knots) for c, t in zip(cubes, tables)]
        ref = refs[0]
        self.cubes, self.reward_metric = cubes, reward_metric
        self.temperature, self.reward_clip, self.history = ref.temperature, ref.reward_clip, ref.history
        self.horizon_knots = ref.horizon_knots
        self.render_mode = None
        self._layout(refs)
        self.series = ref.series if len(cubes) == 1 else self._episode_series(series)
        super().__init__(int(n_envs), ref.observation_space, ref.action_space)
        self._rngs = [seeding.np_random(None if seed is None else seed + i)[0] for i in range(self.num_envs)]
        if seed is not None:
            self.seed(seed)
        self._s = np.zeros(self.num_envs, dtype=np.int64)                 # current series of each copy
        self._t = np.zeros(self.num_envs, dtype=np.int64)                 # step within its episode
        self._ret = np.zeros(self.num_envs)
        self._actions: np.ndarray | None = None

    def _layout(self, refs: list[EnsembleWeightsEnv]) -> None:
        """Precompute every series' observations, steps and reference errors, numbered across the cubes."""
        O = max(r.cube.shape[1] for r in refs)
        M, D = refs[0].cube.shape[2], refs[0].observations.shape[2]
        S = sum(r.cube.shape[0] for r in refs)
        self._obs = np.zeros((S, O, D), dtype=np.float32)                 # (S, O, D) observations
        self._steps = np.zeros((S, O), dtype=np.int64)                    # steppable origins first, in time order
        self._n_steps = np.zeros(S, dtype=np.int64)                       # (S,) episode lengths
        self._last = np.zeros(S, dtype=np.int64)                          # (S,) final origin index
        self._panel = np.zeros(S, dtype=np.int64)                         # (S,) cube of each series
        self._local = np.zeros(S, dtype=np.int64)                         # (S,) index inside its cube
        self._model_err = np.zeros((S, O, M))                             # (S, O, M) per-model errors
        self._eq_err = np.zeros((S, O))                                   # (S, O) equal-weight error
        self._panels: list[_Panel] = []
        at = 0
        for c, ref in enumerate(refs):
            Sc, Oc, _, Hc = ref.cube.shape
            rows = slice(at, at + Sc)
            train = ref.steppable
            self._obs[rows, :Oc] = ref.observations
            self._n_steps[rows] = train.sum(axis=1)
            order = np.argsort(~train, axis=1, kind="stable")
            self._steps[rows, :Oc] = np.where(np.arange(Oc)[None, :] < self._n_steps[rows, None], order, 0)
            self._last[rows], self._panel[rows], self._local[rows] = Oc - 1, c, np.arange(Sc)
            panel = _Panel(ref.cube.forecasts.astype(np.float64),
                           np.where(train[..., None], ref.cube.actuals, 0.0).astype(np.float64),
                           known_scales(ref.cube), Hc)
            self._panels.append(panel)
            s_idx, k_idx = np.nonzero(train)
            if s_idx.size:
                f, y, scl = panel.forecasts[s_idx, k_idx], panel.actuals[s_idx, k_idx], panel.scales[s_idx, k_idx]
                self._model_err[at + s_idx, k_idx] = reward_errors(y[:, None, :], f, scl[:, None, None],
                                                                   self.reward_metric)
                eq = weighted_sum(equal_weights((M,)), f)                 # (K, H)
                self._eq_err[at + s_idx, k_idx] = reward_errors(y, eq, scl[:, None], self.reward_metric)
            at += Sc

    def _episode_series(self, series: Any) -> np.ndarray:
        """Indices of the chosen series (numbered across the cubes) that have a steppable origin.

        Raises:
            InputError: invalid indices, or none of them has a steppable origin.
        """
        S = self._n_steps.shape[0]
        if series is None:
            idx = np.arange(S)
        else:
            idx = np.atleast_1d(np.asarray(series))
            idx = np.flatnonzero(idx) if idx.dtype == bool else idx
            if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) or np.any((idx < 0) | (idx >= S)):
                raise InputError(f"series must be indices in [0, {S}) or a boolean mask of length {S}")
        chosen = idx[self._n_steps[idx] > 0].astype(np.int64)
        if chosen.shape[0] == 0:
            raise InputError("no chosen series has a backtest origin with known actuals; nothing to learn from")
        return chosen

    def _score(self, series: np.ndarray, origins: np.ndarray, actions: np.ndarray):
        """Weights and errors of ``actions`` ``(K, A)`` at the given (series, origin) pairs.

        Returns:
            ``(rewards (K,), composed errors (K,), step weights: a list of K arrays (H_c, M))``.
        """
        n = len(series)
        e_comp = np.zeros(n)
        step_w: list[np.ndarray] = [np.zeros(0)] * n
        panel = self._panel[series]
        for c, p in enumerate(self._panels):
            i = np.flatnonzero(panel == c)
            if not i.size:
                continue
            ls, lk = self._local[series[i]], origins[i]
            w = action_to_step_weights(actions[i], self.temperature, p.horizon, self.horizon_knots)  # (n, H, M)
            comp = weighted_sum(w, p.forecasts[ls, lk])                     # (n, H)
            e_comp[i] = reward_errors(p.actuals[ls, lk], comp, p.scales[ls, lk][:, None], self.reward_metric)
            for j, row in enumerate(i):
                step_w[row] = w[j]
        return reward(self._eq_err[series, origins], e_comp, self.reward_clip), e_comp, step_w

    # --- episodes ----------------------------------------------------------------------------

    def _start(self, i: int, options: dict | None = None) -> None:
        """Start copy ``i`` on a new series (``options["series"]`` or drawn with its generator)."""
        if options and "series" in options:
            s = int(options["series"])
            if not 0 <= s < self._n_steps.shape[0] or self._n_steps[s] == 0:
                raise InputError(f"series {s} does not exist or has no backtest origin with known actuals")
        else:
            s = int(self.series[self._rngs[i].integers(self.series.shape[0])])
        self._s[i], self._t[i], self._ret[i] = s, 0, 0.0
        self.reset_infos[i] = {"series": s, "origin": int(self._steps[s, 0])}

    def reset(self) -> np.ndarray:
        """Start every copy on a series; seeds and options set by :meth:`seed` / ``set_options`` apply once.

        Returns:
            float32 ``(N, D)``: the first observation of each copy's episode.
        """
        for i in range(self.num_envs):
            if self._seeds[i] is not None:
                self._rngs[i] = seeding.np_random(self._seeds[i])[0]
            self._start(i, self._options[i])
        self._reset_seeds()
        self._reset_options()
        return self._obs[self._s, self._steps[self._s, 0]]

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions ``(N, M)`` for :meth:`step_wait`."""
        self._actions = np.asarray(actions)

    def step_wait(self):
        """Weight every copy's forecasts at its current origin and move each one origin on.

        Returns:
            ``(obs (N, D) float32, rewards (N,) float32, dones (N,) bool, infos)``; a done
            copy's ``obs`` row is the first observation of its next episode and its info
            holds ``terminal_observation``.

        Raises:
            RuntimeError: ``step_wait`` without ``step_async``.
        """
        if self._actions is None:
            raise RuntimeError("call step_async(actions) before step_wait()")
        N = self.num_envs
        s, t = self._s, self._t
        k = self._steps[s, t]                                             # (N,) origin indices
        rewards, e_comp, step_w = self._score(s, k, np.asarray(self._actions).reshape(N, -1))
        self._actions = None
        e_eq = self._eq_err[s, k]
        self._ret += rewards
        t_next = t + 1
        dones = t_next >= self._n_steps[s]
        k_next = np.where(dones, np.minimum(k + 1, self._last[s]), self._steps[s, np.where(dones, 0, t_next)])
        obs = self._obs[s, k_next]                                        # fancy index: a copy
        model_err = self._model_err[s, k]
        infos: list[dict[str, Any]] = [
            {"series": int(s[i]), "origin": int(k[i]), "weights": step_w[i].mean(axis=0), "step_weights": step_w[i],
             "errors": model_err[i], "error_composed": float(e_comp[i]), "error_equal": float(e_eq[i])}
            for i in range(N)
        ]
        self._t = t_next
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = obs[i].copy()
            infos[i]["episode"] = {"r": float(self._ret[i]), "l": int(t_next[i]), "t": 0.0}
            self._start(int(i))
            obs[i] = self._obs[self._s[i], self._steps[self._s[i], 0]]
        return obs, rewards.astype(np.float32), dones, infos

    # --- evaluation without stepping --------------------------------------------------------

    def train_origins(self) -> tuple[np.ndarray, np.ndarray]:
        """Every steppable origin of the episode series.

        Returns:
            ``(series, origin)``: int64 ``(K,)`` each, ``K`` = total steps of one pass
            over ``self.series``.
        """
        s = np.repeat(self.series, self._n_steps[self.series])
        t = np.concatenate([np.arange(n) for n in self._n_steps[self.series]]) if s.size else s
        return s, self._steps[s, t]

    def rewards(self, series: np.ndarray, origins: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Rewards of ``actions`` at the given origins, exactly as :meth:`step_wait` computes them.

        Args:
            series: int ``(K,)``; origins: int ``(K,)`` (steppable ones, e.g. from
                :meth:`train_origins`); actions: ``(K, A)``, ``A`` the action size.

        Returns:
            float64 ``(K,)``.
        """
        return self._score(np.asarray(series), np.asarray(origins), np.asarray(actions).reshape(len(series), -1))[0]

    def observations(self, series: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """float32 ``(K, D)``: the observations at those origins."""
        return self._obs[series, origins]

    # --- VecEnv plumbing ---------------------------------------------------------------------

    def close(self) -> None:
        """Nothing to release."""

    def _indices(self, indices) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        return [indices] if isinstance(indices, (int, np.integer)) else list(indices)

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        """The attribute ``attr_name`` of this object, once per requested copy."""
        return [getattr(self, attr_name) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        """Set ``attr_name`` on this object (shared by all copies)."""
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        """Call ``method_name`` of this object once per requested copy."""
        return [getattr(self, method_name)(*method_args, **method_kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        """No copy is wrapped (episode statistics are written by the env itself)."""
        return [False for _ in self._indices(indices)]
