"""Composer: long frame in and out, weights on the simplex, save/load reproduces predict and fits again,
a trained agent is used without training it again."""

import json

import numpy as np
import pandas as pd
import pytest

from metacompose import Composer, InputError, NotFittedError
from metacompose.agents import load_agent
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


@pytest.mark.parametrize("agent, kwargs", [("inverse_error", {}), ("ppo", {"total_timesteps": 1024})])
def test_loaded_composer_predicts_as_saved_and_fits_again(tmp_path, agent, kwargs):
    df = make_frame(n_series=6, n=40, m=4)
    comp = Composer(models=MODELS, agent=agent, horizon=4, season_length=4, n_origins=3, step=2,
                    cache_dir=tmp_path / "cache", agent_kwargs=kwargs).fit(df)
    before = comp.predict()
    comp.save(tmp_path / "comp")
    loaded = Composer.load(tmp_path / "comp")
    pd.testing.assert_frame_equal(loaded.predict().astype({"unique_id": str}), before.astype({"unique_id": str}))
    assert (loaded.n_origins, loaded.step, loaded.n_jobs, loaded.agent, loaded.agent_kwargs) == (3, 2, 1, agent, kwargs)
    assert loaded.cache_dir == str(tmp_path / "cache") and loaded.train_agent
    refit = loaded.fit(df).predict()  # through the constructor: a loaded composer fits like a new one
    assert refit.shape == before.shape and list(refit.columns) == list(before.columns)
    w = refit[[f"weight_{m}" for m in MODELS]].to_numpy()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)
    assert loaded.report_.cached_chunks == 1  # the saved cache folder is used again
    if agent == "inverse_error":  # deterministic: the same data gives the same forecast
        pd.testing.assert_frame_equal(refit, before)


def test_composer_file_without_saved_parameters_still_loads_and_fits(tmp_path):
    df = make_frame(n_series=3, n=36, m=4)
    comp = Composer(models=MODELS, agent="inverse_error", horizon=5, season_length=4).fit(df)
    comp.save(tmp_path / "comp")
    hdr = tmp_path / "comp" / "composer.json"
    header = json.loads(hdr.read_text())
    del header["params"]  # as written by the first version-1 composers
    hdr.write_text(json.dumps(header))
    loaded = Composer.load(tmp_path / "comp")
    pd.testing.assert_frame_equal(loaded.predict().astype({"unique_id": str}), comp.predict().astype({"unique_id": str}))
    assert loaded.n_origins == 5 and loaded.step is None and loaded.agent == "inverse_error"
    pd.testing.assert_frame_equal(loaded.fit(df).predict(), comp.predict())


def test_a_trained_agent_is_used_as_it_is(tmp_path):
    df = make_frame(n_series=4, n=36, m=4)
    trained = Composer(models=MODELS, agent="inverse_error", horizon=4, season_length=4).fit(df)
    trained.agent_.save(tmp_path / "agent")
    agent = load_agent(tmp_path / "agent")

    def no_training(cube):
        raise AssertionError("a trained agent was trained again")

    agent.fit = no_training
    comp = Composer(models=MODELS, agent=agent, horizon=4, season_length=4, train_agent=False).fit(df)
    assert comp.agent_ is agent and comp.pool_selection_ is None
    pd.testing.assert_frame_equal(comp.predict(), trained.predict())
    comp.save(tmp_path / "comp")
    loaded = Composer.load(tmp_path / "comp")
    assert not loaded.train_agent and isinstance(loaded.agent, type(agent))
    pd.testing.assert_frame_equal(loaded.fit(df).predict(), trained.predict())
    with pytest.raises(InputError, match="trained on the pool"):
        Composer(models=MODELS[:2], agent=agent, horizon=4, season_length=4, train_agent=False).fit(df)
    with pytest.raises(InputError, match="train_agent=False needs a trained agent"):
        Composer(models=MODELS, agent="equal", horizon=4, train_agent=False)
