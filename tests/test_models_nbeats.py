"""Tests of the N-BEATS base forecaster (metacompose.models.nbeats)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from metacompose.backtest import backtest
from metacompose.errors import InputError, SeriesTooShortError
from metacompose.models import DEFAULT_POOL, REGISTRY, get_model
from metacompose.models.nbeats import (NBEATS, build_network, clip_forecast, ensemble_members, fourier_basis,
                                       fourier_frequencies, loss_weights, trend_basis)
from metacompose.models.training import training_budget
from metacompose.testing import check_forecaster

H = 12
SMALL = dict(season_length=12, width=32, blocks=2, layers=2, batch_size=128, ensemble_size=1, random_state=0)


def sine_trend_panel(S=16, n=72, m=12, seed=0):
    """Positive noisy sines on linear trends (random level, slope, amplitude, phase); returns (train, test)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n + H)
    ys = []
    for _ in range(S):
        level, slope = rng.uniform(20, 200), rng.uniform(-0.004, 0.01)
        amp, phase = rng.uniform(0.2, 0.5), rng.uniform(0, 2 * np.pi)
        ys.append(level * (1 + slope * t + amp * np.sin(2 * np.pi * t / m + phase) + rng.normal(0, 0.03, t.size)))
    return [y[:n] for y in ys], np.array([y[n:] for y in ys])


def smape(y, f):
    return float(np.mean(200 * np.abs(y - f) / (np.abs(y) + np.abs(f))))


def naive(train):
    return np.array([np.full(H, y[-1]) for y in train])


@pytest.mark.parametrize("stack, m", [("generic", 12), ("interpretable", 1)])
def test_nbeats_passes_the_conformance_check(stack, m):
    check_forecaster(NBEATS(**{**SMALL, "season_length": m, "stack": stack, "steps": 20, "ensemble_size": 2}))


@pytest.mark.parametrize("stack", ["generic", "interpretable"])
def test_both_stacks_learn_and_an_untrained_network_does_not(stack):
    train, test = sine_trend_panel()
    kw = {**SMALL, "stack": stack, "steps": 150}
    trained = NBEATS(**kw).fit_panel(train).predict_panel(H)
    untrained = NBEATS(**{**kw, "steps": 0}).fit_panel(train).predict_panel(H)
    base = smape(test, naive(train))
    assert smape(test, trained) < 0.4 * base
    assert smape(test, untrained) > 0.6 * base


def test_optimizer_sgd_callable_and_learned():
    train, test = sine_trend_panel(S=8)
    kw = {**SMALL, "steps": 150}
    sgd = NBEATS(**{**kw, "optimizer": "SGD", "lr": 0.1}).fit_panel(train).predict_panel(H)
    assert smape(test, sgd) < 0.5 * smape(test, naive(train))
    calls = []

    def frozen(params):
        calls.append(1)
        return torch.optim.SGD(params, lr=0.0)

    untrained = NBEATS(**{**kw, "steps": 0, "ensemble_size": 2}).fit_panel(train).predict_panel(H)
    out = NBEATS(**{**kw, "optimizer": frozen, "steps": 10, "ensemble_size": 2}).fit_panel(train).predict_panel(H)
    assert calls == [1, 1]  # one optimizer per member
    np.testing.assert_array_equal(out, untrained)
    learned = NBEATS(**{**kw, "optimizer": "learned", "steps": 5, "ensemble_size": 2}).fit_panel(train).predict_panel(H)
    assert np.all(np.isfinite(learned)) and not np.allclose(learned, untrained)
    with pytest.raises(InputError, match="adam"):
        NBEATS(optimizer="adamw")


def test_same_seed_same_forecast_other_seed_differs_and_global_rng_untouched():
    train, _ = sine_trend_panel(S=6)
    kw = {**SMALL, "steps": 20, "ensemble_size": 2}
    before = torch.get_rng_state()
    a = NBEATS(**kw).fit_panel(train).predict_panel(H)
    assert torch.equal(before, torch.get_rng_state())
    b = NBEATS(**kw).fit_panel(train).predict_panel(H)
    c = NBEATS(**{**kw, "random_state": 5}).fit_panel(train).predict_panel(H)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def short_panel():
    """12-point series: 20 exploding (x1.3..1.8 per step) and 20 linear trends with noise."""
    rng = np.random.default_rng(3)
    t = np.arange(12)
    ys = [rng.uniform(5, 50) * rng.uniform(1.3, 1.8) ** t * (1 + rng.normal(0, 0.02, 12)) for _ in range(20)]
    return ys + [100 + rng.uniform(-3, 8) * t + rng.normal(0, 2, 12) for _ in range(20)]


@pytest.mark.parametrize("stack", ["generic", "interpretable"])
def test_short_series_forecasts_stay_within_clip_ranges_of_the_last_value(stack):
    ys = short_panel()
    kw = dict(stack=stack, width=32, blocks=2, layers=2, steps=100, epochs=100, batch_size=64, ensemble_size=3)
    fc = NBEATS(**kw).fit_panel(ys).predict_panel(6)
    move = np.array([(f - y[-1]) / np.ptp(y) for f, y in zip(fc, ys)])  # in ranges of the series
    assert np.all(np.isfinite(fc)) and np.all(np.abs(move) <= 0.5 + 1e-9)  # the default clip, CLIP = 0.5
    free = NBEATS(**{**kw, "clip": None}).fit_panel(ys).predict_panel(6)
    free_move = np.array([(f - y[-1]) / np.ptp(y) for f, y in zip(free, ys)])
    assert np.abs(free_move).max() > 3.0  # without the guard the exploding series do explode
    np.testing.assert_allclose(clip_forecast(np.array([[9.0, -9.0, 1.5]]), np.array([[0.0, 2.0, 1.0]]), 2.0),
                               [[5.0, -3.0, 1.5]])
    np.testing.assert_array_equal(clip_forecast(np.array([[7.0]]), np.array([[3.0, 3.0]]), 2.0), [[3.0]])


def test_a_three_point_series_falls_back_to_seasonal_naive():
    ys = short_panel()[20:30] + [np.array([5.0, 6.0, 7.0])]
    model = NBEATS(width=16, blocks=1, layers=2, steps=10, ensemble_size=1)
    assert model.min_length == 4 and model.fallback == "SeasonalNaive"
    with pytest.raises(SeriesTooShortError):
        model.clone().fit(ys[-1])
    out = model.clone().fit_panel(ys).predict_panel(6)
    assert np.all(np.isnan(out[-1])) and np.all(np.isfinite(out[:-1]))
    with pytest.warns(UserWarning, match="too short for any backtest origin"):
        cube, report = backtest(ys, [model], horizon=6, n_origins=1)
    np.testing.assert_allclose(cube.forecasts[-1, -1, 0], np.full(6, 7.0))  # SeasonalNaive with m=1
    assert report.fallbacks["NBEATS"] >= 1


def test_training_windows_come_only_from_the_recent_history():
    train, _ = sine_trend_panel(S=6)  # 72 points; L = 2h = 24; history 1: cuts 49..60, inputs from point 25
    kw = {**SMALL, "steps": 20, "lookbacks": [2], "history": 1.0}
    base = NBEATS(**kw).fit_panel(train).predict_panel(H)
    old = [np.r_[y[:20] * 3.0, y[20:]] for y in train]
    np.testing.assert_array_equal(NBEATS(**kw).fit_panel(old).predict_panel(H), base)
    assert not np.allclose(NBEATS(**{**kw, "history": 3.0}).fit_panel(old).predict_panel(H),
                           NBEATS(**{**kw, "history": 3.0}).fit_panel(train).predict_panel(H))


def test_the_ensemble_forecast_is_the_median_of_its_members():
    train, _ = sine_trend_panel(S=6)
    kw = {**SMALL, "steps": 15, "lookbacks": [2, 3, 4], "losses": ["smape", "mase", "mape"]}
    ens = NBEATS(**{**kw, "ensemble_size": 3}).fit_panel(train).predict_panel(H)
    singles = [NBEATS(**{**kw, "lookbacks": [k], "losses": [loss], "random_state": seed}).fit_panel(train)
               .predict_panel(H) for k, loss, seed in ensemble_members([2, 3, 4], ["smape", "mase", "mape"], 3, 0)]
    np.testing.assert_allclose(ens, np.median(singles, axis=0), rtol=1e-12)
    assert not np.allclose(singles[0], singles[1])


def test_ensemble_members_walk_the_lookback_loss_grid():
    members = ensemble_members([2, 3, 4, 5, 6, 7], ["smape", "mase", "mape"], 19, 10)
    grid = {(k, v) for k in range(2, 8) for v in ("smape", "mase", "mape")}
    assert {(k, loss) for k, loss, _ in members[:18]} == grid
    assert [(k, loss) for k, loss, _ in members[:3]] == [(2, "smape"), (3, "mase"), (4, "mape")]
    assert members[18][:2] == members[0][:2] and [s for *_, s in members] == list(range(10, 29))
    model = NBEATS(lookbacks=[2, 7], ensemble_size=2).fit_panel([np.arange(1.0, 41.0)] * 3)
    assert [L for L, _, _ in model.members(6)] == [12, 34]  # 7h = 42 capped at median length - h = 34


def test_bases_and_network_shapes():
    back, fore = trend_basis(2, 8, 4)
    np.testing.assert_allclose(fore[2], (np.arange(4) / 4) ** 2)
    assert back.shape == (3, 8) and np.all(back[0] == 1)
    freqs = fourier_frequencies(18, 12, 1)
    assert np.isclose(freqs, 1 / 12).any() and np.isclose(freqs, 1 / 18).any() and freqs.max() <= 0.5
    b, f = fourier_basis(freqs, 36, 18)
    assert b.shape[1] == 36 and f.shape[1] == 18 and b.shape[0] == f.shape[0]
    cos12 = np.hstack([b, f])[np.argmin(np.abs(freqs - 1 / 12))]  # one time axis: backcast then forecast
    np.testing.assert_allclose(cos12[12:], cos12[:-12], atol=1e-12)  # the period-12 wave continues exactly
    for stack in ("generic", "interpretable"):
        net = build_network(stack, 36, 18, 12, blocks=2, layers=2, width=16, trend_degree=2, harmonics=1)
        assert net(torch.ones(5, 36)).shape == (5, 18)
    shared = build_network("interpretable", 10, 5, 1, blocks=3, layers=2, width=8, trend_degree=1, harmonics=1)
    assert len(shared.blocks) == 6 and len({id(b) for b in shared.blocks}) == 2  # weights shared per stack


def test_an_interpretable_trend_block_forecasts_a_polynomial():
    back, fore = trend_basis(2, 24, 6)
    # any forecast of the trend block is theta @ fore: a quadratic in t, so its third differences vanish
    theta = np.random.default_rng(0).normal(size=(4, 3))
    assert np.allclose(np.diff(theta @ fore, n=3, axis=1), 0.0)


def test_loss_weights_are_scale_free_and_bounded():
    rng = np.random.default_rng(0)
    X = 1 + rng.normal(0, 0.1, (50, 24))
    X[0] = 1.0  # a flat window: weight capped by the floor, not infinite
    Y = 1 + rng.normal(0, 0.1, (50, 6))
    Y[1, 0] = 0.0
    for loss in ("mase", "mape"):
        w = loss_weights(X, Y, loss, 12)
        assert w.shape == (50, 6) and np.all(np.isfinite(w)) and np.all(w > 0)
        assert np.isclose(w.mean(), 1.0) and w.max() < 50
    d = np.mean(np.abs(X[:, 12:] - X[:, :-12]), axis=1)
    w = loss_weights(X, Y, "mase", 12)
    assert w[2, 0] / w[3, 0] == pytest.approx(d[3] / d[2])  # MASE: 1 / in-sample seasonal-naive error


def test_training_budget_is_shared_by_the_members_and_epochs_cap_the_steps():
    train, _ = sine_trend_panel(S=4)
    with training_budget(0.0) as budget:
        NBEATS(**{**SMALL, "steps": 50, "epochs": 100, "ensemble_size": 3}).fit_panel(train).predict_panel(H)
    assert budget.cut == [(3, 150)]  # one step each, one pair for the whole ensemble
    with training_budget(0.0) as capped:  # 4 series x 57 windows, 1 pass of 128: 2 steps per member
        NBEATS(**{**SMALL, "steps": 50, "epochs": 1, "ensemble_size": 3}).fit_panel(train).predict_panel(H)
    assert capped.cut == [(3, 6)]
    with training_budget(60.0) as roomy:
        NBEATS(**{**SMALL, "steps": 5, "ensemble_size": 2}).fit_panel(train).predict_panel(H)
    assert roomy.cut == []


def test_horizon_parameter_and_lazy_training_per_h():
    train, _ = sine_trend_panel(S=4)
    fixed = NBEATS(**{**SMALL, "steps": 5, "horizon": 8}).fit_panel(train)
    np.testing.assert_array_equal(fixed.predict_panel(4), fixed.predict_panel(8)[:, :4])
    lazy = NBEATS(**{**SMALL, "steps": 5}).fit_panel(train)
    assert lazy.predict_panel(3).shape == (4, 3) and lazy.predict_panel(10).shape == (4, 10)


def test_registered_in_the_default_pool_in_place_of_lstm_and_params_round_trip():
    assert REGISTRY["NBEATS"] is NBEATS and "NBEATS" in DEFAULT_POOL and "LSTM" not in DEFAULT_POOL
    model = get_model("nbeats", season_length=4, horizon=6, stack="interpretable", optimizer="sgd")
    params = model.get_params()
    assert json.loads(json.dumps(params)) == params and params["stack"] == "interpretable"
    assert NBEATS(**params).get_params() == params and model.clone().get_params() == params


@pytest.mark.parametrize("bad", [dict(stack="both"), dict(losses=["mse"]), dict(losses="smape"), dict(lookbacks=[]),
                                 dict(lookbacks=[0]), dict(ensemble_size=0), dict(history=0), dict(steps=-1),
                                 dict(clip=-1.0), dict(epochs=0), dict(width=0), dict(horizon=0), dict(num_threads=0)])
def test_bad_parameters_raise_input_error(bad):
    with pytest.raises(InputError):
        NBEATS(**bad)
