"""metacompose.tuning: spaces, the backtest objective, the search, the store and the two warm starts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from metacompose.errors import FileFormatError, InputError, TuningError
from metacompose.features import panel_features
from metacompose.models import MLP, Naive, Theta
from metacompose.tuning import TuningStore, backtest_error, check_space, metric_warm_start, model_warm_start, tune
from metacompose.tuning.space import DEFAULT_SPACES, in_space, model_params, sample
from metacompose.tuning.store import STORE_VERSION

THETA = {"theta": FloatDistribution(1.0, 3.0)}


def _panel(n=5, t=40, seed=0):
    rng = np.random.default_rng(seed)
    return [10 + 0.3 * np.arange(t) + rng.normal(0, 1, t) for _ in range(n)]


# -- spaces -------------------------------------------------------------------------------------
@pytest.mark.parametrize("space, match", [
    ({}, "empty"),
    ({"no_such": IntDistribution(1, 2)}, "unknown parameter 'no_such'"),
    ({"theta": (1.0, 3.0)}, "optuna distribution"),
    ({"season_length": IntDistribution(1, 2)}, "set by the tuner"),
    ([("theta", FloatDistribution(1, 2))], "dict name"),
])
def test_bad_spaces_are_refused(space, match):
    with pytest.raises(InputError, match=match):
        check_space(Theta, space)


def test_width_needs_depth_and_derived_names_resolve():
    with pytest.raises(InputError, match="width' and 'depth'"):
        check_space(MLP, {"width": IntDistribution(8, 16)})
    params = model_params(MLP, {"lookback": 2, "width": 8, "depth": 3, "lr": 0.01}, horizon=4)
    assert params == {"input_length": 8, "hidden": [8, 8, 8], "lr": 0.01}
    assert MLP(**params).hidden == [8, 8, 8]


def test_default_spaces_fit_their_models_and_sampling_stays_inside():
    rng = np.random.default_rng(0)
    for alias, space in DEFAULT_SPACES.items():
        from metacompose.tuning.space import model_class
        cls = model_class(alias)
        check_space(cls, space)
        for _ in range(20):
            point = sample(space, rng)
            assert in_space(space, point)
            cls(season_length=4, **model_params(cls, point, horizon=3))  # every sampled point builds
    assert not in_space(THETA, {"theta": 5.0}) and not in_space(THETA, {"theta": 2.0, "extra": 1})


def test_unknown_model_and_instances_are_refused():
    with pytest.raises(InputError, match="unknown model alias"):
        tune("NoSuchModel", _panel(), 3, space=THETA, n_trials=1)
    with pytest.raises(InputError, match="alias or its Forecaster class"):
        tune(Theta(), _panel(), 3, space=THETA, n_trials=1)


# -- the objective ------------------------------------------------------------------------------
def test_backtest_error_scores_every_fit_inside_the_data():
    """Naive on y = t: at every origin the errors are 1..h with MASE scale 1, so the mean is (h + 1) / 2."""
    y = np.arange(1.0, 41.0)
    for h in (2, 5):
        err, share = backtest_error(Naive(), [y, 2 * y], h, 1, n_origins=2)
        assert err == pytest.approx((h + 1) / 2) and share == 0.0
    with pytest.raises(InputError, match="h \\+ 2"):
        backtest_error(Naive(), [np.arange(5.0)], 4, 1)


# -- the search ---------------------------------------------------------------------------------
def test_tune_returns_the_best_trial_and_a_model_built_from_it():
    res = tune("Theta", _panel(), 4, space=THETA, n_trials=4, seed=1)
    done = res.trials[res.trials["state"] == "COMPLETE"]
    assert len(res.trials) == 4 and len(done) == 4
    assert res.best_value == pytest.approx(done["value"].min())
    assert res.best_params["theta"] == pytest.approx(done.loc[done["value"].idxmin(), "theta"])
    assert res.trials["best_so_far"].is_monotonic_decreasing
    assert isinstance(res.build(season_length=1), Theta)
    assert res.build().theta == res.best_params["theta"]


def test_a_failing_trial_is_recorded_and_the_search_goes_on():
    space = {"theta": FloatDistribution(0.1, 1.5)}  # theta < 1 is refused by Theta's constructor
    res = tune("Theta", _panel(), 4, space=space, n_trials=8, seed=0)
    failed = res.trials[res.trials["state"] == "FAIL"]
    assert len(failed) >= 1 and failed["error"].str.contains("theta must be >= 1").all()
    assert res.best_params["theta"] >= 1.0
    with pytest.raises(TuningError, match="no trial of Theta completed.*theta must be >= 1"):
        tune("Theta", _panel(), 4, space={"theta": FloatDistribution(0.1, 0.5)}, n_trials=3)


def test_bad_arguments_of_tune():
    with pytest.raises(InputError, match="warm_start must be"):
        tune("Theta", _panel(), 3, space=THETA, warm_start="nearest", store=TuningStore())
    with pytest.raises(InputError, match="needs store="):
        tune("Theta", _panel(), 3, space=THETA, warm_start="metric")
    with pytest.raises(InputError, match="holds no earlier tuning of Theta"):
        tune("Theta", _panel(), 3, space=THETA, warm_start="model", store=TuningStore())
    with pytest.raises(InputError, match="n_trials"):
        tune("Theta", _panel(), 3, space=THETA, n_trials=0)


# -- the store ----------------------------------------------------------------------------------
def test_store_grows_as_a_user_tunes_and_round_trips(tmp_path):
    path = tmp_path / "store"
    store = TuningStore.open(path)
    assert len(store) == 0
    tune("Theta", _panel(), 4, space=THETA, n_trials=3, store=store, label="first")
    tune("Theta", _panel(seed=1), 4, space=THETA, n_trials=3, store=store, label="second")
    back = TuningStore.load(path)
    assert [e["label"] for e in back.panels] == ["first", "second"]
    assert back.panels == store.panels and len(back.select("Theta", "mase")) == 2
    res = tune("Theta", _panel(seed=2), 4, space=THETA, n_trials=3, warm_start="metric", store=back, n_warm=2)
    assert list(res.trials["source"][:2]) == ["metric", "metric"] and res.trials["source"][2] == "search"
    assert len(TuningStore.load(path)) == 3


def _write_header(path, header):
    path.with_name(path.name + ".json").write_text(json.dumps(header))


def test_corrupt_and_newer_stores_are_refused(tmp_path):
    base = tmp_path / "store"
    base.with_name("store.json").write_text("{not json")
    with pytest.raises(FileFormatError, match="not valid JSON"):
        TuningStore.load(base)
    _write_header(base, {"format": "metacompose-tuning-store", "version": STORE_VERSION + 1, "panels": []})
    with pytest.raises(FileFormatError, match="newer"):
        TuningStore.open(base)
    _write_header(base, {"format": "metacompose-tuning-store", "version": STORE_VERSION,
                         "panels": [{"model": "Theta", "metric": "mase"}]})
    with pytest.raises(FileFormatError, match="corrupt"):
        TuningStore.load(base)
    _write_header(base, {"format": "metacompose-cube", "version": 1})
    with pytest.raises(FileFormatError, match="not a metacompose tuning store"):
        TuningStore.load(base)
    with pytest.raises(InputError, match="no path"):
        TuningStore().save()


# -- the warm starts ----------------------------------------------------------------------------
def _synthetic_store(seed=0) -> TuningStore:
    """Panels whose first feature says where theta is best: +1 -> theta near 3, -1 -> theta near 1."""
    rng = np.random.default_rng(seed)
    store = TuningStore()
    for i in range(8):
        side = 1.0 if i % 2 else -1.0
        feats = np.r_[side, rng.normal(0, 0.1, 3)]
        best = 2.0 + side
        thetas = rng.uniform(1.0, 3.0, 12)
        trials = [{"params": {"theta": float(t)}, "value": float(abs(t - best) + rng.normal(0, 0.01))} for t in thetas]
        store.add("Theta", "mase", feats, trials, 4, 1, 10, f"panel {i}")
    return store


def test_metric_warm_start_takes_the_nearest_panels_best():
    store = _synthetic_store()
    for side in (-1.0, 1.0):
        points = metric_warm_start(store, "Theta", "mase", np.r_[side, 0, 0, 0], THETA, n=3, k=2)
        assert len(points) == 3
        assert all(abs(p["theta"] - (2.0 + side)) < 0.6 for p in points[:2])


def test_model_warm_start_learns_where_the_best_configurations_lie():
    """Fails for a constant or random ranking: the first points must follow the panel feature."""
    store = _synthetic_store()
    low = model_warm_start(store, "Theta", "mase", np.r_[-0.9, 0, 0, 0], THETA, n=3)
    high = model_warm_start(store, "Theta", "mase", np.r_[0.9, 0, 0, 0], THETA, n=3)
    assert max(p["theta"] for p in low) < 1.6 and min(p["theta"] for p in high) > 2.4
    few = TuningStore()
    few.add("Theta", "mase", np.zeros(4), [{"params": {"theta": 1.5}, "value": 1.0}], 4, 1, 10)
    with pytest.raises(InputError, match="at least 10 stored trials"):
        model_warm_start(few, "Theta", "mase", np.zeros(4), THETA, n=3)
    with pytest.raises(InputError, match="k must be"):
        metric_warm_start(store, "Theta", "mase", np.zeros(4), THETA, n=3, k=0)


def test_points_of_another_space_are_skipped():
    store = _synthetic_store()
    narrow = {"theta": FloatDistribution(1.0, 1.5)}
    points = metric_warm_start(store, "Theta", "mase", np.r_[1.0, 0, 0, 0], narrow, n=4, k=8)
    assert points and all(in_space(narrow, p) for p in points)


def test_panel_features_are_bounded_and_scale_free():
    ys = _panel(n=6)
    f = panel_features(ys, 4, 3)
    assert f.shape == (16,) and np.all(np.abs(f) <= 1.0)
    np.testing.assert_allclose(panel_features([1e6 * y for y in ys], 4, 3), f, atol=1e-6)
    with pytest.raises(InputError, match="at least one series"):
        panel_features([], 4, 3)


def test_categorical_values_round_trip_through_the_store(tmp_path):
    space = {"trend": CategoricalDistribution(["N", "A"]), "error": CategoricalDistribution(["add", "auto"])}
    store = TuningStore(tmp_path / "s")
    res = tune("ETS", _panel(n=3, t=30), 3, space=space, n_trials=2, store=store)
    assert res.best_values["trend"] in ("N", "A")
    assert in_space(space, TuningStore.load(tmp_path / "s").panels[0]["trials"][0]["params"])


# -- the composer's own hyperparameters ---------------------------------------------------------
def _frame(n=4, t=48):
    import pandas as pd
    ys = _panel(n=n, t=t)
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": np.arange(t), "y": y}) for i, y in enumerate(ys)])


def test_tune_composer_scores_cross_validation_windows_and_builds_the_composer(tmp_path):
    from metacompose import Composer
    from metacompose.tuning import tune_composer

    df = _frame()
    store = TuningStore(tmp_path / "store")
    res = tune_composer(df, 4, 1, n_trials=3, models=["Naive", "Drift"], agent="equal", store=store)
    assert res.model == "Composer" and set(res.best_params) == {"n_origins", "step"}
    assert res.best_value == pytest.approx(res.trials["value"].min())
    comp = res.build(horizon=4, season_length=1, models=["Naive", "Drift"], agent="equal")
    assert isinstance(comp, Composer) and comp.n_origins == res.best_params["n_origins"]
    assert TuningStore.load(tmp_path / "store").select("Composer", "mase")
    with pytest.raises(InputError, match="unknown parameter 'horizon'"):
        tune_composer(df, 4, 1, space={"horizon": IntDistribution(1, 3)})
    with pytest.raises(InputError, match="both searched"):
        tune_composer(df, 4, 1, n_origins=3)
    with pytest.raises(InputError, match="unknown Composer argument"):
        tune_composer(df, 4, 1, no_such=3)
    with pytest.raises(InputError, match="empty"):
        tune_composer(df, 4, 1, space={})
