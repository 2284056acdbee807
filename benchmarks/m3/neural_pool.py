"""Which neural members join the default pool, with which short-series guard, judged on the M3 training parts only.

For every subset the backtest cube of the default pool as it was before this comparison
(:data:`BASE_POOL`) is built as the main job builds it (read from the cache folder ``--cache``
when it holds it). The task is replayed one horizon earlier, inside the training data: the
validation origin is the last backtest origin (:func:`metacompose.history.validation_split`),
whose horizon ends where the training part ends. Each candidate network is fitted on every
series cut at that origin and forecasts its horizon; the members in the cube are read at the
same origin. The M3 test part is not read.

Reported per subset and point-weighted over the subsets (series x horizon): validation sMAPE,
MASE, MAPE and the tail figures against Naive (:func:`metacompose.evaluate.tail_figures`), and
the CPU seconds of one fit (the backtest fits a member at six origins).

* ``--part pool``: the networks of :data:`CANDIDATES`, and the equal-weight mean of the pool
  before, of that pool plus each N-BEATS candidate, with it in place of LSTM, and in place of
  MLP and LSTM. Rule, fixed before the run: the lowest point-weighted validation MASE wins
  among set-ups whose six fits per subset cost no more CPU seconds than the members they
  replace plus the speed benchmark's headroom (``benchmarks/speed/RESULTS.md``: about 115 s
  over the four subsets); within 0.1 % the cheaper one wins.
* ``--part clip``: the networks of the chosen pool (:data:`NETWORKS`) with each guard of
  :data:`CLIPS` (``clip``: a forecast stays within that many input-window ranges of the last
  value). Rule, fixed before the run: among the guards whose yearly tail figures (p99 sMAPE and
  the share of series worse than twice Naive) are no worse than ARIMA's for every network, the
  lowest point-weighted validation MASE summed over the networks wins.
* ``--part revin``: the same networks with their fixed window scaling (mean absolute value of the
  input) alone and with reversible instance normalisation on top (``revin=True``, Kim et al.
  2022). Rule, fixed before the run: RevIN becomes a network's default only if it lowers that
  network's validation MASE on every subset.

    python benchmarks/m3/neural_pool.py [--part pool|clip|revin] [--subset monthly] [--cache .metacompose-cache/m3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from metacompose import Composer
from metacompose.data import load_m3
from metacompose.evaluate import score, tail_figures
from metacompose.m3_job import pooled_results
from metacompose.models import get_model
from metacompose.models.naive import Naive

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.run import markdown  # noqa: E402  (benchmarks/m3/run.py)
from results_file import RunLog, write_section  # noqa: E402  (benchmarks/results_file.py)

SUBSETS = ["yearly", "quarterly", "monthly", "other"]
BASE_POOL = {"ARIMA": {}, "ETS": {}, "Theta": {}, "MLP": {"clip": None}, "LSTM": {"clip": None},
             "SeasonalNaive": {}, "Drift": {}}
"""The default pool before this comparison (alias -> parameters that differ from today's defaults)."""
_NBEATS_BEFORE = {"ensemble_size": 3, "steps": 400, "batch_size": 1024, "clip": 2.0}
CANDIDATES = {
    "MLP": ("MLP", {"clip": None}),
    "LSTM": ("LSTM", {"clip": None}),
    "NBEATS": ("NBEATS", _NBEATS_BEFORE),
    "NBEATS batch 256 steps 1000": ("NBEATS", {**_NBEATS_BEFORE, "batch_size": 256, "steps": 1000}),
    "NBEATS 1 member steps 1000": ("NBEATS", {**_NBEATS_BEFORE, "ensemble_size": 1, "steps": 1000}),
}
"""Part ``pool``: label -> (alias, parameters) of each network fitted at the validation origin."""
CLIPS = (0.5, 1.0, 2.0, None)
"""Part ``clip``: the short-series guards compared (input-window ranges; None: unbounded)."""
NETWORKS = {"MLP": {}, "NBEATS": {"ensemble_size": 1, "steps": 1000}}
"""Parts ``clip`` and ``revin``: the networks of the chosen pool, each fitted with every guard in
:data:`CLIPS`, and with and without RevIN (the other parameters at their defaults)."""
POOL_VARIANTS = ((), ("LSTM",), ("MLP", "LSTM"))
"""Members of the default pool that each N-BEATS candidate replaces in a pool variant."""
SCORES = ("sMAPE", "MASE", "MAPE", "share >2x ref")


def validation_panel(subset: str, cache: str):
    """The cube's validation origin of ``subset``.

    Returns:
        ``(series, actual, scales, members, m, h, ok, naive)``: each series cut at the origin (a
        placeholder where the origin does not exist), actuals ``(S, H)``, MASE scales ``(S,)``,
        alias -> the cube's forecasts ``(S, H)`` there, ``m``, ``h``, the series scored (bool
        ``(S,)``) and Naive's forecasts ``(S, H)``.
    """
    train, _, m, h = load_m3(subset)
    pool = [get_model(a, m, **params) for a, params in BASE_POOL.items()]
    comp = Composer(models=pool, agent="equal", horizon=h, season_length=m, n_jobs=2, cache_dir=cache,
                    pool_selection=False, progress=False).fit(train)
    cube = comp.cube_
    k = cube.shape[1] - 2
    org = cube.origins[:, k]
    actual = cube.actuals[:, k].astype(np.float64)
    ok = (org > 0) & np.isfinite(actual).all(axis=1)
    # series without a validation origin get a placeholder: they are not scored
    cut = [np.asarray(y, dtype=float)[:o] if o > 0 else np.ones(4) for y, o in zip(comp.panel_.values, org)]
    naive = np.stack([Naive().fit(y).predict(h) for y in cut])
    members = {a: cube.forecasts[:, k, j].astype(np.float64) for j, a in enumerate(cube.models)}
    return cut, actual, cube.origin_scales[:, k].astype(np.float64), members, m, h, ok, naive


def row(fc, actual, scales, naive, ok) -> dict:
    """Validation scores of one forecast ``(S, H)`` on the series ``ok``."""
    return {**score(fc[ok], actual[ok], scales[ok]), **tail_figures(fc[ok], actual[ok], naive[ok])}


def subset_table(subset: str, cache: str, echo) -> pd.DataFrame:
    """One row per member and per candidate pool of ``subset`` (validation scores, CPU seconds)."""
    fit_ys, actual, scales, members, m, h, ok, naive = validation_panel(subset, cache)
    rows = {f"member {a}": {**row(f, actual, scales, naive, ok), "CPU s": np.nan} for a, f in members.items()}
    default = np.stack(list(members.values()), axis=1)
    rows["mean of the default pool"] = row(np.nanmean(default, axis=1), actual, scales, naive, ok)
    for label, (alias, params) in CANDIDATES.items():
        model = get_model(alias, m, horizon=h, **params)
        t0 = time.process_time()
        fc = model.fit_panel(fit_ys).predict_panel(h)
        rows[label] = {**row(fc, actual, scales, naive, ok), "CPU s": time.process_time() - t0}
        if alias == "NBEATS":
            for dropped in POOL_VARIANTS:
                kept = [f for a, f in members.items() if a not in dropped]
                name = "mean: default" + "".join(f" - {a}" for a in dropped) + f" + {label}"
                rows[name] = row(np.nanmean(np.stack(kept + [fc], axis=1), axis=1), actual, scales, naive, ok)
        echo(f"{subset}: {label} fitted in {rows[label]['CPU s']:.1f} CPU-s")
    table = pd.DataFrame(rows).T
    table["n_series"] = int(ok.sum())
    echo(f"\n-- M3 {subset}: {int(ok.sum())} series, h={h}, m={m}, validation origin (training part only):")
    echo(table.drop(columns="n_series").round(3).to_string())
    return table


def pooled(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Point-weighted (series x horizon) mean of each row over the subsets
    (:func:`metacompose.m3_job.pooled_results`); CPU seconds summed."""
    rows = pd.concat([t.assign(subset=s).rename_axis("method").reset_index() for s, t in tables.items()])
    out = pooled_results(rows, SCORES).set_index("method")[list(SCORES)]
    out["CPU s"] = sum(t["CPU s"] for t in tables.values())
    return out


def variant_table(subset: str, cache: str, echo, variants: dict) -> pd.DataFrame:
    """One row per network variant (label -> ``(alias, parameters)``) and ARIMA's, on ``subset``."""
    fit_ys, actual, scales, members, m, h, ok, naive = validation_panel(subset, cache)
    rows = {"member ARIMA": {**row(members["ARIMA"], actual, scales, naive, ok), "CPU s": np.nan}}
    for label, (alias, params) in variants.items():
        t0 = time.process_time()
        fc = get_model(alias, m, horizon=h, **params).fit_panel(fit_ys).predict_panel(h)
        rows[label] = {**row(fc, actual, scales, naive, ok), "CPU s": time.process_time() - t0}
    table = pd.DataFrame(rows).T
    table["n_series"] = int(ok.sum())
    echo(f"\n-- M3 {subset}: {int(ok.sum())} series, h={h}, m={m}, validation origin (training part only):")
    echo(table.drop(columns="n_series").round(3).to_string())
    return table


PARTS = {
    "clip": {f"{a} clip {c}": (a, {**p, "clip": c}) for a, p in NETWORKS.items() for c in CLIPS},
    "revin": {f"{a} revin {r}": (a, {**p, "revin": r}) for a, p in NETWORKS.items() for r in (False, True)},
}
"""The variants of the parts ``clip`` and ``revin``."""


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=["pool", *PARTS], default="pool")
    ap.add_argument("--subset", choices=SUBSETS, action="append", help="subset (repeatable; default: all four)")
    ap.add_argument("--cache", default=".metacompose-cache/m3", help="backtest cache folder (the main job's)")
    ap.add_argument("--results", default="benchmarks/m3/neural_pool_results.md")
    args = ap.parse_args(argv)
    echo = RunLog()
    tables = {s: subset_table(s, args.cache, echo) if args.part == "pool" else
              variant_table(s, args.cache, echo, PARTS[args.part]) for s in (args.subset or SUBSETS)}
    if len(tables) > 1:
        echo("\n-- point-weighted over " + ", ".join(tables) + " (CPU s summed):")
        echo(pooled(tables).round(3).to_string())
    setup = CANDIDATES if args.part == "pool" else PARTS[args.part]
    write_section(args.results, args.part, f"## Part {args.part}\n\n"
                  f"Command: `python benchmarks/m3/neural_pool.py {' '.join(argv or sys.argv[1:])}`; set-up: "
                  f"`{json.dumps(setup)}`.\n\n"
                  + "\n\n".join(f"### {s}\n\n{markdown(t.round(3))}" for s, t in tables.items())
                  + "\n\n### Run log\n\n```\n" + "\n".join(echo.lines) + "\n```\n")
    return tables


if __name__ == "__main__":
    main()
