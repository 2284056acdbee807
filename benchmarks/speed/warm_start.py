"""Warm starts across backtest origins: what they buy and what they cost (issue 17, point 2).

On the first N series of an M3 subset's *training part* (the test part is never read), the
backtest of two members runs twice in one process, one job, one BLAS thread, cold and warm:

* ``--members statistical``: ARIMA and ETS with ``warm_start=False`` (every origin searches and
  estimates afresh) and ``warm_start=True`` (each backtest origin after the first keeps the
  specification chosen at the origin before and starts its optimiser from that origin's
  estimates; :meth:`Forecaster.fit`, ``previous=``);
* ``--members neural``: MLP and LSTM with ``warm_steps=None`` (every origin trains ``steps`` from
  scratch) and ``warm_steps=steps // 4`` (each backtest origin after the first fine-tunes the
  network of the origin before).

It prints the CPU seconds of each backtest (``time.process_time`` of this process: one job, so
every fit runs here, and the figure does not depend on what else the machine runs) and the
wall seconds per model from the run report, the relative difference of the backtest
forecasts (median, 90th, 99th percentile, largest; the final origin is checked to be identical),
and each model's sMAPE over the backtest origins (M3/M4 definition, percent), whose actuals lie
inside the training data.

    python benchmarks/speed/warm_start.py --subset yearly --max-series 200 [--members neural]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from metacompose.backtest import backtest
from metacompose.data import load_m3, validate_frame
from metacompose.metrics import smape
from metacompose.models import ETS, LSTM, MLP, ARIMA


def members(kind: str, m: int, warm: bool) -> list:
    """The two members of ``kind``, cold or warm-started (module docstring)."""
    if kind == "statistical":
        return [ARIMA(m, warm_start=warm), ETS(m, warm_start=warm)]
    return [cls(m, warm_steps=cls(m).steps // 4 if warm else None) for cls in (MLP, LSTM)]


def backtest_smape(cube, j: int) -> float:
    """Mean sMAPE of model ``j`` over the backtest origins with all actuals and forecasts known."""
    act, fc = cube.actuals[:, :-1].astype(float), cube.forecasts[:, :-1, j].astype(float)
    ok = np.isfinite(act).all(-1) & np.isfinite(fc).all(-1)
    return float(smape(act[ok], fc[ok], axis=-1).mean())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", default="yearly", choices=["yearly", "quarterly", "monthly", "other"])
    ap.add_argument("--max-series", type=int, default=200)
    ap.add_argument("--members", default="statistical", choices=["statistical", "neural"])
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    train, _, m, h = load_m3(args.subset, args.max_series)
    panel = validate_frame(train, "unique_id", "ds", "y")
    cubes = {}
    for warm in (False, True):
        t0 = time.process_time()
        with threadpool_limits(1):
            cube, report = backtest(panel.values, members(args.members, m, warm), h, m, ids=panel.ids, n_jobs=1)
        cubes[warm] = cube
        print(f"M3 {args.subset}, {cube.shape[0]} series, warm={warm}: {time.process_time() - t0:6.1f} CPU-s; wall "
              + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items() if k.split(":")[-1] in cube.models),
              flush=True)
    cold, warm = (cubes[k].forecasts.astype(float) for k in (False, True))
    print("final origin identical:", np.array_equal(cold[:, -1], warm[:, -1]))
    rel = np.abs(cold - warm) / np.maximum(np.abs(cold), 1e-9)
    for j, alias in enumerate(cubes[False].models):
        r = rel[:, :-1, j][np.isfinite(rel[:, :-1, j])]
        q = np.percentile(r, [50, 90, 99, 100])
        print(f"  {alias:<6} backtest forecasts, relative difference: median {q[0]:.1e}  p90 {q[1]:.1e}  "
              f"p99 {q[2]:.1e}  max {q[3]:.1e};  backtest sMAPE cold {backtest_smape(cubes[False], j):.3f}  "
              f"warm {backtest_smape(cubes[True], j):.3f}")


if __name__ == "__main__":
    main()
