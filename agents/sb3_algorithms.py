"""The stable-baselines3 algorithms a composition agent trains, their settings, and how each is built.

One table, :data:`ALGORITHMS`, says for every algorithm which stable-baselines3 class runs it
(Raffin et al. 2021, stable-baselines3, JMLR 22(268)), which of
:class:`~metacompose.agents.rl.RLAgent`'s algorithm-specific parameters it takes, and their
defaults. Nothing of the algorithms is re-implemented: the classes are used as they are.

============  ===========  ====================================================================
algorithm     kind         source
============  ===========  ====================================================================
``ppo``       on-policy    Schulman et al. 2017, Proximal Policy Optimization Algorithms
``a2c``       on-policy    Mnih et al. 2016, Asynchronous Methods for Deep RL (synchronous A2C)
``sac``       off-policy   Haarnoja et al. 2018, Soft Actor-Critic
``td3``       off-policy   Fujimoto et al. 2018, Addressing Function Approximation Error in AC
``ddpg``      off-policy   Lillicrap et al. 2016, Continuous control with deep RL (used by RLMC)
============  ===========  ====================================================================

Defaults and why (``benchmarks/m3/algorithms_results.md`` has the measured times):

* every algorithm: ``gamma = 0`` (a contextual bandit, see :class:`~metacompose.agents.rl.RLAgent`),
  ``n_envs = 128`` copies of the environment in one :class:`~metacompose.envs.CubeVecEnv`.
* PPO: ``learning_rate 2e-3``, ``n_steps 16`` per copy (rollouts of 2,048 steps), minibatches of
  1,024, 10 epochs, ``clip_range 0.2``, ``gae_lambda 0.95``, ``log_std_init -0.5``: chosen for
  throughput on CPU (``benchmarks/speed``).
* A2C: one gradient step per rollout, so shorter rollouts (``n_steps 4``: 512 steps per update,
  about 200 updates in 100,000 steps) and ``learning_rate 2e-3``; SB3's RMSprop optimizer.
* SAC, TD3, DDPG: every step of the vectorised environment adds ``n_envs`` transitions to the
  replay buffer. SB3's default of one gradient step per environment step would be 100,000
  gradient steps for the default budget (minutes on a CPU); instead ``train_freq 1`` (train after
  every step of the ``n_envs`` copies) with ``gradient_steps 8`` of ``batch_size 256``: each
  transition is sampled about 16 times, and 100,000 environment steps cost about 6,250 gradient
  steps (on a synthetic cube, 30,000 steps: TD3 and SAC train in 8-12 s on one CPU thread and
  reach about half the equal-weight error; with 4 gradient steps TD3's actor saturated at the
  action bounds, which is equal weights; 16 steps learned more but took twice as long).
  ``buffer_size 100_000`` keeps every transition of the default budget;
  ``learning_starts 1_000`` uniform random steps fill it first; ``learning_rate 1e-3``;
  ``tau 0.005`` (SB3's). TD3 and DDPG explore with :class:`~stable_baselines3.common.noise.NormalActionNoise`
  of standard deviation ``action_noise_sigma = 0.1`` in action units (actions lie in ``[-1, 1]``;
  0.1 is the RL Baselines3 Zoo's usual choice). SAC learns its entropy coefficient (``"auto"``).
* Forecasts use the deterministic action: the policy's mean (PPO, A2C), the squashed mean (SAC),
  the actor's output without noise (TD3, DDPG).
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from stable_baselines3 import A2C, DDPG, PPO, SAC, TD3
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.policies import BasePolicy
from torch import nn

from metacompose.errors import InputError, UnknownModelError

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}

SETTINGS = ("learning_rate", "batch_size", "n_steps", "gae_lambda", "clip_range", "n_epochs", "ent_coef",
            "log_std_init", "buffer_size", "learning_starts", "train_freq", "gradient_steps", "tau",
            "action_noise_sigma")
"""The agent's algorithm-specific parameters (None: the algorithm's default below)."""

_OFF_POLICY_DEFAULTS = {"learning_rate": 1e-3, "batch_size": 256, "buffer_size": 100_000, "learning_starts": 1_000,
                        "train_freq": 1, "gradient_steps": 8, "tau": 0.005}
# agent parameters passed to the policy (through policy_kwargs), not to the algorithm
_POLICY_SETTINGS = ("log_std_init",)
# agent parameters that are not SB3 arguments of the same name
_AGENT_ONLY = ("action_noise_sigma",)


class Algorithm(NamedTuple):
    """One stable-baselines3 algorithm as an agent trains it.

    Attributes:
        cls: the stable-baselines3 class (``PPO``, ``A2C``, ``SAC``, ``TD3``, ``DDPG``).
        on_policy: True for PPO and A2C (rollouts), False for the replay-buffer algorithms.
        defaults: every agent setting of :data:`SETTINGS` the algorithm takes, with its default.
        policy_extra: fixed ``policy_kwargs`` the class adds itself (DDPG: one critic), so that a
            policy rebuilt at load has the trained policy's layout.
        source: the paper.
    """

    cls: type
    on_policy: bool
    defaults: dict[str, Any]
    policy_extra: dict[str, Any]
    source: str


ALGORITHMS: dict[str, Algorithm] = {
    "ppo": Algorithm(PPO, True, {"learning_rate": 2e-3, "batch_size": 1024, "n_steps": 16, "gae_lambda": 0.95,
                                 "clip_range": 0.2, "n_epochs": 10, "ent_coef": 0.0, "log_std_init": -0.5}, {},
                     "Schulman et al. 2017, Proximal Policy Optimization Algorithms, arXiv:1707.06347"),
    "a2c": Algorithm(A2C, True, {"learning_rate": 2e-3, "n_steps": 4, "gae_lambda": 1.0, "ent_coef": 0.0,
                                 "log_std_init": -0.5}, {},
                     "Mnih et al. 2016, Asynchronous Methods for Deep Reinforcement Learning, ICML"),
    "sac": Algorithm(SAC, False, {**_OFF_POLICY_DEFAULTS, "ent_coef": "auto"}, {},
                     "Haarnoja et al. 2018, Soft Actor-Critic, ICML"),
    "td3": Algorithm(TD3, False, {**_OFF_POLICY_DEFAULTS, "action_noise_sigma": 0.1}, {},
                     "Fujimoto et al. 2018, Addressing Function Approximation Error in Actor-Critic Methods, ICML"),
    "ddpg": Algorithm(DDPG, False, {**_OFF_POLICY_DEFAULTS, "action_noise_sigma": 0.1}, {"n_critics": 1},
                      "Lillicrap et al. 2016, Continuous control with deep reinforcement learning, ICLR"),
}
"""Algorithm name -> :class:`Algorithm`."""

# arguments the agent sets itself; algorithm_kwargs may not hold them
_RESERVED = ("policy", "env", "policy_kwargs", "seed", "device", "verbose", "gamma", "action_noise",
             "_init_setup_model")


def check_algorithm(name: Any) -> str:
    """The algorithm's key in :data:`ALGORITHMS` (case-insensitive).

    Raises:
        UnknownModelError: an unknown name (an :class:`~metacompose.errors.InputError`); the message
            suggests a close one and lists the known ones.
        InputError: not a string.
    """
    if not isinstance(name, str):
        raise InputError(f"algorithm must be a name ({', '.join(ALGORITHMS)}), got {type(name).__name__}")
    key = name.lower()
    if key not in ALGORITHMS:
        close = difflib.get_close_matches(key, list(ALGORITHMS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownModelError(f"unknown algorithm {name!r}; {hint}known algorithms: {', '.join(ALGORITHMS)}")
    return key


def check_settings(algorithm: str, given: dict[str, Any], algorithm_kwargs: dict[str, Any]) -> None:
    """Refuse settings the algorithm does not take, and ``algorithm_kwargs`` that clash or are unknown.

    Args:
        algorithm: a key of :data:`ALGORITHMS`.
        given: the agent's :data:`SETTINGS` values (None: not given).
        algorithm_kwargs: extra keyword arguments for the stable-baselines3 class.

    Raises:
        InputError: a setting given (not None) that the algorithm does not take (the message
            names the algorithms that take it); an ``algorithm_kwargs`` key the agent sets itself,
            one that a named parameter sets, or one the stable-baselines3 class does not take.
    """
    algo = ALGORITHMS[algorithm]
    for key, value in given.items():
        if value is not None and key not in algo.defaults:
            takers = [n for n, a in ALGORITHMS.items() if key in a.defaults]
            raise InputError(f"{key} does not apply to {algorithm.upper()} (it applies to "
                             f"{', '.join(t.upper() for t in takers)}); leave it None")
    if isinstance(given.get("ent_coef"), str) and algorithm != "sac":
        raise InputError(f"ent_coef {given['ent_coef']!r}: only SAC learns its entropy coefficient; give a number")
    sb3_args = set(inspect.signature(algo.cls.__init__).parameters) - {"self"}
    for key in algorithm_kwargs:
        if key in _RESERVED or key in algo.defaults:
            raise InputError(f"algorithm_kwargs may not set {key!r}: the agent sets it"
                             + (" (use the parameter of that name)" if key in algo.defaults else ""))
        if key not in sb3_args:
            close = difflib.get_close_matches(key, sorted(sb3_args), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"{algo.cls.__name__} takes no argument {key!r}{hint}")


def settings(agent) -> dict[str, Any]:
    """The agent's settings for its algorithm: each one it takes, as given or by default.

    Args:
        agent: an :class:`~metacompose.agents.rl.RLAgent` (``algorithm`` resolved).

    Returns:
        setting name -> value, for the keys of the algorithm's ``defaults``.
    """
    defaults = ALGORITHMS[agent.algorithm].defaults
    return {k: (d if getattr(agent, k) is None else getattr(agent, k)) for k, d in defaults.items()}


def policy_kwargs(agent) -> dict[str, Any]:
    """``policy_kwargs`` of the algorithm's ``MlpPolicy`` for the agent's network settings."""
    algo = ALGORITHMS[agent.algorithm]
    out = {"net_arch": list(agent.net_arch), "activation_fn": ACTIVATIONS[agent.activation], **algo.policy_extra}
    out.update({k: v for k, v in settings(agent).items() if k in _POLICY_SETTINGS and algo.on_policy})
    return out


def make_model(agent, vec_env):
    """The stable-baselines3 model of the agent's algorithm on ``vec_env``, with its settings.

    Args:
        agent: an :class:`~metacompose.agents.rl.RLAgent`; vec_env: the training environments.

    Returns:
        an instance of ``ALGORITHMS[agent.algorithm].cls``.
    """
    algo = ALGORITHMS[agent.algorithm]
    params = {k: v for k, v in settings(agent).items() if k not in _POLICY_SETTINGS + _AGENT_ONLY}
    if "action_noise_sigma" in algo.defaults:
        n = vec_env.action_space.shape[0]
        sigma = settings(agent)["action_noise_sigma"]
        params["action_noise"] = NormalActionNoise(np.zeros(n), np.full(n, float(sigma)))
    return algo.cls("MlpPolicy", vec_env, gamma=agent.gamma, policy_kwargs=policy_kwargs(agent), seed=agent.seed,
                    device=agent.device, verbose=agent.verbose, **params, **agent.algorithm_kwargs)


def rebuild_policy(agent, obs_dim: int, action_dim: int) -> BasePolicy:
    """A fresh policy of the layout the agent's algorithm trains, for loading a saved ``state_dict``.

    Args:
        agent: an :class:`~metacompose.agents.rl.RLAgent`.
        obs_dim: observation entries; action_dim: action entries (see ``RLAgent._action_size``).

    Returns:
        the algorithm's ``MlpPolicy`` class (``ActorCriticPolicy``, ``SACPolicy`` or
        ``TD3Policy``) over ``Box(-1, 1)`` spaces of those sizes, untrained.
    """
    cls = ALGORITHMS[agent.algorithm].cls.policy_aliases["MlpPolicy"]
    box = lambda n: gym.spaces.Box(-1.0, 1.0, (n,), np.float32)  # noqa: E731
    return cls(box(obs_dim), box(action_dim), lr_schedule=lambda _: 0.0, **policy_kwargs(agent))
