"""Feature sets: no look-ahead, bounded, scale-free, cached apart from the members, chosen by name."""

import warnings

import numpy as np
import pytest

from metacompose import Composer
from metacompose.backtest import backtest
from metacompose.errors import InputError
from metacompose.feature_sets import (CATCH22_NAMES, FEATURE_SETS, TSFEATURE_NAMES, check_feature_set,
                                      origin_features)
from metacompose.features import FEATURE_NAMES
from metacompose.models import Naive, SeasonalNaive

SETS = list(FEATURE_SETS)


def series(n=60, seed=0, m=12):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 0.3 * t + 5 * np.sin(2 * np.pi * t / m) + np.cumsum(rng.normal(0, 1, n))


@pytest.mark.parametrize("name", SETS)
def test_features_at_an_origin_ignore_what_comes_after_it(name):
    y = series()
    origins = np.array([30, 42, 60])
    before = origin_features(y, origins, 12, name)
    changed = y.copy()
    changed[42:] = changed[42:] * 3 + 1000  # rewrite everything after the second origin
    after = origin_features(changed, origins, 12, name)
    np.testing.assert_array_equal(after[:2], before[:2])
    assert not np.array_equal(after[2], before[2])


@pytest.mark.parametrize("name", SETS)
def test_features_are_bounded_and_finite_on_awkward_series(name):
    rng = np.random.default_rng(1)
    awkward = [series(), np.full(30, 7.0), np.arange(5.0), 1e30 * series(40), rng.normal(0, 1, 50),
               np.r_[np.zeros(20), 1.0, np.zeros(20)], series(24, m=4)]
    for y in awkward:
        f = origin_features(y, np.array([len(y) // 2, len(y)]), 4, name)
        assert f.shape == (2, len(FEATURE_SETS[name].names)) and f.dtype == np.float32
        assert np.all(np.isfinite(f)) and np.all(np.abs(f) <= 1.0)


@pytest.mark.parametrize("name", SETS)
def test_features_do_not_depend_on_the_units_of_the_series(name):
    y = series(seed=3)
    origins = np.array([36, 60])
    base = origin_features(y, origins, 12, name)
    np.testing.assert_array_equal(origin_features(y * 1024.0, origins, 12, name), base)  # exact in floating point
    np.testing.assert_allclose(origin_features(y * 1e-3, origins, 12, name), base, atol=1e-4)
    assert np.abs(base).max() > 0.1  # not trivially zero


def test_tsfeatures_leaves_python_warnings_working():
    origin_features(series(), np.array([60]), 12, "tsfeatures")  # imports tsfeatures, which mutes warnings.warn
    with pytest.warns(UserWarning, match="still heard"):
        warnings.warn("still heard", UserWarning)


def test_unknown_feature_set_is_an_input_error_with_a_suggestion():
    assert check_feature_set("Catch22") == "catch22"
    with pytest.raises(InputError, match="did you mean 'catch22'"):
        check_feature_set("catch_22")
    with pytest.raises(InputError, match="did you mean 'tsfeatures'"):
        backtest([series()], [Naive()], horizon=3, features="tsfeature")
    with pytest.raises(InputError, match="unknown feature set"):
        Composer(agent="equal", horizon=3, features=22)
    assert Composer(agent="equal", horizon=3, features="catch22").get_params()["features"] == "catch22"


def test_backtest_feature_sets_share_the_members_and_cache_features_apart(tmp_path):
    ys = [series(48, seed=s) for s in range(4)]
    pool = [Naive(), SeasonalNaive(season_length=12)]
    kw = dict(horizon=6, season_length=12, n_origins=3, cache_dir=tmp_path)
    basic, _ = backtest(ys, pool, **kw)
    c22, rep = backtest(ys, pool, features="catch22", **kw)
    assert rep.cached_chunks == 1  # the members come from the basic run's chunk file
    assert basic.feature_names == FEATURE_NAMES and c22.feature_names == CATCH22_NAMES
    np.testing.assert_array_equal(c22.forecasts, basic.forecasts)
    for i, y in enumerate(ys):
        np.testing.assert_array_equal(c22.features[i], origin_features(y, c22.origins[i], 12, "catch22"))
        np.testing.assert_array_equal(basic.features[i], origin_features(y, basic.origins[i], 12, "basic"))
    assert len(list(tmp_path.glob("features-catch22-*.npz"))) == 1
    again, _ = backtest(ys, pool[:1], features="catch22", **kw)  # another pool, same origins: same features
    np.testing.assert_array_equal(again.features, c22.features)
    assert len(list(tmp_path.glob("features-*.npz"))) == 1
    ts, _ = backtest(ys[:1], pool, features="tsfeatures", **kw)
    assert ts.feature_names == TSFEATURE_NAMES and ts.features.shape == (1, 4, len(TSFEATURE_NAMES))
