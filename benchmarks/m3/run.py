"""Accuracy benchmark on all of M3: the composer and its baselines next to the published anchors.

Runs ``metacompose.m3_job.run_m3`` on the four M3 subsets (the test part is used only to
score), then writes the ``accuracy`` section of ``benchmarks/RESULTS.md`` (the other
sections are kept) with the per-subset table, the point-weighted
total (series x horizon), the published rows of DESIGN.md, the machine and the wall time.

    python benchmarks/m3/run.py [--seed 0] [--n-jobs 2] [--max-series N] [--out benchmarks/m3/out] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd

from metacompose.m3_job import run_m3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_file import RunLog, write_section  # noqa: E402  (benchmarks/results_file.py)

PUBLISHED = pd.DataFrame(
    {"yearly": [17.88, 16.90, 17.14, 15.93], "quarterly": [9.95, 8.96, 9.77, 8.84],
     "monthly": [16.91, 13.85, 13.86, 13.11], "other": [6.30, 4.41, 4.60, 4.24], "all": [15.47, 13.01, 13.19, 12.37]},
    index=["Naive2 (published)", "Theta (published)", "ForecastPro (published)", "N-BEATS-I+G (published)"],
)
SUBSETS = ["yearly", "quarterly", "monthly", "other"]


def markdown(df: pd.DataFrame) -> str:
    """A frame as a GitHub markdown table (no extra dependency)."""
    head = "| method | " + " | ".join(map(str, df.columns)) + " |"
    sep = "|---|" + "---:|" * len(df.columns)
    rows = ["| " + str(i) + " | " + " | ".join("" if pd.isna(v) else f"{v}" for v in r) + " |" for i, r in df.iterrows()]
    return "\n".join([head, sep, *rows])


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--max-series", type=int, default=None)
    ap.add_argument("--timesteps", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/m3/out")
    ap.add_argument("--cache", default=None, help="backtest cache folder (reuse backtests across runs; default: none)")
    ap.add_argument("--results", default="benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    echo = RunLog()
    lines = echo.lines

    t0 = time.perf_counter()
    res = run_m3(SUBSETS, max_series=args.max_series, n_jobs=args.n_jobs, seed=args.seed,
                 total_timesteps=args.timesteps, out_dir=args.out, cache_dir=args.cache, progress=False, echo=echo)
    wall = time.perf_counter() - t0
    table = res.pivot(index="method", columns="subset", values="sMAPE")[SUBSETS + ["all"]]
    mase = res.pivot(index="method", columns="subset", values="MASE")[SUBSETS + ["all"]]
    smape_md = markdown(pd.concat([table, PUBLISHED]).round(2))
    mase_md = markdown(mase.round(3))
    mape_md = markdown(res.pivot(index="method", columns="subset", values="MAPE")[SUBSETS + ["all"]].round(2))
    p99_md = markdown(res.pivot(index="method", columns="subset", values="p99 sMAPE")[SUBSETS].round(2))
    share_md = markdown((100 * res.pivot(index="method", columns="subset", values="share >2x ref"))[SUBSETS + ["all"]]
                        .round(2))
    cmd = "python benchmarks/m3/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = f"""## M3 accuracy benchmark

Command: `{cmd.strip()}` (seed {args.seed}, {args.n_jobs} jobs{'' if args.max_series is None else f', first {args.max_series} series per subset'}).
Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, no GPU.
Wall time: {wall:.0f} s for all four subsets (backtest, agent training, forecasts, baselines){
        '' if args.cache is None else '; backtests read from the cache folder where one was stored'}.

The agents are trained per subset on the backtest origins inside the training parts; the M3
test part is used only for the scores below. sMAPE in percent (M3/M4 definition); MASE with
the seasonal-naive scale (Hyndman & Koehler 2006). "all" weights each subset by series x horizon.

### sMAPE

{smape_md}

### MASE

{mase_md}

### MAPE (percent; points whose actual is 0 left out)

{mape_md}

### Tail: 99th percentile of per-series sMAPE

{p99_md}

### Tail: share of series (percent) whose sMAPE is more than twice Naive's

{share_md}

### Run log

```
""" + "\n".join(lines) + "\n```\n"
    write_section(args.results, "accuracy", text)
    print(f"wrote the accuracy section of {args.results}")
    return res


if __name__ == "__main__":
    main()
