"""``metacompose/EnsembleWeights-v0``: choose the weights of a forecast combination, origin by origin."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metacompose.checks import check_int, check_number
from metacompose.combine import action_to_step_weights, equal_weights, weighted_sum
from metacompose.cube import ForecastCube
from metacompose.envs.observation import DEFAULT_HISTORY, observation_space_size, observation_table
from metacompose.errors import InputError
from metacompose.history import origin_scales, steppable_origins
from metacompose.metrics import check_metric, reward, reward_errors

class EnsembleWeightsEnv(gym.Env):
    """Choose, origin by origin, the weights that combine a pool's forecasts of one series.

    ## Description

    The environment reads a :class:`~metacompose.cube.ForecastCube`, the rolling-origin
    backtest of a pool of ``M`` base forecasters on ``S`` series. An episode is one series;
    its steps walk the series' steppable backtest origins
    (:func:`metacompose.history.steppable_origins`) in time order. At
    each origin the agent sees what is known there (how each model did on the forecast
    steps that have already been observed, how far the models disagree now, the series
    features) and chooses weights for the ``M`` forecasts made at that origin. No model is
    fitted inside a step: the forecasts were computed once, in the backtest.

    The next observation does not depend on the action, so the problem is a contextual
    bandit laid out in time; a small discount (``gamma`` in ``[0, 0.5]``) suits it.

    ## Action Space

    ``Box(-1, 1, (K * M,), float32)`` with ``K = horizon_knots`` (default 1). With ``K = 1``
    the action ``a`` is mapped to the weights ``softmax(temperature * a)``, the same at every
    step of the horizon (:func:`metacompose.combine.action_to_weights`). With ``K > 1`` the
    action holds ``K`` blocks of ``M`` logits at knots evenly spaced along the horizon; each
    step's weights are the softmax of the logits interpolated linearly to that step
    (:func:`metacompose.combine.action_to_step_weights`), so a model can be trusted early in
    the horizon and another late. Weights are non-negative, sum to one at every step and are
    never NaN. The uniform action (all entries equal) is the equal-weight combination.

    ## Observation Space

    ``Box(-1, 1, (D,), float32)`` with ``D = 7 * M + F + 3``
    (:func:`~metacompose.envs.observation.observation_space_size`), built by
    :func:`~metacompose.envs.observation.observation` from the data known at the origin
    only; the errors of a forecast made at origin ``o'`` count at origin ``o`` only for its
    steps whose target position ``o' + j`` is ``< o``. Per model: recent and overall past
    error (MASE units of the scale known at the origin, squashed with ``tanh(log1p(.))``),
    error relative to the pool's median, rank, disagreement with the pool's median forecast
    (absolute and signed), failure flag; then the ``F`` series features of the cube; then how
    much error history there is, the season length and the horizon (constant in a cube). (No
    origin index: its value at the final origin is never seen in training.)
    ``observation_names(cube)`` lists the entries.

    ## Rewards

    ``clip(e_equal - e_composed, -reward_clip, reward_clip)`` where ``e`` is the error of
    a combination over the horizon at this origin in scale-free units: MASE with the
    series' scale known at the origin (``reward_metric="mase"``), or sMAPE / 100
    (``"smape"``) -- :func:`metacompose.metrics.reward_errors` and
    :func:`metacompose.metrics.reward`. ``e_equal`` is the equal-weight combination, so the uniform action earns
    0, a combination better than equal weights earns a positive reward.

    ## Starting State

    ``reset`` draws a series uniformly from ``series`` with ``self.np_random`` (or takes
    ``options={"series": i}``) and returns the observation at its first backtest origin.

    ## Episode End

    The episode terminates after the step at the series' last backtest origin (the final
    origin, whose actuals are unknown, is never stepped). It is never truncated;
    an episode has at most ``O - 1`` steps.

    ## Arguments

    ```python
    import gymnasium as gym
    import metacompose.envs
    env = gym.make("metacompose/EnsembleWeights-v0", cube=cube, temperature=3.0)
    ```

    * ``cube``: the :class:`~metacompose.cube.ForecastCube`.
    * ``series``: indices of the series to draw episodes from; default every series with at
      least one backtest origin.
    * ``reward_metric``: ``"mase"`` (default) or ``"smape"``.
    * ``temperature``: scale of the action before the softmax (default 3.0).
    * ``history``: how many recent past origins the ``recent_error`` block summarises (default 3).
    * ``reward_clip``: bound of the reward's absolute value (default 5.0).
    * ``horizon_knots``: ``K``, knots of the per-step weights (default 1: one weight vector
      for the whole horizon).
    * ``observations``: optional precomputed ``observation_table(cube, history)``, shape
      ``(S, O, D)``, to share between copies of the environment.

    ## Version History

    * v0: initial version; ``horizon_knots`` added (default 1 keeps the original behaviour).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        cube: ForecastCube,
        series: Any = None,
        reward_metric: str = "mase",
        temperature: float = 3.0,
        history: int = DEFAULT_HISTORY,
        reward_clip: float = 5.0,
        observations: np.ndarray | None = None,
        render_mode: str | None = None,
        horizon_knots: int = 1,
    ) -> None:
        """Build the environment; see the class docstring's Arguments section.

        Raises:
            InputError: ``cube`` is not a ForecastCube, an argument is out of range, a series
                index is invalid, or no chosen series has a backtest origin.
        """
        if not isinstance(cube, ForecastCube):
            raise InputError(f"cube must be a metacompose ForecastCube, got {type(cube).__name__}")
        if render_mode is not None:
            raise InputError("EnsembleWeightsEnv has no render modes")
        self.cube = cube
        self.reward_metric = check_metric(reward_metric, "reward_metric")
        self.temperature = check_number(temperature, "temperature", low=0.0, low_open=True)
        self.history = check_int(history, "history")
        self.reward_clip = check_number(reward_clip, "reward_clip", low=0.0, low_open=True)
        self.horizon_knots = check_int(horizon_knots, "horizon_knots")
        self.render_mode = render_mode
        S, O, M, _ = cube.shape
        self.steppable = steppable_origins(cube)
        self.series = self._episode_series(series)
        D = observation_space_size(cube)
        if observations is None:
            observations = observation_table(cube, self.history)
        elif observations.shape != (S, O, D):
            raise InputError(f"observations must have shape {(S, O, D)}, got {observations.shape}")
        self.observations = observations
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.horizon_knots * M,), dtype=np.float32)
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(D,), dtype=np.float32)
        self._s = -1
        self._steps = np.zeros(0, dtype=np.int64)
        self._t = 0

    def _episode_series(self, series: Any) -> np.ndarray:
        """Indices ``(n,)`` of the chosen series that have a steppable origin.

        Raises:
            InputError: invalid indices, or none of them has a steppable origin.
        """
        S = self.cube.shape[0]
        if series is None:
            chosen = np.flatnonzero(self.steppable.any(axis=1))
        else:
            idx = np.atleast_1d(np.asarray(series))
            if idx.dtype == bool:
                idx = np.flatnonzero(idx)
            if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) or np.any((idx < 0) | (idx >= S)):
                raise InputError(f"series must be indices in [0, {S}) or a boolean mask of length {S}")
            chosen = np.array([i for i in idx if self.steppable[i].any()], dtype=np.int64)
        if chosen.shape[0] == 0:
            raise InputError("no chosen series has a backtest origin with known actuals; nothing to learn from")
        return chosen

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode on a series drawn with ``self.np_random`` or given as ``options["series"]``.

        Args:
            seed: seeds ``self.np_random`` (Gymnasium convention).
            options: optional ``{"series": i}``.

        Returns:
            ``(observation (D,) float32, info)``; ``info`` has ``series`` and ``origin``.

        Raises:
            InputError: ``options["series"]`` has no backtest origin or is out of range.
        """
        super().reset(seed=seed)
        if options and "series" in options:
            s = int(options["series"])
            if not 0 <= s < self.cube.shape[0] or not self.steppable[s].any():
                raise InputError(f"series {s} does not exist or has no backtest origin with known actuals")
        else:
            s = int(self.series[self.np_random.integers(self.series.shape[0])])
        self._s = s
        self._steps = np.flatnonzero(self.steppable[s])
        self._t = 0
        k = int(self._steps[0])
        return self.observations[s, k].copy(), {"series": s, "origin": k}

    def step(self, action):
        """Weight the forecasts at the current origin and move to the next origin.

        Args:
            action: ``(K * M,)`` in ``[-1, 1]``.

        Returns:
            ``(observation, reward, terminated, truncated, info)``; ``info`` holds ``series``,
            ``origin``, ``weights`` ``(M,)`` (the mean over the horizon's steps),
            ``step_weights`` ``(H, M)``, ``errors`` ``(M,)`` (each model's error at this
            origin in the reward metric's units), ``error_composed`` and ``error_equal``.

        Raises:
            RuntimeError: ``step`` is called before ``reset`` or after the episode ended.
        """
        if self._s < 0 or self._t >= self._steps.shape[0]:
            raise RuntimeError("call reset() before step() (the episode has ended or not started)")
        s, k = self._s, int(self._steps[self._t])
        cube = self.cube
        _, _, M, H = cube.shape
        w = action_to_step_weights(np.asarray(action).reshape(self.horizon_knots * M), self.temperature, H,
                                   self.horizon_knots)               # (H, M)
        f = cube.forecasts[s, k].astype(np.float64)                   # (M, H)
        y = cube.actuals[s, k]
        sc = float(origin_scales(cube, s, np.array([k]))[0])
        per_model = reward_errors(y, f, sc, self.reward_metric)
        e_comp = float(reward_errors(y, weighted_sum(w, f), sc, self.reward_metric))
        e_eq = float(reward_errors(y, weighted_sum(equal_weights((M,)), f), sc, self.reward_metric))
        r = float(reward(e_eq, e_comp, self.reward_clip))
        self._t += 1
        terminated = self._t >= self._steps.shape[0]
        k_next = int(self._steps[self._t]) if not terminated else min(k + 1, cube.shape[1] - 1)
        info = {"series": s, "origin": k, "weights": w.mean(axis=0), "step_weights": w, "errors": per_model,
                "error_composed": e_comp, "error_equal": e_eq}
        return self.observations[s, k_next].copy(), r, terminated, False, info
