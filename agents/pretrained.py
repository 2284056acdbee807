"""The composition agent that ships with metacompose, for panels too small to train one.

A PPO agent (:class:`~metacompose.agents.rl.RLAgent`) trained once, by
``benchmarks/m3/pretrain.py``, on the backtests of the M3 *training parts* of all four subsets
at once (cross-learning: 3,003 series, yearly, quarterly, monthly and other; the M3 test parts
were never used), with the default pool (:data:`metacompose.models.DEFAULT_POOL`, seven
members) and the basic series features. Its observation is scale-free and carries the season
length and the horizon, and its action's knots are relative positions along the horizon, so it
acts on any panel whose cube has that pool and those features, whatever ``h`` and ``m``.

How well it transfers is measured, not assumed: ``benchmarks/m3/cross_learning.py`` trains
the same agent on three subsets and scores it on the fourth's test part
(``benchmarks/m3/cross_learning_results.md``). It is stored in the safe agent format
(:mod:`metacompose.fileio`: JSON header, ``.npz``, policy ``state_dict`` read with
``weights_only``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from metacompose.agents.base import CompositionAgent
from metacompose.errors import InputError

PRETRAINED_PATH = Path(__file__).resolve().parent / "weights" / "m3_default_pool"
"""Base path (no suffix) of the shipped agent's files."""

MIN_SERIES_TO_TRAIN = 50
"""Panels with fewer series than this get the pretrained agent by default (``Composer(agent="auto")``):
a few dozen series at five origins give PPO and its validation guard too little to learn from."""


def load_pretrained() -> CompositionAgent:
    """The shipped, trained agent (never trained again by a Composer).

    Returns:
        the agent, ready for ``weights`` on a cube with its pool (``agent.models_``) and features.

    Raises:
        FileNotFoundError: the package was installed without its data files.
        FileFormatError: the files are damaged.
    """
    if not PRETRAINED_PATH.with_suffix(".json").exists():
        raise FileNotFoundError(f"the pretrained agent's files are missing ({PRETRAINED_PATH}.json): reinstall "
                                "metacompose with its package data")
    return CompositionAgent.load(PRETRAINED_PATH)


def pretrained_mismatch(agent: CompositionAgent, models: Sequence[str], feature_names: Sequence[str]) -> str | None:
    """Why the pretrained ``agent`` cannot weigh a cube with this pool and these features (None: it can)."""
    if list(models) != list(agent.models_):
        return f"the pool {list(models)} is not the pretrained agent's {list(agent.models_)}"
    if list(feature_names) != list(agent.feature_names_):
        return f"the features {list(feature_names)} are not the pretrained agent's {list(agent.feature_names_)}"
    return None


def check_pretrained_fits(agent: CompositionAgent, models: Sequence[str], feature_names: Sequence[str]) -> None:
    """Raise :class:`~metacompose.errors.InputError` when the pretrained agent cannot weigh such a cube."""
    why = pretrained_mismatch(agent, models, feature_names)
    if why is not None:
        raise InputError(f"agent='pretrained' needs the default pool and features: {why}; train an agent "
                         "(agent='ppo') for another pool")
