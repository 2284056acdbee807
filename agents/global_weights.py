"""One weight vector for the whole panel (optionally one per horizon step), fitted on the backtest.

The classical "optimal" linear combination of forecasts (Bates & Granger 1969, "The combination
of forecasts", OR 20(4), 451-468; Granger & Ramanathan 1984, "Improved methods of combining
forecasting", J. Forecasting 3(2), 197-204, with weights constrained to the simplex) with the
panel's own error metric as the loss: the weights minimise the mean backtest error of the
combined forecast over every series and backtest origin,

    ``w* = argmin_{w in simplex} mean_{s, o in backtest} err(y_{s,o}, sum_m w_m f_{s,o,m})``

where ``err`` is :func:`metacompose.metrics.reward_errors` (MASE over the origin's scale, or
sMAPE as a fraction), solved by SLSQP (:func:`scipy.optimize.minimize`; Kraft 1988) on the
simplex from equal weights, with finite-difference gradients (so the metric's formula stays in
:mod:`metacompose.metrics`). Both metrics are means over horizon steps of pointwise errors,
so ``per_step=True`` (one vector per step ``h``) is ``H`` separate problems of the same kind.

One vector for many series is the "global" end of the pooling spectrum: it cannot adapt to a
series, but it has only ``M - 1`` (or ``H (M - 1)``) free parameters for ``S x O`` backtest
forecasts, so it overfits far less than per-series weights (Smith & Wallis 2009, "A simple
explanation of the forecast combination puzzle", OBES 71(3), 331-355).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from scipy.optimize import minimize

from metacompose.agents.base import CompositionAgent, check_cube
from metacompose.checks import check_int
from metacompose.combine import equal_weights
from metacompose.cube import ForecastCube
from metacompose.errors import InputError, NotFittedError
from metacompose.history import known_scales, steppable_origins
from metacompose.metrics import check_metric, reward_errors


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def mean_error(w: np.ndarray, forecasts: np.ndarray, actuals: np.ndarray, scales: np.ndarray, metric: str) -> float:
    """Mean error of the combination ``w`` over rows and steps, in reward units.

    Args:
        w: ``(M,)`` weights.
        forecasts: ``(N, M, H)``; actuals: ``(N, H)``; scales: ``(N,)`` MASE scales.
        metric: ``"mase"`` (MASE) or ``"smape"`` (sMAPE as a fraction, ``REWARD_UNITS``).

    Returns:
        the mean over the ``N`` rows of :func:`metacompose.metrics.reward_errors` (NaN rows left out).
    """
    yhat = np.einsum("nmh,m->nh", forecasts, w)
    e = reward_errors(actuals, yhat, scales[:, None], metric)
    return float(np.nanmean(e))


def fit_simplex(forecasts: np.ndarray, actuals: np.ndarray, scales: np.ndarray, metric: str,
                maxiter: int = 200) -> tuple[np.ndarray, float, float]:
    """The weights on the simplex that minimise :func:`mean_error`, by SLSQP from equal weights.

    Args:
        forecasts: ``(N, M, H)`` finite; actuals: ``(N, H)`` finite; scales: ``(N,)`` positive.
        metric: ``"mase"`` or ``"smape"``.
        maxiter: SLSQP iterations at most.

    Returns:
        ``(w, error_equal, error_fitted)``: float64 ``(M,)`` on the simplex, and the mean error
        (reward units) of equal weights and of ``w``. When the solver does not improve on
        equal weights (or fails), ``w`` is equal weights.
    """
    M = forecasts.shape[1]
    w0 = np.full(M, 1.0 / M)
    err = partial(mean_error, forecasts=forecasts, actuals=actuals, scales=scales, metric=metric)
    e0 = err(w0)
    res = minimize(err, w0, method="SLSQP", bounds=[(0.0, 1.0)] * M,
                   constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1.0, "jac": lambda w: np.ones_like(w)}],
                   options={"maxiter": int(maxiter), "ftol": 1e-10})
    w = np.clip(np.nan_to_num(np.asarray(res.x, dtype=np.float64)), 0.0, None)
    if not w.sum() > 0:
        return w0, e0, e0
    w = w / w.sum()
    e = err(w)
    return (w, e0, e) if e < e0 else (w0, e0, e0)


class GlobalWeights(CompositionAgent):
    """One weight vector on the simplex for every series and origin, fitted on the backtest.

    ``fit`` minimises the mean backtest error of the combination (``metric``, over the origins
    of :func:`metacompose.history.steppable_origins`: backtest origins with fully known actuals
    and finite forecasts; MASE over the scale known at each origin) from equal weights; see the
    module notes. The final origin's actuals are never used, so the weights at the final origin
    of a training cube come from backtest errors only; at the *intermediate* origins of the same
    cube the fitted vector has seen the errors of later origins (as for every agent fitted on the
    whole backtest, e.g. :class:`~metacompose.agents.fforma.FFORMA`), so backtest scores of
    this agent on its own training cube are in-sample.

    With ``per_step=True`` one vector per horizon step is fitted (``step_weights_``, ``(H, M)``);
    ``weights`` then returns their mean over the steps (a row on the simplex for the contract's
    ``(S, O, M)``), while ``step_weights`` (and so ``combine``) gives each step its own vector.

    Args:
        per_step: one weight vector per horizon step instead of one for the whole horizon.
        metric: ``"mase"`` (MASE) or ``"smape"`` (sMAPE), the error minimised.
        maxiter: SLSQP iterations at most (per vector).

    Attributes (after ``fit``):
        step_weights_: float64 ``(1, M)``, or ``(H, M)`` with ``per_step``.
        fit_errors_: ``{"equal": e0, "fitted": e}``, the mean backtest error (reward units: MASE,
            or sMAPE as a fraction) of equal weights and of the fitted weights.

    Raises:
        InputError: a bad ``per_step``, ``metric`` or ``maxiter``.
    """

    name = "global_weights"
    param_checks = {"per_step": _check_bool, "metric": check_metric, "maxiter": check_int}

    def __init__(self, per_step: bool = False, metric: str = "mase", maxiter: int = 200) -> None:
        self._set_params(locals())

    def fit(self, cube: ForecastCube) -> "GlobalWeights":
        """Fit the weight vector(s) on the backtest origins of ``cube``.

        Returns:
            ``self``, with ``step_weights_``, ``fit_errors_``, ``models_`` and ``horizon_``.

        Raises:
            InputError: ``cube`` is not a ForecastCube, or has no backtest origin with known
                actuals and finite forecasts.
        """
        check_cube(cube)
        mask = steppable_origins(cube)
        if not mask.any():
            raise InputError("GlobalWeights needs at least one backtest origin with known actuals and finite forecasts")
        f = cube.forecasts[mask].astype(np.float64)                 # (N, M, H)
        y = cube.actuals[mask].astype(np.float64)                   # (N, H)
        sc = known_scales(cube)[mask]                               # (N,)
        steps = [slice(h, h + 1) for h in range(cube.shape[3])] if self.per_step else [slice(None)]
        fits = [fit_simplex(f[:, :, st], y[:, st], sc, self.metric, self.maxiter) for st in steps]
        self.step_weights_ = np.stack([w for w, _, _ in fits])
        # the steps' errors are means of equal-sized parts of the whole horizon's mean
        self.fit_errors_ = {"equal": float(np.mean([e0 for _, e0, _ in fits])),
                            "fitted": float(np.mean([e for _, _, e in fits]))}
        self.models_ = list(cube.models)
        self.horizon_ = int(cube.shape[3])
        return self

    def _check_fitted(self, cube: ForecastCube) -> None:
        check_cube(cube)
        if not hasattr(self, "step_weights_"):
            raise NotFittedError("GlobalWeights: call fit(cube) before weights(cube)")
        if cube.shape[2] != self.step_weights_.shape[1]:
            raise InputError(f"GlobalWeights was fitted on {self.step_weights_.shape[1]} models "
                             f"({', '.join(self.models_)}); this cube has {cube.shape[2]}")

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, M)``: the fitted vector (with ``per_step``, the mean of the step
        vectors) at every existing origin; equal rows where the origin does not exist.

        Raises:
            NotFittedError: ``fit`` was not called.
            InputError: ``cube`` has another number of models than the fitted one.
        """
        self._check_fitted(cube)
        w = self.step_weights_.mean(axis=0)
        out = equal_weights(cube.shape[:3])
        out[cube.valid] = w
        return out

    def step_weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, H, M)``: each step's own vector (one vector for all without
        ``per_step``) at every existing origin; equal rows where the origin does not exist.

        Raises:
            NotFittedError: ``fit`` was not called.
            InputError: another number of models, or (with ``per_step``) another horizon.
        """
        self._check_fitted(cube)
        S, O, M, H = cube.shape
        if self.per_step and H != self.step_weights_.shape[0]:
            raise InputError(f"GlobalWeights(per_step=True) was fitted for horizon {self.step_weights_.shape[0]}; "
                             f"this cube's horizon is {H}")
        out = equal_weights((S, O, H, M))
        out[cube.valid] = np.broadcast_to(self.step_weights_, (H, M))
        return out

    def _state(self):
        state, _ = super()._state()
        if not hasattr(self, "step_weights_"):
            return state, {}
        state.update(horizon=self.horizon_, fit_errors=self.fit_errors_)
        return state, {"step_weights": self.step_weights_}

    def _set_state(self, state, arrays, base) -> None:
        super()._set_state(state, arrays, base)
        if "step_weights" in arrays:
            w = np.asarray(arrays["step_weights"], dtype=np.float64)
            if w.ndim != 2 or w.shape[1] != len(self.models_):
                raise ValueError("step weights do not match the pool")
            self.step_weights_ = w
            self.horizon_ = int(state["horizon"])
            self.fit_errors_ = {k: float(v) for k, v in dict(state.get("fit_errors", {})).items()}
