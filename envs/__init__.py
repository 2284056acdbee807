"""Gymnasium environments over a :class:`~metacompose.cube.ForecastCube`.

Importing this package registers ``metacompose/EnsembleWeights-v0``::

    import gymnasium as gym
    import metacompose.envs  # noqa: F401  (registers the environment)

    env = gym.make("metacompose/EnsembleWeights-v0", cube=cube)

Public names: the environment :class:`EnsembleWeightsEnv`, its batched twin
:class:`CubeVecEnv` (a stable-baselines3 ``VecEnv``), and the observation functions.
The weight formulas live in :mod:`metacompose.combine`, the error and reward formulas in
:mod:`metacompose.metrics`, and what an origin may know in :mod:`metacompose.history`.
"""

from __future__ import annotations

import gymnasium

from metacompose.envs.ensemble_weights import EnsembleWeightsEnv
from metacompose.envs.observation import (
    DEFAULT_HISTORY,
    observation_names,
    observation_space_size,
    observation_table,
)
from metacompose.envs.vec_env import CubeVecEnv

# The function ``observation`` is deliberately not re-exported here: the name stays bound to the
# submodule, ``metacompose.envs.observation`` (use ``from metacompose.envs.observation import observation``).

ENV_ID = "metacompose/EnsembleWeights-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="metacompose.envs.ensemble_weights:EnsembleWeightsEnv")

__all__ = [
    "ENV_ID", "EnsembleWeightsEnv", "CubeVecEnv", "DEFAULT_HISTORY", "observation_names",
    "observation_space_size", "observation_table",
]
