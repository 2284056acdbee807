"""Which agent a Composer takes: "auto" (PPO, or the pretrained agent for a small default panel), "pretrained"."""

import logging

import numpy as np
import pytest

from metacompose import Composer
from metacompose.agents import RLAgent
from metacompose.agents.pretrained import MIN_SERIES_TO_TRAIN, load_pretrained
from metacompose.data import load_m3
from metacompose.errors import InputError


@pytest.fixture(scope="module")
def small():
    train, _, m, h = load_m3("other", max_series=8)
    return train, m, h


def test_shipped_agent_loads_and_covers_the_default_pool():
    from metacompose.models import DEFAULT_POOL

    agent = load_pretrained()
    assert isinstance(agent, RLAgent) and agent.models_ == list(DEFAULT_POOL)
    assert agent.horizon_knots >= 1 and agent.timesteps_ > 0


def test_auto_takes_the_pretrained_agent_for_a_small_default_panel_and_says_so(small, caplog):
    train, m, h = small
    assert train["unique_id"].nunique() < MIN_SERIES_TO_TRAIN
    with caplog.at_level(logging.INFO, logger="metacompose"):
        comp = Composer(horizon=h, season_length=m).fit(train)
    assert comp.agent_choice_.pretrained and not comp.agent_choice_.train
    assert comp.decision_.source == "pretrained agent" and "too few" in comp.decision_.reason
    assert "pretrained agent" in caplog.text
    assert comp.pool_selection_ is None and list(comp.cube_.models) == load_pretrained().models_
    np.testing.assert_allclose(comp.step_weights_, load_pretrained().step_weights(comp.cube_)[:, -1])
    fc = comp.predict()
    weights = fc[[c for c in fc.columns if c.startswith("weight_")]].to_numpy()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)


def test_auto_trains_ppo_when_the_pool_is_not_the_default(small):
    train, m, h = small
    comp = Composer(models=["Naive", "Drift", "Theta"], horizon=h, season_length=m,
                    agent_kwargs={"total_timesteps": 2_000}).fit(train)
    assert comp.agent_choice_.train and not comp.agent_choice_.pretrained
    assert isinstance(comp.agent_, RLAgent) and comp.agent_.timesteps_ >= 2_000
    assert "PPO trained on this panel" in comp.agent_choice_.reason


def test_pretrained_is_never_trained_and_refuses_another_pool(small):
    train, m, h = small
    comp = Composer(agent="pretrained", horizon=h, season_length=m)
    assert comp.train_agent is False
    with pytest.raises(InputError, match="agent_kwargs"):
        Composer(agent="pretrained", horizon=h, season_length=m, agent_kwargs={"total_timesteps": 10})
    with pytest.raises(InputError, match="pretrained"):
        Composer(models=["ARIMA", "ETS"], agent="pretrained", horizon=h, season_length=m).fit(train)
    with pytest.raises(InputError, match="pretrained"):
        Composer(agent="pretrained", horizon=h, season_length=m, features="catch22").fit(train)
