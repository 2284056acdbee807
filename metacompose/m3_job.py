"""The main job (``metacompose run``): backtest, train and score the composer on M3's test parts.

For every subset: fit a :class:`~metacompose.composer.Composer` on the training parts, score
the base models, the baseline composers (same cube) and the composer on the test part,
print the report and write the forecasts, weights and cube. The test part (``xx``) is used
only to score.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from metacompose.agents import get_agent, is_rl_agent
from metacompose.agents.callbacks import ppo_progress_callback
from metacompose.composer import Composer
from metacompose.data import M3_SUBSETS, load_m3
from metacompose.evaluate import comparison_table, test_matrix, weight_diversity
from metacompose.errors import InputError
from metacompose.models.naive import Naive
from metacompose.plots import write_composer_plots

BASELINES = ("equal", "median", "trimmed_mean", "drop_worst", "best", "inverse_error", "global_weights", "bma", "map",
             "fforma")
"""The baseline composers scored next to the agent, on the same cube (``metacompose.agents``: the
simple schemes, the global-weights and Bayesian baselines, FFORMA)."""


POOLED_COLUMNS = ("sMAPE", "MASE", "MAPE", "share >2x ref")
"""Scores whose point-weighted mean over subsets is reported as "all" (a percentile does not pool)."""


def run_m3(
    subsets: Sequence[str] = ("other",),
    models: Sequence[str] | None = None,
    agent: str = "ppo",
    max_series: int | None = None,
    n_jobs: int = 2,
    seed: int = 0,
    total_timesteps: int | None = None,
    out_dir: str | Path = "metacompose-out",
    cache_dir: str | Path | None = None,
    progress: bool | None = True,
    plots: bool = False,
    echo: Callable[[str], None] = print,
    pool_selection: bool | None = None,
) -> pd.DataFrame:
    """Backtest the pool, train the agent on the training parts, forecast the M3 test horizon, score it.

    The M3 test part (``xx``) is used only to score the final forecasts. For every subset
    the table has one row per base model, the baseline composers on the same cube
    (``EqualWeights``: mean of the pool; ``Median``; ``BestSingle``: per series, the model
    with the lowest backtest MASE; ``InverseError``; ``FFORMA``: series features -> weights)
    and the agent.

    Args:
        subsets: M3 subsets to run (``yearly``, ``quarterly``, ``monthly``, ``other``).
        models: pool aliases (default pool if None).
        agent: composition agent name (default ``"ppo"``).
        max_series: first N series per subset (all if None).
        n_jobs: backtest workers.
        seed: seed of the agent.
        total_timesteps: training budget of an RL agent (ppo, a2c, sac, td3, ddpg; agent default if None).
        out_dir: where ``forecasts_<subset>.csv``, ``weights_<subset>.csv``, ``results.csv``
            and the backtest cube ``cube_<subset>.npz/.json`` go.
        cache_dir: backtest cache folder (None = no cache).
        progress: progress bars on stderr for the backtest and PPO training (None: only when
            stderr is a terminal).
        plots: also write PNG plots to ``out_dir/plots/`` (see
            :func:`metacompose.plots.write_composer_plots`; files prefixed ``<subset>_``).
        echo: where lines of the report go.
        pool_selection: prune the pool on the backtest (:class:`~metacompose.Composer`'s argument; None: only
            the default pool is pruned).

    Returns:
        the results frame: subset, method, sMAPE (percent), MASE, MAPE (percent), the tail figures of
        :func:`metacompose.evaluate.tail_figures` against Naive (``p99 sMAPE``: NaN in the pooled
        "all" rows; ``share >2x ref``), n_series.

    Raises:
        InputError: unknown subset.
    """
    for s in subsets:
        if s not in M3_SUBSETS:
            raise InputError(f"unknown M3 subset {s!r}; choose from {', '.join(M3_SUBSETS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = []
    for subset in subsets:
        t0 = time.perf_counter()
        comp, test, h = _fit_subset(subset, models, agent, max_series, n_jobs, seed, total_timesteps, cache_dir,
                                    progress, pool_selection)
        table = _score_subset(comp, test, h, subset)
        echo(f"\n== M3 {subset}: {comp.cube_.shape[0]} series, h={h}, m={comp.season_length}, "
             f"wall time {time.perf_counter() - t0:.1f} s ==")
        _echo_subset(comp, table, echo)
        _write_subset(comp, out, subset, plots, echo)
        tables.append(table.rename_axis("method").reset_index())
    results = pd.concat(tables, ignore_index=True)
    if len(subsets) > 1:
        pooled = pooled_results(results, POOLED_COLUMNS)
        results = pd.concat([results, pooled], ignore_index=True)
        echo("\n== all subsets (point-weighted: series x horizon) ==")
        echo(pooled.set_index("method")[list(POOLED_COLUMNS)].round(3).to_string())
    results.to_csv(out / "results.csv", index=False)
    echo(f"\nwrote {out}/results.csv, forecasts_<subset>.csv and weights_<subset>.csv")
    return results


def _fit_subset(subset: str, models, agent: str, max_series, n_jobs, seed, total_timesteps, cache_dir,
                progress, pool_selection=None) -> tuple[Composer, pd.DataFrame, int]:
    """Fit a composer on the training parts of ``subset``; returns ``(composer, test frame, h)``."""
    train, test, m, h = load_m3(subset, max_series)
    kwargs = {"total_timesteps": total_timesteps} if (total_timesteps and is_rl_agent(agent)) else {}
    if is_rl_agent(agent) and progress is not False:
        kwargs["callback"] = ppo_progress_callback(disable=None if progress is None else False)
    comp = Composer(models=models, agent=agent, horizon=h, season_length=m, n_jobs=n_jobs, cache_dir=cache_dir,
                    random_state=seed, agent_kwargs=kwargs, progress=progress, pool_selection=pool_selection)
    return comp.fit(train), test, h


def _score_subset(comp: Composer, test: pd.DataFrame, h: int, subset: str) -> pd.DataFrame:
    """Scores on the test part of the base models, the :data:`BASELINES` and the composer.

    Returns:
        frame indexed by method, with ``subset``, the columns of
        :func:`metacompose.evaluate.comparison_table` (tail figures against ``Naive``) and ``n_series``.
    """
    cube = comp.cube_
    actual = test_matrix(test, comp.panel_.ids, h)
    composed = {}
    for name in BASELINES:
        base = get_agent(name).fit(cube)
        composed[type(base).__name__] = base.combine(cube)[:, -1]
    composed[f"{type(comp.agent_).__name__} (composer)"] = comp.forecast_
    naive = np.stack([Naive().fit(y).predict(h) for y in comp.panel_.values])
    table = comparison_table(cube, composed, actual, reference=naive)
    table.insert(0, "subset", subset)
    table["n_series"] = cube.shape[0]
    return table


def _echo_subset(comp: Composer, table: pd.DataFrame, echo) -> None:
    """Print a subset's backtest report, pool choice, score table, weight diversity and PPO's amounts."""
    cube = comp.cube_
    echo(comp.report_.summary())
    sel = comp.pool_selection_
    if sel is not None:
        echo(f"pool chosen on the backtest: {', '.join(sel.models)}" + (
            f"; dropped {', '.join(f'{a} (p = {p:.2g})' for a, p in zip(sel.dropped, sel.p_values))}, "
            f"equal-weight backtest {sel.metric.upper()} {sel.scores[0]:.4f} -> {sel.scores[-1]:.4f}"
            if sel.dropped else f"; no removal lowered the equal-weight backtest {sel.metric.upper()} significantly"))
    echo(table.drop(columns=["subset", "n_series"]).round(3).to_string())
    div = weight_diversity(comp.weights_, cube)
    echo(f"weights at the final origin: mean entropy {div['mean_entropy']:.3f} nats (equal weights = "
         f"{div['max_entropy']:.3f}); exactly equal weights in {100 * div['share_equal']:.1f}% of series; "
         f"elsewhere the top model differs from the pool's best single model in "
         f"{100 * div['share_top_differs']:.1f}% of series, {div['distinct_top_models']} distinct top models")
    pooled = getattr(comp.agent_, "pooled_weights_", None)
    if pooled is not None:
        choice = getattr(comp.agent_, "shrinkage_choice_", None)
        why = "" if choice is None else (
            f"; best pair on the validation origin {choice.best}, one-sided p-value against equal weights "
            f"{choice.p_value:.3g}")
        echo(f"PPO weights pulled toward its pooled weights by {comp.agent_.pooling_:g} and toward equal weights by "
             f"{comp.agent_.shrinkage_:g} (chosen on the validation origin{why}); pooled weights: "
             + ", ".join(f"{a} {w:.2f}" for a, w in zip(cube.models, pooled)))


def _write_subset(comp: Composer, out: Path, subset: str, plots: bool, echo) -> None:
    """Write ``forecasts_<subset>.csv``, ``cube_<subset>.*``, ``weights_<subset>.csv`` and, with ``plots``, PNGs."""
    comp.predict().to_csv(out / f"forecasts_{subset}.csv", index=False)
    comp.cube_.save(out / f"cube_{subset}")
    comp.weights().to_csv(out / f"weights_{subset}.csv", index=False)
    if plots:
        written = write_composer_plots(comp, out / "plots", prefix=f"{subset}_")
        echo(f"wrote {len(written)} plots: " + ", ".join(str(p) for p in written))


def pooled_results(results: pd.DataFrame, columns: Sequence[str] = ("sMAPE", "MASE")) -> pd.DataFrame:
    """Point-weighted mean over subsets (weights: series x horizon) for methods present in every subset.

    The one home of M3's "all" column; the benchmarks pool their own tables with it too.

    Args:
        results: rows with ``subset``, ``method``, ``n_series`` and ``columns`` (rows of subset
            ``"all"`` are ignored), e.g. :func:`run_m3`'s frame.
        columns: the scores to pool (NaN left out of a mean; NaN when a method has none).

    Returns:
        one row per method: subset ``"all"``, method, the pooled ``columns``, n_series (summed).
    """
    r = results[results["subset"] != "all"].copy()
    r["points"] = r["n_series"] * r["subset"].map(lambda s: M3_SUBSETS[s][1])
    rows = []
    for method, g in r.groupby("method", sort=False):
        if g["subset"].nunique() == r["subset"].nunique():
            w = g["points"] / g["points"].sum()
            rows.append({"subset": "all", "method": method, **{c: float((g[c] * w).sum(min_count=1)) for c in columns},
                         "n_series": int(g["n_series"].sum())})
    return pd.DataFrame(rows)
