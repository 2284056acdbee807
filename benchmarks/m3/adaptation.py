"""Meta-learned per-series adaptation of the global MLP (``adapt_steps``, Meta-SGD), on M3.

Issue 14, item 3. MLP with its defaults, without adaptation and with it
(:mod:`metacompose.models.adaptation`: after the global training each series takes ``adapt_steps`` SGD
steps from the global weights with per-parameter step sizes meta-learned on the panel at fit time). Three
stages per M3 subset:

1. **Design** (training part only): every series cut at ``n - 2h`` (``n`` the length of its training part;
   a cut needs ``min_train`` points, the base pool's rule, as ``benchmarks/m3/transforms.py``), fitted on the
   cuts and scored on the next ``h`` points. Candidates ``adapt_steps`` in :data:`DESIGN_STEPS`, and plain
   SGD fine-tuning at the fixed initial rate (``adapt_meta_steps=0``) for the middle value, an ablation of
   the meta-learning. The value with the lowest point-weighted design MASE is the one validated.
2. **Validation** ("backtest"; training part only): the same at the validation origin ``n - h`` (the last
   backtest origin), MLP without and with the chosen ``adapt_steps``.
3. **Test**: both fitted on the whole training part and scored on the M3 test part (used only to score;
   MASE scale from the training part).

Reported per subset and point-weighted over the subsets (series x horizon): sMAPE (M3 definition,
percent) and MASE (Hyndman & Koehler 2006, lag ``m``) from :func:`metacompose.evaluate.score`, and the CPU
seconds of each fit (summed over subsets in the pooled table). A non-finite forecast would get
SeasonalNaive's (counted as fallbacks).

Rule, fixed before the run: adaptation joins the default (``adapt_steps > 0`` by default in MLP) only if it
lowers the validation MASE on every subset; otherwise the default stays ``adapt_steps=0``.

    python benchmarks/m3/adaptation.py [--subset monthly] [--results PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from metacompose.data import load_m3, validate_frame
from metacompose.evaluate import score, test_matrix
from metacompose.metrics import mase_scale

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.neural_pool import SUBSETS  # noqa: E402  (benchmarks/m3/neural_pool.py)
from m3.run import markdown  # noqa: E402  (benchmarks/m3/run.py)
from m3 import transforms  # noqa: E402  (benchmarks/m3/transforms.py)
from m3.transforms import cut_at, pooled, series_panel  # noqa: E402
from results_file import RunLog, write_section  # noqa: E402  (benchmarks/results_file.py)

DESIGN_STEPS = (1, 3, 5, 10)
"""``adapt_steps`` compared at the design cut ``n - 2h``."""
OFF = "MLP"


def label(steps: int, meta: bool = True) -> str:
    """Row name of MLP with ``adapt_steps=steps`` (``meta=False``: the step sizes are not meta-learned)."""
    if steps == 0:
        return OFF
    return f"MLP adapt_steps={steps}" + ("" if meta else " (fixed rate, no meta-learning)")


def fit_mlp(ys, m: int, h: int, steps: int, meta: bool = True) -> tuple[np.ndarray, float, int]:
    """MLP (defaults, ``adapt_steps=steps``; ``meta=False``: ``adapt_meta_steps=0``) on the panel ``ys``:
    ``(forecasts (S, h), CPU s, fallbacks)`` (:func:`transforms.fit_mlp`: a non-finite forecast gets SeasonalNaive's)."""
    kw = {} if steps == 0 else {"adapt_steps": steps, **({} if meta else {"adapt_meta_steps": 0})}
    return transforms.fit_mlp(ys, m, h, **kw)


def evaluate(ys, actual, scales, m: int, h: int, variants) -> pd.DataFrame:
    """One row per ``(steps, meta)`` of ``variants``: sMAPE, MASE, MAPE, CPU s, fallbacks, n_series."""
    rows = {}
    for steps, meta in variants:
        fc, cpu, fell = fit_mlp(ys, m, h, steps, meta)
        rows[label(steps, meta)] = {**score(fc, actual, scales), "CPU s": cpu, "fallbacks": fell,
                                    "n_series": len(ys)}
    return pd.DataFrame(rows).T


def cut_panel(subset: str, back: int):
    """``(cuts, actual (S, h), scales (S,), m, h)`` of the series with an origin ``back`` horizons before the end."""
    ys, m, h, min_train = series_panel(subset)
    cuts, actual, scales, ok = cut_at(ys, h, m, back, min_train)
    return [c for c, k in zip(cuts, ok) if k], actual[ok], scales[ok], m, h


def test_panel(subset: str):
    """``(train series, test actuals (S, h), MASE scales of the training parts (S,), m, h)``."""
    train, test, m, h = load_m3(subset)
    panel = validate_frame(train)
    ys = panel.values
    return ys, test_matrix(test, panel.ids, h), np.array([mase_scale(y, m) for y in ys]), m, h


def verdict(tables: dict[str, pd.DataFrame], on: str) -> str:
    """The rule of the module docstring, applied to the validation tables."""
    wins = [s for s, t in tables.items() if float(t.loc[on, "MASE"]) < float(t.loc[OFF, "MASE"])]
    if len(wins) == len(tables) == len(SUBSETS):
        return f"{on} lowers the validation MASE on every subset: adaptation joins the default."
    return (f"{on} lowers the validation MASE on {len(wins)} of {len(tables)} subsets ({', '.join(wins) or 'none'}): "
            "the default stays adapt_steps=0 (off).")


def stage(name: str, panels: dict, variants, echo) -> dict[str, pd.DataFrame]:
    """Evaluate ``variants`` on each subset's panel; print and return the tables (and the pooled one)."""
    tables = {}
    for subset, (ys, actual, scales, m, h) in panels.items():
        tables[subset] = evaluate(ys, actual, scales, m, h, variants)
        echo(f"\n-- {name}, M3 {subset}: {len(ys)} series, h={h}, m={m}")
        echo(tables[subset].drop(columns="n_series").round(3).to_string())
    if len(tables) > 1:
        echo(f"\n-- {name}, point-weighted over " + ", ".join(tables) + " (CPU s summed):")
        echo(pooled(tables).round(3).to_string())
    return tables


def section(title: str, tables: dict[str, pd.DataFrame]) -> str:
    """Markdown of one stage's tables."""
    body = "\n\n".join(f"#### {s}\n\n{markdown(t.round(3))}" for s, t in tables.items())
    if len(tables) > 1:
        body += f"\n\n#### Point-weighted over the subsets\n\n{markdown(pooled(tables).round(3))}"
    return f"### {title}\n\n{body}"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", choices=SUBSETS, action="append", help="subset (repeatable; default: all four)")
    ap.add_argument("--results", default="benchmarks/m3/adaptation_results.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    echo, start = RunLog(), time.process_time()
    subsets = args.subset or SUBSETS
    mid = DESIGN_STEPS[len(DESIGN_STEPS) // 2]
    design = stage("design cut n - 2h", {s: cut_panel(s, 2) for s in subsets},
                   [(0, True), *[(k, True) for k in DESIGN_STEPS], (mid, False)], echo)
    mase = {k: (pooled(design) if len(design) > 1 else next(iter(design.values())))
            .loc[label(k), "MASE"] for k in DESIGN_STEPS}
    best = min(DESIGN_STEPS, key=lambda k: mase[k])
    echo(f"\nchosen on the design cut: adapt_steps={best} (lowest point-weighted design MASE)")
    valid = stage("validation cut n - h", {s: cut_panel(s, 1) for s in subsets}, [(0, True), (best, True)], echo)
    test = stage("test (fitted on the whole training part)", {s: test_panel(s) for s in subsets},
                 [(0, True), (best, True)], echo)
    rule = verdict(valid, label(best))
    echo("\nRule: " + rule)
    echo(f"total CPU time: {time.process_time() - start:.0f} s")
    write_section(args.results, "adaptation", "## Meta-learned per-series adaptation of MLP (Meta-SGD)\n\n"
                  f"Command: `python benchmarks/m3/adaptation.py {' '.join(argv or sys.argv[1:])}`. "
                  "sMAPE: M3 definition, percent; MASE: lag m, scale of the fitted part. Rule, fixed before "
                  "the run: adaptation joins the default only if it lowers the validation MASE on every subset.\n\n"
                  + section(f"Design cut n - 2h (adapt_steps chosen: {best})", design) + "\n\n"
                  + section("Validation cut n - h (backtest, training part only)", valid) + "\n\n"
                  + section("Test part (fitted on the whole training part)", test)
                  + f"\n\n**Rule:** {rule}\n\n### Run log\n\n```\n" + "\n".join(echo.lines) + "\n```\n")
    return {"design": design, "validation": valid, "test": test}


if __name__ == "__main__":
    main()
