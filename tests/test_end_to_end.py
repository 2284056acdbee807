"""End to end on a small real M3 subset: the command line's main job and the PPO composer."""

import numpy as np
import pandas as pd
import pytest

from metacompose import Composer, load_m3
from metacompose.cli import main
from metacompose.evaluate import weight_diversity

pytestmark = pytest.mark.slow


def test_main_job_prints_the_table_and_writes_files(tmp_path, capsys):
    code = main(["run", "--subset", "quarterly", "--max-series", "16", "--models", "Naive", "SeasonalNaive",
                 "Theta", "ETS", "--timesteps", "2048", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    for row in ("Naive", "SeasonalNaive", "Theta", "ETS", "EqualWeights", "BestSingle", "PPOAgent (composer)"):
        assert row in out
    res = pd.read_csv(tmp_path / "results.csv")
    assert set(res["method"]) >= {"EqualWeights", "BestSingle", "PPOAgent (composer)"}
    assert res["sMAPE"].between(0, 200).all() and (res["MASE"] > 0).all()
    fc = pd.read_csv(tmp_path / "forecasts_quarterly.csv")
    assert len(fc) == 16 * 8 and fc["composed"].notna().all()
    w = pd.read_csv(tmp_path / "weights_quarterly.csv")
    np.testing.assert_allclose(w[["Naive", "SeasonalNaive", "Theta", "ETS"]].sum(axis=1), 1.0, atol=1e-5)


def test_ppo_composer_on_real_series_differs_across_series_and_never_sees_the_test_part():
    train, test, m, h = load_m3("yearly", max_series=40)
    comp = Composer(models=["Naive", "Theta", "ETS", "ARIMA"], agent="ppo", horizon=h, season_length=m,
                    agent_kwargs={"total_timesteps": 4096}, random_state=1).fit(train)
    # the final origin is the end of the training part: the cube holds no test value
    lengths = train.groupby("unique_id", sort=False).size().to_numpy()
    np.testing.assert_array_equal(comp.cube_.origins[:, -1], lengths)
    assert np.isnan(comp.cube_.actuals[:, -1]).all()
    div = weight_diversity(comp.weights_, comp.cube_)
    assert div["mean_entropy"] < 0.95 * div["max_entropy"]
    assert np.ptp(comp.weights_, axis=0).max() > 0.2  # weights differ across series
