"""Composer.cross_validation: statsforecast's layout, each cutoff learns only from the data up to it
(the leakage test), clear errors for bad windows, the scores and the command line."""

import numpy as np
import pandas as pd
import pytest

from metacompose import Composer, InputError
from metacompose.cli import main
from metacompose.cross_validation import cross_validation_scores
from metacompose.metrics import mape, mase_scale
from tests.conftest import make_frame

MODELS = ["Naive", "Theta", "SeasonalNaive"]
H, M = 4, 4


def composer(agent="equal", **kw):
    return Composer(models=MODELS, agent=agent, horizon=H, season_length=M, n_origins=3, step=2, **kw)


def test_layout_cutoffs_and_actuals():
    df = make_frame(n_series=3, n=40, m=M)
    df = df[~((df.unique_id == "s2") & (df.ds > 36))]          # series of different lengths
    cv = composer("inverse_error").cross_validation(df, n_windows=3, step=2)
    weights = [f"weight_{a}" for a in MODELS]
    assert list(cv.columns) == ["unique_id", "ds", "cutoff", "y", *MODELS, "composed", *weights]
    assert len(cv) == 3 * 3 * H
    s0, s2 = cv[cv.unique_id == "s0"], cv[cv.unique_id == "s2"]
    assert s0["cutoff"].unique().tolist() == [32, 34, 36] and s2["cutoff"].unique().tolist() == [28, 30, 32]
    assert s0[s0.cutoff == 36]["ds"].tolist() == [37, 38, 39, 40]
    y = df.set_index(["unique_id", "ds"])["y"]
    np.testing.assert_array_equal(cv["y"], y.loc[list(zip(cv.unique_id, cv.ds))].to_numpy())
    np.testing.assert_allclose(cv[weights].sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(cv["composed"], (cv[MODELS].to_numpy() * cv[weights].to_numpy()).sum(axis=1), rtol=1e-6)


def test_a_window_is_a_fresh_fit_on_the_data_up_to_its_cutoff():
    df = make_frame(n_series=3, n=40, m=M)
    cv = composer("inverse_error").cross_validation(df, n_windows=2)
    direct = composer("inverse_error").fit(df[df.ds <= 32]).predict()
    got = cv[cv.cutoff == 32].drop(columns=["cutoff", "y"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, direct)


def test_cross_validation_leaves_the_composer_alone():
    df = make_frame(n_series=2, n=40, m=M)
    comp = composer("inverse_error").fit(df)
    before = comp.predict()
    comp.cross_validation(df, n_windows=2)
    pd.testing.assert_frame_equal(comp.predict(), before)


@pytest.mark.parametrize("agent, kw", [
    ("equal", {}),
    ("inverse_error", {"pool_selection": True}),
    ("ppo", {"agent_kwargs": {"total_timesteps": 512, "select_shrinkage": False}}),
])
def test_nothing_after_a_cutoff_reaches_its_rows(agent, kw):
    """The leakage test: changing every value after the first cutoff changes nothing in its rows
    (except the actuals themselves), while the second window, which sees them, changes."""
    df = make_frame(n_series=4, n=40, m=M)
    cv = composer(agent, **kw).cross_validation(df, n_windows=2)
    first = cv["cutoff"].min()
    spoiled = df.copy()
    later = spoiled["ds"] > first
    spoiled.loc[later, "y"] = spoiled.loc[later, "y"] * 1.5 + np.random.default_rng(1).normal(0, 20, later.sum())
    cv2 = composer(agent, **kw).cross_validation(spoiled, n_windows=2)
    rows, rows2 = cv[cv.cutoff == first], cv2[cv2.cutoff == first]
    pd.testing.assert_frame_equal(rows.drop(columns="y"), rows2.drop(columns="y"))
    assert not np.allclose(rows["y"], rows2["y"])
    later_rows, later_rows2 = cv[cv.cutoff > first], cv2[cv2.cutoff > first]
    assert not np.allclose(later_rows["composed"], later_rows2["composed"])


def test_n_windows_too_large_for_the_shortest_series():
    df = make_frame(n_series=3, n=40, m=M)
    df = df[~((df.unique_id == "s1") & (df.ds > 20))]          # s1: 20 observations
    with pytest.raises(InputError, match=r"n_windows=5 is too large for series 's1': .* it needs 24 observations; "
                                         r"it has 20 \(at most 4 window\(s\) fit\)"):
        composer().cross_validation(df, n_windows=5)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "3"])
def test_n_windows_must_be_a_positive_int(bad):
    with pytest.raises(InputError, match="n_windows must be a positive integer"):
        composer().cross_validation(make_frame(), n_windows=bad)


def test_scores_use_the_scale_known_at_each_cutoff():
    df = make_frame(n_series=2, n=40, m=M)
    cv = composer().cross_validation(df, n_windows=2)
    table = cross_validation_scores(cv, df, M)
    assert list(table.index) == [*MODELS, "composed"] and list(table.columns) == ["sMAPE", "MASE", "MAPE"]
    errors = []
    for (sid, cut), g in cv.groupby(["unique_id", "cutoff"]):
        y = df[(df.unique_id == sid) & (df.ds <= cut)]["y"].to_numpy()
        errors.append(np.abs(g["y"] - g["composed"]).to_numpy() / mase_scale(y, M))
    assert table.loc["composed", "MASE"] == pytest.approx(np.mean(np.concatenate(errors)))
    assert table.loc["Naive", "MAPE"] == pytest.approx(np.mean(100 * np.abs(cv["y"] - cv["Naive"]) / cv["y"].abs()))


def test_level_adds_interval_columns_and_coverage():
    df = make_frame(n_series=4, n=48, m=M)
    cv = composer().cross_validation(df, n_windows=2, level=[80, 95])
    cols = list(cv.columns)
    assert cols[cols.index("composed"):cols.index("composed") + 5] == [
        "composed", "composed-lo-95", "composed-lo-80", "composed-hi-80", "composed-hi-95"]
    table = cross_validation_scores(cv, df, M)
    assert list(table.columns) == ["sMAPE", "MASE", "MAPE", "coverage-80", "coverage-95"]
    inside = (cv["y"] >= cv["composed-lo-80"]) & (cv["y"] <= cv["composed-hi-80"])
    assert table.loc["composed", "coverage-80"] == pytest.approx(inside.mean())


def test_mape_leaves_zero_actuals_out():
    assert mape([0.0, 2.0, np.nan], [1.0, 1.0, 5.0]) == pytest.approx(50.0)


def test_cli_prints_the_scores(tmp_path, capsys):
    make_frame(n_series=3, n=40, m=M).to_csv(tmp_path / "d.csv", index=False)
    rc = main(["cross-validation", str(tmp_path / "d.csv"), "-H", str(H), "--windows", "2", "--season-length",
               str(M), "--models", *MODELS, "--agent", "equal", "--out", str(tmp_path / "cv.csv")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "sMAPE" in out and "MASE" in out and "MAPE" in out and "composed" in out
    assert len(pd.read_csv(tmp_path / "cv.csv")) == 3 * 2 * H


def test_cli_refuses_too_many_windows(tmp_path, capsys):
    make_frame(n_series=2, n=20, m=M).to_csv(tmp_path / "d.csv", index=False)
    rc = main(["cross-validation", str(tmp_path / "d.csv"), "-H", str(H), "--windows", "9", "--models", *MODELS,
               "--agent", "equal"])
    assert rc == 2 and capsys.readouterr().err.startswith("error: n_windows=9 is too large for series 's0'")
