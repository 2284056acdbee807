"""What the composer reports about its decisions, its season length, non-negative forecasts and progress lines."""

import logging

import numpy as np
import pandas as pd
import pytest

from metacompose import Composer
from metacompose.decision import backtest_errors, weights_source
from metacompose.metrics import smape
from tests.conftest import make_frame

CHEAP = ["Naive", "SeasonalNaive", "Drift"]


def dated(n_series=3, n=48, freq="MS", seed=0):
    df = make_frame(n_series=n_series, n=n, m=12, seed=seed)
    df["ds"] = np.tile(pd.date_range("2015-01-01", periods=n, freq=freq), n_series)
    return df


def test_decision_lists_members_source_and_backtest_errors():
    comp = Composer(models=CHEAP, agent="equal", horizon=4, season_length=4).fit(make_frame(n_series=3, n=40))
    d = comp.decision_
    assert d.kept == CHEAP and d.dropped == {} and d.source == "baseline" and "'equal' rule" in d.reason
    assert list(d.errors.index) == [*CHEAP, "composed"] and list(d.errors.columns) == ["MASE", "sMAPE"]
    text = d.summary()
    for part in ("season length: 4 (given)", "members kept: Naive, SeasonalNaive, Drift", "weights: baseline",
                 "composed"):
        assert part in text


def test_backtest_errors_are_the_metrics_over_the_backtest_origins():
    comp = Composer(models=CHEAP, agent="equal", horizon=4, season_length=4).fit(make_frame(n_series=3, n=40))
    cube, table = comp.cube_, comp.decision_.errors
    known = cube.backtest_mask
    for j, alias in enumerate(cube.models):
        per_origin = smape(cube.actuals, cube.forecasts[:, :, j].astype(np.float64), axis=2)
        assert table.loc[alias, "sMAPE"] == pytest.approx(per_origin[known].mean(), rel=1e-5)
    composed = smape(cube.actuals, comp.composed_, axis=2)
    assert table.loc["composed", "sMAPE"] == pytest.approx(composed[known].mean(), rel=1e-5)
    # equal weights: the composed forecast is the members' mean, so its error differs from each member's
    assert not np.isclose(table.loc["composed", "MASE"], table.loc[CHEAP, "MASE"]).any()
    assert backtest_errors(cube).index.tolist() == CHEAP


def test_pruned_members_are_reported_with_their_p_value():
    comp = Composer(agent="equal", horizon=4, season_length=4, pool_selection=True,
                    models=["Naive", "SeasonalNaive", "Drift", "Theta"]).fit(make_frame(n_series=12, n=48))
    sel = comp.pool_selection_
    assert set(comp.decision_.dropped) == set(sel.dropped)
    for alias in sel.dropped:
        assert "pruned by pool selection" in comp.decision_.dropped[alias] and "p = " in comp.decision_.dropped[alias]


def test_ppo_guard_falling_back_is_reported_as_equal_weights():
    comp = Composer(models=CHEAP, agent="ppo", horizon=4, season_length=4,
                    agent_kwargs={"total_timesteps": 256, "n_steps": 32}).fit(make_frame(n_series=2, n=40))
    source, reason = weights_source(comp.agent_)
    assert (source, reason) == (comp.decision_.source, comp.decision_.reason)
    if comp.agent_.shrinkage_ == 1.0:
        assert source == "equal" and ("guard" in reason or "no validation origin" in reason)
    else:
        assert source in ("learned", "pooled") and "p = " in reason


@pytest.mark.parametrize("freq, m", [("MS", 12), ("QS", 4), ("D", 7), ("30min", 48), ("YS", 1)])
def test_season_length_is_inferred_from_the_time_stamps(freq, m):
    comp = Composer(models=["Naive", "SeasonalNaive"], agent="equal", horizon=3).fit(dated(freq=freq))
    assert comp.season_length == m and str(m) in comp.decision_.season_reason
    assert comp.get_params()["season_length"] is None  # the parameter stays "infer"
    assert all(getattr(mdl, "season_length", m) == m for mdl in comp.pool)


def test_integer_time_stamps_give_season_length_one_and_a_given_m_wins():
    assert Composer(models=["Naive"], agent="equal", horizon=3).fit(make_frame()).season_length == 1
    assert Composer(models=["Naive"], agent="equal", horizon=3, season_length=6).fit(dated()).season_length == 6


def falling(n_series=2, n=30):
    """Non-negative series that fall toward 0: Drift forecasts below 0."""
    t = np.arange(n)
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": t, "y": np.maximum(60.0 - 2.0 * t, 0) + i})
                      for i in range(n_series)], ignore_index=True)


def test_nonnegative_data_get_nonnegative_forecasts_by_default():
    comp = Composer(models=["Drift", "Naive"], agent="equal", horizon=8, season_length=1).fit(falling())
    fc = comp.predict()
    assert (fc[["Drift", "Naive", "composed"]].to_numpy() >= 0).all()
    assert comp.clipped_ > 0 and "set to 0" in comp.decision_.summary()
    assert np.all(comp.cube_.forecasts >= 0)  # the agent saw the clipped forecasts too


def test_nonnegative_false_keeps_negative_forecasts_and_signed_data_are_not_clipped():
    raw = Composer(models=["Drift", "Naive"], agent="equal", horizon=8, season_length=1, nonnegative=False)
    assert (raw.fit(falling()).predict()["Drift"] < 0).any() and raw.clipped_ == 0
    signed = falling()
    signed.loc[signed.unique_id == "s0", "y"] -= 5.0  # s0 is no longer non-negative
    fc = Composer(models=["Drift", "Naive"], agent="equal", horizon=8, season_length=1).fit(signed).predict()
    assert (fc.loc[fc.unique_id == "s0", "Drift"] < 0).any()
    assert (fc.loc[fc.unique_id == "s1", "Drift"] >= 0).all()


def test_every_stage_logs_a_line(caplog):
    caplog.set_level(logging.INFO, logger="metacompose")
    Composer(models=["Naive", "SeasonalNaive"], agent="equal", horizon=4, season_length=4).fit(make_frame())
    text = caplog.text
    for part in ("data: 4 series", "time budget:", "backtest: 4 series x 6 origins", "backtest: done in",
                 "compute per model: Naive", "fit: done in"):
        assert part in text, part


def test_backtest_bar_counts_series(capsys):
    Composer(models=["Naive", "SeasonalNaive"], agent="equal", horizon=4, season_length=4, progress=True,
             n_jobs=1).fit(make_frame(n_series=40, n=30))
    err = capsys.readouterr().err
    assert "40/40 series" in err
