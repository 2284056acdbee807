"""Meta-training of the learned optimizer over tasks drawn from many series.

Scheme (persistent truncated unrolls, as in learned_optimization's ``TruncatedStep``):

* B *slots*, each training a fresh per-series model (one task) for ``unroll_length`` = T steps.
  All B models are one tensor program: ``torch.func.vmap(grad(loss))`` gives their gradients.
* Each meta-iteration advances every slot by ``truncation`` = K steps; the parameters and the
  optimizer accumulators are *carried* to the next meta-iteration (detached: truncated
  backpropagation). A slot that reaches T restarts with a new series and a new initialisation.
* Randomised offsets: the slots start at random points of their unroll, so a meta-batch mixes
  early and late training phases (otherwise all gradients would come from the same phase).
* Meta-loss: along the unroll, the mean over the K steps and B slots of
  ``log(val_loss_t / val_loss_0)`` — validation loss on *later* windows of the same training
  part, relative to the slot's initial validation loss (scale-free across series).
* First-order by default (the inner gradient is treated as an input, as in Andrychowicz et al.
  2016, who drop second derivatives); ``second_order=True`` keeps them.
* Meta-gradients are clipped by global norm; a non-finite meta-loss or meta-gradient skips the
  meta-update and restarts the offending slots (NaN/divergence guard); a slot whose training
  loss exceeds ``diverge_factor`` x its start is restarted too. Checkpoints every
  ``checkpoint_every`` meta-iterations.
* Resumable: a checkpoint (:func:`~metacompose.metaopt.checkpoint.save_checkpoint`) holds the complete training state, so
  ``resume=True`` after the process was killed continues exactly where the checkpoint was
  taken; the resumed run gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import FileFormatError, InputError
from .checkpoint import _resume_state, _tasks_fingerprint, _u8, save_checkpoint
from .io import save_weights
from .network import OptimizerNet, init_state
from .tasks import DEFAULT_HIDDEN, TaskSet, get_model, loss_fns, make_tasks, run_inner


def tune_adam_lr(tasks: TaskSet, model: str = "mlp", steps: int = 100,
                 grid=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2), hidden: int | None = None, seed: int = 0,
                 early_stopping: bool = False) -> tuple[float, dict]:
    """Grid-search Adam's learning rate on ``tasks`` for a ``steps`` budget.

    Args:
        tasks: tuning tasks (never the evaluation tasks).
        model, hidden: the functional model and its width.
        steps: step budget.
        grid: learning rates tried.
        seed: seed of the initialisations.
        early_stopping: score the best validation loss along the run instead of the final one.

    Returns:
        ``(best_lr, scores)`` where scores maps lr -> mean log validation-loss ratio (lower is better).
    """
    init, _ = get_model(model)
    hidden = hidden or DEFAULT_HIDDEN[model]
    g = torch.Generator().manual_seed(seed)
    p0 = init(len(tasks), tasks.n_lags, tasks.horizon, hidden, g)
    scores = {}
    for lr in grid:
        r = run_inner(tasks, model, p0, steps, ("adam", lr))
        v = r["val"].min(1).values if early_stopping else r["val"][:, -1]
        s = torch.log(v / r["val"][:, 0])
        scores[lr] = float(torch.nan_to_num(s, nan=10.0, posinf=10.0).mean())
    best = min(scores, key=scores.get)
    return best, scores


def meta_loss_of(net: OptimizerNet, tasks: TaskSet, model: str = "mlp", steps: int = 50,
                 hidden: int | None = None, seed: int = 1234) -> float:
    """Meta-loss of ``net`` on ``tasks``: mean over steps 1..T and tasks of log(val_t / val_0).

    Uses fixed initialisations (``seed``) so two networks are compared on identical runs.
    """
    init, _ = get_model(model)
    hidden = hidden or DEFAULT_HIDDEN[model]
    g = torch.Generator().manual_seed(seed)
    p0 = init(len(tasks), tasks.n_lags, tasks.horizon, hidden, g)
    r = run_inner(tasks, model, p0, steps, ("learned", net))
    ratio = torch.log(r["val"][:, 1:] / r["val"][:, :1])
    return float(torch.nan_to_num(ratio, nan=10.0, posinf=10.0).clamp(max=10.0).mean())


def meta_train_tasks(tasks: TaskSet, *, model: str = "mlp", hidden: int | None = None,
                     net: OptimizerNet | None = None, mode: str = "correction",
                     adam_lr: float | None = None, unroll_length: int = 100, truncation: int = 10,
                     batch_size: int = 16, steps: int = 200, meta_lr: float = 3e-3,
                     clip: float = 1.0, seed: int = 0, second_order: bool = False,
                     diverge_factor: float = 1e3, checkpoint_path=None, checkpoint_every: int = 50,
                     log_every: int = 0, net_hidden: int = 32, step_scale: float = 0.01,
                     resume: bool = False) -> tuple[OptimizerNet, dict]:
    """Meta-train an :class:`OptimizerNet` on a task family (see the module docstring).

    Args:
        tasks: the task family (from :func:`~metacompose.metaopt.tasks.make_tasks`).
        model: inner model, ``"mlp"`` or ``"lstm"``; hidden: its width.
        net: network to continue training; a new one (``mode``, ``net_hidden``,
            ``step_scale``, ``adam_lr``) when None.
        mode: ``"pure"`` or ``"correction"`` (for a new net).
        adam_lr: Adam rate of the correction mode; tuned on ``tasks`` when None.
        unroll_length: T, inner steps per task.
        truncation: K, inner steps per meta-gradient.
        batch_size: B, tasks trained in parallel.
        steps: number of meta-iterations (meta-gradient steps).
        meta_lr: Adam learning rate of the meta-optimizer.
        clip: global-norm clip of the meta-gradient.
        seed: seed of every random draw (series, initialisations, offsets, network init).
        second_order: backpropagate through the inner gradients too.
        diverge_factor: restart a slot whose training loss exceeds this multiple of its start.
        checkpoint_path: where to save checkpoints (``None``: no checkpoints): every
            ``checkpoint_every`` iterations and after the last one. A checkpoint holds the
            whole training state (see :func:`~metacompose.metaopt.checkpoint.save_checkpoint`): network weights, the
            meta-optimizer's Adam state, the iteration, the generators' states and the carried
            inner state of the B slots (parameters, accumulators, offsets, tasks).
        checkpoint_every: meta-iterations between checkpoints (0: only the final one).
        log_every: print progress every this many meta-iterations (0: silent).
        resume: if ``checkpoint_path`` exists, load it and continue from its iteration up to
            ``steps`` (``steps`` may differ from the interrupted run; if the checkpoint is
            already at or past ``steps`` nothing is trained). The carried slots are restored,
            so the result equals that of an uninterrupted run. The network comes from the
            checkpoint (its weights are loaded into ``net`` when one is given). Missing file:
            start from scratch.

    Returns:
        ``(net, history)``; history has per-iteration ``meta_loss`` (including the
        iterations before a resume), ``skipped`` count, ``adam_lr``, ``wall_s`` and
        ``start_iteration`` (0, or the checkpoint's iteration when resumed).

    Raises:
        InputError: bad sizes.
        FileFormatError: ``resume`` and the checkpoint is corrupt, is not a meta-training
            checkpoint, or was written with another configuration (task data, model, sizes,
            seed, meta-learning rate, network settings ...).
    """
    if unroll_length < 1 or truncation < 1 or batch_size < 1 or steps < 0:
        raise InputError("unroll_length, truncation, batch_size must be >= 1 and steps >= 0")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    hidden = hidden or DEFAULT_HIDDEN[model]
    init, _ = get_model(model)
    bloss, bgrad = loss_fns(model)
    S, B, T, K = len(tasks), batch_size, unroll_length, truncation
    t0 = time.time()
    train_config = {"model": model, "hidden": int(hidden), "unroll_length": int(T), "truncation": int(K),
                    "batch_size": int(B), "meta_lr": float(meta_lr), "clip": float(clip), "seed": int(seed),
                    "second_order": bool(second_order), "diverge_factor": float(diverge_factor),
                    "n_tasks": int(S), "n_lags": int(tasks.n_lags), "horizon": int(tasks.horizon)}
    ckpt = None
    if checkpoint_path is not None:  # the name save_arrays writes to (``.npz`` appended if missing)
        checkpoint_path = Path(checkpoint_path)
        if checkpoint_path.suffix != ".npz":
            checkpoint_path = checkpoint_path.with_name(checkpoint_path.name + ".npz")
    if resume and checkpoint_path is not None and checkpoint_path.exists():
        ckpt = _resume_state(checkpoint_path, tasks, train_config, net, mode, adam_lr, net_hidden, step_scale)
        net = ckpt["net"]
    if checkpoint_path is not None:
        train_config["tasks_sha256"] = _tasks_fingerprint(tasks)
    if ckpt is not None and ckpt["train_config"].get("tasks_sha256") != train_config["tasks_sha256"]:
        raise FileFormatError(f"{checkpoint_path}: checkpoint was written for other task data "
                              "(the task family's fingerprint differs); delete it or resume=False")
    if net is None:
        if mode == "correction" and adam_lr is None:
            adam_lr, _ = tune_adam_lr(tasks.subset(torch.randperm(S, generator=gen)[:64]), model, T,
                                      hidden=hidden, seed=seed)
        net = OptimizerNet(hidden=net_hidden, mode=mode, step_scale=step_scale,
                           adam_lr=adam_lr if adam_lr is not None else 1e-2)
    net.train()
    meta_opt = torch.optim.Adam(net.parameters(), lr=meta_lr)

    def fresh(n):
        idx = torch.randint(S, (n,), generator=gen)
        p = init(n, tasks.n_lags, tasks.horizon, hidden, gen)
        return idx, p

    idx, params = fresh(B)
    state = {k: init_state(v) for k, v in params.items()}
    tstep = torch.randint(0, T, (B,), generator=gen).float()  # randomised offsets
    with torch.no_grad():
        ref = bloss(params, tasks.X_va[idx], tasks.Y_va[idx], tasks.M_va[idx])
        ref_tr = bloss(params, tasks.X_tr[idx], tasks.Y_tr[idx], tasks.M_tr[idx])

    def restart(mask):
        nonlocal idx, params, state, tstep, ref, ref_tr
        n = int(mask.sum())
        if n == 0:
            return
        new_idx, newp = fresh(B)
        idx = torch.where(mask, new_idx, idx)
        m = lambda a: mask.reshape((B,) + (1,) * (a.dim() - 1))  # noqa: E731
        params = {k: torch.where(m(v), newp[k], v) for k, v in params.items()}
        state = {k: {s: torch.where(m(a), torch.zeros_like(a), a) for s, a in st.items()}
                 for k, st in state.items()}
        tstep = torch.where(mask, torch.zeros_like(tstep), tstep)
        with torch.no_grad():
            r = bloss(params, tasks.X_va[idx], tasks.Y_va[idx], tasks.M_va[idx])
            rt = bloss(params, tasks.X_tr[idx], tasks.Y_tr[idx], tasks.M_tr[idx])
        ref = torch.where(mask, r, ref)
        ref_tr = torch.where(mask, rt, ref_tr)

    hist = {"meta_loss": [], "skipped": 0, "restarts_diverged": 0, "adam_lr": net.adam_lr,
            "start_iteration": 0}
    start = 0
    if ckpt is not None:
        a = ckpt["arrays"]
        start = ckpt["iteration"]
        try:
            opt_sd = meta_opt.state_dict()
            state_ids = sorted({int(k.split(":")[1]) for k in a if k.startswith("opt:")})
            opt_sd["state"] = {i: {k.split(":")[2]: torch.from_numpy(np.array(v))
                                   for k, v in a.items() if k.startswith(f"opt:{i}:")} for i in state_ids}
            meta_opt.load_state_dict(opt_sd)
            gen.set_state(_u8(a["rng:gen"]))
            torch.set_rng_state(_u8(a["rng:torch"]))
            idx = torch.from_numpy(np.array(a["slot:idx"])).round().long()
            tstep = torch.from_numpy(np.array(a["slot:tstep"]))
            ref = torch.from_numpy(np.array(a["slot:ref"]))
            ref_tr = torch.from_numpy(np.array(a["slot:ref_tr"]))
            new_params = {k: torch.from_numpy(np.array(a[f"slot:p:{k}"])) for k in params}
            new_state = {k: {s_: torch.from_numpy(np.array(a[f"slot:s:{k}:{s_}"])) for s_ in st}
                         for k, st in state.items()}
        except (KeyError, ValueError, RuntimeError, IndexError) as exc:
            raise FileFormatError(f"{checkpoint_path}: checkpoint does not fit this training "
                                  f"configuration ({exc})") from exc
        for k in params:
            if new_params[k].shape != params[k].shape:
                raise FileFormatError(f"{checkpoint_path}: carried parameter {k!r} has shape "
                                      f"{tuple(new_params[k].shape)}, expected {tuple(params[k].shape)}")
        if idx.shape != (B,) or int(idx.min()) < 0 or int(idx.max()) >= S:
            raise FileFormatError(f"{checkpoint_path}: slot task indices do not fit this task family")
        params, state = new_params, new_state
        h = ckpt["hist"]
        hist.update(meta_loss=list(h.get("meta_loss", [])), skipped=int(h.get("skipped", 0)),
                    restarts_diverged=int(h.get("restarts_diverged", 0)), start_iteration=start)

    def checkpoint(iteration):
        save_checkpoint(checkpoint_path, net=net, meta_opt=meta_opt, iteration=iteration, gen=gen,
                        slots={"idx": idx, "tstep": tstep, "ref": ref, "ref_tr": ref_tr,
                               "params": params, "state": state},
                        train_config=train_config, hist=hist)

    last_saved = start
    for it in range(start, steps):
        params = {k: v.detach() for k, v in params.items()}
        state = {k: {s: a.detach() for s, a in st.items()} for k, st in state.items()}
        terms = []
        bad = torch.zeros(B, dtype=torch.bool)
        for _ in range(K):
            restart(tstep >= T)
            Xtr, Ytr, Mtr = tasks.X_tr[idx], tasks.Y_tr[idx], tasks.M_tr[idx]
            p_in = params if second_order else {k: v.detach() for k, v in params.items()}
            g, tr = bgrad(p_in, Xtr, Ytr, Mtr)
            tstep = tstep + 1
            newp, news = {}, {}
            for k in params:
                delta, news[k] = net.update(params[k], g[k].detach() if not second_order else g[k],
                                            state[k], tstep, nb=1)
                newp[k] = params[k] + delta
            params, state = newp, news
            vl = bloss(params, tasks.X_va[idx], tasks.Y_va[idx], tasks.M_va[idx])
            terms.append(torch.log(vl / ref).clamp(max=math.log(diverge_factor)))
            bad |= ~torch.isfinite(tr) | (tr.detach() > diverge_factor * ref_tr) | ~torch.isfinite(vl.detach())
        meta_loss = torch.stack(terms).mean()
        meta_opt.zero_grad()
        skipped = False
        if torch.isfinite(meta_loss):
            meta_loss.backward()
            grads = [p.grad for p in net.parameters() if p.grad is not None]
            if all(torch.isfinite(gr).all() for gr in grads):
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
                meta_opt.step()
            else:
                skipped = True
        else:
            skipped = True
        if skipped:
            hist["skipped"] += 1
            if not torch.isfinite(meta_loss):
                bad |= torch.ones(B, dtype=torch.bool)
        if bad.any():
            hist["restarts_diverged"] += int(bad.sum())
            with torch.no_grad():
                tstep = torch.where(bad, torch.full_like(tstep, float(T)), tstep)
                restart(tstep >= T)
        hist["meta_loss"].append(float(meta_loss.detach()))
        if log_every and (it + 1) % log_every == 0:
            recent = np.mean(hist["meta_loss"][-log_every:])
            print(f"meta-iter {it + 1}/{steps}  meta-loss {recent:.4f}  ({time.time() - t0:.0f}s)", flush=True)
        if checkpoint_path is not None and checkpoint_every and (it + 1) % checkpoint_every == 0:
            checkpoint(it + 1)
            last_saved = it + 1
    if checkpoint_path is not None and steps > last_saved:
        checkpoint(steps)
    hist["wall_s"] = time.time() - t0
    net.eval()
    return net, hist


def meta_train(series: list, horizon: int, season_length: int = 1, steps: int = 200, seed: int = 0,
               out_path=None, *, n_lags: int | None = None, model: str = "mlp", mode: str = "correction",
               unroll_length: int = 100, truncation: int = 10, batch_size: int = 16, n_val: int = 4,
               meta_lr: float = 3e-3, checkpoint_every: int = 50, log_every: int = 0,
               resume: bool = False) -> OptimizerNet:
    """Meta-train a learned optimizer on a user's series (entry point of ``metacompose metaopt train``).

    Args:
        series: list of 1-D float arrays, the training parts of the user's series.
        horizon: forecast horizon h (the tasks' output length).
        season_length: seasonal period m; the lag window defaults to ``max(2m, h)``.
        steps: meta-iterations.
        seed: random seed.
        out_path: where to save the final weights (``.npz``); checkpoints go to
            ``<out_path stem>.ckpt.npz`` every ``checkpoint_every`` iterations. None: not saved.
        n_lags: input window length (overrides the default above).
        model: inner model of the tasks, ``"mlp"`` or ``"lstm"``.
        mode: ``"correction"`` (Adam + learned correction; safer) or ``"pure"``.
        unroll_length, truncation, batch_size, meta_lr: see :func:`meta_train_tasks`.
        n_val: validation windows per series.
        log_every: print progress every this many iterations (0: silent).
        resume: continue from ``<out_path stem>.ckpt.npz`` when it exists (see
            :func:`meta_train_tasks`); ignored when ``out_path`` is None.

    Returns:
        The trained :class:`OptimizerNet`; load it with ``LearnedOptimizer(params, weights=out_path)``.

    Raises:
        InputError: no series is long enough, or bad arguments.
        FileFormatError: ``resume`` and the checkpoint is unreadable or from another configuration.
    """
    if n_lags is None:
        n_lags = max(2 * int(season_length), int(horizon), 2)
    tasks, kept = make_tasks(series, n_lags, horizon, n_val=n_val)
    ckpt = None
    if out_path is not None:
        out_path = Path(out_path)
        ckpt = out_path.with_name(out_path.stem + ".ckpt.npz")
    net, hist = meta_train_tasks(tasks, model=model, mode=mode, unroll_length=unroll_length,
                                 truncation=truncation, batch_size=batch_size, steps=steps,
                                 meta_lr=meta_lr, seed=seed, checkpoint_path=ckpt,
                                 checkpoint_every=checkpoint_every, log_every=log_every,
                                 resume=resume)
    if out_path is not None:
        save_weights(out_path, net, meta={
            "seed": seed, "steps": steps, "n_series": len(kept), "n_lags": n_lags, "horizon": horizon,
            "model": model, "unroll_length": unroll_length, "truncation": truncation,
            "batch_size": batch_size, "final_meta_loss": float(np.mean(hist["meta_loss"][-10:])) if hist["meta_loss"] else None,
            "wall_s": hist["wall_s"]})
    return net
