"""The simple and Bayesian baseline composers on M3: what a learned composer must beat (issue 19, parts 7-8).

For every subset, the backtest cube is built the way the main job builds it
(``metacompose.m3_job`` / ``benchmarks/m3/run.py``: a :class:`~metacompose.composer.Composer`
with the default pool, default origins, forecasts of non-negative series clipped at 0; the
backtest is read from the cache folder ``--cache`` when it holds it), once with the whole
seven-member default pool ("full") and once with the pool the main job trains on, pruned on the
backtest by :func:`metacompose.pool_selection.select_pool` in MASE, the PPO agent's reward
metric ("pruned"). On each cube every baseline is fitted on the training part (its backtest
origins) and its forecast at the final origin is scored on the M3 test part: sMAPE in percent
(M3/M4 definition) and MASE (seasonal-naive scale of the training part; Hyndman & Koehler 2006),
both from :mod:`metacompose.metrics` through :func:`metacompose.evaluate.score`.

Nothing is tuned on the test part. Every parameter is fixed a priori (below). The "val"
columns are not used to choose anything either: they replay the task one horizon earlier,
inside the training data (:func:`metacompose.history.validation_split`: each baseline is
fitted on the origins whose horizons end by the last backtest origin and scored there), to
show how far the training data alone would have ranked the baselines as the test part does.

Parameters, fixed a priori: ``TrimmedMean(0.2)`` (the default; Jose & Winkler 2008 found
10-30% trimming robust; it drops one member at each end for pools of five to nine and none
for four) and ``TrimmedMean(0.25)`` (one member at each end for any pool of four to seven);
``DropWorst()`` (drop the worse half of the pool by the panel-wide past MASE known at the
origin); ``GlobalWeights`` in MASE (the reward metric), with and without ``per_step``, and in sMAPE
(both metrics are shown; neither is chosen);
``BMA`` / ``MAPSelection`` with a Dirichlet(1) smoothing of the empirical-Bayes prior
(Laplace's rule) and MASE errors; ``InverseError`` (power 1) and ``BestSingle`` over every
past origin.

    python benchmarks/m3/baselines.py [--subset other --subset yearly] [--max-series N] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from metacompose import Composer
from metacompose.agents import (BMA, BestSingle, DropWorst, EqualWeights, GlobalWeights, InverseError, MAPSelection,
                                Median, TrimmedMean)
from metacompose.data import M3_SUBSETS, load_m3
from metacompose.evaluate import score, test_matrix
from metacompose.history import known_scales, validation_split
from metacompose.m3_job import pooled_results
from metacompose.pool_selection import select_pool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.run import markdown  # noqa: E402  (benchmarks/m3/run.py)
from results_file import RunLog, write_section  # noqa: E402  (benchmarks/results_file.py)

SUBSETS = ["yearly", "quarterly", "monthly", "other"]


def baselines() -> dict:
    """Label -> a fresh, unfitted baseline, every parameter fixed a priori (see the module notes)."""
    return {
        "EqualWeights": EqualWeights(), "Median": Median(), "TrimmedMean(0.2)": TrimmedMean(0.2),
        "TrimmedMean(0.25)": TrimmedMean(0.25), "DropWorst (worse half)": DropWorst(),
        "GlobalWeights": GlobalWeights(), "GlobalWeights per step": GlobalWeights(per_step=True),
        "GlobalWeights (sMAPE)": GlobalWeights(metric="smape"),
        "BMA": BMA(), "MAP": MAPSelection(), "InverseError": InverseError(), "BestSingle": BestSingle(),
    }


def build_cubes(subset: str, max_series, n_jobs: int, cache: str | None, seed: int, echo):
    """The full-pool and pruned-pool training cubes of ``subset``, the test values and ``h``."""
    train, test, m, h = load_m3(subset, max_series)
    t0 = time.perf_counter()
    comp = Composer(agent="equal", horizon=h, season_length=m, n_jobs=n_jobs, cache_dir=cache, random_state=seed,
                    pool_selection=False).fit(train)
    full = comp.cube_
    sel = select_pool(full, metric="mase")
    echo(f"\n== M3 {subset}: {full.shape[0]} series, h={h}, m={m}; backtest and cubes in "
         f"{time.perf_counter() - t0:.0f} s ==\n{comp.report_.summary()}\npool selection (MASE): kept "
         f"{', '.join(sel.models)}; dropped {', '.join(sel.dropped) or 'none'}")
    actual = test_matrix(test, comp.panel_.ids, h)
    return {"pruned": full.take_models(sel.models), "full": full}, actual, h


def validation_score(fc, split) -> dict[str, float]:
    """sMAPE and MASE of a forecast ``(S, H)`` at the validation origin (training data only; NaN without one)."""
    if split is None:
        return {"val sMAPE": np.nan, "val MASE": np.nan}
    sub, actual, mask = split
    s = score(fc[mask], actual[mask], known_scales(sub)[mask, -1])
    return {"val sMAPE": s["sMAPE"], "val MASE": s["MASE"]}


def pool_table(cube, actual: np.ndarray, members: bool) -> pd.DataFrame:
    """Test and validation scores of every baseline on ``cube``; with ``members``, each member's too.

    The validation score of a baseline is that of a copy refitted on the validation sub-cube
    (:func:`metacompose.history.validation_split`), at its final (the validation) origin.
    """
    split = validation_split(cube)
    rows = {}
    if members:
        for j, alias in enumerate(cube.models):
            val = validation_score(split[0].forecasts[:, -1, j].astype(np.float64) if split else None, split)
            rows[f"member {alias}"] = {**score(cube.forecasts[:, -1, j].astype(np.float64), actual, cube.scales),
                                       **val, "fit s": np.nan}
    for label, agent in baselines().items():
        t0 = time.perf_counter()
        fc = agent.fit(cube).combine(cube)[:, -1]
        secs = time.perf_counter() - t0
        val = validation_score(agent.clone().fit(split[0]).combine(split[0])[:, -1] if split else None, split)
        rows[label] = {**score(fc, actual, cube.scales), **val, "fit s": secs}
    return pd.DataFrame(rows).T[["sMAPE", "MASE", "val sMAPE", "val MASE", "fit s"]]


def pooled(tables: dict, pool: str) -> pd.DataFrame:
    """Point-weighted mean (series x horizon) over the subsets of the ``pool`` tables, for rows in all of them
    (:func:`metacompose.m3_job.pooled_results`)."""
    rows = pd.concat([t[pool].assign(subset=s, n_series=t["n_series"]) for s, t in tables.items()])
    rows = rows.rename_axis("method").reset_index()
    cols = ["sMAPE", "MASE", "val sMAPE", "val MASE"]
    return pooled_results(rows, cols).set_index("method")[cols]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", choices=SUBSETS, action="append", help="subset (repeatable; default: all four)")
    ap.add_argument("--max-series", type=int, default=None, help="first N series per subset (default: all)")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=".metacompose-cache/m3", help="backtest cache folder (the main job's)")
    ap.add_argument("--results", default="benchmarks/m3/baselines_results.md")
    ap.add_argument("--no-results", action="store_true", help="do not write the results file")
    args = ap.parse_args(argv)
    subsets = args.subset or SUBSETS
    echo = RunLog()
    lines = echo.lines

    t0 = time.perf_counter()
    tables = {}
    for subset in subsets:
        cubes, actual, h = build_cubes(subset, args.max_series, args.n_jobs, args.cache, args.seed, echo)
        tables[subset] = {"n_series": cubes["full"].shape[0], "h": h, "pools": {k: list(c.models) for k, c in cubes.items()},
                          "pruned": pool_table(cubes["pruned"], actual, members=False),
                          "full": pool_table(cubes["full"], actual, members=True)}
        for pool in ("pruned", "full"):
            echo(f"-- {subset}, {pool} pool ({', '.join(tables[subset]['pools'][pool])}):")
            echo(tables[subset][pool].round(3).to_string())
    if len(subsets) > 1:
        for pool in ("pruned", "full"):
            echo(f"\n-- all run subsets ({', '.join(subsets)}), point-weighted, {pool} pool:")
            echo(pooled(tables, pool).round(3).to_string())
    wall = time.perf_counter() - t0
    if not args.no_results:
        write_results(args, argv, subsets, tables, lines, wall)
    return tables


def write_results(args, argv, subsets, tables, lines, wall) -> None:
    """Write the ``baselines`` section of ``args.results``."""
    parts = []
    for s, t in tables.items():
        for pool in ("pruned", "full"):
            parts.append(f"#### {s} ({t['n_series']} series, h={t['h']}), {pool} pool: {', '.join(t['pools'][pool])}"
                         f"\n\n{markdown(t[pool].round(3))}")
    if len(tables) > 1:
        for pool in ("pruned", "full"):
            parts.append(f"#### {' + '.join(subsets)}, point-weighted (series x horizon), {pool} pool"
                         f"\n\n{markdown(pooled(tables, pool).round(3))}")
    cmd = ("python benchmarks/m3/baselines.py " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    size = "" if args.max_series is None else f", first {args.max_series} series per subset"
    notes = "\n\n".join(re.sub(r":\w+:`~?([^`]+)`", r"`\1`", n.strip()).replace("``", "`")
                          for n in __doc__.split("\n\n")[1:4])
    text = f"""## Simple and Bayesian baseline composers on M3

Command: `{cmd}` ({args.n_jobs} jobs{size}; subsets {', '.join(subsets)}).
Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, no GPU.
Wall time: {wall:.0f} s (backtests read from the cache `{args.cache}` where it held them).

{notes}

Columns: sMAPE (percent) and MASE of the final-origin forecast on the M3 test part; "val sMAPE" /
"val MASE": the same baseline refitted on the training data one horizon earlier and scored at
the last backtest origin (training data only; MASE over the scale known at that origin);
"fit s": seconds to fit the baseline and combine.

{(chr(10) * 2).join(parts)}

### Run log

```
""" + "\n".join(lines) + "\n```\n"
    write_section(args.results, "baselines", text)
    print(f"wrote the baselines section of {args.results}")


if __name__ == "__main__":
    main()
