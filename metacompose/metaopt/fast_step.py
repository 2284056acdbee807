"""The per-tensor learned rule applied to a whole model at once, for :class:`~metacompose.metaopt.LearnedOptimizer`.

:meth:`~metacompose.metaopt.network.OptimizerNet.update` is written for meta-training: functional,
differentiable, one tensor at a time. For a network with ``granularity="tensor"`` the rule needs only a few
reductions per tensor and one evaluation of the small network per tensor, so applying it tensor by tensor
costs mostly Python and dispatch overhead. :func:`per_tensor_step` computes the same update for all of a
model's tensors together (torch's ``_foreach`` kernels for the accumulators and the step, one network call
for all tensors), as ``torch.optim.Adam``'s ``foreach`` implementation does. Its results equal
:meth:`OptimizerNet.update`'s up to float rounding (``tests/test_metaopt_panels.py``).
"""

from __future__ import annotations

import math

import torch

from .network import (BETA2, COSINES, DECAYS, L1_RATIOS, STATE_KEYS, OptimizerNet, _ADAM_EPS, nominal_decay,
                      relative_progress)

__all__ = ["fast_path_applies", "per_tensor_step"]


def fast_path_applies(net: OptimizerNet, params: list[torch.Tensor], state) -> bool:
    """True when :func:`per_tensor_step` can take the step: a ``"bounded"``, ``"tensor"``-granularity network,
    float32 tensors of at least one dimension, and one step count shared by all of them."""
    if net.mode != "bounded" or net.granularity != "tensor" or not params:
        return False
    steps = {state[p]["step"] for p in params}
    return len(steps) == 1 and all(p.dim() > 0 and p.dtype == torch.float32 for p in params)


def _rms(xs: list[torch.Tensor], numel: torch.Tensor) -> torch.Tensor:
    """Root-mean-square of each tensor, ``(n,)``, as ``network._tensor_rms`` computes it."""
    norms = torch.stack(torch._foreach_norm(xs))
    return torch.sqrt(norms * norms / numel + 1e-24)


def _means(a: list[torch.Tensor], b: list[torch.Tensor], numel: torch.Tensor) -> torch.Tensor:
    """``mean(a_i * b_i)`` for each pair of tensors, ``(n,)``."""
    return torch.stack([torch.dot(x.reshape(-1), y.reshape(-1)) for x, y in zip(a, b)]) / numel


@torch.no_grad()
def per_tensor_step(net: OptimizerNet, params: list[torch.Tensor], states: list[dict], total_steps: int) -> None:
    """One learned step of every tensor in ``params`` (updated in place, with their accumulators in ``states``).

    Args:
        net: a network for which :func:`fast_path_applies` holds.
        params: the parameters, each with its ``.grad``.
        states: each parameter's optimizer state (``step``, ``m0``, ``m1``, ``m2``, ``v``).
        total_steps: the run's length ``T``.
    """
    G = [p.grad for p in params]
    for st in states:
        st["step"] += 1
    t = float(states[0]["step"])
    acc = {k: [st[k] for st in states] for k in STATE_KEYS}
    for key, b in zip(("m0", "m1", "m2"), DECAYS):
        torch._foreach_mul_(acc[key], b)
        torch._foreach_add_(acc[key], G, alpha=1.0 - b)
    torch._foreach_mul_(acc["v"], BETA2)
    torch._foreach_addcmul_(acc["v"], G, G, value=1.0 - BETA2)
    numel = torch.tensor([float(p.numel()) for p in params])
    x = {"g": G, "p": list(params), "m0": acc["m0"], "m1": acc["m1"], "m2": acc["m2"]}
    r = {name: _rms(xs, numel) for name, xs in x.items()}
    stats = [_means(x[a], x[b], numel) / (r[a] * r[b]) for a, b in COSINES]
    stats += [torch.stack(torch._foreach_norm(x[a], 1)) / numel / r[a] for a in L1_RATIOS]
    t_ = torch.tensor(t)
    u = torch.clamp(t_ / float(total_steps), 0.0, 1.0).expand(len(params))
    shared = [torch.log10(r["g"] + 1e-12) / 4.0, torch.log10(r["p"] + 1e-12) / 4.0] + relative_progress(u)
    out = net._outputs(torch.stack(stats, dim=-1), torch.stack(shared, dim=-1))
    d, s = out[:, 0], out[:, 1]
    lr_t = net.adam_lr * float(nominal_decay(t_, total_steps))
    denom = torch._foreach_sqrt(acc["v"])
    torch._foreach_div_(denom, math.sqrt(1.0 - BETA2 ** t))
    torch._foreach_add_(denom, _ADAM_EPS)
    torch._foreach_addcdiv_(x["p"], acc["m1"], denom, (-lr_t * net.scale(s) / (1.0 - 0.9 ** t)).tolist())
    torch._foreach_addcdiv_(x["p"], G, denom, (-lr_t * net.correction_bound * torch.tanh(d)).tolist())
