"""Which pool procedure to use by default, judged on the M3 training parts only.

Compares three ways to choose the pool, on the backtest cubes that ``benchmarks/m3/run.py``
saved (models that run's pool selection dropped are backtested again here, so every cube
holds all of ``DEFAULT_POOL``):

* ``fixed``: ARIMA, ETS, Theta, MLP, LSTM, SeasonalNaive, never pruned;
* ``m-rule``: the same, with Drift in place of SeasonalNaive when ``m = 1``;
* ``selected``: :func:`metacompose.pool_selection.select_pool` on all of ``DEFAULT_POOL``.

Nested validation inside the training data, on the PPO agent's own split
(:func:`metacompose.history.validation_split`): the last backtest origin (the
validation origin) is hidden, with every origin whose horizon reaches past it; each procedure
chooses its pool on what is left, and the equal-weight mean of that pool is scored on the validation origin. The
M3 test part is not read. The rule, fixed before the first run: the lowest MASE, weighted by
series x horizon over the subsets, wins; within 0.1 % of a simpler procedure (``fixed``, then
``m-rule``) the simpler one wins.

    python benchmarks/m3/pool_check.py [--out benchmarks/m3/out] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import replace

import numpy as np

from metacompose.history import validation_split
from metacompose.backtest import backtest
from metacompose.cube import ForecastCube
from metacompose.data import load_m3, validate_frame
from metacompose.models import DEFAULT_POOL, build_pool
from metacompose.metrics import mase, smape
from metacompose.pool_selection import select_pool

SUBSETS = ["yearly", "quarterly", "monthly", "other"]
FIXED = ["ARIMA", "ETS", "Theta", "MLP", "LSTM", "SeasonalNaive"]


def full_cube(path: str, subset: str, n_jobs: int) -> ForecastCube:
    """The saved cube, completed with a backtest of the ``DEFAULT_POOL`` models it lacks."""
    cube = ForecastCube.load(path)
    missing = [a for a in DEFAULT_POOL if a not in cube.models]
    if not missing:
        return cube.take_models(DEFAULT_POOL)
    train, _, m, h = load_m3(subset)  # the test part is not used
    panel = validate_frame(train, "unique_id", "ds", "y")
    extra, _ = backtest(panel.values, build_pool(missing, m), h, m, ids=panel.ids, n_jobs=n_jobs)
    if list(extra.series_ids) != list(cube.series_ids) or not np.array_equal(extra.origins, cube.origins):
        raise RuntimeError(f"{subset}: the new backtest's origins differ from the saved cube's")
    models = list(cube.models) + missing
    order = [models.index(a) for a in DEFAULT_POOL]
    fc = np.concatenate([cube.forecasts, extra.forecasts], axis=2)[:, :, order]
    failed = np.concatenate([cube.failed, extra.failed], axis=2)[:, :, order]
    return replace(cube, forecasts=fc, failed=failed, models=list(DEFAULT_POOL))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="benchmarks/m3/out")
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    totals = {"fixed": [0.0, 0], "m-rule": [0.0, 0], "selected": [0.0, 0]}
    for subset in SUBSETS:
        cube = full_cube(f"{args.out}/cube_{subset}", subset, args.n_jobs)
        # the agent's own validation split: backtest origins that end by the validation origin
        sub, actual, mask = validation_split(cube)
        pools = {"fixed": FIXED, "m-rule": FIXED if cube.season_length > 1 else FIXED[:-1] + ["Drift"],
                 "selected": select_pool(sub).models}
        print(f"{subset} (validation origin, equal-weight mean of the chosen pool):")
        for name, pool in pools.items():
            idx = [cube.models.index(a) for a in pool]
            mean = sub.forecasts[mask, -1][:, idx].astype(np.float64).mean(axis=1)   # (S', H)
            err_mase = mase(actual[mask], mean, cube.scales[mask, None].astype(np.float64), axis=1)
            err_smape = smape(actual[mask], mean, axis=1)
            totals[name][0] += float(err_mase.mean()) * mask.sum() * cube.horizon
            totals[name][1] += int(mask.sum()) * cube.horizon
            print(f"  {name:9s} MASE {err_mase.mean():.4f}  sMAPE {err_smape.mean():.2f}  pool {', '.join(pool)}")
    score = {k: a / n for k, (a, n) in totals.items()}
    print("all (series x horizon weighted) MASE: " + ", ".join(f"{k} {v:.4f}" for k, v in score.items()))
    winner = min(score, key=score.get)
    for simpler in ("fixed", "m-rule"):
        if simpler != winner and score[simpler] <= score[winner] * 1.001:
            winner = simpler
            break
    print(f"chosen by the rule: {winner}")


if __name__ == "__main__":
    main()
