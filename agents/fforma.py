"""FFORMA: feature-based forecast model averaging (Montero-Manso, Athanasopoulos, Hyndman & Talagala 2020).

As published ("FFORMA: Feature-based forecast model averaging", IJF 36(1), 86-92) and in its
reference implementation (the R package M4metalearning, ``error_softmax_obj`` and
``softmax_transform``): gradient-boosted trees map the features ``x`` of a series to one score
per model, ``p_m(x)``; the weights are their softmax, ``w_m = exp(p_m) / sum_k exp(p_k)``; the
trees minimise the expected error of the weighted pick, ``L = sum_m w_m(x) e_m``, through a
custom multi-class objective whose gradient and hessian with respect to ``p_j`` are the
reference's::

    grad_j = w_j (e_j - sum_m w_m e_m)
    hess_j = e_j w_j (1 - w_j) - grad_j w_j      (the reference's bound on the true hessian)

The hessian is floored at ``1e-6``: the reference's bound can be negative when one weight
passes 1/2, which gradient boosting cannot use. The booster is LightGBM (``lightgbm.train`` with
``objective=callable``, preds and grad/hess of shape ``(N, M)``, LightGBM >= 4); the paper used
XGBoost.

What differs from the paper, and why: the paper learns from one holdout per series (the last
``h`` observations of its training part) and the errors ``e_m`` are each model's contribution to
M4's OWA (sMAPE and MASE, each over Naive2's mean). Here every backtest origin of the cube is a
training row (the features known at that origin, :attr:`ForecastCube.features`, any feature set;
the errors of the forecast made there), and ``error="owa"`` (default) uses
:func:`metacompose.metrics.owa` with the pool's mean sMAPE and mean MASE over all training rows
in place of Naive2's (Naive2 need not be in the pool); ``error="mase"`` uses MASE over the pool's
mean MASE. Rows whose errors are not all finite are left out.

Default hyperparameters: the ones M4metalearning's README gives for M4 (found there by Bayesian
optimisation): ``nrounds = 94``, ``eta = 0.5752``, ``max_depth = 14``, ``subsample = 0.9161``,
``colsample_bytree = 0.7671``; in LightGBM's names ``num_boost_round``, ``learning_rate``,
``max_depth``, ``bagging_fraction`` (every round), ``feature_fraction``; XGBoost's defaults
``min_child_weight = 1`` and ``lambda = 1`` become ``min_sum_hessian_in_leaf`` and ``lambda_l2``;
``num_leaves = 2 ** 14`` lets the depth, not LightGBM's default of 31 leaves, bound the trees.
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
from scipy.special import softmax

from metacompose.agents.base import CompositionAgent, check_cube
from metacompose.checks import check_choice, check_int, check_number
from metacompose.cube import ForecastCube
from metacompose.errors import FileFormatError, InputError, NotFittedError
from metacompose.metrics import owa

HESS_FLOOR = 1e-6


def fforma_objective(scores: np.ndarray, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and hessian of ``sum_m softmax(scores)_m * errors_m`` with respect to the scores (per row).

    Args:
        scores: float ``(N, M)``, the trees' raw scores; errors: float ``(N, M)``, >= 0.

    Returns:
        ``(grad, hess)``, float64 ``(N, M)`` each: M4metalearning's ``error_softmax_obj``, the
        hessian floored at :data:`HESS_FLOOR`.
    """
    w = softmax(np.asarray(scores, dtype=np.float64), axis=1)
    mean = (w * errors).sum(axis=1, keepdims=True)
    grad = w * (errors - mean)
    hess = errors * w * (1.0 - w) - grad * w
    return grad, np.maximum(hess, HESS_FLOOR)


class FFORMA(CompositionAgent):
    """Series features -> weights by gradient-boosted trees on the pool's backtest errors (FFORMA).

    Args:
        n_estimators: boosting rounds (M4metalearning: 94).
        learning_rate: shrinkage ``eta`` (0.5752).
        max_depth: deepest tree (14).
        num_leaves: most leaves per tree (LightGBM's own bound; default ``2 ** 14``).
        subsample: share of the rows each round draws (0.9161).
        colsample: share of the features each tree draws (0.7671).
        min_child_weight: smallest hessian sum in a leaf (XGBoost's default 1).
        reg_lambda: L2 penalty on leaf values (XGBoost's default 1).
        error: ``"owa"`` (default) or ``"mase"``: the errors ``e_m`` (see the module notes).
        seed: seed of the row and feature sampling.
        n_jobs: LightGBM threads (OpenMP; on a busy machine more than one can be far slower: 423 s
            instead of 2 s for M3 "other" with two threads on two shared cores).

    Raises:
        InputError: a count below 1, a share outside ``(0, 1]``, a negative penalty or an unknown ``error``.
    """

    name = "fforma"
    param_checks = {
        "n_estimators": check_int, "learning_rate": partial(check_number, low=0.0, low_open=True),
        "max_depth": check_int, "num_leaves": partial(check_int, low=2),
        "subsample": partial(check_number, low=0.0, high=1.0, low_open=True),
        "colsample": partial(check_number, low=0.0, high=1.0, low_open=True),
        "min_child_weight": partial(check_number, low=0.0), "reg_lambda": partial(check_number, low=0.0),
        "error": partial(check_choice, choices=("owa", "mase")), "seed": partial(check_int, low=0),
        "n_jobs": check_int,
    }

    def __init__(self, n_estimators: int = 94, learning_rate: float = 0.575188, max_depth: int = 14,
                 num_leaves: int = 2 ** 14, subsample: float = 0.9161483, colsample: float = 0.7670739,
                 min_child_weight: float = 1.0, reg_lambda: float = 1.0, error: str = "owa", seed: int = 0,
                 n_jobs: int = 1) -> None:
        self._set_params(locals())

    def _lgb_params(self, n_models: int) -> dict:
        """LightGBM's parameters (the objective is passed as a callable by :meth:`fit`)."""
        return {
            "num_class": n_models, "learning_rate": self.learning_rate, "max_depth": self.max_depth,
            "num_leaves": self.num_leaves, "bagging_fraction": self.subsample, "bagging_freq": 1,
            "feature_fraction": self.colsample, "min_sum_hessian_in_leaf": self.min_child_weight,
            "min_data_in_leaf": 1, "lambda_l2": self.reg_lambda, "seed": self.seed, "num_threads": self.n_jobs,
            "deterministic": True, "force_row_wise": True, "verbosity": -1,
        }

    def training_errors(self, cube: ForecastCube) -> tuple[np.ndarray, np.ndarray]:
        """The training rows: features and errors at every backtest origin with all errors known.

        Returns:
            ``(x float64 (N, F), e float64 (N, M))``, ``e`` as chosen by ``error`` (module notes).

        Raises:
            InputError: no backtest origin with known actuals and finite errors.
        """
        mask = cube.backtest_mask
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mase = cube.errors("mase")[mask]
            smape = cube.errors("smape")[mask] if self.error == "owa" else mase
        ok = np.isfinite(mase).all(axis=1) & np.isfinite(smape).all(axis=1)
        x, mase, smape = cube.features[mask][ok].astype(np.float64), mase[ok], smape[ok]
        if x.shape[0] == 0:
            raise InputError("FFORMA needs at least one backtest origin with known actuals and finite errors")
        ref_mase = max(float(mase.mean()), 1e-12)
        if self.error == "mase":
            return x, mase / ref_mase
        return x, owa(smape, mase, max(float(smape.mean()), 1e-12), ref_mase)

    def fit(self, cube: ForecastCube) -> "FFORMA":
        """Grow the trees on every backtest origin of ``cube`` (features known there -> errors there).

        Raises:
            InputError: ``cube`` is not a ForecastCube or has no usable backtest origin.
        """
        import lightgbm as lgb

        check_cube(cube)
        x, e = self.training_errors(cube)
        data = lgb.Dataset(x, free_raw_data=True)
        params = {**self._lgb_params(e.shape[1]), "objective": lambda preds, _: fforma_objective(preds, e)}
        self.booster_ = lgb.train(params, data, num_boost_round=self.n_estimators)
        self.models_, self.n_features_ = list(cube.models), x.shape[1]
        return self

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, M)``: softmax of the trees' scores on ``cube.features`` (known at each origin);
        equal weights at origins that do not exist.

        Raises:
            NotFittedError: ``fit`` was not called.
            InputError: ``cube`` has another number of features or models than the training cube.
        """
        check_cube(cube)
        if not hasattr(self, "booster_"):
            raise NotFittedError("FFORMA: call fit(cube) before weights(cube)")
        S, O, M, _ = cube.shape
        if cube.features.shape[2] != self.n_features_ or M != len(self.models_):
            raise InputError(f"FFORMA was fitted on {self.n_features_} features and {len(self.models_)} models; "
                             f"this cube has {cube.features.shape[2]} and {M}")
        scores = self.booster_.predict(cube.features.reshape(S * O, -1).astype(np.float64), raw_score=True)
        w = softmax(np.asarray(scores, dtype=np.float64).reshape(S * O, M), axis=1).reshape(S, O, M)
        w[~cube.valid] = 1.0 / M
        return w

    def _state(self):
        state, _ = super()._state()
        if hasattr(self, "booster_"):
            state["n_features"] = self.n_features_
            state["booster"] = self.booster_.model_to_string()
        return state, {}

    def _set_state(self, state, arrays, base) -> None:
        import lightgbm as lgb

        super()._set_state(state, arrays, base)
        if "booster" in state:
            if not isinstance(state["booster"], str):
                raise FileFormatError(f"{base}: FFORMA's booster must be LightGBM's model text")
            try:
                self.booster_ = lgb.Booster(model_str=state["booster"])
            except lgb.basic.LightGBMError:
                raise FileFormatError(f"{base}: FFORMA's booster is not a valid LightGBM model") from None
            self.n_features_ = int(state["n_features"])
