"""The learned optimizer against tuned Adam, in the regime the neural members are trained in (issue 14).

Parts (``--part``):

* ``train``: meta-train a ``"bounded"`` learned optimizer (:func:`metacompose.metaopt.meta_train_panels`) on
  panel tasks drawn from the **M3 yearly and monthly training parts** (MLP, LSTM and NBEATS members, varied
  width, lookback, batch size and panel size), one run per ``--seeds``; resumable (``--resume``), weights
  to ``weights/panel_<granularity>[_late]_seed<S>`` (``_late``: ``--weighting late``).
* ``evaluate``: on **held-out panels** of the M3 quarterly and other training parts (frequencies never seen
  in meta-training), each member at its default settings: Adam with the learning rate and schedule tuned on
  yearly/monthly panels, at the member's step budget; the learned optimizer of each seed at 1x, 3x and 10x
  its meta-training horizon (half the member's budget). Writes ``out/evaluate[_late][_<kinds>].json``.
* ``half-adam``: tuned Adam at half its budget on the same held-out tasks (what halving the steps alone costs).
* ``select``: the seed to ship, chosen on the yearly/monthly (training-part) panels only;
  ``out/select[_late].json``.
* ``composer``: the composer on all of M3 (``metacompose.m3_job.run_m3``, test part for scoring only) with
  its neural members trained by Adam at their full step budget and by the learned optimizer (the package's
  weights) at half of it. Writes ``out/composer_<arms>.csv`` and the members' training seconds
  (``out/composer_seconds_<arms>.csv``).
* ``timing``: CPU seconds to train each neural member on each whole M3 subset, Adam at full steps and the
  learned optimizer at half, side by side in one process (the composer runs' seconds are wall time under
  whatever else ran). Writes ``out/timing.csv``.
* ``report``: the tables of ``RESULTS.md`` from the files above.

Usage: see ``benchmarks/metaopt/RESULTS.md`` (the commands that produced it, in order).
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np
import torch

from metacompose import load_m3
from metacompose.metaopt import load_weights, meta_train_panels, save_weights
from metacompose.metaopt.panel_tasks import KINDS, make_task, sample_task
from metacompose.metaopt.panel_train import run_task

HERE = Path(__file__).resolve().parent
TRAIN_SUBSETS = ("yearly", "monthly")
HELD_OUT = ("quarterly", "other")
LR_FACTORS = (0.5, 1.0, 2.0, 4.0)
SCHEDULES = ("constant", "linear")
MULTIPLES = {"mlp": (1, 3, 10), "nbeats": (1, 3, 10), "lstm": (1, 3)}
"""Run lengths, in meta-training horizons, at which each member is evaluated (LSTM: not 10x, for CPU time)."""
HORIZON_FRACTION = 0.5


def panels(subsets) -> list[tuple[list[np.ndarray], int, int]]:
    """The training parts of M3 subsets as ``(series, h, m)`` panels."""
    out = []
    for subset in subsets:
        train, _, m, h = load_m3(subset)
        out.append(([g["y"].to_numpy(float) for _, g in train.groupby("unique_id", sort=False)], h, m))
    return out


def weights_path(granularity: str, seed: int, weighting: str = "uniform") -> Path:
    late = "" if weighting == "uniform" else f"_{weighting}"
    return HERE / "weights" / f"panel_{granularity}{late}_seed{seed}"


def half_budget(member) -> dict:
    """Constructor arguments that halve a neural member's training steps: ``steps``, and NBEATS's ``epochs`` cap
    (which sets its steps on small panels)."""
    out = {"steps": member.steps // 2}
    if hasattr(member, "epochs"):
        out["epochs"] = member.epochs / 2
    return out


def train(args) -> None:
    """Meta-train one learned optimizer per seed (run seeds in separate processes to use both cores)."""
    torch.set_num_threads(1)
    draw = functools.partial(sample_task, panels(TRAIN_SUBSETS))
    for seed in args.seeds:
        ckpt = Path(args.work) / f"ckpt_{weights_path(args.granularity, seed, args.weighting).name}"
        net, hist = meta_train_panels(draw, iterations=args.iterations, seed=seed, net_hidden=16,
                                      granularity=args.granularity, horizon_fraction=HORIZON_FRACTION,
                                      weighting=args.weighting,
                                      checkpoint_path=ckpt, resume=args.resume,
                                      log=lambda line: print(f"seed {seed}: {line}", flush=True))
        loss = hist["meta_loss"]
        save_weights(weights_path(args.granularity, seed, args.weighting), net, meta={
            "seed": seed, "iterations": args.iterations, "data": "M3 yearly + monthly training parts",
            "tasks": hist["tasks"], "skipped": hist["skipped"], "restarts_diverged": hist["restarts_diverged"],
            "meta_loss_first50": float(np.nanmean(loss[:50])), "meta_loss_last50": float(np.nanmean(loss[-50:])),
            "wall_s_last_call": hist["wall_s"]})


def held_out_tasks(per_subset: int, size: int, subsets=HELD_OUT, seed: int = 123) -> list:
    """Up to ``per_subset`` disjoint panels of ``size`` series from each subset (at least one, of all its series
    when it has fewer), each with every member at its defaults."""
    rng = np.random.default_rng(seed)
    tasks = []
    for ys, h, m in panels(subsets):
        order = rng.permutation(len(ys))
        for j in range(max(1, min(per_subset, len(ys) // size))):
            pick = [ys[i] for i in order[j * size:(j + 1) * size]]
            tasks += [make_task(kind, pick, h, m, seed=int(rng.integers(2**31))) for kind in KINDS]
    return tasks


def tune_adam(tasks: list, kinds, echo) -> dict:
    """Per member: the (lr factor, schedule) with the lowest mean log(final / initial validation loss)."""
    best = {}
    for kind in kinds:
        mine = [t for t in tasks if t.kind == kind]
        scores = {}
        for f in LR_FACTORS:
            for sched in SCHEDULES:
                runs = [run_task(t, ("adam", t.lr * f, sched), t.steps, every=t.steps) for t in mine]
                scores[(f, sched)] = float(np.mean([np.log(r["val"][-1] / r["val"][0]) for r in runs]))
        best[kind] = min(scores, key=scores.get)
        echo(f"Adam for {kind}: lr x{best[kind][0]}, {best[kind][1]} "
             f"({', '.join(f'{k[0]}/{k[1]}: {v:.4f}' for k, v in scores.items())})")
    return best


def evaluate_task(task, adam: tuple, nets: dict, every: int) -> dict:
    """Tuned Adam at the member's budget and every learned optimizer at each multiple of its horizon."""
    a = run_task(task, ("adam", task.lr * adam[0], adam[1]), task.steps, every=every)
    out = {"kind": task.kind, "config": task.config, "budget": task.steps, "val0": float(a["val"][0]),
           "adam": {"steps": a["steps"].tolist(), "val": a["val"].tolist(), "wall_s": a["wall_s"]}, "learned": {}}
    horizon = max(1, int(round(task.steps * HORIZON_FRACTION)))
    for name, net in nets.items():
        for k in MULTIPLES[task.kind]:
            r = run_task(task, ("learned", net), horizon * k, every=every)
            out["learned"][f"{name}@{k}x"] = {"steps": r["steps"].tolist(), "val": r["val"].tolist(),
                                              "wall_s": r["wall_s"], "T": horizon * k}
    return out


def evaluate(args, echo) -> None:
    torch.set_num_threads(1)
    kinds = args.kinds or KINDS
    adam = tune_adam(held_out_tasks(1, args.panel_size, TRAIN_SUBSETS, seed=7), kinds, echo)
    nets = {f"seed{s}": load_weights(weights_path(args.granularity, s, args.weighting))[0] for s in args.seeds}
    results = []
    for i, task in enumerate(held_out_tasks(args.panels, args.panel_size)):
        if task.kind not in kinds:
            continue
        t0 = time.time()
        results.append(evaluate_task(task, adam[task.kind], nets, every=max(1, task.steps // 100)))
        echo(f"task {i} ({task.kind}, {task.config['series']} series, budget {task.steps}): {time.time() - t0:.0f} s")
    late = "" if args.weighting == "uniform" else f"_{args.weighting}"
    path = Path(args.work) / f"evaluate{late}{'_' + '_'.join(args.kinds) if args.kinds else ''}.json"
    path.write_text(json.dumps({"adam": {k: list(v) for k, v in adam.items()}, "tasks": results}, indent=1))


def half_adam(args, echo) -> None:
    """What halving Adam's steps alone does, on the same held-out tasks: tuned Adam at half its budget (its schedule
    fitted to the shorter run), final validation loss over tuned Adam's at the full budget. ``out/half_adam.json``."""
    torch.set_num_threads(1)
    adam = {}
    for kind in ("mlp", "nbeats"):
        adam.update({k: tuple(v) for k, v in json.loads((Path(args.work) / f"evaluate_{kind}.json").read_text())["adam"].items()})
    rows = []
    for task in held_out_tasks(args.panels, args.panel_size):
        if task.kind not in adam:
            continue
        f, sched = adam[task.kind]
        full = run_task(task, ("adam", task.lr * f, sched), task.steps, every=task.steps)["val"][-1]
        half = run_task(task, ("adam", task.lr * f, sched), max(1, task.steps // 2), every=task.steps)["val"][-1]
        rows.append({"kind": task.kind, "series": task.config["series"], "ratio": float(half / full)})
        echo(str(rows[-1]))
    (Path(args.work) / "half_adam.json").write_text(json.dumps(rows, indent=1))


def select(args, echo) -> None:
    """Choose the seed to ship on the M3 training parts only: on the Adam-tuning panels (yearly, monthly), the mean
    over MLP and NBEATS tasks of log(final validation loss at 1x horizon / the member's default Adam's final).
    Writes ``out/select.json``; the chosen weights are then saved as the package's default (``RESULTS.md``)."""
    torch.set_num_threads(1)
    tasks = [t for t in held_out_tasks(1, args.panel_size, TRAIN_SUBSETS, seed=7) if t.kind in ("mlp", "nbeats")]
    adam = {id(t): run_task(t, ("adam", t.lr, "linear"), t.steps, every=t.steps)["val"][-1] for t in tasks}
    scores = {}
    for s in args.seeds:
        net = load_weights(weights_path(args.granularity, s, args.weighting))[0]
        ratios = [np.log(run_task(t, ("learned", net), max(1, int(round(t.steps * HORIZON_FRACTION))),
                                  every=t.steps)["val"][-1] / adam[id(t)]) for t in tasks]
        scores[f"seed{s}"] = float(np.mean(ratios))
        echo(f"seed {s}: mean log(learned at 1x / default Adam) = {scores[f'seed{s}']:.4f} over {len(tasks)} tasks")
    best = min(scores, key=scores.get)
    late = "" if args.weighting == "uniform" else f"_{args.weighting}"
    (Path(args.work) / f"select{late}.json").write_text(json.dumps({"scores": scores, "chosen": best}, indent=1))
    echo(f"chosen: {best}")


def composer(args, echo) -> None:
    """The composer on all of M3: neural members by tuned-default Adam at full steps vs the learned optimizer at half.

    Both arms use a fresh copy of the per-series members' cache (``--cache``'s ``chunk-*`` files), so each
    arm trains its neural members and the backtest reports their compute seconds.
    """
    import re
    import shutil

    import pandas as pd

    from metacompose.m3_job import run_m3
    from metacompose.models import DEFAULT_POOL, MLP, NBEATS

    tables, seconds = [], []
    for arm in args.arms:
        name = arm if arm == "adam" else args.label
        cache = Path(args.work) / f"cache-{name}"
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        for f in Path(args.cache).glob("chunk-*"):
            shutil.copy(f, cache / f.name)
        for subset in ("yearly", "quarterly", "monthly", "other"):
            m = load_m3(subset)[2]
            members = {"MLP": MLP(season_length=m), "NBEATS": NBEATS(season_length=m)}
            if arm == "learned":
                members = {k: type(v)(season_length=m, optimizer="learned", **half_budget(v))
                           for k, v in members.items()}
            pool = [members.get(a, a) for a in DEFAULT_POOL]
            lines = []
            res = run_m3([subset], models=pool, n_jobs=args.n_jobs, seed=0, out_dir=Path(args.work) / f"m3-{name}",
                         cache_dir=cache, progress=False, echo=lines.append, pool_selection=True)
            tables.append(res.assign(arm=name))
            found = dict(re.findall(r"panel:(\w+) ([0-9.]+)s", "\n".join(lines)))
            seconds.append({"arm": name, "subset": subset, **{k: float(v) for k, v in found.items()}})
            comp = res[res["method"].str.contains("composer")].iloc[0]
            echo(f"{name}, {subset}: composer sMAPE {comp['sMAPE']:.3f}; training seconds {found}")
    tag = "_".join(a if a == "adam" else args.label for a in args.arms)
    pd.concat(tables, ignore_index=True).to_csv(Path(args.work) / f"composer_{tag}.csv", index=False)
    pd.DataFrame(seconds).to_csv(Path(args.work) / f"composer_seconds_{tag}.csv", index=False)


def timing(args, echo) -> None:
    """CPU seconds to train each neural member on each whole M3 subset's training part (one horizon, as at one
    backtest origin): Adam at its full step budget and the learned optimizer at half of it, side by side in one
    process, alternating, ``--repeats`` times. Writes ``out/timing.csv``."""
    import pandas as pd

    from metacompose.models import MLP, NBEATS

    torch.set_num_threads(1)
    rows = []
    for subset in ("yearly", "quarterly", "monthly", "other"):
        train, _, m, h = load_m3(subset)
        ys = [g["y"].to_numpy(float) for _, g in train.groupby("unique_id", sort=False)]
        for cls in (MLP, NBEATS):
            for rep in range(args.repeats):
                half = {"optimizer": "learned", **half_budget(cls(season_length=m))}
                for arm, kw in (("adam", {}), ("learned", half)):
                    member = cls(season_length=m, horizon=h, **kw)
                    cpu, wall = time.process_time(), time.perf_counter()
                    member.fit_panel(ys)
                    rows.append({"subset": subset, "member": cls.__name__, "arm": arm, "repeat": rep,
                                 "cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall})
                    echo(str(rows[-1]))
    pd.DataFrame(rows).to_csv(Path(args.work) / "timing.csv", index=False)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("train", "evaluate", "half-adam", "select", "composer", "timing",
                                                   "report"), required=True)
    ap.add_argument("--repeats", type=int, default=2, help="timing repeats")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--granularity", default="tensor", choices=("tensor", "coordinate"))
    ap.add_argument("--iterations", type=int, default=400)
    ap.add_argument("--weighting", default="uniform", choices=("uniform", "late"),
                    help="meta-loss weighting over the run (metaopt.meta_train_panels)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--panels", type=int, default=2, help="held-out panels per subset")
    ap.add_argument("--panel-size", type=int, default=256)
    ap.add_argument("--kinds", nargs="*", default=[], help="evaluate only these members")
    ap.add_argument("--work", default=str(HERE / "out"))
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--arms", nargs="+", default=["adam", "learned"], choices=("adam", "learned"),
                    help="composer arms to run (one process each, to run them in parallel)")
    ap.add_argument("--label", default="learned",
                    help="name of the learned arm in the composer's files (its weights: the package's default)")
    ap.add_argument("--cache", default=str(HERE.parents[1] / ".metacompose-cache" / "m3"),
                    help="backtest cache whose per-series chunks the composer part reuses")
    args = ap.parse_args(argv)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    if args.part == "train":
        train(args)
    elif args.part == "evaluate":
        evaluate(args, print)
    elif args.part == "half-adam":
        half_adam(args, print)
    elif args.part == "select":
        select(args, print)
    elif args.part == "composer":
        composer(args, print)
    elif args.part == "timing":
        timing(args, print)
    else:
        from tables import report  # benchmarks/metaopt/tables.py
        report(Path(args.work))


if __name__ == "__main__":
    main()
