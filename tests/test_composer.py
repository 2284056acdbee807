"""Composer: long frame in and out, weights on the simplex, save/load reproduces predict."""

import numpy as np
import pandas as pd
import pytest

from metacompose import Composer, NotFittedError
from tests.conftest import make_frame

MODELS = ["Naive", "SeasonalNaive", "Theta"]


def test_predict_frame_continues_each_series():
    df = make_frame(n_series=3, n=36, m=4)
    comp = Composer(models=MODELS, agent="inverse_error", horizon=5, season_length=4).fit(df)
    fc = comp.predict()
    assert list(fc.columns) == ["unique_id", "ds", *MODELS, "composed", *[f"weight_{m}" for m in MODELS]]
    assert len(fc) == 3 * 5
    for sid, g in fc.groupby("unique_id"):
        assert g["ds"].tolist() == list(range(37, 42))
        w = g[[f"weight_{m}" for m in MODELS]].to_numpy()
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)
        np.testing.assert_allclose(g["composed"], (g[MODELS].to_numpy() * w).sum(axis=1), rtol=1e-5)


def test_datetime_timestamps_get_future_dates():
    df = make_frame(n_series=2, n=30, m=4)
    df["ds"] = pd.date_range("2020-01-01", periods=30, freq="MS").tolist() * 2
    fc = Composer(models=["Naive", "SeasonalNaive"], agent="equal", horizon=3, season_length=4).fit(df).predict()
    assert fc["ds"].iloc[:3].tolist() == list(pd.date_range("2022-07-01", periods=3, freq="MS"))


def test_predict_before_fit():
    with pytest.raises(NotFittedError):
        Composer(models=MODELS, horizon=2).predict()


def test_ppo_composer_save_load_round_trip(tmp_path):
    df = make_frame(n_series=6, n=40, m=4)
    comp = Composer(models=MODELS, agent="ppo", horizon=4, season_length=4,
                    agent_kwargs={"total_timesteps": 1024}).fit(df)
    before = comp.predict()
    comp.save(tmp_path / "comp")
    loaded = Composer.load(tmp_path / "comp")
    after = loaded.predict()
    pd.testing.assert_frame_equal(before.astype({"unique_id": str}), after.astype({"unique_id": str}))
