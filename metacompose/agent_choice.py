"""Which agent a :class:`~metacompose.composer.Composer` uses, and whether it trains it.

* an agent *name* (``"ppo"``, ``"sac"``, ``"equal"``, ...): that agent, trained on the panel's
  backtest;
* an agent *instance*: trained on the backtest, or used as it is with ``train_agent=False``;
* ``"pretrained"``: the agent shipped in the package (:mod:`metacompose.agents.pretrained`),
  never trained again; it needs the default pool and the basic features;
* ``"auto"`` (the default): the pretrained agent when the panel is too small to train one
  (fewer than :data:`~metacompose.agents.pretrained.MIN_SERIES_TO_TRAIN` series) and the
  composer has the default pool and features; PPO otherwise.

The choice is made before the backtest, since it decides whether members may be dropped by the
time budget or pruned by pool selection (a trained agent needs its whole pool), and the run
says which agent it took and why (the log and ``Composer.decision_``).
"""

from __future__ import annotations

from typing import NamedTuple

from metacompose.agents import get_agent, is_rl_agent
from metacompose.agents.pretrained import (MIN_SERIES_TO_TRAIN, check_pretrained_fits, load_pretrained,
                                           pretrained_mismatch)
from metacompose.errors import InputError
from metacompose.feature_sets import FEATURE_SETS

AUTO, PRETRAINED = "auto", "pretrained"


class AgentChoice(NamedTuple):
    """What :func:`choose_agent` decided.

    Attributes:
        agent: the agent to use (unfitted when ``train`` is True).
        train: whether ``Composer.fit`` trains it on the backtest.
        pretrained: whether it is the pretrained agent.
        reason: why this agent, in words (empty for an agent the user named or gave).
    """

    agent: object
    train: bool
    pretrained: bool
    reason: str


def make_agent(comp, name=None):
    """The composer's agent as named (``name`` overrides ``comp.agent``), not fitted; the pretrained
    agent loaded; an instance as given.

    Raises:
        UnknownModelError, InputError: as :func:`metacompose.agents.get_agent`; ``agent_kwargs``
            with ``"pretrained"``.
        FileNotFoundError: the pretrained agent's files are missing.
    """
    agent = comp.agent if name is None else name
    if not isinstance(agent, str):
        return agent
    key = agent.lower()
    if key == PRETRAINED:
        if comp.agent_kwargs:
            raise InputError(f"agent='pretrained' is used as it was trained: agent_kwargs "
                             f"{sorted(comp.agent_kwargs)} would change nothing")
        return load_pretrained()
    if key == AUTO:
        key = "ppo"
    kw = dict(comp.agent_kwargs)
    if is_rl_agent(key):  # ppo, a2c, sac, td3, ddpg
        kw.setdefault("seed", comp.random_state)
    return get_agent(key, **kw)


def choose_agent(comp, n_series: int) -> AgentChoice:
    """The agent for a panel of ``n_series`` series (see the module notes).

    Raises:
        InputError: ``"pretrained"`` with another pool or feature set than the pretrained agent's;
            otherwise as :func:`make_agent`.
    """
    name = comp.agent.lower() if isinstance(comp.agent, str) else None
    if name == PRETRAINED:
        agent = load_pretrained()
        check_pretrained_fits(agent, *_cube_layout(comp))
        return AgentChoice(agent, False, True, "the pretrained agent, as asked")
    if name == AUTO:
        why = f"{n_series} series"
        if comp._models_param is None and n_series < MIN_SERIES_TO_TRAIN:
            agent = load_pretrained()
            mismatch = pretrained_mismatch(agent, *_cube_layout(comp))
            if mismatch is None:
                return AgentChoice(agent, False, True, f"the pretrained agent: {n_series} series are too few to "
                                                       f"train one (fewer than {MIN_SERIES_TO_TRAIN})")
            why += f"; not the pretrained agent: {mismatch}"
        return AgentChoice(make_agent(comp, "ppo"), True, False, f"PPO trained on this panel ({why})")
    return AgentChoice(make_agent(comp), comp.train_agent, False, "")


def _cube_layout(comp) -> tuple[list[str], list[str]]:
    """The pool's aliases and the feature names the composer's cube will have."""
    return [m.alias for m in comp.pool], list(FEATURE_SETS[comp.features].names)
