"""Tasks in the regime the learned optimizer is used in: global mini-batch training of a neural member on a panel.

A :class:`PanelTask` is one training run of a pool member (:class:`~metacompose.models.MLP`,
:class:`~metacompose.models.LSTM`, :class:`~metacompose.models.NBEATS`) on a panel of series: the
member's own network, its own scaled training windows, loss, batch size, learning rate and step
budget, built with the same window code the member trains with (``metacompose.models._windows``,
``metacompose.models.transforms``). Its **validation** windows are the last ``h`` points of each
series' training part, read from the ``L`` points before them: the member's forecast at that cut,
in the same scaled units as its training loss. The training windows come from the series cut
``h`` points earlier, so no training target overlaps a validation target.

:func:`sample_task` draws a task from panels of series (varied member, width, lookback, batch size
and panel size), which :mod:`metacompose.metaopt.panel_train` meta-trains on and
``benchmarks/metaopt/run.py`` evaluates on.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..checks import check_choice, check_horizon
from ..errors import InputError
from ..models import LSTM, MLP, NBEATS
from ..models._windows import owned_panel_windows, window_scale
from ..models.nbeats_network import build_network
from ..models.networks import LSTMNet, MLPNet
from ..models.training import init_parameters
from ..models.transforms import encode

KINDS: tuple[str, ...] = ("mlp", "lstm", "nbeats")
"""The neural members a task can train."""

VARIANTS: dict[str, dict[str, tuple]] = {
    "mlp": {"hidden": ((64, 64), (128, 128), (256, 256)), "batch_size": (128, 256, 512),
            "lookback": (None, 1, 3)},
    "lstm": {"hidden_size": (32, 48), "batch_size": (128, 256), "lookback": (None, 1)},
    "nbeats": {"width": (64, 128), "batch_size": (256, 512, 1024), "lookbacks": ((2,), (3,), (4,))},
}
"""What :func:`sample_task` varies per member (``lookback``: input length as a multiple of ``h``,
None = the member's default)."""


@dataclass
class PanelTask:
    """One training run of a neural member on a panel (see the module docstring).

    Attributes:
        kind: the member, one of :data:`KINDS`.
        net: the member's network, parameters freshly drawn (``seed``).
        X, Y: training windows float32 ``(N, L)`` / ``(N, h)``, scaled as the member scales them.
        Xv, Yv: validation windows float32 ``(V, L)`` / ``(V, h)``, one per series that has one.
        loss: the training (and validation) loss, ``"mae"`` or ``"smape"`` of scaled values.
        batch_size: windows per step.
        lr: the member's learning rate (Adam's, linearly decayed; the learned optimizer's nominal rate).
        steps: the member's step budget.
        config: the member's constructor arguments and the panel size (for reports).
    """

    kind: str
    net: nn.Module
    X: torch.Tensor
    Y: torch.Tensor
    Xv: torch.Tensor
    Yv: torch.Tensor
    loss: str
    batch_size: int
    lr: float
    steps: int
    config: dict

    def start(self) -> nn.Module:
        """A copy of :attr:`net` at its initial parameters (every run of the task starts there)."""
        return copy.deepcopy(self.net)


def _split(ys: list[np.ndarray], h: int, min_length: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Cut each series ``h`` points before its end: ``(the cut series, their validation targets (S, h))``; series
    shorter than ``h + min_length`` are left out."""
    keep = np.array([y.shape[0] >= h + min_length for y in ys], dtype=bool)
    if not keep.any():
        raise InputError(f"no series has the h + {min_length} = {h + min_length} points a task needs")
    cut = [np.asarray(y, dtype=float)[:-h] for y, k in zip(ys, keep) if k]
    targets = np.array([np.asarray(y, dtype=float)[-h:] for y, k in zip(ys, keep) if k]).reshape(-1, h)
    return cut, targets


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)


def _neural_task(member, kind: str, ys: list[np.ndarray], h: int, m: int, seed: int) -> PanelTask:
    """A task of :class:`MLP` / :class:`LSTM` (default ``"mean_abs"`` transform) on the series ``ys``."""
    cut, targets = _split(ys, h, member.min_length)
    member.fit_panel(cut)  # stores the panel (no horizon: nothing is trained), so window_length sees it
    L = member.window_length(h)
    # Xf: the input window ending at each cut; ok: the series the network forecasts (not all zero)
    X, Y, Xf, ok, _, _ = owned_panel_windows(cut, L, h, member.windows_per_series, member.min_length)
    Z, T, _ = encode("mean_abs", X, Y, m)
    Zv, Tv, _ = encode("mean_abs", Xf[ok], targets[ok], m)
    with torch.random.fork_rng(devices=[]):
        net = MLPNet(L, h, member.hidden) if kind == "mlp" else LSTMNet(L, h, member.hidden_size, member.num_layers)
    init_parameters(net, torch.Generator().manual_seed(seed))
    return PanelTask(kind, net, _t(Z), _t(T), _t(Zv), _t(Tv), member.loss, member.batch_size, member.lr,
                     member.steps, {"L": L, "series": len(cut)})


def _nbeats_task(member: NBEATS, ys: list[np.ndarray], h: int, m: int, seed: int) -> PanelTask:
    """A task of :class:`NBEATS`'s first ensemble member on the series ``ys``."""
    cut, targets = _split(ys, h, member.min_length)
    member.fit_panel(cut)
    L, loss, _ = member.members(h)[0]
    if loss != "smape":
        raise InputError(f"panel tasks train NBEATS members with the sMAPE loss, got {loss!r}")
    X, Y, Xf, ok, _, _ = owned_panel_windows(cut, L, h, max(1, int(round(member.history * h))), member.min_length)
    s = window_scale(X)
    sf = window_scale(Xf[ok])
    steps = member.member_steps(X.shape[0])
    with torch.random.fork_rng(devices=[]):
        net = build_network(member.stack, L, h, m, member.blocks, member.layers, member.width,
                            member.trend_degree, member.harmonics)
    init_parameters(net, torch.Generator().manual_seed(seed))
    return PanelTask("nbeats", net, _t(X / s), _t(Y / s), _t(Xf[ok] / sf), _t(targets[ok] / sf), "smape",
                     member.batch_size, member.lr, steps, {"L": L, "series": len(cut)})


def make_task(kind: str, ys: list[np.ndarray], h: int, season_length: int = 1, seed: int = 0,
              **member_args) -> PanelTask:
    """The training run of one neural member on the series ``ys``.

    Args:
        kind: ``"mlp"``, ``"lstm"`` or ``"nbeats"``.
        ys: training parts of the panel's series, each float ``(t_i,)``; the last ``h`` points of
            each are the validation targets. Series shorter than ``h + min_length`` are left out.
        h: horizon.
        season_length: ``m``.
        seed: seed of the network's initial parameters.
        member_args: constructor arguments of the member (``hidden``, ``batch_size``,
            ``input_length``, ``width``, ``lookbacks`` ...); the member's defaults otherwise.

    Returns:
        the :class:`PanelTask`.

    Raises:
        InputError: unknown ``kind``, a bad member argument, no series long enough, or no training or
            validation window.
    """
    check_choice(kind, "kind", KINDS)
    h = check_horizon(h)
    cls = {"mlp": MLP, "lstm": LSTM, "nbeats": NBEATS}[kind]
    member = cls(season_length=season_length, **member_args)
    task = (_nbeats_task(member, ys, h, season_length, seed) if kind == "nbeats"
            else _neural_task(member, kind, ys, h, season_length, seed))
    if task.X.shape[0] == 0 or task.Xv.shape[0] == 0:
        raise InputError(f"{kind} task: the panel gives no training or no validation window (h={h})")
    task.config.update(member_args, kind=kind)
    return task


def sample_task(panels: list[tuple[list[np.ndarray], int, int]], rng: np.random.Generator,
                kinds: tuple[str, ...] = KINDS, sizes: tuple[int, ...] = (32, 64, 128, 256)) -> PanelTask:
    """Draw a task: a panel, a random subset of its series, a member and one of its :data:`VARIANTS`.

    Args:
        panels: ``(series, h, m)`` triples (e.g. one per M3 subset's training parts).
        rng: source of every draw (the network's seed included).
        kinds: the members to draw from.
        sizes: panel sizes (series per task) to draw from.

    Returns:
        the :class:`PanelTask`.

    Raises:
        InputError: no panel, or a drawn panel gives no window.
    """
    if not panels:
        raise InputError("sample_task needs at least one panel")
    ys, h, m = panels[int(rng.integers(len(panels)))]
    size = min(int(rng.choice(sizes)), len(ys))
    pick = [ys[i] for i in rng.choice(len(ys), size=size, replace=False)]
    kind = str(rng.choice(list(kinds)))
    args = {k: v[int(rng.integers(len(v)))] for k, v in VARIANTS[kind].items()}
    lookback = args.pop("lookback", None)
    if lookback is not None:
        args["input_length"] = max(2, int(lookback) * h)
    if "hidden" in args:
        args["hidden"] = list(args["hidden"])
    if "lookbacks" in args:
        args["lookbacks"] = list(args["lookbacks"])
    return make_task(kind, pick, h, m, seed=int(rng.integers(2**31)), **args)
