"""Weights on the simplex and the combinations they make: the one home of each weight formula.

* :func:`action_to_weights`: an agent's action in ``[-1, 1]^M`` to weights,
  ``softmax(temperature * action)``;
* :func:`equal_weights`: ``1 / M`` each, the reference every composer is measured against;
* :func:`shrink` and :func:`compose_weights`: pulling learned weights toward pooled and
  equal weights (partial pooling and shrinkage; Stock & Watson 2004 on the forecast
  combination puzzle);
* :func:`weighted_forecasts`: the weighted sum of the pool's forecasts, NaN-aware, and
  :func:`weighted_sum`, its all-finite fast path.

Shapes: ``M`` models, ``H`` horizon steps; leading axes (series ``S``, origins ``O``) are
free and broadcast.
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
    """Weighted sum over the model axis of forecasts that are all finite (one ``matmul``).

    The environments' fast path: they step only origins whose forecasts are all finite, and
    there it equals :func:`weighted_forecasts` (to float rounding).

    Args:
        weights: ``(..., M)``.
        forecasts: ``(..., M, H)``, finite.

    Returns:
        float64 ``(..., H)``.
    """
    w = np.asarray(weights, dtype=np.float64)
    return np.matmul(w[..., None, :], np.asarray(forecasts, dtype=np.float64))[..., 0, :]


def weighted_forecasts(weights: np.ndarray, forecasts: np.ndarray) -> np.ndarray:
    """Weighted sum of forecasts over the model axis, leaving out non-finite forecasts.

    Args:
        weights: ``(..., M)`` on the simplex.
        forecasts: ``(..., M, H)``.

    Returns:
        float64 ``(..., H)``. Where a model's forecast is NaN the weights of the others are
        renormalised; where every weighted forecast is NaN (an origin that does not exist)
        the result is NaN.
    """
    f = np.asarray(forecasts, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)[..., None]
    fin = np.isfinite(f)
    num = np.sum(w * np.where(fin, f, 0.0), axis=-2)
    den = np.sum(w * fin, axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
