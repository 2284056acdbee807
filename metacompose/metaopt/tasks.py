"""Task family for meta-training: per-series forecasting problems as one tensor program.

A *task* = train a fresh, tiny forecaster on one series' training windows; its quality is the
loss on *later* validation windows of the same training part (the test part is never touched).

Windows of series ``x`` (length ``t``), with ``L = n_lags``, ``H = horizon``, ``V = n_val``:

* the series is divided by ``scale = mean(|x[:cut]|)`` with ``cut = t - H - V + 1``;
* a window at origin ``o`` has input ``y[o-L:o] - y[o-1]`` and target ``y[o:o+H] - y[o-1]``
  (level-normalised, so a zero output is the naive forecast);
* validation windows: origins ``cut .. cut+V-1`` (their targets end at most at ``t``);
  training windows: every origin whose target ends at or before ``cut`` (the most recent
  ``max_train_windows`` of them), so no training target overlaps a validation target's span.

Models are *functional* (dicts of tensors) so ``torch.func.vmap(grad(loss))`` trains many
per-series models at once: a one-hidden-layer MLP and a hand-written LSTM cell (``vmap`` does
not support ``nn.LSTM``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch.func import grad_and_value, vmap

from ..errors import InputError, SeriesTooShortError
from .network import init_state

Params = dict[str, torch.Tensor]


@dataclass
class TaskSet:
    """Windows of S series, padded to a common count (masks mark real windows).

    Attributes:
        X_tr: training inputs ``(S, W, L)``; Y_tr: targets ``(S, W, H)``; M_tr: mask ``(S, W)``.
        X_va, Y_va: validation inputs/targets ``(S, V, L)`` / ``(S, V, H)``; M_va: ``(S, V)``.
        X_last: input window at the end of the training part ``(S, L)`` (for forecasting).
        level: ``y[t-1]`` per series ``(S,)``; scale: divisor per series ``(S,)``.
    """

    X_tr: torch.Tensor
    Y_tr: torch.Tensor
    M_tr: torch.Tensor
    X_va: torch.Tensor
    Y_va: torch.Tensor
    M_va: torch.Tensor
    X_last: torch.Tensor
    level: torch.Tensor
    scale: torch.Tensor

    def __len__(self) -> int:
        return self.X_tr.shape[0]

    @property
    def n_lags(self) -> int:
        return self.X_tr.shape[-1]

    @property
    def horizon(self) -> int:
        return self.Y_tr.shape[-1]

    def subset(self, idx) -> "TaskSet":
        """Tasks ``idx`` (an index tensor / list) as a new TaskSet."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        return TaskSet(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def to_forecast(self, pred: torch.Tensor) -> np.ndarray:
        """Map scaled model outputs ``(S, H)`` for ``X_last`` back to series units ``(S, H)``."""
        return ((pred + self.level[:, None]) * self.scale[:, None]).detach().cpu().numpy()


def make_tasks(series: list, n_lags: int, horizon: int, n_val: int = 4, max_train_windows: int = 64,
               min_train_windows: int = 4, skip_short: bool = True) -> tuple[TaskSet, list[int]]:
    """Build the task family from raw series.

    Args:
        series: list of 1-D float arrays (training parts only).
        n_lags: input window length L.
        horizon: output length H (direct multi-step).
        n_val: validation windows per series V.
        max_train_windows: keep at most this many (most recent) training windows W.
        min_train_windows: a series with fewer training windows is too short.
        skip_short: drop too-short series (their indices are left out of the returned list)
            instead of raising.

    Returns:
        ``(tasks, kept)``: the TaskSet and the indices of the series it holds.

    Raises:
        InputError: bad arguments, non-finite values, or no usable series.
        SeriesTooShortError: a series is too short and ``skip_short`` is False.
    """
    if n_lags < 1 or horizon < 1 or n_val < 1 or max_train_windows < 1:
        raise InputError("n_lags, horizon, n_val and max_train_windows must be >= 1")
    L, H, V = int(n_lags), int(horizon), int(n_val)
    rows, kept = [], []
    for i, s in enumerate(series):
        x = np.asarray(s, dtype=np.float64).ravel()
        if not np.all(np.isfinite(x)):
            raise InputError(f"series {i} has non-finite values")
        t = x.shape[0]
        cut = t - H - V + 1
        origins = np.arange(L, cut - H + 1)
        if origins.size < min_train_windows:
            if skip_short:
                continue
            raise SeriesTooShortError(
                f"series {i} has {t} points; needs >= {L + 2 * H + V - 2 + min_train_windows}")
        scale = float(np.mean(np.abs(x[:cut])))
        scale = scale if scale > 0 and np.isfinite(scale) else 1.0
        y = x / scale
        origins = origins[-max_train_windows:]

        def win(o):
            base = y[o - 1]
            return y[o - L:o] - base, y[o:o + H] - base

        tr = [win(o) for o in origins]
        va = [win(o) for o in range(cut, cut + V)]
        rows.append((tr, va, y[t - L:t] - y[t - 1], y[t - 1], scale))
        kept.append(i)
    if not rows:
        raise InputError("no series is long enough for the requested n_lags/horizon/n_val")
    S, W = len(rows), max(len(r[0]) for r in rows)
    X_tr, Y_tr, M_tr = np.zeros((S, W, L)), np.zeros((S, W, H)), np.zeros((S, W))
    X_va, Y_va = np.zeros((S, V, L)), np.zeros((S, V, H))
    X_last, level, scale = np.zeros((S, L)), np.zeros(S), np.zeros(S)
    for j, (tr, va, xl, lv, sc) in enumerate(rows):
        n = len(tr)
        X_tr[j, :n] = [a for a, _ in tr]
        Y_tr[j, :n] = [b for _, b in tr]
        M_tr[j, :n] = 1.0
        X_va[j] = [a for a, _ in va]
        Y_va[j] = [b for _, b in va]
        X_last[j], level[j], scale[j] = xl, lv, sc
    f = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    ts = TaskSet(f(X_tr), f(Y_tr), f(M_tr), f(X_va), f(Y_va), torch.ones(S, V), f(X_last), f(level), f(scale))
    return ts, kept


# ----------------------------------------------------------------------------- models

def mlp_init(n: int, n_lags: int, horizon: int, hidden: int = 32,
             generator: torch.Generator | None = None) -> Params:
    """``n`` independent MLP initialisations (PyTorch's default uniform init).

    Returns:
        Dict of batched tensors: ``W1 (n, L, hid)``, ``b1 (n, hid)``, ``W2 (n, hid, H)``, ``b2 (n, H)``.
    """
    def u(shape, fan_in):
        b = 1.0 / math.sqrt(fan_in)
        return (torch.rand(shape, generator=generator) * 2 - 1) * b

    return {"W1": u((n, n_lags, hidden), n_lags), "b1": u((n, hidden), n_lags),
            "W2": u((n, hidden, horizon), hidden), "b2": u((n, horizon), hidden)}


def mlp_apply(p: Params, X: torch.Tensor) -> torch.Tensor:
    """One model (unbatched params): inputs ``(..., L)`` -> outputs ``(..., H)``."""
    return torch.relu(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]


def lstm_init(n: int, n_lags: int, horizon: int, hidden: int = 16,
              generator: torch.Generator | None = None) -> Params:
    """``n`` LSTM initialisations (uniform ±1/sqrt(hidden), forget-gate bias +1).

    Returns:
        Dict: ``Wx (n, 4*hid)``, ``Wh (n, hid, 4*hid)``, ``b (n, 4*hid)``, ``Wo (n, hid, H)``, ``bo (n, H)``.
    """
    k = 1.0 / math.sqrt(hidden)

    def u(shape):
        return (torch.rand(shape, generator=generator) * 2 - 1) * k

    b = u((n, 4 * hidden))
    b[:, hidden:2 * hidden] += 1.0
    return {"Wx": u((n, 4 * hidden)), "Wh": u((n, hidden, 4 * hidden)), "b": b,
            "Wo": u((n, hidden, horizon)), "bo": u((n, horizon))}


def lstm_apply(p: Params, X: torch.Tensor) -> torch.Tensor:
    """Hand-written LSTM over the lag window (one scalar per time step), linear head on the
    last hidden state. Inputs ``(N, L)`` (or ``(L,)``) -> outputs ``(N, H)`` (or ``(H,)``)."""
    squeeze = X.dim() == 1
    if squeeze:
        X = X[None]
    hid = p["Wh"].shape[0]
    h = X.new_zeros(X.shape[0], hid)
    c = X.new_zeros(X.shape[0], hid)
    for t in range(X.shape[1]):
        z = X[:, t:t + 1] * p["Wx"] + h @ p["Wh"] + p["b"]
        i, f, g, o = z.split(hid, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
    out = h @ p["Wo"] + p["bo"]
    return out[0] if squeeze else out


MODELS = {"mlp": (mlp_init, mlp_apply), "lstm": (lstm_init, lstm_apply)}
DEFAULT_HIDDEN = {"mlp": 32, "lstm": 16}


def model_functions(name: str):
    """``(init_fn, apply_fn)`` of a functional model (``"mlp"`` or ``"lstm"``).

    ``init_fn(n, n_lags, horizon, hidden, generator)`` draws ``n`` batched initialisations
    (see :func:`mlp_init`, :func:`lstm_init`); ``apply_fn(params, X)`` runs one model (see
    :func:`mlp_apply`, :func:`lstm_apply`). Not to be confused with
    :func:`metacompose.models.get_model`, which builds a forecaster.

    Raises:
        InputError: unknown model name.
    """
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    return MODELS[name]


def masked_mse(pred: torch.Tensor, Y: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """Mean squared error over real windows: pred/Y ``(W, H)``, mask M ``(W,)`` -> scalar."""
    per = ((pred - Y) ** 2).mean(-1)
    return (per * M).sum() / M.sum().clamp_min(1.0)


def loss_fns(model: str):
    """Batched loss and loss-gradient functions for ``model``.

    Returns:
        ``(batched_loss, batched_grad_and_loss)``: ``vmap``-ed over the leading task dim;
        ``batched_loss(params, X, Y, M) -> (B,)`` and
        ``batched_grad_and_loss(params, X, Y, M) -> (grads dict, (B,))``.
    """
    _, apply = model_functions(model)

    def loss(p, X, Y, M):
        return masked_mse(apply(p, X), Y, M)

    return vmap(loss), vmap(grad_and_value(loss))


# ----------------------------------------------------------------------------- inner loops

def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.reshape(mask.shape + (1,) * (a.dim() - 1)), a, b)


@torch.no_grad()
def run_inner(tasks: TaskSet, model: str, params0: Params, steps: int, opt: tuple,
              record_params_at: tuple[int, ...] = ()) -> dict:
    """Train one model per task for ``steps`` full-batch steps and record the curves.

    Args:
        tasks: S tasks.
        model: ``"mlp"`` or ``"lstm"``.
        params0: batched initial parameters (leading dim S).
        steps: number of optimizer steps.
        opt: ``("adam", lr)``, ``("sgd", log_lr_dict)`` (Meta-SGD per-parameter rates, unbatched
            shapes) or ``("learned", OptimizerNet)``.
        record_params_at: step counts at which to keep a copy of the parameters.

    Returns:
        Dict with ``val`` and ``train``: losses ``(S, steps+1)`` (column k = after k steps),
        ``params`` (final), ``best_params`` / ``best_step`` (lowest validation loss so far:
        early stopping), and ``at`` (step -> params) for ``record_params_at``.
    """
    bloss, bgrad = loss_fns(model)
    params = {k: v.clone() for k, v in params0.items()}
    kind, arg = opt
    if kind == "learned":
        state = {k: init_state(v) for k, v in params.items()}
    elif kind == "adam":
        state = {k: (torch.zeros_like(v), torch.zeros_like(v)) for k, v in params.items()}
    elif kind != "sgd":
        raise InputError(f"unknown optimizer kind {kind!r}")
    S = len(tasks)
    val = torch.empty(S, steps + 1)
    train = torch.empty(S, steps + 1)
    val[:, 0] = bloss(params, tasks.X_va, tasks.Y_va, tasks.M_va)
    best = {k: v.clone() for k, v in params.items()}
    best_val = val[:, 0].clone()
    best_step = torch.zeros(S, dtype=torch.long)
    at = {}
    for t in range(1, steps + 1):
        g, tr = bgrad(params, tasks.X_tr, tasks.Y_tr, tasks.M_tr)
        train[:, t - 1] = tr
        for k in params:
            if kind == "adam":
                m, v = state[k]
                m.mul_(0.9).add_(g[k], alpha=0.1)
                v.mul_(0.999).addcmul_(g[k], g[k], value=0.001)
                params[k] = params[k] - arg * (m / (1 - 0.9 ** t)) / (torch.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
            elif kind == "sgd":
                params[k] = params[k] - torch.exp(arg[k])[None] * g[k]
            else:
                delta, state[k] = arg.update(params[k], g[k], state[k], float(t), nb=1)
                params[k] = params[k] + delta
        vl = bloss(params, tasks.X_va, tasks.Y_va, tasks.M_va)
        vl = torch.where(torch.isfinite(vl), vl, torch.full_like(vl, float("inf")))
        val[:, t] = vl
        improved = vl < best_val
        best_val = torch.where(improved, vl, best_val)
        best_step = torch.where(improved, torch.full_like(best_step, t), best_step)
        for k in params:
            best[k] = _where(improved, params[k], best[k])
        if t in record_params_at:
            at[t] = {k: v.clone() for k, v in params.items()}
    train[:, steps] = bloss(params, tasks.X_tr, tasks.Y_tr, tasks.M_tr)
    return {"val": val, "train": train, "params": params, "best_params": best,
            "best_step": best_step, "at": at}


@torch.no_grad()
def forecast(tasks: TaskSet, model: str, params: Params) -> np.ndarray:
    """Forecast the ``horizon`` points after each task's training part, in series units ``(S, H)``."""
    _, apply = model_functions(model)
    pred = vmap(apply)(params, tasks.X_last[:, None, :])[:, 0, :]
    return tasks.to_forecast(pred)
