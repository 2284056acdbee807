"""The PPO composer with our seven series features against pycatch22's on M3 (issue 19, point 3).

For each subset, the composer is fitted as the main job fits it (``Composer`` defaults: the
default pool pruned on the backtest, PPO seed 0, its guard; backtests read from the main job's
cache) with ``features="basic"`` and with ``features="catch22"``; only the features the agent
sees differ (catch22's are cached apart from the members' forecasts). Scores on the M3 test
part: sMAPE (percent) and MASE; nothing is chosen on it. tsfeatures (FFORMA's set) is left out
here: it costs about 0.3 s per series and origin (``benchmarks/m3/fforma_results.md``).

    python benchmarks/m3/agent_features.py [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from metacompose import Composer
from metacompose.data import load_m3
from metacompose.evaluate import score, test_matrix
from metacompose.m3_job import pooled_results

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.run import markdown  # noqa: E402
from results_file import write_section  # noqa: E402

SUBSETS = ["yearly", "quarterly", "monthly", "other"]
SETS = ("basic", "catch22")


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--cache", default=".metacompose-cache/m3")
    ap.add_argument("--results", default="benchmarks/m3/cross_learning_results.md")
    args = ap.parse_args(argv)
    rows = []
    for subset in SUBSETS:
        train, test, m, h = load_m3(subset)
        for fs in SETS:
            t0 = time.perf_counter()
            comp = Composer(agent="ppo", horizon=h, season_length=m, features=fs, n_jobs=args.n_jobs,
                            cache_dir=args.cache, random_state=args.seed).fit(train)
            s = score(comp.forecast_, test_matrix(test, comp.panel_.ids, h), comp.cube_.scales)
            rows.append({"method": f"PPO, {fs} features", "subset": subset, "n_series": len(comp.panel_.ids), **s,
                         "weights": comp.decision_.source, "fit s": time.perf_counter() - t0})
            print(rows[-1], flush=True)
    res = pd.DataFrame(rows)
    res = pd.concat([res, pooled_results(res, ("sMAPE", "MASE"))], ignore_index=True)
    table = res.pivot(index="method", columns="subset", values="sMAPE")[SUBSETS + ["all"]].round(3)
    detail = res.set_index(["method", "subset"])[["sMAPE", "MASE", "weights", "fit s"]].round(3)
    cmd = ("python benchmarks/m3/agent_features.py " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    notes = __doc__.split("\n\n")[1].strip()
    write_section(args.results, "agent_features", f"## PPO with basic or catch22 features on M3\n\nCommand: `{cmd}`."
                  f"\n\n{notes}\n\n### sMAPE\n\n{markdown(table)}\n\n### Detail\n\n"
                  f"{markdown(detail.reset_index().set_index('method'))}")
    return res


if __name__ == "__main__":
    main()
