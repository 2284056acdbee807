"""Every row of docs/bad_input.md: bad or awkward input gets a clear error or a documented handling.

Cheap models (Naive, SeasonalNaive) and the equal-weight agent keep this fast. The rows' tests
live in this file and in the other ``tests/test_input_*.py`` files (one per category); the last
test checks that the catalogue and those files name the same tests.
"""

import ast
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metacompose import Composer, InputError, NotFittedError, SeriesTooShortError
from metacompose.cli import main
from metacompose.data import validate_frame
from metacompose.metrics import mase, mase_scale, smape
from tests.conftest import make_frame

CHEAP = ["Naive", "SeasonalNaive"]
DOC = Path(__file__).resolve().parents[1] / "docs" / "bad_input.md"


def fit(df, horizon=4, m=4, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return Composer(models=kw.pop("models", CHEAP), agent="equal", horizon=horizon, season_length=m, **kw).fit(df)


def dated(n_series=2, n=24, freq="MS"):
    df = make_frame(n_series=n_series, n=n)
    df["ds"] = np.tile(pd.date_range("2020-01-01", periods=n, freq=freq), n_series)
    return df


# --- the frame and its columns ----------------------------------------------------------------
@pytest.mark.parametrize("obj", [np.ones((5, 3)), {"unique_id": [1], "ds": [1], "y": [1.0]}, [1, 2, 3]])
def test_not_a_dataframe(obj):
    with pytest.raises(InputError, match="expected a pandas DataFrame in long format"):
        fit(obj)


def test_empty_frame_without_columns():
    with pytest.raises(InputError, match="the frame is empty: it has no columns"):
        fit(pd.DataFrame())


def test_empty_frame_with_columns():
    with pytest.raises(InputError, match="the frame is empty: no rows"):
        fit(make_frame().iloc[:0])


def test_missing_column():
    with pytest.raises(InputError, match=r"missing column\(s\) \['y'\]"):
        fit(make_frame().drop(columns="y"))


@pytest.mark.parametrize("rename, hint", [({"ds": "date"}, "time_col='date'"), ({"y": "Y"}, "target_col='Y'"),
                                          ({"unique_id": "series_id", "y": "sales"}, "id_col='series_id'")])
def test_misnamed_columns_get_a_suggestion(rename, hint):
    with pytest.raises(InputError, match=re.escape(hint)):
        fit(make_frame().rename(columns=rename))


def test_declared_column_names_work():
    df = make_frame().rename(columns={"unique_id": "store", "ds": "week", "y": "sales"})
    out = fit(df, id_col="store", time_col="week", target_col="sales").predict()
    assert {"store", "week", "composed"} <= set(out.columns) and len(out) == 16


def test_extra_columns_are_ignored():
    df = make_frame()
    extra = df.assign(price=1.5, note="x", flag=True)
    pd.testing.assert_frame_equal(fit(extra).predict(), fit(df).predict())


def test_same_column_for_two_roles():
    with pytest.raises(InputError, match="three different columns"):
        validate_frame(make_frame(), id_col="ds")


def test_repeated_column_names():
    df = make_frame()
    df = pd.concat([df, df[["y"]]], axis=1)
    with pytest.raises(InputError, match=r"\['y'\] appear more than once"):
        fit(df)


# --- values ------------------------------------------------------------------------------------
def test_non_numeric_values_name_an_example():
    df = make_frame()
    df["y"] = df["y"].astype(object)
    df.loc[5, "y"] = "1,234.5"
    with pytest.raises(InputError, match=r"must be numeric.*'1,234.5' in series 's0'.*pd.to_numeric"):
        fit(df)


def test_boolean_values():
    df = make_frame()
    df["y"] = df["y"] > 100
    with pytest.raises(InputError, match="must hold real numbers, got dtype bool"):
        fit(df)


@pytest.mark.parametrize("dtype", ["int64", "Int64", "Float64", "object", "float32"])
def test_integer_and_object_numbers_are_accepted(dtype):
    df = make_frame()
    df["y"] = df["y"].round().astype("int64").astype(dtype)
    out = fit(df).predict()
    assert np.all(np.isfinite(out["composed"]))


@pytest.mark.parametrize("bad", [np.nan, None])
def test_nan_values(bad):
    df = make_frame()
    df["y"] = df["y"].astype("Float64") if bad is None else df["y"]
    df.loc[45, "y"] = pd.NA if bad is None else bad
    with pytest.raises(InputError, match=r"1 NaN or infinite value\(s\) \(first in series 's1'\)"):
        fit(df)


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_values(bad):
    df = make_frame()
    df.loc[7, "y"] = bad
    with pytest.raises(InputError, match="NaN or infinite.*series 's0'"):
        fit(df)


def test_constant_series():
    df = make_frame()
    df["y"] = 7.0
    comp = fit(df)
    np.testing.assert_allclose(comp.predict()["composed"], 7.0)
    assert np.all(comp.cube_.scales == 1.0)  # zero in-sample error: MASE scale 1.0 by convention
    assert mase_scale(np.full(10, 7.0), 4) == 1.0


def test_all_zero_series():
    df = make_frame()
    df["y"] = 0.0
    comp = fit(df)
    np.testing.assert_array_equal(comp.predict()["composed"], 0.0)
    assert smape(np.zeros(5), np.zeros(5)) == 0.0  # 0/0 counts as a perfect forecast
    assert smape(np.zeros(5), np.ones(5)) == 200.0
    assert comp.cube_.errors("smape")[:, :-1][comp.cube_.valid[:, :-1]].max() == 0.0


def test_negative_series():
    df = make_frame()
    df["y"] = -df["y"]
    out = fit(df).predict()
    assert np.all(out["composed"] < 0)
    assert smape([-5.0, -5.0], [-5.0, 5.0]) == 100.0  # |y| + |yhat| in the denominator
    assert mase([-1.0, -3.0], [-2.0, -2.0], mase_scale(np.array([-1.0, -2.0, -4.0]), 1)) == pytest.approx(1 / 1.5)


def test_huge_values():
    assert smape([1e308], [-1e308]) == 200.0 and smape([1e308], [1e308]) == 0.0
    df = make_frame()
    df["y"] = df["y"] * 1e30
    assert np.all(np.isfinite(fit(df).predict()["composed"]))
    df["y"] = df["y"] * 1e260
    with pytest.raises(InputError, match="series 's0' holds values up to .* rescale the series"):
        fit(df)


# --- timestamps --------------------------------------------------------------------------------
def test_unsorted_rows_are_sorted():
    df = make_frame()
    shuffled = df.sample(frac=1.0, random_state=1)
    a = fit(df).predict().sort_values(["unique_id", "ds"]).reset_index(drop=True)
    b = fit(shuffled).predict().sort_values(["unique_id", "ds"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_exact_duplicate_rows():
    df = pd.concat([make_frame(), make_frame().iloc[[3]]], ignore_index=True)
    with pytest.raises(InputError, match=r"duplicate timestamps: series 's0'.*repeated rows.*drop_duplicates"):
        fit(df)


def test_conflicting_duplicate_timestamps():
    df = pd.concat([make_frame(), make_frame().iloc[[3]].assign(y=0.0)], ignore_index=True)
    with pytest.raises(InputError, match="duplicate timestamps: series 's0'.*conflicting values"):
        fit(df)


def test_gap_in_integer_timestamps():
    df = make_frame().drop(index=[10, 11])
    with pytest.raises(InputError, match=r"series 's0'.*not equally spaced.*first gap after ds=10"):
        fit(df)


def test_gap_in_datetime_timestamps():
    df = dated().drop(index=[5, 6])
    with pytest.raises(InputError, match=r"series 's0': 2 missing timestamp\(s\).*'MS'.*first gap at 2020-06-01"):
        fit(df)


def test_off_grid_timestamp():
    df = dated()
    df.loc[5, "ds"] = pd.Timestamp("2020-06-15")
    with pytest.raises(InputError, match="irregular timestamps in ds: 2020-06-15.*off the 'MS' grid"):
        fit(df)


def test_missing_timestamps():
    df = dated()
    df.loc[30, "ds"] = pd.NaT
    with pytest.raises(InputError, match=r"'ds' holds 1 missing timestamp\(s\) \(first in series 's1'\)"):
        fit(df)


def test_float_timestamps():
    df = make_frame()
    df["ds"] = df["ds"].astype(float)
    assert fit(df).predict()["ds"].iloc[0] == 41  # integral floats are used as integers
    df["ds"] = df["ds"] + 0.5
    with pytest.raises(InputError, match="non-integer numbers"):
        fit(df)


def test_unparseable_timestamps():
    df = make_frame()
    df["ds"] = "week " + df["ds"].astype(str)
    with pytest.raises(InputError, match="must hold datetimes or integers.*not a date"):
        fit(df)


def test_datetime_strings_are_parsed():
    df = dated()
    df["ds"] = df["ds"].dt.strftime("%Y-%m-%d")
    out = fit(df).predict()
    assert out["ds"].iloc[0] == pd.Timestamp("2022-01-01")


def test_timezone_aware_timestamps():
    df = dated(freq="D")
    df["ds"] = df["ds"].dt.tz_localize("Europe/Paris")
    out = fit(df).predict()
    assert str(out["ds"].iloc[0].tz) == "Europe/Paris" and out["ds"].iloc[0].day == 25


def test_too_few_datetimes_for_a_frequency():
    df = pd.concat([dated(n_series=1), dated(n_series=1).iloc[:2].assign(unique_id="tiny")], ignore_index=True)
    with pytest.raises(InputError, match="series 'tiny': need at least 3 timestamps"):
        fit(df)


def test_series_with_different_frequencies():
    df = pd.concat([dated(n_series=1, freq="MS"), dated(n_series=1, freq="QS").assign(unique_id="q")])
    out = fit(df).predict()
    q = out[out["unique_id"] == "q"]["ds"]
    assert list(q.dt.month[:2]) == [1, 4]  # each series keeps its own frequency


# --- series ids ---------------------------------------------------------------------------------
def test_unicode_ids(tmp_path):
    df = make_frame()
    names = {"s0": "série-é", "s1": "序列/1", "s2": "🚀", "s3": "Ünïcødé id"}
    df["unique_id"] = df["unique_id"].map(names)
    df.to_csv(tmp_path / "u.csv", index=False, encoding="utf-8")
    assert main(["forecast", str(tmp_path / "u.csv"), "-H", "4", "-m", "4", "--models", *CHEAP, "--agent", "equal",
                 "--out", str(tmp_path / "fc.csv"), "--no-progress"]) == 0
    out = pd.read_csv(tmp_path / "fc.csv", encoding="utf-8")
    assert list(pd.unique(out["unique_id"])) == list(names.values())


def test_missing_ids():
    df = make_frame()
    df.loc[3, "unique_id"] = None
    with pytest.raises(InputError, match=r"'unique_id' holds 1 missing series id"):
        fit(df)


def test_mixed_type_ids():
    df = make_frame()
    df["unique_id"] = df["unique_id"].astype(object)
    df.loc[df["unique_id"] == "s1", "unique_id"] = 1
    out = fit(df).predict()
    assert list(pd.unique(out["unique_id"])) == ["s0", 1, "s2", "s3"]


# --- sizes and lengths ----------------------------------------------------------------------------
def test_one_series():
    out = fit(make_frame(n_series=1)).predict()
    assert len(out) == 4 and out["unique_id"].nunique() == 1


def test_many_series():
    n, length = 20_000, 10
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"unique_id": np.repeat(np.arange(n), length), "ds": np.tile(np.arange(length), n),
                        "y": rng.random(n * length)})
    panel = validate_frame(big.sample(frac=1.0, random_state=0))
    assert len(panel.ids) == n and all(v.shape == (length,) for v in panel.values[:100])
    out = fit(big[big["unique_id"] < 500], horizon=2, m=1, n_origins=1, models=["Naive"]).predict()
    assert out["unique_id"].nunique() == 500


def test_series_shorter_than_the_season():
    df = make_frame(n=6)
    with pytest.warns(UserWarning, match="too short for any backtest origin"):
        comp = Composer(models=CHEAP, agent="equal", horizon=4, season_length=12).fit(df)
    np.testing.assert_allclose(comp.predict()["SeasonalNaive"], comp.predict()["Naive"])  # falls back to Naive
    assert len(comp.report_.short_series) == 4 and comp.report_.n_fallbacks == 0


def test_horizon_longer_than_the_data():
    with pytest.warns(UserWarning, match="too short for any backtest origin"):
        comp = Composer(models=CHEAP, agent="equal", horizon=30, season_length=4).fit(make_frame(n=12))
    out = comp.predict()
    assert len(out) == 4 * 30 and np.all(np.isfinite(out["composed"]))
    np.testing.assert_allclose(comp.weights_, 0.5)


def test_series_shorter_than_a_model_needs():
    df = make_frame(n=40)
    df = df[~((df["unique_id"] == "s2") & (df["ds"] > 3))]
    with pytest.raises(SeriesTooShortError, match="series 's2' has 3 observations but at least"):
        Composer(models=["ARIMA", "Naive"], agent="equal", horizon=4, season_length=4).fit(df)


@pytest.mark.parametrize("h", [0, -1, 1.5, "6", True])
def test_bad_horizon(h):
    with pytest.raises(InputError, match="horizon h must be a positive integer"):
        Composer(models=CHEAP, horizon=h)


@pytest.mark.parametrize("m", [0, -4, 1.5, "12"])
def test_bad_season_length(m):
    with pytest.raises(InputError, match="season_length must be a positive integer"):
        Composer(models=CHEAP, horizon=3, season_length=m)


def test_predict_before_fit():
    with pytest.raises(NotFittedError, match="before predict"):
        Composer(models=CHEAP, horizon=3).predict()


# --- the catalogue itself ------------------------------------------------------------------------
def _catalogue_tests() -> set[str]:
    """Names of the module-level tests in every ``tests/test_input_*.py`` file, this one included."""
    names = set()
    for path in Path(__file__).parent.glob("test_input_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return names - {"test_catalogue_lists_every_test_here"}


def test_catalogue_lists_every_test_here():
    text = DOC.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if re.match(r"^\|\s*\d+\s*\|", line)]
    named = set(re.findall(r"`(test_\w+)`", "\n".join(rows)))
    here = _catalogue_tests()
    assert len(rows) >= 25
    numbers = [int(re.match(r"^\|\s*(\d+)", r).group(1)) for r in rows]
    assert numbers == list(range(1, len(rows) + 1)), "rows must be numbered 1, 2, 3, ... in order"
    assert named == here, f"only in the doc: {named - here}; only in the tests: {here - named}"
