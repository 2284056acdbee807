"""Past one machine, measured: the backtest on local joblib processes and on a Dask LocalCluster, side by side.

In one run, on the first ``--max-series`` series of an M3 subset and the default pool
(``build_pool(DEFAULT_POOL, m)``; ``--pool`` for another), with no cache, it times
``metacompose.backtest.backtest`` on:

* (a) local joblib processes (loky), ``n_jobs=--workers``, ``backend=None``;
* (b) a Dask ``distributed.LocalCluster(n_workers=--workers, threads_per_worker=1,
  processes=True)`` with a ``Client``, ``backend="dask"``;
* (c) with ``--one-worker``: the same LocalCluster with one worker (the serial baseline
  through the same machinery).

For each it prints the seconds to start the cluster (a's worker processes start inside its
backtest), the backtest's wall seconds, seconds per series, the wall seconds spent inside
the tasks (``report.seconds``: the chunk tasks plus the panel fits) and their share of
``wall x workers``, the peak resident memory of this process and all its children (sampled every 0.1 s with
psutil; shared pages counted once per process), and whether the forecasts equal (a)'s,
``np.array_equal(..., equal_nan=True)``. ``--results FILE`` writes the printed lines into the
section "cluster" of FILE (``benchmarks/speed/RESULTS.md``), keeping its other sections.

Usage::

    python benchmarks/speed/cluster.py                      # defaults: M3 other, 64 series, 2 workers
    python benchmarks/speed/cluster.py --max-series 200 --one-worker --results benchmarks/speed/RESULTS.md
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_file import RunLog, write_section  # noqa: E402  (benchmarks/results_file.py)
from run import PeakMemory  # noqa: E402  (benchmarks/speed/run.py, this script's folder)


def _run(label: str, workers: int, dask: bool, data: tuple) -> dict:
    """One configuration: start (for Dask) a LocalCluster, backtest, stop it; seconds, memory, cube."""
    from metacompose.backtest import backtest

    ys, pool, h, m, ids = data
    with PeakMemory() as mem, contextlib.ExitStack() as stack:
        t0 = time.perf_counter()
        if dask:
            import distributed

            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40))
            stack.enter_context(distributed.Client(cluster))
        start = time.perf_counter() - t0
        t1 = time.perf_counter()
        cube, report = backtest(ys, pool, h, m, ids=ids, n_jobs=-1 if dask else workers,
                                backend="dask" if dask else None)
        wall = time.perf_counter() - t1
        if not dask:  # stop joblib's reusable loky workers, so the next configuration's memory is its own
            from joblib.externals.loky import get_reusable_executor

            get_reusable_executor().shutdown(wait=True)
    busy = sum(v for k, v in report.seconds.items() if k == "per-series models" or k.startswith("panel:"))
    return {"label": label, "workers": workers, "start": start if dask else None, "wall": wall, "busy": busy,
            "peak": mem.peak_mib, "forecasts": cube.forecasts, "fallbacks": report.n_fallbacks}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--subset", default="other", help="M3 subset (default: other)")
    ap.add_argument("--max-series", type=int, default=64,
                    help="first N series of the subset (default 64: two chunks of 32 series, one per worker; "
                         "(a) and (b) take about 4 minutes together on 2 shared cores)")
    ap.add_argument("--pool", nargs="+", default=None, help="model names (default: DEFAULT_POOL)")
    ap.add_argument("--workers", type=int, default=2, help="joblib n_jobs of (a), Dask workers of (b) (default 2)")
    ap.add_argument("--one-worker", action="store_true", help="add (c): a LocalCluster with one worker")
    ap.add_argument("--results", default=None,
                    help="also write the printed lines into the 'cluster' section of this file "
                         "(benchmarks/speed/RESULTS.md)")
    args = ap.parse_args(argv)

    import dask
    import distributed
    import joblib

    from metacompose.data import load_m3, validate_frame
    from metacompose.models import DEFAULT_POOL, build_pool

    echo = RunLog()
    train, _, m, h = load_m3(args.subset, args.max_series)
    panel = validate_frame(train, "unique_id", "ds", "y")
    names = list(args.pool or DEFAULT_POOL)
    data = (panel.values, build_pool(names, m), h, m, panel.ids)
    n = len(panel.ids)
    echo(f"machine: {platform.platform()}, {os.cpu_count()} cores (shared), load average "
         f"{tuple(round(x, 2) for x in os.getloadavg())}; python {platform.python_version()}, joblib "
         f"{joblib.__version__}, dask {dask.__version__}, distributed {distributed.__version__}")
    echo(f"data: M3 {args.subset}, first {n} series, h={h}, m={m}; pool {names}; backtest defaults "
         "(5 origins + final), no cache")
    configs = [(f"(a) joblib loky, n_jobs={args.workers}", args.workers, False),
               (f"(b) dask LocalCluster {args.workers}x1 proc", args.workers, True)]
    if args.one_worker:
        configs.append(("(c) dask LocalCluster 1x1 proc", 1, True))
    rows = []
    for label, workers, is_dask in configs:
        rows.append(_run(label, workers, is_dask, data))
    ref = rows[0]["forecasts"]
    echo("")
    echo(f"{'configuration':<34} {'start s':>8} {'backtest s':>11} {'s/series':>9} {'task s':>8} {'use %':>6} "
         f"{'peak MiB':>9} {'= (a)':>6}")
    for r in rows:
        start = "-" if r["start"] is None else f"{r['start']:.1f}"
        same = np.array_equal(r["forecasts"], ref, equal_nan=True)
        use = 100 * r["busy"] / (r["wall"] * r["workers"])
        echo(f"{r['label']:<34} {start:>8} {r['wall']:>11.1f} {r['wall'] / n:>9.3f} {r['busy']:>8.1f} {use:>6.0f} "
             f"{r['peak']:>9.0f} {str(same):>6}")
    echo("")
    echo("start s: LocalCluster + Client start-up (for (a) the loky workers start inside the backtest);")
    echo("task s: wall seconds inside the tasks (chunks of series + panel fits); "
         "use %: task s / (backtest s x workers)")
    echo(f"load average at the end {tuple(round(x, 2) for x in os.getloadavg())}")
    if args.results:
        cmd = "python benchmarks/speed/cluster.py " + " ".join(sys.argv[1:] if argv is None else argv)
        body = (f"Command: `{cmd.strip()}` ({time.strftime('%Y-%m-%d')}).\n\n```\n"
                + "\n".join(echo.lines).strip("\n") + "\n```\n")
        write_section(args.results, "cluster", body)
        print(f"wrote the cluster section of {args.results}")
    return rows


if __name__ == "__main__":
    main()
