"""A feature-based weighting baseline in the spirit of FFORMA (Montero-Manso et al. 2020).

FFORMA learns a map from series features to combination weights by minimising the
weighted error ``sum_m w_m(x) * e_m`` of the pool, with the errors of each model known
from a holdout; the original uses gradient boosting (XGBoost) with a softmax link. Here the
map is a small torch network with a softmax output, trained full-batch with Adam on the
same objective, over every backtest origin of the cube: the inputs are the series
features known at the origin (``cube.features``), the targets the models' MASE over the
forecast made at that origin, divided by the row's mean error (FFORMA normalises by
Naive2's error in its OWA; the mean of the pool is the scale-free analogue here).
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import torch
from torch import nn

from metacompose.agents.base import CompositionAgent, check_cube
from metacompose.checks import check_int, check_number
from metacompose.cube import ForecastCube
from metacompose.errors import InputError, NotFittedError


class FFORMA(CompositionAgent):
    """Series features -> per-series weights, trained on the pool's backtest errors.

    Args:
        hidden: width of the hidden layer (0: a linear softmax regression).
        epochs: full-batch Adam steps.
        lr: Adam learning rate.
        weight_decay: L2 penalty (keeps weights from collapsing onto one model on little data).
        seed: seed of the initialisation.

    Raises:
        InputError: a non-positive epochs/lr or a negative hidden/weight_decay.
    """

    name = "fforma"
    param_checks = {
        "hidden": partial(check_int, low=0), "epochs": check_int,
        "lr": partial(check_number, low=0.0, low_open=True), "weight_decay": partial(check_number, low=0.0),
        "seed": partial(check_int, low=0),
    }

    def __init__(self, hidden: int = 32, epochs: int = 400, lr: float = 1e-2, weight_decay: float = 1e-4,
                 seed: int = 0) -> None:
        self._set_params(locals())

    def _net(self, n_in: int, n_out: int) -> nn.Module:
        if self.hidden == 0:
            return nn.Linear(n_in, n_out)
        return nn.Sequential(nn.Linear(n_in, self.hidden), nn.Tanh(), nn.Linear(self.hidden, n_out))

    def fit(self, cube: ForecastCube) -> "FFORMA":
        """Train on every backtest origin of ``cube`` with fully known actuals.

        Raises:
            InputError: ``cube`` is not a ForecastCube or has no backtest origin with known actuals.
        """
        check_cube(cube)
        mask = cube.backtest_mask
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            err = cube.errors("mase")[mask]                                     # (N, M)
        x = cube.features[mask].astype(np.float32)                              # (N, F)
        ok = np.isfinite(err).all(axis=1)
        x, err = x[ok], err[ok]
        if x.shape[0] == 0:
            raise InputError("FFORMA needs at least one backtest origin with known actuals")
        target = err / np.maximum(err.mean(axis=1, keepdims=True), 1e-8)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            self.net_ = self._net(x.shape[1], err.shape[1])
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        xt, tt = torch.from_numpy(x), torch.from_numpy(target.astype(np.float32))
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = (torch.softmax(self.net_(xt), dim=1) * tt).sum(dim=1).mean()
            loss.backward()
            opt.step()
        self.models_ = list(cube.models)
        self.n_features_ = x.shape[1]
        return self

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, M)``: softmax of the network on ``cube.features`` (known at each origin).

        Raises:
            NotFittedError: ``fit`` was not called.
        """
        check_cube(cube)
        if not hasattr(self, "net_"):
            raise NotFittedError("FFORMA: call fit(cube) before weights(cube)")
        S, O, M, _ = cube.shape
        with torch.no_grad():
            w = torch.softmax(self.net_(torch.from_numpy(cube.features.reshape(S * O, -1).astype(np.float32))), dim=1)
        return w.numpy().astype(np.float64).reshape(S, O, M)

    def _state(self):
        state, _ = super()._state()
        if not hasattr(self, "net_"):
            return state, {}
        state["n_features"] = self.n_features_
        return state, {k: v.detach().numpy() for k, v in self.net_.state_dict().items()}

    def _set_state(self, state, arrays, base) -> None:
        super()._set_state(state, arrays, base)
        if "n_features" in state and arrays:
            self.n_features_ = int(state["n_features"])
            self.net_ = self._net(self.n_features_, len(self.models_))
            self.net_.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()})
