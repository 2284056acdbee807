"""Conformance check that every forecaster, built-in or plugged in, must pass.

Usage in a test suite::

    from metacompose.testing import check_forecaster
    check_forecaster(MyModel(season_length=12))
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


def check_forecaster(model: Forecaster, horizon: int = 6, n: int = 60) -> None:
    """Run ``model`` through the plug-in contract of DESIGN.md.

    Checks: ``clone`` gives an unfitted copy with the same JSON-serialisable parameters;
    ``predict`` before ``fit`` raises :class:`NotFittedError`; ``fit`` returns self;
    ``predict(h)`` returns finite float ``(h,)`` on constant, trending, seasonal and
    negative series, identically on a refit of the same data; ``h <= 0``, NaN/inf input
    and a 2-D array raise :class:`InputError`; a series shorter than ``min_length``
    raises :class:`SeriesTooShortError`; a series of exactly ``min_length`` works
    (or, if the model cannot forecast it, it raises a plain exception that the backtest's
    fallback handles); panel models give ``(S, h)`` from ``fit_panel``/``predict_panel``.

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
    y = _series("trend", n, m, rng)
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
    if isinstance(model, PanelForecaster):
        ys = [_series(k, n - 5 * i, m, rng) for i, k in enumerate(("trend", "seasonal", "negative"))]
        out = model.clone().fit_panel(ys).predict_panel(horizon)
        assert out.shape == (3, horizon), f"{model.alias}: predict_panel shape {out.shape}"
        assert np.all(np.isfinite(out)), f"{model.alias}: panel forecast has NaN for series long enough to fit"
