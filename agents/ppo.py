"""PPO composition agent: a thin layer over :class:`stable_baselines3.PPO`.

Training runs stable-baselines3's PPO on :class:`~metacompose.envs.vec_env.CubeVecEnv`,
which steps ``n_envs`` episodes of :class:`~metacompose.envs.EnsembleWeightsEnv` at once
in numpy (the same observations and rewards as copies of the environment, about 40x
faster), with batch settings chosen for throughput (large rollouts, large minibatches,
few epochs, one torch thread): well over 10,000 environment steps per second of training
on a 2-core machine, against about 560 with stable-baselines3's defaults. Early stopping
scores the deterministic policy on every backtest origin of the training series at once
and keeps the best policy seen. At
forecast time the policy acts deterministically (the mean action) on the observation of
every origin, computed by :func:`~metacompose.envs.observation.observation_table`, so the
weights at the final origin use nothing that is unknown there.

The saved form is a JSON header (format version, parameters, pool, observation size), an
``.npz`` (empty) and the policy's ``state_dict`` written with :func:`torch.save` and read
back with ``torch.load(weights_only=True)``: no pickle of arbitrary objects.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from metacompose.agents.base import CompositionAgent, check_cube, equal_weights
from metacompose.agents.selection import choose_shrinkage, compose_weights, validation_split
from metacompose.cube import ForecastCube
from metacompose.envs.ensemble_weights import REWARD_METRICS, EnsembleWeightsEnv, action_to_weights
from metacompose.envs.observation import DEFAULT_HISTORY, observation_space_size, observation_table
from metacompose.errors import FileFormatError, InputError, NotFittedError
from metacompose.metrics import check_alpha

_ACTIVATIONS = ("tanh", "relu")


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """Run with ``torch.set_num_threads(n)``, restoring the previous setting (``None``: leave it)."""
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _activation(name: str):
    import torch.nn as nn

    return {"tanh": nn.Tanh, "relu": nn.ReLU}[name]


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
            :func:`~metacompose.envs.action_to_weights`).
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
            contend with other work (measured 9x slower with 2 threads on a busy 2-core
            machine). ``None`` leaves torch's setting alone.
        verbose: stable-baselines3 verbosity.
        checkpoint_path: if set, save a checkpoint every ``checkpoint_freq`` steps beside this
            path and, when ``fit`` finds one from the same settings and cube, continue from it
            (:mod:`metacompose.agents.checkpoint`); None: no checkpoints.
        checkpoint_freq: environment steps between checkpoints.
        shrinkage: ``s`` in ``[0, 1]``, the pull toward equal weights.
        pooling: ``p`` in ``[0, 1]``, the pull toward the policy's pooled weights
            ``pooled_weights_`` (its weights averaged over every origin of every training
            series). The weights are ``(1 - s) * ((1 - p) * softmax(temperature * action) +
            p * pooled_weights_) + s / M`` (``p = s = 0``: the policy's own per-series
            weights; ``s = 1``: equal weights).
        select_shrinkage: choose ``pooling`` and ``shrinkage`` in ``fit`` on a validation
            origin inside the training data (:mod:`metacompose.agents.selection`), scored in
            ``reward_metric``; the scores are kept in ``shrinkage_scores_``, keyed by
            ``(pooling, shrinkage)``, and the whole choice in ``selection_``. Costs a second,
            smaller PPO training.
        selection_alpha: significance level of the selection's guard: the best pair replaces
            equal weights only when a one-sided paired t-test over the validation series says
            it is more accurate at this level (:func:`~metacompose.agents.selection.choose_shrinkage`);
            None keeps the best pair whatever the evidence.

    Raises:
        InputError: an argument is out of range.
    """

    name = "ppo"

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
        def _int(name, v, lo):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
            return int(v)

        self.total_timesteps = _int("total_timesteps", total_timesteps, 0)
        self.seed = None if seed is None else _int("seed", seed, 0)
        self.n_envs = _int("n_envs", n_envs, 1)
        if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
            raise InputError(f"temperature must be a positive number, got {temperature!r}")
        self.temperature = float(temperature)
        self.history = _int("history", history, 1)
        if reward_metric not in REWARD_METRICS:
            raise InputError(f"reward_metric must be one of {REWARD_METRICS}, got {reward_metric!r}")
        self.reward_metric = reward_metric
        self.net_arch = [_int("net_arch entries", n, 1) for n in net_arch]
        if activation not in _ACTIVATIONS:
            raise InputError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        self.learning_rate = float(learning_rate)
        self.n_steps = _int("n_steps", n_steps, 2)
        self.batch_size = _int("batch_size", batch_size, 2)
        self.n_epochs = _int("n_epochs", n_epochs, 1)
        if not 0.0 <= gamma <= 1.0 or not 0.0 <= gae_lambda <= 1.0:
            raise InputError("gamma and gae_lambda must lie in [0, 1]")
        self.gamma, self.gae_lambda = float(gamma), float(gae_lambda)
        self.clip_range, self.ent_coef, self.log_std_init = float(clip_range), float(ent_coef), float(log_std_init)
        self.ppo_kwargs = dict(ppo_kwargs or {})
        self.early_stopping_patience = (
            None if early_stopping_patience is None else _int("early_stopping_patience", early_stopping_patience, 1)
        )
        self.eval_freq = _int("eval_freq", eval_freq, 1)
        self.min_improvement = float(min_improvement)
        if vec_env not in ("cube", "dummy"):
            raise InputError(f"vec_env must be 'cube' or 'dummy', got {vec_env!r}")
        self.vec_env = vec_env
        self.callback = callback
        self.progress_bar = bool(progress_bar)
        self.device = str(device)
        self.torch_threads = None if torch_threads is None else _int("torch_threads", torch_threads, 1)
        self.verbose = int(verbose)
        if not (isinstance(shrinkage, (int, float)) and 0.0 <= shrinkage <= 1.0):
            raise InputError(f"shrinkage must lie in [0, 1], got {shrinkage!r}")
        self.shrinkage = float(shrinkage)
        if not (isinstance(pooling, (int, float)) and 0.0 <= pooling <= 1.0):
            raise InputError(f"pooling must lie in [0, 1], got {pooling!r}")
        self.pooling = float(pooling)
        self.select_shrinkage = bool(select_shrinkage)
        self.selection_alpha = check_alpha(selection_alpha, "selection_alpha")
        self.selection_ = None
        self.pooled_weights_: np.ndarray | None = None
        self.checkpoint_path = None if checkpoint_path is None else str(checkpoint_path)
        self.checkpoint_freq = _int("checkpoint_freq", checkpoint_freq, 1)
        self.resumed_from_ = 0
        self.policy_ = None

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments as JSON values (``callback`` is left out)."""
        return {
            "total_timesteps": self.total_timesteps, "seed": self.seed, "n_envs": self.n_envs,
            "temperature": self.temperature, "history": self.history, "reward_metric": self.reward_metric,
            "net_arch": list(self.net_arch), "activation": self.activation, "learning_rate": self.learning_rate,
            "n_steps": self.n_steps, "batch_size": self.batch_size, "n_epochs": self.n_epochs,
            "gamma": self.gamma, "gae_lambda": self.gae_lambda, "clip_range": self.clip_range,
            "ent_coef": self.ent_coef, "log_std_init": self.log_std_init, "ppo_kwargs": self.ppo_kwargs,
            "early_stopping_patience": self.early_stopping_patience, "eval_freq": self.eval_freq,
            "min_improvement": self.min_improvement, "vec_env": self.vec_env,
            "progress_bar": self.progress_bar, "device": self.device, "torch_threads": self.torch_threads,
            "verbose": self.verbose, "shrinkage": self.shrinkage, "pooling": self.pooling,
            "select_shrinkage": self.select_shrinkage, "selection_alpha": self.selection_alpha,
            "checkpoint_path": self.checkpoint_path, "checkpoint_freq": self.checkpoint_freq,
        }

    def _policy_kwargs(self) -> dict[str, Any]:
        return {"net_arch": list(self.net_arch), "activation_fn": _activation(self.activation),
                "log_std_init": self.log_std_init}

    def fit(self, cube: ForecastCube) -> "PPOAgent":
        """Train PPO on the backtest origins of ``cube``.

        Args:
            cube: the forecast cube; only ``cube.train_valid`` origins give rewards.

        Returns:
            ``self``, with ``policy_`` (the trained ``ActorCriticPolicy``), ``model_`` (the
            stable-baselines3 ``PPO``), ``models_``, ``feature_names_``, ``obs_dim_`` and
            ``timesteps_`` (steps actually trained), ``learn_seconds_`` (wall time of
            ``PPO.learn``), ``train_reward_`` (the early-stopping scores, or None) and, when
            ``select_shrinkage`` found a validation origin, ``selection_`` (a
            :class:`~metacompose.agents.selection.Selection`: choice, scores, best pair, p-value).

        Raises:
            InputError: ``cube`` is not a ForecastCube or has no backtest origin.
        """
        check_cube(cube)
        if self.select_shrinkage:
            self.selection_ = None
            split = validation_split(cube)
            if split is not None:
                sub, actual, mask = split
                params = {**self.get_params(), "shrinkage": 0.0, "pooling": 0.0, "select_shrinkage": False,
                          "checkpoint_path": None}
                probe = PPOAgent(**params).fit(sub)
                self.selection_ = choose_shrinkage(
                    probe.weights(sub)[:, -1], sub, actual, mask, pooled=probe.pooled_weights_,
                    metric=self.reward_metric, alpha=self.selection_alpha)
                self.pooling, self.shrinkage = self.selection_.choice
        with _torch_threads(self.torch_threads):
            return self._fit(cube)

    def _fit(self, cube: ForecastCube) -> "PPOAgent":
        from stable_baselines3 import PPO
        from stable_baselines3.common.callbacks import CallbackList
        from stable_baselines3.common.env_util import make_vec_env

        from metacompose.agents.early_stopping import EarlyStopping
        from metacompose.envs.vec_env import CubeVecEnv

        table = observation_table(cube, self.history)
        env_kwargs = {"cube": cube, "reward_metric": self.reward_metric, "temperature": self.temperature,
                      "history": self.history, "observations": table}
        scorer = CubeVecEnv(n_envs=1, **env_kwargs)
        # a budget smaller than one rollout gets fewer episodes at once, so PPO does not overshoot it
        n_envs = max(1, min(self.n_envs, self.total_timesteps // self.n_steps))
        if self.vec_env == "cube":
            vec_env = CubeVecEnv(n_envs=n_envs, seed=self.seed, **env_kwargs)
        else:
            vec_env = make_vec_env(EnsembleWeightsEnv, n_envs=n_envs, seed=self.seed, env_kwargs=env_kwargs)
        params = {
            "learning_rate": self.learning_rate, "n_steps": self.n_steps, "batch_size": self.batch_size,
            "n_epochs": self.n_epochs, "gamma": self.gamma, "gae_lambda": self.gae_lambda,
            "clip_range": self.clip_range, "ent_coef": self.ent_coef,
        }
        params.update(self.ppo_kwargs)
        model = PPO("MlpPolicy", vec_env, policy_kwargs=self._policy_kwargs(), seed=self.seed,
                    device=self.device, verbose=self.verbose, **params)
        callbacks = [self.callback] if self.callback is not None else []
        stopper = None
        if self.early_stopping_patience is not None:
            stopper = EarlyStopping(scorer, self.eval_freq, self.early_stopping_patience, self.min_improvement)
            callbacks.append(stopper)
        done = 0
        if self.checkpoint_path is not None:
            from metacompose.agents.checkpoint import Checkpointing, load_checkpoint

            fingerprint = {k: v for k, v in self.get_params().items() if k not in ("verbose", "progress_bar")}
            fingerprint.update(shrinkage=self.shrinkage, cube=[list(cube.shape), list(cube.series_ids[:5])])
            done = self.resumed_from_ = load_checkpoint(self.checkpoint_path, model, fingerprint)
            if done and self.seed is not None:
                vec_env.seed(self.seed + done)  # fresh episode draws for the remaining steps
            callbacks.append(Checkpointing(self.checkpoint_path, self.checkpoint_freq, fingerprint))
        t0 = time.perf_counter()
        if self.total_timesteps > done:
            model.num_timesteps = done
            model.learn(total_timesteps=self.total_timesteps - done, reset_num_timesteps=done == 0,
                        callback=CallbackList(callbacks) if callbacks else None, progress_bar=self.progress_bar)
        if stopper is not None:
            stopper.restore_best()
        vec_env.close()
        self.model_ = model
        self.policy_ = model.policy
        self.policy_.set_training_mode(False)
        self.timesteps_ = int(model.num_timesteps)
        self.learn_seconds_ = time.perf_counter() - t0
        self.train_reward_ = stopper.history_ if stopper is not None else None
        self.models_ = list(cube.models)
        self.feature_names_ = list(cube.feature_names)
        self.obs_dim_ = observation_space_size(cube)
        own = action_to_weights(self.actions(cube), self.temperature)[cube.valid]
        self.pooled_weights_ = own.mean(axis=0) if own.size else np.full(cube.shape[2], 1.0 / cube.shape[2])
        return self

    @property
    def shrinkage_scores_(self) -> dict[tuple[float, float], float]:
        """Each ``(pooling, shrinkage)`` pair's validation error (``selection_.scores``; ``{}`` without one)."""
        return {} if self.selection_ is None else self.selection_.scores

    def _check_fitted(self, cube: ForecastCube) -> None:
        if self.policy_ is None:
            raise NotFittedError("PPOAgent is not fitted: call fit(cube) or PPOAgent.load(path) first")
        if list(cube.models) != self.models_:
            raise InputError(f"the cube's pool {list(cube.models)} differs from the agent's {self.models_}")
        if list(cube.feature_names) != self.feature_names_:
            raise InputError(
                f"the cube's features {list(cube.feature_names)} differ from the agent's {self.feature_names_}"
            )

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
        S, O, M, _ = cube.shape
        obs = observation_table(cube, self.history)
        valid = cube.valid
        out = np.zeros((S, O, M), dtype=np.float32)
        if valid.any():
            with _torch_threads(self.torch_threads):
                act, _ = self.policy_.predict(obs[valid], deterministic=True)
            out[valid] = np.clip(act, -1.0, 1.0)
        return out

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, M)``: the policy's weights ``softmax(temperature * action)`` pulled
        toward the pooled and equal weights (``pooling``, ``shrinkage``; see the class).

        Raises:
            NotFittedError: the agent is not fitted.
            InputError: the cube's pool or features differ from the training cube's.
        """
        w = action_to_weights(self.actions(cube), self.temperature)
        w = compose_weights(w, self.pooled_weights_, self.pooling, self.shrinkage)
        return np.where(cube.valid[..., None], w, equal_weights(cube))

    # --- persistence -------------------------------------------------------------------------

    def _state(self):
        if self.policy_ is None:
            raise NotFittedError("PPOAgent is not fitted; nothing to save")
        state = {"models": self.models_, "feature_names": self.feature_names_, "obs_dim": self.obs_dim_,
                 "timesteps": self.timesteps_}
        return state, {"pooled_weights": np.asarray(self.pooled_weights_, dtype=np.float64)}

    def _save_extra(self, base: Path) -> None:
        import torch

        torch.save(self.policy_.state_dict(), base.with_suffix(".pt"))

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray], base: Path) -> None:
        import gymnasium as gym
        import torch
        from stable_baselines3.common.policies import ActorCriticPolicy

        try:
            self.models_ = [str(m) for m in state["models"]]
            self.feature_names_ = [str(f) for f in state["feature_names"]]
            self.obs_dim_ = int(state["obs_dim"])
            self.timesteps_ = int(state.get("timesteps", 0))
            M = len(self.models_)
            pooled = np.asarray(arrays.get("pooled_weights", np.full(M, 1.0 / M)), dtype=np.float64)
            if pooled.shape != (M,) or not np.all(np.isfinite(pooled)):
                raise ValueError(f"pooled_weights has shape {pooled.shape}, expected ({M},) finite values")
            self.pooled_weights_ = pooled
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{base.with_suffix('.json')}: incomplete PPO agent state ({exc})") from None
        policy = ActorCriticPolicy(
            gym.spaces.Box(-1.0, 1.0, (self.obs_dim_,), np.float32), gym.spaces.Box(-1.0, 1.0, (M,), np.float32),
            lr_schedule=lambda _: 0.0, **self._policy_kwargs(),
        )
        try:
            sd = torch.load(base.with_suffix(".pt"), map_location="cpu", weights_only=True)
            policy.load_state_dict(sd)
        except FileNotFoundError:
            raise
        except Exception as exc:  # unpickling errors, shape mismatches, corrupt zip
            raise FileFormatError(f"{base.with_suffix('.pt')} is not a matching policy state_dict: {exc}") from None
        policy.set_training_mode(False)
        self.policy_ = policy.to(self.device)
        self.model_ = None

