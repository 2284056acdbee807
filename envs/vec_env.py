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

One :meth:`CubeVecEnv.step_wait` maps the ``(N, M)`` actions to weights
(:func:`~metacompose.combine.action_to_weights`), combines the ``N`` current origins'
forecasts in one ``matmul``, scores them against the precomputed equal-weight error and
moves every episode one origin on; finished episodes restart at once on a new series
(stable-baselines3's auto-reset: the last observation is in ``info["terminal_observation"]``).

Copy ``i`` draws its series exactly as an ``EnsembleWeightsEnv`` reset with seed
``seed + i`` does (a Gymnasium ``np_random`` generator per copy), so
``CubeVecEnv(cube, N, seed=s)`` reproduces, observation for observation and reward for
reward (to float rounding), ``make_vec_env(EnsembleWeightsEnv, N, seed=s)``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from gymnasium.utils import seeding
from stable_baselines3.common.vec_env import VecEnv

from metacompose.checks import check_int
from metacompose.combine import action_to_weights, equal_weights, weighted_sum
from metacompose.cube import ForecastCube
from metacompose.envs.ensemble_weights import EnsembleWeightsEnv
from metacompose.envs.observation import DEFAULT_HISTORY
from metacompose.errors import InputError
from metacompose.history import known_scales
from metacompose.metrics import reward, reward_errors


class CubeVecEnv(VecEnv):
    """``n_envs`` episodes of ``EnsembleWeights-v0`` over one cube, stepped together in numpy.

    Same episodes, observations, rewards and ``info`` entries as ``n_envs`` copies of
    :class:`~metacompose.envs.EnsembleWeightsEnv` (see its docstring for the spaces and the
    reward); only the stepping is batched. At the end of an episode ``info`` also holds
    ``terminal_observation`` and ``episode`` (``{"r": return, "l": length, "t": 0.0}``,
    as stable-baselines3's ``Monitor`` writes it, so PPO logs episode rewards).

    Args:
        cube: the forecast cube.
        n_envs: ``N``, episodes stepped at once.
        series: indices (or a boolean mask) of the series to draw episodes from; default
            every series with at least one backtest origin.
        reward_metric: ``"mase"`` or ``"smape"``.
        temperature: action scale before the softmax.
        history: past origins summarised by the ``recent_error`` block.
        reward_clip: bound of the reward's absolute value.
        observations: optional precomputed ``observation_table(cube, history)``, ``(S, O, D)``.
        seed: copy ``i`` is seeded with ``seed + i`` at the first reset (None: random);
            :meth:`seed` (which PPO calls) overrides it.

    Raises:
        InputError: as :class:`~metacompose.envs.EnsembleWeightsEnv`, or ``n_envs < 1``.
    """

    def __init__(
        self,
        cube: ForecastCube,
        n_envs: int = 64,
        series: Any = None,
        reward_metric: str = "mase",
        temperature: float = 3.0,
        history: int = DEFAULT_HISTORY,
        reward_clip: float = 5.0,
        observations: np.ndarray | None = None,
        seed: int | None = None,
    ) -> None:
        n_envs = check_int(n_envs, "n_envs")
        # one reference environment validates the arguments and builds the observation table
        ref = EnsembleWeightsEnv(cube, series=series, reward_metric=reward_metric, temperature=temperature,
                                 history=history, reward_clip=reward_clip, observations=observations)
        self.cube, self.series, self.reward_metric = cube, ref.series, reward_metric
        self.temperature, self.reward_clip, self.history = ref.temperature, ref.reward_clip, ref.history
        self.render_mode = None
        S, O, M, H = cube.shape
        self._obs = ref.observations                                      # (S, O, D) float32
        train = ref.steppable                                             # (S, O) steppable origins
        self._n_steps = train.sum(axis=1).astype(np.int64)                # (S,) episode lengths
        order = np.argsort(~train, axis=1, kind="stable")                 # steppable origins first, in time order
        self._steps = np.where(np.arange(O)[None, :] < self._n_steps[:, None], order, 0)   # (S, O)
        self._f = cube.forecasts.astype(np.float64)                       # (S, O, M, H)
        self._y = np.where(train[..., None], cube.actuals, 0.0).astype(np.float64)  # (S, O, H)
        self._sc = known_scales(cube)                                     # (S, O)
        self._model_err = np.zeros((S, O, M))                             # (S, O, M) per-model errors
        self._eq_err = np.zeros((S, O))                                   # (S, O) equal-weight error
        s_idx, k_idx = np.nonzero(train)
        if s_idx.size:
            f, y, scl = self._f[s_idx, k_idx], self._y[s_idx, k_idx], self._sc[s_idx, k_idx]
            self._model_err[s_idx, k_idx] = reward_errors(y[:, None, :], f, scl[:, None, None], reward_metric)
            eq = weighted_sum(equal_weights((M,)), f)                     # (K, H)
            self._eq_err[s_idx, k_idx] = reward_errors(y, eq, scl[:, None], reward_metric)
        super().__init__(int(n_envs), ref.observation_space, ref.action_space)
        self._rngs = [seeding.np_random(None if seed is None else seed + i)[0] for i in range(self.num_envs)]
        if seed is not None:
            self.seed(seed)
        self._s = np.zeros(self.num_envs, dtype=np.int64)                 # current series of each copy
        self._t = np.zeros(self.num_envs, dtype=np.int64)                 # step within its episode
        self._ret = np.zeros(self.num_envs)
        self._actions: np.ndarray | None = None

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
        N, M = self.num_envs, self.cube.shape[2]
        s, t = self._s, self._t
        k = self._steps[s, t]                                             # (N,) origin indices
        w = action_to_weights(self._actions.reshape(N, M), self.temperature)   # (N, M)
        self._actions = None
        comp = weighted_sum(w, self._f[s, k])                             # (N, H)
        e_comp = reward_errors(self._y[s, k], comp, self._sc[s, k][:, None], self.reward_metric)
        e_eq = self._eq_err[s, k]
        rewards = reward(e_eq, e_comp, self.reward_clip)
        self._ret += rewards
        t_next = t + 1
        dones = t_next >= self._n_steps[s]
        k_next = np.where(dones, np.minimum(k + 1, self.cube.shape[1] - 1), self._steps[s, np.where(dones, 0, t_next)])
        obs = self._obs[s, k_next]                                        # fancy index: a copy
        model_err = self._model_err[s, k]
        infos: list[dict[str, Any]] = [
            {"series": int(s[i]), "origin": int(k[i]), "weights": w[i], "errors": model_err[i],
             "error_composed": float(e_comp[i]), "error_equal": float(e_eq[i])}
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
                :meth:`train_origins`); actions: ``(K, M)``.

        Returns:
            float64 ``(K,)``.
        """
        w = action_to_weights(np.asarray(actions).reshape(len(series), -1), self.temperature)
        comp = weighted_sum(w, self._f[series, origins])
        e_comp = reward_errors(self._y[series, origins], comp, self._sc[series, origins][:, None], self.reward_metric)
        return reward(self._eq_err[series, origins], e_comp, self.reward_clip)

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
