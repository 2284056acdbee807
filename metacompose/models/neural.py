"""Global neural forecasters: :class:`MLP` and :class:`LSTM`.

One network is trained across all series of a panel on lag windows, as in N-BEATS
(Oreshkin et al. 2020, "N-BEATS: Neural basis expansion analysis for interpretable time
series forecasting", ICLR): the input is the last ``L`` values of a window, the target the
next ``h`` values, predicted at once (direct multi-step, "MIMO" output: no recursion). Each
window is divided by the mean absolute value of its input part, so one network serves
series of any units; the loss is the mean absolute error on these scaled values. The
network forecasts the change from the last input value, so an untrained network is close to
the Naive forecast.

Training is mini-batch, on CPU, for a fixed number of steps, and deterministic given
``random_state``: the weights and the batches are drawn from a local ``torch.Generator``
(torch's global random state is left as it was). :func:`train_network` is the training loop and
:func:`make_optimizer` turns the ``optimizer`` parameter into a ``torch.optim.Optimizer``;
both are public so that the learned optimizer (``metacompose.metaopt``) can reuse them.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from metacompose.errors import InputError
from metacompose.models._windows import forecast_inputs, training_windows, window_scale
from metacompose.models.base import PanelForecaster, check_horizon

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd", "learned")
LOSSES: tuple[str, ...] = ("mae", "smape")

__all__ = ["MLP", "LSTM", "train_network", "make_optimizer", "init_parameters", "OPTIMIZERS", "LOSSES"]


def _check_optimizer(optimizer: Any) -> None:
    if isinstance(optimizer, str):
        if optimizer.lower() not in OPTIMIZERS:
            raise InputError(
                f"unknown optimizer {optimizer!r}; valid choices: {', '.join(repr(o) for o in OPTIMIZERS)} "
                "or a callable params -> torch.optim.Optimizer"
            )
    elif not callable(optimizer):
        raise InputError(
            f"optimizer must be one of {', '.join(repr(o) for o in OPTIMIZERS)} or a callable "
            f"params -> torch.optim.Optimizer, got {type(optimizer).__name__}"
        )


def make_optimizer(optimizer: Any, params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """Build the optimizer that trains a network.

    Args:
        optimizer: ``"adam"`` (``torch.optim.Adam``), ``"sgd"`` (``torch.optim.SGD`` with
            momentum 0.9), ``"learned"`` (``metacompose.metaopt.LearnedOptimizer(params)``,
            which ignores ``lr``), or a callable ``params -> torch.optim.Optimizer`` such as
            ``functools.partial(torch.optim.RMSprop, lr=1e-3)`` (``lr`` is then not used).
        params: the parameters to optimise.
        lr: learning rate of ``"adam"`` and ``"sgd"``.

    Returns:
        a ``torch.optim.Optimizer`` over ``params``.

    Raises:
        InputError: unknown name, not a callable, ``"learned"`` while
            ``metacompose.metaopt`` cannot be imported, or the callable returned no optimizer.
    """
    _check_optimizer(optimizer)
    params = list(params)
    if isinstance(optimizer, str):
        name = optimizer.lower()
        if name == "adam":
            return torch.optim.Adam(params, lr=lr)
        if name == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=0.9)
        try:
            from metacompose.metaopt import LearnedOptimizer
        except ImportError as exc:
            raise InputError(
                f"optimizer='learned' needs metacompose.metaopt.LearnedOptimizer, which could not be "
                f"imported ({exc}); use 'adam' or 'sgd'"
            ) from None
        return LearnedOptimizer(params)
    opt = optimizer(params)
    if not isinstance(opt, torch.optim.Optimizer):
        raise InputError(f"the optimizer callable returned {type(opt).__name__}, not a torch.optim.Optimizer")
    return opt


def _loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    err = torch.abs(pred - target)
    if kind == "smape":
        return torch.mean(2.0 * err / (torch.abs(pred).detach() + torch.abs(target) + 1e-8))
    return torch.mean(err)


def train_network(
    net: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    steps: int,
    batch_size: int = 1024,
    loss: str = "mae",
    generator: torch.Generator | None = None,
    lr_decay: bool = False,
) -> list[float]:
    """Train ``net`` to map scaled input windows to scaled targets (the training loop).

    Each step draws a mini-batch uniformly with replacement (the whole set when it holds at
    most ``batch_size`` windows), computes the loss, back-propagates and calls
    ``optimizer.step()``.

    Args:
        net: maps ``(B, L)`` float32 to ``(B, h)`` float32.
        X: scaled input windows ``(N, L)``, float32.
        Y: scaled targets ``(N, h)``, float32.
        optimizer: a ``torch.optim.Optimizer`` over ``net``'s parameters.
        steps: number of optimizer steps (0 leaves ``net`` unchanged).
        batch_size: windows per step.
        loss: ``"mae"`` (mean absolute error of the scaled values) or ``"smape"`` (sMAPE
            of the scaled values, as a fraction in [0, 2]).
        generator: source of the batch indices (for reproducible runs).
        lr_decay: multiply each parameter group's ``lr`` by ``(1 - step/steps)`` -- a linear
            decay to 0 -- for groups that have an ``lr``.

    Returns:
        the training loss after each step, a list of ``steps`` floats.

    Raises:
        InputError: ``loss`` is unknown or ``X`` holds no window.
    """
    if loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r}; valid choices: {', '.join(LOSSES)}")
    n = X.shape[0]
    if n == 0:
        raise InputError("train_network needs at least one training window")
    base_lr = [g.get("lr") for g in optimizer.param_groups]
    history: list[float] = []
    net.train()
    for step in range(steps):
        if lr_decay:
            for g, lr0 in zip(optimizer.param_groups, base_lr):
                if isinstance(lr0, float):
                    g["lr"] = lr0 * (1.0 - step / steps)
        if n <= batch_size:
            xb, yb = X, Y
        else:
            idx = torch.randint(n, (batch_size,), generator=generator)
            xb, yb = X[idx], Y[idx]
        value = _loss(net(xb), yb, loss)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        history.append(float(value.detach()))
    if lr_decay:
        for g, lr0 in zip(optimizer.param_groups, base_lr):
            if isinstance(lr0, float):
                g["lr"] = lr0
    net.eval()
    return history


def init_parameters(net: nn.Module, generator: torch.Generator) -> None:
    """Re-draw every parameter of ``net`` from ``generator``, with torch's default bounds.

    ``nn.Linear``: weight and bias uniform on ``+-1/sqrt(in_features)``; ``nn.LSTM``: every
    weight and bias uniform on ``+-1/sqrt(hidden_size)``. Drawing from a local generator
    keeps the result reproducible even when other threads use torch's global random state.

    Raises:
        InputError: ``net`` holds a parameter of another kind of layer.
    """
    seen = set()
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, nn.Linear):
                bound = 1.0 / mod.in_features ** 0.5
            elif isinstance(mod, nn.LSTM):
                bound = 1.0 / mod.hidden_size ** 0.5
            else:
                continue
            for p in mod.parameters(recurse=False):
                p.copy_((torch.rand(p.shape, generator=generator) * 2.0 - 1.0) * bound)
                seen.add(id(p))
    if any(id(p) not in seen for p in net.parameters()):
        raise InputError("init_parameters only knows nn.Linear and nn.LSTM layers")


class _MLPNet(nn.Module):
    """ReLU MLP on the centred input window; output = last input value + MLP(window)."""

    def __init__(self, input_length: int, h: int, hidden: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = input_length
        for w in hidden:
            layers += [nn.Linear(width, w), nn.ReLU()]
            width = w
        layers.append(nn.Linear(width, h))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1:] + self.body(x - 1.0)


class _LSTMNet(nn.Module):
    """LSTM encoder over the window, linear head on its last state to all ``h`` outputs."""

    def __init__(self, input_length: int, h: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm((x - 1.0).unsqueeze(-1))
        return x[:, -1:] + self.head(out[:, -1])


class _GlobalNeural(PanelForecaster):
    """Shared machinery of :class:`MLP` and :class:`LSTM` (see :class:`MLP` for the arguments)."""

    fallback = "SeasonalNaive"

    def _setup(self, season_length, alias, horizon, input_length, steps, batch_size, lr, optimizer,
               loss, windows_per_series, random_state, num_threads) -> None:
        super().__init__(season_length=season_length, alias=alias)
        if horizon is not None:
            horizon = check_horizon(horizon)
        _check_optimizer(optimizer)
        for name, value, low, none_ok in (("input_length", input_length, 2, True), ("steps", steps, 0, False),
                                          ("batch_size", batch_size, 1, False),
                                          ("windows_per_series", windows_per_series, 1, False),
                                          ("random_state", random_state, 0, False),
                                          ("num_threads", num_threads, 1, True)):
            if value is None and none_ok:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise InputError(f"{name} must be an int >= {low}{' or None' if none_ok else ''}, got {value!r}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not np.isfinite(lr) or lr < 0:
            raise InputError(f"lr must be a finite number >= 0, got {lr!r}")
        if loss not in LOSSES:
            raise InputError(f"unknown loss {loss!r}; valid choices: {', '.join(LOSSES)}")
        self.horizon = horizon
        self.input_length = None if input_length is None else int(input_length)
        self.steps = int(steps)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.optimizer = optimizer.lower() if isinstance(optimizer, str) else optimizer
        self.loss = loss
        self.windows_per_series = int(windows_per_series)
        self.random_state = int(random_state)
        self.num_threads = None if num_threads is None else int(num_threads)

    @property
    def min_length(self) -> int:
        """Fewest observations a series needs to be forecast (3)."""
        return 3

    def _build_net(self, input_length: int, h: int) -> nn.Module:
        raise NotImplementedError

    def window_length(self, h: int) -> int:
        """Input length ``L`` used for horizon ``h``: ``input_length``, or by default
        ``max(2h, 3m)`` capped at ``max(h, median series length - h)`` (at least 2)."""
        if self.input_length is not None:
            return self.input_length
        L = max(2 * h, 3 * self.season_length)
        lengths = [y.shape[0] for y in getattr(self, "_ys", [])]
        if lengths:
            L = min(L, max(h, int(np.median(lengths)) - h))
        return max(L, 2)

    def _fit_panel(self, ys: list[np.ndarray]) -> None:
        self._ys = [np.asarray(y, dtype=np.float64).copy() for y in ys]
        self._forecasts: dict[int, np.ndarray] = {}
        self._nets: dict[int, nn.Module] = {}
        if self.horizon is not None:
            self._train(self.horizon)

    def _predict_panel(self, h: int) -> np.ndarray:
        base = self.horizon if self.horizon is not None and h <= self.horizon else h
        if base not in self._forecasts:
            self._train(base)
        return self._forecasts[base][:, :h].copy()

    def _train(self, h: int) -> None:
        """Train a network for horizon ``h`` on the stored panel and cache its forecasts."""
        L = self.window_length(h)
        X, Y = training_windows(self._ys, L, h, self.windows_per_series, min_input=self.min_length)
        Xf, ok = forecast_inputs(self._ys, L, self.min_length)
        out = np.full((len(self._ys), h), np.nan)
        if X.shape[0] == 0 or not ok.any():
            self._forecasts[h] = out
            return
        s = window_scale(X)
        threads = torch.get_num_threads()
        try:
            if self.num_threads is not None:
                torch.set_num_threads(self.num_threads)
            with torch.random.fork_rng(devices=[]):  # layer constructors draw from the global state
                net = self._build_net(L, h)
            gen = torch.Generator().manual_seed(self.random_state)
            init_parameters(net, gen)
            opt = make_optimizer(self.optimizer, net.parameters(), self.lr)
            Xt = torch.as_tensor(X / s, dtype=torch.float32)
            Yt = torch.as_tensor(Y / s, dtype=torch.float32)
            train_network(net, Xt, Yt, opt, self.steps, self.batch_size, self.loss, gen,
                          lr_decay=isinstance(self.optimizer, str) and self.optimizer != "learned")
            sf = window_scale(Xf[ok])
            with torch.no_grad():
                pred = net(torch.as_tensor(Xf[ok] / sf, dtype=torch.float32)).double().numpy()
        finally:
            torch.set_num_threads(threads)
        out[ok] = pred * sf
        self._nets[h] = net
        self._forecasts[h] = out


class MLP(_GlobalNeural):
    """Global MLP forecaster (N-BEATS-style, one network for the whole panel).

    A ReLU multi-layer perceptron maps the last ``L`` values of a series, divided by their
    mean absolute value, to the next ``h`` scaled values at once (direct multi-step / MIMO
    output), as the fully-connected stacks of N-BEATS do (Oreshkin et al. 2020). It is
    trained on windows from all series of the panel (the ``windows_per_series`` most recent
    ones of each), with Adam, mini-batches and a linearly decaying learning rate. Series
    shorter than ``L + h`` are left-padded with their first value; a series with fewer than
    3 points gets a NaN row.

    Args:
        season_length: seasonal period ``m``; enters the default input length.
        horizon: ``h`` to train for at ``fit_panel``; ``None`` trains lazily at the first
            ``predict_panel(h)`` for each ``h`` (forecasts are cached per ``h``). With a
            ``horizon``, ``predict_panel(h)`` for ``h <= horizon`` returns the first ``h``
            steps of the ``horizon`` forecast.
        input_length: ``L``; ``None`` uses ``max(2h, 3m)`` capped at ``median length - h``.
        hidden: widths of the hidden layers.
        steps: optimizer steps.
        batch_size: windows per step.
        lr: learning rate of ``"adam"``/``"sgd"``.
        optimizer: ``"adam"``, ``"sgd"``, ``"learned"`` (``metacompose.metaopt``), or a
            callable ``params -> torch.optim.Optimizer``; see :func:`make_optimizer`.
        loss: ``"mae"`` or ``"smape"`` on the scaled windows.
        windows_per_series: most recent training windows taken from each series.
        random_state: seed of the weights and of the batch sampling.
        num_threads: torch threads while training (restored afterwards); ``None`` keeps
            torch's setting.
        alias: defaults to ``"MLP"``.

    Raises:
        InputError: an unknown optimizer or loss, or a parameter out of range (horizon, input
            length, steps, batch size, windows, seed, threads, lr).
    """

    alias = "MLP"

    def __init__(self, season_length: int = 1, horizon: int | None = None, input_length: int | None = None,
                 hidden: list[int] | tuple[int, ...] = (256, 256), steps: int = 600, batch_size: int = 512,
                 lr: float = 1e-3, optimizer: str | Callable = "adam", loss: str = "mae",
                 windows_per_series: int = 100, random_state: int = 0, num_threads: int | None = 1,
                 alias: str | None = None) -> None:
        self._setup(season_length, alias, horizon, input_length, steps, batch_size, lr, optimizer,
                    loss, windows_per_series, random_state, num_threads)
        self.hidden = [int(w) for w in hidden]

    def _build_net(self, input_length: int, h: int) -> nn.Module:
        return _MLPNet(input_length, h, self.hidden)


class LSTM(_GlobalNeural):
    """Global LSTM forecaster: an LSTM encoder over the scaled input window and a linear
    head from its last hidden state to all ``h`` outputs (direct multi-step / MIMO output).

    Same windows, scaling, padding and training as :class:`MLP` (N-BEATS-style global
    training, Oreshkin et al. 2020); the encoder is ``torch.nn.LSTM`` (Hochreiter &
    Schmidhuber 1997) reading one value per time step.

    Args:
        hidden_size: LSTM state width.
        num_layers: stacked LSTM layers.
        The others: as :class:`MLP`; ``alias`` defaults to ``"LSTM"``.

    Raises:
        InputError: an unknown optimizer or loss, or a parameter out of range (horizon, input
            length, steps, batch size, windows, seed, threads, lr).
    """

    alias = "LSTM"

    def __init__(self, season_length: int = 1, horizon: int | None = None, input_length: int | None = None,
                 hidden_size: int = 48, num_layers: int = 1, steps: int = 1000, batch_size: int = 256,
                 lr: float = 5e-3, optimizer: str | Callable = "adam", loss: str = "mae",
                 windows_per_series: int = 100, random_state: int = 0, num_threads: int | None = 1,
                 alias: str | None = None) -> None:
        self._setup(season_length, alias, horizon, input_length, steps, batch_size, lr, optimizer,
                    loss, windows_per_series, random_state, num_threads)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)

    def _build_net(self, input_length: int, h: int) -> nn.Module:
        return _LSTMNet(input_length, h, self.hidden_size, self.num_layers)
