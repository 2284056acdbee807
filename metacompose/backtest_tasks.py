"""The backtest's units of work, run by joblib workers (locally or on a cluster).

Four kinds of task, all plain module-level functions so that any joblib backend can ship
them by reference: :func:`series_chunk` (the per-series models on a chunk of series, at
every origin), :func:`panel_fit` (one panel model on all series at one origin),
:func:`panel_chain` (a warm-started panel model at its backtest origins, in time order) and
:func:`feature_chunk` (a library feature set on a chunk of series, at every origin). Each
returns its result with the seconds of compute it took. A failure never leaves a task:
:func:`fit_predict` walks the model's fallback chain and records the first failure's
:class:`~metacompose.report.FailureKind`.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from metacompose.errors import ForecastError
from metacompose.feature_sets import origin_features
from metacompose.features import FEATURE_NAMES, series_features
from metacompose.metrics import mase_scale
from metacompose.models import Forecaster, PanelForecaster, get_model
from metacompose.models.training import training_budget
from metacompose.report import FailureKind
from metacompose.timeout import run_with_timeout

MAX_MESSAGES = 20  # failure messages kept per task and per report
FALLBACK_DEPTH = 4  # models tried along a fallback chain before the last value is repeated


def fit_predict(model: Forecaster, y: np.ndarray, h: int, m: int, timeout: float | None = None,
                previous: Forecaster | None = None) -> tuple[np.ndarray, str | None, FailureKind, Forecaster | None]:
    """Forecast ``h`` steps of ``y`` with ``model``, walking its fallback chain on failure.

    Args:
        model: the forecaster (cloned before fitting, never changed).
        y: the series up to the origin, float64 ``(t,)``.
        h: horizon; m: season length (for the fallback models).
        timeout: seconds one fit-and-predict may take (None: no limit).
        previous: ``model`` fitted on a prefix of ``y`` (a warm start, :meth:`Forecaster.fit`), or None.
            Used by ``model`` only; a fallback fits from scratch.

    Returns:
        ``(forecast (h,), first error message or None, kind of the first failure or NONE, the fitted
        clone of model, or None when a fallback forecast instead)``. When the whole chain fails the
        forecast repeats the last value of ``y``.
    """
    err, kind = None, FailureKind.NONE
    current = model
    for _ in range(FALLBACK_DEPTH):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = current.clone()
                warm = previous if current is model else None
                # previous= only when there is one: a plug-in's own fit may not take it
                fit = (lambda: est.fit(y)) if warm is None else (lambda: est.fit(y, previous=warm))
                out = run_with_timeout(lambda: fit().predict(h), timeout)
            if not np.all(np.abs(out) < np.finfo(np.float32).max):
                raise ForecastError(f"{current.alias} forecast values beyond the float32 range of the cube")
            return out, err, kind, (est if current is model else None)
        except Exception as exc:  # any failure of a plug-in falls back, by contract
            if err is None:
                err, kind = f"{type(exc).__name__}: {exc}", FailureKind.of(exc)
            if current.fallback is None:
                break
            current = get_model(current.fallback, m)
    return np.full(h, float(y[-1])), err or "fallback chain exhausted", kind or FailureKind.ERROR, None


def series_chunk(ys: list, ids: list, origins: np.ndarray, models: list, h: int, m: int,
                 timeout: float | None = None) -> tuple[tuple, float]:
    """Per-series work for one chunk: forecasts of the non-panel models, failure kinds, features, scales.

    Args:
        ys: ``S`` series (float64 ``(t_i,)``); ids: their ids (for messages).
        origins: int64 ``(S, O)``; an origin below 1 is skipped.
        models: the ``M`` per-series forecasters; h: horizon; m: season length.
        timeout: seconds per fit-and-predict (None: no limit).

    Returns:
        ``((forecasts (S, O, M, h) float32, kind codes (S, O, M) int8, features (S, O, F) float32,
        origin scales (S, O) float32, up to 20 messages), seconds)``; ``seconds`` maps each model's
        alias to the seconds its fits took, and ``"per-series models"`` to the whole task's.
    """
    t0 = time.perf_counter()
    S, O, M, F = len(ys), origins.shape[1], len(models), len(FEATURE_NAMES)
    fc = np.full((S, O, M, h), np.nan, dtype=np.float32)
    kinds = np.zeros((S, O, M), dtype=np.int8)
    feats = np.zeros((S, O, F), dtype=np.float32)
    oscale = np.ones((S, O), dtype=np.float32)
    msgs, spent = [], np.zeros(M)
    with threadpool_limits(1):  # small per-series fits: one BLAS thread each, as in joblib's worker processes
        _fill_chunk(ys, ids, origins, models, h, m, timeout, (fc, kinds, feats, oscale, msgs, spent))
    seconds = {"per-series models": time.perf_counter() - t0, **{mod.alias: float(s) for mod, s in zip(models, spent)}}
    return (fc, kinds, feats, oscale, np.array(msgs, dtype=str)), seconds


def _fill_chunk(ys: list, ids: list, origins: np.ndarray, models: list, h: int, m: int, timeout: float | None,
                out: tuple) -> None:
    """Fill :func:`series_chunk`'s arrays ``out = (forecasts, kinds, features, scales, messages, seconds per
    model)`` in place.

    Origins run oldest first. At each backtest origin after the first, a model with
    :attr:`~metacompose.models.base.Forecaster.warm_starts` starts from its own fit at the origin before
    (``previous=``, :meth:`Forecaster.fit`):
    that fit saw a shorter prefix of the same series, so nothing after the current origin is used. The
    first backtest origin and the final origin (the forecast users get) fit from scratch.
    """
    fc, kinds, feats, oscale, msgs, spent = out
    O = origins.shape[1]
    for i, y in enumerate(ys):
        fitted = [None] * len(models)  # each model's fit at the origin before
        for k in range(O):
            o = int(origins[i, k])
            if o < 1:
                continue
            prefix = y[:o]
            oscale[i, k] = mase_scale(prefix, m)
            feats[i, k] = series_features(prefix, m, float(oscale[i, k]))
            for j, model in enumerate(models):
                t0 = time.perf_counter()
                warm = fitted[j] if k < O - 1 else None
                fc[i, k, j], err, kinds[i, k, j], est = fit_predict(model, prefix, h, m, timeout, warm)
                fitted[j] = est if model.warm_starts else None  # kept only for a model that reuses it
                spent[j] += time.perf_counter() - t0
                if err is not None and len(msgs) < MAX_MESSAGES:
                    msgs.append(f"{model.alias} @ series {ids[i]}, origin {o}: {err}"[:300])


def panel_fit(model: PanelForecaster, prefixes: list, h: int, timeout: float | None,
              train_seconds: float | None = None) -> tuple[tuple, float]:
    """Fit ``model`` on all ``prefixes`` (one origin) and forecast ``h`` steps.

    Args:
        model: the panel forecaster (cloned before fitting); prefixes: ``R`` series up to the
        origin; h: horizon; timeout: seconds for fit and predict together (None: no limit);
        train_seconds: CPU seconds its network training may take before it is cut short
        (:func:`metacompose.models.training.training_budget`; None: no limit).

    Returns:
        ``((forecasts (R, h) float64, kind code for the rows that are not finite, error message
        or None, (steps done, steps asked) of a training cut short or None), seconds of compute)``;
        when the fit fails every row is NaN and the code is that failure's kind.
    """
    out, seconds, _ = _panel_fit(model, prefixes, h, timeout, train_seconds, None)
    return out, seconds


def panel_chain(model: PanelForecaster, prefix_lists: list, h: int, timeout: float | None,
                train_seconds: float | None = None) -> tuple[list, list]:
    """:func:`panel_fit` at several origins in time order, each fit warm-started from the one before.

    For a model with :attr:`~metacompose.models.base.Forecaster.warm_starts`: the fit at each
    origin gets the fit at the origin before as ``previous`` (none after a failure); every series
    that fit saw ends at the earlier origin, so nothing after the current origin is used.

    Args:
        prefix_lists: per origin, oldest first, the series up to that origin; the others as
            :func:`panel_fit`.

    Returns:
        ``(results, seconds)``: :func:`panel_fit`'s result and seconds per origin, in order.
    """
    results, seconds, previous = [], [], None
    for prefixes in prefix_lists:
        out, secs, previous = _panel_fit(model, prefixes, h, timeout, train_seconds, previous)
        results.append(out)
        seconds.append(secs)
    return results, seconds


def _panel_fit(model: PanelForecaster, prefixes: list, h: int, timeout: float | None,
               train_seconds: float | None, previous: PanelForecaster | None) -> tuple[tuple, float, PanelForecaster | None]:
    """:func:`panel_fit` with a warm start; also returns the fitted clone (None when the fit failed)."""
    t0 = time.perf_counter()
    cut, est = None, None
    try:
        with warnings.catch_warnings(), training_budget(train_seconds) as budget:
            warnings.simplefilter("ignore")
            est = model.clone()
            fit = (lambda: est.fit_panel(prefixes)) if previous is None else (
                lambda: est.fit_panel(prefixes, previous=previous))  # a plug-in's fit_panel may not take it
            pred = np.asarray(run_with_timeout(lambda: fit().predict_panel(h), timeout), float)
        cut = budget.cut[0] if budget is not None and budget.cut else None
        out = pred, FailureKind.NON_FINITE, None, cut
    except Exception as exc:
        est = None
        out = np.full((len(prefixes), h), np.nan), FailureKind.of(exc), f"{type(exc).__name__}: {exc}", cut
    return out, time.perf_counter() - t0, est


def feature_chunk(ys: list, origins: np.ndarray, m: int, feature_set: str) -> tuple[np.ndarray, float]:
    """The features of set ``feature_set`` for one chunk of series at every origin, each from ``y[:origin]``.

    Args:
        ys: ``S`` series (float64 ``(t_i,)``); origins: int64 ``(S, O)``, an origin below 1 is
        skipped (zeros); m: season length; feature_set: a name of
        :data:`metacompose.feature_sets.FEATURE_SETS`.

    Returns:
        ``(features float32 (S, O, F) in [-1, 1], seconds)``.

    Raises:
        InputError: unknown feature set, or its library is not installed.
    """
    t0 = time.perf_counter()
    with threadpool_limits(1):
        feats = np.stack([origin_features(y, origins[i], m, feature_set) for i, y in enumerate(ys)])
    return feats, time.perf_counter() - t0
