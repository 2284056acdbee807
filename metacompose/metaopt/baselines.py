"""Cheap meta-learning baselines from the same lineage as the learned optimizer.

* **Meta-SGD** (Li et al. 2017): plain SGD with a *learned per-parameter learning rate*
  ``p <- p - exp(log_lr) * g`` (one rate per coordinate of the architecture, shared by all
  series), optionally with a learned initialisation (then it is MAML-like). Meta-trained by
  backpropagating the along-unroll validation meta-loss through the SGD steps (first-order:
  the inner gradients are treated as inputs).
* **Reptile** (Nichol et al. 2018): a learned initialisation: repeatedly train copies on
  sampled tasks with Adam and move the initialisation toward the trained weights.

Both are tied to one architecture (their arrays have the model's shapes), unlike the
per-coordinate :class:`~metacompose.metaopt.network.OptimizerNet`. Both return plain dicts of
unbatched tensors; :func:`~metacompose.metaopt.tasks.run_inner` uses them
(``("sgd", log_lr)``, and ``expand_init(init, n)`` as ``params0``);
:func:`~metacompose.metaopt.weights_file.save_arrays` saves them without pickle.
"""

from __future__ import annotations

import math
import time

import torch

from .tasks import DEFAULT_HIDDEN, Params, TaskSet, loss_fns, model_functions, run_inner


def expand_init(init: Params, n: int) -> Params:
    """Repeat an unbatched initialisation ``n`` times (leading dim ``n``)."""
    return {k: v.detach()[None].expand((n,) + v.shape).clone() for k, v in init.items()}


def meta_sgd_train(tasks: TaskSet, model: str = "mlp", hidden: int | None = None,
                   unroll_length: int = 100, batch_size: int = 16, steps: int = 60,
                   lr0: float = 1e-2, learn_init: bool = False, meta_lr: float = 3e-2,
                   clip: float = 1.0, seed: int = 0) -> tuple[dict, dict]:
    """Meta-train Meta-SGD's per-parameter log learning rates (and optionally the init).

    Args:
        tasks: the task family.
        model, hidden: the functional model (rates have its parameter shapes).
        unroll_length: T, SGD steps per task (the whole unroll is backpropagated).
        batch_size: tasks per meta-iteration.
        steps: meta-iterations.
        lr0: initial learning rate of every coordinate.
        learn_init: also learn the initialisation.
        meta_lr: Adam rate on ``log_lr`` (and the init).
        clip: meta-gradient global-norm clip.
        seed: random seed.

    Returns:
        ``(result, history)``: ``result = {"log_lr": {name: tensor}, "init": {name: tensor} or None}``.
    """
    gen = torch.Generator().manual_seed(seed)
    hidden = hidden or DEFAULT_HIDDEN[model]
    init_fn, _ = model_functions(model)
    bloss, bgrad = loss_fns(model)
    shapes = {k: v.shape[1:] for k, v in init_fn(1, tasks.n_lags, tasks.horizon, hidden, gen).items()}
    log_lr = {k: torch.full(s, math.log(lr0), requires_grad=True) for k, s in shapes.items()}
    meta_params = list(log_lr.values())
    init = None
    if learn_init:
        init = {k: v[0].clone().requires_grad_(True)
                for k, v in init_fn(1, tasks.n_lags, tasks.horizon, hidden, gen).items()}
        meta_params += list(init.values())
    opt = torch.optim.Adam(meta_params, lr=meta_lr)
    S, B, t0 = len(tasks), batch_size, time.time()
    hist = {"meta_loss": []}
    for _ in range(steps):
        idx = torch.randint(S, (B,), generator=gen)
        if learn_init:
            params = {k: v[None].expand((B,) + v.shape) for k, v in init.items()}
        else:
            params = init_fn(B, tasks.n_lags, tasks.horizon, hidden, gen)
        Xtr, Ytr, Mtr = tasks.X_tr[idx], tasks.Y_tr[idx], tasks.M_tr[idx]
        Xva, Yva, Mva = tasks.X_va[idx], tasks.Y_va[idx], tasks.M_va[idx]
        with torch.no_grad():
            ref = bloss(params, Xva, Yva, Mva)
        terms = []
        for _t in range(unroll_length):
            g, _ = bgrad({k: v.detach() for k, v in params.items()}, Xtr, Ytr, Mtr)
            params = {k: params[k] - torch.exp(log_lr[k])[None] * g[k] for k in params}
            terms.append(torch.log(bloss(params, Xva, Yva, Mva) / ref).clamp(max=math.log(1e3)))
        loss = torch.stack(terms).mean()
        opt.zero_grad()
        if torch.isfinite(loss):
            loss.backward()
            if all(torch.isfinite(p.grad).all() for p in meta_params if p.grad is not None):
                torch.nn.utils.clip_grad_norm_(meta_params, clip)
                opt.step()
        hist["meta_loss"].append(float(loss.detach()))
    hist["wall_s"] = time.time() - t0
    result = {"log_lr": {k: v.detach() for k, v in log_lr.items()},
              "init": None if init is None else {k: v.detach() for k, v in init.items()}}
    return result, hist


def reptile_train(tasks: TaskSet, model: str = "mlp", hidden: int | None = None,
                  inner_steps: int = 100, inner_lr: float = 1e-2, batch_size: int = 16,
                  steps: int = 30, outer_lr: float = 0.5, seed: int = 0) -> tuple[Params, dict]:
    """Reptile: learn an initialisation from which Adam trains quickly.

    Args:
        tasks: the task family.
        model, hidden: the functional model.
        inner_steps: Adam steps per task.
        inner_lr: Adam learning rate of the inner loop (use the tuned one).
        batch_size: tasks per outer step (batched Reptile: the mean of their weights is the target).
        steps: outer steps; the outer rate decays linearly from ``outer_lr`` to 0.
        outer_lr: initial interpolation rate toward the trained weights.
        seed: random seed.

    Returns:
        ``(init, history)``: the unbatched initialisation dict.
    """
    gen = torch.Generator().manual_seed(seed)
    hidden = hidden or DEFAULT_HIDDEN[model]
    init_fn, _ = model_functions(model)
    init = {k: v[0] for k, v in init_fn(1, tasks.n_lags, tasks.horizon, hidden, gen).items()}
    S, t0 = len(tasks), time.time()
    hist = {"val_ratio": []}
    for it in range(steps):
        idx = torch.randint(S, (batch_size,), generator=gen)
        r = run_inner(tasks.subset(idx), model, expand_init(init, batch_size), inner_steps, ("adam", inner_lr))
        eps = outer_lr * (1.0 - it / max(steps, 1))
        init = {k: v + eps * (torch.nan_to_num(r["params"][k]).mean(0) - v) for k, v in init.items()}
        hist["val_ratio"].append(float(torch.log(r["val"][:, -1] / r["val"][:, 0]).mean()))
    hist["wall_s"] = time.time() - t0
    return init, hist
