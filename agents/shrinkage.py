"""Choose how far the PPO composer's weights may move from pooled and equal weights, on the training data.

Learned combination weights often lose to the plain average out of sample (the "forecast
combination puzzle": Stock & Watson 2004; Smith & Wallis 2009; Claeskens et al. 2016):
weights fitted to a few noisy backtest errors overshoot. The standard remedy is shrinkage.
Two targets are used, as in partial pooling: the policy's own weights averaged over every
series and origin it was trained on (``pooled``, ``(M,)``: what the policy learned about the
pool as a whole), and equal weights ``1 / M``:

    ``w = (1 - s) * ((1 - p) * w_policy + p * pooled) + s / M``

(:func:`metacompose.combine.compose_weights`). ``p`` (pooling) and ``s`` (shrinkage) are
chosen here the way the real forecast is made, one horizon earlier, inside the training data
(:func:`metacompose.history.validation_split`):

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

Nothing after the training data is used (M3's test part never). Why the validation origin
keeps a gap of one horizon, why pooled weights are a target, and what the guard decided on
M3: ``benchmarks/RESULTS.md``, accuracy notes.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from metacompose.combine import compose_weights, shrink, weighted_forecasts
from metacompose.cube import ForecastCube
from metacompose.metrics import check_alpha, check_metric, horizon_errors, improvement_p_value

SHRINKAGE_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
POOLING_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
DEFAULT_ALPHA = 0.05


class ShrinkageChoice(NamedTuple):
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


def choose_shrinkage(policy_weights: np.ndarray, sub: ForecastCube, actual: np.ndarray, mask: np.ndarray,
                     grid=SHRINKAGE_GRID, pooled: np.ndarray | None = None, pooling_grid=POOLING_GRID,
                     metric: str = "mase", alpha: float | None = DEFAULT_ALPHA) -> ShrinkageChoice:
    """Score each ``(pooling, shrinkage)`` pair on the validation origin; keep equal weights
    unless the best pair beats them significantly.

    Args:
        policy_weights: ``(S, M)`` the policy's weights at the sub-cube's final origin, or
            ``(S, H, M)`` per horizon step.
        sub, actual, mask: from :func:`metacompose.history.validation_split`.
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
        a :class:`ShrinkageChoice`. The best pair is the one with the lowest mean error (on a tie
        the larger shrinkage, then the larger pooling).

    Raises:
        InputError: ``metric`` is not ``"mase"`` or ``"smape"``, or ``alpha`` is not in ``(0, 1)``.
    """
    return choose_shrinkage_panels([(policy_weights, sub, actual, mask)], grid, pooled, pooling_grid, metric, alpha)


def _pair_errors(policy_weights, sub, actual, mask, grid, pooled, pooling_grid, metric):
    """Per-series validation errors of every ``(pooling, shrinkage)`` pair and of equal weights, on one sub-cube."""
    f = sub.forecasts[mask, -1].astype(np.float64)                      # (S', M, H)
    scale = sub.origin_scales[mask, -1].astype(np.float64)
    y = actual[mask]
    errors = {}
    for p in (pooling_grid if pooled is not None else (0.0,)):
        for s in grid:
            comp = weighted_forecasts(compose_weights(policy_weights[mask], pooled, p, s), f)
            errors[(float(p), float(s))] = horizon_errors(y, comp, scale[:, None], metric)
    equal = horizon_errors(y, weighted_forecasts(shrink(policy_weights[mask], 1.0), f), scale[:, None], metric)
    return errors, equal


def choose_shrinkage_panels(parts, grid=SHRINKAGE_GRID, pooled: np.ndarray | None = None,
                            pooling_grid=POOLING_GRID, metric: str = "mase",
                            alpha: float | None = DEFAULT_ALPHA) -> ShrinkageChoice:
    """:func:`choose_shrinkage` over the validation series of several panels at once (cross-learning).

    Args:
        parts: a list of ``(policy_weights, sub, actual, mask)``, one per panel, each as
            :func:`choose_shrinkage` takes them; the panels' validation series are pooled, so
            each pair's score is the mean error over all of them and the guard's t-test runs
            over all of them.
        grid, pooled, pooling_grid, metric, alpha: as :func:`choose_shrinkage`.

    Returns and Raises: as :func:`choose_shrinkage`.
    """
    check_metric(metric)
    check_alpha(alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        found = [_pair_errors(*part, grid, pooled, pooling_grid, metric) for part in parts]
        errors = {ps: np.concatenate([e[ps] for e, _ in found]) for ps in found[0][0]}
        equal = np.concatenate([eq for _, eq in found])
        scores = {ps: float(np.nanmean(e)) for ps, e in errors.items()}
        best = min(sorted(scores, key=lambda ps: (-ps[1], -ps[0])), key=lambda ps: scores[ps])
        p_value = improvement_p_value(equal, errors[best]) if best[1] < 1.0 else 1.0
    choice = best if alpha is None or p_value < alpha else (0.0, 1.0)
    return ShrinkageChoice(choice, scores, best, p_value)
