"""Property-based tests (hypothesis): the metrics and the environment's action -> weights mapping."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from metacompose.combine import action_to_weights
from metacompose.metrics import mase, mase_scale, smape

SETTINGS = settings(max_examples=150, deadline=None)

finite = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False)
# no subnormals: scaling them by c underflows to 0, which no metric can be invariant to
moderate = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def pairs(draw, elements=finite, max_size=30):
    n = draw(st.integers(1, max_size))
    y = draw(arrays(np.float64, n, elements=elements))
    f = draw(arrays(np.float64, n, elements=elements))
    return y, f


# --- sMAPE -----------------------------------------------------------------------------------
@SETTINGS
@given(pairs())
def test_smape_is_between_0_and_200(p):
    y, f = p
    v = smape(y, f)
    assert np.isfinite(v) and 0.0 <= v <= 200.0
    per_point = smape(y[:, None], f[:, None], axis=1)
    assert np.all((per_point >= 0) & (per_point <= 200))


@SETTINGS
@given(pairs())
def test_smape_is_symmetric(p):
    y, f = p
    assert smape(y, f) == smape(f, y)


@SETTINGS
@given(pairs())
def test_smape_is_zero_iff_equal(p):
    y, f = p
    assert smape(y, y) == 0.0
    assert (smape(y, f) == 0.0) == bool(np.all(y == f))


@SETTINGS
@given(pairs(elements=moderate), st.floats(min_value=1e-3, max_value=1e3))
def test_smape_is_scale_invariant(p, c):
    y, f = p
    np.testing.assert_allclose(smape(c * y, c * f), smape(y, f), rtol=1e-9, atol=1e-9)


@SETTINGS
@given(pairs())
def test_smape_ignores_unknown_actuals(p):
    y, f = p
    y2 = np.r_[y, np.nan]
    f2 = np.r_[f, 1.0]
    assert smape(y2, f2) == pytest.approx(smape(y, f), rel=1e-12)


# --- MASE ----------------------------------------------------------------------------------------
@st.composite
def mase_case(draw):
    m = draw(st.integers(1, 6))
    n = draw(st.integers(2, 40))
    train = draw(arrays(np.float64, n, elements=moderate))
    h = draw(st.integers(1, 8))
    y = draw(arrays(np.float64, h, elements=moderate))
    f = draw(arrays(np.float64, h, elements=moderate))
    return train, y, f, m


@SETTINGS
@given(mase_case())
def test_mase_is_non_negative_and_finite(case):
    train, y, f, m = case
    scale = mase_scale(train, m)
    assert scale > 0 and np.isfinite(scale)
    v = mase(y, f, scale)
    assert np.isfinite(v) and v >= 0
    assert mase(y, y, scale) == 0.0


@SETTINGS
@given(mase_case(), st.floats(min_value=1e-3, max_value=1e3), st.floats(min_value=-1e3, max_value=1e3))
def test_mase_is_scale_invariant(case, c, shift):
    train, y, f, m = case
    lag = m if train.shape[0] > m else 1
    raw = np.mean(np.abs(train[lag:] - train[:-lag]))
    assume(raw > 1e-6 * (1 + np.max(np.abs(train))))  # not (nearly) constant: those get the fixed scale 1.0
    scale = mase_scale(train, m)
    base = mase(y, f, scale)
    scaled = mase(c * y + shift, c * f + shift, mase_scale(c * train + shift, m))
    np.testing.assert_allclose(scaled, base, rtol=1e-6, atol=1e-9)


@SETTINGS
@given(st.integers(1, 12), st.integers(1, 30), st.floats(min_value=-1e6, max_value=1e6))
def test_mase_scale_of_a_constant_series_is_one(m, n, value):
    assert mase_scale(np.full(n, value), m) == 1.0


# --- the environment's action -> weights mapping ------------------------------------------------
temperatures = st.floats(min_value=1e-3, max_value=1e3)


def assert_simplex(w, shape):
    assert w.shape == shape
    assert not np.any(np.isnan(w))
    assert np.all(w >= 0) and np.all(w <= 1)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, rtol=0, atol=1e-12)


@SETTINGS
@given(st.integers(1, 12).flatmap(lambda m: arrays(np.float32, m, elements=st.floats(-1, 1, width=32))), temperatures)
def test_weights_from_actions_in_the_box_are_on_the_simplex(action, temp):
    w = action_to_weights(action, temp)
    assert_simplex(w, action.shape)
    if np.all(action == action[0]):
        np.testing.assert_allclose(w, 1.0 / action.shape[0])  # a uniform action gives equal weights


@SETTINGS
@given(st.integers(1, 12).flatmap(lambda m: arrays(np.float64, m, elements=st.floats(allow_nan=True, allow_infinity=True))),
       temperatures)
def test_weights_from_extreme_actions_are_on_the_simplex(action, temp):
    assert_simplex(action_to_weights(action, temp), action.shape)


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 5), st.integers(1, 8), temperatures, st.data())
def test_weights_of_a_batch_of_actions(s, o, m, temp, data):
    action = data.draw(arrays(np.float64, (s, o, m), elements=st.floats(-1e308, 1e308)))
    assert_simplex(action_to_weights(action, temp), (s, o, m))


@SETTINGS
@given(st.integers(2, 10).flatmap(lambda m: arrays(np.float64, m, elements=st.floats(-1, 1))), temperatures)
def test_weights_preserve_the_order_of_actions(action, temp):
    w = action_to_weights(action, temp)
    i, j = np.argmax(action), np.argmin(action)
    assert w[i] >= w[j]
