"""Warm starts across backtest origins: what they buy and what they cost (issue 17, point 2).

On the first N series of an M3 subset's *training part* (the test part is never read), the
backtest of ARIMA and ETS runs twice in one process, one job, one BLAS thread: with
``warm_start=False`` (every origin searches and estimates afresh, the default) and with
``warm_start=True`` (each backtest origin after the first keeps the specification chosen at the
origin before and starts its optimiser from that origin's estimates; :meth:`Forecaster.fit`,
``previous=``). It prints the seconds per model, the relative difference of the backtest
forecasts (median, 90th, 99th percentile, largest; the final origin is checked to be identical),
and each model's sMAPE over the backtest origins (M3/M4 definition, percent), whose actuals lie
inside the training data.

    python benchmarks/speed/warm_start.py --subset yearly --max-series 200
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
from metacompose.models.arima import ARIMA
from metacompose.models.statistical import ETS


def backtest_smape(cube, j: int) -> float:
    """Mean sMAPE of model ``j`` over the backtest origins with all actuals and forecasts known."""
    act, fc = cube.actuals[:, :-1].astype(float), cube.forecasts[:, :-1, j].astype(float)
    ok = np.isfinite(act).all(-1) & np.isfinite(fc).all(-1)
    return float(smape(act[ok], fc[ok], axis=-1).mean())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", default="yearly", choices=["yearly", "quarterly", "monthly", "other"])
    ap.add_argument("--max-series", type=int, default=200)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    train, _, m, h = load_m3(args.subset, args.max_series)
    panel = validate_frame(train, "unique_id", "ds", "y")
    cubes = {}
    for warm in (False, True):
        t0 = time.perf_counter()
        with threadpool_limits(1):
            cube, report = backtest(panel.values, [ARIMA(m, warm_start=warm), ETS(m, warm_start=warm)], h, m,
                                    ids=panel.ids, n_jobs=1)
        cubes[warm] = cube
        print(f"M3 {args.subset}, {cube.shape[0]} series, warm_start={warm}: {time.perf_counter() - t0:6.1f} s; "
              + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items() if k in cube.models), flush=True)
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
