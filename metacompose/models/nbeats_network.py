"""The network of :class:`~metacompose.models.nbeats.NBEATS`: bases, blocks and doubly residual stacks.

After Oreshkin, Carpov, Chapados & Bengio (2020), "N-BEATS: Neural basis expansion analysis for
interpretable time series forecasting", ICLR (sections 3.1-3.3), and the reference
implementation (github.com/ServiceNow/N-BEATS, ``models/nbeats.py``). The forecaster around it
(windows, scaling, losses, ensembling, short-series guards) is :mod:`metacompose.models.nbeats`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["NBeatsBlock", "NBeatsNet", "build_network", "trend_basis", "fourier_frequencies", "fourier_basis"]


def trend_basis(degree: int, L: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Polynomial basis of the trend blocks (Oreshkin et al. 2020, §3.3).

    Row ``i`` is ``t**i`` on the reference implementation's grids: ``t = arange(L) / L`` for
    the backcast, ``t = arange(h) / h`` for the forecast (both in [0, 1), so the basis stays
    well conditioned at any ``L`` and ``h``).

    Args:
        degree: polynomial degree ``p`` (0: a level only); L: backcast length; h: horizon.

    Returns:
        ``(back, fore)``: float64 arrays ``(p + 1, L)`` and ``(p + 1, h)``.
    """
    powers = np.arange(degree + 1)[:, None]
    return (np.arange(L) / L)[None, :] ** powers, (np.arange(h) / h)[None, :] ** powers


def fourier_frequencies(h: int, season_length: int, harmonics: int) -> np.ndarray:
    """Frequencies of the seasonality basis, in cycles per time step.

    The paper's grid (§3.3; reference ``SeasonalityBasis``): 0, then ``1, 1 + 1/H,
    ...`` cycles per horizon (``H = harmonics``) below ``h / 2``; plus ``k / m`` for ``k = 1 ..
    m // 2`` (this library's addition, so that a season ``m`` that does not divide ``h`` is
    in the basis). Duplicates are removed; all lie in ``[0, 0.5]``.

    Args:
        h: horizon; season_length: ``m`` (1 adds nothing); harmonics: frequencies per cycle
            per horizon (the reference's ``num_of_harmonics``).

    Returns:
        sorted float64 array ``(F,)``.
    """
    paper = np.r_[0.0, np.arange(harmonics, harmonics * h / 2) / (harmonics * h)]
    season = np.arange(1, season_length // 2 + 1) / season_length if season_length > 1 else np.zeros(0)
    f = np.sort(np.r_[paper, season])
    return f[np.r_[True, np.diff(f) > 1e-9]]


def fourier_basis(freqs: np.ndarray, L: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosines and sines of ``2 pi f tau`` (Oreshkin et al. 2020, §3.3) on one time axis.

    ``tau = -L .. -1`` for the backcast (the last input value at ``-1``) and ``0 .. h - 1``
    for the forecast, in time steps. Sines of frequency 0 and 1/2 vanish on integer steps
    and are left out.

    Args:
        freqs: cycles per step ``(F,)`` (:func:`fourier_frequencies`); L: backcast length; h: horizon.

    Returns:
        ``(back, fore)``: float64 arrays ``(P, L)`` and ``(P, h)``, ``P <= 2F``.
    """
    sines = freqs[(freqs > 0) & (freqs < 0.5)]

    def waves(tau: np.ndarray) -> np.ndarray:
        return np.r_[np.cos(2 * np.pi * np.outer(freqs, tau)), np.sin(2 * np.pi * np.outer(sines, tau))]

    return waves(np.arange(-L, 0)), waves(np.arange(h))


class NBeatsBlock(nn.Module):
    """One N-BEATS block (§3.1): ReLU MLP, linear layer to ``theta``, basis expansion.

    Args:
        L: input (backcast) length; h: forecast length.
        layers: fully-connected ReLU layers; width: their units.
        back, fore: fixed bases ``(P_b, L)`` and ``(P_f, h)``; ``None`` for the generic
            (linear) basis, where ``theta`` itself is the backcast and the forecast.
    """

    def __init__(self, L: int, h: int, layers: int, width: int,
                 back: np.ndarray | None = None, fore: np.ndarray | None = None) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        for i in range(layers):
            mods += [nn.Linear(L if i == 0 else width, width), nn.ReLU()]
        self.fc = nn.Sequential(*mods)
        generic = back is None
        self.n_back = L if generic else back.shape[0]
        self.theta = nn.Linear(width, self.n_back + (h if generic else fore.shape[0]))
        self.register_buffer("back", None if generic else torch.as_tensor(back, dtype=torch.float32))
        self.register_buffer("fore", None if generic else torch.as_tensor(fore, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, L)`` -> backcast ``(B, L)``, forecast ``(B, h)``."""
        theta = self.theta(self.fc(x))
        tb, tf = theta[:, :self.n_back], theta[:, self.n_back:]
        if self.back is None:
            return tb, tf
        return tb @ self.back, tf @ self.fore


class NBeatsNet(nn.Module):
    """Doubly residual stack of blocks (§3.2), on windows divided by their scale.

    The first block reads the window minus its last value; each next block reads what the
    blocks before it left (``x_{l+1} = x_l - backcast_l``); the output is the last value plus
    the sum of the block forecasts. A block may appear several times (shared weights).

    Args:
        blocks: the blocks in order.
    """

    def __init__(self, blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` -> ``(B, h)``, in the units of ``x``."""
        last = x[:, -1:]
        resid, out = x - last, last
        for block in self.blocks:
            back, fore = block(resid)
            resid = resid - back
            out = out + fore
        return out


def build_network(stack: str, L: int, h: int, season_length: int, blocks: int, layers: int, width: int,
                  trend_degree: int, harmonics: int) -> NBeatsNet:
    """The generic (``blocks`` blocks, linear basis) or interpretable (trend stack then
    seasonality stack, ``blocks`` weight-sharing blocks each) network of §3.3.

    Returns:
        an :class:`NBeatsNet` mapping ``(B, L)`` to ``(B, h)``.
    """
    if stack == "generic":
        return NBeatsNet([NBeatsBlock(L, h, layers, width) for _ in range(blocks)])
    trend = NBeatsBlock(L, h, layers, width, *trend_basis(trend_degree, L, h))
    season = NBeatsBlock(L, h, layers, width, *fourier_basis(fourier_frequencies(h, season_length, harmonics), L, h))
    return NBeatsNet([trend] * blocks + [season] * blocks)
