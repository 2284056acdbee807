"""Weights on the simplex and the combinations they make: the one home of each weight formula.

* :func:`action_to_weights`: an agent's action in ``[-1, 1]^M`` to weights,
  ``softmax(temperature * action)``;
* :func:`horizon_profile` and :func:`action_to_step_weights`: an action of ``K`` knots x ``M``
  models to weights per horizon step ``(H, M)``, the knots' logits interpolated linearly
  along the horizon (``K = 1``: the same weights at every step);
* :func:`equal_weights`: ``1 / M`` each, the reference every composer is measured against;
* :func:`shrink` and :func:`compose_weights`: pulling learned weights toward pooled and
  equal weights (partial pooling and shrinkage; Stock & Watson 2004 on the forecast
  combination puzzle);
* :func:`weighted_forecasts`: the weighted sum of the pool's forecasts, NaN-aware, and
  :func:`weighted_sum`, its all-finite fast path; both take weights for the whole horizon
  ``(..., M)`` or per step ``(..., H, M)``.

Shapes: ``M`` models, ``H`` horizon steps, ``K`` knots; leading axes (series ``S``, origins
``O``) are free and broadcast.
"""

from __future__ import annotations

import numpy as np


def action_to_weights(action: np.ndarray, temperature: float) -> np.ndarray:
    """Map actions in ``[-1, 1]`` to weights on the simplex: ``softmax(temperature * action)``.

    Args:
        action: shape ``(..., M)``; values outside ``[-1, 1]`` are clipped, NaN counts as 0.
        temperature: > 0; larger values let an action concentrate more weight on one model.

    Returns:
        float64 array of the shape of ``action``; non-negative, summing to 1 along the last
        axis, never NaN. A uniform action gives exactly equal weights.
    """
    a = np.clip(np.nan_to_num(np.asarray(action, dtype=np.float64)), -1.0, 1.0) * float(temperature)
    z = np.exp(a - a.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def horizon_profile(horizon: int, knots: int) -> np.ndarray:
    """Linear interpolation from ``K`` knots, evenly spaced over the horizon, to its ``H`` steps.

    Knot ``j`` sits at relative position ``j / (K - 1)`` and step ``h`` (0-based) at
    ``h / (H - 1)`` (``0`` for ``H = 1``); each step's value is the linear interpolation of
    the two knots around it. The map does not depend on ``H`` in relative terms, so one
    action means the same thing for any horizon (what a policy trained on several panels needs).

    Args:
        horizon: ``H`` >= 1.
        knots: ``K`` >= 1 (``K = 1``: every step takes the one knot's value).

    Returns:
        float64 ``(H, K)``, rows non-negative and summing to 1.
    """
    pos = np.linspace(0.0, 1.0, horizon) if horizon > 1 else np.zeros(1)
    if knots == 1:
        return np.ones((horizon, 1))
    x = pos * (knots - 1)
    lo = np.minimum(np.floor(x).astype(int), knots - 2)
    frac = x - lo
    out = np.zeros((horizon, knots))
    out[np.arange(horizon), lo] = 1.0 - frac
    out[np.arange(horizon), lo + 1] = frac
    return out


def action_to_step_weights(action: np.ndarray, temperature: float, horizon: int, knots: int) -> np.ndarray:
    """Map actions of ``K`` knots to weights per horizon step: a softmax at each step.

    The action ``(..., K * M)`` is read as ``K`` blocks of ``M`` (knot-major); the logits
    ``temperature * action`` of the knots are interpolated along the horizon
    (:func:`horizon_profile`) and each step's logits go through a softmax. With ``K = 1`` every
    step gets :func:`action_to_weights` of the action; with equal blocks, the same holds for any ``K``.

    Args:
        action: ``(..., K * M)``; clipped to ``[-1, 1]``, NaN counts as 0.
        temperature: > 0.
        horizon: ``H`` >= 1; knots: ``K`` >= 1.

    Returns:
        float64 ``(..., H, M)``, non-negative and summing to 1 over the last axis, never NaN.

    Raises:
        ValueError: the action's last axis is not a multiple of ``knots``.
    """
    a = np.clip(np.nan_to_num(np.asarray(action, dtype=np.float64)), -1.0, 1.0)
    if a.shape[-1] % knots:
        raise ValueError(f"an action of {a.shape[-1]} entries is not {knots} knots of the same size")
    a = a.reshape(*a.shape[:-1], knots, a.shape[-1] // knots)          # (..., K, M)
    logits = np.matmul(horizon_profile(horizon, knots), a) * float(temperature)   # (..., H, M)
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def equal_weights(shape: tuple[int, ...]) -> np.ndarray:
    """Equal weights, float64 of ``shape`` (``(..., M)``), each ``1 / M``.

    Args:
        shape: e.g. ``(S, O, M)``.
    """
    return np.full(shape, 1.0 / shape[-1])


def shrink(weights: np.ndarray, s: float) -> np.ndarray:
    """``(1 - s) * weights + s / M`` over the last axis (stays on the simplex for ``s`` in ``[0, 1]``)."""
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


def weighted_sum(weights: np.ndarray, forecasts: np.ndarray) -> np.ndarray:
    """Weighted sum over the model axis of forecasts that are all finite.

    The environments' fast path: they step only origins whose forecasts are all finite, and
    there it equals :func:`weighted_forecasts` (to float rounding).

    Args:
        weights: ``(..., M)`` for the whole horizon, or ``(..., H, M)`` per step (an array
            with as many axes as ``forecasts``).
        forecasts: ``(..., M, H)``, finite.

    Returns:
        float64 ``(..., H)``.
    """
    w = np.asarray(weights, dtype=np.float64)
    f = np.asarray(forecasts, dtype=np.float64)
    if w.ndim == f.ndim:                                              # per step: sum_m w[h, m] f[m, h]
        return np.sum(np.swapaxes(w, -1, -2) * f, axis=-2)
    return np.matmul(w[..., None, :], f)[..., 0, :]


def weighted_forecasts(weights: np.ndarray, forecasts: np.ndarray) -> np.ndarray:
    """Weighted sum of forecasts over the model axis, leaving out non-finite forecasts.

    Args:
        weights: ``(..., M)`` on the simplex, or ``(..., H, M)`` per step (as many axes as
            ``forecasts``).
        forecasts: ``(..., M, H)``.

    Returns:
        float64 ``(..., H)``. Where a model's forecast is NaN the weights of the others are
        renormalised; where every weighted forecast is NaN (an origin that does not exist)
        the result is NaN.
    """
    f = np.asarray(forecasts, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    w = np.swapaxes(w, -1, -2) if w.ndim == f.ndim else w[..., None]
    fin = np.isfinite(f)
    num = np.sum(w * np.where(fin, f, 0.0), axis=-2)
    den = np.sum(w * fin, axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
