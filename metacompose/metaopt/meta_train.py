"""Meta-training of the learned optimizer over tasks drawn from many series.

Scheme (persistent truncated unrolls, as in learned_optimization's ``TruncatedStep``):

* B *slots* (:class:`~metacompose.metaopt.slots.Slots`), each training a fresh per-series model
  (one task) for ``unroll_length`` = T steps. All B models are one tensor program: ``torch.func.vmap(grad(loss))`` gives their gradients.
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
* Resumable: a checkpoint (:func:`~metacompose.metaopt.checkpoint.save_checkpoint`) holds the
  complete training state, so ``resume=True`` after the process was killed continues exactly where the checkpoint was
  taken; the resumed run gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..errors import FileFormatError, InputError
from ..fileio import container_base
from .checkpoint import load_resume_state, restore_training_state, save_checkpoint, tasks_fingerprint
from .network import OptimizerNet
from .slots import Slots
from .tasks import DEFAULT_HIDDEN, TaskSet, make_tasks, model_functions, run_inner
from .weights_file import save_weights


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
    init, _ = model_functions(model)
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
    init, _ = model_functions(model)
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
        checkpoint_path: base path of the checkpoint container (``None``: no checkpoints),
            written every ``checkpoint_every`` iterations and after the last one; it holds the
            whole training state (:func:`~metacompose.metaopt.checkpoint.save_checkpoint`).
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
        InputError: bad sizes, or an unknown model.
        FileFormatError: ``resume`` and the checkpoint is corrupt, is not a meta-training
            checkpoint, or was written with another configuration (task data, model, sizes,
            seed, meta-learning rate, network settings ...).
    """
    if unroll_length < 1 or truncation < 1 or batch_size < 1 or steps < 0:
        raise InputError("unroll_length, truncation, batch_size must be >= 1 and steps >= 0")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    hidden = hidden or DEFAULT_HIDDEN[model]
    model_functions(model)  # an unknown model fails here, before anything is read or drawn
    t0 = time.time()
    train_config = _train_config(tasks, model, hidden, unroll_length, truncation, batch_size, meta_lr, clip, seed,
                                 second_order, diverge_factor)
    ckpt = _read_checkpoint(checkpoint_path, resume, tasks, train_config, net, mode, adam_lr, net_hidden,
                            step_scale)
    if ckpt is not None:
        net = ckpt["net"]
    elif net is None:
        net = _new_net(tasks, model, hidden, mode, adam_lr, unroll_length, net_hidden, step_scale, seed, gen)
    net.train()
    meta_opt = torch.optim.Adam(net.parameters(), lr=meta_lr)
    slots = Slots(tasks, model, hidden, batch_size, unroll_length, gen)
    hist = _start_history(net.adam_lr, ckpt, checkpoint_path, meta_opt, gen, slots, len(tasks))

    def save(iteration: int) -> None:
        save_checkpoint(checkpoint_path, net=net, meta_opt=meta_opt, iteration=iteration, gen=gen,
                        slots=slots.as_dict(), train_config=train_config, hist=hist)

    _iterate(net, meta_opt, slots, hist, steps, truncation=truncation, clip=clip, second_order=second_order,
             diverge_factor=diverge_factor, log_every=log_every, checkpoint_every=checkpoint_every,
             save=None if checkpoint_path is None else save, t0=t0)
    hist["wall_s"] = time.time() - t0
    net.eval()
    return net, hist


def _train_config(tasks: TaskSet, model: str, hidden: int, unroll_length: int, truncation: int, batch_size: int,
                  meta_lr: float, clip: float, seed: int, second_order: bool, diverge_factor: float) -> dict:
    """The settings a checkpoint records and a resumed run must share (JSON values)."""
    return {"model": model, "hidden": int(hidden), "unroll_length": int(unroll_length),
            "truncation": int(truncation), "batch_size": int(batch_size), "meta_lr": float(meta_lr),
            "clip": float(clip), "seed": int(seed), "second_order": bool(second_order),
            "diverge_factor": float(diverge_factor), "n_tasks": len(tasks), "n_lags": int(tasks.n_lags),
            "horizon": int(tasks.horizon)}


def _start_history(adam_lr: float, ckpt: dict | None, checkpoint_path, meta_opt: torch.optim.Optimizer,
                   gen: torch.Generator, slots: Slots, n_tasks: int) -> dict:
    """A new training history, or, when resuming, the checkpoint's, after restoring the
    meta-optimizer, the generators and the slots from it."""
    hist = {"meta_loss": [], "skipped": 0, "restarts_diverged": 0, "adam_lr": adam_lr, "start_iteration": 0}
    if ckpt is not None:
        slots.load(restore_training_state(checkpoint_path, ckpt["arrays"], meta_opt, gen, slots.as_dict(), n_tasks))
        h = ckpt["hist"]
        hist.update(meta_loss=list(h.get("meta_loss", [])), skipped=int(h.get("skipped", 0)),
                    restarts_diverged=int(h.get("restarts_diverged", 0)), start_iteration=ckpt["iteration"])
    return hist


def _iterate(net: OptimizerNet, meta_opt: torch.optim.Optimizer, slots: Slots, hist: dict, steps: int, *,
             truncation: int, clip: float, second_order: bool, diverge_factor: float, log_every: int,
             checkpoint_every: int, save, t0: float) -> None:
    """Meta-iterations ``hist["start_iteration"]`` .. ``steps - 1`` (:func:`_meta_iteration`), with
    progress lines every ``log_every`` and checkpoints (``save(iteration)``; None: no checkpoints)
    every ``checkpoint_every`` and after the last."""
    last_saved = hist["start_iteration"]
    for it in range(hist["start_iteration"], steps):
        _meta_iteration(net, meta_opt, slots, truncation, clip, second_order, diverge_factor, hist)
        if log_every and (it + 1) % log_every == 0:
            recent = np.mean(hist["meta_loss"][-log_every:])
            print(f"meta-iter {it + 1}/{steps}  meta-loss {recent:.4f}  ({time.time() - t0:.0f}s)", flush=True)
        if save is not None and checkpoint_every and (it + 1) % checkpoint_every == 0:
            save(it + 1)
            last_saved = it + 1
    if save is not None and steps > last_saved:
        save(steps)


def _read_checkpoint(checkpoint_path, resume: bool, tasks: TaskSet, train_config: dict,
                     net: OptimizerNet | None, mode: str, adam_lr: float | None, net_hidden: int,
                     step_scale: float) -> dict | None:
    """The checkpoint to resume from (see :func:`~metacompose.metaopt.checkpoint.load_resume_state`),
    or None; adds the task family's fingerprint to ``train_config`` when checkpointing.

    Raises:
        FileFormatError: the checkpoint is unreadable, or written for another configuration or
            other task data.
    """
    ckpt = None
    if resume and checkpoint_path is not None:
        try:
            ckpt = load_resume_state(checkpoint_path, train_config, net, mode, adam_lr, net_hidden, step_scale)
        except FileNotFoundError:  # nothing to resume from: start from scratch
            ckpt = None
    if checkpoint_path is not None:
        train_config["tasks_sha256"] = tasks_fingerprint(tasks)
    if ckpt is not None and ckpt["train_config"].get("tasks_sha256") != train_config["tasks_sha256"]:
        raise FileFormatError(f"{checkpoint_path}: checkpoint was written for other task data "
                              "(the task family's fingerprint differs); delete it or resume=False")
    return ckpt


def _new_net(tasks: TaskSet, model: str, hidden: int, mode: str, adam_lr: float | None, unroll_length: int,
             net_hidden: int, step_scale: float, seed: int, gen: torch.Generator) -> OptimizerNet:
    """A new :class:`OptimizerNet`; in ``"correction"`` mode without ``adam_lr``, Adam's rate is
    first tuned (:func:`tune_adam_lr`) on up to 64 tasks drawn with ``gen``."""
    if mode == "correction" and adam_lr is None:
        adam_lr, _ = tune_adam_lr(tasks.subset(torch.randperm(len(tasks), generator=gen)[:64]), model,
                                  unroll_length, hidden=hidden, seed=seed)
    return OptimizerNet(hidden=net_hidden, mode=mode, step_scale=step_scale,
                        adam_lr=adam_lr if adam_lr is not None else 1e-2)


def _meta_update(net: OptimizerNet, meta_opt: torch.optim.Optimizer, meta_loss: torch.Tensor,
                 clip: float) -> bool:
    """Back-propagate ``meta_loss`` and take one clipped meta-optimizer step.

    Returns:
        False (and no step) when the meta-loss or a meta-gradient is not finite.
    """
    meta_opt.zero_grad()
    if not torch.isfinite(meta_loss):
        return False
    meta_loss.backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    if not all(torch.isfinite(gr).all() for gr in grads):
        return False
    torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
    meta_opt.step()
    return True


def _meta_iteration(net: OptimizerNet, meta_opt: torch.optim.Optimizer, slots: Slots, truncation: int,
                    clip: float, second_order: bool, diverge_factor: float, hist: dict) -> None:
    """One meta-iteration: advance every slot ``truncation`` steps, then update ``net``.

    The meta-loss is the mean of the slots' per-step terms; a skipped update (non-finite
    meta-loss or meta-gradient) counts in ``hist["skipped"]``, and restarts every slot when
    the meta-loss itself is not finite. Slots that diverged restart (counted in
    ``hist["restarts_diverged"]``). Appends the meta-loss to ``hist["meta_loss"]``.
    """
    slots.detach()
    terms = []
    bad = torch.zeros(slots.B, dtype=torch.bool)
    for _ in range(truncation):
        term, step_bad = slots.step(net, second_order, diverge_factor)
        terms.append(term)
        bad |= step_bad
    meta_loss = torch.stack(terms).mean()
    if not _meta_update(net, meta_opt, meta_loss, clip):
        hist["skipped"] += 1
        if not torch.isfinite(meta_loss):
            bad |= torch.ones(slots.B, dtype=torch.bool)
    if bad.any():
        hist["restarts_diverged"] += int(bad.sum())
        slots.restart_bad(bad)
    hist["meta_loss"].append(float(meta_loss.detach()))


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
        out_path: where to save the final weights: a container base path, written as
            ``<base>.json`` + ``<base>.npz`` (a ``.json``/``.npz`` suffix is dropped); checkpoints
            go to ``<base>-ckpt.json``/``.npz`` every ``checkpoint_every`` iterations. None: not
            saved.
        n_lags: input window length (overrides the default above).
        model: inner model of the tasks, ``"mlp"`` or ``"lstm"``.
        mode: ``"correction"`` (Adam + learned correction; safer) or ``"pure"``.
        unroll_length, truncation, batch_size, meta_lr: see :func:`meta_train_tasks`.
        n_val: validation windows per series.
        log_every: print progress every this many iterations (0: silent).
        resume: continue from the checkpoint ``<base>-ckpt`` when it exists (see
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
        base = container_base(out_path)
        ckpt = base.with_name(base.name + "-ckpt")
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
