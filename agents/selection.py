"""Choose how far the PPO composer's weights may move from equal weights, on the training data.

Learned combination weights often lose to the plain average out of sample (the "forecast
combination puzzle": Stock & Watson 2004; Smith & Wallis 2009; Claeskens et al. 2016):
weights fitted to a few noisy backtest errors overshoot. The standard remedy is shrinkage
toward equal weights, ``w = (1 - s) * w_policy + s / M``; the amount ``s`` is chosen here the
way the real forecast is made, one horizon earlier, inside the training data:

* the *validation origin* is the last backtest origin (index ``O - 2``: its horizon ends
  where the training data end), playing the final origin;
* the agent is trained on the backtest origins whose horizons end at or before the
  validation origin (``o_k + H <= o_val``), so no target it learns from lies after it;
* each ``s`` in the grid is scored by the MASE of the composed forecast at the validation
  origin, and the best one (the larger on a tie) is kept.

Nothing after the training data is used (M3's test part never). Observed on M3 yearly: a
validation origin whose horizon overlaps the training origins' targets favoured the
policy by 8% while the policy lost to equal weights out of sample, hence the gap.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np

from metacompose.agents.base import weighted_forecasts
from metacompose.cube import ForecastCube

SHRINKAGE_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)


def validation_split(cube: ForecastCube) -> tuple[ForecastCube, np.ndarray, np.ndarray] | None:
    """The sub-cube that replays the forecasting task one horizon earlier.

    Returns:
        ``(sub, actual, mask)``: a cube of the origins ``k`` with ``k <= O - 2 - ceil(H / step)``
        followed by the validation origin ``O - 2`` as its final origin (actuals NaN there),
        the validation actuals float64 ``(S, H)``, and bool ``(S,)``: series whose validation
        origin exists with fully known actuals. None when there is no such training origin
        or no series to score.
    """
    S, O, M, H = cube.shape
    if O < 3:
        return None
    k_val = O - 2
    org = cube.origins
    step = int(cube.meta.get("step", 0) or 0)
    if step <= 0:
        diffs = org[:, 1:k_val + 1] - org[:, :k_val]
        diffs = diffs[(org[:, 1:k_val + 1] >= 0) & (org[:, :k_val] >= 0)]
        step = int(np.median(diffs)) if diffs.size else H
    gap = math.ceil(H / max(1, step))
    train_idx = list(range(0, k_val - gap + 1))
    if not train_idx:
        return None
    idx = np.array(train_idx + [k_val])
    actual = cube.actuals[:, k_val].astype(np.float64)
    mask = cube.valid[:, k_val] & np.isfinite(actual).all(axis=1)
    sub_actuals = cube.actuals[:, idx].copy()
    sub_actuals[:, -1] = np.nan
    sub = replace(
        cube, forecasts=cube.forecasts[:, idx], actuals=sub_actuals, origin_scales=cube.origin_scales[:, idx],
        origins=cube.origins[:, idx], features=cube.features[:, idx], failed=cube.failed[:, idx],
        meta={**cube.meta, "step": step},
    )
    if not mask.any() or not sub.train_valid.any():
        return None
    return sub, actual, mask


def shrink(weights: np.ndarray, s: float) -> np.ndarray:
    """``(1 - s) * weights + s / M`` over the last axis (stays on the simplex for ``s`` in [0, 1])."""
    return (1.0 - s) * weights + s / weights.shape[-1]


def choose_shrinkage(policy_weights: np.ndarray, sub: ForecastCube, actual: np.ndarray, mask: np.ndarray,
                     grid=SHRINKAGE_GRID) -> tuple[float, dict[float, float]]:
    """Score each shrinkage on the validation origin.

    Args:
        policy_weights: ``(S, M)`` the policy's weights at the sub-cube's final origin.
        sub, actual, mask: from :func:`validation_split`.
        grid: shrinkage values in ``[0, 1]``.

    Returns:
        ``(best, scores)``: the shrinkage with the lowest mean MASE (``origin_scales`` units;
        the larger one on a tie) and every value's score.
    """
    f = sub.forecasts[mask, -1].astype(np.float64)                      # (S', M, H)
    scale = sub.origin_scales[mask, -1].astype(np.float64)[:, None]
    scores = {}
    for s in grid:
        comp = weighted_forecasts(shrink(policy_weights[mask], s), f)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            scores[float(s)] = float(np.nanmean(np.abs(actual[mask] - comp) / scale))
    best = min(sorted(scores, reverse=True), key=lambda s: scores[s])
    return best, scores
