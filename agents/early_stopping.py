"""Early stopping of an agent's training on a cube: score the deterministic policy on every training origin at once."""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback


class EarlyStopping(BaseCallback):
    """Stop training (any stable-baselines3 algorithm) when the deterministic policy's mean training
    reward stops rising; keep the best policy.

    Every ``eval_freq`` environment steps the callback runs the policy's deterministic
    (mean) action on the observations of every backtest origin of the training series,
    ``K`` of them, in one batch, and averages the rewards those actions earn
    (:meth:`~metacompose.envs.vec_env.CubeVecEnv.rewards`, the same reward as the
    environment's). No episode is stepped, so a score costs one forward pass. The best policy is
    the whole ``model.policy`` ``state_dict`` (with SAC, TD3 and DDPG, the critics and target
    networks too); the optimizers and a replay buffer are left as they are.

    Args:
        scorer: a :class:`~metacompose.envs.vec_env.CubeVecEnv` over the training series.
        eval_freq: environment steps between scores.
        patience: scores in a row without improvement before training stops (>= 1).
        min_improvement: smallest rise of the mean reward that counts as an improvement.

    Attributes:
        history_: ``[(timesteps, mean reward), ...]``, one entry per score.
        best_: the best mean reward seen.
    """

    def __init__(self, scorer, eval_freq: int, patience: int, min_improvement: float = 1e-4) -> None:
        super().__init__(verbose=0)
        self.scorer, self.eval_freq, self.patience = scorer, int(eval_freq), int(patience)
        self.min_improvement = float(min_improvement)
        self.index = scorer.train_origins()                 # ((K,), (K,)) series and origin indices
        self.obs = scorer.observations(*self.index)         # (K, D)
        self.history_: list[tuple[int, float]] = []
        self.best_ = -np.inf
        self._best_state: dict | None = None
        self._bad, self._next = 0, int(eval_freq)

    def score(self) -> float:
        """Mean reward (float) of the current deterministic policy over every training origin."""
        act, _ = self.model.policy.predict(self.obs, deterministic=True)
        return float(np.mean(self.scorer.rewards(*self.index, np.clip(act, -1.0, 1.0))))

    def _on_step(self) -> bool:
        if self.num_timesteps < self._next:
            return True
        self._next = self.num_timesteps + self.eval_freq
        r = self.score()
        self.history_.append((int(self.num_timesteps), r))
        if self._best_state is None or r > self.best_ + self.min_improvement:
            self.best_, self._bad = max(r, self.best_), 0
            self._best_state = {k: v.detach().clone() for k, v in self.model.policy.state_dict().items()}
            return True
        self._bad += 1
        return self._bad < self.patience

    def restore_best(self) -> None:
        """Load the best-scoring policy's weights into the model when the final policy scores lower."""
        if self._best_state is not None and self.model is not None and self.score() < self.best_:
            self.model.policy.load_state_dict(self._best_state)
