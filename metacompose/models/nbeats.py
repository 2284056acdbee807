"""N-BEATS: a global forecaster built from doubly residual stacks of fully-connected blocks.

After Oreshkin, Carpov, Chapados & Bengio (2020), "N-BEATS: Neural basis expansion analysis
for interpretable time series forecasting", ICLR, and its reference implementation
(github.com/ServiceNow/N-BEATS, ``models/nbeats.py`` and ``experiments/m3``):

* A *block* (§3.1) is a ReLU MLP (``layers`` x ``width``) whose last linear layer gives
  coefficients ``theta``; a basis expands them into a *backcast* (``L`` values) and a
  *forecast* (``h`` values). Generic blocks use a linear basis (``theta`` itself); the
  interpretable configuration (§3.3) is a trend stack (polynomial basis of degree
  ``trend_degree``) then a seasonality stack (Fourier basis), ``blocks`` weight-sharing blocks each.
* *Doubly residual* stacking (§3.2): ``x_{l+1} = x_l - backcast_l``; the forecast is the last
  input value (as in the reference implementation) plus the sum of the block forecasts.
* Training windows come from the recent history of each series (the paper's ``L_H``: the
  ``history * h`` most recent windows whose targets are fully observed); scale-free losses
  (sMAPE, MASE, MAPE); the forecast is the median over an ensemble of lookbacks ``L = k h``
  (``k`` in 2..7), losses and seeds (§3.4; 180 members per configuration in the reference
  M3 experiment, ``ensemble_size`` here).

Departures from the paper: windows are divided by the mean absolute value of their input
part, as for :class:`~metacompose.models.neural.MLP`, so forecasts scale with the data from
1e-12 to 1e12 (all-zero windows: as in :mod:`metacompose.models.neural`), and the network reads
the window minus its last value; MASE and MAPE are trained as weighted absolute errors on the
scaled windows (:func:`loss_weights`, with floors so that a flat window or a target near zero
cannot dominate); short series are left-padded with their first value (the reference pads with
zeros and a mask); the Fourier basis adds the harmonics ``k / m`` of the season length to the
paper's frequencies, so that a season the horizon does not divide (``m = 12``, ``h = 18``) is exact.

Short series are guarded three ways: (1) the lookback ``k h`` is capped at ``max(h, median
series length - h)``; (2) a series with fewer than ``min_length`` (4) points is not
forecast: ``fit`` raises ``SeriesTooShortError`` and ``predict_panel`` gives a NaN row, which
the backtest fills from the declared ``fallback`` (``"SeasonalNaive"``) and counts; a panel
whose series are all shorter than ``4 + h`` has no training window and gives NaN rows too;
(3) each member's forecast, in scaled units, is clipped to the last input value plus or
minus ``clip`` times the range (max - min) of its input window, so no member extrapolates
a trend far outside what the data supports (a constant window is forecast flat).
"""

from __future__ import annotations

import time
import warnings
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from metacompose.checks import check_choice, check_flag, check_horizon, check_int, check_number, check_optional_int
from metacompose.errors import InputError
from metacompose.models._windows import CLIP, clip_forecast, panel_windows, window_scale
from metacompose.models.base import HorizonPanelForecaster
from metacompose.models.networks import RevIN
from metacompose.models.nbeats_network import (NBeatsBlock, NBeatsNet, build_network, fourier_basis,
                                               fourier_frequencies, trend_basis)
from metacompose.models.training import (check_optimizer, current_training_budget, init_parameters, make_optimizer,
                                         train_network, training_budget)

__all__ = ["NBEATS", "NBeatsBlock", "NBeatsNet", "build_network", "trend_basis", "fourier_frequencies",
           "fourier_basis", "ensemble_members", "loss_weights", "clip_forecast", "STACKS", "NBEATS_LOSSES"]

STACKS: tuple[str, ...] = ("generic", "interpretable")
NBEATS_LOSSES: tuple[str, ...] = ("smape", "mase", "mape")
_MASE_FLOOR = 0.1  # MASE weights: the seasonal-naive error is floored at this fraction of its median
_MAPE_FLOOR = 0.1  # MAPE weights: |target| is floored at this fraction of the input's mean |value|


class _Weighted(nn.Module):
    """Training view of a network for a weighted absolute error: it reads ``[window, w]``
    ``(B, L + h)`` and returns ``net(window) * w``, so that the mean absolute error against
    ``target * w`` is ``mean(w |forecast - target|)`` (:func:`loss_weights`)."""

    def __init__(self, net: nn.Module, L: int) -> None:
        super().__init__()
        self.net, self.L = net, L

    def forward(self, xw: torch.Tensor) -> torch.Tensor:
        return self.net(xw[:, :self.L]) * xw[:, self.L:]


def loss_weights(X: np.ndarray, Y: np.ndarray, loss: str, season_length: int) -> np.ndarray:
    """Per-value weights that turn the absolute error of scaled windows into MASE or MAPE.

    ``"mase"``: ``1 / d`` with ``d`` the mean absolute lag-``m`` difference of the input
    window (lag 1 when ``L <= m``; Hyndman & Koehler 2006, computed on the input window as the
    reference ``mase_loss`` does), ``d`` floored at 0.1 times its median over the windows.
    ``"mape"``: ``1 / |target|``, ``|target|`` floored at 0.1 (in scaled units: a tenth of the
    input's mean absolute value). Weights are normalised to mean 1; all are scale-free.

    Args:
        X: scaled input windows ``(N, L)``; Y: scaled targets ``(N, h)``.
        loss: ``"mase"`` or ``"mape"``; season_length: ``m``.

    Returns:
        positive float64 array ``(N, h)``.
    """
    if loss == "mase":
        lag = season_length if X.shape[1] > season_length else 1
        d = np.mean(np.abs(X[:, lag:] - X[:, :-lag]), axis=1, keepdims=True)
        ref = float(np.median(d[d > 0])) if np.any(d > 0) else 1.0
        w = np.broadcast_to(1.0 / np.maximum(d, _MASE_FLOOR * ref), Y.shape)
    else:
        w = 1.0 / np.maximum(np.abs(Y), _MAPE_FLOOR)
    return w / np.mean(w)


def ensemble_members(lookbacks: Sequence[int], losses: Sequence[str], size: int,
                     random_state: int) -> list[tuple[int, str, int]]:
    """The ``(lookback multiple k, loss, seed)`` of each ensemble member (§3.4).

    Members walk the grid lookbacks x losses so that the first ones differ in both: member
    ``i`` (``j = i mod (K * len(losses))``) takes lookback ``a = j mod K`` and loss
    ``(a + j // K) mod len(losses)``, so every pair appears once per ``K * len(losses)``
    members; it is seeded ``random_state + i``.

    Returns:
        ``size`` tuples.
    """
    nk, nl = len(lookbacks), len(losses)
    out = []
    for i in range(size):
        j = i % (nk * nl)
        out.append((lookbacks[j % nk], losses[(j % nk + j // nk) % nl], random_state + i))
    return out


def _nonempty_list(value, name: str) -> list:
    """``value`` as a list; raises :class:`InputError` unless it is a non-empty list or tuple."""
    if not isinstance(value, (list, tuple)) or not value:
        raise InputError(f"{name} must be a non-empty list, got {value!r}")
    return list(value)


class NBEATS(HorizonPanelForecaster):
    """Global N-BEATS forecaster (Oreshkin et al. 2020): an ensemble of doubly residual networks.

    Each member is trained on windows of all series of the panel (the ``history * h`` most
    recent ones of each), with one lookback ``L = k h``, one loss and one seed; the forecast is
    the median of the members' forecasts. The module docstring describes the architecture,
    where it departs from the paper, and the short-series guards.

    Args:
        season_length: ``m``; enters the MASE weights and the Fourier basis.
        horizon: ``h`` to train for at ``fit_panel``; ``None`` trains lazily at the first
            ``predict_panel(h)`` for each ``h`` (cached per ``h``). With a ``horizon``,
            ``predict_panel(h)`` for ``h <= horizon`` gives the first ``h`` steps.
        stack: ``"generic"`` or ``"interpretable"`` (§3.3).
        lookbacks: multiples ``k``, input length ``L = k h`` capped at ``max(h, median length - h)``.
        losses: subset of ``("smape", "mase", "mape")``.
        ensemble_size: members (lookback x loss x seed, :func:`ensemble_members`). The default, one
            member (lookback ``2 h``, sMAPE loss) trained for 1,000 steps, was chosen on the M3 training
            parts against three members of 400 steps and three of 1,000 steps with 256 windows a step: the
            pool with it scored as well on the validation origin (MASE) for about half the CPU time
            (``benchmarks/m3/neural_pool_results.md``).
        history: ``L_H`` in horizons: the ``history * h`` most recent windows of each series
            (targets fully observed) are the training windows.
        blocks: blocks of the generic network, or per stack of the interpretable one.
        layers: fully-connected layers per block; width: their units.
        trend_degree: polynomial degree of the trend basis; harmonics: Fourier grid density.
        steps: optimizer steps per member, at most ``epochs`` passes over its training windows
            (a small panel trains for fewer steps; at least one).
        epochs: cap on the passes over the training windows (see ``steps``).
        batch_size: windows per step.
        lr: learning rate of ``"adam"``/``"sgd"`` (linearly decayed to 0).
        optimizer: ``"adam"``, ``"sgd"``, ``"learned"`` (``metacompose.metaopt``) or a
            callable ``params -> torch.optim.Optimizer`` (one call per member);
            see :func:`~metacompose.models.training.make_optimizer`.
        clip: a member's forecast stays within ``clip`` input-window ranges of the last value
            (:data:`~metacompose.models._windows.CLIP`, shared with MLP and LSTM); ``None``: unbounded.
        revin: wrap each member's network in :class:`~metacompose.models.networks.RevIN` (as MLP's ``revin``).
        random_state: seed of member 0 (member ``i`` uses ``random_state + i``).
        num_threads: torch threads while training (restored afterwards); ``None`` keeps torch's.
        alias: defaults to ``"NBEATS"``.

    Raises:
        InputError: an unknown stack, loss or optimizer, a parameter out of range, or a ``revin``
            that is not a bool.
    """

    alias = "NBEATS"
    fallback = "SeasonalNaive"

    def __init__(self, season_length: int = 1, horizon: int | None = None, stack: str = "generic",
                 lookbacks: Sequence[int] = (2, 3, 4, 5, 6, 7), losses: Sequence[str] = ("smape", "mase"),
                 ensemble_size: int = 1, history: float = 10.0, blocks: int = 3, layers: int = 4,
                 width: int = 128, trend_degree: int = 2, harmonics: int = 1, steps: int = 1000,
                 epochs: float = 20.0, batch_size: int = 1024, lr: float = 2e-3, optimizer: str | Callable = "adam",
                 clip: float | None = CLIP, revin: bool = False, random_state: int = 0,
                 num_threads: int | None = 1, alias: str | None = None) -> None:
        super().__init__(season_length=season_length, alias=alias)
        check_optimizer(optimizer)
        self.horizon = None if horizon is None else check_horizon(horizon)
        self.stack = check_choice(stack, "stack", STACKS)
        self.lookbacks = [check_int(k, "lookbacks") for k in _nonempty_list(lookbacks, "lookbacks")]
        self.losses = [check_choice(v, "losses", NBEATS_LOSSES) for v in _nonempty_list(losses, "losses")]
        self.ensemble_size = check_int(ensemble_size, "ensemble_size")
        self.history = check_number(history, "history", low=0.0, low_open=True)
        self.blocks = check_int(blocks, "blocks")
        self.layers = check_int(layers, "layers")
        self.width = check_int(width, "width")
        self.trend_degree = check_int(trend_degree, "trend_degree", 0)
        self.harmonics = check_int(harmonics, "harmonics")
        self.steps = check_int(steps, "steps", 0)
        self.epochs = check_number(epochs, "epochs", low=0.0, low_open=True)
        self.batch_size = check_int(batch_size, "batch_size")
        self.lr = check_number(lr, "lr", low=0.0)
        self.optimizer = optimizer.lower() if isinstance(optimizer, str) else optimizer
        self.clip = None if clip is None else check_number(clip, "clip", low=0.0)
        self.revin = check_flag(revin, "revin")
        self.random_state = check_int(random_state, "random_state", 0)
        self.num_threads = check_optional_int(num_threads, "num_threads")

    @property
    def min_length(self) -> int:
        """Fewest observations a series needs to be forecast (4; shorter ones fall back)."""
        return 4

    def members(self, h: int) -> list[tuple[int, str, int]]:
        """``(input length L, loss, seed)`` of each member for horizon ``h`` on the fitted panel.

        ``L = k h`` is capped at ``max(h, median series length - h)`` (at least 2).
        """
        lengths = [y.shape[0] for y in getattr(self, "_ys", [])]
        cap = max(h, int(np.median(lengths)) - h) if lengths else None
        return [(max(2, k * h if cap is None else min(k * h, cap)), loss, seed)
                for k, loss, seed in ensemble_members(self.lookbacks, self.losses, self.ensemble_size,
                                                      self.random_state)]

    def _train(self, h: int) -> None:
        """Train every member for horizon ``h`` and cache the median of their forecasts ``(S, h)``.

        Inside a :func:`~metacompose.models.training.training_budget` the ensemble shares the
        budget's CPU seconds (each member gets an equal part of what is left), and one
        ``(steps done, steps asked)`` pair for the whole ensemble is recorded when cut.
        """
        members = self.members(h)
        outer, start = current_training_budget(), time.process_time()
        done, asked, cut = 0, 0, False
        preds = []
        threads = torch.get_num_threads()
        try:
            if self.num_threads is not None:
                torch.set_num_threads(self.num_threads)
            for i, (L, loss, seed) in enumerate(members):
                if outer is None:
                    preds.append(self._fit_member(L, h, loss, seed)[0])
                    continue
                share = (outer.seconds - (time.process_time() - start)) / (len(members) - i)
                with training_budget(max(share, 0.0)) as inner:
                    pred, steps = self._fit_member(L, h, loss, seed)
                preds.append(pred)
                cut |= bool(inner.cut)
                done += inner.cut[0][0] if inner.cut else steps
                asked += steps
        finally:
            torch.set_num_threads(threads)
        if cut:
            outer.cut.append((done, asked))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
            self._forecasts[h] = np.nanmedian(np.stack(preds), axis=0)

    def member_steps(self, n: int) -> int:
        """Optimizer steps of a member trained on ``n`` windows: ``steps``, at most ``epochs`` passes (at least 1)."""
        return min(self.steps, max(1, int(np.ceil(self.epochs * n / min(n, self.batch_size)))))

    def _fit_member(self, L: int, h: int, loss: str, seed: int) -> tuple[np.ndarray, int]:
        """Train one member and forecast every series.

        Returns:
            ``(forecasts, steps)``: float64 ``(S, h)`` in each series' units, NaN rows for
            series it cannot forecast (too short, or no training window at all); the optimizer
            steps asked (0 without training).
        """
        # all-zero inputs have no scale: left out of training, forecast as 0 (metacompose.models.neural)
        X, Y, Xf, ok, out = panel_windows(self._ys, L, h, max(1, int(round(self.history * h))), self.min_length)
        if X.shape[0] == 0 or not ok.any():
            return out, 0
        steps = self.member_steps(X.shape[0])
        s = window_scale(X)
        Xs, Ys = X / s, Y / s
        with torch.random.fork_rng(devices=[]):  # layer constructors draw from the global state
            net = build_network(self.stack, L, h, self.season_length, self.blocks, self.layers, self.width,
                                self.trend_degree, self.harmonics)
        if self.revin:
            net = RevIN(net)
        gen = torch.Generator().manual_seed(seed)
        init_parameters(net, gen)
        model, train_loss = net, "smape"
        if loss != "smape":
            w = loss_weights(Xs, Ys, loss, self.season_length)
            Xs, Ys = np.hstack([Xs, w]), Ys * w
            model, train_loss = _Weighted(net, L), "mae"
        opt = make_optimizer(self.optimizer, net.parameters(), self.lr, steps)
        train_network(model, torch.as_tensor(Xs, dtype=torch.float32), torch.as_tensor(Ys, dtype=torch.float32),
                      opt, steps, self.batch_size, train_loss, gen,
                      lr_decay=isinstance(self.optimizer, str) and self.optimizer != "learned")
        sf = window_scale(Xf[ok])
        xs = Xf[ok] / sf
        with torch.no_grad():
            pred = net(torch.as_tensor(xs, dtype=torch.float32)).double().numpy()
        out[ok] = clip_forecast(pred, xs, self.clip) * sf
        out[~np.all(np.isfinite(out), axis=1)] = np.nan
        return out, steps
