"""Composer.update: new observations give one new origin, base models refitted there only, the agent
untrained; bad new observations are refused; a saved composer updates after loading; the CLI uses it."""

import numpy as np
import pandas as pd
import pytest
import torch

from metacompose import Composer, FileFormatError, InputError
from metacompose.cli import main
from metacompose.history import cutoffs, known_error_sums
from tests.conftest import make_frame

MODELS = ["Naive", "Theta", "SeasonalNaive"]
H, M = 4, 4


def split(df, d):
    """``df`` without the last ``d`` observations of each series, and those observations."""
    last = df.groupby("unique_id")["ds"].transform("max")
    return df[df["ds"] <= last - d], df[df["ds"] > last - d]


def composer(agent="equal", **kw):
    return Composer(models=MODELS, agent=agent, horizon=H, season_length=M, n_origins=3, step=2, **kw)


def test_update_gives_a_fresh_fits_final_origin():
    df = make_frame(n_series=3, n=40, m=M)
    old, new = split(df, 6)
    comp = composer().fit(old)
    before = comp.cube_
    comp.update(new)
    fresh = composer().fit(df)
    np.testing.assert_array_equal(comp.cube_.forecasts[:, -1], fresh.cube_.forecasts[:, -1])
    np.testing.assert_array_equal(comp.cube_.features[:, -1], fresh.cube_.features[:, -1])
    np.testing.assert_array_equal(comp.cube_.origin_scales[:, -1], fresh.cube_.origin_scales[:, -1])
    pd.testing.assert_frame_equal(comp.predict(), fresh.predict())
    # the earlier origins are kept as they were; the old final origin's actuals are now known
    O = before.shape[1]
    np.testing.assert_array_equal(comp.cube_.forecasts[:, :O], before.forecasts)
    np.testing.assert_array_equal(comp.cube_.origins[:, :O], before.origins)
    assert (comp.cube_.origins[:, -1] == 40).all()
    np.testing.assert_array_equal(comp.cube_.actuals[0, O - 1], df[df.unique_id == "s0"]["y"].to_numpy(np.float32)[34:38])
    assert comp.cube_.backtest_mask[:, O - 1].all() and comp.cube_.meta["updates"] == 1


def test_update_does_not_change_what_earlier_origins_know():
    old, new = split(make_frame(n_series=3, n=40, m=M), 6)
    comp = composer("inverse_error").fit(old)
    w_before = comp.agent_.weights(comp.cube_)
    comp.update(new)
    w_after = comp.agent_.weights(comp.cube_)
    O = w_before.shape[1]
    np.testing.assert_allclose(w_after[:, :O - 1], w_before[:, :O - 1])  # backtest origins: the same weights
    assert not np.allclose(w_after[:, -1], w_before[:, -1])               # the new final origin: new errors known


@pytest.mark.parametrize("d, seen", [(1, 1), (2, 2), (6, 2)])
def test_new_final_origin_sees_only_known_actuals(d, seen):
    """The new origin is d after the old final one, not step (2): it sees min(d, step) steps of the
    forecast made there, and no actual at or after its own origin."""
    df = make_frame(n_series=2, n=40, m=M)
    old, new = split(df, d)
    comp = composer("inverse_error").fit(old).update(new)
    cube = comp.cube_
    O = cube.shape[1]
    for s in range(2):
        cut = cutoffs(cube, s)
        assert cut[-1] == min(40, 40 - d + 2) and (cut <= cube.origins[s]).all()
        sums, counts = known_error_sums(cube, s, np.array([O - 1]))
        np.testing.assert_array_equal(counts[0, O - 2], np.full(len(MODELS), seen))   # the old final origin's forecast
        # garbage after the cut-off changes nothing the final origin sees
        spoiled = cube.actuals.copy()
        spoiled[s, O - 2, seen:] = 1e6
        sums2, counts2 = known_error_sums(type(cube)(**{**cube.__dict__, "actuals": spoiled}), s, np.array([O - 1]))
        np.testing.assert_array_equal(sums2, sums)


def test_series_without_new_data_keep_their_final_origin():
    df = make_frame(n_series=3, n=40, m=M)
    old, new = split(df, 3)
    comp = composer("inverse_error").fit(old)
    before_w, before_f, O = comp.weights_.copy(), comp.forecast_.copy(), comp.cube_.shape[1]
    comp.update(new[new.unique_id == "s1"])
    assert comp.cube_.shape[1] == O + 1
    assert comp.cube_.origins[1, -1] == 40 and comp.cube_.origins[1, O - 1] == 37
    for s in (0, 2):  # shifted behind a non-existent origin, final origin unchanged
        assert comp.cube_.origins[s, 0] == -1 and comp.cube_.origins[s, -1] == 37
        np.testing.assert_allclose(comp.weights_[s], before_w[s])
        np.testing.assert_allclose(comp.forecast_[s], before_f[s])
    assert not np.allclose(comp.forecast_[1], before_f[1])
    fc = comp.predict()
    assert fc[fc.unique_id == "s1"]["ds"].tolist() == [41, 42, 43, 44]
    assert fc[fc.unique_id == "s0"]["ds"].tolist() == [38, 39, 40, 41]


def test_two_updates_equal_one():
    df = make_frame(n_series=2, n=40, m=M)
    old, new = split(df, 4)
    once = composer().fit(old).update(new)
    twice = composer().fit(old)
    twice.update(new[new.ds <= 38]).update(new[new.ds > 38])
    assert twice.cube_.shape[1] == once.cube_.shape[1] + 1 and twice.cube_.meta["updates"] == 2
    pd.testing.assert_frame_equal(twice.predict(), once.predict())


def test_ppo_composer_updates_without_training():
    old, new = split(make_frame(n_series=6, n=40, m=M), 4)
    comp = composer("ppo", agent_kwargs={"total_timesteps": 512, "select_shrinkage": False}).fit(old)
    state = {k: v.clone() for k, v in comp.agent_.policy_.state_dict().items()}
    steps = comp.agent_.timesteps_
    comp.update(new)
    assert comp.agent_.timesteps_ == steps
    for k, v in comp.agent_.policy_.state_dict().items():
        assert torch.equal(v, state[k])
    w = comp.predict().filter(like="weight_").to_numpy()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)


def test_update_after_load(tmp_path):
    old, new = split(make_frame(n_series=3, n=40, m=M), 5)
    comp = composer("inverse_error").fit(old)
    comp.save(tmp_path / "c")
    loaded = Composer.load(tmp_path / "c")
    expected = comp.update(new).predict()
    pd.testing.assert_frame_equal(loaded.update(new).predict(), expected)
    loaded.save(tmp_path / "c2")  # an updated composer saves and loads again
    pd.testing.assert_frame_equal(Composer.load(tmp_path / "c2").predict(), expected)


def test_folder_saved_before_update_existed_loads_but_cannot_update(tmp_path):
    old, new = split(make_frame(n_series=2, n=40, m=M), 2)
    composer().fit(old).save(tmp_path / "c")
    for name in ("series.json", "series.npz"):  # what a folder saved before update existed lacks
        (tmp_path / "c" / name).unlink()
    loaded = Composer.load(tmp_path / "c")
    assert len(loaded.predict()) == 2 * H
    with pytest.raises(InputError, match="saved before update existed.*cannot update"):
        loaded.update(new)
    loaded.save(tmp_path / "again")  # saved again, it still loads (and still cannot update)
    assert not (tmp_path / "again" / "series.json").exists() and len(Composer.load(tmp_path / "again").predict()) == 8


def test_series_values_of_other_series_are_refused(tmp_path):
    df = make_frame(n_series=2, n=40, m=M)
    composer().fit(df).save(tmp_path / "a")
    composer().fit(df[df.unique_id == "s0"]).save(tmp_path / "b")
    for name in ("series.json", "series.npz"):
        (tmp_path / "a" / name).write_bytes((tmp_path / "b" / name).read_bytes())
    with pytest.raises(FileFormatError, match="does not hold the values of the composer's series"):
        Composer.load(tmp_path / "a")


# --- bad new observations: a clear error, and the composer is left as it was ----------------------
@pytest.fixture
def fitted():
    df = make_frame(n_series=2, n=40, m=M)
    old, new = split(df, 4)
    return composer().fit(old), new


def _refused(comp, new, match):
    before = comp.predict()
    with pytest.raises(InputError, match=match):
        comp.update(new)
    pd.testing.assert_frame_equal(comp.predict(), before)


def test_update_with_overlapping_timestamps(fitted):
    comp, new = fitted
    again = pd.DataFrame({"unique_id": ["s0", "s0"], "ds": [36, 37], "y": [1.0, 2.0]})  # 36 is already known
    _refused(comp, again, r"series 's0' already has data up to ds=36; new observations must continue at ds=37, "
                           r"got 36 \(overlapping or older")


def test_update_with_older_timestamps(fitted):
    comp, _ = fitted
    _refused(comp, pd.DataFrame({"unique_id": ["s1"], "ds": [20], "y": [1.0]}),
             r"series 's1' already has data up to ds=36; .* continue at ds=37, got 20")


def test_update_with_repeated_timestamps(fitted):
    comp, _ = fitted
    _refused(comp, pd.DataFrame({"unique_id": ["s0", "s0"], "ds": [37, 37], "y": [1.0, 1.0]}),
             r"series 's0': ds=37 appears twice in the new observations")


def test_update_off_the_series_frequency():
    df = make_frame(n_series=1, n=30, m=M)
    df["ds"] = 2 * df["ds"]                                           # a step of 2
    comp = composer().fit(df)
    _refused(comp, pd.DataFrame({"unique_id": ["s0"], "ds": [61], "y": [1.0]}),
             r"series 's0': ds=61 is off its frequency 2: expected 62")


def test_update_with_a_gap(fitted):
    comp, new = fitted
    _refused(comp, new[new.ds != 38], r"series 's0': a gap in ds: expected 38 \(frequency 1\), got 39")


def test_update_for_an_unknown_series(fitted):
    comp, new = fitted
    extra = pd.DataFrame({"unique_id": ["new-series"], "ds": [37], "y": [1.0]})
    _refused(comp, pd.concat([new, extra]), r"1 series the composer was not fitted on, e.g. 'new-series'")


def test_update_with_datetimes_for_integer_timestamps(fitted):
    comp, _ = fitted
    _refused(comp, pd.DataFrame({"unique_id": ["s0"], "ds": pd.to_datetime(["2024-01-01"]), "y": [1.0]}),
             "series 's0' has integers as ds; the new observations have datetimes")


def test_update_continues_datetime_series():
    df = make_frame(n_series=2, n=30, m=M)
    df["ds"] = np.tile(pd.date_range("2020-01-01", periods=30, freq="MS"), 2)
    old, new = df[df.ds < "2022-05-01"], df[df.ds >= "2022-05-01"]
    comp = composer().fit(old).update(new)
    pd.testing.assert_frame_equal(comp.predict(), composer().fit(df).predict())
    with pytest.raises(InputError, match=r"a gap in ds: expected 2022-07-01 00:00:00 \(frequency MS\), got 2022-09-01"):
        comp.update(pd.DataFrame({"unique_id": ["s0"], "ds": pd.to_datetime(["2022-09-01"]), "y": [1.0]}))


# --- the command line: a saved composer that the file extends is updated -----------------------------
def test_forecast_with_a_saved_composer_updates_it(tmp_path, capsys):
    df = make_frame(n_series=3, n=40, m=M)
    old, new = split(df, 3)
    comp = composer("inverse_error").fit(old)
    comp.save(tmp_path / "c")
    df.to_csv(tmp_path / "d.csv", index=False)
    args = ["forecast", str(tmp_path / "d.csv"), "-H", str(H), "--agent", str(tmp_path / "c"), "--out",
            str(tmp_path / "fc.csv")]
    assert main(args) == 0
    assert "updated the saved composer" in capsys.readouterr().out
    expected = comp.update(new).predict()
    got = pd.read_csv(tmp_path / "fc.csv")
    np.testing.assert_allclose(got["composed"], expected["composed"], rtol=1e-9)
    assert got["ds"].tolist() == expected["ds"].tolist()
    # another history (a changed value): a new composer is fitted with the saved agent, as before
    df.loc[0, "y"] += 1.0
    df.to_csv(tmp_path / "d.csv", index=False)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "does not only extend" in out and "backtest:" in out
