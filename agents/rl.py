"""Reinforcement-learning composition agent: a thin layer over any stable-baselines3 algorithm.

:class:`RLAgent` trains PPO (default), A2C, SAC, TD3 or DDPG, as stable-baselines3 implements
them (:mod:`metacompose.agents.sb3_algorithms` has the table of algorithms, their settings and
defaults), on the cube's batched environment (:class:`~metacompose.envs.CubeVecEnv`;
:mod:`metacompose.agents.rl_training` runs it). Early stopping scores the deterministic
policy on every backtest origin of the training series at once and keeps the best policy
seen. At forecast time the policy acts deterministically on the observation of every origin,
computed by :func:`~metacompose.envs.observation_table`, so the weights at the final origin
use nothing that is unknown there; they are then pulled toward pooled and equal weights by
amounts chosen on a validation origin (:mod:`metacompose.agents.shrinkage`).
:mod:`metacompose.agents.rl_presets` names one agent per algorithm (``get_agent("sac")``).

The saved form is a :mod:`metacompose.fileio` container: a JSON header (format version,
parameters with the algorithm, pool, observation size, the amounts used), an ``.npz`` (the
pooled weights) and the policy's ``state_dict`` written with :func:`torch.save` and read back
with ``torch.load(weights_only=True)`` into a policy of the saved algorithm's class, rebuilt
from the observation and action sizes: no pickle of arbitrary objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from stable_baselines3.common.policies import BasePolicy

from metacompose.agents.base import CompositionAgent, check_cube
from metacompose.agents.checkpoint import read_tensors
from metacompose.agents.rl_params import AMOUNT, RL_PARAM_CHECKS
from metacompose.agents.rl_training import PASSES, torch_threads, train_agent
from metacompose.agents.sb3_algorithms import SETTINGS, check_algorithm, check_settings, rebuild_policy, settings
from metacompose.agents.shrinkage import ShrinkageChoice, choose_shrinkage_panels
from metacompose.combine import action_to_step_weights, compose_weights, equal_weights
from metacompose.cube import ForecastCube, check_cubes
from metacompose.envs import DEFAULT_HISTORY, observation_space_size, observation_table
from metacompose.errors import FileFormatError, InputError, NotFittedError
from metacompose.fileio import container_file
from metacompose.history import validation_split


class RLAgent(CompositionAgent):
    """Learn weights over the pool with a stable-baselines3 algorithm on ``EnsembleWeights-v0``.

    The next observation does not depend on the action (a contextual bandit laid out in
    time), so the default discount is ``gamma = 0``: each step is judged by its own reward,
    which removes the variance a longer horizon adds (for SAC, TD3 and DDPG the critic then
    learns the expected reward itself, and target networks play no part).

    Args:
        total_timesteps: environment steps of training (one step = one origin of one series);
            None (default): ``min(100,000, max(10,000, passes * decisions))``, a decision being a
            steppable backtest origin of one series (:func:`~metacompose.agents.rl_training.training_timesteps`).
        passes: training steps per decision when ``total_timesteps`` is None.
        seed: seed of the algorithm, the environments and the policy's initial weights.
        algorithm: ``"ppo"`` (Schulman et al. 2017), ``"a2c"`` (Mnih et al. 2016), ``"sac"``
            (Haarnoja et al. 2018), ``"td3"`` (Fujimoto et al. 2018) or ``"ddpg"`` (Lillicrap et
            al. 2016; RLMC's choice), run by stable-baselines3's class of that name; None: the
            class's own (``RLAgent``: PPO; ``SACAgent``: SAC, ...).
        n_envs: episodes stepped together (``CubeVecEnv``); lowered for a budget smaller than
            one step of them all (PPO, A2C: one rollout of ``n_steps`` per copy).
        temperature: action scale before the softmax (see
            :func:`~metacompose.combine.action_to_weights`).
        horizon_knots: ``K``: 1 (default) gives one weight vector for the whole horizon; ``K > 1``
            lets the weights move along it: the action holds ``K`` blocks of ``M`` logits at
            knots evenly spaced over the horizon, interpolated to each step
            (:func:`~metacompose.combine.action_to_step_weights`), and the reward scores each
            step with its own weights. Knots are relative positions, so one policy serves any ``H``.
        history: past origins summarised by the observation's ``recent_error`` block.
        reward_metric: ``"mase"`` or ``"smape"``.
        net_arch: hidden layer sizes of the policy's networks (actor and critic/value).
        activation: ``"tanh"`` or ``"relu"``.
        gamma: the discount.
        learning_rate, batch_size: settings of every algorithm (A2C has no minibatches: it takes
            no ``batch_size``).
        n_steps, gae_lambda: rollout length per copy and GAE's lambda (PPO, A2C).
        clip_range, n_epochs: PPO only.
        ent_coef: entropy coefficient (PPO, A2C; SAC: a number or ``"auto"``, learned).
        log_std_init: initial log standard deviation of the Gaussian policy (PPO, A2C).
        buffer_size, learning_starts, train_freq, gradient_steps, tau: replay settings of SAC,
            TD3 and DDPG (``learning_starts`` and ``buffer_size`` in environment steps, counting
            every copy; ``train_freq`` in steps of the vectorised environment, each ``n_envs``
            transitions; ``gradient_steps`` per training call).
        action_noise_sigma: standard deviation of the Gaussian exploration noise
            (:class:`~stable_baselines3.common.noise.NormalActionNoise`) of TD3 and DDPG, in
            action units (actions lie in ``[-1, 1]``).
            Each of these settings left None takes the algorithm's default
            (:mod:`metacompose.agents.sb3_algorithms`); one given for an algorithm that does not
            take it raises :class:`~metacompose.errors.InputError`.
        algorithm_kwargs: further keyword arguments for the stable-baselines3 class (JSON
            values; e.g. ``{"vf_coef": 0.5}`` for PPO, ``{"policy_delay": 2}`` for TD3).
        early_stopping_patience: if set, score the deterministic policy every ``eval_freq``
            steps by its mean reward over every backtest origin of the training series
            (computed in one batch, no episode is stepped), stop after this many scores
            without an improvement of more than ``min_improvement``, and keep the policy
            that scored best.
        eval_freq: steps between those evaluations.
        min_improvement: smallest rise of the mean reward that counts as an improvement.
        vec_env: ``"cube"`` (:class:`~metacompose.envs.vec_env.CubeVecEnv`, default) or
            ``"dummy"`` (stable-baselines3's ``DummyVecEnv`` over copies of
            ``EnsembleWeightsEnv``: the same episodes, much slower; kept for comparisons).
        callback: an extra stable-baselines3 callback (progress, logging); not saved.
        progress_bar: show stable-baselines3's progress bar (needs ``tqdm`` and ``rich``).
        device: torch device of the policy; small MLPs run fastest on ``"cpu"``.
        torch_threads: torch's intra-op threads while training and predicting (restored
            afterwards); 1 by default, since the policy is a tiny MLP and extra threads only
            contend with other work (``benchmarks/speed``). ``None`` leaves torch's setting alone.
        verbose: stable-baselines3 verbosity.
        shrinkage: ``s`` in ``[0, 1]``, the pull toward equal weights (used as given unless
            ``select_shrinkage``; the amount used is ``shrinkage_``).
        pooling: ``p`` in ``[0, 1]``, the pull toward the policy's pooled weights
            ``pooled_weights_`` (its weights averaged over every origin of every training
            series; the amount used is ``pooling_``). The weights are ``(1 - s) * ((1 - p) *
            softmax(temperature * action) + p * pooled_weights_) + s / M``
            (:func:`~metacompose.combine.compose_weights`).
        select_shrinkage: choose ``pooling`` and ``shrinkage`` in ``fit`` on a validation
            origin inside the training data (:mod:`metacompose.agents.shrinkage`), scored in
            ``reward_metric``; the choice is kept in ``shrinkage_choice_``. Costs a second,
            smaller training.
        selection_alpha: significance level of the selection's guard: the best pair replaces
            equal weights only when a one-sided paired t-test over the validation series says
            it is more accurate at this level; None keeps the best pair whatever the evidence.
        checkpoint_path: if set, save a checkpoint every ``checkpoint_freq`` steps beside this
            path and, when ``fit`` finds one from the same settings and cube, continue from it
            (:mod:`metacompose.agents.checkpoint`); None: no checkpoints.
        checkpoint_freq: environment steps between checkpoints.

    Raises:
        UnknownModelError: an unknown ``algorithm`` (the message suggests a close name).
        InputError: an argument out of range, a setting the algorithm does not take, an
            ``algorithm`` other than a preset class's own, or a bad ``algorithm_kwargs`` key.
    """

    name = "rl"
    preset: ClassVar[str] = "ppo"
    unsaved_params = ("callback",)
    param_checks = RL_PARAM_CHECKS

    def __init__(
        self,
        total_timesteps: int | None = None,
        passes: float = PASSES,
        seed: int | None = 0,
        algorithm: str | None = None,
        n_envs: int = 128,
        temperature: float = 3.0,
        horizon_knots: int = 1,
        history: int = DEFAULT_HISTORY,
        reward_metric: str = "mase",
        net_arch: tuple[int, ...] | list[int] = (64, 64),
        activation: str = "tanh",
        gamma: float = 0.0,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        n_steps: int | None = None,
        gae_lambda: float | None = None,
        clip_range: float | None = None,
        n_epochs: int | None = None,
        ent_coef: float | str | None = None,
        log_std_init: float | None = None,
        buffer_size: int | None = None,
        learning_starts: int | None = None,
        train_freq: int | None = None,
        gradient_steps: int | None = None,
        tau: float | None = None,
        action_noise_sigma: float | None = None,
        algorithm_kwargs: dict | None = None,
        early_stopping_patience: int | None = None,
        eval_freq: int = 10_000,
        min_improvement: float = 1e-4,
        vec_env: str = "cube",
        callback: Any = None,
        progress_bar: bool = False,
        device: str = "cpu",
        torch_threads: int | None = 1,
        verbose: int = 0,
        shrinkage: float = 0.0,
        pooling: float = 0.0,
        select_shrinkage: bool = True,
        selection_alpha: float | None = 0.05,
        checkpoint_path: str | None = None,
        checkpoint_freq: int = 20_000,
    ) -> None:
        self._set_params(locals())
        self.algorithm = self._resolve_algorithm(algorithm)
        check_settings(self.algorithm, {k: getattr(self, k) for k in SETTINGS}, self.algorithm_kwargs)
        self.policy_: BasePolicy | None = None
        self.pooled_weights_: np.ndarray | None = None
        self.shrinkage_choice_: ShrinkageChoice | None = None
        self.pooling_, self.shrinkage_ = self.pooling, self.shrinkage
        self.resumed_from_ = 0

    @classmethod
    def _resolve_algorithm(cls, algorithm: Any) -> str:
        """``algorithm`` checked (None: the class's ``preset``); a preset class runs its own only."""
        key = cls.preset if algorithm is None else check_algorithm(algorithm)
        if cls is not RLAgent and key != cls.preset:
            raise InputError(f"{cls.__name__} runs {cls.preset.upper()}, not {key.upper()}: use "
                             f"RLAgent(algorithm={key!r}) or get_agent({key!r})")
        return key

    @classmethod
    def _upgrade_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters of files saved before A2C/SAC/TD3/DDPG: ``ppo_kwargs`` is now ``algorithm_kwargs``."""
        params = dict(params)
        if "ppo_kwargs" in params:
            params["algorithm_kwargs"] = params.pop("ppo_kwargs")
        return params

    def algorithm_settings(self) -> dict[str, Any]:
        """The algorithm's settings as used: each one it takes, as given or by its default."""
        return settings(self)

    def fit(self, cube: ForecastCube | Sequence[ForecastCube]) -> "RLAgent":
        """Train the algorithm on the backtest origins of ``cube``, or of several cubes at once.

        Args:
            cube: the forecast cube; only its steppable backtest origins give rewards. A list of
                cubes sharing their pool and features trains one policy on all of them
                (cross-learning; horizons and season lengths may differ), with the guard chosen
                on the validation origins of all of them.

        Returns:
            ``self``, with ``policy_`` (the trained stable-baselines3 policy: an
            ``ActorCriticPolicy``, ``SACPolicy`` or ``TD3Policy``), ``model_`` (the
            stable-baselines3 model), ``models_``, ``feature_names_``, ``obs_dim_``,
            ``timesteps_`` (steps actually trained), ``learn_seconds_`` (wall time of
            ``learn``), ``train_reward_`` (the early-stopping scores, or None),
            ``resumed_from_`` (steps loaded from a checkpoint), ``pooled_weights_`` ``(M,)``
            (the policy's weights averaged over every training origin and horizon step),
            the amounts used, ``pooling_`` and ``shrinkage_``, and, when ``select_shrinkage``
            found a validation origin, ``shrinkage_choice_`` (a
            :class:`~metacompose.agents.shrinkage.ShrinkageChoice`).

        Raises:
            InputError: not a ForecastCube (or a list of them), cubes with different pools or
                features, or no backtest origin.
        """
        cubes = check_cubes(cube)
        self.pooling_, self.shrinkage_, self.shrinkage_choice_ = self.pooling, self.shrinkage, None
        if self.select_shrinkage:
            self._choose_shrinkage(cubes)
        with torch_threads(self.torch_threads):
            tables = [observation_table(c, self.history) for c in cubes]
            run = train_agent(self, cubes, tables, self.shrinkage_)
        self.model_, self.policy_ = run.model, run.model.policy
        self.timesteps_, self.learn_seconds_ = run.timesteps, run.learn_seconds
        self.train_reward_, self.resumed_from_ = run.train_reward, run.resumed_from
        self.models_ = list(cubes[0].models)
        self.feature_names_ = list(cubes[0].feature_names)
        self.obs_dim_ = observation_space_size(cubes[0])
        own = [self._policy_weights(t, c)[c.valid].mean(axis=1) for t, c in zip(tables, cubes)]   # (n, M) each
        own = np.concatenate(own)
        M = len(self.models_)
        self.pooled_weights_ = own.mean(axis=0) if own.size else np.full(M, 1.0 / M)
        return self

    def _choose_shrinkage(self, cubes: list[ForecastCube]) -> None:
        """Set ``shrinkage_choice_``, ``pooling_`` and ``shrinkage_`` from a probe trained on the validation replays."""
        splits = [s for s in (validation_split(c) for c in cubes) if s is not None]
        if not splits:
            return
        params = {**self.get_params(), "shrinkage": 0.0, "pooling": 0.0, "select_shrinkage": False,
                  "checkpoint_path": None}
        probe = type(self)(**params).fit([sub for sub, _, _ in splits])
        parts = [(probe.step_weights(sub)[:, -1], sub, actual, mask) for sub, actual, mask in splits]
        self.shrinkage_choice_ = choose_shrinkage_panels(parts, pooled=probe.pooled_weights_,
                                                         metric=self.reward_metric, alpha=self.selection_alpha)
        self.pooling_, self.shrinkage_ = self.shrinkage_choice_.choice

    @property
    def shrinkage_scores_(self) -> dict[tuple[float, float], float]:
        """Each ``(pooling, shrinkage)`` pair's validation error (``shrinkage_choice_.scores``; ``{}`` without one)."""
        return {} if self.shrinkage_choice_ is None else self.shrinkage_choice_.scores

    def _check_fitted(self, cube: ForecastCube) -> None:
        if self.policy_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(cube) or "
                                 f"{type(self).__name__}.load(path) first")
        if list(cube.models) != self.models_:
            raise InputError(f"the cube's pool {list(cube.models)} differs from the agent's {self.models_}")
        if list(cube.feature_names) != self.feature_names_:
            raise InputError(
                f"the cube's features {list(cube.feature_names)} differ from the agent's {self.feature_names_}"
            )

    def _action_size(self) -> int:
        """Entries of the policy's action: ``horizon_knots`` blocks of one per model of the pool (``models_``)."""
        return self.horizon_knots * len(self.models_)

    def _actions(self, observations: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Deterministic actions float32 ``(S, O, A)`` on an observation table; zeros where not ``valid``."""
        S, O, _ = observations.shape
        out = np.zeros((S, O, self.policy_.action_space.shape[0]), dtype=np.float32)
        if valid.any():
            with torch_threads(self.torch_threads):
                act, _ = self.policy_.predict(observations[valid], deterministic=True)
            out[valid] = np.clip(act, -1.0, 1.0)
        return out

    def _policy_weights(self, observations: np.ndarray, cube: ForecastCube) -> np.ndarray:
        """The policy's own step weights float64 ``(S, O, H, M)`` (before pooling and shrinkage)."""
        return action_to_step_weights(self._actions(observations, cube.valid), self.temperature, cube.shape[3],
                                      self.horizon_knots)

    def actions(self, cube: ForecastCube) -> np.ndarray:
        """Deterministic actions of the policy at every existing origin.

        Args:
            cube: a cube with the pool and features the agent was trained on.

        Returns:
            float32 ``(S, O, K * M)`` in ``[-1, 1]`` (``K = horizon_knots``); zeros where the
            origin does not exist.

        Raises:
            NotFittedError: the agent is not fitted.
            InputError: the cube's pool or features differ from the training cube's.
        """
        check_cube(cube)
        self._check_fitted(cube)
        return self._actions(observation_table(cube, self.history), cube.valid)

    def step_weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, H, M)``: the policy's weights at each horizon step
        (:func:`~metacompose.combine.action_to_step_weights` of its action; the same at every
        step when ``horizon_knots = 1``) pulled toward the pooled and equal weights
        (``pooling_``, ``shrinkage_``; see the class); equal weights where the origin does not exist.

        Raises:
            NotFittedError: the agent is not fitted.
            InputError: the cube's pool or features differ from the training cube's.
        """
        check_cube(cube)
        self._check_fitted(cube)
        w = self._policy_weights(observation_table(cube, self.history), cube)
        w = compose_weights(w, self.pooled_weights_, self.pooling_, self.shrinkage_)
        return np.where(cube.valid[..., None, None], w, equal_weights(w.shape))

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, M)``: :meth:`step_weights` averaged over the horizon's steps (with
        ``horizon_knots = 1``, the weights of every step).

        Raises:
            NotFittedError: the agent is not fitted.
            InputError: the cube's pool or features differ from the training cube's.
        """
        return self.step_weights(cube).mean(axis=2)

    # --- persistence -------------------------------------------------------------------------

    def _state(self):
        if self.policy_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted; nothing to save")
        state = {"models": self.models_, "feature_names": self.feature_names_, "obs_dim": self.obs_dim_,
                 "timesteps": self.timesteps_, "pooling": self.pooling_, "shrinkage": self.shrinkage_}
        return state, {"pooled_weights": np.asarray(self.pooled_weights_, dtype=np.float64)}

    def _extra_files(self):
        return {".pt": lambda path: torch.save(self.policy_.state_dict(), path)}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray], base: Path) -> None:
        try:
            self.models_ = [str(m) for m in state["models"]]
            self.feature_names_ = [str(f) for f in state["feature_names"]]
            self.obs_dim_ = int(state["obs_dim"])
            self.timesteps_ = int(state.get("timesteps", 0))
            # files written before the amounts were fitted attributes hold them in the parameters
            self.pooling_ = AMOUNT(state.get("pooling", self.pooling), "pooling")
            self.shrinkage_ = AMOUNT(state.get("shrinkage", self.shrinkage), "shrinkage")
            M = len(self.models_)
            pooled = np.asarray(arrays.get("pooled_weights", np.full(M, 1.0 / M)), dtype=np.float64)
            if pooled.shape != (M,) or not np.all(np.isfinite(pooled)):
                raise ValueError(f"pooled_weights has shape {pooled.shape}, expected ({M},) finite values")
            self.pooled_weights_ = pooled
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{container_file(base, '.json')}: incomplete {self.algorithm.upper()} agent "
                                  f"state ({exc})") from None
        self.policy_ = self._load_policy(base)
        self.model_ = None

    def _load_policy(self, base: Path) -> BasePolicy:
        """The policy saved as ``<base>.pt``, rebuilt for the saved algorithm, in evaluation mode on ``device``.

        Raises:
            FileNotFoundError: no such file.
            FileFormatError: corrupted, not a metacompose agent's policy, or not one of the
                algorithm and size the header describes (pool, observation size, network).
        """
        policy = rebuild_policy(self, self.obs_dim_, self._action_size())
        pt = container_file(base, ".pt")
        sd = read_tensors(pt, "agent")
        try:
            policy.load_state_dict(sd)
        except Exception:  # not a dict, missing keys, shape mismatches
            raise FileFormatError(f"{pt} does not hold the policy {container_file(base, '.json')} describes "
                                  f"({self.algorithm.upper()}, {self._action_size()} actions, "
                                  f"{self.obs_dim_} observation entries, layers {self.net_arch}); the agent's files "
                                  "do not belong together") from None
        policy.set_training_mode(False)
        return policy.to(self.device)
