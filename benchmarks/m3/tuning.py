"""Meta-learned hyperparameters on M3: warm-started optuna against cold optuna, leave one subset out.

The member tuned is the MLP (the pool's cheaper neural member), over :data:`SPACE`. Everything is
scored inside the M3 training parts (:func:`metacompose.tuning.backtest_error`: the last horizon of
each training series held back, one more backtest origin before it); the test part is read only
by ``--part composer``, to score.

``--part search``: every subset gives ``--panels`` disjoint random panels of ``--panel-size``
training series (seed 0). On every panel: the MLP's default configuration, and optuna from cold
(TPE, seed 0) for ``4N`` trials. Then, leaving one subset out, a :class:`~metacompose.tuning.TuningStore`
holds the cold runs of the other three subsets' panels, and every panel of the held-out subset is
tuned for ``N`` trials with each warm start (the first 3 trials from the store -- ``metric``: the best
configurations of the 3 nearest stored panels; ``model``: LightGBM ranks configurations for the panel's
features -- then TPE, modelling from the 4th trial). Reported per
subset (mean over its panels): the default's error, cold optuna's best after ``N`` and ``4N``
trials, each warm start's best after ``N``. The acceptance bar: warm@N <= cold@4N, median over the
four held-out subsets.

``--part composer``: on each subset, the MLP is tuned once more on the union of its panels with the
model-based warm start (store: the other three subsets), ``N`` trials; the composer (default pool,
pruned on the backtest as by default, PPO, seed 0) is then fitted on the whole training part with the default MLP and with the tuned one,
and scored on the test part.

Runs are saved under ``--work`` (one JSON per tuning run), so an interrupted run resumes.

    python benchmarks/m3/tuning.py --part search|composer [--n 5] [--panels 4] [--panel-size 50]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from optuna.distributions import IntDistribution

from metacompose.data import load_m3, validate_frame
from metacompose.m3_job import POOLED_COLUMNS, pooled_results, run_m3
from metacompose.models import DEFAULT_POOL, MLP
from metacompose.tuning import DEFAULT_SPACES, TuningStore, backtest_error, tune

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.run import markdown  # noqa: E402  (benchmarks/m3/run.py)
from results_file import RunLog, write_section  # noqa: E402  (benchmarks/results_file.py)

SUBSETS = ["yearly", "quarterly", "monthly", "other"]
SPACE = {**DEFAULT_SPACES["MLP"], "width": IntDistribution(32, 256, log=True), "steps": IntDistribution(100, 800, log=True)}
"""The MLP's search space here: the built-in one (lookback 1-5, depth 1-3, lr 1e-4-1e-2, revin), narrowed in width
and steps to fit the CPU budget."""
MODES = ("metric", "model")


def panels(subset: str, count: int, size: int) -> tuple[list[list[np.ndarray]], int, int]:
    """``count`` disjoint random panels of ``size`` training series of ``subset`` (seed 0), ``m``, ``h``."""
    train, _, m, h = load_m3(subset)
    ys = validate_frame(train).values
    order = np.random.default_rng(0).permutation(len(ys))
    return [[ys[i] for i in order[p * size:(p + 1) * size]] for p in range(count)], m, h


def cached(path: Path, run):
    """The JSON at ``path``, or ``run()``'s dict written there."""
    if path.exists():
        return json.loads(path.read_text())
    t0 = time.process_time()
    out = {**run(), "cpu_s": time.process_time() - t0}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=float))
    return out


def tuned(panel, m, h, n_trials, mode=None, store=None, label=""):
    """One tuning run as a dict: its trials (params, value), running best and the panel's features."""
    res = tune("MLP", panel, h, m, space=SPACE, n_trials=n_trials, warm_start=mode, store=store, seed=0,
               n_origins=1, label=label)
    done = res.trials[res.trials["state"] == "COMPLETE"]
    return {"trials": [{"params": {k: r[k] for k in SPACE}, "value": r["value"]} for _, r in done.iterrows()],
            "best_so_far": res.trials["best_so_far"].tolist(), "features": res.features.tolist(),
            "best_values": res.best_values, "best_params": res.best_params}


def store_without(runs: dict, held_out: str) -> TuningStore:
    """A store of the cold runs of every panel outside ``held_out``."""
    store = TuningStore()
    for (subset, p), (run, m, h, size) in runs.items():
        if subset != held_out:
            store.add("MLP", "mase", np.array(run["features"]), run["trials"], h, m, size, f"{subset}-{p}")
    return store


def cold_runs(args, data: dict) -> dict:
    """``(subset, panel) -> (cold run, m, h, series)``: optuna from cold, 4N trials, on every panel (read back
    from ``--work`` when there)."""
    work, n, cold = Path(args.work), args.n, {}
    for subset, (pans, m, h) in data.items():
        for p, panel in enumerate(pans):
            run = cached(work / f"cold-{subset}-{p}.json", lambda: tuned(panel, m, h, 4 * n, label=f"{subset}-{p}"))
            cold[(subset, p)] = (run, m, h, len(panel))
    return cold


def search(args, echo, data: dict) -> pd.DataFrame:
    work, n = Path(args.work), args.n
    cold, rows = cold_runs(args, data), []
    for (subset, p), (run, m, h, _) in cold.items():
        panel = data[subset][0][p]
        default = cached(work / f"default-{subset}-{p}.json", lambda: {"value": backtest_error(
            MLP(season_length=m), panel, h, m, n_origins=1)[0]})
        rows.append({"subset": subset, "panel": p, "default": default["value"],
                     **{f"cold@{j * n}": run["best_so_far"][j * n - 1] for j in (1, 2, 3, 4)},
                     "cold CPU s": run["cpu_s"]})
        echo(f"{subset} panel {p}: default {default['value']:.4f}, cold@{n} {rows[-1][f'cold@{n}']:.4f}, "
             f"cold@{4 * n} {rows[-1][f'cold@{4 * n}']:.4f} ({run['cpu_s']:.0f} CPU-s)")
    for subset, (pans, m, h) in data.items():
        store = store_without(cold, subset)
        for p, panel in enumerate(pans):
            row = next(r for r in rows if r["subset"] == subset and r["panel"] == p)
            for mode in MODES:
                run = cached(work / f"{mode}-{subset}-{p}.json",
                             lambda: tuned(panel, m, h, n, mode, copy.deepcopy(store), f"{subset}-{p}"))
                row[f"{mode}@{n}"] = run["best_so_far"][n - 1]
                echo(f"{subset} panel {p}: {mode} warm start @{n} {row[f'{mode}@{n}']:.4f}; "
                     f"first trial {run['best_so_far'][0]:.4f}")
    return pd.DataFrame(rows)


def search_tables(table: pd.DataFrame, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per subset (mean over panels) backtest MASE (cold optuna after N, 2N, 3N and 4N trials), and each warm
    start's verdict against cold@4N."""
    cols = ["default", *(f"cold@{j * n}" for j in (1, 2, 3, 4)), f"metric@{n}", f"model@{n}"]
    per = table.groupby("subset", sort=False)[cols].mean()
    verdict = pd.DataFrame({f"{mode}@{n} - cold@{4 * n}": per[f"{mode}@{n}"] - per[f"cold@{4 * n}"] for mode in MODES})
    verdict.loc["median over subsets"] = verdict.median()
    return per, verdict


def composer(args, echo, data: dict) -> pd.DataFrame:
    work, n, tables = Path(args.work), args.n, []
    cold = cold_runs(args, data)
    for subset, (pans, m, h) in data.items():
        union = [y for panel in pans for y in panel]
        run = cached(work / f"composer-tune-{subset}.json",
                     lambda: tuned(union, m, h, n, "model", store_without(cold, subset), f"{subset}-union"))
        echo(f"{subset}: tuned MLP {run['best_values']} (backtest MASE {min(t['value'] for t in run['trials']):.4f})")
        for name, mlp in (("default MLP", MLP(season_length=m)), ("tuned MLP", MLP(season_length=m, **run["best_params"]))):
            pool = [mlp if a == "MLP" else a for a in DEFAULT_POOL]
            res = run_m3([subset], models=pool, n_jobs=args.n_jobs, seed=0, out_dir=Path(args.work) / "m3" / name,
                         cache_dir=args.cache, progress=False, echo=lambda line: None, pool_selection=True)
            tables.append(res.assign(pool=name))
            comp = res[res["method"].str.contains("composer")].iloc[0]
            echo(f"{subset}, {name}: composer test sMAPE {comp['sMAPE']:.3f}, MASE {comp['MASE']:.3f}")
    return pd.concat(tables, ignore_index=True)


def composer_table(res: pd.DataFrame) -> pd.DataFrame:
    """Test sMAPE/MASE of the composer and of the MLP member, per subset and pooled, default vs tuned."""
    keep = res[res["method"].str.contains("composer") | (res["method"] == "MLP")].copy()
    keep["method"] = keep["pool"] + ": " + keep["method"]
    pooled = pooled_results(keep, POOLED_COLUMNS)
    both = pd.concat([keep, pooled], ignore_index=True)
    return both.pivot(index="method", columns="subset", values=["sMAPE", "MASE"]).round(3)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=["search", "composer"], default="search")
    ap.add_argument("--n", type=int, default=5, help="N: warm-start trials (cold optuna gets 4N)")
    ap.add_argument("--panels", type=int, default=4)
    ap.add_argument("--panel-size", type=int, default=50)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--work", default=".metacompose-cache/tuning")
    ap.add_argument("--cache", default=".metacompose-cache/m3")
    ap.add_argument("--results", default="benchmarks/m3/tuning_results.md")
    args = ap.parse_args(argv)
    echo = RunLog()
    command = f"`python benchmarks/m3/tuning.py {' '.join(argv or sys.argv[1:])}`"
    data = {s: panels(s, args.panels, args.panel_size) for s in SUBSETS}
    if args.part == "search":
        per, verdict = search_tables(search(args, echo, data), args.n)
        echo("\n-- backtest MASE inside the training parts, mean over each subset's panels:\n" + per.round(4).to_string())
        echo("\n-- warm start after N trials minus cold optuna after 4N (<= 0 meets the bar):\n"
             + verdict.round(4).to_string())
        body = (f"N = {args.n}; {args.panels} panels of {args.panel_size} series per subset; space `{SPACE}`.\n\n"
                f"### Backtest MASE (mean over panels)\n\n{markdown(per.round(4))}\n\n"
                f"### Warm start @N minus cold @4N\n\n{markdown(verdict.round(4))}")
    else:
        table = composer_table(composer(args, echo, data))
        echo("\n-- M3 test part, default vs tuned MLP:\n" + table.to_string())
        body = f"### M3 test part\n\n{markdown(table)}"
    write_section(args.results, args.part, f"## Part {args.part}\n\nCommand: {command}.\n\n{body}\n\n"
                  "### Run log\n\n```\n" + "\n".join(echo.lines) + "\n```\n")


if __name__ == "__main__":
    main()
