"""One PPO training run on a cube: environments, stable-baselines3's PPO, callbacks and checkpoints.

:class:`~metacompose.agents.ppo.PPOAgent` decides *what* to train (parameters, the cube, the
validation replay); this module runs stable-baselines3 on it. Training uses
:class:`~metacompose.envs.CubeVecEnv`, which steps ``n_envs`` episodes of
:class:`~metacompose.envs.EnsembleWeightsEnv` at once in numpy (the same observations and
rewards as copies of the environment), with batch settings chosen for throughput (large
rollouts, large minibatches, few epochs, one torch thread; ``benchmarks/speed`` measures it).
Nothing of PPO is re-implemented here.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.env_util import make_vec_env
from torch import nn

from metacompose.agents.checkpoint import Checkpointing, load_checkpoint
from metacompose.agents.early_stopping import EarlyStopping
from metacompose.cube import ForecastCube
from metacompose.envs import CubeVecEnv, EnsembleWeightsEnv

if TYPE_CHECKING:  # only for the annotation: ppo.py imports this module
    from metacompose.agents.ppo import PPOAgent

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run with ``torch.set_num_threads(n)``, restoring the previous setting (``None``: leave it)."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def policy_kwargs(agent: "PPOAgent") -> dict[str, Any]:
    """``policy_kwargs`` of stable-baselines3's ``MlpPolicy`` for the agent's network settings."""
    return {"net_arch": list(agent.net_arch), "activation_fn": ACTIVATIONS[agent.activation],
            "log_std_init": agent.log_std_init}


class TrainingRun(NamedTuple):
    """What :func:`train_ppo` returns.

    Attributes:
        model: the stable-baselines3 ``PPO`` (its policy in evaluation mode).
        timesteps: environment steps trained in all (a resumed run counts the checkpoint's).
        learn_seconds: wall time of ``PPO.learn`` in this process.
        train_reward: the early-stopping scores ``[(timesteps, mean reward), ...]``, or None.
        resumed_from: steps loaded from a checkpoint (0: none).
    """

    model: Any
    timesteps: int
    learn_seconds: float
    train_reward: list | None
    resumed_from: int


def _vec_env(agent: "PPOAgent", env_kwargs: dict):
    """The training environments: ``n_envs`` copies, fewer for a budget smaller than one rollout."""
    n_envs = max(1, min(agent.n_envs, agent.total_timesteps // agent.n_steps))
    if agent.vec_env == "cube":
        return CubeVecEnv(n_envs=n_envs, seed=agent.seed, **env_kwargs)
    return make_vec_env(EnsembleWeightsEnv, n_envs=n_envs, seed=agent.seed, env_kwargs=env_kwargs)


def _ppo(agent: "PPOAgent", vec_env) -> PPO:
    """stable-baselines3's PPO with the agent's settings (``ppo_kwargs`` override the named ones)."""
    params = {
        "learning_rate": agent.learning_rate, "n_steps": agent.n_steps, "batch_size": agent.batch_size,
        "n_epochs": agent.n_epochs, "gamma": agent.gamma, "gae_lambda": agent.gae_lambda,
        "clip_range": agent.clip_range, "ent_coef": agent.ent_coef, **agent.ppo_kwargs,
    }
    return PPO("MlpPolicy", vec_env, policy_kwargs=policy_kwargs(agent), seed=agent.seed,
               device=agent.device, verbose=agent.verbose, **params)


def train_ppo(agent: "PPOAgent", cube: ForecastCube, observations: np.ndarray, shrinkage: float) -> TrainingRun:
    """Train PPO on the steppable origins of ``cube`` with the agent's settings.

    Args:
        agent: the :class:`~metacompose.agents.ppo.PPOAgent` whose parameters and callback are used.
        cube: the forecast cube.
        observations: ``observation_table(cube, agent.history)``, float32 ``(S, O, D)``.
        shrinkage: the shrinkage the weights will use (part of a checkpoint's fingerprint).

    Returns:
        a :class:`TrainingRun`.

    Raises:
        InputError: the cube has no steppable origin.
        FileFormatError: a checkpoint at ``agent.checkpoint_path`` belongs to other settings.
    """
    env_kwargs = {"cube": cube, "reward_metric": agent.reward_metric, "temperature": agent.temperature,
                  "history": agent.history, "observations": observations}
    vec_env = _vec_env(agent, env_kwargs)
    model = _ppo(agent, vec_env)
    callbacks = [agent.callback] if agent.callback is not None else []
    stopper = None
    if agent.early_stopping_patience is not None:
        stopper = EarlyStopping(CubeVecEnv(n_envs=1, **env_kwargs), agent.eval_freq,
                                agent.early_stopping_patience, agent.min_improvement)
        callbacks.append(stopper)
    done = 0
    if agent.checkpoint_path is not None:
        fingerprint = {k: v for k, v in agent.get_params().items() if k not in ("verbose", "progress_bar")}
        fingerprint.update(shrinkage=shrinkage, cube=[list(cube.shape), list(cube.series_ids[:5])])
        done = load_checkpoint(agent.checkpoint_path, model, fingerprint)
        if done and agent.seed is not None:
            vec_env.seed(agent.seed + done)  # fresh episode draws for the remaining steps
        callbacks.append(Checkpointing(agent.checkpoint_path, agent.checkpoint_freq, fingerprint))
    t0 = time.perf_counter()
    if agent.total_timesteps > done:
        model.num_timesteps = done
        model.learn(total_timesteps=agent.total_timesteps - done, reset_num_timesteps=done == 0,
                    callback=CallbackList(callbacks) if callbacks else None, progress_bar=agent.progress_bar)
    if stopper is not None:
        stopper.restore_best()
    vec_env.close()
    model.policy.set_training_mode(False)
    return TrainingRun(model, int(model.num_timesteps), time.perf_counter() - t0,
                       stopper.history_ if stopper is not None else None, done)
