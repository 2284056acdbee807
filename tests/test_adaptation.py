"""Meta-learned per-series adaptation (Meta-SGD) of the global networks: metacompose.models.adaptation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metacompose.errors import InputError
from metacompose.models import LSTM, MLP
from metacompose.models import adaptation
from metacompose.models.adaptation import RATE0, window_cuts
from metacompose.testing import check_forecaster
from tests.test_models_neural import H, sine_panel, smape

SMALL = dict(season_length=12, steps=100, hidden=(32,), random_state=0)


def two_groups(S=40, n=120, seed=0):
    """Two kinds of series a small global network under-fits: seasonal sines with random phase, and trending
    series with a period-7 square wave; returns (train, held-out next H points)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n + H)
    ys = []
    for i in range(S):
        level = rng.uniform(50, 150)
        if i % 2 == 0:
            y = level * (1 + 0.4 * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 6)))
        else:
            y = level * (1 + 0.004 * t * rng.uniform(1, 3)) * (1 + 0.3 * np.sign(np.sin(2 * np.pi * t / 7)))
        ys.append(y * (1 + rng.normal(0, 0.02, t.size)))
    return [y[:n] for y in ys], np.array([y[n:] for y in ys])


@pytest.fixture(scope="module")
def panel():
    return two_groups()


@pytest.fixture(scope="module")
def fits(panel):
    train, _ = panel
    off = MLP(**SMALL).fit_panel(train)
    on = MLP(**SMALL, adapt_steps=5).fit_panel(train)
    fixed = MLP(**SMALL, adapt_steps=5, adapt_meta_steps=0).fit_panel(train)
    return {k: (m, m.predict_panel(H)) for k, m in (("off", off), ("on", on), ("fixed", fixed))}


def test_adapt_steps_zero_is_the_plain_network_and_never_adapts(monkeypatch):
    train, _ = sine_panel(S=6)
    base = MLP(season_length=12, steps=30).fit_panel(train).predict_panel(H)

    def boom(*args, **kwargs):
        raise AssertionError("adaptation ran with adapt_steps=0")

    monkeypatch.setattr(MLP, "_adapted", boom)
    model = MLP(season_length=12, steps=30, adapt_steps=0, adapt_meta_steps=7).fit_panel(train)
    np.testing.assert_array_equal(model.predict_panel(H), base)
    assert model.adapt_rates == {}


def test_adaptation_lowers_the_held_out_error_and_needs_the_learned_rates(panel, fits):
    _, test = panel
    err = {k: smape(test, fc) for k, (_, fc) in fits.items()}
    assert err["on"] < 0.9 * err["off"]  # per-series steps help where one small network under-fits
    assert err["on"] < 0.9 * err["fixed"]  # ... with the meta-learned rates, not with the initial ones
    assert abs(err["fixed"] - err["off"]) < 0.05 * err["off"]  # the initial rates barely move the weights


def test_the_learned_rates_move_and_have_the_parameters_shapes(fits):
    model = fits["on"][0]
    rates = model.adapt_rates[H]
    net = model._nets[H]
    assert set(rates) == {k for k, _ in net.named_parameters()}
    for k, p in net.named_parameters():
        assert rates[k].shape == tuple(p.shape)
    flat = np.concatenate([r.ravel() for r in rates.values()])
    assert not np.allclose(flat, RATE0, rtol=1e-3) and np.all(flat > 0) and np.all(flat <= 1.0)
    np.testing.assert_allclose(np.concatenate([r.ravel() for r in fits["fixed"][0].adapt_rates[H].values()]),
                               RATE0, rtol=1e-6)


def test_adaptation_keeps_scale_equivariance_determinism_and_torch_state():
    train, _ = sine_panel(S=8)
    kw = dict(season_length=12, steps=40, hidden=(16,), adapt_steps=3, adapt_meta_steps=20)
    before = torch.get_rng_state()
    a = MLP(**kw).fit_panel(train).predict_panel(H)
    assert torch.equal(before, torch.get_rng_state())
    np.testing.assert_array_equal(a, MLP(**kw).fit_panel(train).predict_panel(H))
    c = MLP(**kw).fit_panel([1e6 * y for y in train]).predict_panel(H)
    np.testing.assert_allclose(c, 1e6 * a, rtol=1e-4)
    other = MLP(**{**kw, "random_state": 1}).fit_panel(train).predict_panel(H)
    assert not np.allclose(a, other)


def test_support_windows_end_before_the_query_origin():
    ys = [np.arange(1.0, 21.0), np.arange(1.0, 9.0)]
    cuts = window_cuts(ys, input_length=4, h=3, per_series=100, min_input=3)
    np.testing.assert_array_equal(cuts, [*range(3, 18), *range(3, 6)])  # cut runs min_input .. t - h per series


def test_lstm_adapts_through_the_same_code():
    train, _ = sine_panel(S=6)
    kw = dict(season_length=12, steps=20, hidden_size=8, random_state=0)
    off = LSTM(**kw).fit_panel(train).predict_panel(H)
    on = LSTM(**kw, adapt_steps=2, adapt_meta_steps=5).fit_panel(train).predict_panel(H)
    assert on.shape == off.shape and np.all(np.isfinite(on)) and not np.allclose(on, off)


@pytest.mark.parametrize("cls", [MLP, LSTM])
@pytest.mark.parametrize("name, bad", [("adapt_steps", -1), ("adapt_steps", 2.0), ("adapt_steps", True),
                                       ("adapt_steps", "3"), ("adapt_meta_steps", -5), ("adapt_meta_steps", 1.5)])
def test_bad_adaptation_parameters_raise_input_error(cls, name, bad):
    with pytest.raises(InputError, match=name):
        cls(**{name: bad})


def test_mlp_with_adaptation_passes_the_conformance_check():
    check_forecaster(MLP(season_length=4, steps=20, adapt_steps=3, adapt_meta_steps=20))


def test_adapt_forecast_without_windows_keeps_the_global_output():
    net = torch.nn.Sequential(torch.nn.Linear(4, 2))
    Xf = torch.rand(3, 4)
    rates = {k: torch.zeros_like(v) for k, v in net.named_parameters()}
    out = adaptation.adapt_forecast(net, torch.rand(5, 4), torch.rand(5, 2), np.array([0, 0, 0, 1, 1]),
                                    np.array([2, 3, 4]), Xf, rates, 3, "mae")
    with torch.no_grad():
        np.testing.assert_array_equal(out, net(Xf).double().numpy())
