"""Conformal intervals (metacompose.intervals), interval scores (metacompose.metrics) and
``Composer.predict(level=...)``."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from metacompose import Composer
from metacompose.cli import main
from metacompose.errors import InputError
from metacompose import evaluate
from metacompose.intervals import (composed_intervals, conformal_bounds, conformal_quantiles, feature_groups,
                                   model_intervals, pool_spread, scaled_backtest_errors, validation_coverage)
from metacompose.metrics import coverage, interval_score, interval_score_points, msis
from metacompose.synthetic import make_synthetic_cube


def random_walks(n_series=150, n=64, h=4, seed=0):
    """Gaussian random walks (known noise), split into a training frame and the next ``h`` values."""
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n_series):
        y = 100 + np.cumsum(rng.normal(0, 1 + i % 3, n + h))       # three noise levels
        parts.append(pd.DataFrame({"unique_id": f"s{i:03d}", "ds": np.arange(n + h), "y": y}))
    df = pd.concat(parts, ignore_index=True)
    is_test = df["ds"] >= n
    return df[~is_test], df[is_test]


@pytest.fixture(scope="module")
def walks():
    train, test = random_walks()
    comp = Composer(models=["Naive", "Drift"], agent="equal", horizon=4).fit(train)
    return comp, train, test


# -- scores --------------------------------------------------------------------------------

def test_interval_scores_by_hand():
    y, lo, hi = np.array([1.0, 5.0, 10.0]), np.array([0.0, 6.0, 2.0]), np.array([2.0, 8.0, 9.0])
    # level 80: a = 0.2, penalty 2 / a = 10 per unit of miss
    assert interval_score_points(y, lo, hi, 80).tolist() == pytest.approx([2.0, 2.0 + 10.0, 7.0 + 10.0])
    assert interval_score(y, lo, hi, 80) == pytest.approx(31.0 / 3.0)
    assert msis(y, lo, hi, 80, 2.0) == pytest.approx(31.0 / 6.0)
    # level 95: a = 0.05, penalty 40 per unit
    assert interval_score(y, lo, hi, 95) == pytest.approx((2.0 + 42.0 + 47.0) / 3.0)
    assert coverage(y, lo, hi) == pytest.approx(1.0 / 3.0)


def test_interval_scores_leave_out_unknown_actuals_and_check_arguments():
    y = np.array([[1.0, np.nan], [3.0, 4.0]])
    assert coverage(y, 0.0, 3.5) == pytest.approx(2.0 / 3.0)
    assert coverage(y, 0.0, 3.5, axis=1).tolist() == pytest.approx([1.0, 0.5])
    assert msis(y, 0.0, 3.5, 95, np.array([[1.0], [2.0]]), axis=1).tolist() == pytest.approx([3.5, (3.5 + 3.5 + 20.0) / 4])
    for bad in (0, 100, -1, 150, np.nan, "95", [80, 95]):
        with pytest.raises(InputError, match="level"):
            interval_score(y, 0.0, 1.0, bad)
    with pytest.raises(InputError, match="scale"):
        msis(y, 0.0, 1.0, 95, 0.0)
    with pytest.raises(InputError):
        coverage(np.ones(3), np.zeros(2), np.ones(3))


# -- the conformal quantile ---------------------------------------------------------------

def test_conformal_quantile_is_the_corrected_rank_and_infinite_when_too_few():
    e = np.full((3, 4, 1), np.nan)                           # 3 series x 4 origins, one step
    e.reshape(-1)[:9] = np.arange(9.0, 0.0, -1.0)            # 9 scores 1..9, 3 origins without one
    q = conformal_quantiles(e, [50, 80, 95])
    assert q.shape == (3, 3, 1)
    # ranks ceil(10 * 0.5) = 5, ceil(10 * 0.8) = 8, ceil(10 * 0.95) = 10 > 9 scores
    assert q[:, 0, 0].tolist() == [5.0, 8.0, np.inf]
    assert np.all(q == q[:, :1])                             # pooled: the same for every series


def test_groups_pool_within_each_group():
    e = np.zeros((4, 10, 1))
    e[2:] = 100.0                                            # series 2 and 3 err much more
    q = conformal_quantiles(e, 80, groups=np.array([0, 0, 1, 1]))
    assert q[0, :, 0].tolist() == [0.0, 0.0, 100.0, 100.0]
    assert conformal_quantiles(e, 80)[0, :, 0].tolist() == [100.0] * 4
    with pytest.raises(InputError, match="groups"):
        conformal_quantiles(e, 80, groups=np.array([0, 1]))
    cube = make_synthetic_cube(n_series=30, seed=3)
    g = feature_groups(cube, "best_model_hint", 3)
    assert g.shape == (30,) and set(g) <= {0, 1, 2} and len(set(g)) > 1
    with pytest.raises(InputError, match="feature"):
        feature_groups(cube, "nope")


# -- intervals from a cube ---------------------------------------------------------------

def test_scores_are_scaled_backtest_errors_only():
    cube = make_synthetic_cube(n_series=20, seed=1)
    e = scaled_backtest_errors(cube, cube.forecasts)
    assert e.shape == cube.forecasts.shape
    assert np.all(np.isnan(e[:, -1]))                        # never the final origin
    assert np.all(np.isnan(e[~cube.backtest_mask]))
    s, k = np.argwhere(cube.backtest_mask)[0]
    expect = np.abs(cube.actuals[s, k] - cube.forecasts[s, k, 1]) / cube.origin_scales[s, k]
    np.testing.assert_allclose(e[s, k, 1], expect, rtol=1e-6)


def test_pool_spread_by_hand():
    cube = make_synthetic_cube(n_series=3, n_models=3, n_origins=3, horizon=2, short_fraction=0.0, seed=0)
    f = np.zeros(cube.forecasts.shape, dtype=np.float32)
    f[:, :, 0], f[:, :, 1], f[:, :, 2] = 1.0, 3.0, np.nan   # model 2 failed with NaN: left out
    cube = replace(cube, forecasts=f)
    scale = cube.origin_scales.astype(float)[:, :, None]
    composed = np.full((3, 3, 2), 2.0)
    np.testing.assert_allclose(pool_spread(cube, composed), np.broadcast_to(1.0 / scale, (3, 3, 2)))  # (1 + 1) / 2
    per_model = pool_spread(cube, f)                                                      # (S, O, M, H)
    np.testing.assert_allclose(per_model[:, :, 0], np.broadcast_to(1.0 / scale, (3, 3, 2)))          # (0 + 2) / 2
    np.testing.assert_allclose(per_model[:, :, 2], 0.0)                                  # NaN forecast: no distance


def test_intervals_use_only_what_is_known_at_the_final_origin():
    cube = make_synthetic_cube(n_series=40, seed=2)
    before = model_intervals(cube, [80, 95])
    changed = cube.actuals.copy()
    changed[:, -1] = 1e6                                     # the final origin's (unknown) future
    after = model_intervals(replace(cube, actuals=changed), [80, 95])
    for level in (80, 95):
        for a, b in zip(before[level], after[level]):
            np.testing.assert_array_equal(a, b)
    # a backtest actual does matter
    changed = cube.actuals.copy()
    changed[cube.backtest_mask] *= 50.0
    moved = model_intervals(replace(cube, actuals=changed), [80])[80][1]
    assert not np.allclose(moved, before[80][1])


def test_intervals_are_centred_widen_with_level_and_nest():
    cube = make_synthetic_cube(n_series=60, seed=4)
    composed = cube.forecasts.mean(axis=2)                   # (S, O, H)
    b = composed_intervals(cube, composed, [95, 50, 80])
    assert list(b) == [50, 80, 95]
    centre = composed[:, -1]
    for level, (lo, hi) in b.items():
        assert lo.shape == hi.shape == centre.shape
        np.testing.assert_allclose((lo + hi) / 2, centre, rtol=1e-9)
    (lo50, hi50), (lo80, hi80), (lo95, hi95) = b.values()
    assert np.all(lo95 <= lo80) and np.all(lo80 <= lo50) and np.all(hi50 <= hi80) and np.all(hi80 <= hi95)
    assert np.mean(hi95 - lo95) > np.mean(hi80 - lo80) > np.mean(hi50 - lo50)
    scale = cube.origin_scales[:, -1].astype(float)[:, None]
    # half-widths over the final origin's scale x (1 + the pool's spread) are the same for every series
    spread = pool_spread(cube, composed)[:, -1]
    half = (hi80 - centre) / (scale * (1 + spread))
    np.testing.assert_allclose(half, np.broadcast_to(half[:1], half.shape), rtol=1e-5)
    lo, hi = composed_intervals(cube, composed, 80, normalise=False)[80]
    plain = (hi - centre) / scale                            # unnormalised: in MASE units alone
    np.testing.assert_allclose(plain, np.broadcast_to(plain[:1], plain.shape), rtol=1e-5)
    with pytest.raises(InputError, match="shape"):
        composed_intervals(cube, composed[:, 0], 80)
    with pytest.raises(InputError, match="shape"):
        conformal_bounds(cube, composed[:, :-1], 80)


def test_too_few_backtest_errors_give_infinite_bounds():
    cube = make_synthetic_cube(n_series=2, n_origins=4, short_fraction=0.0, seed=0)   # 6 scores per step
    lo, hi = model_intervals(cube, 95)[95]
    assert np.all(np.isneginf(lo)) and np.all(np.isposinf(hi))
    lo, hi = model_intervals(cube, 50)[50]
    assert np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))


def test_validation_coverage_is_near_nominal_on_a_synthetic_cube():
    cube = make_synthetic_cube(n_series=300, n_origins=10, seed=5)
    res = validation_coverage(cube, cube.forecasts[:, :, 0], [80, 95])
    assert abs(res[80]["coverage"] - 0.80) < 0.05 and abs(res[95]["coverage"] - 0.95) < 0.03
    assert res[95]["msis"] > 0
    assert validation_coverage(make_synthetic_cube(n_series=5, n_origins=2), make_synthetic_cube(
        n_series=5, n_origins=2).forecasts[:, :, 0], 80) == {}


# -- the composer ------------------------------------------------------------------------

def test_composer_intervals_cover_near_nominal_on_random_walks(walks):
    comp, _, test = walks
    fc = comp.predict(level=[80, 95])
    y = evaluate.test_matrix(test, comp.panel_.ids, 4).reshape(-1)
    for level, tol in ((80, 0.05), (95, 0.03)):
        cov = coverage(y, fc[f"composed-lo-{level}"], fc[f"composed-hi-{level}"])
        assert abs(cov - level / 100) < tol, (level, cov)
    assert coverage(y, fc["Naive-lo-95"], fc["Naive-hi-95"]) == pytest.approx(0.95, abs=0.03)


def test_predict_columns_follow_statsforecast(walks):
    comp = walks[0]
    plain = comp.predict()
    fc = comp.predict(level=[95, 80.0])
    assert fc.columns.tolist() == [
        "unique_id", "ds",
        "Naive", "Naive-lo-95", "Naive-lo-80", "Naive-hi-80", "Naive-hi-95",
        "Drift", "Drift-lo-95", "Drift-lo-80", "Drift-hi-80", "Drift-hi-95",
        "composed", "composed-lo-95", "composed-lo-80", "composed-hi-80", "composed-hi-95",
        "weight_Naive", "weight_Drift"]
    pd.testing.assert_frame_equal(fc[plain.columns], plain)  # point forecasts and weights unchanged
    assert comp.predict(level=90).filter(like="-lo-").columns.tolist() == ["Naive-lo-90", "Drift-lo-90", "composed-lo-90"]
    assert (fc["composed-hi-95"] > fc["composed-hi-80"]).all() and (fc["composed-lo-95"] < fc["composed-lo-80"]).all()


@pytest.mark.parametrize("bad", [0, 100, 100.5, -5, np.inf, np.nan, "95", True, [], [80, 120], None])
def test_bad_levels_raise(walks, bad):
    comp = walks[0]
    if bad is None:
        assert "composed-lo-80" not in comp.predict(level=bad)
        return
    with pytest.raises(InputError, match=r"level must be a number in \(0, 100\)"):
        comp.predict(level=bad)


def test_loaded_composer_gives_the_same_intervals(walks, tmp_path):
    comp = walks[0]
    comp.save(tmp_path / "c")
    loaded = Composer.load(tmp_path / "c")
    pd.testing.assert_frame_equal(loaded.predict(level=[80, 95]), comp.predict(level=[80, 95]))


def test_learned_agent_intervals_use_its_composed_backtest(walks):
    _, train, _ = walks
    comp = Composer(models=["Naive", "Drift"], agent="inverse_error", horizon=4).fit(train)
    lo, hi = composed_intervals(comp.cube_, comp.composed_, 80)[80]
    fc = comp.predict(level=80)
    np.testing.assert_array_equal(fc["composed-hi-80"], hi.reshape(-1))
    np.testing.assert_array_equal(fc["composed"], comp.composed_[:, -1].reshape(-1))


def test_cli_forecast_level_writes_interval_columns(walks, tmp_path, capsys):
    _, train, _ = walks
    path = tmp_path / "data.csv"
    train[train["unique_id"] < "s040"].to_csv(path, index=False)
    out = tmp_path / "fc.csv"
    assert main(["forecast", str(path), "-H", "4", "--models", "Naive", "Drift", "--agent", "equal",
                 "--level", "80", "95", "--out", str(out), "--plots", str(tmp_path / "plots")]) == 0
    fc = pd.read_csv(out)
    assert {"composed-lo-80", "composed-hi-95", "Drift-lo-95"} <= set(fc.columns)
    assert (tmp_path / "plots" / "forecast_0_s000.png").exists()
    assert main(["forecast", str(path), "-H", "4", "--level", "120", "--out", str(out)]) == 2
    assert "level must be a number in (0, 100)" in capsys.readouterr().err


def test_forecast_plot_draws_one_fan_per_level(walks):
    from metacompose.plots import interval_bands, plot_forecast

    comp = walks[0]
    rows = comp.predict(level=[80, 95]).iloc[:4]
    bands = interval_bands(rows)
    assert sorted(bands) == [80.0, 95.0]
    np.testing.assert_array_equal(bands[95.0][1], rows["composed-hi-95"])
    assert interval_bands(comp.predict().iloc[:4]) == {}
    fig = plot_forecast(np.arange(10.0), {"Naive": rows["Naive"]}, rows["composed"], intervals=bands)
    fills = fig.axes[0].collections
    assert len(fills) == 2                                   # widest first, then the 80% band
    assert [c.get_label() for c in fills] == ["composed 95% interval", "composed 80% interval"]
    inf_bands = {95: (np.full(4, -np.inf), np.full(4, np.inf))}
    assert len(plot_forecast(None, {"Naive": rows["Naive"]}, intervals=inf_bands).axes[0].collections) == 1
    with pytest.raises(InputError, match="same horizon"):
        plot_forecast(None, {"Naive": rows["Naive"]}, intervals={80: (np.zeros(3), np.ones(3))})
