"""Cross-learning, weights per horizon step and the pretrained agent's transfer on M3 (issue 19, points 1, 2 and 4).

Cubes: for every subset, the backtest cube of the whole seven-member default pool, built as
``benchmarks/m3/baselines.py`` builds it (cached backtests; the same pool for every subset, so
one policy can act on all of them). Every agent is trained on backtest origins only and its
forecast at the final origin is scored on the M3 test part: sMAPE (percent, M3/M4 definition)
and MASE (seasonal-naive scale of the training part), :func:`metacompose.evaluate.score`.

Compared, with every setting fixed a priori (nothing is chosen on the test part):

* ``per-subset``: one PPO agent per subset (the main job's way), ``K = 1`` (one weight vector for
  the horizon) and ``K = 2`` (knots at both ends of the horizon, weights interpolated along it);
* ``pooled``: one PPO agent trained on the four subsets' cubes at once (cross-learning; twice
  the per-subset steps), ``K = 1`` and ``K = 2``;
* ``leave-one-out`` (transfer): for each subset, an agent trained on the other three subsets'
  cubes acts, untrained, on the held-out subset, scored on its test part -- the whole subset,
  and 50 random panels of 10 series drawn from it (the agent's weights for a series depend on
  that series alone, so a panel's forecast is the whole-subset forecast of its series).

Equal weights of the same pool, and the trimmed mean, are shown beside them.

    python benchmarks/m3/cross_learning.py [--seed 0] [--timesteps 100000] [--max-series N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from metacompose.agents import EqualWeights, TrimmedMean, get_agent
from metacompose.evaluate import score
from metacompose.m3_job import pooled_results
from metacompose.metrics import smape_points

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.baselines import SUBSETS, build_cubes  # noqa: E402  (benchmarks/m3/baselines.py)
from m3.run import markdown  # noqa: E402
from results_file import RunLog, write_section  # noqa: E402

PANELS, PANEL_SIZE = 50, 10


def rl_agent(knots: int, seed: int, timesteps: int):
    """The PPO composer with the main job's settings and ``K`` knots (fixed a priori)."""
    return get_agent("ppo", horizon_knots=knots, seed=seed, total_timesteps=timesteps)


def guard(agent) -> str:
    """The guard's choice in a few words."""
    c = agent.shrinkage_choice_
    return "no validation origin" if c is None else f"guard: pooling, shrinkage = {c.choice} (p = {c.p_value:.3g})"


def panel_means(fc: np.ndarray, eq: np.ndarray, actual: np.ndarray, seed: int) -> dict[str, float]:
    """Mean sMAPE over random panels of ``PANEL_SIZE`` series of the agent's and equal weights' forecasts."""
    rng = np.random.default_rng(seed)
    a, e = smape_points(actual, fc).mean(axis=1), smape_points(actual, eq).mean(axis=1)   # (S,) per series
    draws = [rng.choice(len(a), size=min(PANEL_SIZE, len(a)), replace=False) for _ in range(PANELS)]
    pa, pe = np.array([a[d].mean() for d in draws]), np.array([e[d].mean() for d in draws])
    return {"panels sMAPE": pa.mean(), "panels EW sMAPE": pe.mean(), "panels won": float(np.mean(pa < pe))}


def subset_rows(cubes: dict, actuals: dict, seed: int, timesteps: int, echo) -> dict[str, pd.DataFrame]:
    """Per subset: the test scores of every compared composer."""
    rows = {s: {} for s in cubes}
    for s, cube in cubes.items():
        rows[s]["EqualWeights"] = score(EqualWeights().fit(cube).combine(cube)[:, -1], actuals[s], cube.scales)
        rows[s]["TrimmedMean"] = score(TrimmedMean().fit(cube).combine(cube)[:, -1], actuals[s], cube.scales)
    for knots in (1, 2):
        for s, cube in cubes.items():
            t0 = time.perf_counter()
            agent = rl_agent(knots, seed, timesteps).fit(cube)
            rows[s][f"per-subset PPO K={knots}"] = {**score(agent.combine(cube)[:, -1], actuals[s], cube.scales),
                                                    "train s": time.perf_counter() - t0}
            echo(f"per-subset K={knots} {s}: {rows[s][f'per-subset PPO K={knots}']} {guard(agent)}")
        t0 = time.perf_counter()
        pooled = rl_agent(knots, seed, 2 * timesteps).fit(list(cubes.values()))
        secs = time.perf_counter() - t0
        echo(f"pooled K={knots}: trained in {secs:.0f} s, {guard(pooled)}")
        for s, cube in cubes.items():
            rows[s][f"pooled PPO K={knots}"] = {**score(pooled.combine(cube)[:, -1], actuals[s], cube.scales),
                                                "train s": secs}
        for held in cubes:
            t0 = time.perf_counter()
            others = [c for s, c in cubes.items() if s != held]
            agent = rl_agent(knots, seed, 2 * timesteps).fit(others)
            cube = cubes[held]
            fc = agent.combine(cube)[:, -1]
            eq = EqualWeights().fit(cube).combine(cube)[:, -1]
            rows[held][f"leave-one-out PPO K={knots}"] = {**score(fc, actuals[held], cube.scales),
                                                          **panel_means(fc, eq, actuals[held], seed),
                                                          "train s": time.perf_counter() - t0}
            echo(f"leave-one-out K={knots} {held}: {rows[held][f'leave-one-out PPO K={knots}']} {guard(agent)}")
    return {s: pd.DataFrame(r).T for s, r in rows.items()}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timesteps", type=int, default=100_000, help="per-subset PPO steps (pooled: twice)")
    ap.add_argument("--max-series", type=int, default=None)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--cache", default=".metacompose-cache/m3")
    ap.add_argument("--results", default="benchmarks/m3/cross_learning_results.md")
    args = ap.parse_args(argv)
    echo = RunLog()
    lines = echo.lines

    t0 = time.perf_counter()
    cubes, actuals = {}, {}
    for s in SUBSETS:
        built, actual, _ = build_cubes(s, args.max_series, args.n_jobs, args.cache, args.seed, echo)
        cubes[s], actuals[s] = built["full"], actual
    tables = subset_rows(cubes, actuals, args.seed, args.timesteps, echo)
    cols = ["sMAPE", "MASE"]
    allrows = pd.concat([t.assign(subset=s, n_series=cubes[s].shape[0]) for s, t in tables.items()])
    overall = pooled_results(allrows.rename_axis("method").reset_index(), cols).set_index("method")[cols]
    parts = [f"#### {s} ({cubes[s].shape[0]} series)\n\n{markdown(t.round(3))}" for s, t in tables.items()]
    parts.append(f"#### all four subsets, point-weighted (series x horizon)\n\n{markdown(overall.round(3))}")
    for p in parts:
        print(p)
    cmd = ("python benchmarks/m3/cross_learning.py " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    notes = "\n\n".join(n.strip() for n in __doc__.split("\n\n")[1:4])
    text = (f"## Cross-learning, per-step weights and transfer on M3\n\nCommand: `{cmd}` (seed {args.seed}; "
            f"wall time {time.perf_counter() - t0:.0f} s, 2 cores).\n\n{notes}\n\nColumns: test sMAPE and MASE; "
            "`panels *`: mean sMAPE over 50 random 10-series panels of the agent and of equal weights, and the "
            "share of panels where the agent is lower; `train s`: training seconds.\n\n" + "\n\n".join(parts)
            + "\n\n### Run log\n\n```\n" + "\n".join(lines) + "\n```\n")
    write_section(args.results, f"cross_learning_seed{args.seed}", text)
    return tables


if __name__ == "__main__":
    main()
