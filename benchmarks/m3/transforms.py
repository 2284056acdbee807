"""Window transforms of the global MLP and the learned per-series choice (``transform="auto"``), on the M3 training parts only.

Issue 18, part 2. Three stages, all inside the training part of each M3 subset (the test part is
never read):

1. **Labels.** Every series is cut at the label origins ``n - 2h`` and ``n - 3h`` (``--label-origins``;
   ``n`` is the length of its training part), one and two horizons before the validation origin
   ``n - h``; a cut needs at least ``min_train`` points (the base pool's rule, below). At each label
   origin MLP (default parameters except ``transform``) is fitted on the whole panel once per
   transform of :data:`~metacompose.models.transforms.TRANSFORMS` and scored on the next ``h`` points
   (per-series MASE, lag-``m`` scale of the cut). The label of a cut is the transform with the lowest
   MASE (ties: the first in that order); its features are
   :func:`~metacompose.features.series_feature_matrix` of the cut.
2. **Chooser.** :class:`~metacompose.models.transform_choice.TransformChooser` is trained on the cuts
   of all four subsets. Its set-up is picked among :data:`RECIPES` by 5-fold cross-validation over
   the labelled series (both cuts of a series in one fold; score: mean MASE of the transform chosen
   for the held-out cuts); then it is refitted on all cuts and written to ``--out`` (by default the
   chooser shipped in the package, which ``transform="auto"`` loads).
   **Design check** (before the validation, on stage 1's data only): a chooser trained on the labels at
   ``n - 3h`` picks the transforms at ``n - 2h``; there ``"auto"``'s one network for all series (each
   series through its chosen transform) is compared with and without the transform's one-hot code before
   each window, with MLP ``"mean_abs"``, and with forecasting each series by the network trained with its
   chosen transform on every series (one network per transform: the set-up the labels come from).
3. **Validation.** At the validation origin ``n - h`` of :func:`neural_pool.validation_panel` (the
   last backtest origin, whose horizon ends where the training part ends; a series is scored when
   ``n - h >= min_train`` with ``min_train`` from the pool ``neural_pool.BASE_POOL``; MASE scale of
   the cut, stored as float32 as the cube stores it), computed here from that rule without building
   the pool's backtest cube: MLP with each fixed transform and with ``"auto"``, and the chooser's pick
   among the fixed-transform networks (five fits; reported, not a candidate default). A series whose
   forecast is not finite gets SeasonalNaive's, as the backtest's fallback would give it (counted).
   The "oracle" row takes, per series, the best of the fixed transforms' forecasts; it uses the
   actuals, so it is a bound, not a method.

Reported per subset and point-weighted over the subsets (series x horizon): validation sMAPE (M3
definition, percent) and MASE (Hyndman & Koehler 2006, lag ``m``) from
:func:`metacompose.evaluate.score`, and the CPU seconds of each fit (``auto``: features and chooser
included).

Rule, fixed before the run: ``transform="auto"`` becomes the default of MLP and LSTM only if its
validation MASE is lower than ``"mean_abs"``'s on every subset; otherwise ``"mean_abs"`` stays.

    python benchmarks/m3/transforms.py [--subset monthly] [--label-origins 2] [--out PATH] [--results PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from metacompose.backtest_plan import rolling_origins
from metacompose.data import load_m3
from metacompose.evaluate import score
from metacompose.features import series_feature_matrix
from metacompose.m3_job import pooled_results
from metacompose.metrics import mase, mase_scale
from metacompose.models import MLP, SeasonalNaive, get_model
from metacompose.models import transform_choice
from metacompose.models.transform_choice import SHIPPED, TransformChooser
from metacompose.models.transforms import AUTO, TRANSFORMS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.neural_pool import BASE_POOL, SUBSETS  # noqa: E402  (benchmarks/m3/neural_pool.py)
from m3.run import markdown  # noqa: E402  (benchmarks/m3/run.py)
from results_file import RunLog, write_section  # noqa: E402  (benchmarks/results_file.py)

RECIPES = {
    "100 rounds": ({"n_estimators": 100}, False),
    "300 rounds": ({"n_estimators": 300}, False),
    "300 rounds, weighted": ({"n_estimators": 300}, True),
    "200 rounds, lr 0.25": ({"n_estimators": 200, "learning_rate": 0.25}, False),
    "150 rounds, lr 0.15, 16 leaves": ({"n_estimators": 150, "learning_rate": 0.15, "num_leaves": 16,
                                        "min_data_in_leaf": 20}, False),
}
"""Chooser set-ups compared by cross-validation on the labels: label -> (TransformChooser parameters besides
its defaults, weighted). Weighted: each cut counts by how much the choice matters on it, the mean over
transforms of its MASE minus the best one (capped at the 99th percentile, scaled to mean 1)."""
FOLDS = 5


def series_panel(subset: str):
    """``(ys, m, h, min_train)``: the training part of ``subset`` as float64 series, and the smallest
    origin the base pool's backtest accepts (:func:`metacompose.backtest_plan.plan_backtest`'s rule)."""
    train, _, m, h = load_m3(subset)
    ys = [g["y"].to_numpy(dtype=np.float64) for _, g in train.groupby("unique_id", sort=False)]
    pool = [get_model(a, m, **p) for a, p in BASE_POOL.items()]
    min_train = max(max(mdl.min_length for mdl in pool), 2 * m if m > 1 else 4)
    return ys, m, h, min_train


def cut_at(ys, h: int, m: int, back: int, min_train: int):
    """Every series cut ``back`` horizons before its end: ``(cuts, actual, scales, ok)``.

    The origin is ``rolling_origins``' last backtest origin for ``back = 1`` (the validation origin) and
    ``n - back * h`` in general; a series is kept (``ok``) where the origin has at least ``min_train``
    points. Returns the cuts (a placeholder where not ok), actuals float64 ``(S, h)``, MASE scales of the
    cuts ``(S,)`` (float32 precision, as the cube stores them) and bool ``(S,)``.
    """
    org = np.array([rolling_origins(len(y) - (back - 1) * h, h, 1, h, min_train)[0] for y in ys])
    ok = org > 0
    cuts = [y[:o] if o > 0 else np.ones(4) for y, o in zip(ys, org)]
    actual = np.stack([y[o:o + h] if o > 0 else np.full(h, np.nan) for y, o in zip(ys, org)])
    scales = np.array([np.float32(mase_scale(c, m)) for c in cuts], dtype=np.float64)
    return cuts, actual, scales, ok


def fit_mlp(cuts, m: int, h: int, tagged: bool = True, **params) -> tuple[np.ndarray, float, int]:
    """MLP (defaults but ``params``, e.g. ``transform=``) on the panel: ``(forecasts (S, h), CPU s, fallbacks)``;
    a series whose forecast is not finite gets SeasonalNaive's. ``tagged=False``: several transforms are mixed
    without telling the network which window went through which."""
    t0 = time.process_time()
    model = MLP(m, horizon=h, **params)
    model._tag_transforms = tagged
    fc = model.fit_panel(cuts).predict_panel(h)
    bad = ~np.isfinite(fc).all(axis=1)
    for i in np.flatnonzero(bad):
        fc[i] = SeasonalNaive(m).fit(cuts[i]).predict(h)
    return fc, time.process_time() - t0, int(bad.sum())


def series_mase(fc, actual, scales) -> np.ndarray:
    """Per-series MASE ``(S,)`` over the horizon (:func:`metacompose.metrics.mase`)."""
    return mase(actual, fc, scales[:, None], axis=1)


def label_subset(subset: str, n_origins: int, echo):
    """Stage 1 for ``subset``: features ``(N, F)``, MASE of every transform ``(N, K)``, series keys ``(N,)`` and
    label origins ``(N,)`` (horizons back from the end)."""
    ys, m, h, min_train = series_panel(subset)
    feats, errs, keys, backs, spent = [], [], [], [], 0.0
    for back in range(2, 2 + n_origins):
        cuts, actual, scales, ok = cut_at(ys, h, m, back, min_train)
        cuts_ok = [c for c, k in zip(cuts, ok) if k]
        cols = []
        for t in TRANSFORMS:
            fc, cpu, _ = fit_mlp(cuts_ok, m, h, transform=t)
            cols.append(series_mase(fc, actual[ok], scales[ok]))
            spent += cpu
        feats.append(series_feature_matrix(cuts_ok, m))
        errs.append(np.stack(cols, axis=1))
        keys.append(np.array([f"{subset}/{i}" for i in np.flatnonzero(ok)]))
        backs.append(np.full(int(ok.sum()), back))
        echo(f"{subset}: labels at n - {back}h for {int(ok.sum())} series")
    E = np.concatenate(errs)
    echo(f"{subset}: label fits took {spent:.1f} CPU-s; best transform counts: "
         + json.dumps(dict(zip(TRANSFORMS, np.bincount(np.argmin(E, axis=1), minlength=len(TRANSFORMS)).tolist()))))
    return np.concatenate(feats), E, np.concatenate(keys), np.concatenate(backs)


def labels(subsets, n_origins: int, path: str | None, echo) -> tuple[np.ndarray, ...]:
    """Stage 1 for every subset: :func:`label_subset`'s arrays, concatenated; read from the npz ``path`` when it
    holds the same subsets and origins, else computed (and written there when given)."""
    tag = f"{','.join(subsets)}|{n_origins}|{','.join(TRANSFORMS)}"
    if path and Path(path).exists():
        with np.load(path, allow_pickle=False) as z:
            if str(z["tag"]) == tag:
                echo(f"labels read from {path}")
                return z["F"], z["E"], z["keys"], z["backs"]
    F, E, keys, backs = (np.concatenate(p) for p in zip(*[label_subset(s, n_origins, echo) for s in subsets]))
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, F=F, E=E, keys=keys, backs=backs, tag=np.array(tag))
    return F, E, keys, backs


def cut_weights(E: np.ndarray) -> np.ndarray:
    """How much the choice matters on each cut: mean MASE over transforms minus the best, capped at the
    99th percentile, scaled to mean 1."""
    w = np.mean(E, axis=1) - np.min(E, axis=1)
    w = np.minimum(w, np.percentile(w, 99))
    return w / max(float(w.mean()), 1e-12)


def fit_chooser(F, E, recipe: str) -> TransformChooser:
    """A chooser of set-up ``recipe`` (:data:`RECIPES`) fitted on features ``F`` and errors ``E``."""
    params, weighted = RECIPES[recipe]
    labels = np.asarray(TRANSFORMS)[np.argmin(E, axis=1)]
    return TransformChooser(**params).fit(F, labels, cut_weights(E) if weighted else None)


def cross_validate(F, E, keys, echo) -> tuple[str, pd.DataFrame]:
    """Stage 2's choice of set-up: mean held-out MASE of each recipe and of each constant transform."""
    series = np.unique(keys)
    fold_of = dict(zip(series, np.random.default_rng(0).permutation(series.shape[0]) % FOLDS))
    fold = np.array([fold_of[k] for k in keys])
    rows = {f"always {t}": float(E[:, j].mean()) for j, t in enumerate(TRANSFORMS)}
    rows["oracle (per-cut best)"] = float(E.min(axis=1).mean())
    for recipe in RECIPES:
        chosen = np.empty(E.shape[0], dtype=int)
        for f in range(FOLDS):
            test = fold == f
            pick = fit_chooser(F[~test], E[~test], recipe).predict(F[test])
            chosen[test] = [TRANSFORMS.index(p) for p in pick]
        rows[f"chooser {recipe}"] = float(E[np.arange(E.shape[0]), chosen].mean())
    table = pd.DataFrame({"held-out MASE": rows})
    best = min(RECIPES, key=lambda r: rows[f"chooser {r}"])
    echo(f"\n-- chooser set-up, {FOLDS}-fold cross-validation over {series.shape[0]} series "
         f"({E.shape[0]} cuts): picked '{best}'")
    echo(table.round(4).to_string())
    return best, table


def design_check(F, E, keys, backs, recipe: str, echo) -> pd.DataFrame | None:
    """How ``"auto"`` should train, judged one origin earlier than the validation (stage 1's data only).

    A chooser of set-up ``recipe`` is trained on the labels at ``n - 3h`` and picks a transform for each cut
    at ``n - 2h``; there, per subset, the MASE of: MLP ``"mean_abs"``; each series forecast by the network
    trained with its chosen transform on every series (the set-up the labels come from, one network per
    transform); and one network for all series, each through its chosen transform (``"auto"``), with and
    without the transform's one-hot code before each window. None without labels at ``n - 3h``.
    """
    if not np.any(backs == 3):
        return None
    chooser, rows = fit_chooser(F[backs == 3], E[backs == 3], recipe), {}
    subsets = np.array([k.split("/")[0] for k in keys])
    for subset in dict.fromkeys(subsets):
        at = (subsets == subset) & (backs == 2)
        ys, m, h, min_train = series_panel(subset)
        cuts, actual, scales, ok = cut_at(ys, h, m, 2, min_train)
        picks = chooser.predict(F[at])
        rows[subset] = {"MLP mean_abs": E[at, 0].mean(),
                        "chosen transform's network": E[at, [TRANSFORMS.index(p) for p in picks]].mean()}
        for tagged in (True, False):
            fc, _, _ = fit_mlp([c for c, k in zip(cuts, ok) if k], m, h, tagged, transform=list(picks))
            rows[subset][f"one network, {'codes' if tagged else 'no codes'}"] = series_mase(fc, actual[ok],
                                                                                            scales[ok]).mean()
    table = pd.DataFrame(rows)
    echo("\n-- design check at n - 2h (chooser trained on the labels at n - 3h), MASE:")
    echo(table.round(4).to_string())
    return table


def validate_subset(subset: str, echo) -> tuple[pd.DataFrame, dict]:
    """Stage 3 for ``subset``: one row per transform, ``auto``, the chooser's pick among the fixed-transform
    networks, and the oracle; and ``auto``'s choices."""
    ys, m, h, min_train = series_panel(subset)
    cuts, actual, scales, ok = cut_at(ys, h, m, 1, min_train)
    rows, fcs = {}, {}
    for t in (*TRANSFORMS, AUTO):
        fc, cpu, fell = fit_mlp(cuts, m, h, transform=t)
        fcs[t] = fc
        rows[f"MLP {t}"] = {**score(fc[ok], actual[ok], scales[ok]), "CPU s": cpu, "fallbacks": fell}
    fixed = np.stack([fcs[t] for t in TRANSFORMS], axis=1)
    picks = transform_choice.choose_transforms(cuts, m)  # what "auto" used
    pick = fixed[np.arange(len(cuts)), [TRANSFORMS.index(p) for p in picks]]
    rows["chosen transform's network (5 fits)"] = {**score(pick[ok], actual[ok], scales[ok]),
                                                   "CPU s": sum(rows[f"MLP {t}"]["CPU s"] for t in TRANSFORMS)}
    err = np.mean(np.abs(fixed - actual[:, None]), axis=2)
    best = fixed[np.arange(len(cuts)), np.argmin(np.nan_to_num(err, nan=np.inf), axis=1)]
    rows["oracle: per-series best fixed transform"] = score(best[ok], actual[ok], scales[ok])
    chosen = {t: sum(p == t for p, k in zip(picks, ok) if k) for t in TRANSFORMS}
    table = pd.DataFrame(rows).T
    table["n_series"] = int(ok.sum())
    echo(f"\n-- M3 {subset}: {int(ok.sum())} series, h={h}, m={m}, validation origin (training part only); "
         f"auto chose {json.dumps(chosen)}:")
    echo(table.drop(columns="n_series").round(3).to_string())
    return table, chosen


def pooled(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Point-weighted (series x horizon) mean over the subsets (:func:`metacompose.m3_job.pooled_results`);
    CPU seconds summed."""
    rows = pd.concat([t.assign(subset=s).rename_axis("method").reset_index() for s, t in tables.items()])
    out = pooled_results(rows, ("sMAPE", "MASE")).set_index("method")[["sMAPE", "MASE"]]
    out["CPU s"] = sum(t["CPU s"] for t in tables.values())
    return out


def verdict(tables: dict[str, pd.DataFrame]) -> str:
    """The rule of the module docstring, applied."""
    wins = [s for s, t in tables.items() if float(t.loc[f"MLP {AUTO}", "MASE"]) < float(t.loc["MLP mean_abs", "MASE"])]
    if len(wins) == len(tables) == len(SUBSETS):
        return "auto lowers the validation MASE on every subset: it becomes the default."
    return (f"auto lowers the validation MASE on {len(wins)} of {len(tables)} subsets ({', '.join(wins) or 'none'}): "
            "the default stays \"mean_abs\".")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", choices=SUBSETS, action="append", help="subset (repeatable; default: all four)")
    ap.add_argument("--label-origins", type=int, default=2, help="label origins per series (n - 2h, n - 3h, ...)")
    ap.add_argument("--out", default=str(SHIPPED), help="where the chooser is written (default: the shipped one)")
    ap.add_argument("--results", default="benchmarks/m3/transforms_results.md")
    ap.add_argument("--labels", default=None, help="npz file of stage 1's labels: read if present, else written")
    args = ap.parse_args(argv)
    echo, start = RunLog(), time.process_time()
    subsets = args.subset or SUBSETS
    F, E, keys, backs = labels(subsets, args.label_origins, args.labels, echo)
    recipe, cv = cross_validate(F, E, keys, echo)
    design = design_check(F, E, keys, backs, recipe, echo)
    chooser = fit_chooser(F, E, recipe)
    info = {"trained_on": f"M3 training parts ({', '.join(subsets)}), label origins n - 2h .. n - "
                          f"{1 + args.label_origins}h", "recipe": recipe, "cuts": int(E.shape[0]),
            "script": "benchmarks/m3/transforms.py"}
    path = chooser.save(args.out, info)
    transform_choice.SHIPPED = Path(args.out)  # "auto" below uses the chooser just trained
    transform_choice.shipped_chooser.cache_clear()
    echo(f"chooser ({recipe}) written to {path}")
    results = {s: validate_subset(s, echo) for s in subsets}
    tables = {s: t for s, (t, _) in results.items()}
    if len(tables) > 1:
        echo("\n-- point-weighted over " + ", ".join(tables) + " (CPU s summed):")
        echo(pooled(tables).round(3).to_string())
    echo("\nRule: " + verdict(tables))
    echo(f"total CPU time: {time.process_time() - start:.0f} s")
    write_section(args.results, "transforms", "## Window transforms and the learned choice\n\n"
                  f"Command: `python benchmarks/m3/transforms.py {' '.join(argv or sys.argv[1:])}`; chooser set-ups "
                  f"compared: `{json.dumps(RECIPES)}`.\n\n"
                  f"### Chooser cross-validation (labels)\n\n{markdown(cv.round(4))}\n\n"
                  + ("" if design is None else f"### Design check at n - 2h (MASE)\n\n{markdown(design.round(4))}\n\n")
                  + "\n\n".join(f"### {s}\n\n{markdown(t.round(3))}" for s, t in tables.items())
                  + (f"\n\n### Point-weighted over the subsets\n\n{markdown(pooled(tables).round(3))}"
                     if len(tables) > 1 else "")
                  + f"\n\n**Rule:** {verdict(tables)}\n\n### Run log\n\n```\n" + "\n".join(echo.lines) + "\n```\n")
    return tables


if __name__ == "__main__":
    main()
