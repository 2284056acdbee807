"""Gymnasium environments over a :class:`~metacompose.cube.ForecastCube`.

Importing this package registers ``metacompose/EnsembleWeights-v0``::

    import gymnasium as gym
    import metacompose.envs  # noqa: F401  (registers the environment)

    env = gym.make("metacompose/EnsembleWeights-v0", cube=cube)
"""

from __future__ import annotations

import gymnasium

from metacompose.envs.ensemble_weights import EnsembleWeightsEnv, action_to_weights, horizon_error
from metacompose.envs.observation import (
    DEFAULT_HISTORY,
    observation_names,
    observation_space_size,
    observation_table,
    past_error_table,
    past_errors,
)

# The function ``observation`` is deliberately not re-exported here: the name stays bound to the
# submodule, ``metacompose.envs.observation`` (use ``from metacompose.envs.observation import observation``).

ENV_ID = "metacompose/EnsembleWeights-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="metacompose.envs.ensemble_weights:EnsembleWeightsEnv")

__all__ = [
    "ENV_ID", "EnsembleWeightsEnv", "action_to_weights", "horizon_error", "DEFAULT_HISTORY",
    "observation_names", "observation_space_size", "observation_table", "past_error_table",
    "past_errors",
]
