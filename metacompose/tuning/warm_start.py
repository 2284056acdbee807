"""Warm starts of a hyperparameter search from earlier tuning results (a :class:`TuningStore`).

Both give the first trials of a new search, points of its space, best first:

* **metric-based** (:func:`metric_warm_start`): the ``k`` earlier panels nearest to the new one
  by the Euclidean distance between their panel features, each feature standardised over the
  store, give their best configurations (round-robin: each panel's best, then each one's second
  best, ...). Feurer, Springenberg & Hutter (2015, "Initializing Bayesian hyperparameter
  optimization via meta-learning", AAAI).
* **model-based** (:func:`model_warm_start`): a meta-model learns, from every stored trial,
  ``(panel features, configuration) -> rank of the configuration within its panel``
  (0 = that panel's best, 1 = its worst); it ranks random points of the space (and the stored
  configurations) for the new panel's features, and the best-ranked are tried first. The
  meta-model is LightGBM's gradient-boosted trees (Ke et al. 2017), as in FFORMA; the idea of a
  surrogate over meta-features and configurations follows Wistuba, Schilling & Schmidt-Thieme
  (2016, "Two-stage transfer surrogate model for automatic hyperparameter optimization").

Only configurations inside the new space are returned (stored points of another space are
skipped); both raise :class:`~metacompose.errors.InputError` when the store holds no entry for
the model and metric.
"""

from __future__ import annotations

from typing import Any, Mapping

import lightgbm as lgb
import numpy as np
from optuna.distributions import BaseDistribution

from metacompose.errors import InputError
from metacompose.tuning.space import encode, in_space, sample
from metacompose.tuning.store import TuningStore

__all__ = ["WARM_STARTS", "metric_warm_start", "model_warm_start", "warm_start_points"]

WARM_STARTS = ("metric", "model")
"""The warm starts :func:`metacompose.tuning.tune` accepts."""


def _entries(store: TuningStore, model: str, metric: str, features: np.ndarray) -> list[dict]:
    entries = store.select(model, metric, n_features=features.shape[0])
    if not entries:
        raise InputError(f"the tuning store holds no earlier tuning of {model} scored by {metric} "
                         f"(with {features.shape[0]} panel features); tune cold first, with store=")
    return entries


def _standardised(rows: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(P, F)`` and a point ``(F,)`` centred and divided by the rows' spread per feature."""
    mu, sd = rows.mean(axis=0), rows.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    return (rows - mu) / sd, (x - mu) / sd


def _unique(points, space, n: int) -> list[dict]:
    out: list[dict] = []
    for p in points:
        if len(out) == n:
            break
        if in_space(space, p) and p not in out:
            out.append(dict(p))
    return out


def metric_warm_start(store: TuningStore, model: str, metric: str, features: np.ndarray,
                      space: Mapping[str, BaseDistribution], n: int, k: int = 3) -> list[dict[str, Any]]:
    """Best configurations of the ``k`` stored panels nearest to ``features`` (module notes).

    Args:
        store: earlier results; model: alias; metric: the backtest metric;
        features: the new panel's features ``(F,)``; space: the new search space;
        n: at most this many points; k: nearest panels.

    Returns:
        up to ``n`` distinct points of ``space``, nearest panel's best first.

    Raises:
        InputError: no stored entry for ``model`` and ``metric`` with ``F`` features, or ``k < 1``.
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    features = np.asarray(features, dtype=np.float64)
    entries = _entries(store, model, metric, features)
    rows, x = _standardised(np.array([e["features"] for e in entries]), features)
    near = np.argsort(np.linalg.norm(rows - x, axis=1), kind="stable")[:k]
    ranked = [sorted(entries[i]["trials"], key=lambda t: t["value"]) for i in near]
    depth = max(len(r) for r in ranked)
    points = [r[j]["params"] for j in range(depth) for r in ranked if j < len(r)]
    return _unique(points, space, n)


def _training_rows(entries: list[dict], space) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: panel features beside each encoded configuration, and its rank in its panel in [0, 1]."""
    X, y = [], []
    for e in entries:
        trials = [t for t in e["trials"] if in_space(space, t["params"])]
        if len(trials) < 2:
            continue
        values = np.array([t["value"] for t in trials])
        ranks = np.argsort(np.argsort(values, kind="stable"), kind="stable") / (len(trials) - 1)
        for t, r in zip(trials, ranks):
            X.append(np.concatenate([e["features"], encode(space, t["params"])]))
            y.append(r)
    return np.array(X), np.array(y)


def model_warm_start(store: TuningStore, model: str, metric: str, features: np.ndarray,
                     space: Mapping[str, BaseDistribution], n: int, seed: int = 0,
                     candidates: int = 2000) -> list[dict[str, Any]]:
    """The configurations a meta-model ranks best for ``features`` (module notes).

    Args:
        store, model, metric, features, space, n: as :func:`metric_warm_start`;
        seed: seed of the meta-model and of the random candidates;
        candidates: random points of ``space`` ranked beside the stored configurations.

    Returns:
        up to ``n`` distinct points of ``space``, best predicted rank first.

    Raises:
        InputError: no stored entry for ``model`` and ``metric``, or fewer than 10 stored trials
            inside ``space`` (too few to learn from; use the metric-based warm start).
    """
    features = np.asarray(features, dtype=np.float64)
    X, y = _training_rows(_entries(store, model, metric, features), space)
    if X.shape[0] < 10:
        raise InputError(f"the model-based warm start needs at least 10 stored trials of {model} inside this "
                         f"space, the store has {X.shape[0]}; use warm_start='metric'")
    meta = lgb.LGBMRegressor(n_estimators=200, learning_rate=0.05, num_leaves=8, min_child_samples=5,
                             subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed,
                             deterministic=True, n_jobs=1, verbose=-1)
    meta.fit(X, y)
    rng = np.random.default_rng(seed)
    stored = [t["params"] for e in store.select(model, metric) for t in e["trials"] if in_space(space, t["params"])]
    points = stored + [sample(space, rng) for _ in range(candidates)]
    grid = np.array([np.concatenate([features, encode(space, p)]) for p in points])
    order = np.argsort(meta.predict(grid), kind="stable")
    return _unique([points[i] for i in order], space, n)


def warm_start_points(kind: str | None, store: TuningStore | None, model: str, metric: str, features: np.ndarray,
                      space: Mapping[str, BaseDistribution], n: int, k: int, seed: int) -> list[dict[str, Any]]:
    """The first trials of a search for the warm start ``kind`` (None: no warm start, an empty list).

    Raises:
        InputError: an unknown ``kind``, a warm start without a store, or as the warm start raises.
    """
    if kind is None:
        return []
    if kind not in WARM_STARTS:
        raise InputError(f"warm_start must be None, 'metric' or 'model', got {kind!r}")
    if store is None:
        raise InputError(f"warm_start={kind!r} needs store= (earlier tuning results, a TuningStore)")
    if kind == "metric":
        return metric_warm_start(store, model, metric, features, space, n, k)
    return model_warm_start(store, model, metric, features, space, n, seed)
