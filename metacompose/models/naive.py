"""Cheap reference forecasters: Naive, SeasonalNaive and Drift (Hyndman & Athanasopoulos, FPP3 §5.2)."""

from __future__ import annotations

import numpy as np

from metacompose.models.base import Forecaster


class Naive(Forecaster):
    """Random-walk forecast: every step repeats the last observation.

    Args:
        season_length: seasonal period ``m``; stored for the pool, unused.
        alias: defaults to ``"Naive"``.
    """

    alias = "Naive"
    fallback = None

    def _fit(self, y: np.ndarray) -> None:
        self._last = float(y[-1])

    def _predict(self, h: int) -> np.ndarray:
        return np.full(h, self._last)


class SeasonalNaive(Forecaster):
    """Seasonal random walk: step ``k`` repeats the observation one season ``m`` earlier.

    A series shorter than one season is forecast by :class:`Naive`, so this model never
    fails on a non-empty finite series; it is the pool's default fallback.

    Args:
        season_length: seasonal period ``m``.
        alias: defaults to ``"SeasonalNaive"``.
    """

    alias = "SeasonalNaive"
    fallback = "Naive"

    def _fit(self, y: np.ndarray) -> None:
        m = self.season_length
        self._season = y[-m:].copy() if y.shape[0] >= m else np.full(1, y[-1])

    def _predict(self, h: int) -> np.ndarray:
        reps = int(np.ceil(h / self._season.shape[0]))
        return np.tile(self._season, reps)[:h]


class Drift(Forecaster):
    """Random walk with drift: the last observation plus ``k`` times the average change.

    Step ``k`` is ``y[-1] + k * (y[-1] - y[0]) / (t - 1)``, the line through the first and
    last observations extended (FPP3 §5.2). A single observation is forecast flat.

    Args:
        season_length: seasonal period ``m``; stored for the pool, unused (the drift is not
            seasonal).
        alias: defaults to ``"Drift"``.
    """

    alias = "Drift"
    fallback = "Naive"

    def _fit(self, y: np.ndarray) -> None:
        self._last = float(y[-1])
        self._slope = float(y[-1] - y[0]) / (y.shape[0] - 1) if y.shape[0] > 1 else 0.0

    def _predict(self, h: int) -> np.ndarray:
        return self._last + self._slope * np.arange(1, h + 1)
