"""PPO, A2C, SAC, TD3 and DDPG as the composition agent on M3 (issue 19, point 5).

For every subset, loads the backtest cube the main job saved (``benchmarks/m3/out/cube_<subset>``,
written by ``metacompose run`` / ``benchmarks/m3/run.py``: the pool pruned on the backtest; the
final origin's actuals are unknown), trains :class:`~metacompose.agents.rl.RLAgent` with each
algorithm on the backtest origins (the same budget for all: ``--timesteps``, 100,000 by default,
like the PPO default; seed 0; every other setting the algorithm's default from
:mod:`metacompose.agents.sb3_algorithms`, the shrinkage/pooling guard included), takes the
weights at the final origin and scores the composed forecast on the M3 test part: sMAPE in
percent (M3/M4 definition) and MASE (seasonal-naive scale of the training part; Hyndman &
Koehler 2006), through :func:`metacompose.evaluate.score`.

Columns: ``sMAPE`` and ``MASE`` of the agent as used (its weights after the guard); ``policy
sMAPE`` / ``policy MASE`` of the trained policy's own weights (pooling 0, shrinkage 0: what the
algorithm learned, before the guard; shown, not chosen); ``p, s`` the pooling and shrinkage the
guard chose on the validation origin inside the training data; ``train s`` the wall time of
``fit`` (the guard's probe training included; the machine is shared, so times are rough).
EqualWeights is the reference. "all" weights each subset by its forecast points (series x
horizon, :func:`metacompose.m3_job.pooled_results`). Nothing is tuned on the test part.

    nohup nice -n 5 .venv/bin/python benchmarks/m3/algorithms.py > /tmp/algorithms.log 2>&1 &
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from metacompose.agents import EqualWeights, RLAgent
from metacompose.agents.sb3_algorithms import ALGORITHMS
from metacompose.combine import action_to_weights, weighted_forecasts
from metacompose.cube import ForecastCube
from metacompose.data import load_m3
from metacompose.evaluate import score, test_matrix
from metacompose.m3_job import pooled_results

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.run import markdown  # noqa: E402  (benchmarks/m3/run.py)
from results_file import write_section  # noqa: E402  (benchmarks/results_file.py)

SUBSETS = ["yearly", "quarterly", "monthly", "other"]
COLUMNS = ["sMAPE", "MASE", "policy sMAPE", "policy MASE", "p, s", "train s"]


def algorithm_rows(cube: ForecastCube, actual: np.ndarray, timesteps: int, seed: int, echo) -> list[dict]:
    """One row per algorithm (and EqualWeights) on ``cube``, scored at its final origin against ``actual``."""
    rows = [{"method": "EqualWeights", **score(EqualWeights().combine(cube)[:, -1], actual, cube.scales)}]
    for algorithm in ALGORITHMS:
        t0 = time.perf_counter()
        agent = RLAgent(algorithm=algorithm, total_timesteps=timesteps, seed=seed).fit(cube)
        secs = time.perf_counter() - t0
        own = weighted_forecasts(action_to_weights(agent.actions(cube), agent.temperature), cube.forecasts)[:, -1]
        raw = score(own, actual, cube.scales)
        rows.append({"method": algorithm.upper(), **score(agent.combine(cube)[:, -1], actual, cube.scales),
                     "policy sMAPE": raw["sMAPE"], "policy MASE": raw["MASE"],
                     "p, s": f"{agent.pooling_:g}, {agent.shrinkage_:g}", "train s": round(secs, 1)})
        echo(f"  {algorithm}: {secs:.0f} s, sMAPE {rows[-1]['sMAPE']:.3f} (policy {raw['sMAPE']:.3f}), "
             f"p, s = {rows[-1]['p, s']}")
    return rows


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timesteps", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--subset", action="append", choices=SUBSETS)
    ap.add_argument("--out", default="benchmarks/m3/out")
    ap.add_argument("--results", default="benchmarks/m3/algorithms_results.md")
    args = ap.parse_args(argv)
    echo = lambda msg: print(msg, flush=True)  # noqa: E731
    frames, t_all = [], time.perf_counter()
    for subset in args.subset or SUBSETS:
        cube = ForecastCube.load(Path(args.out) / f"cube_{subset}")
        _, test, _, h = load_m3(subset)
        actual = test_matrix(test, cube.series_ids, h)
        echo(f"== {subset}: {cube.shape[0]} series, pool {', '.join(cube.models)} ==")
        rows = algorithm_rows(cube, actual, args.timesteps, args.seed, echo)
        frames.append(pd.DataFrame(rows).assign(subset=subset, n_series=cube.shape[0]))
    results = pd.concat(frames, ignore_index=True)
    if len(frames) == len(SUBSETS):
        results = pd.concat([results, pooled_results(results, ("sMAPE", "MASE", "policy sMAPE", "policy MASE",
                                                                "train s"))], ignore_index=True)
    body = [f"## Stable-baselines3 algorithms as the composition agent on M3\n\nCommand: `python "
            f"benchmarks/m3/algorithms.py --timesteps {args.timesteps} --seed {args.seed}` "
            f"({time.strftime('%Y-%m-%d')}). Machine: {platform.platform()}, shared with other work (times are "
            f"rough). Total {time.perf_counter() - t_all:.0f} s. {args.timesteps:,} environment steps per algorithm "
            "(and as many for the guard's probe), seed 0, every other setting the default. sMAPE in percent "
            "(M3/M4 definition), MASE with the seasonal-naive scale of the training part; test part only "
            "to score. `p, s`: pooling and shrinkage the guard chose on the validation origin; `policy`: "
            "the trained policy's own weights (p = s = 0). \"all\": point-weighted (series x horizon); its "
            "`train s` is a point-weighted mean too.\n"]
    for subset, g in results.groupby("subset", sort=False):
        table = g.set_index("method")[COLUMNS].round(3)
        body.append(f"### {subset} ({int(g['n_series'].iloc[0])} series)\n\n{markdown(table)}\n")
    write_section(args.results, "algorithms", "\n".join(body))
    echo(f"wrote {args.results}")
    return results


if __name__ == "__main__":
    main()
