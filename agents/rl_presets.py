"""One composition agent per stable-baselines3 algorithm: ``get_agent("ppo" | "a2c" | "sac" | "td3" | "ddpg")``.

Each class is :class:`~metacompose.agents.rl.RLAgent` with its ``algorithm`` fixed (the
argument may be left out or given as the class's own); everything else, defaults included,
is :class:`~metacompose.agents.rl.RLAgent`'s (the algorithms' defaults are in
:mod:`metacompose.agents.sb3_algorithms`). A saved agent records its name, so a file saved as
``"ppo"`` (before the other algorithms existed, too) loads as a :class:`PPOAgent`.
"""

from __future__ import annotations

from metacompose.agents.rl import RLAgent


class PPOAgent(RLAgent):
    """:class:`~metacompose.agents.rl.RLAgent` with stable-baselines3's PPO (Schulman et al. 2017), the default."""

    name = "ppo"
    preset = "ppo"


class A2CAgent(RLAgent):
    """:class:`~metacompose.agents.rl.RLAgent` with stable-baselines3's A2C (Mnih et al. 2016)."""

    name = "a2c"
    preset = "a2c"


class SACAgent(RLAgent):
    """:class:`~metacompose.agents.rl.RLAgent` with stable-baselines3's SAC (Haarnoja et al. 2018)."""

    name = "sac"
    preset = "sac"


class TD3Agent(RLAgent):
    """:class:`~metacompose.agents.rl.RLAgent` with stable-baselines3's TD3 (Fujimoto et al. 2018)."""

    name = "td3"
    preset = "td3"


class DDPGAgent(RLAgent):
    """:class:`~metacompose.agents.rl.RLAgent` with stable-baselines3's DDPG (Lillicrap et al. 2016), as in RLMC."""

    name = "ddpg"
    preset = "ddpg"


RL_AGENTS: dict[str, type[RLAgent]] = {cls.name: cls for cls in (PPOAgent, A2CAgent, SACAgent, TD3Agent, DDPGAgent)}
"""Algorithm name -> its agent class (the names are :data:`~metacompose.agents.sb3_algorithms.ALGORITHMS`'s)."""
