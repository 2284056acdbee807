"""What a fitted composer decided, and how each choice did on the backtest: the run's account to its user.

:func:`describe` reads a fitted :class:`~metacompose.composer.Composer` and returns a
:class:`Decision`: the season length and where it came from, the members kept and dropped (and
why: over the time budget, or pruned by pool selection with its p-value), where the weights come
from (learned, pooled, equal — and why), and the backtest error of every member and of the
composed forecast, so that a user can see whether to trust the composition. The command line
prints :meth:`Decision.summary`; a script reads the fields.

Errors are means over the backtest origins whose actuals are known (``cube.backtest_mask``):
MASE (absolute error over each series' in-sample seasonal-naive scale, Hyndman & Koehler 2006)
and sMAPE (percent, the M3/M4 definition), from :mod:`metacompose.metrics` through
:meth:`~metacompose.cube.ForecastCube.errors`. For a learned agent (PPO, FFORMA) the composed
forecast's backtest error is in-sample: the agent was trained on those origins.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from metacompose.cube import ForecastCube
from metacompose.errors import NotFittedError

__all__ = ["Decision", "backtest_errors", "describe", "weights_source"]


@dataclass
class Decision:
    """A fitted composer's choices.

    Attributes:
        season_length: ``m`` used; season_reason: given by the user, or how it was inferred.
        kept: aliases of the members whose forecasts are composed, in cube order.
        dropped: alias -> why it left the pool (time budget, pool selection).
        cut_short: alias -> how many of its panel fits had their training cut by the time budget.
        source: ``"learned"`` (the agent's own per-series weights, possibly pulled toward
            pooled/equal weights), ``"pooled"``, ``"equal"``, ``"baseline"`` (a fixed rule:
            equal, median, best, inverse error), ``"trained agent"`` (a given agent trained
            before) or ``"pretrained agent"`` (the one shipped in the package, see
            :mod:`metacompose.agent_choice`).
        reason: why that source, in words.
        errors: frame indexed by method (each member, then ``composed``) with columns ``MASE``
            and ``sMAPE`` (backtest means; NaN without a backtest origin).
        clipped: forecasts (series x origin x model) set to 0 because the series is
            non-negative (``Composer(nonnegative=...)``).
    """

    season_length: int
    season_reason: str
    kept: list
    dropped: dict = field(default_factory=dict)
    cut_short: dict = field(default_factory=dict)
    source: str = "equal"
    reason: str = ""
    errors: pd.DataFrame | None = None
    clipped: int = 0

    def summary(self) -> str:
        """Several lines for the run's output: season, members, weights' source, backtest errors."""
        lines = [f"season length: {self.season_length} ({self.season_reason})",
                 f"members kept: {', '.join(self.kept)}"]
        if self.dropped:
            lines.append("members dropped: " + "; ".join(f"{a}: {why}" for a, why in self.dropped.items()))
        if self.cut_short:
            lines.append("training cut short by the time budget: "
                         + ", ".join(f"{a} at {n} origin(s)" for a, n in self.cut_short.items()))
        lines.append(f"weights: {self.source} ({self.reason})")
        if self.clipped:
            lines.append(f"non-negative data: {self.clipped} negative member forecasts set to 0 (nonnegative=False "
                         "keeps them)")
        if self.errors is not None and len(self.errors):
            table = self.errors.round(3).to_string()
            lines.append("backtest error (mean over the backtest origins; composed in-sample for a learned agent):")
            lines.extend("  " + row for row in table.splitlines())
        return "\n".join(lines)


def backtest_errors(cube: ForecastCube, composed: np.ndarray | None = None) -> pd.DataFrame:
    """Mean backtest MASE and sMAPE of every model of ``cube`` and, if given, of ``composed``.

    Args:
        cube: the backtest, forecasts ``(S, O, M, H)``.
        composed: the composed forecast at every origin, ``(S, O, H)``, or None.

    Returns:
        frame indexed by method (the ``M`` aliases, then ``"composed"``), columns ``MASE``
        (scale-free) and ``sMAPE`` (percent); NaN when the cube has no backtest origin with known actuals.
    """
    methods = list(cube.models)
    forecasts = cube.forecasts
    failed = cube.failed
    if composed is not None:
        methods.append("composed")
        forecasts = np.concatenate([forecasts, np.asarray(composed, np.float32)[:, :, None]], axis=2)
        failed = np.concatenate([failed, failed.any(axis=2, keepdims=True)], axis=2)
    full = replace(cube, forecasts=forecasts, failed=failed, models=methods)
    known = cube.backtest_mask[:, :, None]
    out = {}
    for metric, name in (("mase", "MASE"), ("smape", "sMAPE")):
        e = full.errors(metric)  # (S, O, M')
        ok = known & np.isfinite(e)
        n = ok.sum(axis=(0, 1))
        out[name] = np.where(n > 0, np.where(ok, e, 0.0).sum(axis=(0, 1)) / np.maximum(n, 1), np.nan)
    return pd.DataFrame(out, index=pd.Index(methods, name="method"))


def weights_source(agent, trained: bool = True) -> tuple[str, str]:
    """Where a fitted agent's weights come from, and why, in words.

    Args:
        agent: a fitted composition agent; trained: False when it was given trained (not fitted here).

    Returns:
        ``(source, reason)``, see :class:`Decision`.
    """
    if not trained:
        return "trained agent", f"the given {type(agent).__name__} as trained before, not trained on this data"
    name = getattr(agent, "name", type(agent).__name__)
    if not hasattr(agent, "shrinkage_choice_"):  # not an RL agent (ppo, a2c, sac, td3, ddpg) with its guard
        learned = name == "fforma"
        return ("learned" if learned else "baseline"), (
            "FFORMA: series features -> weights, learned on the backtest" if learned
            else f"the {name!r} rule on the backtest errors")
    choice = getattr(agent, "shrinkage_choice_", None)
    pooling, shrinkage = getattr(agent, "pooling_", 0.0), getattr(agent, "shrinkage_", 0.0)
    if choice is None:
        why = "no validation origin inside the training data to test the learned weights against equal weights"
        return ("equal" if shrinkage >= 1.0 else "learned"), f"{why}; pooling {pooling:g}, shrinkage {shrinkage:g}"
    if choice.choice == (0.0, 1.0):
        return "equal", (f"the guard kept equal weights: the learned weights were not significantly better on the "
                         f"validation origin (p = {choice.p_value:.3g})")
    source = "pooled" if pooling >= 1.0 else "learned"
    return source, (f"better than equal weights on the validation origin (p = {choice.p_value:.3g}); pooling "
                    f"{pooling:g}, shrinkage {shrinkage:g}")


def describe(comp) -> Decision:
    """The :class:`Decision` of a fitted composer.

    Args:
        comp: a fitted :class:`~metacompose.composer.Composer`.

    Returns:
        the decision.

    Raises:
        NotFittedError: ``comp`` is not fitted.
    """
    if comp.cube_ is None:
        raise NotFittedError("call Composer.fit(df) before describing its decision")
    dropped = dict(getattr(comp, "dropped_", {}) or {})
    selection = comp.pool_selection_
    if selection is not None:
        for alias, p in zip(selection.dropped, selection.p_values):
            dropped[alias] = (f"pruned by pool selection: removing it lowered the equal-weight mean's backtest "
                              f"{selection.metric.upper()} (p = {p:.3g})")
    report = comp.report_
    cut = {a: len(c) for a, c in (report.cut_short.items() if report is not None else ())}
    choice = getattr(comp, "agent_choice_", None)  # None: a loaded composer, not fitted in this session
    if choice is not None and choice.pretrained:
        source, reason = "pretrained agent", choice.reason
    else:
        source, reason = weights_source(comp.agent_, comp.train_agent if choice is None else choice.train)
    return Decision(season_length=comp.season_length, season_reason=getattr(comp, "season_reason_", "given"),
                    kept=list(comp.cube_.models), dropped=dropped, cut_short=cut, source=source, reason=reason,
                    errors=backtest_errors(comp.cube_, comp.composed_), clipped=int(getattr(comp, "clipped_", 0)))
