"""FFORMA on M3 with three feature sets (basic, catch22, tsfeatures), beside equal weights (issue 19, points 3 and 6).

For every subset the backtest cube is built as the baselines benchmark builds it
(``benchmarks/m3/baselines.py``: a :class:`~metacompose.composer.Composer` with the default
pool, default origins, no pool selection; the members' backtests are read from the cache folder
``--cache``), once per feature set: the members' forecasts are the same in the three cubes (the
feature sets are cached apart from them, :func:`metacompose.backtest.backtest`), only the
features differ. :class:`~metacompose.agents.fforma.FFORMA` (published M4 hyperparameters, OWA
errors; nothing tuned) is fitted on the backtest origins only and its forecast at the final
origin is scored on the M3 test part: sMAPE in percent (M3/M4 definition) and MASE
(seasonal-naive scale of the training part), through :func:`metacompose.evaluate.score`.

Nothing is tuned on the test part. The "val" columns replay the task one horizon earlier inside
the training data (:func:`metacompose.history.validation_split`), as in the baselines benchmark.
"max w" columns: the largest weight per series at the final origin (median, 90th percentile)
and the share of series with a weight above 0.9 (a collapse onto one model shows there).

    python benchmarks/m3/fforma.py [--subset monthly] [--max-series N] [--n-jobs 2] [--cost-series 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from metacompose import Composer
from metacompose.agents import FFORMA, EqualWeights
from metacompose.data import load_m3
from metacompose.evaluate import score, test_matrix
from metacompose.feature_sets import FEATURE_SETS, origin_features
from metacompose.history import known_scales, validation_split
from metacompose.m3_job import pooled_results

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.run import markdown  # noqa: E402  (benchmarks/m3/run.py)
from results_file import RunLog, write_section  # noqa: E402  (benchmarks/results_file.py)

SUBSETS = ["yearly", "quarterly", "monthly", "other"]
SETS = list(FEATURE_SETS)


def scores(agent, cube, actual: np.ndarray) -> dict:
    """Test and validation scores of ``agent`` fitted on ``cube``'s backtest origins, its fit seconds and
    the spread of its largest weight at the final origin."""
    t0 = time.perf_counter()
    agent = agent.fit(cube)
    w = agent.weights(cube)[:, -1]
    fc = agent.combine(cube)[:, -1]
    secs = time.perf_counter() - t0
    split = validation_split(cube)
    val = {"val sMAPE": np.nan, "val MASE": np.nan}
    if split is not None:
        sub, act, mask = split
        vfc = agent.clone().fit(sub).combine(sub)[:, -1]
        v = score(vfc[mask], act[mask], known_scales(sub)[mask, -1])
        val = {"val sMAPE": v["sMAPE"], "val MASE": v["MASE"]}
    top = w.max(axis=1)
    return {**score(fc, actual, cube.scales), **val, "max w median": float(np.median(top)),
            "max w p90": float(np.quantile(top, 0.9)), "share max w > 0.9": float(np.mean(top > 0.9)), "fit s": secs}


def subset_table(subset: str, args, echo) -> tuple[pd.DataFrame, int, dict]:
    """Rows EqualWeights and FFORMA (one per feature set) for one subset; also the series count and the
    feature seconds per set."""
    train, test, m, h = load_m3(subset, args.max_series)
    rows, feature_secs = {}, {}
    for name in args.features:
        t0 = time.perf_counter()
        comp = Composer(agent="equal", horizon=h, season_length=m, n_jobs=args.n_jobs, cache_dir=args.cache,
                        pool_selection=False, features=name).fit(train)
        cube = comp.cube_
        feature_secs[name] = comp.report_.seconds.get(f"features:{name}", 0.0)
        echo(f"== M3 {subset} ({cube.shape[0]} series, h={h}, m={m}), features {name}: cube in "
             f"{time.perf_counter() - t0:.0f} s (feature compute {feature_secs[name]:.0f} s), "
             f"{comp.report_.cached_chunks} cached files")
        actual = test_matrix(test, comp.panel_.ids, h)
        if "EqualWeights" not in rows:
            rows["EqualWeights"] = scores(EqualWeights(), cube, actual)
        rows[f"FFORMA ({name})"] = scores(FFORMA(seed=args.seed), cube, actual)  # one LightGBM thread: see FFORMA
        echo(pd.DataFrame(rows).T.round(3).to_string())
    return pd.DataFrame(rows).T, cube.shape[0], feature_secs


def feature_cost(n_series: int, sets) -> pd.DataFrame:
    """Seconds per series (6 origins: the default 5 backtest origins and the final one) of each feature set
    on the first ``n_series`` M3 monthly series, one process."""
    train, _, m, h = load_m3("monthly", n_series)
    ys = [g["y"].to_numpy(float) for _, g in train.groupby("unique_id", sort=False)]
    step = max(1, h // 3)
    out = {}
    for name in sets:
        origin_features(ys[0], np.array([len(ys[0])]), m, name)  # imports the library outside the clock
        t0 = time.perf_counter()
        for y in ys:
            origin_features(y, np.array([len(y) - h - step * j for j in range(4, -1, -1)] + [len(y)]), m, name)
        secs = time.perf_counter() - t0
        out[name] = {"ms per series (6 origins)": 1000 * secs / len(ys),
                     "ms per series-origin": 1000 * secs / len(ys) / 6, "features": len(FEATURE_SETS[name].names)}
    return pd.DataFrame(out).T


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", choices=SUBSETS, action="append", help="subset (repeatable; default: all four)")
    ap.add_argument("--features", choices=SETS, action="append", help="feature set (repeatable; default: all)")
    ap.add_argument("--max-series", type=int, default=None, help="first N series per subset (default: all)")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cost-series", type=int, default=200, help="monthly series timed per feature set (0: none)")
    ap.add_argument("--cache", default=".metacompose-cache/m3", help="backtest cache folder (the main job's)")
    ap.add_argument("--results", default="benchmarks/m3/fforma_results.md")
    ap.add_argument("--section", default="fforma", help="section of the results file to write")
    ap.add_argument("--no-results", action="store_true", help="do not write the results file")
    args = ap.parse_args(argv)
    args.features = args.features or SETS
    subsets = args.subset or SUBSETS
    echo = RunLog()
    lines = echo.lines

    t0 = time.perf_counter()
    cost = feature_cost(args.cost_series, args.features) if args.cost_series else None
    if cost is not None:
        echo(f"feature cost, first {args.cost_series} M3 monthly series:\n{cost.round(2).to_string()}")
    tables, secs = {}, {}
    for subset in subsets:
        tables[subset], n, secs[subset] = subset_table(subset, args, echo)
        tables[subset]["n_series"] = n
    pooled = None
    if len(subsets) > 1:
        rows = pd.concat([t.assign(subset=s) for s, t in tables.items()]).rename_axis("method").reset_index()
        cols = ["sMAPE", "MASE", "val sMAPE", "val MASE"]
        pooled = pooled_results(rows, cols).set_index("method")[cols]
        echo(f"\n-- all run subsets, point-weighted:\n{pooled.round(3).to_string()}")
    if not args.no_results:
        write_results(args, argv, subsets, tables, pooled, cost, secs, lines, time.perf_counter() - t0)
    return tables


def write_results(args, argv, subsets, tables, pooled, cost, secs, lines, wall) -> None:
    """Write the section ``args.section`` of ``args.results``."""
    parts = [f"#### {s} ({int(t['n_series'].iloc[0])} series)\n\n{markdown(t.drop(columns='n_series').round(3))}"
             for s, t in tables.items()]
    if pooled is not None:
        parts.append(f"#### {' + '.join(subsets)}, point-weighted (series x horizon)\n\n{markdown(pooled.round(3))}")
    feat = "\n".join(f"- {s}: " + ", ".join(f"{k} {v:.0f} s" for k, v in d.items()) for s, d in secs.items())
    cmd = ("python benchmarks/m3/fforma.py " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    size = "" if args.max_series is None else f", first {args.max_series} series per subset"
    notes = "\n\n".join(n.strip().replace("``", "`") for n in __doc__.split("\n\n")[1:3])
    text = f"""## FFORMA (LightGBM, published M4 hyperparameters) with three feature sets on M3

Command: `{cmd}` ({args.n_jobs} jobs{size}; subsets {', '.join(subsets)}; features {', '.join(args.features)}).
Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared with other jobs),
Python {platform.python_version()}, no GPU.
Wall time: {wall:.0f} s.

{notes}

### Feature cost per series

{markdown(cost.round(2)) if cost is not None else "(not measured)"}

Seconds of feature compute per subset (all series, all origins, summed over workers; 0: read from the cache):

{feat}

### Accuracy

Columns: sMAPE (percent) and MASE of the final-origin forecast on the M3 test part; "val sMAPE" / "val MASE":
refitted one horizon earlier and scored at the last backtest origin (training data only); "max w": the
largest weight per series at the final origin; "fit s": seconds to fit and combine.

{(chr(10) * 2).join(parts)}

### Run log

```
""" + "\n".join(lines) + "\n```\n"
    write_section(args.results, args.section, text)
    print(f"wrote the {args.section} section of {args.results}")


if __name__ == "__main__":
    main()
