"""Baseline composers: equal weights, median, best single model, inverse error.

Each uses, at origin ``k``, only the errors known there (the steps of past forecasts whose
target position is before the origin; see :func:`metacompose.history.past_errors`).
Without any known error (a series' first origin) the selection and inverse-error
baselines fall back to equal weights.
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np

from metacompose.agents.base import CompositionAgent, check_cube
from metacompose.checks import check_number, check_optional_int
from metacompose.combine import equal_weights
from metacompose.cube import ForecastCube
from metacompose.history import past_error_table


class EqualWeights(CompositionAgent):
    """The equal-weight combination (the simple average of the pool): ``1 / M`` each."""

    name = "equal"

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, M)`` filled with ``1 / M``."""
        return equal_weights(check_cube(cube).shape[:3])


class Median(CompositionAgent):
    """The median of the pool's forecasts, step by step.

    ``combine`` returns the exact median over models (NaN forecasts left out). ``weights``
    describes it: the share of the horizon steps at which each model's forecast is the
    median (with an even ``M``, the two middle models share each step), so the rows are on
    the simplex, but ``weights @ forecasts`` is not the median in general.
    """

    name = "median"

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, M)``: share of horizon steps at which each model is the median."""
        check_cube(cube)
        f = cube.forecasts.astype(np.float64)                           # (S, O, M, H)
        S, O, M, H = f.shape
        n = np.isfinite(f).sum(axis=2, keepdims=True)                   # (S, O, 1, H)
        order = np.argsort(np.where(np.isfinite(f), f, np.inf), axis=2, kind="stable")
        order = np.argsort(order, axis=2, kind="stable")                # rank of each model per step
        lo, hi = (n - 1) // 2, n // 2
        mid = ((order == lo).astype(np.float64) + (order == hi)) / 2.0
        mid = np.where(n > 0, mid, 0.0).sum(axis=3)                     # (S, O, M)
        tot = mid.sum(axis=2, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(tot > 0, mid / np.where(tot > 0, tot, 1.0), 1.0 / M)
        return w

    def combine(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, H)``: median over models; NaN where the origin does not exist."""
        check_cube(cube)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(cube.forecasts.astype(np.float64), axis=2)


class BestSingle(CompositionAgent):
    """Selection: all weight on the model with the lowest mean past error known at the origin.

    The error is the mean absolute scaled error (MASE units) over the known steps of the
    series' past backtest forecasts (the last ``history`` origins, or all). Ties go to the
    model listed first; without any known error the weights are equal.

    Args:
        history: how many recent past origins to average over (``None``: all).
    """

    name = "best"
    param_checks = {"history": check_optional_int}

    def __init__(self, history: int | None = None) -> None:
        self._set_params(locals())

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, M)``: one-hot rows (equal rows where nothing is known yet)."""
        check_cube(cube)
        err, n = past_error_table(cube, self.history)
        M = cube.shape[2]
        best = np.argmin(np.where(np.isfinite(err), err, np.inf), axis=2)
        w = np.eye(M)[best]
        known = (n > 0) & np.isfinite(err).any(axis=2)
        return np.where(known[..., None], w, 1.0 / M)


class InverseError(CompositionAgent):
    """Weights proportional to ``1 / error ** power`` of the mean past error known at the origin.

    Args:
        history: how many recent past origins to average over (``None``: all).
        power: exponent of the inverse (1: inverse error; 2: inverse squared error).
    """

    name = "inverse_error"
    param_checks = {"history": check_optional_int,
                    "power": partial(check_number, low=0.0, low_open=True)}

    def __init__(self, history: int | None = None, power: float = 1.0) -> None:
        self._set_params(locals())

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, M)``; models without a known error get none; equal rows where none is known."""
        check_cube(cube)
        err, _ = past_error_table(cube, self.history)
        M = cube.shape[2]
        inv = np.where(np.isfinite(err), 1.0 / (np.maximum(err, 0.0) + 1e-8) ** self.power, 0.0)
        tot = inv.sum(axis=2, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tot > 0, inv / np.where(tot > 0, tot, 1.0), 1.0 / M)
