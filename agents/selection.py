"""Choose how far the PPO composer's weights may move from pooled and equal weights, on the training data.

Learned combination weights often lose to the plain average out of sample (the "forecast
combination puzzle": Stock & Watson 2004; Smith & Wallis 2009; Claeskens et al. 2016):
weights fitted to a few noisy backtest errors overshoot. The standard remedy is shrinkage.
Two targets are used, as in partial pooling: the policy's own weights averaged over every
series and origin it was trained on (``pooled``, ``(M,)``: what the policy learned about the
pool as a whole), and equal weights ``1 / M``:

    ``w = (1 - s) * ((1 - p) * w_policy + p * pooled) + s / M``

(:func:`compose_weights`). ``p`` (pooling) and ``s`` (shrinkage) are chosen here the way the
real forecast is made, one horizon earlier, inside the training data:

* the *validation origin* is the last backtest origin (index ``O - 2``: its horizon ends
  where the training data end), playing the final origin;
* the agent is trained on the backtest origins whose horizons end at or before the
  validation origin (``o_k + H <= o_val``), so no target it learns from lies after it;
* each ``(p, s)`` in the grid is scored by the error of the composed forecast at the validation
  origin, in the agent's reward metric (MASE or sMAPE), and the best pair is found (on a tie,
  the larger ``s``, then the larger ``p``);
* the best pair is kept only if it beats equal weights *significantly*: a one-sided paired
  t-test over the validation series (a cross-sectional Diebold-Mariano comparison, Diebold &
  Mariano 1995) at level ``alpha`` (0.05 by default); otherwise equal weights are used. One
  validation origin is little evidence, and a grid minimum is biased toward the grid's
  learned end, so a gain within noise is not taken (the combination puzzle again).

Nothing after the training data is used (M3's test part never). Observed on M3 yearly: a
validation origin whose horizon overlaps the training origins' targets favoured the
policy by 8% while the policy lost to equal weights out of sample, hence the gap. On that clean
validation origin (seed 0, 100k steps), the per-series weights scored MASE 3.480 / 1.112 /
0.892 / 1.831 on yearly / quarterly / monthly / other, the pooled weights 3.278 / 1.081 /
0.855 / 1.883 and equal weights 3.297 / 1.101 / 0.860 / 1.946: per-series weights won only on
other, pooled weights beat equal weights everywhere, hence the second target. In the seed-0
benchmark run the guard's one-sided p-values were 0.052 on yearly (pooled vs equal weights,
MASE 3.276 vs 3.297 over 645 series: equal weights kept) and 0.0002 / 0.0001 / 0.004 on
quarterly / monthly / other (learned weights kept); over seeds 0-4 the guard kept equal
weights on yearly for 4 seeds of 5, where the pooled weights had lost to them on the test
part in every seed (see ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from metacompose.agents.base import weighted_forecasts
from metacompose.cube import ForecastCube
from metacompose.envs.ensemble_weights import REWARD_METRICS
from metacompose.errors import InputError
from metacompose.metrics import check_alpha, improvement_p_value, mase, smape

SHRINKAGE_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
POOLING_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
DEFAULT_ALPHA = 0.05


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


def compose_weights(weights: np.ndarray, pooled: np.ndarray | None, pooling: float, s: float) -> np.ndarray:
    """``(1 - s) * ((1 - pooling) * weights + pooling * pooled) + s / M`` over the last axis.

    Args:
        weights: per-series weights ``(..., M)`` on the simplex.
        pooled: ``(M,)`` weights on the simplex (None: ``pooling`` must be 0).
        pooling, s: amounts in ``[0, 1]``.

    Returns:
        float64 weights of the shape of ``weights``, on the simplex.
    """
    w = np.asarray(weights, dtype=np.float64)
    if pooling:
        w = (1.0 - pooling) * w + pooling * np.asarray(pooled, dtype=np.float64)
    return shrink(w, s)


class Selection(NamedTuple):
    """What :func:`choose_shrinkage` chose and why.

    Attributes:
        choice: ``(pooling, shrinkage)`` to use at the final origin.
        scores: every pair's mean validation error (``metric`` units), keyed by ``(pooling, shrinkage)``.
        best: the pair with the lowest mean error.
        p_value: one-sided p-value of the paired t-test "``best`` is more accurate than equal
            weights" over the validation series (1.0 when ``best`` is equal weights).
    """

    choice: tuple[float, float]
    scores: dict[tuple[float, float], float]
    best: tuple[float, float]
    p_value: float


def _errors(actual: np.ndarray, comp: np.ndarray, scale: np.ndarray, metric: str) -> np.ndarray:
    """Per-series mean error over the horizon, ``(S',)``: MASE (``scale`` units) or sMAPE (percent)."""
    if metric == "smape":
        return smape(actual, comp, axis=1)
    return mase(actual, comp, scale[:, None], axis=1)


def choose_shrinkage(policy_weights: np.ndarray, sub: ForecastCube, actual: np.ndarray, mask: np.ndarray,
                     grid=SHRINKAGE_GRID, pooled: np.ndarray | None = None, pooling_grid=POOLING_GRID,
                     metric: str = "mase", alpha: float | None = DEFAULT_ALPHA) -> Selection:
    """Score each ``(pooling, shrinkage)`` pair on the validation origin; keep equal weights
    unless the best pair beats them significantly.

    Args:
        policy_weights: ``(S, M)`` the policy's weights at the sub-cube's final origin.
        sub, actual, mask: from :func:`validation_split`.
        grid: shrinkage values (toward equal weights) in ``[0, 1]``.
        pooled: the policy's pooled weights ``(M,)``; None scores pooling 0 only.
        pooling_grid: pooling values (toward ``pooled``) in ``[0, 1]``.
        metric: ``"mase"`` (``origin_scales`` units) or ``"smape"`` (percent), the error
            each pair is scored by (the agent passes its reward metric).
        alpha: significance level of the guard: the best pair is kept only when a one-sided
            paired t-test (:func:`scipy.stats.ttest_rel`) over the validation series rejects
            "no more accurate than equal weights" at this level; otherwise equal weights
            ``(0, 1)`` are chosen. None: no guard, the best pair is always kept.

    Returns:
        a :class:`Selection`. The best pair is the one with the lowest mean error (on a tie
        the larger shrinkage, then the larger pooling).

    Raises:
        InputError: ``metric`` is not ``"mase"`` or ``"smape"``, or ``alpha`` is not in ``(0, 1)``.
    """
    if metric not in REWARD_METRICS:
        raise InputError(f"metric must be one of {REWARD_METRICS}, got {metric!r}")
    check_alpha(alpha)
    f = sub.forecasts[mask, -1].astype(np.float64)                      # (S', M, H)
    scale = sub.origin_scales[mask, -1].astype(np.float64)
    y = actual[mask]
    errors = {}
    for p in (pooling_grid if pooled is not None else (0.0,)):
        for s in grid:
            comp = weighted_forecasts(compose_weights(policy_weights[mask], pooled, p, s), f)
            errors[(float(p), float(s))] = _errors(y, comp, scale, metric)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = {ps: float(np.nanmean(e)) for ps, e in errors.items()}
        best = min(sorted(scores, key=lambda ps: (-ps[1], -ps[0])), key=lambda ps: scores[ps])
        equal = _errors(y, weighted_forecasts(shrink(policy_weights[mask], 1.0), f), scale, metric)
        p_value = improvement_p_value(equal, errors[best]) if best[1] < 1.0 else 1.0
    choice = best if alpha is None or p_value < alpha else (0.0, 1.0)
    return Selection(choice, scores, best, p_value)
