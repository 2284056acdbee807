"""What a backtest did: fallbacks per model, per kind and per series, timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import pandas as pd

from metacompose.errors import ForecastError


class FailureKind(IntEnum):
    """Why a forecast came from a fallback; the value is the code stored in the kind arrays (int8).

    ``NONE`` (0) means no failure. The other members, in code order, are the kinds of
    :data:`KINDS`: ``ERROR`` (the model raised), ``NON_FINITE`` (it returned NaN/inf, values
    beyond float32, or the wrong shape), ``TIMEOUT`` (it ran past its time limit).
    """

    NONE = 0
    ERROR = 1
    NON_FINITE = 2
    TIMEOUT = 3

    @property
    def label(self) -> str:
        """The kind's name in reports: ``"error"``, ``"non-finite"``, ``"timeout"`` (``"none"`` for NONE)."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def of(cls, exc: BaseException) -> "FailureKind":
        """The kind of the failure ``exc``: a ``TimeoutError`` is TIMEOUT, a ``ForecastError`` (the
        model's output was not a usable forecast) NON_FINITE, anything else ERROR."""
        if isinstance(exc, TimeoutError):
            return cls.TIMEOUT
        if isinstance(exc, ForecastError):
            return cls.NON_FINITE
        return cls.ERROR


KINDS: tuple[str, ...] = tuple(k.label for k in FailureKind if k)  # ("error", "non-finite", "timeout")
"""Kinds of failure, in code order: kind ``KINDS[c - 1]`` has code ``c`` (see :class:`FailureKind`)."""


@dataclass
class BacktestReport:
    """What a backtest did.

    Attributes:
        n_series: ``S``; n_origins: ``O`` (backtest origins + the final one).
        fallbacks: per model alias, how many (series, origin) forecasts came from its fallback.
        failure_kinds: per model alias, those counts split by kind: ``"error"`` (the model
            raised), ``"non-finite"`` (it returned NaN/inf or the wrong shape), ``"timeout"``.
        failures_by_series: per series id with at least one failure, per model alias, how
            many of its origins fell back (series without failures are left out).
        failures: up to 20 examples ``"model @ series <id>, origin <o>: error"``.
        short_series: ids of series too short for any backtest origin (weights for them
            come from no history).
        seconds: compute seconds per stage, summed over the workers that ran its tasks
            (``"per-series models"``, ``"panel:<alias>"``; stages run side by side), and
            ``"wall"``, the wall time of the whole run.
        cached_chunks: chunks read from the cache instead of computed.
        cut_short: per panel model alias whose training reached its time budget, one
            ``(origin index, steps done, steps asked)`` per cut fit (:mod:`metacompose.budget`).
    """

    n_series: int
    n_origins: int
    fallbacks: dict = field(default_factory=dict)
    failure_kinds: dict = field(default_factory=dict)
    failures_by_series: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    short_series: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    cached_chunks: int = 0
    cut_short: dict = field(default_factory=dict)

    @property
    def n_fallbacks(self) -> int:
        """Total number of fallback forecasts."""
        return int(sum(self.fallbacks.values()))

    def failure_table(self):
        """Fallback counts as a frame: one row per series with a failure, one column per model, and ``total``.

        Returns:
            ``pandas.DataFrame`` indexed by series id (empty when nothing failed).
        """
        models = list(self.fallbacks)
        rows = {sid: [c.get(a, 0) for a in models] for sid, c in self.failures_by_series.items()}
        table = pd.DataFrame.from_dict(rows, orient="index", columns=models).rename_axis("series")
        table["total"] = table.sum(axis=1).astype(int)
        return table

    def summary(self) -> str:
        """One human-readable paragraph."""
        parts = []
        for a, n in self.fallbacks.items():
            if n:
                kinds = ", ".join(f"{k} {v}" for k, v in self.failure_kinds.get(a, {}).items() if v)
                parts.append(f"{a}: {n} ({kinds})" if kinds else f"{a}: {n}")
        fb = "; ".join(parts) or "none"
        if parts:
            fb += f" in {len(self.failures_by_series)} series"
        short = f"; {len(self.short_series)} series too short for a backtest origin" if self.short_series else ""
        if self.cut_short:
            short += "; training cut short by the time budget: " + ", ".join(
                f"{a} at {len(c)} origin(s)" for a, c in self.cut_short.items())
        secs = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        return (f"backtest: {self.n_series} series x {self.n_origins} origins; fallbacks: {fb}{short}; "
                f"time: {secs}; cached chunks: {self.cached_chunks}")
