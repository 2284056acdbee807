"""The PPO composition agent, :class:`PPOAgent` (kept at this path for existing imports).

The agent itself is :class:`~metacompose.agents.rl.RLAgent` over stable-baselines3's PPO;
see :mod:`metacompose.agents.rl` and :mod:`metacompose.agents.rl_presets`.
"""

from metacompose.agents.rl_presets import PPOAgent

__all__ = ["PPOAgent"]
