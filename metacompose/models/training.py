"""Training machinery of the global neural forecasters: optimizer, loss, training loop, initialisation.

:func:`make_optimizer` turns the forecasters' ``optimizer`` parameter into a
``torch.optim.Optimizer``; :func:`train_network` is the mini-batch training loop;
:func:`init_parameters` draws a network's weights from a local ``torch.Generator`` (torch's
global random state is left as it was). They are public so that other code (the learned
optimizer in ``metacompose.metaopt``, a user's own network) can train the same way.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn

from metacompose.checks import check_choice
from metacompose.errors import InputError
from metacompose.models.networks import RevIN

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd", "learned")
LOSSES: tuple[str, ...] = ("mae", "smape")

__all__ = ["OPTIMIZERS", "LOSSES", "TrainingBudget", "check_optimizer", "current_training_budget", "loss_points",
           "make_optimizer", "train_network", "init_parameters", "training_budget"]


class TrainingBudget:
    """CPU seconds that the trainings started inside :func:`training_budget` may take, and what was cut.

    Attributes:
        seconds: the limit, in CPU seconds of this process (``time.process_time``, so that a busy
            machine does not cut a training that would fit on an idle one); each
            :func:`train_network` call gets the whole limit.
        cut: one ``(steps done, steps asked)`` pair per training stopped early by the limit.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.cut: list[tuple[int, int]] = []


_BUDGET: ContextVar[TrainingBudget | None] = ContextVar("metacompose_training_budget", default=None)


def current_training_budget() -> TrainingBudget | None:
    """The :class:`TrainingBudget` of the innermost :func:`training_budget` block around the caller
    (None outside any), for trainers that split it among several networks (e.g. an ensemble)."""
    return _BUDGET.get()


@contextmanager
def training_budget(seconds: float | None) -> Iterator[TrainingBudget | None]:
    """Limit every :func:`train_network` call inside the block to ``seconds`` of CPU time.

    A training that reaches the limit stops after the step in progress and keeps the parameters
    it has (it is cut short, not failed); the pair ``(steps done, steps asked)`` is added to the
    budget's ``cut`` list, which the backtest reports. The backtest sets this around each panel
    fit (:mod:`metacompose.budget` says how the seconds are chosen).

    Args:
        seconds: CPU seconds per training (None: no limit, the block runs as without it).

    Yields:
        the :class:`TrainingBudget` (None without a limit).
    """
    budget = None if seconds is None else TrainingBudget(seconds)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def check_optimizer(optimizer: Any) -> None:
    """Check an ``optimizer`` parameter: a name in :data:`OPTIMIZERS` (any case) or a callable.

    Raises:
        InputError: an unknown name, or neither a string nor a callable; the message lists
            the choices.
    """
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


def _learned_optimizer(params: list[torch.nn.Parameter], lr: float, steps: int | None) -> torch.optim.Optimizer:
    # Imported on use, not at module level: only optimizer="learned" needs metacompose.metaopt,
    # and when it cannot be imported that choice alone fails, with an InputError. The optimizer's own
    # module, not the package: metaopt's meta-training imports metacompose.models, the optimizer does not.
    try:
        from metacompose.metaopt.learned_optimizer import LearnedOptimizer
    except ImportError as exc:
        raise InputError(
            f"optimizer='learned' needs metacompose.metaopt.LearnedOptimizer, which could not be "
            f"imported ({exc}); use 'adam' or 'sgd'"
        ) from None
    return LearnedOptimizer(params, lr=lr, total_steps=steps)


def make_optimizer(optimizer: Any, params: Iterable[torch.nn.Parameter], lr: float,
                   steps: int | None = None) -> torch.optim.Optimizer:
    """Build the optimizer that trains a network.

    Args:
        optimizer: ``"adam"`` (``torch.optim.Adam``), ``"sgd"`` (``torch.optim.SGD`` with
            momentum 0.9), ``"learned"`` (``metacompose.metaopt.LearnedOptimizer`` with the
            shipped weights: ``lr`` is its nominal Adam rate and ``steps`` its run length), or a
            callable ``params -> torch.optim.Optimizer`` such as
            ``functools.partial(torch.optim.RMSprop, lr=1e-3)`` (``lr`` is then not used).
        params: the parameters to optimise.
        lr: learning rate of ``"adam"`` and ``"sgd"``, nominal rate of ``"learned"``.
        steps: the optimizer steps the training will take (needed by ``"learned"``).

    Returns:
        a ``torch.optim.Optimizer`` over ``params``.

    Raises:
        InputError: unknown name, not a callable, ``"learned"`` while
            ``metacompose.metaopt`` cannot be imported, or the callable returned no optimizer.
    """
    check_optimizer(optimizer)
    params = list(params)
    if isinstance(optimizer, str):
        name = optimizer.lower()
        if name == "adam":
            return torch.optim.Adam(params, lr=lr)
        if name == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=0.9)
        return _learned_optimizer(params, lr, steps)
    opt = optimizer(params)
    if not isinstance(opt, torch.optim.Optimizer):
        raise InputError(f"the optimizer callable returned {type(opt).__name__}, not a torch.optim.Optimizer")
    return opt


def loss_points(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Pointwise training loss, the shape of ``pred``: absolute error (``"mae"``) or sMAPE as a fraction
    in [0, 2] (``"smape"``; the forecast's magnitude in the denominator is not differentiated)."""
    err = torch.abs(pred - target)
    if kind == "smape":
        return 2.0 * err / (torch.abs(pred).detach() + torch.abs(target) + 1e-8)
    return err


def _loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """The mean of :func:`loss_points` over every value."""
    return torch.mean(loss_points(pred, target, kind))


def _set_lr(optimizer: torch.optim.Optimizer, base_lr: list, factor: float) -> None:
    """Set each parameter group's ``lr`` to ``factor`` times its base rate (groups without a float ``lr`` are left)."""
    for g, lr0 in zip(optimizer.param_groups, base_lr):
        if isinstance(lr0, float):
            g["lr"] = lr0 * factor


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
    on_step: Callable[[int], None] | None = None,
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
            decay to 0 -- for groups that have an ``lr``; the rates are restored at the end.
        on_step: called after each step with the number of steps done (e.g. to record a
            validation loss along the training; ``net`` is in training mode then).

    Returns:
        the training loss after each step, a list of ``steps`` floats (fewer when a
        :func:`training_budget` around the call cut the training short).

    Raises:
        InputError: ``loss`` is unknown or ``X`` holds no window.
    """
    check_choice(loss, "loss", LOSSES)
    n = X.shape[0]
    if n == 0:
        raise InputError("train_network needs at least one training window")
    base_lr = [g.get("lr") for g in optimizer.param_groups]
    history: list[float] = []
    budget = _BUDGET.get()
    deadline = None if budget is None else time.process_time() + budget.seconds
    net.train()
    for step in range(steps):
        if deadline is not None and step > 0 and time.process_time() > deadline:
            budget.cut.append((step, steps))
            break
        if lr_decay:
            _set_lr(optimizer, base_lr, 1.0 - step / steps)
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
        if on_step is not None:
            on_step(step + 1)
    if lr_decay:
        _set_lr(optimizer, base_lr, 1.0)
    net.eval()
    return history


def init_parameters(net: nn.Module, generator: torch.Generator) -> None:
    """Re-draw every parameter of ``net`` from ``generator``, with torch's default bounds.

    ``nn.Linear``: weight and bias uniform on ``+-1/sqrt(in_features)``; ``nn.LSTM``: every
    weight and bias uniform on ``+-1/sqrt(hidden_size)``; :class:`~metacompose.models.networks.RevIN`:
    its affine transform reset to the identity (``gamma = 1``, ``beta = 0``). Drawing from a local generator
    keeps the result reproducible even when other threads use torch's global random state.

    Args:
        net: the network; its parameters are overwritten in place.
        generator: source of the draws.

    Raises:
        InputError: ``net`` holds a parameter of another kind of layer.
    """
    seen = set()
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, RevIN):
                mod.gamma.fill_(1.0)
                mod.beta.fill_(0.0)
                seen.update({id(mod.gamma), id(mod.beta)})
                continue
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
        raise InputError("init_parameters only knows nn.Linear, nn.LSTM and RevIN layers")
