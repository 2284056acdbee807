"""Conformance check that every forecaster, built-in or plugged in, must pass.

Usage in a test suite::

    from metacompose.testing import check_forecaster
    check_forecaster(MyModel(season_length=12))

Part of the check is :func:`check_magnitudes`: the forecasts must not depend on the units of
the data (forecasting ``c * y`` gives ``c * forecast(y)`` for ``c`` from 1e-12 to 1e12).
"""

from __future__ import annotations

import json

import numpy as np

from metacompose.errors import InputError, NotFittedError, SeriesTooShortError
from metacompose.models.base import Forecaster, PanelForecaster


def _series(kind: str, n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)
    if kind == "constant":
        return np.full(n, 5.0)
    if kind == "trend":
        return 100.0 + 2.0 * t + rng.normal(0, 1, n)
    if kind == "seasonal":
        return 50.0 + 10.0 * np.sin(2 * np.pi * t / max(m, 2)) + rng.normal(0, 1, n)
    if kind == "negative":
        return -20.0 + np.cumsum(rng.normal(0, 1, n))
    raise ValueError(kind)


MAGNITUDES: tuple[float, ...] = (1e-12, 1e-6, 1e6, 1e12)
"""Factors ``c`` of the magnitude check: forecasting ``c * y`` must give ``c * forecast(y)``."""

MAGNITUDE_KINDS: tuple[str, ...] = ("trend", "seasonal", "negative")
"""Series kinds (see :func:`_series`) the magnitude check scales."""


def check_forecaster(model: Forecaster, horizon: int = 6, n: int = 60,
                     magnitudes: tuple[float, ...] = MAGNITUDES, magnitude_rtol: float = 1e-4) -> None:
    """Run ``model`` through the plug-in contract of DESIGN.md.

    Checks: ``clone`` gives an unfitted copy with the same JSON-serialisable parameters;
    ``predict`` before ``fit`` raises :class:`NotFittedError`; ``fit`` returns self;
    ``predict(h)`` returns finite float ``(h,)`` on constant, trending, seasonal and
    negative series, identically on a refit of the same data; ``h <= 0``, NaN/inf input
    and a 2-D array raise :class:`InputError`; a series shorter than ``min_length``
    raises :class:`SeriesTooShortError`; a series of exactly ``min_length`` works
    (or, if the model cannot forecast it, it raises a plain exception that the backtest's
    fallback handles); panel models give ``(S, h)`` from ``fit_panel``/``predict_panel``;
    and the forecasts are scale-equivariant (:func:`check_magnitudes`).

    Args:
        model: the forecaster to check (it is cloned, never fitted itself).
        horizon: ``h`` of every forecast.
        n: length of the test series.
        magnitudes: factors of :func:`check_magnitudes`; ``()`` skips that check.
        magnitude_rtol: relative tolerance of :func:`check_magnitudes`.

    Raises:
        AssertionError: the model breaks the contract; the message says how.
    """
    rng = np.random.default_rng(0)
    assert isinstance(model, Forecaster), f"{model!r} must subclass metacompose.Forecaster"
    assert isinstance(model.alias, str) and model.alias, "alias must be a non-empty string"
    json.dumps(model.get_params())  # parameters must be JSON-serialisable for saving
    fresh = model.clone()
    assert type(fresh) is type(model) and fresh.get_params() == model.get_params(), "clone() must keep parameters"
    try:
        fresh.predict(horizon)
    except NotFittedError:
        pass
    else:
        raise AssertionError(f"{model.alias}: predict before fit must raise NotFittedError")
    m = model.season_length
    for kind in ("constant", "trend", "seasonal", "negative"):
        y = _series(kind, n, m, rng)
        est = model.clone()
        assert est.fit(y) is est, f"{model.alias}: fit must return self"
        fc = est.predict(horizon)
        assert isinstance(fc, np.ndarray) and fc.shape == (horizon,), f"{model.alias}: predict shape {np.shape(fc)}"
        assert np.all(np.isfinite(fc)), f"{model.alias}: non-finite forecast on a {kind} series"
        again = model.clone().fit(y).predict(horizon)
        np.testing.assert_allclose(again, fc, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{model.alias}: refitting the same data must give the same forecast")
    _check_bad_input(model, _series("trend", n, m, rng), horizon)
    if isinstance(model, PanelForecaster):
        ys = [_series(k, n - 5 * i, m, rng) for i, k in enumerate(("trend", "seasonal", "negative"))]
        out = model.clone().fit_panel(ys).predict_panel(horizon)
        assert out.shape == (3, horizon), f"{model.alias}: predict_panel shape {out.shape}"
        assert np.all(np.isfinite(out)), f"{model.alias}: panel forecast has NaN for series long enough to fit"
    if magnitudes:
        check_magnitudes(model, horizon, n, magnitudes, magnitude_rtol)


def _check_bad_input(model: Forecaster, y: np.ndarray, horizon: int) -> None:
    """Bad horizons, NaN/inf and 2-D input raise :class:`InputError`; a series shorter than
    ``min_length`` raises :class:`SeriesTooShortError`; one of exactly ``min_length`` gives
    shape ``(horizon,)`` or a plain exception (the backtest's fallback handles it).

    Args:
        model: the forecaster under check (cloned, never fitted itself).
        y: a valid series ``(t,)``.
        horizon: ``h``.

    Raises:
        AssertionError: the model breaks the contract.
    """
    for bad_h in (0, -3, 2.5):
        try:
            model.clone().fit(y).predict(bad_h)
        except InputError:
            continue
        raise AssertionError(f"{model.alias}: predict(h={bad_h!r}) must raise InputError")
    for bad in (np.r_[y[:-1], np.nan], np.r_[y[:-1], np.inf], np.c_[y, y]):
        try:
            model.clone().fit(bad)
        except InputError:
            continue
        raise AssertionError(f"{model.alias}: fit on NaN/inf or 2-D input must raise InputError")
    if model.min_length > 1:
        try:
            model.clone().fit(y[: model.min_length - 1])
        except SeriesTooShortError:
            pass
        else:
            raise AssertionError(f"{model.alias}: a series shorter than min_length must raise SeriesTooShortError")
    try:
        short = model.clone().fit(y[: model.min_length]).predict(horizon)
        assert short.shape == (horizon,), f"{model.alias}: wrong shape on a min_length series"
    except (AssertionError, InputError):
        raise
    except Exception:
        pass  # allowed: the backtest falls back on any other exception


def _forecasts(model: Forecaster, ys: list[np.ndarray], horizon: int) -> np.ndarray:
    """Forecasts ``(S, horizon)`` of a fresh clone of ``model`` for each series of ``ys``
    (one ``fit_panel`` for a panel model, one ``fit`` per series otherwise)."""
    if isinstance(model, PanelForecaster):
        return model.clone().fit_panel(ys).predict_panel(horizon)
    return np.stack([model.clone().fit(y).predict(horizon) for y in ys])


def check_magnitudes(model: Forecaster, horizon: int = 6, n: int = 60,
                     magnitudes: tuple[float, ...] = MAGNITUDES, rtol: float = 1e-4) -> None:
    """Check that ``model`` forecasts ``c * y`` as ``c * forecast(y)`` (scale-equivariance).

    A forecast must not depend on the units of the data: prices in dollars or in billions,
    a rate as 0.03 or as 3e-14, must give the same forecast in those units. Models that
    fit with absolute tolerances (optimisers, "is this series constant" thresholds) break
    this at small or large magnitudes: in issue 16 an ARIMA forecast of AirPassengers
    times 1e-9 turned negative, and times 1e-14 three models returned the last value.
    For each kind of :data:`MAGNITUDE_KINDS` (trending, seasonal and negative series of
    ``n`` points, season length ``model.season_length``) and each ``c`` of ``magnitudes``,
    the forecast of ``c * y`` must be finite and equal ``c`` times the forecast of ``y``
    within ``rtol`` relative to the series' mean absolute value (``rtol * mean|y|`` is the
    absolute tolerance besides ``rtol`` relative to each forecast). Panel models are fitted
    on the kinds as one panel.

    Args:
        model: the forecaster to check (it is cloned, never fitted itself).
        horizon: ``h`` of every forecast.
        n: length of the test series.
        magnitudes: positive factors ``c``, e.g. ``(1e-12, 1e-6, 1e6, 1e12)``.
        rtol: relative tolerance. ``c * y`` differs from ``y`` in the last bit of each value
            (unless ``c`` is a power of two), and optimisers amplify such changes: the built-in
            models deviate by at most ~2e-6 on these series (ETS), unit-dependent fits by 1e-3
            and (far) more.

    Raises:
        AssertionError: a forecast is not finite or does not scale with the data; the
            message names the model, the factor and the series kind.
    """
    rng = np.random.default_rng(1)
    ys = [_series(kind, n, model.season_length, rng) for kind in MAGNITUDE_KINDS]
    base = _forecasts(model, ys, horizon)
    for c in magnitudes:
        out = _forecasts(model, [c * y for y in ys], horizon)
        for kind, y, b, o in zip(MAGNITUDE_KINDS, ys, base, out):
            assert np.all(np.isfinite(o)), f"{model.alias}: non-finite forecast of {c:g} x a {kind} series"
            np.testing.assert_allclose(
                o / c, b, rtol=rtol, atol=rtol * float(np.mean(np.abs(y))),
                err_msg=f"{model.alias}: the forecast of {c:g} x a {kind} series is not {c:g} x its forecast "
                        "(forecasts must not depend on the units of the data)")
