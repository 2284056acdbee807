"""Composition agents: reinforcement learning (stable-baselines3's PPO, A2C, SAC, TD3, DDPG) and
the baselines, behind one interface.

Every agent has ``fit(cube) -> self``, ``weights(cube) -> (S, O, M)``,
``combine(cube) -> (S, O, H)``, ``save(path)`` and ``load(path)``::

    from metacompose.agents import get_agent
    agent = get_agent("ppo", total_timesteps=20_000).fit(cube)
    w = agent.weights(cube)[:, -1]        # weights at the final origin, (S, M)
    sac = get_agent("sac").fit(cube)      # the same agent over SAC (also "a2c", "td3", "ddpg")
"""

from __future__ import annotations

import difflib
import inspect
from pathlib import Path
from typing import Any

from metacompose.agents.base import AGENT_FORMAT, AGENT_REGISTRY, AGENT_VERSION, CompositionAgent
from metacompose.agents.baselines import BestSingle, EqualWeights, InverseError, Median
from metacompose.agents.bayes import BMA, BayesianSelection, MAPSelection
from metacompose.agents.fforma import FFORMA
from metacompose.agents.global_weights import GlobalWeights
from metacompose.agents.rl import RLAgent
from metacompose.agents.rl_presets import RL_AGENTS, A2CAgent, DDPGAgent, PPOAgent, SACAgent, TD3Agent
from metacompose.agents.simple import DropWorst, TrimmedMean
from metacompose.errors import InputError, UnknownModelError

AGENTS: dict[str, type[CompositionAgent]] = AGENT_REGISTRY
"""Agent name -> class: ``ppo``, ``a2c``, ``sac``, ``td3``, ``ddpg`` (reinforcement learning;
``rl`` takes the algorithm as an argument), ``equal``, ``median``, ``best``, ``inverse_error``,
``fforma``, ... (and any ``CompositionAgent`` subclass with a ``name`` defined after them)."""

_ALIASES = {"best_single": "best", "bestsingle": "best", "mean": "equal", "equal_weights": "equal",
            "inverse": "inverse_error", "inverseerror": "inverse_error", "trimmed": "trimmed_mean",
            "trimmedmean": "trimmed_mean", "dropworst": "drop_worst", "global": "global_weights",
            "globalweights": "global_weights", "bayesian": "bayes", "bayesian_selection": "bayes",
            "bayesian_model_averaging": "bma", "map_selection": "map"}


def get_agent(name: str | CompositionAgent, **kwargs: Any) -> CompositionAgent:
    """Build an agent from its name (case-insensitive), or return an agent instance as is.

    Args:
        name: a key of :data:`AGENTS` (``"ppo"``, ``"a2c"``, ``"sac"``, ``"td3"``, ``"ddpg"``,
            ``"equal"``, ``"median"``, ``"best"``, ``"inverse_error"``, ``"fforma"``; also
            ``"best_single"``, ``"inverse"``), or an agent.
        **kwargs: constructor arguments of the agent.

    Returns:
        the agent (not fitted).

    Raises:
        UnknownModelError: unknown name; the message suggests a close one and lists the known ones.
        InputError: ``name`` is neither a string nor an agent, kwargs for an instance, an
            argument the agent does not take (the message suggests a close spelling and lists
            the agent's arguments), or a value its checks refuse (``param_checks``).
    """
    if isinstance(name, CompositionAgent):
        if kwargs:
            raise InputError("keyword arguments are only accepted with an agent name, not an instance")
        return name
    if not isinstance(name, str):
        raise InputError(f"an agent must be a name (str) or a CompositionAgent, got {type(name).__name__}")
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in AGENTS:
        close = difflib.get_close_matches(key, list(AGENTS) + list(_ALIASES), n=1)
        hint = f"did you mean {_ALIASES.get(close[0], close[0])!r}? " if close else ""
        raise UnknownModelError(f"unknown agent {name!r}; {hint}known agents: {', '.join(sorted(AGENTS))}")
    check_agent_kwargs(AGENTS[key], kwargs)
    return AGENTS[key](**kwargs)


def check_agent_kwargs(cls: type[CompositionAgent], kwargs: dict[str, Any]) -> None:
    """Check that an agent class takes every keyword in ``kwargs``.

    Args:
        cls: the agent class; kwargs: the keyword arguments meant for its constructor.

    Raises:
        InputError: an argument it does not take; the message names it, suggests the closest
            valid name (:func:`difflib.get_close_matches`) and lists the valid ones.
    """
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params) and cls._param_names():
        return  # a constructor that forwards **kwargs: its own checks apply
    valid = cls._param_names()
    for key in kwargs:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            takes = f"its arguments: {', '.join(valid)}" if valid else "it takes no arguments"
            raise InputError(f"agent {cls.name!r} has no argument {key!r}{hint} ({takes})")


def is_rl_agent(name: Any) -> bool:
    """Whether ``name`` (an agent name, alias or instance) is a reinforcement-learning agent
    (:class:`~metacompose.agents.rl.RLAgent`: ``ppo``, ``a2c``, ``sac``, ``td3``, ``ddpg``, ``rl``)."""
    if isinstance(name, CompositionAgent):
        return isinstance(name, RLAgent)
    if not isinstance(name, str):
        return False
    key = _ALIASES.get(name.lower(), name.lower())
    return key in AGENTS and issubclass(AGENTS[key], RLAgent)


def load_agent(path: str | Path) -> CompositionAgent:
    """Load any agent written by ``agent.save(path)`` (see :meth:`CompositionAgent.load`)."""
    return CompositionAgent.load(path)


__all__ = [
    "AGENTS", "AGENT_FORMAT", "AGENT_VERSION", "CompositionAgent", "RLAgent", "PPOAgent", "A2CAgent", "SACAgent",
    "TD3Agent", "DDPGAgent", "RL_AGENTS", "is_rl_agent", "EqualWeights", "Median",
    "BestSingle", "InverseError", "FFORMA", "TrimmedMean", "DropWorst", "GlobalWeights", "BayesianSelection", "BMA",
    "MAPSelection", "get_agent", "check_agent_kwargs", "load_agent",
]
