"""The B *slots* of truncated meta-training: per-series inner training runs carried across meta-iterations.

Each slot trains one fresh functional model (:mod:`~metacompose.metaopt.tasks`) on one task for
``unroll_length`` = T steps with the learned optimizer; all B slots are one tensor program
(``torch.func.vmap``). :class:`Slots` holds what a slot carries from one meta-iteration to
the next -- task index, parameters, optimizer accumulators, step count and reference losses --
and restarts slots on new tasks. Every random draw comes from the generator it is given.
"""

from __future__ import annotations

import math

import torch

from .network import OptimizerNet, init_state
from .tasks import Params, TaskSet, loss_fns, model_functions

__all__ = ["Slots", "SLOT_FIELDS"]

SLOT_FIELDS = ("idx", "tstep", "ref", "ref_tr", "params", "state")
"""Names of what a slot carries (the keys of :meth:`Slots.as_dict`)."""


class Slots:
    """B inner training runs, drawn from ``tasks`` with ``gen``.

    A new set draws (from ``gen``, in this order) B task indices, B initialisations and B
    random offsets in ``[0, T)`` (so a meta-batch mixes early and late training phases), and
    computes each slot's reference validation and training losses.

    Args:
        tasks: the task family.
        model: functional model, ``"mlp"`` or ``"lstm"``; hidden: its width.
        batch_size: B.
        unroll_length: T, inner steps before a slot restarts on a new task.
        gen: source of every draw (tasks, initialisations, offsets).

    Attributes:
        idx: task index per slot ``(B,)``; tstep: steps done per slot ``(B,)`` float;
        ref, ref_tr: validation / training loss at the slot's start ``(B,)``;
        params: batched parameters (leading dim B); state: their accumulators.
    """

    def __init__(self, tasks: TaskSet, model: str, hidden: int, batch_size: int, unroll_length: int,
                 gen: torch.Generator) -> None:
        self.tasks, self.hidden, self.B, self.T, self.gen = tasks, hidden, batch_size, unroll_length, gen
        self._init, _ = model_functions(model)
        self.bloss, self.bgrad = loss_fns(model)
        self.idx, self.params = self._fresh()
        self.state = {k: init_state(v) for k, v in self.params.items()}
        self.tstep = torch.randint(0, self.T, (self.B,), generator=gen).float()  # randomised offsets
        with torch.no_grad():
            self.ref, self.ref_tr = self._losses()

    def _fresh(self) -> tuple[torch.Tensor, Params]:
        """B new task indices and initialisations, drawn from ``gen``."""
        idx = torch.randint(len(self.tasks), (self.B,), generator=self.gen)
        p = self._init(self.B, self.tasks.n_lags, self.tasks.horizon, self.hidden, self.gen)
        return idx, p

    def _losses(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Validation and training loss of every slot at its current parameters, ``(B,)`` each."""
        t, idx = self.tasks, self.idx
        return (self.bloss(self.params, t.X_va[idx], t.Y_va[idx], t.M_va[idx]),
                self.bloss(self.params, t.X_tr[idx], t.Y_tr[idx], t.M_tr[idx]))

    def restart(self, mask: torch.Tensor) -> None:
        """Start the slots where ``mask`` (``(B,)`` bool) is True afresh: new task, new
        initialisation, zero accumulators and step count, new reference losses. Draws B new
        tasks and initialisations (and keeps those of the masked slots) when any slot restarts."""
        if int(mask.sum()) == 0:
            return
        new_idx, newp = self._fresh()
        self.idx = torch.where(mask, new_idx, self.idx)
        m = lambda a: mask.reshape((self.B,) + (1,) * (a.dim() - 1))  # noqa: E731
        self.params = {k: torch.where(m(v), newp[k], v) for k, v in self.params.items()}
        self.state = {k: {s: torch.where(m(a), torch.zeros_like(a), a) for s, a in st.items()}
                      for k, st in self.state.items()}
        self.tstep = torch.where(mask, torch.zeros_like(self.tstep), self.tstep)
        with torch.no_grad():
            r, rt = self._losses()
        self.ref = torch.where(mask, r, self.ref)
        self.ref_tr = torch.where(mask, rt, self.ref_tr)

    def restart_bad(self, bad: torch.Tensor) -> None:
        """Restart the slots marked ``bad`` (diverged or non-finite) and those at the end of their unroll."""
        with torch.no_grad():
            self.tstep = torch.where(bad, torch.full_like(self.tstep, float(self.T)), self.tstep)
            self.restart(self.tstep >= self.T)

    def detach(self) -> None:
        """Cut the carried parameters and accumulators from the previous meta-iteration's graph
        (truncated backpropagation)."""
        self.params = {k: v.detach() for k, v in self.params.items()}
        self.state = {k: {s: a.detach() for s, a in st.items()} for k, st in self.state.items()}

    def step(self, net: OptimizerNet, second_order: bool, diverge_factor: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One inner step of every slot with ``net``'s update (slots at the end of their unroll restart first).

        Args:
            net: the optimizer network being meta-trained.
            second_order: keep the inner gradients in the graph (else they are inputs).
            diverge_factor: bound of the log loss ratio (``log(diverge_factor)``), and the
                training-loss multiple of its start above which a slot counts as diverged.

        Returns:
            ``(term, bad)``: the meta-loss term ``log(val_loss / ref)`` clipped above at
            ``log(diverge_factor)`` ``(B,)``, and ``(B,)`` bool marking slots whose training
            loss is non-finite or diverged, or whose validation loss is non-finite.
        """
        self.restart(self.tstep >= self.T)
        t, idx = self.tasks, self.idx
        p_in = self.params if second_order else {k: v.detach() for k, v in self.params.items()}
        g, tr = self.bgrad(p_in, t.X_tr[idx], t.Y_tr[idx], t.M_tr[idx])
        self.tstep = self.tstep + 1
        newp, news = {}, {}
        for k in self.params:
            delta, news[k] = net.update(self.params[k], g[k].detach() if not second_order else g[k],
                                        self.state[k], self.tstep, nb=1)
            newp[k] = self.params[k] + delta
        self.params, self.state = newp, news
        vl = self.bloss(self.params, t.X_va[idx], t.Y_va[idx], t.M_va[idx])
        term = torch.log(vl / self.ref).clamp(max=math.log(diverge_factor))
        bad = ~torch.isfinite(tr) | (tr.detach() > diverge_factor * self.ref_tr) | ~torch.isfinite(vl.detach())
        return term, bad

    def as_dict(self) -> dict:
        """What the slots carry, keyed by :data:`SLOT_FIELDS` (for a checkpoint)."""
        return {name: getattr(self, name) for name in SLOT_FIELDS}

    def load(self, carried: dict) -> None:
        """Replace what the slots carry by ``carried`` (keys :data:`SLOT_FIELDS`, from a checkpoint)."""
        for name in SLOT_FIELDS:
            setattr(self, name, carried[name])
