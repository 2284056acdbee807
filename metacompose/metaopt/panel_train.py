"""Meta-training in the regime the learned optimizer is used in, and the runs that evaluate it.

Tasks are :class:`~metacompose.metaopt.panel_tasks.PanelTask` s: a neural member's global network
trained on mini-batches of windows from a panel. The scheme (persistent truncated unrolls, as in
learned_optimization's ``TruncatedStep``; Metz et al. 2019, "Understanding and correcting pathologies
in the training of learned optimizers"):

* ``slots`` tasks are trained side by side. Each runs ``T`` steps, ``T`` being the member's step
  budget times ``horizon_fraction`` (the *meta-training horizon*). A meta-iteration advances every
  slot by ``truncation`` = K steps; parameters and accumulators are carried, detached, to the next
  one (truncated back-propagation). A slot whose run ends starts a new task.
* **Curriculum of growing unrolls**: over the first ``curriculum`` fraction of the meta-iterations a
  new task's ``T`` grows linearly from a quarter of its final value (learned_optimization's truncation
  schedules vary the unroll length too), so the first, noisiest meta-gradients come from short runs.
  With the ``"relative"`` progress features, a short run and a long one look alike to the network.
* Meta-loss: the mean over the K steps and the slots of ``log(val_t / val_0)``, the validation loss
  of the member after step ``t`` relative to its start (scale-free across members and panels);
  with ``weighting="late"`` each term is weighted by ``2 t / T``, so the end of the run counts most.
* **First-order**: the inner gradient is an input, not differentiated (Andrychowicz et al. 2016); the
  meta-gradient flows through the updates into the validation loss. Truncated unrolls are biased
  toward short horizons; PES (Vicol et al. 2021) removes that bias but needs antithetic pairs of
  full-network perturbations per slot, which on two CPU cores would cut the tasks seen several-fold,
  so the curriculum and the bounded design carry the long-horizon behaviour instead.
* Guards: a non-finite meta-gradient skips the update; a slot whose terms over a truncation are not
  finite or average above ``log(diverge_factor)`` (its validation loss beyond ``diverge_factor`` x its
  start) is left out of the meta-gradient and restarts with a new task.
* Checkpoints every ``checkpoint_every`` meta-iterations hold the network, the meta-optimizer and
  the history; ``resume=True`` continues from the last one with freshly drawn slots (the tasks
  differ from an uninterrupted run's; the meta-training itself continues where it was).
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch
from torch.func import functional_call

from ..checks import check_choice, check_int, check_number
from ..errors import FileFormatError, InputError
from ..models.training import loss_points, train_network
from .checkpoint import optimizer_arrays, restore_optimizer
from .learned_optimizer import LearnedOptimizer
from .network import OptimizerNet, init_state
from .panel_tasks import PanelTask
from .weights_file import load_arrays, save_arrays

CHECKPOINT_KIND = "panel_meta_train_checkpoint"
WEIGHTINGS = ("uniform", "late")

__all__ = ["run_task", "validation_loss", "meta_train_panels"]


def validation_loss(task: PanelTask, net: torch.nn.Module) -> float:
    """The task's validation loss of ``net`` (mean of the member's loss over the validation windows, scaled units)."""
    with torch.no_grad():
        return float(loss_points(net(task.Xv), task.Yv, task.loss).mean())


def run_task(task: PanelTask, optimizer: tuple, steps: int, seed: int = 0, every: int = 1) -> dict:
    """Train the task's network from its initial parameters and record the validation loss.

    Args:
        task: the task.
        optimizer: ``("adam", lr, schedule)`` with schedule ``"constant"`` or ``"linear"`` (decay to 0),
            or ``("learned", net)`` for a :class:`~metacompose.metaopt.network.OptimizerNet` (its
            nominal rate is the task's ``lr``, its run length ``steps``).
        steps: optimizer steps.
        seed: seed of the mini-batch draws.
        every: record the validation loss every this many steps (and after the last).

    Returns:
        ``{"steps": (R,), "val": (R,), "train": (steps,), "wall_s"}``: the steps at which the validation
        loss was recorded (0 = before training), the losses, the training losses and the wall seconds
        of the training (recording excluded).

    Raises:
        InputError: an unknown optimizer.
    """
    net = task.start()
    if optimizer[0] == "adam":
        opt, decay = torch.optim.Adam(net.parameters(), lr=float(optimizer[1])), optimizer[2] == "linear"
    elif optimizer[0] == "learned":
        opt, decay = LearnedOptimizer(net.parameters(), net=optimizer[1], lr=task.lr, total_steps=steps), False
    else:
        raise InputError(f"unknown optimizer {optimizer[0]!r}: 'adam' or 'learned'")
    rec_steps, rec_val, spent = [0], [validation_loss(task, net)], [0.0]
    clock = [time.perf_counter()]

    def record(done: int) -> None:
        if done % every == 0 or done == steps:
            spent[0] += time.perf_counter() - clock[0]
            rec_steps.append(done)
            rec_val.append(validation_loss(task, net))
            clock[0] = time.perf_counter()

    gen = torch.Generator().manual_seed(int(seed))
    train = train_network(net, task.X, task.Y, opt, steps, task.batch_size, task.loss, gen, lr_decay=decay,
                          on_step=record)
    spent[0] += time.perf_counter() - clock[0]
    return {"steps": np.array(rec_steps), "val": np.array(rec_val), "train": np.array(train), "wall_s": spent[0]}


class _Slot:
    """One task in training inside meta-training: its parameters, accumulators and progress."""

    def __init__(self, task: PanelTask, T: int, gen: torch.Generator, late: bool = False):
        self.task, self.T, self.t, self.gen, self.late = task, T, 0, gen, late
        self.params = {k: v.detach().clone() for k, v in task.net.named_parameters()}
        self.state = {k: init_state(v) for k, v in self.params.items()}
        self.ref = self._val(self.params).detach()

    def _val(self, params: dict) -> torch.Tensor:
        pred = functional_call(self.task.net, params, (self.task.Xv,))
        return loss_points(pred, self.task.Yv, self.task.loss).mean()

    def detach(self) -> None:
        self.params = {k: v.detach() for k, v in self.params.items()}
        self.state = {k: {a: v.detach() for a, v in st.items()} for k, st in self.state.items()}

    def step(self, net: OptimizerNet) -> torch.Tensor:
        """One training step with ``net``; returns ``log(val_t / val_0)`` (differentiable in ``net``), times ``2 t / T``
        when the slot weighs the end of the run (``late``)."""
        task, n = self.task, self.task.X.shape[0]
        idx = torch.randint(n, (min(task.batch_size, n),), generator=self.gen) if n > task.batch_size else None
        xb, yb = (task.X, task.Y) if idx is None else (task.X[idx], task.Y[idx])
        leaf = {k: v.detach().requires_grad_(True) for k, v in self.params.items()}
        loss = loss_points(functional_call(task.net, leaf, (xb,)), yb, task.loss).mean()
        grads = torch.autograd.grad(loss, list(leaf.values()))  # first-order: the gradient is an input
        self.t += 1
        new_p, new_s = {}, {}
        for (k, p), g in zip(self.params.items(), grads):
            delta, new_s[k] = net.update(p, g.detach(), self.state[k], float(self.t), nb=0, total_steps=self.T,
                                         adam_lr=self.task.lr)
            new_p[k] = p + delta
        self.params, self.state = new_p, new_s
        term = torch.log(self._val(new_p) / self.ref)
        return 2.0 * (self.t / self.T) * term if self.late else term


def _horizon(task: PanelTask, fraction: float, growth: float) -> int:
    """The run length of a new slot: the member's budget x ``fraction`` x the curriculum's ``growth`` (>= 10)."""
    return max(10, int(round(task.steps * fraction * growth)))


def _growth(iteration: int, total: int, curriculum: float) -> float:
    """The curriculum's factor at ``iteration``: 0.25 growing linearly to 1 over ``curriculum * total`` iterations."""
    ramp = curriculum * total
    return 1.0 if ramp <= 0 else min(1.0, 0.25 + 0.75 * iteration / ramp)


def _advance(net: OptimizerNet, slots: list[_Slot], truncation: int, diverge_factor: float) -> tuple[float, list[int]]:
    """Advance every slot up to ``truncation`` steps and back-propagate its share of the meta-loss.

    Returns:
        ``(meta_loss, bad)``: the mean of the slots' terms, and the slots that diverged (restarted
        by the caller; their terms are left out of the meta-gradient).
    """
    values, bad = [], []
    for b, slot in enumerate(slots):
        slot.detach()
        terms = [slot.step(net) for _ in range(min(truncation, slot.T - slot.t))]
        term = torch.stack(terms).mean()
        if not torch.isfinite(term) or float(term.detach()) > math.log(diverge_factor):
            bad.append(b)
            continue
        (term / len(slots)).backward()
        values.append(float(term.detach()))
    return (float(np.mean(values)) if values else math.nan), bad


def _meta_step(net: OptimizerNet, meta_opt: torch.optim.Optimizer, clip: float) -> bool:
    """One clipped meta-optimizer step from the accumulated gradients; False (no step) when one is not finite."""
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    ok = bool(grads) and all(torch.isfinite(g).all() for g in grads)
    if ok:
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        meta_opt.step()
    meta_opt.zero_grad()
    return ok


def _save(path, net: OptimizerNet, meta_opt: torch.optim.Optimizer, iteration: int, config: dict,
          hist: dict) -> None:
    arrays = {f"net:{k}": v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    arrays.update(optimizer_arrays(meta_opt))
    save_arrays(path, arrays, kind=CHECKPOINT_KIND, config=net.config(),
                meta={"iteration": int(iteration), "train_config": config, "hist": hist})


def _resume(path, net: OptimizerNet, meta_opt: torch.optim.Optimizer, config: dict) -> tuple[int, dict]:
    """Load a checkpoint into ``net`` and ``meta_opt``: ``(iteration, history)``, or ``(0, {})`` without one.

    Raises:
        FileFormatError: unreadable, or written with another configuration or network.
    """
    try:
        arrays, header = load_arrays(path, kind=CHECKPOINT_KIND)
    except FileNotFoundError:
        return 0, {}
    meta = header.get("meta", {})
    if meta.get("train_config") != config or header.get("config") != net.config():
        raise FileFormatError(f"{path}: checkpoint was written with another configuration; delete it or "
                              "pass resume=False")
    try:
        net.load_state_dict({k[4:]: torch.from_numpy(np.array(v)) for k, v in arrays.items()
                             if k.startswith("net:")}, strict=True)
        restore_optimizer(meta_opt, arrays)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise FileFormatError(f"{path}: checkpoint does not fit the network ({exc})") from exc
    return int(meta["iteration"]), dict(meta["hist"])


def _train_config(slots: int, truncation: int, horizon_fraction: float, curriculum: float, meta_lr: float,
                  clip: float, diverge_factor: float, seed: int, weighting: str) -> dict:
    """The checked settings a checkpoint records and a resumed run must share (JSON values).

    Raises:
        InputError: a size or fraction out of range, or an unknown weighting.
    """
    check_number(horizon_fraction, "horizon_fraction", low=0.0, low_open=True)
    check_number(curriculum, "curriculum", low=0.0, high=1.0)
    check_choice(weighting, "weighting", WEIGHTINGS)
    return {"slots": check_int(slots, "slots"), "truncation": check_int(truncation, "truncation"),
            "horizon_fraction": float(horizon_fraction), "curriculum": float(curriculum), "meta_lr": float(meta_lr),
            "clip": float(clip), "diverge_factor": float(diverge_factor), "seed": int(seed), "weighting": weighting}


def meta_train_panels(draw: Callable[[np.random.Generator], PanelTask], *, iterations: int = 500,
                      slots: int = 4, truncation: int = 10, horizon_fraction: float = 0.5,
                      curriculum: float = 0.5, meta_lr: float = 1e-3, clip: float = 1.0,
                      diverge_factor: float = 10.0, seed: int = 0, net_hidden: int = 32, mag_clip: float = 2.0,
                      correction_bound: float = 1.0, granularity: str = "tensor", weighting: str = "uniform",
                      checkpoint_path=None, checkpoint_every: int = 25,
                      resume: bool = False, log: Callable[[str], None] | None = None) -> tuple[OptimizerNet, dict]:
    """Meta-train a ``"bounded"``, ``"relative"``-progress :class:`OptimizerNet` on panel tasks (module docstring).

    Args:
        draw: returns a new task from a ``numpy`` generator, e.g.
            ``functools.partial(sample_task, panels)`` (:func:`~metacompose.metaopt.panel_tasks.sample_task`).
        iterations: meta-iterations (meta-gradient steps).
        slots: tasks trained side by side.
        truncation: K, inner steps per meta-iteration and slot.
        horizon_fraction: the meta-training horizon as a fraction of each member's step budget.
        curriculum: fraction of the iterations over which run lengths grow to their final value (0: none).
        meta_lr: Adam learning rate of the meta-optimizer.
        clip: global-norm clip of the meta-gradient.
        diverge_factor: restart a slot whose validation loss exceeds this multiple of its start (module docstring).
        seed: seed of the tasks, the mini-batches and the network's initial weights.
        net_hidden, mag_clip, correction_bound, granularity: the network's settings (:class:`OptimizerNet`).
        weighting: ``"uniform"``: every step's term counts alike (the area under the log validation curve: fast
            progress early is rewarded as much as a low final loss); ``"late"``: step ``t``'s term is weighted by
            ``2 t / T`` (mean weight 1 over a run), so the end of the run, the forecaster that is kept, counts most.
        checkpoint_path: base path of the checkpoint container (None: no checkpoints).
        checkpoint_every: meta-iterations between checkpoints (also written after the last).
        resume: continue from ``checkpoint_path`` when it exists (up to ``iterations``, which may differ from
            the interrupted run's; every other setting must be the same).
        log: receives a progress line every ``checkpoint_every`` iterations (None: silent).

    Returns:
        ``(net, history)``: history has ``meta_loss`` (per iteration), ``skipped``, ``restarts_diverged``,
        ``tasks`` (tasks started), ``wall_s`` (this call) and ``start_iteration``.

    Raises:
        InputError: a size or fraction out of range, or an unknown granularity or weighting.
        FileFormatError: ``resume`` and the checkpoint is unreadable or from another configuration.
    """
    check_int(iterations, "iterations", 0)
    config = _train_config(slots, truncation, horizon_fraction, curriculum, meta_lr, clip, diverge_factor, seed,
                           weighting)
    torch.manual_seed(seed)
    net = OptimizerNet(hidden=net_hidden, mode="bounded", progress="relative", mag_clip=mag_clip,
                       correction_bound=correction_bound, granularity=granularity)
    meta_opt = torch.optim.Adam(net.parameters(), lr=meta_lr)
    start, hist = (0, {}) if not (resume and checkpoint_path is not None) else _resume(
        checkpoint_path, net, meta_opt, config)
    hist = {"meta_loss": [], "skipped": 0, "restarts_diverged": 0, "tasks": 0, **hist, "start_iteration": start}
    rng = np.random.default_rng([seed, start])
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))

    def new_slot(it: int) -> _Slot:
        task = draw(rng)
        hist["tasks"] += 1
        return _Slot(task, _horizon(task, horizon_fraction, _growth(it, iterations, curriculum)), gen,
                     late=weighting == "late")

    t0 = time.time()
    running = [new_slot(start) for _ in range(slots)]
    for it in range(start, iterations):
        value, bad = _advance(net, running, truncation, diverge_factor)
        if not _meta_step(net, meta_opt, clip):
            hist["skipped"] += 1
        hist["restarts_diverged"] += len(bad)
        hist["meta_loss"].append(value)
        running = [new_slot(it + 1) if b in bad or s.t >= s.T else s for b, s in enumerate(running)]
        done = it + 1
        if checkpoint_every and (done % checkpoint_every == 0 or done == iterations):
            if checkpoint_path is not None:
                _save(checkpoint_path, net, meta_opt, done, config, {k: v for k, v in hist.items()
                                                                     if k != "start_iteration"})
            if log is not None:
                recent = np.nanmean(hist["meta_loss"][-checkpoint_every:])
                log(f"meta-iteration {done}/{iterations}: meta-loss {recent:.4f}, tasks {hist['tasks']}, "
                    f"{time.time() - t0:.0f} s")
    hist["wall_s"] = time.time() - t0
    net.eval()
    return net, hist
