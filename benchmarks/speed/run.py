"""Speed benchmark: metacompose's pipeline against statsforecast's AutoETS+AutoTheta+AutoARIMA ensemble.

In one run, on the same M3 subsets and the same number of jobs, each side in its own
subprocess (so that its peak memory is its own):

* ``metacompose``: validate, backtest the pool into a cube (``backtest``), train the PPO
  agent (``agent``), compose the forecast at the final origin (``forecast``);
* ``statsforecast``: ``StatsForecast(models=[AutoETS, AutoTheta, AutoARIMA], freq=1,
  n_jobs=J).forecast(df, h)``, and the mean of the three (the ensemble).

Each side imports its own stack inside its function (``run_metacompose``,
``run_statsforecast``), not at module level, so that the subprocess of one side never loads
the other's libraries and its peak memory is its own; ``psutil`` is imported only where the
memory is sampled.

It prints wall time per stage, peak memory (resident set of the process and all its
children, sampled every 0.1 s with psutil), the M3 test accuracy of both (sMAPE in percent,
M3/M4 definition; MASE, Hyndman & Koehler 2006), and the time ratio. ``--scale`` adds a
scale curve: the metacompose pipeline on ``N`` series resampled (with replacement) from the
subsets, for each ``N``, with seconds per series.

Usage (quick subset; the full run drops ``--max-series`` and uses all four subsets)::

    python benchmarks/speed/run.py --subsets other yearly --max-series 200 --scale 100 1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from results_file import RunLog, write_section  # noqa: E402  (benchmarks/results_file.py)

class PeakMemory:
    """Peak resident memory (MiB) of this process and its children, sampled in a thread.

    Attributes:
        peak_mib: the largest sum seen so far (float).
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval, self.peak_mib, self._stop = interval, 0.0, threading.Event()

    def _sample(self) -> float:
        import psutil

        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20

    def __enter__(self) -> "PeakMemory":
        def loop():
            while not self._stop.is_set():
                self.peak_mib = max(self.peak_mib, self._sample())
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, self._sample())


def _data(subset: str, max_series: int | None, resample: int | None, seed: int):
    """Train/test long frames of an M3 subset, optionally ``resample`` series drawn with replacement."""
    import pandas as pd

    from metacompose.data import load_m3

    train, test, m, h = load_m3(subset, max_series)
    if resample is not None:
        ids = train["unique_id"].unique()
        pick = np.random.default_rng(seed).choice(ids, size=resample, replace=True)
        tr, te = dict(tuple(train.groupby("unique_id"))), dict(tuple(test.groupby("unique_id")))
        train = pd.concat([tr[s].assign(unique_id=f"{s}#{i}") for i, s in enumerate(pick)], ignore_index=True)
        test = pd.concat([te[s].assign(unique_id=f"{s}#{i}") for i, s in enumerate(pick)], ignore_index=True)
    return train, test, m, h


def run_metacompose(subset, max_series, models, n_jobs, seed, timesteps, resample=None) -> dict:
    """The metacompose pipeline on one subset: seconds per stage, test accuracy.

    Returns:
        ``{"seconds": {stage: s}, "sMAPE", "MASE", "n_series", "ppo_steps_per_s"}``.
    """
    from metacompose.agents import PPOAgent
    from metacompose.backtest import backtest
    from metacompose.data import validate_frame
    from metacompose.evaluate import score, test_matrix
    from metacompose.models import DEFAULT_POOL, build_pool
    from metacompose.pool_selection import select_pool

    train, test, m, h = _data(subset, max_series, resample, seed)
    sec = {}
    t = time.perf_counter()
    panel = validate_frame(train, "unique_id", "ds", "y")
    cube, _ = backtest(panel.values, build_pool(models or DEFAULT_POOL, m), h, m, ids=panel.ids, n_jobs=n_jobs)
    if not models:  # the main job's default: the candidate pool, pruned on the backtest
        cube = cube.take_models(select_pool(cube).models)
    sec["backtest"] = time.perf_counter() - t
    t = time.perf_counter()
    agent = PPOAgent(seed=seed, **({"total_timesteps": timesteps} if timesteps else {})).fit(cube)
    sec["agent"] = time.perf_counter() - t
    t = time.perf_counter()
    forecast = agent.combine(cube)[:, -1]
    sec["forecast"] = time.perf_counter() - t
    s = score(forecast, test_matrix(test, cube.series_ids, h), cube.scales)
    return {"seconds": sec, **s, "n_series": cube.shape[0], "ppo_steps_per_s": agent.timesteps_ / agent.learn_seconds_}


def run_statsforecast(subset, max_series, n_jobs, seed, resample=None) -> dict:
    """statsforecast's AutoETS + AutoTheta + AutoARIMA (mean ensemble) on one subset.

    Returns:
        ``{"seconds": {"forecast": s}, "sMAPE", "MASE", "n_series"}`` (accuracy of the ensemble).
    """
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

    from metacompose.evaluate import score, test_matrix
    from metacompose.metrics import mase_scale

    train, test, m, h = _data(subset, max_series, resample, seed)
    t = time.perf_counter()
    sf = StatsForecast(models=[AutoETS(season_length=m), AutoTheta(season_length=m), AutoARIMA(season_length=m)],
                       freq=1, n_jobs=n_jobs)
    fc = sf.forecast(df=train, h=h)
    sec = {"forecast": time.perf_counter() - t}
    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    ids = list(train["unique_id"].unique())
    ens = fc.assign(ens=fc[["AutoETS", "AutoTheta", "AutoARIMA"]].mean(axis=1)).groupby("unique_id", sort=False)["ens"]
    ens = dict(tuple((k, g.to_numpy()) for k, g in ens))
    pred = np.stack([ens[i][:h] for i in ids])
    scales = np.array([mase_scale(g["y"].to_numpy(float), m) for _, g in train.groupby("unique_id", sort=False)])
    s = score(pred, test_matrix(test, ids, h), scales)
    return {"seconds": sec, **s, "n_series": len(ids)}


def _child(args) -> None:
    """Subprocess entry: run one side on every subset under a memory sampler, print JSON."""
    out = {}
    with PeakMemory() as mem:
        for subset in args.subsets:
            if args.side == "metacompose":
                out[subset] = run_metacompose(subset, args.max_series, args.models, args.n_jobs, args.seed,
                                              args.timesteps, args.resample)
            else:
                out[subset] = run_statsforecast(subset, args.max_series, args.n_jobs, args.seed, args.resample)
    out["_peak_mib"] = mem.peak_mib
    print("RESULT " + json.dumps(out))


def _spawn(args, side: str, subsets, resample=None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--side", side, "--subsets", *subsets, "--n-jobs",
           str(args.n_jobs), "--seed", str(args.seed)] + (["--models", *args.models] if args.models else [])
    if args.max_series:
        cmd += ["--max-series", str(args.max_series)]
    if args.timesteps:
        cmd += ["--timesteps", str(args.timesteps)]
    if resample:
        cmd += ["--resample", str(resample)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - t
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not line:
        raise RuntimeError(f"{side} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    res = json.loads(line[-1][7:])
    res["_wall"] = wall
    return res


def main(argv=None) -> dict:
    """Run the comparison (and the scale curve) and print the tables.

    Args:
        argv: command-line arguments (None: ``sys.argv``).

    Returns:
        ``{"metacompose": ..., "statsforecast": ..., "scale": {N: ...}}``.
    """
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subsets", nargs="+", default=["other", "yearly"])
    ap.add_argument("--max-series", type=int, default=None, help="first N series of each subset")
    ap.add_argument("--models", nargs="+", default=None,
                    help="metacompose pool (default: the main job's, DEFAULT_POOL pruned on the backtest)")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timesteps", type=int, default=None, help="PPO steps (agent default if omitted)")
    ap.add_argument("--scale", nargs="*", type=int, default=[], help="series counts of the scale curve")
    ap.add_argument("--scale-subset", default="yearly")
    ap.add_argument("--skip-compare", action="store_true", help="only the scale curve")
    ap.add_argument("--json", default=None, help="write all results here")
    ap.add_argument("--results", default=None,
                    help="also write the printed tables into the 'speed' section of this file (benchmarks/RESULTS.md)")
    ap.add_argument("--side", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--resample", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.side:
        _child(args)
        return {}
    echo = RunLog()
    lines = echo.lines

    echo(f"machine: {platform.platform()}, {os.cpu_count()} cores, load average {os.getloadavg()}; "
          f"python {platform.python_version()}; n_jobs {args.n_jobs}; seed {args.seed}; pool {args.models or 'DEFAULT_POOL, pruned'}; "
         f"subsets {args.subsets}; max_series {args.max_series}")
    results: dict = {}
    if not args.skip_compare:
        for side in ("metacompose", "statsforecast"):
            results[side] = _spawn(args, side, args.subsets)
        _print_compare(results, args.subsets, echo)
    if args.scale:
        results["scale"] = {}
        echo(f"\nscale curve: metacompose pipeline on N series resampled from M3 {args.scale_subset}")
        echo(f"{'N':>7} {'backtest s':>11} {'agent s':>8} {'forecast s':>10} {'total s':>8} {'ms/series':>10} "
              f"{'peak MiB':>9}")
        for n in args.scale:
            r = _spawn(args, "metacompose", [args.scale_subset], resample=n)
            sec = r[args.scale_subset]["seconds"]
            tot = sum(sec.values())
            results["scale"][n] = {**sec, "total": tot, "peak_mib": r["_peak_mib"]}
            echo(f"{n:>7} {sec['backtest']:>11.1f} {sec['agent']:>8.1f} {sec['forecast']:>10.3f} {tot:>8.1f} "
                 f"{1000 * tot / n:>10.1f} {r['_peak_mib']:>9.0f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    if args.results:
        cmd = "python benchmarks/speed/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
        body = (f"## Speed: metacompose's pipeline against statsforecast's AutoETS + AutoTheta + AutoARIMA\n\n"
                f"Command: `{cmd.strip()}` ({time.strftime('%Y-%m-%d')}). Method and history: "
                f"`benchmarks/speed/RESULTS.md`.\n\n```\n" + "\n".join(lines).strip("\n") + "\n```\n")
        write_section(args.results, "speed", body)
        print(f"wrote the speed section of {args.results}")
    return results


def _print_compare(results: dict, subsets, echo=print) -> None:
    echo(f"\n{'subset':>10} {'side':>14} {'series':>7} {'backtest s':>11} {'agent s':>8} {'forecast s':>10} "
         f"{'total s':>8} {'sMAPE':>7} {'MASE':>6}")
    totals = {}
    for side, res in results.items():
        totals[side] = 0.0
        for subset in subsets:
            r = res[subset]
            sec = r["seconds"]
            tot = sum(sec.values())
            totals[side] += tot
            echo(f"{subset:>10} {side:>14} {r['n_series']:>7} {sec.get('backtest', 0):>11.1f} "
                 f"{sec.get('agent', 0):>8.1f} {sec['forecast']:>10.2f} {tot:>8.1f} {r['sMAPE']:>7.3f} "
                 f"{r['MASE']:>6.3f}")
    mc, sf = results["metacompose"], results["statsforecast"]
    rate = np.mean([mc[s]["ppo_steps_per_s"] for s in subsets])
    echo(f"\ntotal: metacompose {totals['metacompose']:.1f} s (peak {mc['_peak_mib']:.0f} MiB), statsforecast "
         f"{totals['statsforecast']:.1f} s (peak {sf['_peak_mib']:.0f} MiB); ratio metacompose / statsforecast = "
         f"{totals['metacompose'] / totals['statsforecast']:.3f}; PPO training {rate:.0f} steps/s")


if __name__ == "__main__":
    main()
