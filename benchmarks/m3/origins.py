"""More backtest origins: what they cost and what they buy on M3 (issue 19, point 3).

For each chosen subset the backtest of the seven-member default pool is run with the default
five origins before the final one and with ten (same spacing, ``step = max(1, h // 3)``: the
extra origins reach further back; series too short for an origin simply lack it), cached in
``--cache``. On each cube, equal weights, the trimmed mean and the PPO composer (default
settings, seed 0) are fitted on the backtest origins and scored on the M3 test part (sMAPE in
percent, MASE). The backtest's CPU time is the members' compute from the run report, read
from a run without the cache (the first run of each setting; a cached rerun reports 0).

    python benchmarks/m3/origins.py [--subset other --subset yearly] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from metacompose import Composer
from metacompose.agents import EqualWeights, TrimmedMean, get_agent
from metacompose.data import load_m3
from metacompose.evaluate import score, test_matrix

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.run import markdown  # noqa: E402
from results_file import write_section  # noqa: E402

ORIGINS = (5, 10)


def one_setting(subset: str, n_origins: int, seed: int, n_jobs: int, cache: str) -> dict[str, dict]:
    """Test scores of equal weights, trimmed mean and PPO on the cube with ``n_origins`` backtest origins."""
    train, test, m, h = load_m3(subset)
    t0 = time.perf_counter()
    comp = Composer(agent="equal", horizon=h, season_length=m, n_origins=n_origins, n_jobs=n_jobs, cache_dir=cache,
                    random_state=seed, pool_selection=False).fit(train)
    wall = time.perf_counter() - t0
    cube, actual = comp.cube_, test_matrix(test, comp.panel_.ids, h)
    cpu = float(sum(comp.report_.seconds.values()))
    out = {}
    for label, agent in (("EqualWeights", EqualWeights()), ("TrimmedMean", TrimmedMean()),
                         ("PPO", get_agent("ppo", seed=seed))):
        t1 = time.perf_counter()
        fc = agent.fit(cube).combine(cube)[:, -1]
        out[f"{label}, {n_origins} origins"] = {**score(fc, actual, cube.scales), "fit s": time.perf_counter() - t1,
                                                "backtest wall s": wall, "backtest CPU s": cpu,
                                                "steppable origins": int(cube.backtest_mask.sum())}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", action="append", choices=["yearly", "quarterly", "monthly", "other"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--cache", default=".metacompose-cache/m3")
    ap.add_argument("--results", default="benchmarks/m3/origins_results.md")
    args = ap.parse_args(argv)
    parts = []
    for subset in args.subset or ["other", "yearly"]:
        rows = {}
        for n in ORIGINS:
            rows.update(one_setting(subset, n, args.seed, args.n_jobs, args.cache))
        table = pd.DataFrame(rows).T.round(3)
        print(f"== {subset}\n{table.to_string()}", flush=True)
        parts.append(f"#### {subset}\n\n{markdown(table)}")
    cmd = ("python benchmarks/m3/origins.py " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    notes = __doc__.split("\n\n")[1].strip()
    write_section(args.results, "origins", f"## Backtest origins: 5 against 10 on M3\n\nCommand: `{cmd}`.\n\n"
                  f"{notes}\n\n" + "\n\n".join(parts))


if __name__ == "__main__":
    main()
