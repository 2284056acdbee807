"""The learned optimizer's update rule: a small network applied per coordinate or per tensor, :class:`OptimizerNet`.

Its ``torch.optim`` wrapper is :class:`~metacompose.metaopt.learned_optimizer.LearnedOptimizer`;
its weights are saved by :mod:`metacompose.metaopt.weights_file`.

Design (and why)
----------------
We take the *per-parameter MLP* design of Google's ``learned_optimization`` / VeLO
(Metz et al. 2020, 2022) rather than the coordinate-wise LSTM of Andrychowicz et al. (2016):

* One tiny MLP (15 -> hidden -> hidden -> 2; 32 by default, 16 in the shipped weights) is shared by
  every coordinate (or every tensor, see granularity below) of every tensor, so
  the same weights fit any model size (an MLP forecaster, an LSTM, a user's module).
  An MLP over hand-made accumulator features (momenta, second moment) carries the same
  history an LSTM hidden state would, is far cheaper to unroll, and has no hidden state
  that must be meta-trained to stay stable over 3x the meta-training horizon.
* Per-coordinate features: the gradient ``g``, the parameter ``p``, momenta of ``g`` at
  decays 0.5 / 0.9 / 0.99, the root of a running second moment (decay 0.999), and the two
  Adam-like ratios ``g / sqrt(v)`` and ``m_0.9 / sqrt(v)``. Each feature is normalised to
  unit root-mean-square *over its tensor* (VeLO's normalisation; Andrychowicz et al.'s
  log/sign preprocessing serves the same purpose: make inputs scale-free). Because the
  normalisation removes the absolute scale, the per-tensor log10 RMS of ``g`` and ``p`` is
  added as two broadcast features. A training-progress signal ``tanh(t / tau)`` for
  ``tau`` in (10, 30, 100, 300, 1000) is broadcast to every coordinate.
* Output: two numbers per coordinate, a direction ``d`` and a log-magnitude ``s``;
  the step is ``step_scale * d * exp(c * tanh(s / c))`` (``c = mag_clip``), as in
  learned_optimization's ``direction * exp(magnitude) * step_mult``. The last layer starts
  at 1% of its default scale, so an untrained network takes ~zero steps.
* Three modes:

  - ``"pure"``: ``delta = learned step`` (nothing hand-designed in the update).
  - ``"correction"``: ``delta = -adam_lr * adam_direction + learned step``. At
    initialisation (and wherever the network has learned nothing useful) this is Adam with
    learning rate ``adam_lr``, so on unfamiliar problems it degrades gracefully toward
    Adam — a Meta-SGD-style safety net.
  - ``"bounded"``: a nominal Adam step whose size the network may only scale, plus a learned
    term bounded relative to it (Harrison, Metz & Sohl-Dickstein 2022, "A closer look at
    learned optimization: stability, robustness, and inductive biases"):
    ``delta = lr_t * (-adam_direction * exp(c * tanh(s / c)) + b * tanh(d))`` with
    ``c = mag_clip``, ``b = correction_bound`` and ``lr_t = adam_lr * (1 - (t - 1) / T)``,
    the linear decay the forecasters' Adam uses (so an untrained network *is* their Adam).
    Every step stays within a fixed multiple of that Adam step whatever the network outputs,
    so it cannot blow up where it was not trained. Needs ``progress="relative"``.
* Progress signal: ``progress="absolute"`` gives ``tanh(t / tau)`` (the first design; its
  values past the meta-training horizon were never seen in training), ``"relative"`` gives
  the fraction ``u = t / T`` of the run done (``T``: the steps the run will take, known to
  the forecasters) as ``u, u^2, u^3, 1 - u, 4 u (1 - u)``: every value lies in ``[0, 1]``
  for any run length, so a run 10x longer than in meta-training sees no new input.
* Granularity (``"bounded"`` mode): ``"coordinate"`` evaluates the network on every coordinate, as
  above; ``"tensor"`` evaluates it once per parameter tensor, on eight statistics of the tensor in
  place of the eight coordinate features (the cosines of ``g`` with the three momenta and with
  ``p``, of ``m_0.9`` with ``m_0.99`` and with ``p``, and ``mean|g| / rms(g)``,
  ``mean|m_0.9| / rms(m_0.9)``, all in ``[-1, 1]``). Its output then scales the whole tensor's Adam
  step and adds ``b * tanh(d)`` times the momentum-free step ``-g / sqrt(v)``: a learned, per-tensor
  controller of Adam's step size, as in Almeida et al. 2021 ("A generalizable approach to learning
  optimizers"), which costs about what Adam costs where a per-coordinate network costs several times
  more on a CPU (``benchmarks/metaopt/RESULTS.md``). The shipped weights use it.

All tensor code takes ``nb`` leading *batch* dimensions, so the same function updates one
model (``nb=1`` with a singleton batch, used by
:class:`~metacompose.metaopt.learned_optimizer.LearnedOptimizer`) or a stack of B
per-series models trained as one tensor program with ``torch.func.vmap`` (meta-training).
"""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_choice
from ..errors import InputError

DECAYS = (0.5, 0.9, 0.99)
BETA2 = 0.999
TIMESCALES = (10.0, 30.0, 100.0, 300.0, 1000.0)
STATE_KEYS = ("m0", "m1", "m2", "v")
N_COORD_FEATURES = 8
N_FEATURES = N_COORD_FEATURES + 2 + len(TIMESCALES)
MODES = ("pure", "correction", "bounded")
PROGRESS = ("absolute", "relative")
GRANULARITIES = ("coordinate", "tensor")
_ADAM_EPS = 1e-8
COSINES = (("g", "m0"), ("g", "m1"), ("g", "m2"), ("m1", "m2"), ("g", "p"), ("m1", "p"))
L1_RATIOS = ("g", "m1")
"""The ``"tensor"``-granularity statistics, in their input order: the cosine over the tensor of each pair of
:data:`COSINES`, then ``mean|x| / rms(x)`` of each of :data:`L1_RATIOS` (``g``: gradient, ``p``: parameter,
``m0``/``m1``/``m2``: the momenta). ``fast_step.py`` computes the same list for a whole model at once."""


def relative_progress(u: torch.Tensor) -> list[torch.Tensor]:
    """The five ``"relative"`` progress features of the fraction ``u`` in [0, 1] of the run done."""
    return [u, u * u, u ** 3, 1.0 - u, 4.0 * u * (1.0 - u)]


def nominal_decay(t: torch.Tensor, total_steps: float) -> torch.Tensor:
    """The ``"bounded"`` mode's factor on the nominal rate at 1-based step ``t`` of ``T`` steps: ``max(0, 1 - (t-1)/T)``,
    the linear decay of the members' Adam."""
    return torch.clamp(1.0 - (t - 1.0) / float(total_steps), min=0.0)


def init_state(p: torch.Tensor) -> dict[str, torch.Tensor]:
    """Zero accumulators for one parameter tensor.

    Args:
        p: parameter tensor, any shape (batched or not).

    Returns:
        Dict ``{"m0", "m1", "m2", "v"}`` of zero tensors shaped like ``p`` (float32).
    """
    return {k: torch.zeros_like(p, dtype=torch.float32) for k in STATE_KEYS}


def _tensor_rms(x: torch.Tensor, nb: int) -> torch.Tensor:
    """Root-mean-square of ``x`` over all but the first ``nb`` dims (kept as size-1 dims)."""
    dims = tuple(range(nb, x.dim()))
    if not dims:  # a scalar parameter: normalise each coordinate by itself
        return x.abs() + 1e-12
    return torch.sqrt(x.pow(2).mean(dim=dims, keepdim=True) + 1e-24)


def _bcast(t: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """Reshape a step counter of shape ``()`` or ``(B,)`` to broadcast against ``like``."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.dim() == 0:
        return t
    return t.reshape(t.shape + (1,) * (like.dim() - t.dim()))


class OptimizerNet(nn.Module):
    """Per-coordinate MLP that maps gradient-history features to a parameter update.

    Args:
        hidden: width of the two hidden layers.
        mode: ``"pure"`` (learned step only) or ``"correction"`` (Adam step + learned step).
        step_scale: multiplies every learned step; keeps steps small at initialisation.
        adam_lr: learning rate of the Adam part in ``"correction"`` mode (ignored in ``"pure"``).
        mag_clip: soft bound ``c`` on the log-magnitude: steps are at most ``step_scale*|d|*e^c``
            (``"pure"``/``"correction"``); in ``"bounded"`` mode the Adam step is scaled by a
            factor in ``(e^-c, e^c)``.
        correction_bound: ``b`` of ``"bounded"`` mode: the learned additive term is at most
            ``b * adam_lr`` per coordinate.
        progress: ``"absolute"`` or ``"relative"`` progress features (see the module docstring);
            ``"relative"`` needs the run's total steps at every update.
        granularity: ``"coordinate"`` or ``"tensor"`` (``"bounded"`` mode only; module docstring).

    Raises:
        InputError: ``mode`` is not one of :data:`MODES`, ``progress`` not one of :data:`PROGRESS`,
            ``"bounded"`` mode with ``"absolute"`` progress, or ``"tensor"`` granularity in another mode.
    """

    def __init__(self, hidden: int = 32, mode: str = "correction", step_scale: float = 0.01,
                 adam_lr: float = 1e-2, mag_clip: float = 4.0, correction_bound: float = 1.0,
                 progress: str = "absolute", granularity: str = "coordinate"):
        super().__init__()
        check_choice(mode, "mode", MODES)
        check_choice(progress, "progress", PROGRESS)
        check_choice(granularity, "granularity", GRANULARITIES)
        if granularity == "tensor" and mode != "bounded":
            raise InputError('granularity="tensor" needs mode="bounded" (the other modes take a step per coordinate)')
        if mode == "bounded" and progress != "relative":
            raise InputError('mode="bounded" needs progress="relative" (its nominal rate decays over the run)')
        self.hidden = int(hidden)
        self.mode = mode
        self.step_scale = float(step_scale)
        self.adam_lr = float(adam_lr)
        self.mag_clip = float(mag_clip)
        self.correction_bound = float(correction_bound)
        self.progress = progress
        self.granularity = granularity
        self.mlp = nn.Sequential(
            nn.Linear(N_FEATURES, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 2),
        )
        with torch.no_grad():
            self.mlp[-1].weight.mul_(0.01)
            self.mlp[-1].bias.zero_()

    def config(self) -> dict:
        """Constructor arguments as a JSON-serialisable dict (saved with the weights)."""
        return {"hidden": self.hidden, "mode": self.mode, "step_scale": self.step_scale,
                "adam_lr": self.adam_lr, "mag_clip": self.mag_clip,
                "correction_bound": self.correction_bound, "progress": self.progress,
                "granularity": self.granularity}

    def features(self, p: torch.Tensor, g: torch.Tensor, st: dict[str, torch.Tensor],
                 step: torch.Tensor | float, nb: int, total_steps: float | None = None) -> torch.Tensor:
        """Per-coordinate input features.

        Args:
            p: parameters, shape ``(*batch, *shape)`` with ``nb`` batch dims.
            g: gradients, same shape as ``p``.
            st: accumulators *already updated* with ``g`` (see :meth:`update`).
            step: 1-based step count, scalar or shape ``batch``.
            nb: number of leading batch dims (normalisation is per tensor, per batch entry).
            total_steps: the run's length ``T`` (``"relative"`` progress only).

        Returns:
            Tensor of shape ``(*p.shape, N_FEATURES)``.

        Raises:
            InputError: ``"relative"`` progress without a positive ``total_steps``.
        """
        coord, shared = self._feature_parts(p, g, st, step, nb, total_steps)
        return torch.cat([coord, shared.expand(*p.shape, shared.shape[-1])], dim=-1)

    def _feature_parts(self, p: torch.Tensor, g: torch.Tensor, st: dict[str, torch.Tensor],
                       step: torch.Tensor | float, nb: int, total_steps: float | None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`features` in two parts: the per-coordinate ones ``(*p.shape, 8)`` and the ones shared by a
        tensor (scales, progress), shaped to broadcast against the first, ``(*batch, 1, ..., 1, 7)``."""
        if self.granularity == "tensor":
            coord = self._tensor_statistics(p, g, st, nb)
        else:
            denom = torch.sqrt(st["v"]) + 1e-12
            coord = [g, p, st["m0"], st["m1"], st["m2"], torch.sqrt(st["v"]), g / denom, st["m1"] / denom]
            coord = torch.stack([f / _tensor_rms(f, nb) for f in coord], dim=-1)
        shared = [torch.log10(_tensor_rms(g, nb) + 1e-12) / 4.0, torch.log10(_tensor_rms(p, nb) + 1e-12) / 4.0]
        t = _bcast(step, p)
        if self.progress == "absolute":
            shared += [torch.tanh(t / tau) for tau in TIMESCALES]
        else:
            if total_steps is None or total_steps <= 0:
                raise InputError("a learned optimizer with relative progress needs the run's total steps")
            shared += relative_progress(torch.clamp(t / float(total_steps), 0.0, 1.0))
        return coord, torch.stack(torch.broadcast_tensors(*shared), dim=-1)

    @staticmethod
    def _tensor_statistics(p: torch.Tensor, g: torch.Tensor, st: dict[str, torch.Tensor], nb: int) -> torch.Tensor:
        """The eight per-tensor statistics of ``"tensor"`` granularity, ``(*batch, 1, ..., 1, 8)``, each in ``[-1, 1]``."""
        dims = tuple(range(nb, p.dim()))

        def mean(x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=dims, keepdim=True) if dims else x

        x = {"g": g, "p": p, "m0": st["m0"], "m1": st["m1"], "m2": st["m2"]}
        stats = [mean(x[a] * x[b]) / (_tensor_rms(x[a], nb) * _tensor_rms(x[b], nb)) for a, b in COSINES]
        stats += [mean(x[a].abs()) / _tensor_rms(x[a], nb) for a in L1_RATIOS]
        return torch.stack(stats, dim=-1)

    def scale(self, s: torch.Tensor) -> torch.Tensor:
        """The step-size factor of the network's log-magnitude output ``s``: ``exp(c * tanh(s / c))``, ``c = mag_clip``."""
        return torch.exp(self.mag_clip * torch.tanh(s / self.mag_clip))

    def _outputs(self, coord: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        """``self.mlp`` applied to the features of :meth:`_feature_parts` without expanding the shared ones: their
        part of the first layer is computed once per tensor (the same numbers, a fraction of the work)."""
        first = self.mlp[0]
        w_coord, w_shared = first.weight[:, :N_COORD_FEATURES], first.weight[:, N_COORD_FEATURES:]
        x = torch.relu(coord @ w_coord.T + (shared @ w_shared.T + first.bias))
        return self.mlp[4](torch.relu(self.mlp[2](x)))

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, torch.Tensor],
               step: torch.Tensor | float, nb: int = 0, total_steps: float | None = None,
               adam_lr: float | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One optimizer step for one (possibly batched) parameter tensor; differentiable.

        Args:
            p: parameters, shape ``(*batch, *shape)``.
            g: gradient of the training loss at ``p``, same shape.
            state: accumulators from :func:`init_state` or the previous call.
            step: 1-based index of this step; a number or a tensor of shape ``batch``.
            nb: number of leading batch dims in ``p``.
            total_steps: the run's length ``T`` (``"relative"`` progress only).
            adam_lr: the Adam rate of this call (default :attr:`adam_lr`); meta-training sets each
                task's own nominal rate this way.

        Returns:
            ``(delta, new_state)``: the update to *add* to ``p`` (same shape) and the new
            accumulators.

        Raises:
            InputError: ``"relative"`` progress without a positive ``total_steps``.
        """
        p = p.float()
        g = g.float()
        new = {f"m{i}": b * state[f"m{i}"] + (1.0 - b) * g for i, b in enumerate(DECAYS)}
        new["v"] = BETA2 * state["v"] + (1.0 - BETA2) * g * g
        out = self._outputs(*self._feature_parts(p, g, new, step, nb, total_steps))
        d, s = out[..., 0], out[..., 1]
        scale = self.scale(s)
        if self.mode == "pure":
            return self.step_scale * d * scale, new
        t = _bcast(step, p)
        m_hat = new["m1"] / (1.0 - 0.9 ** t)
        v_hat = new["v"] / (1.0 - BETA2 ** t)
        adam = m_hat / (torch.sqrt(v_hat) + _ADAM_EPS)
        lr = self.adam_lr if adam_lr is None else float(adam_lr)
        if self.mode == "correction":
            return self.step_scale * d * scale - lr * adam, new
        lr_t = lr * nominal_decay(t, total_steps)
        extra = self.correction_bound * torch.tanh(d)
        if self.granularity == "tensor":  # a bounded multiple of the momentum-free step -g / sqrt(v)
            extra = -extra * g / (torch.sqrt(v_hat) + _ADAM_EPS)
        return lr_t * (extra - adam * scale), new
