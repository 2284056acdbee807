"""Tables of ``benchmarks/metaopt/run.py`` (``--part report``): what RESULTS.md quotes, from the files the parts wrote.

* **Steps to reach**: in the learned optimizer's run of ``k`` meta-training horizons, the first recorded step at
  which its validation loss is at most tuned Adam's final one, divided by Adam's step budget (``inf``: never).
  At 1x the run is half of Adam's budget, so a value <= 0.5 means it got there in at most half of Adam's steps.
  ``adam_reach`` is the same measure for Adam's own run: where validation losses rise again (overfitting), Adam
  itself gets to its final loss before its last step, and a small steps-to-reach says little.
* **Final ratio**: the learned optimizer's final validation loss over Adam's final one (< 1: better).
* **Diverged**: a final validation loss that is not finite or above the loss before training.
* **ms/step**: wall milliseconds per training step (validation recording excluded), one core.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.run import markdown  # noqa: E402  (benchmarks/m3/run.py)


def task_rows(tasks: list[dict]) -> pd.DataFrame:
    """One row per (held-out task, learned optimizer, run length) with the measures of the module docstring."""
    rows = []
    for i, t in enumerate(tasks):
        adam_final, budget = t["adam"]["val"][-1], t["budget"]
        adam_ms = 1000 * t["adam"]["wall_s"] / budget
        adam_val, adam_steps = np.asarray(t["adam"]["val"]), np.asarray(t["adam"]["steps"])
        adam_reach = adam_steps[np.flatnonzero(adam_val <= adam_final)[0]] / budget
        for name, r in t["learned"].items():
            seed, mult = name.split("@")
            val, steps = np.asarray(r["val"]), np.asarray(r["steps"])
            hit = np.flatnonzero(val <= adam_final)
            final = val[-1]
            rows.append({"task": i, "member": t["kind"], "series": t["config"]["series"], "seed": seed,
                         "multiple": mult, "budget": budget, "T": r["T"],
                         "reach": steps[hit[0]] / budget if hit.size else np.inf, "adam_reach": adam_reach,
                         "final_ratio": final / adam_final,
                         "diverged": bool(not np.isfinite(final) or final > t["val0"]),
                         "ms_step": 1000 * r["wall_s"] / r["T"], "adam_ms_step": adam_ms})
    return pd.DataFrame(rows)


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per seed, member and run length: median steps-to-reach, share of tasks reached within half of Adam's
    steps, Adam's own median steps-to-reach, median and worst final ratio, diverged tasks, and the cost per step against Adam's."""
    g = rows.groupby(["seed", "member", "multiple"], sort=True)
    out = g.agg(tasks=("task", "size"), reach_median=("reach", "median"),
                reach_le_half=("reach", lambda r: float(np.mean(r <= 0.5))),
                adam_reach_median=("adam_reach", "median"),
                final_ratio_median=("final_ratio", "median"), final_ratio_max=("final_ratio", "max"),
                diverged=("diverged", "sum"), ms_step=("ms_step", "median"), adam_ms_step=("adam_ms_step", "median"))
    return out.round(3)


def report(work: Path) -> None:
    """Print the tables RESULTS.md quotes (markdown) from the files in ``work``; its prose is written by hand."""
    for path in sorted(work.glob("evaluate*.json")):
        data = json.loads(path.read_text())
        print(f"## {path.name}: Adam tuned per member (lr factor, schedule): {data['adam']}\n")
        print(markdown(summary(task_rows(data["tasks"])).reset_index().set_index("seed")))
        print()
    half = work / "half_adam.json"
    if half.exists():
        h = pd.DataFrame(json.loads(half.read_text()))
        print("Tuned Adam at half its budget, final validation loss over its own at the full budget:\n")
        print(markdown(h.groupby("kind")["ratio"].agg(["size", "median", "min", "max"]).round(4)))
        print()
    comps = sorted(work.glob("composer_[al]*.csv"))
    if comps:
        from metacompose.m3_job import POOLED_COLUMNS, pooled_results
        res = pd.concat([pd.read_csv(c) for c in comps], ignore_index=True)
        keep = res[res["method"].str.contains("composer") | res["method"].isin(["MLP", "NBEATS"])].copy()
        keep["method"] = keep["arm"] + ": " + keep["method"]
        both = pd.concat([keep, pooled_results(keep, POOLED_COLUMNS)], ignore_index=True)
        print(markdown(both.pivot(index="method", columns="subset", values="sMAPE").round(3)))
        print()
        secs = pd.concat([pd.read_csv(c) for c in sorted(work.glob("composer_seconds_*.csv"))], ignore_index=True)
        print(markdown(secs.round(1).set_index("arm")))
        print()
    timing = work / "timing.csv"
    if timing.exists():
        t = pd.read_csv(timing).groupby(["subset", "member", "arm"])["cpu_s"].median().unstack("arm")
        t["learned / adam"] = t["learned"] / t["adam"]
        print(markdown(t.round(2).reset_index().set_index("subset")))
