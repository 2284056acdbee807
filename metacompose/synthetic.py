"""A synthetic :class:`~metacompose.cube.ForecastCube` whose best model is observable.

Used by the tests and the documentation: composition agents should learn to put their
weight on the model that an observable series feature points to. No base model is fitted;
the "forecasts" are the true future values plus model-specific noise, so building a cube
takes milliseconds.

Construction (per series ``s``):

* a random-walk series with drift, a level drawn over several orders of magnitude (so
  anything that is not scale-free shows), and a seasonal pattern when ``season_length > 1``;
* ``best_model[s]`` is drawn uniformly among the first ``n_best`` models; feature 0,
  ``"best_model_hint"``, encodes it as ``-1 + 2 * best / (n_best - 1)`` (so ``-1, 0, 1`` for
  three candidates) at every origin of the series;
* the forecast of model ``j`` at an origin is the true future plus noise in units of the
  series' MASE scale at that origin: standard deviation ``good_noise`` for the best model,
  ``bad_noise`` (and a per-series bias) for every other one, growing with the horizon step;
* a few forecasts are marked ``failed`` and replaced by a naive fallback forecast;
* ``short_fraction`` of the series lack their first origins (``origins == -1``);
* the final origin (index ``O - 1``) has unknown (NaN) actuals, as in a real run.

``cube.meta["best_model"]`` holds the index of each series' accurate model.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from metacompose.cube import ForecastCube
from metacompose.errors import InputError
from metacompose.metrics import mase_scale

SYNTHETIC_FEATURE_NAMES: list[str] = ["best_model_hint", "distractor", "log_length"]


def make_synthetic_cube(
    n_series: int = 64,
    n_origins: int = 10,
    n_models: int = 4,
    horizon: int = 6,
    seed: int = 0,
    *,
    season_length: int = 1,
    step: int | None = None,
    n_best: int | None = None,
    good_noise: float = 0.3,
    bad_noise: float = 1.5,
    short_fraction: float = 0.1,
    failed_fraction: float = 0.02,
    min_train: int = 24,
) -> ForecastCube:
    """Build a synthetic cube in which feature 0 tells which model is accurate.

    Args:
        n_series: number of series ``S`` (>= 1).
        n_origins: number of origins ``O`` (>= 2), the last being the final origin.
        n_models: pool size ``M`` (>= 2).
        horizon: forecast horizon ``H`` (>= 1).
        seed: seed of the random generator; equal arguments give identical cubes.
        season_length: seasonal period ``m``; ``> 1`` adds a seasonal pattern.
        step: observations between consecutive origins; default ``max(1, horizon // 2)``,
            so a forecast's later steps are still unknown at the next origin.
        n_best: how many models can be a series' accurate one (default ``min(3, M)``);
            the others are always noisy.
        good_noise: noise of the accurate model, in MASE units.
        bad_noise: noise of the other models, in MASE units.
        short_fraction: share of series whose first origins are missing (``-1``).
        failed_fraction: share of (series, origin, model) forecasts marked as failed and
            replaced by a naive fallback.
        min_train: observations before the first origin of a full-length series.

    Returns:
        A :class:`ForecastCube` of shape ``(S, O, M, H)`` with ``F = 3`` features
        (``SYNTHETIC_FEATURE_NAMES``) and ``meta["best_model"]``, a list of ``S`` model indices.

    Raises:
        InputError: an argument is out of range.
    """
    S, O, M, H = int(n_series), int(n_origins), int(n_models), int(horizon)
    if S < 1 or O < 2 or M < 2 or H < 1:
        raise InputError(f"need n_series >= 1, n_origins >= 2, n_models >= 2, horizon >= 1; got {S}, {O}, {M}, {H}")
    m = max(1, int(season_length))
    step = max(1, H // 2) if step is None else int(step)
    n_best = min(3, M) if n_best is None else int(n_best)
    if step < 1 or not 1 <= n_best <= M or min_train < 2:
        raise InputError("step must be >= 1, n_best in [1, n_models] and min_train >= 2")
    rng = np.random.default_rng(seed)
    arrays = {
        "forecasts": np.full((S, O, M, H), np.nan, dtype=np.float32),
        "actuals": np.full((S, O, H), np.nan, dtype=np.float32),
        "scales": np.ones(S, dtype=np.float32),
        "origin_scales": np.full((S, O), np.nan, dtype=np.float32),
        "origins": np.full((S, O), -1, dtype=np.int64),
        "features": np.zeros((S, O, len(SYNTHETIC_FEATURE_NAMES)), dtype=np.float32),
        "failed": np.zeros((S, O, M), dtype=bool),
    }
    best = rng.integers(0, n_best, size=S)
    hint = np.zeros(S) if n_best == 1 else -1.0 + 2.0 * best / (n_best - 1)
    spec = _Spec(m, step, min_train, short_fraction, good_noise, bad_noise, failed_fraction)
    for s in range(S):
        _fill_series(arrays, s, rng, int(best[s]), float(hint[s]), spec)
    return ForecastCube(
        **arrays, series_ids=[f"syn{s:04d}" for s in range(S)], models=[f"model{j}" for j in range(M)],
        feature_names=list(SYNTHETIC_FEATURE_NAMES), season_length=m, horizon=H,
        meta={"generator": "metacompose.synthetic.make_synthetic_cube", "seed": int(seed),
              "best_model": [int(b) for b in best], "hint_feature": 0, "n_best": n_best},
    )


class _Spec(NamedTuple):
    """The per-series settings of :func:`make_synthetic_cube`."""

    m: int
    step: int
    min_train: int
    short_fraction: float
    good_noise: float
    bad_noise: float
    failed_fraction: float


def _fill_series(arrays: dict[str, np.ndarray], s: int, rng: np.random.Generator, best: int, hint: float,
                 spec: _Spec) -> None:
    """Draw series ``s`` and write its origins, actuals, forecasts, failures and features into ``arrays``."""
    _, O, M, H = arrays["forecasts"].shape
    growth = np.sqrt(1.0 + np.arange(H) / H)  # errors grow with the horizon step
    n_missing = int(rng.integers(1, max(2, O // 2))) if rng.random() < spec.short_fraction else 0
    n_train = spec.min_train + (O - 1 - n_missing) * spec.step
    t = np.arange(n_train + H)
    level = float(np.exp(rng.normal(3.0, 2.0)))
    sigma = 0.05 * level
    y = level + sigma * np.cumsum(rng.normal(rng.normal(0.0, 0.3), 1.0, size=t.shape[0]))
    if spec.m > 1:
        y = y + 3.0 * sigma * np.sin(2.0 * np.pi * t / spec.m + rng.uniform(0, 2 * np.pi))
    arrays["scales"][s] = mase_scale(y[:n_train], spec.m)
    bias = np.where(np.arange(M) == best, rng.normal(0.0, 0.2, M), rng.normal(0.0, 1.0, M))
    noise = np.where(np.arange(M) == best, spec.good_noise, spec.bad_noise)
    for k in range(n_missing, O):
        o = spec.min_train + (k - n_missing) * spec.step
        arrays["origins"][s, k] = o
        sc = mase_scale(y[:o], spec.m)
        arrays["origin_scales"][s, k] = sc
        truth = y[o:o + H]
        if k < O - 1:
            arrays["actuals"][s, k] = truth
        err = noise[:, None] * sc * (bias[:, None] + rng.normal(size=(M, H))) * growth[None, :]
        fc = truth[None, :] + err
        fail = rng.random(M) < spec.failed_fraction
        fc[fail] = y[o - 1]
        arrays["failed"][s, k] = fail
        arrays["forecasts"][s, k] = fc
        arrays["features"][s, k] = (hint, rng.uniform(-1.0, 1.0), min(1.0, np.log1p(o) / np.log(1000.0)))
