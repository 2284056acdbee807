"""Time budgets of the pool's members: every member's backtest stays within CPU seconds proportional to the data.

A member's budget is ``BASE_SECONDS + SECONDS_PER_FIT * S * O`` CPU seconds for its whole backtest
(``S`` series, ``O`` origins including the final one): a fixed allowance plus a share per
(series, origin) fit. Two mechanisms keep members inside it, both reported by the run:

- **Per-series members** (ARIMA, ETS, Theta, ...): before the backtest, a pilot fits each of them
  at the final origin of a few series (the longest, the median and the shortest; each pilot fit
  is stopped at the time it could at most take), and estimates the whole backtest's cost as the
  mean pilot time times ``S * O``. A member whose estimate exceeds the budget is **dropped** from
  the pool, with the estimate in the run's report.
- **Panel members** (MLP, LSTM, ...: one global network per origin): a pilot trains each of them
  on all series at the final origin for ``PILOT_TRAIN_SECONDS`` and extrapolates its whole
  training to ``O`` origins from the steps it made. A member that would get less than half of
  its training steps within the budget is **dropped**; the others train with each fit limited to
  ``budget / O`` CPU seconds (:func:`metacompose.models.training.training_budget`): a training
  that reaches it stops early and keeps what it learned (**cut short**), and the backtest report
  counts the cut fits.

The constants were set so that the M3 training parts run under them with no member dropped or cut
(M3 monthly, 1,428 series x 6 origins: a budget of 977 CPU seconds per member, where the slowest
member takes about 150). Seconds are CPU seconds (``time.process_time`` for the panel cap,
``time.thread_time`` of the fitting thread for the pilot), so a busy machine does not drop or cut
a member that an idle one would run in time.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from metacompose.checks import check_number
from metacompose.models import Forecaster, PanelForecaster
from metacompose.models.training import training_budget
from metacompose.timeout import run_with_timeout

BASE_SECONDS = 120.0
"""CPU seconds every member gets whatever the data's size."""
SECONDS_PER_FIT = 0.1
"""CPU seconds every member gets per (series, origin) fit of its backtest."""
PILOT_SERIES = 3
"""Series a per-series member is timed on before the backtest."""
PILOT_TRAIN_SECONDS = 1.0
"""CPU seconds of training a panel member is timed on before the backtest."""

__all__ = ["BASE_SECONDS", "SECONDS_PER_FIT", "BudgetPlan", "member_budget", "plan_budget", "check_budget"]


def check_budget(time_budget) -> float | str | None:
    """Check a ``time_budget`` argument: ``"auto"``, None, or a positive number of CPU seconds.

    Raises:
        InputError: anything else.
    """
    if time_budget is None or (isinstance(time_budget, str) and time_budget == "auto"):
        return time_budget
    return check_number(time_budget, "time_budget", low=0.0, low_open=True)


def member_budget(n_series: int, n_origins: int, time_budget: float | str = "auto") -> float:
    """CPU seconds one member's backtest may take.

    Args:
        n_series: ``S``; n_origins: ``O``, origins per series including the final one.
        time_budget: ``"auto"`` (``BASE_SECONDS + SECONDS_PER_FIT * S * O``) or the seconds themselves.

    Returns:
        the budget in CPU seconds.
    """
    if time_budget == "auto":
        return BASE_SECONDS + SECONDS_PER_FIT * n_series * n_origins
    return float(time_budget)


@dataclass
class BudgetPlan:
    """What :func:`plan_budget` decided.

    Attributes:
        seconds: each member's budget, CPU seconds for its whole backtest.
        kept: the members that run (in pool order).
        dropped: alias -> why (the estimate against the budget), in pool order.
        estimates: alias -> estimated CPU seconds of its whole backtest.
        panel_seconds: CPU seconds one panel member's training may take at one origin.
    """

    seconds: float
    kept: list
    dropped: dict = field(default_factory=dict)
    estimates: dict = field(default_factory=dict)
    panel_seconds: float | None = None

    def summary(self) -> str:
        """One line for the run's log."""
        est = ", ".join(f"{a} {s:.0f} s" for a, s in self.estimates.items())
        line = (f"time budget: {self.seconds:.0f} CPU-s per member (panel members: {self.panel_seconds:.0f} CPU-s "
                f"of training per origin); estimated: {est}")
        if self.dropped:
            line += "; dropped: " + "; ".join(f"{a} ({why})" for a, why in self.dropped.items())
        return line


def _pilot_rows(lengths: np.ndarray) -> list[int]:
    """Indices of the pilot's series: the longest, the median and the shortest (distinct, at most three)."""
    order = np.argsort(lengths, kind="stable")
    picks = [order[-1], order[len(order) // 2], order[0]]
    return list(dict.fromkeys(int(i) for i in picks))[:PILOT_SERIES]


def _fit_seconds(model: Forecaster, y: np.ndarray, h: int) -> float:
    """CPU seconds of this thread spent fitting a clone of ``model`` on ``y`` and forecasting ``h`` steps
    (a failure counts its time: what happens then is the backtest's business, its fallbacks)."""
    t0 = time.thread_time()
    try:
        with warnings.catch_warnings(), threadpool_limits(1):  # as in the backtest's tasks
            warnings.simplefilter("ignore")
            model.clone().fit(y).predict(h)
    except Exception:
        pass
    return time.thread_time() - t0


def _pilot_seconds(model: Forecaster, ys: Sequence[np.ndarray], rows: list[int], h: int, limit: float) -> float:
    """Mean CPU seconds of one fit of ``model`` on the series ``ys[rows]``; a fit that runs past ``limit``
    wall seconds counts as ``limit`` and ends the pilot."""
    spent = []
    for i in rows:
        try:
            spent.append(run_with_timeout(lambda: _fit_seconds(model, ys[i], h), limit))
        except TimeoutError:
            spent.append(limit)
            break
    return float(np.mean(spent))


def _panel_pilot_seconds(model: PanelForecaster, ys: Sequence[np.ndarray], h: int) -> float:
    """Estimated CPU seconds of one full training of ``model`` on ``ys``, from ``PILOT_TRAIN_SECONDS`` of it
    (a pilot that fails or finishes within them costs what it took). A one-step fit on one series
    first takes the one-off costs (torch's lazy initialisation) out of the measurement."""
    try:
        with warnings.catch_warnings(), training_budget(0.0):
            warnings.simplefilter("ignore")
            model.clone().fit_panel([ys[0]]).predict_panel(h)
    except Exception:
        pass
    t0 = time.process_time()
    try:
        with warnings.catch_warnings(), training_budget(PILOT_TRAIN_SECONDS) as budget:
            warnings.simplefilter("ignore")
            model.clone().fit_panel(list(ys)).predict_panel(h)  # networks without a horizon train here
    except Exception:  # a failing member is the backtest's business (fallbacks)
        return time.process_time() - t0
    spent = time.process_time() - t0
    if not budget.cut:
        return spent
    done, asked = budget.cut[0]
    return spent * asked / max(done, 1)


def plan_budget(models: Sequence[Forecaster], ys: Sequence[np.ndarray], horizon: int, n_origins: int,
                time_budget: float | str = "auto", can_drop: bool = True) -> BudgetPlan:
    """Time the per-series members on a few series and decide who runs, and the panel members' cap.

    Args:
        models: the pool; ys: the ``S`` training series (float64 ``(t_i,)``); horizon: ``h``;
        n_origins: origins per series including the final one (``O``).
        time_budget: ``"auto"`` or CPU seconds per member (see :func:`member_budget`).
        can_drop: False keeps every member (e.g. a trained agent needs its whole pool): the
            estimates are still made and reported, and panel members are still capped.

    Returns:
        the :class:`BudgetPlan`. At least one member is always kept: when every member is over
        its budget, the cheapest one stays.
    """
    S = len(ys)
    seconds = member_budget(S, n_origins, time_budget)
    fits = max(1, S * n_origins)
    rows = _pilot_rows(np.array([len(y) for y in ys]))
    limit = max(10.0, 5.0 * seconds / fits)  # wall seconds: a pilot fit this slow is far over its budget
    plan = BudgetPlan(seconds=seconds, kept=[], panel_seconds=seconds / n_origins)
    for model in models:
        if isinstance(model, PanelForecaster):
            estimate = _panel_pilot_seconds(model, ys, horizon) * n_origins
            over = estimate > 2.0 * seconds  # it would train less than half its steps
        else:
            estimate = _pilot_seconds(model, ys, rows, horizon, limit) * fits
            over = estimate > seconds
        plan.estimates[model.alias] = estimate
        if can_drop and over:
            plan.dropped[model.alias] = (f"estimated {estimate:.3g} CPU-s for {S} series x {n_origins} origins, "
                                         f"over {'twice ' if isinstance(model, PanelForecaster) else ''}its budget "
                                         f"of {seconds:.3g}")
        else:
            plan.kept.append(model)
    if not plan.kept:  # never an empty pool: keep the cheapest
        cheapest = min(plan.estimates, key=plan.estimates.get)
        plan.kept = [m for m in models if m.alias == cheapest]
        del plan.dropped[cheapest]
    return plan
