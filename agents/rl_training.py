"""One training run on a cube or several: environments, a stable-baselines3 algorithm, callbacks and checkpoints.

:class:`~metacompose.agents.rl.RLAgent` decides *what* to train (algorithm, parameters, the
cube, the validation replay); this module runs stable-baselines3 on it. Training uses
:class:`~metacompose.envs.CubeVecEnv`, which steps ``n_envs`` episodes of
:class:`~metacompose.envs.EnsembleWeightsEnv` at once in numpy (the same observations and
rewards as copies of the environment), with batch settings chosen for throughput
(:mod:`metacompose.agents.sb3_algorithms`; one torch thread; ``benchmarks/speed`` measures PPO).
Nothing of the algorithms is re-implemented here.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

import numpy as np
import torch
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.env_util import make_vec_env

from metacompose.agents.checkpoint import Checkpointing, load_checkpoint
from metacompose.agents.early_stopping import EarlyStopping
from metacompose.agents.sb3_algorithms import ALGORITHMS, make_model, settings
from metacompose.cube import ForecastCube
from metacompose.envs import CubeVecEnv, EnsembleWeightsEnv
from metacompose.errors import InputError
from metacompose.history import steppable_origins

if TYPE_CHECKING:  # only for the annotation: rl.py imports this module
    from metacompose.agents.rl import RLAgent


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


class TrainingRun(NamedTuple):
    """What :func:`train_agent` returns.

    Attributes:
        model: the stable-baselines3 model (``PPO``, ``SAC``, ...; its policy in evaluation mode).
        timesteps: environment steps trained in all (a resumed run counts the checkpoint's).
        learn_seconds: wall time of ``model.learn`` in this process.
        train_reward: the early-stopping scores ``[(timesteps, mean reward), ...]``, or None.
        resumed_from: steps loaded from a checkpoint (0: none).
    """

    model: Any
    timesteps: int
    learn_seconds: float
    train_reward: list | None
    resumed_from: int


PASSES = 5.0
"""Default training steps per decision of :class:`~metacompose.agents.rl.RLAgent` (``passes``);
chosen on the validation replays of the M3 training parts, ``benchmarks/m3/agent_budget.py``."""

MIN_TIMESTEPS = 10_000
"""The smallest budget ``passes`` gives (five PPO rollouts of the default 128 copies x 16 steps)."""

MAX_TIMESTEPS = 100_000
"""The largest budget ``passes`` gives."""


def training_timesteps(agent: "RLAgent", cubes: Sequence[ForecastCube]) -> int:
    """The agent's training budget in environment steps for ``cubes``.

    ``agent.total_timesteps`` when it is set, else
    ``min(MAX_TIMESTEPS, max(MIN_TIMESTEPS, ceil(passes * decisions)))`` with ``decisions`` the
    steppable backtest origins of all the cubes (:func:`metacompose.history.steppable_origins`).
    """
    if agent.total_timesteps is not None:
        return int(agent.total_timesteps)
    decisions = sum(int(steppable_origins(c).sum()) for c in cubes)
    return int(min(MAX_TIMESTEPS, max(MIN_TIMESTEPS, math.ceil(agent.passes * decisions))))


def n_train_envs(agent: "RLAgent", budget: int) -> int:
    """Copies stepped together: ``n_envs``, fewer for a ``budget`` (environment steps) smaller than one
    step of them all (on-policy: one rollout of ``n_steps`` per copy)."""
    per_copy = settings(agent)["n_steps"] if ALGORITHMS[agent.algorithm].on_policy else 1
    return max(1, min(agent.n_envs, budget // per_copy))


def _vec_env(agent: "RLAgent", env_kwargs: dict, budget: int):
    """The training environments (see :func:`n_train_envs`).

    Raises:
        InputError: ``vec_env="dummy"`` with several cubes (only ``CubeVecEnv`` steps several).
    """
    n_envs = n_train_envs(agent, budget)
    if agent.vec_env == "cube":
        return CubeVecEnv(n_envs=n_envs, seed=agent.seed, **env_kwargs)
    if len(env_kwargs["cube"]) > 1:
        raise InputError("vec_env='dummy' trains on one cube; use vec_env='cube' to train on several")
    one = {**env_kwargs, "cube": env_kwargs["cube"][0], "observations": env_kwargs["observations"][0]}
    return make_vec_env(EnsembleWeightsEnv, n_envs=n_envs, seed=agent.seed, env_kwargs=one)


def train_agent(agent: "RLAgent", cubes: Sequence[ForecastCube], observations: Sequence[np.ndarray],
                shrinkage: float) -> TrainingRun:
    """Train the agent's algorithm on the steppable origins of ``cubes`` with the agent's settings.

    Args:
        agent: the :class:`~metacompose.agents.rl.RLAgent` whose parameters and callback are used.
        cubes: the forecast cubes (one, or several sharing their pool and features: cross-learning).
        observations: ``observation_table(cube, agent.history)`` of each cube, float32 ``(S, O, D)``.
        shrinkage: the shrinkage the weights will use (part of a checkpoint's fingerprint).

    Returns:
        a :class:`TrainingRun`.

    Raises:
        InputError: no cube has a steppable origin, or ``vec_env="dummy"`` with several cubes.
        FileFormatError: a checkpoint at ``agent.checkpoint_path`` belongs to other settings.
    """
    env_kwargs = {"cube": list(cubes), "reward_metric": agent.reward_metric, "temperature": agent.temperature,
                  "history": agent.history, "observations": list(observations), "horizon_knots": agent.horizon_knots}
    budget = training_timesteps(agent, cubes)
    vec_env = _vec_env(agent, env_kwargs, budget)
    model = make_model(agent, vec_env)
    callbacks = [agent.callback] if agent.callback is not None else []
    stopper = None
    if agent.early_stopping_patience is not None:
        stopper = EarlyStopping(CubeVecEnv(n_envs=1, **env_kwargs), agent.eval_freq,
                                agent.early_stopping_patience, agent.min_improvement)
        callbacks.append(stopper)
    done = 0
    if agent.checkpoint_path is not None:
        fingerprint = {k: v for k, v in agent.get_params().items() if k not in ("verbose", "progress_bar")}
        fingerprint.update(shrinkage=shrinkage, cube=[[list(c.shape), list(c.series_ids[:5])] for c in cubes])
        done = load_checkpoint(agent.checkpoint_path, model, fingerprint)
        if done and agent.seed is not None:
            vec_env.seed(agent.seed + done)  # fresh episode draws for the remaining steps
        callbacks.append(Checkpointing(agent.checkpoint_path, agent.checkpoint_freq, fingerprint))
    t0 = time.perf_counter()
    if budget > done:
        model.num_timesteps = done
        model.learn(total_timesteps=budget - done, reset_num_timesteps=done == 0,
                    callback=CallbackList(callbacks) if callbacks else None, progress_bar=agent.progress_bar)
    if stopper is not None:
        stopper.restore_best()
    vec_env.close()
    model.policy.set_training_mode(False)
    return TrainingRun(model, int(model.num_timesteps), time.perf_counter() - t0,
                       stopper.history_ if stopper is not None else None, done)
