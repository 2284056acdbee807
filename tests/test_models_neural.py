"""Tests of the global neural forecasters MLP and LSTM (metacompose.models.neural, .training)."""

from __future__ import annotations

import functools
import json
import sys

import numpy as np
import pytest
import torch

from metacompose.errors import InputError
from metacompose.models._windows import pad_left, training_windows, window_scale
from metacompose.models.neural import LSTM, MLP
from metacompose.models.training import make_optimizer, train_network

H = 12


def sine_panel(S=24, n=96, m=12, seed=0):
    """Positive noisy sine waves with random phase, amplitude and level; returns (train, test)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n + H)
    ys = []
    for _ in range(S):
        level, amp, phase = rng.uniform(20, 200), rng.uniform(0.2, 0.5), rng.uniform(0, 2 * np.pi)
        ys.append(level * (1 + amp * np.sin(2 * np.pi * t / m + phase) + rng.normal(0, 0.03, t.size)))
    return [y[:n] for y in ys], np.array([y[n:] for y in ys])


def smape(y, f):
    return float(np.mean(200 * np.abs(y - f) / (np.abs(y) + np.abs(f))))


FAST_MLP = dict(season_length=12, steps=150, random_state=0)
FAST_LSTM = dict(season_length=12, steps=40, hidden_size=16, random_state=0)


def test_mlp_beats_naive_on_noisy_sines():
    train, test = sine_panel()
    fc = MLP(**FAST_MLP).fit_panel(train).predict_panel(H)
    naive = np.array([np.full(H, y[-1]) for y in train])
    assert fc.shape == (len(train), H)
    assert smape(test, fc) < 0.3 * smape(test, naive)


def test_lstm_beats_naive_on_noisy_sines():
    train, test = sine_panel()
    fc = LSTM(season_length=12, steps=150, hidden_size=32, random_state=0).fit_panel(train).predict_panel(H)
    naive = np.array([np.full(H, y[-1]) for y in train])
    assert smape(test, fc) < 0.5 * smape(test, naive)


@pytest.mark.parametrize("cls, kw", [(MLP, FAST_MLP), (LSTM, FAST_LSTM)])
def test_same_seed_same_forecasts_other_seed_differs(cls, kw):
    train, _ = sine_panel(S=8)
    a = cls(**kw).fit_panel(train).predict_panel(H)
    b = cls(**kw).fit_panel(train).predict_panel(H)
    c = cls(**{**kw, "random_state": 1}).fit_panel(train).predict_panel(H)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_global_torch_random_state_is_left_alone():
    train, _ = sine_panel(S=4)
    before = torch.get_rng_state()
    MLP(**FAST_MLP).fit_panel(train).predict_panel(H)
    assert torch.equal(before, torch.get_rng_state())


def test_short_series_are_padded_and_a_two_point_series_is_nan():
    train, _ = sine_panel(S=6)
    ys = train + [train[0][:5], np.array([3.0, 4.0]), train[1][:3]]
    for cls, kw in ((MLP, FAST_MLP), (LSTM, FAST_LSTM)):
        out = cls(**kw).fit_panel(ys).predict_panel(H)
        assert out.shape == (len(ys), H)
        assert np.all(np.isfinite(np.delete(out, 7, axis=0)))
        assert np.all(np.isnan(out[7]))


def test_only_short_series_still_forecast():
    """M3-yearly-like: every series shorter than L + h; windows come from padding."""
    rng = np.random.default_rng(1)
    ys = [100 + np.cumsum(rng.uniform(0, 5, int(n))) for n in rng.integers(9, 14, 30)]
    out = MLP(steps=30, random_state=0).fit_panel(ys).predict_panel(6)
    assert out.shape == (30, 6) and np.all(np.isfinite(out))


def test_training_windows_pad_with_the_first_value_and_keep_targets_observed():
    y = np.arange(1.0, 8.0)  # 7 points
    X, Y = training_windows([y], input_length=6, h=2, per_series=10, min_input=3)
    # cuts 3..5 -> 3 windows, the oldest input is [1,1,1,1,2,3]
    assert X.shape == (3, 6) and Y.shape == (3, 2)
    np.testing.assert_array_equal(X[0], [1, 1, 1, 1, 2, 3])
    np.testing.assert_array_equal(Y[-1], [6, 7])
    X2, _ = training_windows([y], input_length=6, h=2, per_series=2, min_input=3)
    np.testing.assert_array_equal(X2, X[-2:])  # the most recent windows are kept
    assert training_windows([y[:4]], 6, 2, 10, 3)[0].shape == (0, 6)
    np.testing.assert_array_equal(pad_left(np.array([5.0, 6.0]), 4), [5, 5, 5, 6])
    np.testing.assert_array_equal(window_scale(np.array([[0.0, 0.0], [-2.0, 4.0]])), [[1.0], [3.0]])


def test_forecasts_are_in_the_units_of_each_series():
    """Scaling a series by 1000 scales its forecast by 1000 (windows are scale-free)."""
    train, _ = sine_panel(S=6)
    a = MLP(**FAST_MLP).fit_panel(train).predict_panel(H)
    b = MLP(**FAST_MLP).fit_panel([y * 1000 for y in train]).predict_panel(H)
    np.testing.assert_allclose(b, a * 1000, rtol=1e-4)


def test_horizon_parameter_and_lazy_training_per_h():
    train, _ = sine_panel(S=6)
    fixed = MLP(horizon=8, **FAST_MLP).fit_panel(train)
    np.testing.assert_array_equal(fixed.predict_panel(4), fixed.predict_panel(8)[:, :4])
    lazy = MLP(**FAST_MLP).fit_panel(train)
    assert lazy.predict_panel(3).shape == (6, 3) and lazy.predict_panel(10).shape == (6, 10)
    np.testing.assert_array_equal(lazy.predict_panel(3), lazy.predict_panel(3))  # cached
    single = MLP(**FAST_MLP).fit(train[0]).predict(5)
    assert single.shape == (5,) and np.all(np.isfinite(single))


def test_unknown_optimizer_raises_input_error_naming_the_choices():
    with pytest.raises(InputError, match="adam"):
        MLP(optimizer="adamw")
    with pytest.raises(InputError):
        LSTM(optimizer=42)
    with pytest.raises(InputError, match="sgd"):
        make_optimizer("rmsprop", [torch.nn.Parameter(torch.zeros(1))], 1e-3)
    with pytest.raises(InputError):
        MLP(loss="mse")


def test_learned_optimizer_without_metaopt_raises_input_error(monkeypatch):
    for name in ("metacompose.metaopt", "metacompose.metaopt.learned_optimizer"):
        monkeypatch.setitem(sys.modules, name, None)  # makes the import fail
    train, _ = sine_panel(S=4)
    model = MLP(optimizer="learned", **FAST_MLP).fit_panel(train)
    with pytest.raises(InputError, match="metaopt"):
        model.predict_panel(H)


def test_learned_optimizer_is_used_when_available():
    metaopt = pytest.importorskip("metacompose.metaopt")
    params = [torch.nn.Parameter(torch.zeros(2))]
    opt = make_optimizer("learned", params, 1e-3, 10)
    assert isinstance(opt, metaopt.LearnedOptimizer) and opt.total_steps == 10 and opt.net.adam_lr == 1e-3
    with pytest.raises(InputError, match="total_steps"):  # the shipped weights need the run's length
        make_optimizer("learned", params, 1e-3)
    train, _ = sine_panel(S=4)
    out = MLP(optimizer="learned", **{**FAST_MLP, "steps": 5}).fit_panel(train).predict_panel(H)
    assert np.all(np.isfinite(out))


def test_custom_optimizer_callable_is_used():
    calls = []

    def sgd_zero(params):
        calls.append(1)
        return torch.optim.SGD(params, lr=0.0)

    train, _ = sine_panel(S=6)
    untrained = MLP(**{**FAST_MLP, "steps": 0}).fit_panel(train).predict_panel(H)
    frozen = MLP(optimizer=sgd_zero, **{**FAST_MLP, "steps": 20}).fit_panel(train).predict_panel(H)
    trained = MLP(**{**FAST_MLP, "steps": 20}).fit_panel(train).predict_panel(H)
    assert calls == [1]
    np.testing.assert_array_equal(frozen, untrained)
    assert not np.allclose(trained, untrained)
    partial = MLP(optimizer=functools.partial(torch.optim.SGD, lr=0.0), **{**FAST_MLP, "steps": 5})
    np.testing.assert_array_equal(partial.fit_panel(train).predict_panel(H), untrained)


def test_train_network_reduces_the_loss_and_returns_its_history():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(256, 8, generator=g)
    Y = X[:, -2:] * 2.0
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    hist = train_network(net, X, Y, torch.optim.Adam(net.parameters(), lr=1e-2), steps=200, batch_size=64, generator=g)
    assert len(hist) == 200 and hist[-1] < 0.3 * hist[0]
    with pytest.raises(InputError):
        train_network(net, X[:0], Y[:0], torch.optim.Adam(net.parameters()), steps=1)


@pytest.mark.parametrize("cls", [MLP, LSTM])
def test_params_are_json_serialisable_and_clone_keeps_them(cls):
    model = cls(season_length=4, horizon=6, optimizer="sgd")
    params = model.get_params()
    assert json.loads(json.dumps(params)) == params
    assert params["optimizer"] == "sgd" and model.alias == cls.__name__ and model.min_length == 3
    assert model.clone().get_params() == params
    assert cls(**{k: v for k, v in params.items()}).get_params() == params


@pytest.mark.parametrize("bad", [dict(steps=-1), dict(batch_size=0), dict(input_length=1), dict(input_length="x"),
                                 dict(horizon=0), dict(lr=-1.0), dict(random_state=None), dict(num_threads=0),
                                 dict(clip=-0.5), dict(clip="x")])
def test_bad_parameters_raise_input_error(bad):
    with pytest.raises(InputError):
        MLP(**bad)


@pytest.mark.parametrize("cls, kw", [(MLP, dict(steps=150)), (LSTM, dict(steps=60, hidden_size=16))])
def test_clip_keeps_forecasts_within_input_ranges_of_the_last_value(cls, kw):
    rng = np.random.default_rng(3)
    t = np.arange(12)
    # short series: half explode geometrically, half are noisy lines; a free network extrapolates the explosions
    ys = [rng.uniform(5, 50) * rng.uniform(1.3, 1.8) ** t for _ in range(20)]
    ys += [100 + rng.uniform(-3, 8) * t + rng.normal(0, 2, 12) for _ in range(20)]
    L = 4
    fc = cls(input_length=L, clip=0.5, **kw).fit_panel(ys).predict_panel(6)
    free = cls(input_length=L, clip=None, **kw).fit_panel(ys).predict_panel(6)
    ranges = np.array([np.ptp(y[-L:]) for y in ys])
    move = (fc - np.array([y[-1] for y in ys])[:, None]) / ranges[:, None]
    free_move = (free - np.array([y[-1] for y in ys])[:, None]) / ranges[:, None]
    assert np.all(np.isfinite(fc)) and np.abs(move).max() <= 0.5 + 1e-6
    assert np.abs(free_move).max() > 0.5 + 1e-3  # the bound binds: without it the forecasts move further
    np.testing.assert_allclose(fc, np.clip(free, np.array([y[-1] for y in ys])[:, None] - 0.5 * ranges[:, None],
                                           np.array([y[-1] for y in ys])[:, None] + 0.5 * ranges[:, None]), rtol=1e-6)
