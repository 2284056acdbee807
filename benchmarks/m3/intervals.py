"""Interval benchmark on M3: coverage and MSIS of the composed conformal intervals against statsforecast.

For every subset, in one run:

* the default :class:`~metacompose.composer.Composer` (default pool pruned on the backtest,
  PPO agent, seed 0: what ``metacompose run`` and ``benchmarks/m3/run.py`` fit), fitted on the
  training parts; its ``predict(level=[80, 95])`` gives the composed conformal intervals and
  each kept member's (ETS, Theta, ARIMA, ...), from the backtest errors only;
* statsforecast's AutoETS, AutoTheta and AutoARIMA (the closest members) with their own
  intervals (``level=[80, 95]``) and with ``ConformalIntervals(h=h, n_windows=5)`` (fewer
  windows for short series, see :func:`run_statsforecast`).

The M3 test part is used only to score: coverage of the 80% and 95% intervals (percent of
test points inside) and MSIS (M4's mean scaled interval score, MASE scale of the training
part; :func:`metacompose.metrics.msis`). "val" columns: the composed 95% interval's coverage
and MSIS on the last backtest origin inside the training data, with intervals from earlier
origins only (:func:`metacompose.intervals.validation_coverage`; no test data). Writes the
``intervals`` section of ``benchmarks/RESULTS.md``.

Resumable: the backtest is cached (``--cache``), fitted composers and statsforecast's
forecasts are kept in ``--out`` and reused by a rerun with the same subset and size.

    python benchmarks/m3/intervals.py [--subset monthly] [--max-series N] [--n-jobs 2] [--no-results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from metacompose import Composer
from metacompose.data import M3_SUBSETS, load_m3
from metacompose.errors import FileFormatError
from metacompose.evaluate import test_matrix
from metacompose.intervals import composed_intervals, validation_coverage
from metacompose.m3_job import pooled_results
from metacompose.metrics import coverage, msis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.run import SUBSETS, markdown  # noqa: E402  (benchmarks/m3/run.py)
from results_file import RunLog, write_section  # noqa: E402  (benchmarks/results_file.py)

LEVELS = [80, 95]
SF_MODELS = ("AutoETS", "AutoTheta", "AutoARIMA")
OUR_MEMBERS = ("ETS", "Theta", "ARIMA")
MIN_WINDOW_TRAIN = 7


def timing(out: Path, key: str, seconds: float | None = None) -> str:
    """Record (with ``seconds``) or recall how long the saved part ``key`` of ``out`` took to make."""
    path = out / "timings.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    if seconds is not None:
        known[key] = round(seconds)
        path.write_text(json.dumps(known, indent=1, sort_keys=True))
        return f"{seconds:.0f} s"
    return f"reused (made in {known[key]} s)" if key in known else "reused (time not recorded)"


def fit_composer(subset: str, max_series, n_jobs: int, seed: int, cache: str, out: Path):
    """The default composer of ``subset`` fitted on its training parts (loaded from ``out`` if saved there)."""
    train, test, m, h = load_m3(subset, max_series)
    folder = out / f"composer_{subset}_{max_series or 'all'}_seed{seed}"
    t0 = time.perf_counter()
    comp = None
    if (folder / "composer.json").exists():
        try:
            comp, how = Composer.load(folder), "loaded: " + timing(out, folder.name)
        except FileFormatError:  # saved by another version of metacompose: fit again (the backtest is cached)
            comp = None
    if comp is None:
        comp = Composer(agent="ppo", horizon=h, season_length=m, n_jobs=n_jobs, cache_dir=cache,
                        random_state=seed).fit(train)
        comp.save(folder)
        how = "fitted in " + timing(out, folder.name, time.perf_counter() - t0)
    return comp, train, test, m, h, f"composer {how}"


def run_statsforecast(train: pd.DataFrame, m: int, h: int, n_jobs: int, conformal: bool, path: Path):
    """statsforecast's forecasts with ``level=[80, 95]`` (native or conformal intervals), cached at ``path``.

    With ``conformal``: ``ConformalIntervals(h=h, n_windows=w)`` with ``w = 5`` where the
    series allows it, else as many windows as leave the first one at least ``MIN_WINDOW_TRAIN``
    observations (statsforecast's ETS raises "tiny datasets" below that), one statsforecast
    run per ``w``; series too short for 2 such windows get 2, and a model that raises there
    is replaced by statsforecast's ``fallback_model``, ``Naive`` with the same intervals.
    Series shorter than ``2 h + 1`` (statsforecast's minimum for 2 windows) are left out.
    """
    if path.exists():
        return pd.read_csv(path), timing(path.parent, path.name)
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive
    from statsforecast.utils import ConformalIntervals

    t0 = time.perf_counter()
    lengths = train.groupby("unique_id")["y"].size()
    windows = ((lengths - MIN_WINDOW_TRAIN) // h).clip(2, 5) if conformal else lengths * 0
    if conformal:
        windows = windows[lengths >= 2 * h + 1]
    parts = []
    for w, ids in windows.groupby(windows).groups.items():
        pi = ConformalIntervals(h=h, n_windows=int(w)) if conformal else None
        sf = StatsForecast(models=[AutoETS(season_length=m), AutoTheta(season_length=m), AutoARIMA(season_length=m)],
                           freq=1, n_jobs=n_jobs, fallback_model=Naive(prediction_intervals=pi) if conformal else None)
        fc = sf.forecast(df=train[train["unique_id"].isin(ids)], h=h, level=LEVELS, prediction_intervals=pi)
        parts.append(fc.reset_index() if "unique_id" not in fc.columns else fc)
    fc = pd.concat(parts, ignore_index=True)
    fc.to_csv(path, index=False)
    return fc, timing(path.parent, path.name, time.perf_counter() - t0)


def matrix(fc: pd.DataFrame, column: str, ids, h: int) -> np.ndarray:
    """Column ``column`` of a long forecast frame as ``(S, H)`` in the order of ``ids``."""
    return test_matrix(fc, ids, h, target_col=column)


def score_row(y, scale, lo_hi: dict) -> dict:
    """Coverage (percent) and MSIS of intervals ``{level: (lo, hi)}``, each ``(S, H)``; points
    whose bounds are missing (NaN: a method that could not forecast the series) are left out."""
    row = {}
    for part in ("cov", "MSIS"):
        for level in LEVELS:
            lo, hi = lo_hi[level]
            known = np.where(np.isnan(lo) | np.isnan(hi), np.nan, y)
            row[f"{part}{level}"] = (100 * float(coverage(known, lo, hi)) if part == "cov"
                                     else float(msis(known, lo, hi, level, scale)))
    return row


def our_rows(comp, y, scale) -> dict:
    """Test scores of the composer's intervals (normalised scores, the default; and plain) and its members'."""
    ids, h = list(comp.panel_.ids), comp.horizon
    fc = comp.predict(level=LEVELS)
    rows = {}
    for name in ("composed",) + tuple(a for a in OUR_MEMBERS if a in comp.models):
        label = f"{type(comp.agent_).__name__} (composer)" if name == "composed" else f"{name} (metacompose conformal)"
        rows[label] = score_row(y, scale, {lv: (matrix(fc, f"{name}-lo-{lv}", ids, h),
                                                matrix(fc, f"{name}-hi-{lv}", ids, h)) for lv in LEVELS})
        if name == "composed":
            plain = composed_intervals(comp.cube_, comp.composed_, LEVELS, normalise=False)
            rows["composer, plain scores (normalise=False)"] = score_row(y, scale, plain)
    return rows


def validation_table(comp) -> pd.DataFrame:
    """Coverage and MSIS on the validation origin (training data only) of plain and normalised scores,
    for the composed forecast and each member: the evidence the scoring rule was chosen on."""
    cube = comp.cube_
    targets = {"composed": comp.composed_, **{a: cube.forecasts[:, :, j] for j, a in enumerate(cube.models)}}
    rows = {}
    for name, f in targets.items():
        row = {}
        for normalise in (False, True):
            res = validation_coverage(cube, f, LEVELS, normalise=normalise)
            tag = "norm" if normalise else "plain"
            for lv in LEVELS:
                row[f"{tag} cov{lv}"] = 100 * res[lv]["coverage"]
                row[f"{tag} MSIS{lv}"] = res[lv]["msis"]
        rows[name] = row
    return pd.DataFrame(rows).T


def statsforecast_rows(train, y, scale, ids, m, h, args, out: Path, subset: str) -> tuple[dict, list[str]]:
    """Test scores of statsforecast's native and conformal intervals, and notes on how they were made."""
    rows, notes, frames = {}, [], {}
    for conformal in (False, True):
        kind = "conformal" if conformal else "native"
        path = out / f"sf_{subset}_{args.max_series or 'all'}_{kind}.csv"
        sf, took = run_statsforecast(train, m, h, args.n_jobs, conformal, path)
        frames[kind] = sf
        notes.append(f"statsforecast {kind} {took}")
        for model in SF_MODELS:
            label = f"{model} ({'ConformalIntervals' if conformal else 'statsforecast'})"
            rows[label] = score_row(y, scale, {lv: (matrix(sf, f"{model}-lo-{lv}", ids, h),
                                                    matrix(sf, f"{model}-hi-{lv}", ids, h)) for lv in LEVELS})
    conf = {a: matrix(frames["conformal"], a, ids, h) for a in SF_MODELS}
    fell_back = {a: int(np.sum(~np.all(np.isclose(conf[a], matrix(frames["native"], a, ids, h), rtol=1e-9)
                                       | np.isnan(conf[a]), axis=1))) for a in SF_MODELS}
    missing = int(np.sum(np.all(np.isnan(conf[SF_MODELS[0]]), axis=1)))
    notes.append("ConformalIntervals: statsforecast's fallback Naive on " + ", ".join(
        f"{a} {n}" for a, n in fell_back.items()) + f" series, {missing} series too short (left out of its rows)")
    return rows, notes


def subset_table(subset: str, args, out: Path, echo) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every method's intervals on ``subset``'s test part; returns that table and the validation table."""
    comp, train, test, m, h, note = fit_composer(subset, args.max_series, args.n_jobs, args.seed, args.cache, out)
    ids = list(comp.panel_.ids)
    y = test_matrix(test, ids, h)
    scale = comp.cube_.scales.astype(np.float64)[:, None]
    rows = our_rows(comp, y, scale)
    sf_rows, notes = statsforecast_rows(train, y, scale, ids, m, h, args, out, subset)
    table = pd.DataFrame({**rows, **sf_rows}).T
    table.insert(0, "n_series", len(ids))
    val = validation_table(comp)
    echo(f"\n== M3 {subset}: {len(ids)} series, h={h}, m={m}; {note}, {', '.join(notes)}; "
         f"pool {', '.join(comp.models)} ==")
    echo(table.round(2).to_string())
    echo("validation origin (training data only), plain and normalised scores:")
    echo(val.round(2).to_string())
    return table, val


def verdict(subset: str, table: pd.DataFrame) -> str:
    """The acceptance check of issue 15 on one subset, as one line."""
    ours = table.iloc[0]
    ets = table.loc["AutoETS (statsforecast)"]
    cov_ok, msis_ok = 93.0 <= ours["cov95"] <= 97.0, ours["MSIS95"] < ets["MSIS95"]
    return (f"{subset}: composed 95% coverage {ours['cov95']:.1f}% ({'in' if cov_ok else 'NOT in'} 93-97), "
            f"MSIS {ours['MSIS95']:.2f} vs AutoETS {ets['MSIS95']:.2f} ({'lower' if msis_ok else 'NOT lower'})")


def pooled(tables: dict) -> pd.DataFrame:
    """Point-weighted mean (series x horizon) over the subsets, for methods scored on every one
    (:func:`metacompose.m3_job.pooled_results`)."""
    rows = pd.concat([t.assign(subset=s) for s, t in tables.items()]).rename_axis("method").reset_index()
    cols = [c for c in rows.columns if c.startswith(("cov", "MSIS"))]
    return pooled_results(rows, cols).set_index("method")[["n_series", *cols]]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", choices=SUBSETS, action="append", help="subset (repeatable; default: all four)")
    ap.add_argument("--max-series", type=int, default=None, help="first N series per subset (default: all)")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=".metacompose-cache/m3", help="backtest cache folder")
    ap.add_argument("--out", default="benchmarks/m3/out/intervals", help="fitted composers and statsforecast forecasts")
    ap.add_argument("--results", default="benchmarks/RESULTS.md")
    ap.add_argument("--no-results", action="store_true", help="do not write the results file")
    args = ap.parse_args(argv)
    subsets = args.subset or SUBSETS
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    echo = RunLog()
    lines = echo.lines

    t0 = time.perf_counter()
    tables, vals = {}, {}
    for subset in subsets:
        tables[subset], vals[subset] = subset_table(subset, args, out, echo)
    wall = time.perf_counter() - t0
    verdicts = [verdict(s, t) for s, t in tables.items()]
    echo("\n" + "\n".join(verdicts))
    if not args.no_results:
        write_results(args, argv, subsets, (tables, vals), verdicts, lines, wall)
    return tables


def write_results(args, argv, subsets, tables_vals, verdicts, lines, wall) -> None:
    """Write the ``intervals`` section of the results file (test tables, validation tables, run notes)."""
    tables, vals = tables_vals
    sections = [f"#### {s} ({int(t['n_series'].iloc[0])} series)\n\n{markdown(t.drop(columns='n_series').round(2))}"
                for s, t in tables.items()]
    if len(tables) > 1:
        sections.append(f"#### all (point-weighted)\n\n{markdown(pooled(tables).drop(columns='n_series').round(2))}")
    val_sections = [f"#### {s}\n\n{markdown(v.round(2))}" for s, v in vals.items()]
    cmd = ("python benchmarks/m3/intervals.py " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    size = "" if args.max_series is None else f", first {args.max_series} series per subset"
    text = f"""## M3 prediction intervals

Command: `{cmd}` (seed {args.seed}, {args.n_jobs} jobs{size}; subsets {', '.join(subsets)}).
Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, no GPU.
Wall time: {wall:.0f} s for this run; parts reused from earlier runs (saved composers, cached
statsforecast forecasts; the backtest cache) are named in the run notes with the time they
took when they were made.

Fitted on the training parts; the M3 test part is used only for these scores. cov80/cov95:
percent of test points inside the 80%/95% interval; MSIS80/MSIS95: M4's mean scaled interval
score (Makridakis et al. 2020; MASE scale of the training part; lower is better; M4 scored
the 95% interval). The composer's and its members' intervals are split-conformal per horizon
step from the backtest errors pooled over series, each error divided by 1 + the pool's
disagreement (`metacompose.intervals`); "plain scores" is the same without that division
(the first version of the method). statsforecast's rows use the models' own intervals or
`ConformalIntervals(h, n_windows=5)` per series (fewer windows for short series; see the notes).

Acceptance (issue 15: composed 95% coverage in 93-97% and MSIS95 below AutoETS's):

""" + "\n".join(f"- {v}" for v in verdicts) + """

### Test part

""" + "\n\n".join(sections) + """

### How the scoring rule was chosen: the validation origin (training data only)

The last backtest origin plays the final one, with intervals from the earlier origins only
(`metacompose.intervals.validation_coverage`); the test part plays no part. Plain scores and
normalised scores, for the composed forecast and each member; the library uses the normalised
ones because they had the lower MSIS at about the same coverage.

""" + "\n\n".join(val_sections) + """

### Run notes

```
""" + "\n".join(line.strip() for line in lines if line.strip().startswith("==")) + "\n```\n"
    write_section(args.results, "intervals", text)
    print(f"wrote the intervals section of {args.results}")


if __name__ == "__main__":
    main()
