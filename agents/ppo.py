"""PPO composition agent: a thin layer over :class:`stable_baselines3.PPO`.

:mod:`metacompose.agents.ppo_training` runs stable-baselines3's PPO on the cube's batched
environment (:class:`~metacompose.envs.CubeVecEnv`); early stopping scores the
deterministic policy on every backtest origin of the training series at once and keeps the
best policy seen. At forecast time the policy acts deterministically (the mean action) on
the observation of every origin, computed by
:func:`~metacompose.envs.observation_table`, so the weights at the final origin use
nothing that is unknown there; they are then pulled toward pooled and equal weights by
amounts chosen on a validation origin (:mod:`metacompose.agents.shrinkage`).

The saved form is a :mod:`metacompose.fileio` container: a JSON header (format version,
parameters, pool, observation size, the amounts used), an ``.npz`` (the pooled weights) and
the policy's ``state_dict`` written with :func:`torch.save` and read back with
``torch.load(weights_only=True)``: no pickle of arbitrary objects.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticPolicy

from metacompose.agents.base import CompositionAgent, check_cube
from metacompose.agents.checkpoint import read_tensors
from metacompose.agents.ppo_training import ACTIVATIONS, policy_kwargs, torch_threads, train_ppo
from metacompose.agents.shrinkage import ShrinkageChoice, choose_shrinkage
from metacompose.checks import check_choice, check_int, check_number, check_optional_int
from metacompose.combine import action_to_weights, compose_weights, equal_weights
from metacompose.cube import ForecastCube
from metacompose.envs import DEFAULT_HISTORY, observation_space_size, observation_table
from metacompose.errors import FileFormatError, InputError, NotFittedError
from metacompose.fileio import container_file
from metacompose.history import validation_split
from metacompose.metrics import ERROR_METRICS, check_alpha


def _net_arch(value: Any, name: str) -> list[int]:
    return [check_int(n, f"{name} entries") for n in value]


def _optional_str(value: Any, name: str) -> str | None:
    return None if value is None else str(value)


def _number(value: Any, name: str) -> float:
    return check_number(value, name)


_AMOUNT = partial(check_number, low=0.0, high=1.0)


class PPOAgent(CompositionAgent):
    """Learn weights over the pool with PPO (stable-baselines3) on ``EnsembleWeights-v0``.

    The next observation does not depend on the action (a contextual bandit laid out in
    time), so the default discount is ``gamma = 0``: each step is judged by its own reward,
    which removes the variance a longer horizon adds.

    Args:
        total_timesteps: environment steps of training (one step = one origin of one series).
        seed: seed of PPO, the environments and the policy's initial weights.
        n_envs: episodes stepped together (``CubeVecEnv``; a rollout is ``n_steps * n_envs``
            steps); lowered to ``total_timesteps // n_steps`` (at least 1) for a smaller budget.
        temperature: action scale before the softmax (see
            :func:`~metacompose.combine.action_to_weights`).
        history: past origins summarised by the observation's ``recent_error`` block.
        reward_metric: ``"mase"`` or ``"smape"``.
        net_arch: hidden layer sizes of the policy and value networks.
        activation: ``"tanh"`` or ``"relu"``.
        learning_rate, n_steps, batch_size, n_epochs, gamma, gae_lambda, clip_range,
            ent_coef, log_std_init: PPO settings (``n_steps`` per environment copy).
        ppo_kwargs: further keyword arguments for :class:`stable_baselines3.PPO` (JSON values).
        early_stopping_patience: if set, score the deterministic policy every ``eval_freq``
            steps by its mean reward over every backtest origin of the training series
            (computed in one batch, no episode is stepped), stop after this many scores
            without an improvement of more than ``min_improvement``, and keep the policy
            that scored best.
        eval_freq: steps between those evaluations.
        min_improvement: smallest rise of the mean reward that counts as an improvement.
        vec_env: ``"cube"`` (:class:`~metacompose.envs.vec_env.CubeVecEnv`, default) or
            ``"dummy"`` (stable-baselines3's ``DummyVecEnv`` over ``n_envs`` copies of
            ``EnsembleWeightsEnv``: the same episodes, much slower; kept for comparisons).
        callback: an extra stable-baselines3 callback (progress, logging); not saved.
        progress_bar: show stable-baselines3's progress bar (needs ``tqdm`` and ``rich``).
        device: torch device of the policy; small MLPs run fastest on ``"cpu"``.
        torch_threads: torch's intra-op threads while training and predicting (restored
            afterwards); 1 by default, since the policy is a tiny MLP and extra threads only
            contend with other work (``benchmarks/speed``). ``None`` leaves torch's setting alone.
        verbose: stable-baselines3 verbosity.
        checkpoint_path: if set, save a checkpoint every ``checkpoint_freq`` steps beside this
            path and, when ``fit`` finds one from the same settings and cube, continue from it
            (:mod:`metacompose.agents.checkpoint`); None: no checkpoints.
        checkpoint_freq: environment steps between checkpoints.
        shrinkage: ``s`` in ``[0, 1]``, the pull toward equal weights (used as given unless
            ``select_shrinkage``; the amount used is ``shrinkage_``).
        pooling: ``p`` in ``[0, 1]``, the pull toward the policy's pooled weights (the amount
            used is ``pooling_``)
            ``pooled_weights_`` (its weights averaged over every origin of every training
            series). The weights are ``(1 - s) * ((1 - p) * softmax(temperature * action) +
            p * pooled_weights_) + s / M`` (``p = s = 0``: the policy's own per-series
            weights; ``s = 1``: equal weights).
        select_shrinkage: choose ``pooling`` and ``shrinkage`` in ``fit`` on a validation
            origin inside the training data (:mod:`metacompose.agents.shrinkage`), scored in
            ``reward_metric``; the scores are kept in ``shrinkage_scores_``, keyed by
            ``(pooling, shrinkage)``, and the whole choice in ``shrinkage_choice_``. Costs a
            second, smaller PPO training.
        selection_alpha: significance level of the selection's guard: the best pair replaces
            equal weights only when a one-sided paired t-test over the validation series says
            it is more accurate at this level (:func:`~metacompose.agents.shrinkage.choose_shrinkage`);
            None keeps the best pair whatever the evidence.

    Raises:
        InputError: an argument is out of range.
    """

    name = "ppo"
    unsaved_params = ("callback",)
    param_checks = {
        "total_timesteps": partial(check_int, low=0), "seed": partial(check_optional_int, low=0),
        "n_envs": check_int, "temperature": partial(check_number, low=0.0, low_open=True),
        "history": check_int, "reward_metric": partial(check_choice, choices=ERROR_METRICS),
        "net_arch": _net_arch, "activation": partial(check_choice, choices=tuple(ACTIVATIONS)),
        "learning_rate": _number, "n_steps": partial(check_int, low=2), "batch_size": partial(check_int, low=2),
        "n_epochs": check_int, "gamma": _AMOUNT, "gae_lambda": _AMOUNT, "clip_range": _number,
        "ent_coef": _number, "log_std_init": _number, "ppo_kwargs": lambda v, name: dict(v or {}),
        "early_stopping_patience": check_optional_int, "eval_freq": check_int, "min_improvement": _number,
        "vec_env": partial(check_choice, choices=("cube", "dummy")), "progress_bar": lambda v, name: bool(v),
        "device": lambda v, name: str(v), "torch_threads": check_optional_int, "verbose": partial(check_int, low=0),
        "shrinkage": _AMOUNT, "pooling": _AMOUNT, "select_shrinkage": lambda v, name: bool(v),
        "selection_alpha": check_alpha, "checkpoint_path": _optional_str, "checkpoint_freq": check_int,
    }

    def __init__(
        self,
        total_timesteps: int = 100_000,
        seed: int | None = 0,
        n_envs: int = 128,
        temperature: float = 3.0,
        history: int = DEFAULT_HISTORY,
        reward_metric: str = "mase",
        net_arch: tuple[int, ...] | list[int] = (64, 64),
        activation: str = "tanh",
        learning_rate: float = 2e-3,
        n_steps: int = 16,
        batch_size: int = 1024,
        n_epochs: int = 10,
        gamma: float = 0.0,
        gae_lambda: float = 0.95,
        clip_range: float = 0.2,
        ent_coef: float = 0.0,
        log_std_init: float = -0.5,
        ppo_kwargs: dict | None = None,
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
        self.policy_ = None
        self.pooled_weights_: np.ndarray | None = None
        self.shrinkage_choice_: ShrinkageChoice | None = None
        self.pooling_, self.shrinkage_ = self.pooling, self.shrinkage
        self.resumed_from_ = 0

    def fit(self, cube: ForecastCube) -> "PPOAgent":
        """Train PPO on the backtest origins of ``cube``.

        Args:
            cube: the forecast cube; only its steppable backtest origins give rewards.

        Returns:
            ``self``, with ``policy_`` (the trained ``ActorCriticPolicy``), ``model_`` (the
            stable-baselines3 ``PPO``), ``models_``, ``feature_names_``, ``obs_dim_``,
            ``timesteps_`` (steps actually trained), ``learn_seconds_`` (wall time of
            ``PPO.learn``), ``train_reward_`` (the early-stopping scores, or None),
            ``resumed_from_`` (steps loaded from a checkpoint), ``pooled_weights_`` ``(M,)``,
            the amounts used, ``pooling_`` and ``shrinkage_``, and, when ``select_shrinkage``
            found a validation origin, ``shrinkage_choice_`` (a
            :class:`~metacompose.agents.shrinkage.ShrinkageChoice`: choice, scores, best pair,
            p-value).

        Raises:
            InputError: ``cube`` is not a ForecastCube or has no backtest origin.
        """
        check_cube(cube)
        self.pooling_, self.shrinkage_, self.shrinkage_choice_ = self.pooling, self.shrinkage, None
        if self.select_shrinkage:
            self._choose_shrinkage(cube)
        with torch_threads(self.torch_threads):
            table = observation_table(cube, self.history)
            run = train_ppo(self, cube, table, self.shrinkage_)
        self.model_, self.policy_ = run.model, run.model.policy
        self.timesteps_, self.learn_seconds_ = run.timesteps, run.learn_seconds
        self.train_reward_, self.resumed_from_ = run.train_reward, run.resumed_from
        self.models_ = list(cube.models)
        self.feature_names_ = list(cube.feature_names)
        self.obs_dim_ = observation_space_size(cube)
        own = action_to_weights(self._actions(table, cube.valid), self.temperature)[cube.valid]
        self.pooled_weights_ = own.mean(axis=0) if own.size else np.full(cube.shape[2], 1.0 / cube.shape[2])
        return self

    def _choose_shrinkage(self, cube: ForecastCube) -> None:
        """Set ``shrinkage_choice_``, ``pooling_`` and ``shrinkage_`` from a probe trained on the validation replay."""
        split = validation_split(cube)
        if split is None:
            return
        sub, actual, mask = split
        params = {**self.get_params(), "shrinkage": 0.0, "pooling": 0.0, "select_shrinkage": False,
                  "checkpoint_path": None}
        probe = PPOAgent(**params).fit(sub)
        self.shrinkage_choice_ = choose_shrinkage(
            probe.weights(sub)[:, -1], sub, actual, mask, pooled=probe.pooled_weights_,
            metric=self.reward_metric, alpha=self.selection_alpha)
        self.pooling_, self.shrinkage_ = self.shrinkage_choice_.choice

    @property
    def shrinkage_scores_(self) -> dict[tuple[float, float], float]:
        """Each ``(pooling, shrinkage)`` pair's validation error (``shrinkage_choice_.scores``; ``{}`` without one)."""
        return {} if self.shrinkage_choice_ is None else self.shrinkage_choice_.scores

    def _check_fitted(self, cube: ForecastCube) -> None:
        if self.policy_ is None:
            raise NotFittedError("PPOAgent is not fitted: call fit(cube) or PPOAgent.load(path) first")
        if list(cube.models) != self.models_:
            raise InputError(f"the cube's pool {list(cube.models)} differs from the agent's {self.models_}")
        if list(cube.feature_names) != self.feature_names_:
            raise InputError(
                f"the cube's features {list(cube.feature_names)} differ from the agent's {self.feature_names_}"
            )

    def _actions(self, observations: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Deterministic actions float32 ``(S, O, M)`` on an observation table; zeros where not ``valid``."""
        S, O, _ = observations.shape
        out = np.zeros((S, O, self.policy_.action_space.shape[0]), dtype=np.float32)
        if valid.any():
            with torch_threads(self.torch_threads):
                act, _ = self.policy_.predict(observations[valid], deterministic=True)
            out[valid] = np.clip(act, -1.0, 1.0)
        return out

    def actions(self, cube: ForecastCube) -> np.ndarray:
        """Deterministic actions of the policy at every existing origin.

        Args:
            cube: a cube with the pool and features the agent was trained on.

        Returns:
            float32 ``(S, O, M)`` in ``[-1, 1]``; zeros where the origin does not exist.

        Raises:
            NotFittedError: the agent is not fitted.
            InputError: the cube's pool or features differ from the training cube's.
        """
        check_cube(cube)
        self._check_fitted(cube)
        return self._actions(observation_table(cube, self.history), cube.valid)

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, M)``: the policy's weights ``softmax(temperature * action)`` pulled
        toward the pooled and equal weights (``pooling_``, ``shrinkage_``; see the class).

        Raises:
            NotFittedError: the agent is not fitted.
            InputError: the cube's pool or features differ from the training cube's.
        """
        w = action_to_weights(self.actions(cube), self.temperature)
        w = compose_weights(w, self.pooled_weights_, self.pooling_, self.shrinkage_)
        return np.where(cube.valid[..., None], w, equal_weights(cube.shape[:3]))

    # --- persistence -------------------------------------------------------------------------

    def _state(self):
        if self.policy_ is None:
            raise NotFittedError("PPOAgent is not fitted; nothing to save")
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
            self.pooling_ = _AMOUNT(state.get("pooling", self.pooling), "pooling")
            self.shrinkage_ = _AMOUNT(state.get("shrinkage", self.shrinkage), "shrinkage")
            M = len(self.models_)
            pooled = np.asarray(arrays.get("pooled_weights", np.full(M, 1.0 / M)), dtype=np.float64)
            if pooled.shape != (M,) or not np.all(np.isfinite(pooled)):
                raise ValueError(f"pooled_weights has shape {pooled.shape}, expected ({M},) finite values")
            self.pooled_weights_ = pooled
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{container_file(base, '.json')}: incomplete PPO agent state ({exc})") from None
        self.policy_ = self._load_policy(base, M)
        self.model_ = None

    def _load_policy(self, base: Path, M: int) -> ActorCriticPolicy:
        """The policy saved as ``<base>.pt``, in evaluation mode on ``device``.

        Raises:
            FileNotFoundError: no such file.
            FileFormatError: corrupted, not a metacompose agent's policy, or not one of the size
                the header describes (pool, observation size, network).
        """
        policy = ActorCriticPolicy(
            gym.spaces.Box(-1.0, 1.0, (self.obs_dim_,), np.float32), gym.spaces.Box(-1.0, 1.0, (M,), np.float32),
            lr_schedule=lambda _: 0.0, **policy_kwargs(self),
        )
        pt = container_file(base, ".pt")
        sd = read_tensors(pt, "agent")
        try:
            policy.load_state_dict(sd)
        except Exception:  # not a dict, missing keys, shape mismatches
            raise FileFormatError(f"{pt} does not hold the policy {container_file(base, '.json')} describes "
                                  f"({M} models, {self.obs_dim_} observation entries, layers {self.net_arch}); "
                                  "the agent's files do not belong together") from None
        policy.set_training_mode(False)
        return policy.to(self.device)
