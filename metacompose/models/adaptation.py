"""Meta-learned per-series adaptation of a trained global network (``adapt_steps`` of MLP and LSTM).

A global network (:mod:`metacompose.models.neural`) is one map for every series of a panel. After it is
trained, each series can take a few steps of its own from it: ``K = adapt_steps`` steps of plain SGD on
the series' own training windows, in the transformed units the network trains on, with one learned
step size per parameter coordinate,

    theta_{k+1} = theta_k - exp(log_alpha) * grad L_support(theta_k),   theta_0 = the global weights,

then the adapted network forecasts that series. This is Meta-SGD (Li et al. 2017, "Meta-SGD: Learning to
Learn Quickly for Few-Shot Learning", arXiv:1707.09835): the starting point and the per-parameter rates
``alpha`` (same shapes as the parameters, kept as log-rates) are meta-learned. Here the starting point is
the global network itself -- trained on all series, it plays the part of Reptile's (Nichol et al. 2018)
or MAML's (Finn et al. 2017) learned initialisation -- and only the rates are meta-learned, on the
training panel at fit time (:func:`meta_sgd_rates`):

* a *task* is one series: its **query** is its most recent training window (target ending at the end
  of the series), its **support** the training windows whose targets end at or before the query's
  forecast origin, so the support never sees a query value (as at forecast time, where the support is
  every training window and the target lies after the data);
* the inner loop takes ``K`` steps on the support, batched over series with ``torch.func.vmap`` of
  ``torch.func.grad`` over ``torch.func.functional_call`` (a loop over the series where torch has no
  batching rule, e.g. ``nn.LSTM``); the outer loop is Adam on ``log_alpha``
  minimising the mean query loss after adaptation, first-order (the inner gradients are treated as
  constants, as in :func:`metacompose.metaopt.baselines.meta_sgd_train`), on a random batch of series
  per meta-step drawn from the caller's ``torch.Generator``.

Caveat: the global network was trained on the query windows too, so the query loss before adaptation is
optimistic; this biases the learned rates toward smaller steps, not toward leakage.

At forecast time (:func:`adapt_forecast`) every series with at least one training window adapts from the
global weights on all of them and forecasts its last input window; a series without windows, or whose
adapted forecast is not finite, keeps the global network's forecast. The caller applies the same clip
guard and inverse transform as without adaptation, so the forecasts stay scale-equivariant.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from metacompose.models._windows import nonzero_rows, training_windows
from metacompose.models.training import loss_points

__all__ = ["RATE0", "META_LR", "META_BATCH", "CHUNK", "window_cuts", "meta_sgd_rates", "adapt_forecast"]

RATE0 = 1e-3
"""Initial step size of every coordinate (``exp(log_alpha)`` before meta-learning)."""
META_LR = 0.05
"""Adam's rate on ``log_alpha`` in the outer loop."""
META_BATCH = 32
"""Series (tasks) per meta-step."""
CHUNK = 128
"""Series adapted at once at forecast time (bounds the memory of the batched parameter copies)."""
MAX_LOG_RATE = 0.0
"""Upper bound of ``log_alpha`` (step sizes at most 1), a guard against a diverging outer loop."""


def window_cuts(ys: list[np.ndarray], input_length: int, h: int, per_series: int, min_input: int) -> np.ndarray:
    """The cut (number of points before the target) of each window :func:`owned_panel_windows` keeps.

    Args:
        ys, input_length, h, per_series, min_input: as :func:`~metacompose.models._windows.training_windows`.

    Returns:
        int64 ``(N,)``, in the row order of ``owned_panel_windows``' ``X`` (all-zero inputs removed).
    """
    cuts = []
    for y in ys:
        last = y.shape[0] - h
        first = max(min_input, last - per_series + 1)
        cuts.append(np.arange(first, last + 1, dtype=np.int64))
    X, _ = training_windows(ys, input_length, h, per_series, min_input)
    return np.concatenate(cuts)[nonzero_rows(X)] if cuts else np.zeros(0, dtype=np.int64)


def _series_loss(net: nn.Module, kind: str):
    """``(params, x (W, L), y (W, h), w (W,)) -> scalar``: the mean loss of one series' windows with weight ``w``
    (1 for a window, 0 for padding), the training loop's loss (:func:`metacompose.models.training.loss_points`)."""
    def loss(params, x, y, w):
        err = loss_points(functional_call(net, params, (x,)), y, kind)
        return (err.mean(dim=1) * w).sum() / w.sum().clamp(min=1.0)
    return loss


def _pad(rows: list[np.ndarray], X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Stack the windows ``rows[b]`` of each series ``b``: ``(B, W, L)``, ``(B, W, h)`` and weights ``(B, W)``
    (``W`` the most windows of a series; shorter series padded with zero-weight copies of their first row)."""
    W = max(len(r) for r in rows)
    idx = np.stack([np.concatenate([r, np.full(W - len(r), r[0])]) for r in rows])
    w = np.stack([np.arange(W) < len(r) for r in rows]).astype(np.float32)
    idx_t = torch.as_tensor(idx)
    return X[idx_t], Y[idx_t], torch.as_tensor(w)


def _adapt(step, start: dict, log_rates: dict, batch: tuple, steps: int, B: int) -> dict:
    """``steps`` Meta-SGD steps of ``B`` series from ``start`` (unbatched); the inner gradients are constants."""
    params = {k: v.expand((B,) + v.shape) for k, v in start.items()}
    for _ in range(steps):
        with torch.no_grad():
            g = step({k: v.detach() for k, v in params.items()}, *batch)
        params = {k: params[k] - torch.exp(log_rates[k]) * g[k] for k in params}
    return params


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence torch's "batching rule not implemented" warning (``nn.LSTM`` under vmap runs, slower)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*batching rule.*")
        yield


def _per_series(fn):
    """``vmap(fn)`` over the leading (series) dimension of every argument; where torch has no batching rule
    for a layer (``nn.LSTM`` under autograd), a loop over the series with the same result, stacked."""
    batched, state = vmap(fn), {"loop": False}

    def run(params: dict, *args: torch.Tensor):
        if not state["loop"]:
            try:
                return batched(params, *args)
            except RuntimeError as exc:
                if "atching rule" not in str(exc):
                    raise
                state["loop"] = True
        outs = [fn({k: v[b] for k, v in params.items()}, *(a[b] for a in args)) for b in range(args[0].shape[0])]
        if isinstance(outs[0], dict):
            return {k: torch.stack([o[k] for o in outs]) for k in outs[0]}
        return torch.stack(outs)
    return run


def _groups(owner: np.ndarray) -> dict[int, np.ndarray]:
    """``{series: its rows}``, each in row (time) order."""
    order = np.argsort(owner, kind="stable")
    keys, first = np.unique(owner[order], return_index=True)
    return {int(k): r for k, r in zip(keys, np.split(order, first[1:]))}


def meta_sgd_rates(net: nn.Module, X: torch.Tensor, Y: torch.Tensor, owner: np.ndarray, cut: np.ndarray, h: int,
                   adapt_steps: int, meta_steps: int, loss: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Meta-learn Meta-SGD's per-parameter log step sizes for adapting ``net`` to one series (module docstring).

    Args:
        net: the trained global network (its parameters are not changed); maps ``(B, L)`` to ``(B, h)``.
        X: the network's input rows ``(N, L)``, float32, transformed units.
        Y: their transformed targets ``(N, h)``, float32.
        owner: int ``(N,)``, the series of each row; rows of a series in time order.
        cut: int ``(N,)``, each row's cut (points before its target), :func:`window_cuts`.
        h: horizon; a support window's target ends ``h`` or more points before the series' end.
        adapt_steps: ``K``, inner SGD steps (``>= 1``).
        meta_steps: Adam steps on the log-rates (0: the rates stay at :data:`RATE0`).
        loss: ``"mae"`` or ``"smape"`` (as the network was trained).
        generator: draws the series of each meta-step.

    Returns:
        ``{parameter name: log step sizes}``, each of the parameter's shape (detached).
    """
    start = {k: v.detach() for k, v in net.named_parameters()}
    log_rates = {k: torch.full_like(v, math.log(RATE0)).requires_grad_(True) for k, v in start.items()}
    tasks = []  # (support rows, query row) of every series with both
    for rows in _groups(owner).values():
        support = rows[cut[rows] <= cut[rows[-1]] - h]
        if support.size:
            tasks.append((support, rows[-1:]))
    if not tasks or meta_steps == 0:
        return {k: v.detach() for k, v in log_rates.items()}
    fn = _series_loss(net, loss)
    step, query_loss = _per_series(grad(fn)), _per_series(fn)
    opt = torch.optim.Adam(list(log_rates.values()), lr=META_LR)
    B = min(META_BATCH, len(tasks))
    with _quiet():
        for _ in range(meta_steps):
            pick = torch.randperm(len(tasks), generator=generator)[:B].tolist()
            support = _pad([tasks[i][0] for i in pick], X, Y)
            query = _pad([tasks[i][1] for i in pick], X, Y)
            params = _adapt(step, start, log_rates, support, adapt_steps, B)
            value = query_loss(params, *query).mean()
            opt.zero_grad(set_to_none=True)
            value.backward()
            grads = [p.grad for p in log_rates.values() if p.grad is not None]
            if torch.isfinite(value) and all(torch.isfinite(g).all() for g in grads):
                torch.nn.utils.clip_grad_norm_(list(log_rates.values()), 1.0)
                opt.step()
                with torch.no_grad():
                    for v in log_rates.values():
                        v.clamp_(max=MAX_LOG_RATE)
    return {k: v.detach() for k, v in log_rates.items()}


def adapt_forecast(net: nn.Module, X: torch.Tensor, Y: torch.Tensor, owner: np.ndarray, series: np.ndarray,
                   Xf: torch.Tensor, log_rates: dict[str, torch.Tensor], adapt_steps: int, loss: str) -> np.ndarray:
    """Forecast each series with the network adapted to it (module docstring), in transformed units.

    Args:
        net: the trained global network (not changed).
        X, Y, owner: the training rows, targets and their series, as :func:`meta_sgd_rates`.
        series: int ``(S,)``, the series of each forecast input row.
        Xf: the forecast input rows ``(S, L)``, float32, transformed units.
        log_rates: :func:`meta_sgd_rates`' result.
        adapt_steps: ``K``, SGD steps per series.
        loss: ``"mae"`` or ``"smape"``.

    Returns:
        float64 ``(S, h)``: the adapted network's outputs; the global network's for a series with no
        training window or a non-finite adapted output.
    """
    with torch.no_grad():
        out = net(Xf).double().numpy()
    has = np.isin(series, owner)
    todo = np.flatnonzero(has)
    if todo.size == 0:
        return out
    groups = _groups(owner)
    rows = [groups[int(s)] for s in series[todo]]
    start = {k: v.detach() for k, v in net.named_parameters()}
    fn = _series_loss(net, loss)
    step = _per_series(grad(fn))
    forecast = _per_series(lambda p, x: functional_call(net, p, (x[None],))[0])
    with _quiet():
        for a in range(0, todo.size, CHUNK):
            part = todo[a:a + CHUNK]
            batch = _pad(rows[a:a + CHUNK], X, Y)
            with torch.no_grad():
                params = _adapt(step, start, log_rates, batch, adapt_steps, part.size)
                pred = forecast(params, Xf[torch.as_tensor(part)]).double().numpy()
            fine = np.isfinite(pred).all(axis=1)
            out[part[fine]] = pred[fine]
    return out
