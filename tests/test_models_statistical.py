"""Behaviour of the statistical forecasters ARIMA, ETS and Theta (metacompose.models.arima, .statistical)."""

import json

import numpy as np
import pytest

import metacompose.models.arima as ar
from metacompose.errors import ForecastError, SeriesTooShortError
from metacompose.models.arima import ARIMA
from metacompose.models.statistical import ETS, Theta, SeasonalAdjustment, _is_constant, seasonality_test, series_scale

MODELS = (ARIMA, ETS, Theta)


def seasonal_series(n=96, m=12, seed=0):
    """Positive series with a multiplicative season of amplitude ~30%, a slow trend and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    pattern = 1.0 + 0.3 * np.sin(2 * np.pi * t / m) + 0.15 * np.cos(4 * np.pi * t / m)
    return (100.0 + 0.5 * t) * pattern * (1.0 + rng.normal(0, 0.01, n))


def trend_series(n=40, slope=3.0, noise=0.5, seed=1):
    rng = np.random.default_rng(seed)
    return 50.0 + slope * np.arange(n) + rng.normal(0, noise, n)


def mae(a, b):
    return float(np.mean(np.abs(np.asarray(a) - np.asarray(b))))


# -- seasonal adjustment --------------------------------------------------------------------
def test_seasonality_test_detects_a_season_and_rejects_noise():
    rng = np.random.default_rng(3)
    assert seasonality_test(seasonal_series(), 12)
    assert not seasonality_test(100 + rng.normal(0, 1, 96), 12)
    assert not seasonality_test(seasonal_series(), 1)  # m = 1: never seasonal
    assert not seasonality_test(seasonal_series(n=30), 12)  # fewer than 3 seasons: not tested


def test_seasonal_adjustment_modes_and_phase():
    y = seasonal_series(n=72)
    adj, x = SeasonalAdjustment.fit(y, 12)
    assert adj.mode == "multiplicative" and adj.factors.shape == (12,)
    np.testing.assert_allclose(adj.apply(x[-12:]), y[-12:])  # factors = the last season's indices
    # the forecast one season ahead has the phase of the last season
    np.testing.assert_allclose(adj.apply(np.ones(24))[:12], adj.apply(np.ones(24))[12:])
    adj_neg, _ = SeasonalAdjustment.fit(y - 150.0, 12)  # non-positive values: additive
    assert adj_neg.mode == "additive"
    none, same = SeasonalAdjustment.fit(trend_series(), 12)
    assert none.mode == "none" and same is not None and none.apply(np.ones(3)).tolist() == [1, 1, 1]


# -- ARIMA --------------------------------------------------------------------------------------
def test_arima_seasonal_series_beats_naive_clearly():
    y = seasonal_series(n=108)
    train, test = y[:96], y[96:]
    fc = ARIMA(season_length=12).fit(train).predict(12)
    naive = np.full(12, train[-1])
    assert mae(fc, test) < 0.25 * mae(naive, test)


def test_arima_extrapolates_a_linear_trend():
    y = trend_series(n=40, slope=3.0)
    fc = ARIMA().fit(y).predict(10)
    expected = 50.0 + 3.0 * np.arange(40, 50)
    assert np.all(np.abs(fc - expected) < 4.0), (fc, expected)
    assert 2.0 < np.mean(np.diff(fc)) < 4.0


def test_arima_exact_line_is_extrapolated_exactly():
    y = 2.0 + 0.5 * np.arange(20)
    np.testing.assert_allclose(ARIMA().fit(y).predict(5), 2.0 + 0.5 * np.arange(20, 25), atol=1e-8)


def test_arima_max_d_2_follows_a_quadratic_trend():
    t = np.arange(40.0)
    y = 10.0 + 0.5 * t**2 + np.random.default_rng(4).normal(0, 0.5, 40)
    future = 10.0 + 0.5 * np.arange(40.0, 46.0) ** 2
    quadratic = ARIMA(max_d=2).fit(y)
    assert quadratic._order[1] == 2
    assert np.max(np.abs(quadratic.predict(6) - future)) < 5.0
    linear = ARIMA().fit(y).predict(6)  # default max_d = 1: at most a straight drift
    assert np.allclose(np.diff(linear, 2), 0.0, atol=1.0) and np.all(linear < future)
    with pytest.raises(ValueError):
        ARIMA(max_d=-1)


def test_arima_on_a_stationary_ar1_reverts_to_the_mean():
    rng = np.random.default_rng(7)
    y = np.empty(200)
    y[0] = 10.0
    for t in range(1, 200):
        y[t] = 10.0 + 0.6 * (y[t - 1] - 10.0) + rng.normal()
    y[-1] = 14.0  # start the forecast far from the mean
    fc = ARIMA().fit(y).predict(30)
    assert abs(fc[-1] - np.mean(y)) < 1.0
    assert abs(fc[0] - 14.0) < abs(fc[-1] - 14.0)


def test_arima_fit_error_propagates(monkeypatch):
    class Boom:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("statsmodels failed")

    monkeypatch.setattr(ar, "_SMARIMA", Boom)
    with pytest.raises(RuntimeError, match="statsmodels failed"):
        ARIMA().fit(trend_series(n=30))


def arma11(n=150, phi=0.6, theta=0.4, mu=5.0, seed=5):
    rng = np.random.default_rng(seed)
    e = rng.normal(size=n + 50)
    x = np.zeros(n + 50)
    for t in range(1, n + 50):
        x[t] = phi * x[t - 1] + e[t] + theta * e[t - 1]
    return mu + x[50:]


def test_css_fit_reaches_a_minimum_of_the_sum_of_squares():
    w = arma11()
    fit = ar._css_fit(w, 1, 1, True, 2)
    assert fit is not None
    sse, mu, phi, theta = fit
    assert abs(phi[0] - 0.6) < 0.2 and abs(theta[0] - 0.4) < 0.2 and abs(mu - 5.0) < 0.5
    for k in range(3):  # no small move of any parameter lowers the conditional sum of squares
        for step in (1e-3, -1e-3):
            par = np.r_[mu, phi, theta]
            par[k] += step
            e = ar.lfilter(np.r_[1.0, -par[1]], np.r_[1.0, par[2]], w - par[0])[2:]
            assert float(e @ e) >= sse * (1 - 1e-9)


def test_css_fit_skips_non_stationary_candidates():
    rng = np.random.default_rng(5)
    walk = rng.normal(size=50).cumsum() * 0.2 + rng.normal(size=50)  # CSS optimum: AR coefficient 1.03
    assert ar._css_fit(walk, 1, 2, True, 2) is None
    assert ar._css_fit(walk, 0, 1, True, 2) is not None


# -- ETS ----------------------------------------------------------------------------------------
def test_ets_damped_trend_flattens():
    y = trend_series(n=40, slope=2.0, noise=1.0)
    fc = ETS(trend="Ad").fit(y).predict(40)
    steps = np.diff(fc)
    assert np.all(steps > 0) and steps[-1] < 0.9 * steps[0]  # still rising, ever more slowly
    assert fc[-1] - y[-1] < 0.9 * 2.0 * 40  # below the undamped line


def test_ets_selects_no_trend_for_a_level_series():
    rng = np.random.default_rng(11)
    y = 30.0 + rng.normal(0, 1, 60)
    model = ETS().fit(y)
    fc = model.predict(12)
    assert np.ptp(fc) < 0.5 and abs(fc[0] - 30.0) < 1.0


def test_ets_seasonal_series_beats_naive_clearly():
    y = seasonal_series(n=108)
    fc = ETS(season_length=12).fit(y[:96]).predict(12)
    assert mae(fc, y[96:]) < 0.25 * mae(np.full(12, y[95]), y[96:])


def test_ets_rejects_unknown_options():
    with pytest.raises(ValueError):
        ETS(trend="M")
    with pytest.raises(ValueError):
        ETS(error="mul")


# -- Theta --------------------------------------------------------------------------------------
def test_theta_is_ses_with_half_the_trend_slope():
    y = trend_series(n=30, slope=4.0, noise=2.0)
    fc = Theta().fit(y).predict(8)
    b0 = np.polyfit(np.arange(30), y, 1)[0]
    np.testing.assert_allclose(np.diff(fc), b0 / 2, rtol=1e-6)  # Hyndman & Billah 2003, theta = 2
    assert abs(fc[0] - (y[-1] + b0 / 2)) < 3 * 2.0  # starts near the last value plus one drift step


def test_theta_weight_changes_the_drift():
    y = trend_series(n=30, slope=4.0, noise=2.0)
    b0 = np.polyfit(np.arange(30), y, 1)[0]
    fc = Theta(theta=4.0).fit(y).predict(5)
    np.testing.assert_allclose(np.diff(fc), 0.75 * b0, rtol=1e-6)
    with pytest.raises(ValueError):
        Theta(theta=0.5)


def test_theta_seasonal_series_beats_naive_clearly():
    y = seasonal_series(n=108)
    fc = Theta(season_length=12).fit(y[:96]).predict(12)
    assert mae(fc, y[96:]) < 0.25 * mae(np.full(12, y[95]), y[96:])


# -- all three ------------------------------------------------------------------------------------
CASES = {
    "short": (trend_series(n=8), 1),
    "yearly": (trend_series(n=25, noise=3.0), 1),
    "monthly": (seasonal_series(n=60), 12),
    "negative": (-20.0 + np.cumsum(np.random.default_rng(2).normal(0, 1, 48)), 4),
    "constant": (np.full(30, 7.0), 4),
    "zeros": (np.zeros(20), 1),
    "intermittent": (np.r_[np.zeros(10), 5.0, np.zeros(9), 3.0, np.zeros(9)], 1),
}


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_forecasts_have_shape_h_and_are_finite(cls, case):
    y, m = CASES[case]
    fc = cls(season_length=m).fit(y).predict(7)
    assert fc.shape == (7,) and np.all(np.isfinite(fc))
    if case in ("constant", "zeros"):
        np.testing.assert_allclose(fc, y[-1])


@pytest.mark.parametrize("cls", MODELS)
def test_too_short_series_raises(cls):
    model = cls(season_length=12)
    with pytest.raises(SeriesTooShortError):
        model.fit(np.arange(1.0, model.min_length))
    assert model.clone().fit(np.arange(1.0, model.min_length + 1.0)).predict(3).shape == (3,)


@pytest.mark.parametrize("cls", MODELS)
def test_non_finite_forecast_raises_forecast_error(cls, monkeypatch):
    model = cls().fit(trend_series(n=30))
    monkeypatch.setattr(model._res, "forecast", lambda *a, **k: np.full(a[0] if a else 5, np.nan))
    with pytest.raises(ForecastError):
        model.predict(5)


@pytest.mark.parametrize("cls", MODELS)
def test_params_are_json_and_aliases_and_fallback(cls):
    model = cls(season_length=4, alias="mine")
    params = json.loads(json.dumps(model.get_params()))
    assert params["season_length"] == 4 and params["alias"] == "mine"
    assert cls.alias == cls.__name__ and cls.fallback == "SeasonalNaive"
    rebuilt = cls(**params)
    y = seasonal_series(n=48, m=4)
    np.testing.assert_allclose(rebuilt.fit(y).predict(4), model.fit(y).predict(4))


# -- scale-equivariance (issue 16) ------------------------------------------------------------------
def test_series_scale_is_the_mean_absolute_value_and_one_for_zeros():
    assert series_scale(np.array([-2.0, 4.0, 0.0])) == pytest.approx(2.0)
    assert series_scale(np.zeros(5)) == 1.0
    assert series_scale(np.full(4, 1e-300)) == pytest.approx(1e-300)
    assert series_scale(np.array([1e308, -1e308])) == pytest.approx(1e308)  # no overflow to inf


def test_constant_check_is_relative_to_the_magnitude():
    y = seasonal_series(n=48)
    for c in (1e-14, 1.0, 1e14):
        assert not _is_constant(c * y)  # an absolute floor called every series below 1e-10 constant
        assert _is_constant(np.full(10, 7.0 * c) + np.r_[0.0, 1e-12 * 7.0 * c, np.zeros(8)])
    assert _is_constant(np.zeros(6))


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("c", [1e-14, 1e-9, 1e12])
def test_forecasts_scale_with_the_data(cls, c):
    """Issue 16: AirPassengers-like data x 1e-9 gave a negative ARIMA forecast, x 1e-14 the last value."""
    y = seasonal_series(n=96)
    fc = cls(season_length=12).fit(y).predict(12)
    scaled = cls(season_length=12).fit(c * y).predict(12)
    assert np.all(scaled > 0)
    np.testing.assert_allclose(scaled / c, fc, rtol=1e-4)  # ETS: ~3e-6 from one-ulp data changes; unscaled: 1e-3 .. 1e2
    assert np.ptp(scaled / c) > 0.1 * np.ptp(y[-12:])  # seasonal, not collapsed to the last value
