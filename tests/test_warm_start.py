"""Warm starts across backtest origins (``Forecaster.fit(previous=...)``, ``PanelForecaster.fit_panel(previous=...)``;
ARIMA and ETS ``warm_start``, MLP and LSTM ``warm_steps``).

What a warm start may change and what it may not:

* the final origin (the forecast users get) is always fitted from scratch: its forecasts are
  identical with and without warm starts;
* a warm fit that keeps the specification a fresh search would choose differs from the fresh fit
  only by the optimiser's start: forecasts within 1e-3 relative;
* nothing after an origin is used at that origin: changing the series after origin ``k`` leaves
  every forecast at origins up to ``k`` unchanged, bit for bit;
* ``previous`` must be the same model, fitted.
"""

import numpy as np
import pytest

from metacompose.backtest import backtest
from metacompose.errors import InputError
from metacompose.models import MLP, Theta
from metacompose.models.arima import ARIMA
from metacompose.models.statistical import ETS

H, ORIGINS = 6, 4


def panel(n_series=6, seed=0):
    """Positive AR(1)-plus-trend series of 40-60 points."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_series):
        n = 40 + 4 * i
        e = np.zeros(n)
        for t in range(1, n):
            e[t] = 0.6 * e[t - 1] + rng.normal()
        out.append(100.0 + 0.5 * np.arange(n) + 3.0 * e)
    return out


def warm_pool(on):
    return [ARIMA(warm_start=on), ETS(warm_start=on), Theta()]


def test_the_final_origin_is_fitted_from_scratch():
    ys = panel()
    cold, _ = backtest(ys, warm_pool(False), H, n_origins=ORIGINS, step=2)
    warm, _ = backtest(ys, warm_pool(True), H, n_origins=ORIGINS, step=2)
    np.testing.assert_array_equal(warm.forecasts[:, -1], cold.forecasts[:, -1])
    j = list(warm.models).index("Theta")  # Theta takes no warm start: identical at every origin
    np.testing.assert_array_equal(warm.forecasts[:, :, j], cold.forecasts[:, :, j])
    assert not np.array_equal(warm.forecasts[:, 1:-1, :2], cold.forecasts[:, 1:-1, :2])  # the option does something


@pytest.mark.parametrize("cls", [ARIMA, ETS])
def test_a_warm_fit_with_the_fresh_specification_matches_the_fresh_fit(cls):
    compared = 0
    for y in panel(8, seed=3):
        fresh = cls(warm_start=False).fit(y)
        previous = cls(warm_start=True).fit(y[:-2])
        spec = "_order" if cls is ARIMA else "_spec"
        if getattr(previous, spec) != getattr(fresh, spec) or (cls is ARIMA and previous._const != fresh._const):
            continue  # a different specification: a different model, not a tolerance question
        warm = cls(warm_start=True).fit(y, previous=previous)
        np.testing.assert_allclose(warm.predict(H), fresh.predict(H), rtol=1e-3)
        compared += 1
    assert compared >= 4


def test_nothing_after_an_origin_is_used_at_that_origin():
    ys = panel()
    base, _ = backtest(ys, warm_pool(True), H, n_origins=ORIGINS, step=2)
    k = 1  # the second backtest origin: its warm start comes from the first
    changed = []
    for i, y in enumerate(ys):
        o = int(base.origins[i, k])
        z = y.copy()
        z[o:] = z[o:] * 3.0 + 50.0  # everything from the origin on is different
        changed.append(z)
    other, _ = backtest(changed, warm_pool(True), H, n_origins=ORIGINS, step=2)
    np.testing.assert_array_equal(other.forecasts[:, : k + 1], base.forecasts[:, : k + 1])
    assert not np.array_equal(other.forecasts[:, k + 1], base.forecasts[:, k + 1])


def test_previous_must_be_the_same_fitted_model():
    y = panel(1)[0]
    with pytest.raises(InputError, match="previous="):
        ARIMA(warm_start=True).fit(y, previous=ETS().fit(y[:-2]))
    with pytest.raises(InputError, match="previous="):
        ARIMA(warm_start=True).fit(y, previous=ARIMA(warm_start=True))  # not fitted
    with pytest.raises(InputError, match="previous="):
        ARIMA(warm_start=True).fit(y, previous=ARIMA(max_p=1, warm_start=True).fit(y[:-2]))


def tiny_mlp(warm_steps):
    return MLP(hidden=[16], steps=60, batch_size=64, warm_steps=warm_steps)


def test_panel_networks_fine_tune_forward_and_the_final_origin_trains_from_scratch():
    ys = panel(8)
    cold, _ = backtest(ys, [tiny_mlp(None)], H, n_origins=ORIGINS, step=2)
    warm, report = backtest(ys, [tiny_mlp(15)], H, n_origins=ORIGINS, step=2)
    np.testing.assert_array_equal(warm.forecasts[:, -1], cold.forecasts[:, -1])
    np.testing.assert_array_equal(warm.forecasts[:, 0], cold.forecasts[:, 0])  # the first origin: from scratch
    assert not np.array_equal(warm.forecasts[:, 1:-1], cold.forecasts[:, 1:-1])
    assert np.all(np.isfinite(warm.forecasts))
    assert report.failures == []
    # nothing after an origin reaches it through the chain of warm starts
    k = 1
    changed = []
    for i, y in enumerate(ys):
        z = y.copy()
        z[int(warm.origins[i, k]):] += 40.0
        changed.append(z)
    other, _ = backtest(changed, [tiny_mlp(15)], H, n_origins=ORIGINS, step=2)
    np.testing.assert_array_equal(other.forecasts[:, : k + 1], warm.forecasts[:, : k + 1])


def test_a_warm_network_starts_from_the_previous_one():
    ys = panel(8)
    first = tiny_mlp(0).fit_panel([y[:-2] for y in ys])
    first.predict_panel(H)
    again = tiny_mlp(0).fit_panel([y[:-2] for y in ys], previous=first)  # 0 steps: the same network
    np.testing.assert_allclose(again.predict_panel(H), first.predict_panel(H), rtol=1e-6)
    with pytest.raises(InputError, match="previous="):
        tiny_mlp(0).fit_panel(ys, previous=tiny_mlp(5).fit_panel(ys))
    with pytest.raises(InputError, match="warm_steps"):
        MLP(warm_steps=-1)
