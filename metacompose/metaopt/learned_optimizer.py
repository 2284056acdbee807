"""``LearnedOptimizer``: a ``torch.optim.Optimizer`` whose update rule is a meta-trained network.

The rule itself (features, step, modes) is :class:`~metacompose.metaopt.network.OptimizerNet`;
this module holds the per-parameter state and applies the rule to any ``nn.Module``.
"""

from __future__ import annotations

import copy
from typing import Callable, Iterable

import torch

from ..checks import check_choice, check_int
from ..errors import InputError
from .fast_step import fast_path_applies, per_tensor_step
from .network import MODES, STATE_KEYS, OptimizerNet, init_state
from .weights_file import default_weights_path, load_weights

__all__ = ["LearnedOptimizer"]


class LearnedOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose update rule is a meta-trained :class:`OptimizerNet`.

    Usable on any ``nn.Module``: ``opt = LearnedOptimizer(model.parameters())``, then the usual
    ``loss.backward(); opt.step(); opt.zero_grad()``. The network's weights are frozen; only the
    per-parameter accumulators (three momenta, a second moment, the step count) live in
    ``self.state`` and so in ``state_dict()``.

    Args:
        params: iterable of parameters or of param-group dicts, as for any torch optimizer.
        weights: path of a weights file written by :func:`metacompose.metaopt.save_weights`;
            ``None`` loads the default weights shipped with the package
            (:func:`~metacompose.metaopt.weights_file.default_weights_path`).
        net: an :class:`OptimizerNet` to use instead of loading ``weights`` (it is deep-copied).
        mode: override the network's mode (``"pure"`` / ``"correction"`` / ``"bounded"``).
        adam_lr: override the Adam learning rate of the ``"correction"`` and ``"bounded"`` modes
            (in ``"bounded"`` mode: the nominal rate, e.g. the forecaster's own ``lr``).
        lr: the trainer's learning rate (e.g. a forecaster's ``lr``): the nominal Adam rate in
            ``"bounded"`` mode when ``adam_lr`` is not given; ignored by the other modes, whose
            Adam rate was meta-trained with the weights.
        total_steps: the number of ``step()`` calls the run will make, ``T``; needed by networks
            with ``"relative"`` progress features (``"bounded"`` mode), ignored by the others.
            Steps past ``T`` see the progress of step ``T``; in ``"bounded"`` mode the nominal rate has decayed
            to 0 by then (the members' linear decay), so they leave the parameters where they are.

    Raises:
        FileNotFoundError: no weights file at ``weights``.
        metacompose.errors.FileFormatError: the weights file is corrupt or of a newer format.
        metacompose.errors.InputError: ``mode`` is unknown or does not fit the network's other settings
            (e.g. ``"correction"`` for a ``"tensor"``-granularity network), or the network uses relative progress
            and ``total_steps`` is not a non-negative integer.
    """

    def __init__(self, params: Iterable, weights=None, *, net: OptimizerNet | None = None,
                 mode: str | None = None, adam_lr: float | None = None, lr: float | None = None,
                 total_steps: int | None = None):
        if net is None:
            net, _ = load_weights(weights if weights is not None else default_weights_path())
        else:
            net = copy.deepcopy(net)
        if mode is not None:
            check_choice(mode, "mode", MODES)
            OptimizerNet(**{**net.config(), "mode": mode})  # the network's other settings must allow the mode
            net.mode = mode
        if adam_lr is not None:
            net.adam_lr = float(adam_lr)
        elif lr is not None and net.mode == "bounded":
            net.adam_lr = float(lr)
        if net.progress == "relative":
            total_steps = check_int(total_steps, "total_steps", 0) if total_steps is not None else None
            if total_steps is None:
                raise InputError("these learned-optimizer weights use relative progress: pass total_steps, "
                                 "the number of steps the run will take")
        net.requires_grad_(False)
        net.eval()
        super().__init__(params, {})
        self.net = net
        self.total_steps = total_steps

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None):
        """Apply one learned update to every parameter that has a gradient.

        Args:
            closure: optional callable that re-evaluates the model and returns the loss.

        Returns:
            The loss returned by ``closure``, or ``None``.

        Raises:
            RuntimeError: a gradient is sparse.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        for p in params:
            if p.grad.is_sparse:
                raise RuntimeError("LearnedOptimizer does not support sparse gradients")
            if len(self.state[p]) == 0:
                self.state[p]["step"] = 0
                self.state[p].update(init_state(p))
        if params and self.net.mlp[0].weight.device != params[0].device:
            self.net.to(params[0].device)
        if self.total_steps and fast_path_applies(self.net, params, self.state):
            per_tensor_step(self.net, params, [self.state[p] for p in params], self.total_steps)
            return loss
        for p in params:
            st = self.state[p]
            st["step"] += 1
            batched = {k: st[k].unsqueeze(0) for k in STATE_KEYS}
            step_t = torch.tensor([float(st["step"])], device=p.device)
            delta, new = self.net.update(p.detach().unsqueeze(0), p.grad.detach().unsqueeze(0),
                                         batched, step_t, nb=1, total_steps=self.total_steps)
            p.add_(delta[0].to(p.dtype))
            for k in STATE_KEYS:
                st[k] = new[k][0]
        return loss
