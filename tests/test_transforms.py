"""Window transforms of the global networks (metacompose.models.transforms) and their learned choice
(metacompose.models.transform_choice, ``transform="auto"``)."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from metacompose.errors import FileFormatError, InputError
from metacompose.features import FEATURE_NAMES
from metacompose.models import LSTM, MLP
from metacompose.models._windows import window_scale
from metacompose.features import series_feature_matrix
from metacompose.models.transform_choice import SHIPPED, TransformChooser, choose_transforms, shipped_chooser
from metacompose.models.transforms import TRANSFORMS, decode, encode, get_transform
from metacompose.testing import check_forecaster, check_magnitudes
from tests.test_models_neural import H, sine_panel

TINY = dict(season_length=4, steps=20, hidden=(16,), random_state=0)

# tiny values become 0: scaled by 1e-9 they would turn subnormal and lose their digits
values = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False).map(
    lambda v: v if abs(v) >= 1e-6 else 0.0)


@st.composite
def windows(draw, positive=False):
    """``(X, Y, m)``: input windows ``(N, L)`` (none all zero) and targets ``(N, h)``."""
    n, L, h, m = draw(st.integers(1, 6)), draw(st.integers(2, 12)), draw(st.integers(1, 7)), draw(st.integers(1, 5))
    el = st.floats(0.01, 1e3) if positive else values
    X = draw(arrays(np.float64, (n, L), elements=el))
    Y = draw(arrays(np.float64, (n, h), elements=el))
    X[~np.any(X != 0, axis=1), -1] = 1.0  # all-zero windows never reach a transform
    return X, Y, m


@pytest.mark.parametrize("name", TRANSFORMS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_decode_inverts_encode_and_the_maps_are_scale_free(name, data):
    X, Y, m = data.draw(windows(positive=name == "log" and data.draw(st.booleans())))
    Z, T, used = encode(name, X, Y, m)
    assert Z.shape == X.shape and T.shape == Y.shape and set(used) <= {name, "mean_abs"}
    scale = np.mean(np.abs(X), axis=1, keepdims=True) + np.abs(Y)
    np.testing.assert_allclose(decode(used, X, T, m), Y, rtol=1e-7, atol=1e-7 * scale.max())
    for c in (1e-9, 3.7, 1e9):
        Zc, Tc, used_c = encode(name, c * X, c * Y, m)
        assert np.array_equal(used_c, used)
        np.testing.assert_allclose(Zc, Z, rtol=1e-9, atol=1e-9 * (1 + np.abs(Z).max()))
        np.testing.assert_allclose(Tc, T, rtol=1e-9, atol=1e-9 * (1 + np.abs(T).max()))


@pytest.mark.parametrize("name", TRANSFORMS)
def test_a_silent_network_forecasts_naive_or_seasonal_naive(name):
    rng = np.random.default_rng(0)
    m, h = 4, 6
    X = rng.uniform(10, 20, (5, 12))
    Z, _, used = encode(name, X, None, m)
    assert set(used) == {name}
    fc = decode(used, X, np.repeat(Z[:, -1:], h, axis=1), m)
    expect = np.tile(X[:, -m:], 2)[:, :h] if name == "seasonal_diff" else np.repeat(X[:, -1:], h, axis=1)
    np.testing.assert_allclose(fc, expect, rtol=1e-12)


def test_mean_abs_is_todays_scaling_bit_for_bit():
    X = np.random.default_rng(1).normal(size=(7, 9))
    Y = np.random.default_rng(2).normal(size=(7, 3))
    Z, T, _ = encode("mean_abs", X, Y)
    s = window_scale(X)
    assert np.array_equal(Z, X / s) and np.array_equal(T, Y / s)


def test_rows_a_transform_cannot_express_fall_back_to_mean_abs():
    X = np.array([[1.0, 2.0, 0.0], [3.0, 3.0, 3.0], [-1.0, 2.0, 4.0], [1.0, 2.0, 3.0]])
    Y = np.array([[1.0], [2.0], [3.0], [-1.0]])
    assert list(encode("last", X, Y)[2]) == ["mean_abs", "last", "last", "last"]
    assert list(encode("standard", X, Y)[2]) == ["standard", "mean_abs", "standard", "standard"]
    assert list(encode("log", X, Y)[2]) == ["mean_abs", "log", "mean_abs", "mean_abs"]  # last: target <= 0
    assert list(encode("log", X)[2]) == ["mean_abs", "log", "mean_abs", "log"]  # forecast time: input only
    assert list(encode("seasonal_diff", X, Y, 3)[2]) == ["mean_abs"] * 4  # L <= m
    assert list(encode("seasonal_diff", X, Y, 1)[2]) == ["seasonal_diff", "mean_abs", "seasonal_diff", "seasonal_diff"]
    mixed = np.array(["log", "last", "standard", "mean_abs"])
    Z, T, used = encode(mixed, X, Y, 1)
    assert list(used) == ["mean_abs", "last", "standard", "mean_abs"]
    np.testing.assert_allclose(decode(used, X, T, 1), Y)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_mlp_with_each_transform_is_scale_equivariant(name):
    check_magnitudes(MLP(**TINY, transform=name), magnitudes=(1e-9, 1e9))


def test_mlp_learns_with_every_transform_and_seasonal_differences_suit_sines():
    train, test = sine_panel(S=12)
    naive = np.mean(np.abs(test - np.array([y[-1] for y in train])[:, None]))
    err = {t: np.mean(np.abs(test - MLP(season_length=12, steps=100, transform=t).fit_panel(train).predict_panel(H)))
           for t in TRANSFORMS}
    assert all(e < 0.5 * naive for e in err.values()), err
    assert err["seasonal_diff"] < err["mean_abs"]


def test_a_list_gives_each_series_its_own_transform():
    train, _ = sine_panel(S=4)
    names = ["log", "seasonal_diff", "mean_abs", "standard"]
    model = MLP(**TINY, transform=names).fit_panel(train)
    assert model.chosen_transforms == names and model.get_params()["transform"] == names
    json.dumps(model.get_params())
    default = MLP(**TINY).fit_panel(train).predict_panel(3)
    untold = MLP(**TINY, transform=["mean_abs"] * 4)
    untold._tag_transforms = False  # without the transforms' codes the network sees exactly the default inputs
    assert np.array_equal(untold.fit_panel(train).predict_panel(3), default)
    told = MLP(**TINY, transform=["mean_abs"] * 4).fit_panel(train)
    told.predict_panel(3)
    assert told._nets[3].body[0].in_features == told.window_length(3) + len(TRANSFORMS)
    assert not np.allclose(model.predict_panel(3), default)
    fc = LSTM(season_length=4, steps=10, hidden_size=8, transform=names).fit_panel(train).predict_panel(3)
    assert np.all(np.isfinite(fc))


def test_auto_uses_the_shipped_chooser():
    train, _ = sine_panel(S=6)
    model = MLP(**TINY, transform="auto").fit_panel(train)
    assert model.chosen_transforms == choose_transforms(train, 4)
    assert set(model.chosen_transforms) <= set(TRANSFORMS) and np.all(np.isfinite(model.predict_panel(3)))
    chooser = shipped_chooser()
    assert set(chooser.classes_) <= set(TRANSFORMS) and "M3 training parts" in chooser.info["trained_on"]


@pytest.mark.parametrize("transform", ["auto", "log"])
def test_mlp_with_auto_and_log_passes_the_conformance_check(transform):
    check_forecaster(MLP(season_length=4, steps=20, transform=transform))


def _chooser(n=200, seed=0):
    rng = np.random.default_rng(seed)
    F = rng.uniform(-1, 1, (n, len(FEATURE_NAMES)))
    labels = np.where(F[:, 1] > 0.3, "seasonal_diff", np.where(F[:, 4] > 0, "log", "mean_abs"))
    return TransformChooser(n_estimators=20, min_data_in_leaf=5).fit(F, labels), F, labels


def test_chooser_learns_and_survives_a_save_load_round_trip(tmp_path):
    chooser, F, labels = _chooser()
    assert np.mean(chooser.predict(F) == labels) > 0.9
    path = chooser.save(tmp_path / "c", info={"trained_on": "synthetic"})
    back = TransformChooser.load(path)
    assert back.classes_ == chooser.classes_ and back.info == {"trained_on": "synthetic"}
    np.testing.assert_allclose(back.predict_proba(F), chooser.predict_proba(F))
    one = TransformChooser().fit(F[:5], ["log"] * 5)
    assert list(TransformChooser.load(one.save(tmp_path / "one")).predict(F[:3])) == ["log"] * 3


def test_chooser_features_are_the_projects_series_features():
    ys = [np.arange(1.0, 40.0), 5 + np.sin(np.arange(30.0))]
    F = series_feature_matrix(ys, 4)
    assert F.shape == (2, len(FEATURE_NAMES)) and np.all(np.abs(F) <= 1)
    np.testing.assert_allclose(series_feature_matrix([1e6 * y for y in ys], 4), F, atol=1e-6)


@pytest.mark.parametrize("bad", ["boxcox", "", 3, None, [], ["log", "nope"], ["auto"]])
def test_unknown_transforms_are_refused(bad):
    with pytest.raises(InputError, match="transform"):
        MLP(transform=bad)
    with pytest.raises(InputError):
        LSTM(transform=bad)


def test_a_list_of_the_wrong_length_is_refused_at_fit_panel():
    train, _ = sine_panel(S=3)
    with pytest.raises(InputError, match="2 names, one per series, but fit_panel got 3 series"):
        MLP(**TINY, transform=["log", "last"]).fit_panel(train)
    with pytest.raises(InputError, match="unknown window transform"):
        get_transform("exp")


def test_damaged_and_newer_chooser_files_are_refused(tmp_path):
    chooser, F, _ = _chooser()
    path = chooser.save(tmp_path / "c")
    header = json.loads(path.read_text())
    path.write_text("{not json")
    with pytest.raises(FileFormatError):
        TransformChooser.load(path)
    for change in ({"version": 99}, {"booster": "tree\ngarbage"}, {"classes": ["log", "boxcox"]},
                   {"feature_names": ["a"]}, {"format": "other"}):
        path.write_text(json.dumps({**header, **change}))
        with pytest.raises(FileFormatError):
            TransformChooser.load(path)
    with pytest.raises(FileNotFoundError):
        TransformChooser.load(tmp_path / "missing")


def test_shipped_chooser_file_is_in_the_package():
    assert SHIPPED.with_suffix(".json").exists()
