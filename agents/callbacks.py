"""A stable-baselines3 callback that shows training progress as a tqdm bar on stderr."""

from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback
from tqdm.auto import tqdm


class TqdmProgress(BaseCallback):
    """Training steps as a tqdm bar (``desc``: the algorithm, ``"PPO"``, ``"SAC"``, ...; unit ``step``) on stderr.

    Args:
        disable: tqdm's ``disable``: True hides the bar, False shows it, None hides it when
            stderr is not a terminal.
    """

    def __init__(self, disable: bool | None = None) -> None:
        super().__init__()
        self.disable = disable
        self.bar = None

    def _on_training_start(self) -> None:
        self.bar = tqdm(total=self.locals.get("total_timesteps"), desc=type(self.model).__name__, unit="step",
                        disable=self.disable)

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


def ppo_progress_callback(disable: bool | None = None) -> TqdmProgress:
    """A callback showing an agent's training (any algorithm) as a tqdm bar (steps) on stderr.

    Args:
        disable: tqdm's ``disable`` (None: hide when stderr is not a terminal).

    Returns:
        a :class:`TqdmProgress` (a stable-baselines3 ``BaseCallback``).
    """
    return TqdmProgress(disable=disable)
