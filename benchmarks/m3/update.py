"""Update against refit on M3 monthly: ``Composer.update`` with 18 new observations vs a fresh fit.

On M3 monthly (1428 series, h = 18, m = 12) -- the training parts ``x`` for fitting, the test
parts ``xx`` only to score -- three steps run in one process, one after the other, so that a
shared machine slows them alike:

1. ``early``: fit a composer on ``x`` minus its last 18 observations per series;
2. ``update``: ``early.update(last 18 observations)``: base models refitted at the new end only,
   the agent (trained in step 1 on the shorter data) untrained;
3. ``fresh``: fit a composer with the same constructor arguments on all of ``x``.

Reported: the wall time of each step, the test-part sMAPE (percent, M3/M4 definition) and MASE
(scale: each series' whole ``x``) of the updated and the fresh composer, of the equal-weight
mean of each one's pool, and how many of the base models' forecasts at the new final origin equal
the fresh fit's final-origin forecasts (same data, same models: they should all be equal). Writes
the ``update`` section of ``benchmarks/RESULTS.md``, except with ``--max-series`` (a quick check).

    python benchmarks/m3/update.py [--max-series N] [--models ...] [--agent ppo] [--n-jobs 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from metacompose import Composer
from metacompose.agents import get_agent
from metacompose.data import load_m3
from metacompose.evaluate import score, test_matrix
from metacompose.metrics import mase_scale

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_file import write_section  # noqa: E402  (benchmarks/results_file.py)

NEW = 18  # observations held back from the first fit and given to update (one M3 monthly horizon)


def held_back(train: pd.DataFrame, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``train`` without the last ``n`` observations of each series, and those observations."""
    pos_from_end = train.sort_values(["unique_id", "ds"]).groupby("unique_id").cumcount(ascending=False)
    late = pos_from_end.reindex(train.index) < n
    return train[~late], train[late]


def timed(label: str, fn, times: dict, echo):
    t0 = time.perf_counter()
    out = fn()
    times[label] = time.perf_counter() - t0
    echo(f"{label}: {times[label]:.1f} s")
    return out


def scores(comp: Composer, actual: np.ndarray, scales: np.ndarray) -> dict:
    """Test-part sMAPE and MASE of the composer's forecast and of its pool's equal-weight mean."""
    equal = get_agent("equal").fit(comp.cube_).combine(comp.cube_)[:, -1]
    return {"composed": score(comp.forecast_, actual, scales), "equal weights": score(equal, actual, scales)}


def same_final_forecasts(updated: Composer, fresh: Composer) -> str:
    """Per model of both pools: how many series' final-origin forecasts agree (to float32 precision)."""
    parts = []
    for a in updated.cube_.models:
        if a in fresh.cube_.models:
            f1 = updated.cube_.forecasts[:, -1, updated.cube_.models.index(a)]
            f2 = fresh.cube_.forecasts[:, -1, fresh.cube_.models.index(a)]
            same = np.all(np.isclose(f1, f2, rtol=1e-5, atol=0.0), axis=1)
            parts.append(f"{a} {int(same.sum())}/{same.shape[0]}")
    return ", ".join(parts)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-series", type=int, default=None,
                    help="N series evenly spaced over the subset (a quick check; RESULTS.md is not written)")
    ap.add_argument("--models", nargs="+", default=None, help="pool (default: the built-in pool, pruned)")
    ap.add_argument("--agent", default="ppo")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results", default="benchmarks/RESULTS.md")
    args = ap.parse_args(argv)

    def echo(s=""):
        print(s, flush=True)

    train, test, m, h = load_m3("monthly")
    if args.max_series is not None:  # evenly spaced series: the first ones are all among the shortest
        ids = train["unique_id"].unique()
        keep = set(ids[np.linspace(0, len(ids) - 1, min(args.max_series, len(ids))).astype(int)])
        train, test = train[train.unique_id.isin(keep)], test[test.unique_id.isin(keep)]
    early_df, new_df = held_back(train, NEW)
    params = dict(models=args.models, agent=args.agent, horizon=h, season_length=m, n_jobs=args.n_jobs,
                  random_state=args.seed)
    echo(f"M3 monthly: {train.unique_id.nunique()} series; fit on x minus its last {NEW} points, update with "
         f"them, and a fresh fit on x; agent {args.agent}, pool {args.models or 'DEFAULT_POOL, pruned'}, "
         f"n_jobs {args.n_jobs}, seed {args.seed}")
    times: dict[str, float] = {}
    comp = timed("fit on x minus its last 18 points", lambda: Composer(**params).fit(early_df), times, echo)
    pool_early = list(comp.cube_.models)
    timed(f"update with the last {NEW} points", lambda: comp.update(new_df), times, echo)
    fresh = timed("fresh fit on x", lambda: Composer(**params).fit(train), times, echo)

    actual = test_matrix(test, fresh.panel_.ids, h)
    scales = np.array([mase_scale(y, m) for y in fresh.panel_.values])
    assert list(map(str, comp.panel_.ids)) == list(map(str, fresh.panel_.ids))
    res = {"updated": scores(comp, actual, scales), "fresh": scores(fresh, actual, scales)}
    rows = []
    for who, label in (("updated", "updated composer"), ("fresh", "fresh fit")):
        for what, sc in res[who].items():
            rows.append({"composer": label, "forecast": what, "sMAPE": round(sc["sMAPE"], 3), "MASE": round(sc["MASE"], 4)})
    table = pd.DataFrame(rows)
    echo(table.to_string(index=False))
    agree = same_final_forecasts(comp, fresh)
    ratio = times[f"update with the last {NEW} points"] / times["fresh fit on x"]
    echo(f"update / fresh fit wall time: {ratio:.3f}; final-origin forecasts equal to the fresh fit's: {agree}")
    echo(f"pools: updated {pool_early} (chosen on x minus 18), fresh {list(fresh.cube_.models)}")
    if args.max_series is None:
        body = _section(args, times, table, ratio, agree, pool_early, list(fresh.cube_.models),
                        len(comp.panel_.ids))
        write_section(args.results, "update", body)
        echo(f"wrote the 'update' section of {args.results}")
    return {"times": times, "scores": res, "ratio": ratio}


def _section(args, times, table, ratio, agree, pool_early, pool_fresh, n_series) -> str:
    """The markdown of the ``update`` section."""
    lines = [
        "## Update against refit (M3 monthly)",
        "",
        f"Command: `python benchmarks/m3/update.py --agent {args.agent} --n-jobs {args.n_jobs} --seed {args.seed}` "
        f"({datetime.date.today().isoformat()}). Machine: {platform.platform()}, {os.cpu_count()} cores "
        "(shared with other work: the wall times are rough, the three steps ran side by side in one process). "
        f"{n_series} series; fitting on the training parts `x` only, the test parts `xx` only to score.",
        "",
        "| step | wall time (s) |",
        "|---|---:|",
        *[f"| {k} | {v:.1f} |" for k, v in times.items()],
        "",
        f"Update / fresh fit: **{ratio:.3f}** of the time.",
        "",
        "| composer | forecast | sMAPE | MASE |",
        "|---|---|---:|---:|",
        *[f"| {r.composer} | {r.forecast} | {r.sMAPE} | {r.MASE} |" for r in table.itertuples()],
        "",
        f"Pools: updated {', '.join(pool_early)} (chosen on `x` minus 18 points); fresh {', '.join(pool_fresh)}. "
        f"Base forecasts at the new final origin equal to the fresh fit's final-origin forecasts (series): {agree}.",
        "The updated composer's agent was trained on the data 18 months shorter and is not trained again; its "
        "pool was chosen there too.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
