"""The torch networks behind :class:`~metacompose.models.neural.MLP` and :class:`~metacompose.models.neural.LSTM`,
and :class:`RevIN`, the learned input normalisation any of the global networks can be wrapped in.

Both map a batch of transformed input windows ``(B, L)`` (:mod:`metacompose.models.transforms`; by
default each divided by the mean absolute value of its values, so they are close to 1) to
``(B, h)`` outputs at once (direct multi-step). Both forecast the change from the last input
value, so an untrained network is close to the Naive forecast.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MLPNet", "LSTMNet", "RevIN"]


class MLPNet(nn.Module):
    """ReLU MLP on the centred input window; output = last input value + MLP(window - 1).

    Args:
        input_length: ``L``, values per input window.
        h: outputs per window (the horizon).
        hidden: widths of the hidden layers.
    """

    def __init__(self, input_length: int, h: int, hidden: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = input_length
        for w in hidden:
            layers += [nn.Linear(width, w), nn.ReLU()]
            width = w
        layers.append(nn.Linear(width, h))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` -> ``(B, h)``."""
        return x[:, -1:] + self.body(x - 1.0)


class LSTMNet(nn.Module):
    """LSTM encoder over the centred window (one value per time step), linear head on its last
    state to all ``h`` outputs; output = last input value + head.

    Args:
        input_length: ``L`` (not used by the layers: the LSTM reads any length).
        h: outputs per window (the horizon).
        hidden_size: LSTM state width.
        num_layers: stacked LSTM layers.
    """

    def __init__(self, input_length: int, h: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` -> ``(B, h)``."""
        out, _ = self.lstm((x - 1.0).unsqueeze(-1))
        return x[:, -1:] + self.head(out[:, -1])


class RevIN(nn.Module):
    """Reversible instance normalisation around a network (Kim et al. 2022, ICLR, "Reversible
    Instance Normalization for Accurate Time-Series Forecasting against Distribution Shift").

    Each input window is standardised by its own mean ``mu`` and standard deviation ``sigma``
    and mapped through a learned affine transform ``gamma * z + beta``; the wrapped network's
    output goes back through the inverse, ``(out - beta) / (gamma + eps^2) * sigma + mu``, so the
    forecast is in the units the window came in. ``gamma`` starts at 1 and ``beta`` at 0 (one of
    each: the series are univariate). A constant window (``sigma = 0``) is forecast as a constant
    up to ``eps``.

    Args:
        net: maps ``(B, L)`` to ``(B, h)``.
        eps: added to ``sigma`` and, squared, to ``gamma`` so that neither division is by zero.
    """

    def __init__(self, net: nn.Module, eps: float = 1e-5) -> None:
        super().__init__()
        self.net, self.eps = net, eps
        self.gamma = nn.Parameter(torch.ones(1))
        self.beta = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` -> ``(B, h)``, in the units of ``x``."""
        mu = x.mean(dim=1, keepdim=True)
        sigma = x.std(dim=1, unbiased=False, keepdim=True) + self.eps
        out = self.net((x - mu) / sigma * self.gamma + self.beta)
        return (out - self.beta) / (self.gamma + self.eps ** 2) * sigma + mu
