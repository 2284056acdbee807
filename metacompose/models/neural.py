"""Global neural forecasters: :class:`MLP` and :class:`LSTM`.

One network is trained across all series of a panel on lag windows, as in N-BEATS
(Oreshkin et al. 2020, "N-BEATS: Neural basis expansion analysis for interpretable time
series forecasting", ICLR): the input is the last ``L`` values of a window, the target the
next ``h`` values, predicted at once (direct multi-step, "MIMO" output: no recursion). Each
window is divided by the mean absolute value of its input part, so one network serves
series of any units; the loss is the mean absolute error on these scaled values. The
network forecasts the change from the last input value, so an untrained network is close to
the Naive forecast. That division is the default window transform, ``"mean_abs"``; ``transform=``
picks another (the last value, standardisation, log, seasonal differences:
:mod:`metacompose.models.transforms`), one per series, or ``"auto"``: each series' transform
chosen from its features by a classifier trained on the M3 training parts
(:mod:`metacompose.models.transform_choice`). In a panel each series' windows go through its own
transform, and one network learns from all of them; with a list or ``"auto"`` the network also reads
a one-hot code of the transform each window went through (before the window), which made the mixed
training less harmful in the design check of ``benchmarks/m3/transforms.py``.

Every transform is scale-free, which makes the forecasts scale-equivariant: forecasting ``c * y``
gives ``c * forecast(y)`` (up to float rounding) at every magnitude, since the network only ever
sees transformed windows (``window / scale`` by default). A window whose input part is all zeros
has no scale, so it cannot
be expressed in these units: such windows are left out of training (dividing them by an
absolute 1 would mix units: a target of ``1e12`` would become ``1e12`` scaled units) and a
series whose last input window is all zeros is forecast as 0, the only answer that is
scale-equivariant (``f(c * 0) = f(0)`` must equal ``c * f(0)`` for every ``c``).

Training is mini-batch, on CPU, for a fixed number of steps, and deterministic given
``random_state``: the weights and the batches are drawn from a local ``torch.Generator``
(torch's global random state is left as it was). The networks are in
:mod:`metacompose.models.networks`; the training loop, the optimizer factory and the weight
initialisation in :mod:`metacompose.models.training`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from metacompose.checks import check_choice, check_flag, check_horizon, check_int, check_number, check_optional_int
from metacompose.errors import InputError
from metacompose.models._windows import CLIP, clip_forecast, owned_panel_windows
from metacompose.models.adaptation import adapt_forecast, meta_sgd_rates, window_cuts
from metacompose.models.base import HorizonPanelForecaster
from metacompose.models.networks import LSTMNet, MLPNet, RevIN
from metacompose.models.training import LOSSES, check_optimizer, init_parameters, make_optimizer, train_network
from metacompose.models.transform_choice import choose_transforms
from metacompose.models.transforms import AUTO, TRANSFORMS, check_transform, decode, encode, transform_codes

__all__ = ["MLP", "LSTM"]


class _GlobalNeural(HorizonPanelForecaster):
    """Shared machinery of :class:`MLP` and :class:`LSTM` (see :class:`MLP` for the arguments)."""

    fallback = "SeasonalNaive"

    def _setup(self, season_length, alias, horizon, input_length, steps, batch_size, lr, optimizer,
               loss, windows_per_series, random_state, num_threads, warm_steps, clip, revin, transform,
               adapt_steps=0, adapt_meta_steps=100) -> None:
        """Check and store the parameters shared by :class:`MLP` and :class:`LSTM`."""
        super().__init__(season_length=season_length, alias=alias)
        horizon = None if horizon is None else check_horizon(horizon)
        check_optimizer(optimizer)
        input_length = check_optional_int(input_length, "input_length", 2)
        steps = check_int(steps, "steps", 0)
        batch_size = check_int(batch_size, "batch_size")
        windows_per_series = check_int(windows_per_series, "windows_per_series")
        random_state = check_int(random_state, "random_state", 0)
        num_threads = check_optional_int(num_threads, "num_threads")
        warm_steps = check_optional_int(warm_steps, "warm_steps", 0)
        lr = check_number(lr, "lr", low=0.0)
        clip = None if clip is None else check_number(clip, "clip", low=0.0)
        check_choice(loss, "loss", LOSSES)
        self.horizon = horizon
        self.input_length = input_length
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer.lower() if isinstance(optimizer, str) else optimizer
        self.loss = loss
        self.windows_per_series = windows_per_series
        self.random_state = random_state
        self.num_threads = num_threads
        self.warm_steps = warm_steps
        self.clip = clip
        self.revin = check_flag(revin, "revin")
        self.transform = check_transform(transform)
        self.adapt_steps = check_int(adapt_steps, "adapt_steps", 0)
        self.adapt_meta_steps = check_int(adapt_meta_steps, "adapt_meta_steps", 0)

    def _fit_panel_from(self, ys, previous) -> None:
        """Decide each series' transform (``transform=``), then store the panel (and train with a ``horizon``)."""
        S = len(ys)
        if isinstance(self.transform, list) and len(self.transform) != S:
            raise InputError(f"{self.alias}: transform has {len(self.transform)} names, one per series, but "
                             f"fit_panel got {S} series")
        self._transforms = (choose_transforms(ys, self.season_length) if self.transform == AUTO else
                            list(self.transform) if isinstance(self.transform, list) else [self.transform] * S)
        super()._fit_panel_from(ys, previous)

    @property
    def chosen_transforms(self) -> list[str]:
        """The window transform of each series of the last ``fit_panel`` (``"auto"`` resolved); a window
        that transform cannot express uses ``"mean_abs"`` (:mod:`metacompose.models.transforms`)."""
        return list(getattr(self, "_transforms", []))

    @property
    def warm_starts(self) -> bool:
        """True with ``warm_steps`` set: ``fit_panel(ys, previous=...)`` fine-tunes ``previous``'s network."""
        return self.warm_steps is not None

    def _warm_network(self, L: int, h: int) -> nn.Module | None:
        """The network of the warm start (``self._previous``) for ``h`` and input length ``L``, or None
        (no warm start, ``warm_steps`` unset, or a network of another shape)."""
        prev = getattr(self, "_previous", None)
        if self.warm_steps is None or prev is None or h not in prev._nets or prev.window_length(h) != L:
            return None
        return prev._nets[h]

    @property
    def min_length(self) -> int:
        """Fewest observations a series needs to be forecast (3)."""
        return 3

    def _build_net(self, input_length: int, h: int) -> nn.Module:
        raise NotImplementedError

    def window_length(self, h: int) -> int:
        """Input length ``L`` used for horizon ``h``: ``input_length``, or by default
        ``max(2h, 3m)`` capped at ``max(h, median series length - h)`` (at least 2)."""
        if self.input_length is not None:
            return self.input_length
        L = max(2 * h, 3 * self.season_length)
        lengths = [y.shape[0] for y in getattr(self, "_ys", [])]
        if lengths:
            L = min(L, max(h, int(np.median(lengths)) - h))
        return max(L, 2)

    def _reset(self) -> None:
        self._nets: dict[int, nn.Module] = {}
        self._log_rates: dict[int, dict[str, torch.Tensor]] = {}

    @property
    def adapt_rates(self) -> dict[int, dict[str, np.ndarray]]:
        """With ``adapt_steps > 0``: the meta-learned step sizes of the last fit, ``{h: {parameter name: rates}}``
        (each array of its parameter's shape; :mod:`metacompose.models.adaptation`); empty otherwise."""
        return {h: {k: np.exp(v.numpy()) for k, v in r.items()} for h, r in getattr(self, "_log_rates", {}).items()}

    def _adapted(self, net: nn.Module, Xt, Yt, owner: np.ndarray, series: np.ndarray, Xft, L: int, h: int,
                 gen: torch.Generator) -> np.ndarray:
        """Meta-learn the per-parameter step sizes on the stored panel, then forecast each series (rows ``series``
        of the panel, inputs ``Xft``) with ``net`` adapted to it; transformed units ``(len(series), h)``."""
        cut = window_cuts(self._ys, L, h, self.windows_per_series, self.min_length)
        rates = meta_sgd_rates(net, Xt, Yt, owner, cut, h, self.adapt_steps, self.adapt_meta_steps, self.loss, gen)
        self._log_rates[h] = rates
        return adapt_forecast(net, Xt, Yt, owner, series, Xft, rates, self.adapt_steps, self.loss)

    _tag_transforms = True
    """With several transforms in a panel, tell the network which one each window went through (False: mix them
    untold; ``benchmarks/m3/transforms.py``'s design check compares the two)."""

    @property
    def _tagged(self) -> bool:
        """True when the series may use several transforms (a list, ``"auto"``): the network then also reads
        which transform each window went through (a one-hot code of :data:`TRANSFORMS` before the window)."""
        return self._tag_transforms and (not isinstance(self.transform, str) or self.transform == AUTO)

    def _net_inputs(self, Z: np.ndarray, used: np.ndarray) -> np.ndarray:
        """The network's input rows: the transformed windows ``(N, L)``, after their transforms' one-hot codes
        ``(N, K)`` when :attr:`_tagged`."""
        return np.concatenate([transform_codes(used), Z], axis=1) if self._tagged else Z

    def _train(self, h: int) -> None:
        """Train a network for horizon ``h`` on the stored panel and cache its forecasts."""
        L = self.window_length(h)
        # all-zero inputs have no scale: left out of training, forecast as 0 (see the module docstring)
        X, Y, Xf, ok, out, owner = owned_panel_windows(self._ys, L, h, self.windows_per_series, self.min_length)
        if X.shape[0] == 0 or not ok.any():
            self._forecasts[h] = out
            return
        names, m = np.asarray(self._transforms, dtype=str), self.season_length
        Z, T, used = encode(names[owner], X, Y, m)  # each series' windows through its own transform
        tag = len(TRANSFORMS) if self._tagged else 0  # the network is told which transform a window went through
        threads = torch.get_num_threads()
        try:
            if self.num_threads is not None:
                torch.set_num_threads(self.num_threads)
            with torch.random.fork_rng(devices=[]):  # layer constructors draw from the global state
                net = self._build_net(L + tag, h)
            if self.revin:
                net = RevIN(net)
            gen = torch.Generator().manual_seed(self.random_state)
            init_parameters(net, gen)
            steps, start = self.steps, self._warm_network(L, h)
            if start is not None:  # fine-tune the network trained at the origin before
                net.load_state_dict(start.state_dict())
                steps = self.warm_steps
            opt = make_optimizer(self.optimizer, net.parameters(), self.lr, steps)
            Xt = torch.as_tensor(self._net_inputs(Z, used), dtype=torch.float32)
            Yt = torch.as_tensor(T, dtype=torch.float32)
            train_network(net, Xt, Yt, opt, steps, self.batch_size, self.loss, gen,
                          lr_decay=isinstance(self.optimizer, str) and self.optimizer != "learned")
            zf, _, used = encode(names[ok], Xf[ok], None, m)
            Xft = torch.as_tensor(self._net_inputs(zf, used), dtype=torch.float32)
            if self.adapt_steps:  # per-series Meta-SGD steps from the global weights
                pred = self._adapted(net, Xt, Yt, owner, np.flatnonzero(ok), Xft, L, h, gen)
            else:
                with torch.no_grad():
                    pred = net(Xft).double().numpy()
        finally:
            torch.set_num_threads(threads)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowing row is NaN: the series falls back
            out[ok] = decode(used, Xf[ok], clip_forecast(pred, zf, self.clip), m)
        self._nets[h] = net
        self._forecasts[h] = out


class MLP(_GlobalNeural):
    """Global MLP forecaster (N-BEATS-style, one network for the whole panel).

    A ReLU multi-layer perceptron maps the last ``L`` values of a series, divided by their
    mean absolute value (or another ``transform``), to the next ``h`` scaled values at once (direct multi-step / MIMO
    output), as the fully-connected stacks of N-BEATS do (Oreshkin et al. 2020). It is
    trained on windows from all series of the panel (the ``windows_per_series`` most recent
    ones of each), with Adam, mini-batches and a linearly decaying learning rate. Series
    shorter than ``L + h`` are left-padded with their first value; a series with fewer than
    3 points gets a NaN row; one whose last ``L`` values are all zero is forecast as 0
    (all-zero windows have no scale, module docstring).

    Args:
        season_length: seasonal period ``m``; enters the default input length.
        horizon: ``h`` to train for at ``fit_panel``; ``None`` trains lazily at the first
            ``predict_panel(h)`` for each ``h`` (forecasts are cached per ``h``). With a
            ``horizon``, ``predict_panel(h)`` for ``h <= horizon`` returns the first ``h``
            steps of the ``horizon`` forecast.
        input_length: ``L``; ``None`` uses ``max(2h, 3m)`` capped at ``median length - h``.
        hidden: widths of the hidden layers.
        steps: optimizer steps.
        batch_size: windows per step.
        lr: learning rate of ``"adam"``/``"sgd"``.
        optimizer: ``"adam"``, ``"sgd"``, ``"learned"`` (``metacompose.metaopt``), or a
            callable ``params -> torch.optim.Optimizer``; see :func:`make_optimizer`.
        loss: ``"mae"`` or ``"smape"`` on the scaled windows.
        windows_per_series: most recent training windows taken from each series.
        random_state: seed of the weights and of the batch sampling.
        num_threads: torch threads while training (restored afterwards); ``None`` keeps
            torch's setting.
        warm_steps: with ``fit_panel(ys, previous=...)`` (a warm start; the backtest passes each
            backtest origin after the first the fit of the origin before, and trains the first
            backtest origin and the final origin from scratch), start from ``previous``'s network
            for the same ``h`` and input length and train ``warm_steps`` steps instead of
            ``steps``. Not leakage: that network saw only windows ending before the earlier
            origin. None (default): every origin trains from scratch; ``steps // 4`` took
            1.3-1.9x less CPU but made the monthly backtest forecasts 2-3% less accurate on the M3
            training parts (``benchmarks/speed/RESULTS.md``, "Warm starts").
        clip: the short-series guard: each forecast, in transformed units, stays within ``clip`` times
            the range (max - min) of its input window from the last input value
            (:func:`~metacompose.models._windows.clip_forecast`, as :class:`~metacompose.models.NBEATS`
            does); ``None``: unbounded. Default :data:`~metacompose.models._windows.CLIP`, chosen on the
            M3 training parts (``benchmarks/m3/neural_pool_results.md``, part clip).
        revin: wrap the network in :class:`~metacompose.models.networks.RevIN` (Kim et al. 2022): each
            scaled window is standardised and passed through a learned affine map, inverted on the output.
            Off by default (``benchmarks/m3/neural_pool_results.md``, part revin).
        transform: how each window is made unit-free before the network sees it, and its forecast mapped
            back (:mod:`metacompose.models.transforms`): ``"mean_abs"`` (default: divide by the mean
            absolute value of the input), ``"last"``, ``"standard"``, ``"log"`` (Box & Cox 1964, lambda 0)
            or ``"seasonal_diff"`` (lag-``m`` differences) for every series; a list of such names, one per
            series of the panel given to ``fit_panel`` (not for a ``Composer`` pool, whose backtest fits the
            series an origin exists for); or ``"auto"``: each series' transform chosen from
            its scale-free features by the classifier shipped in the package
            (:mod:`metacompose.models.transform_choice`, trained on the M3 training parts). With a list or
            ``"auto"`` one network learns from all series and also reads each window's transform (a one-hot
            code). The default was chosen on validation replays of the M3 training parts
            (``benchmarks/m3/transforms.py``; results in ``benchmarks/m3/transforms_results.md``).
        adapt_steps: per-series adaptation after the global training (Meta-SGD, Li et al. 2017, "Meta-SGD:
            Learning to Learn Quickly for Few-Shot Learning"; :mod:`metacompose.models.adaptation`): each series
            takes ``adapt_steps`` SGD steps from the global weights on its own training windows (transformed
            units, the network's loss) with per-parameter step sizes meta-learned on the panel at fit time
            (support: a series' earlier windows, query: its most recent one), then forecasts with the adapted
            weights; the clip guard and the inverse transform apply as without it. ``0`` (default): off, the
            forecasts are exactly those without adaptation (``benchmarks/m3/adaptation.py`` decides the
            default; results in ``benchmarks/m3/adaptation_results.md``).
        adapt_meta_steps: Adam steps of the step-size meta-learning (batches of
            :data:`~metacompose.models.adaptation.META_BATCH` series); ``0`` keeps every step size at
            :data:`~metacompose.models.adaptation.RATE0` (plain SGD fine-tuning). Used only with ``adapt_steps > 0``.
        alias: defaults to ``"MLP"``.

    Raises:
        InputError: an unknown optimizer, loss or transform, or a parameter out of range (horizon, input
            length, steps, batch size, windows, seed, threads, lr, warm steps, clip, adapt steps, adapt meta
            steps: negative or not an int), or a
            ``revin`` that is not a bool; at ``fit_panel``, a list of transforms whose length is not the
            number of series.
    """

    alias = "MLP"

    def __init__(self, season_length: int = 1, horizon: int | None = None, input_length: int | None = None,
                 hidden: list[int] | tuple[int, ...] = (256, 256), steps: int = 600, batch_size: int = 512,
                 lr: float = 1e-3, optimizer: str | Callable = "adam", loss: str = "mae",
                 windows_per_series: int = 100, random_state: int = 0, num_threads: int | None = 1,
                 warm_steps: int | None = None, clip: float | None = CLIP, revin: bool = False,
                 transform: str | Sequence[str] = "mean_abs", adapt_steps: int = 0, adapt_meta_steps: int = 100,
                 alias: str | None = None) -> None:
        self._setup(season_length, alias, horizon, input_length, steps, batch_size, lr, optimizer, loss,
                    windows_per_series, random_state, num_threads, warm_steps, clip, revin, transform, adapt_steps,
                    adapt_meta_steps)
        self.hidden = [int(w) for w in hidden]

    def _build_net(self, input_length: int, h: int) -> nn.Module:
        return MLPNet(input_length, h, self.hidden)


class LSTM(_GlobalNeural):
    """Global LSTM forecaster: an LSTM encoder over the scaled input window and a linear
    head from its last hidden state to all ``h`` outputs (direct multi-step / MIMO output).

    Same windows, scaling, padding and training as :class:`MLP` (N-BEATS-style global
    training, Oreshkin et al. 2020); the encoder is ``torch.nn.LSTM`` (Hochreiter &
    Schmidhuber 1997) reading one value per time step.

    Args:
        hidden_size: LSTM state width.
        num_layers: stacked LSTM layers.
        The others: as :class:`MLP` (``transform`` included: its default and the shipped chooser were
            chosen with MLP, not re-checked for LSTM; ``adapt_steps`` runs the same code, slower: torch's vmap
            has no batching rule for ``nn.LSTM``, so the series are looped over; not benchmarked); ``alias`` defaults to ``"LSTM"``.

    Raises:
        InputError: an unknown optimizer, loss or transform, or a parameter out of range (horizon, input
            length, steps, batch size, windows, seed, threads, lr, warm steps, clip, adapt steps, adapt meta
            steps: negative or not an int), or a
            ``revin`` that is not a bool; at ``fit_panel``, a list of transforms whose length is not the
            number of series.
    """

    alias = "LSTM"

    def __init__(self, season_length: int = 1, horizon: int | None = None, input_length: int | None = None,
                 hidden_size: int = 48, num_layers: int = 1, steps: int = 1000, batch_size: int = 256,
                 lr: float = 5e-3, optimizer: str | Callable = "adam", loss: str = "mae",
                 windows_per_series: int = 100, random_state: int = 0, num_threads: int | None = 1,
                 warm_steps: int | None = None, clip: float | None = CLIP, revin: bool = False,
                 transform: str | Sequence[str] = "mean_abs", adapt_steps: int = 0, adapt_meta_steps: int = 100,
                 alias: str | None = None) -> None:
        self._setup(season_length, alias, horizon, input_length, steps, batch_size, lr, optimizer, loss,
                    windows_per_series, random_state, num_threads, warm_steps, clip, revin, transform, adapt_steps,
                    adapt_meta_steps)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)

    def _build_net(self, input_length: int, h: int) -> nn.Module:
        return LSTMNet(input_length, h, self.hidden_size, self.num_layers)
