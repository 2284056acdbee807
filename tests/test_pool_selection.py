"""Pool selection on the backtest: backward elimination judged on the equal-weight mean."""

import numpy as np
import pandas as pd
import pytest

from metacompose import Composer
from metacompose.errors import InputError
from metacompose.models import DEFAULT_POOL
from metacompose.pool_selection import select_pool, series_errors
from metacompose.synthetic import make_synthetic_cube


def biased_cube(biases, seed=0):
    """A 3-model cube whose forecasts are the actuals plus ``biases[s, j]`` MASE units (plus noise
    for a model whose bias is NaN), at every backtest origin and step."""
    biases = np.asarray(biases, float)
    S, M = biases.shape
    cube = make_synthetic_cube(n_series=S, n_models=M, n_origins=5, seed=seed, short_fraction=0.0)
    rng = np.random.default_rng(seed)
    scale = cube.scales[:, None, None].astype(np.float64)
    for j in range(M):
        b = biases[:, j][:, None, None]
        noise = np.where(np.isnan(b), rng.normal(0.0, 0.8, cube.actuals.shape), np.nan_to_num(b))
        cube.forecasts[:, :-1, j] = (cube.actuals[:, :-1] + noise[:, :-1] * scale).astype(np.float32)
    return cube


def test_offsetting_models_are_kept_and_the_one_that_spoils_their_mean_is_dropped():
    # A (+1) and B (-1) cancel exactly; C is unbiased noise, the best model on its own
    cube = biased_cube(np.tile([1.0, -1.0, np.nan], (30, 1)))
    single = [np.nanmean(series_errors(cube, [j])) for j in range(3)]
    assert single[2] < min(single[:2])  # ranking the single models would drop A or B
    sel = select_pool(cube)
    assert sel.models == ["model0", "model1"] and sel.dropped == ["model2"]
    assert sel.scores[-1] == pytest.approx(0.0, abs=1e-5) and sel.scores[0] > 0.1 and sel.p_values[0] < 1e-6
    assert cube.take_models(sel.models).models == ["model0", "model1"]


def test_a_gain_on_one_series_against_losses_on_the_others_is_not_significant():
    # removing C helps series 0 by 4 MASE units and hurts the other three by 1 each
    biases = np.array([[1.0, 1.0, 13.0]] + [[1.0, 1.0, -2.0]] * 3)
    cube = biased_cube(biases)
    gain = series_errors(cube, [0, 1, 2]) - series_errors(cube, [0, 1])
    np.testing.assert_allclose(gain, [4.0, -1.0, -1.0, -1.0], atol=1e-4)
    assert select_pool(cube, alpha=None).dropped == ["model2"]  # the mean gain is positive
    kept = select_pool(cube)
    assert kept.models == ["model0", "model1", "model2"] and kept.dropped == [] and kept.p_values == []


def test_min_models_and_metric_and_bad_arguments():
    cube = biased_cube(np.tile([1.0, -1.0, np.nan], (30, 1)))
    assert select_pool(cube, min_models=3).models == ["model0", "model1", "model2"]
    assert select_pool(cube, metric="smape").dropped == ["model2"]
    for kw in ({"metric": "mae"}, {"min_models": 0}, {"alpha": 1.5}):
        with pytest.raises(InputError):
            select_pool(cube, **kw)
    with pytest.raises(InputError, match="take_models"):
        cube.take_models(["model0", "ARIMA"])


def test_composer_prunes_the_default_pool_but_keeps_a_pool_you_pass(tmp_path):
    assert "Drift" in DEFAULT_POOL and Composer(horizon=4).pool_selection
    t = np.arange(40.0)
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"unique_id": np.repeat([f"s{i}" for i in range(12)], 40), "ds": np.tile(t, 12),
                       "y": np.concatenate([10 + (i + 1) * t + rng.normal(0, 0.3, 40) for i in range(12)])})
    models = ["Naive", "Drift", "SeasonalNaive"]
    kept_all = Composer(models=models, agent="equal", horizon=4, season_length=4).fit(df)
    assert kept_all.models == models and kept_all.pool_selection_ is None
    comp = Composer(models=models, agent="equal", horizon=4, season_length=4, pool_selection=True).fit(df)
    # on straight trends the seasonal naive lags furthest behind: without it the mean is closer
    assert comp.pool_selection_.dropped == ["SeasonalNaive"] and comp.models == ["Naive", "Drift"]
    assert "weight_SeasonalNaive" not in comp.predict().columns
    assert Composer.load(comp.save(tmp_path / "c")).models == ["Naive", "Drift"]
