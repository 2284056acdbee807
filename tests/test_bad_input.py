"""Every kind of bad input named in the end-to-end issue gets a clear error naming the problem."""

import numpy as np
import pandas as pd
import pytest

from metacompose import Composer, InputError, SeriesTooShortError, UnknownModelError
from metacompose.cli import main
from metacompose.models import get_model
from tests.conftest import make_frame

CHEAP = ["Naive", "SeasonalNaive"]


def composer(**kw):
    kw.setdefault("models", CHEAP)
    return Composer(agent="equal", horizon=kw.pop("horizon", 4), season_length=4, **kw)


def test_missing_column_is_named():
    df = make_frame().drop(columns="ds")
    with pytest.raises(InputError, match=r"missing column\(s\) \['ds'\]"):
        composer().fit(df)


def test_renamed_columns_work_when_declared():
    df = make_frame().rename(columns={"unique_id": "store", "ds": "week", "y": "sales"})
    out = composer(id_col="store", time_col="week", target_col="sales").fit(df).predict()
    assert {"store", "week", "composed"} <= set(out.columns)


def test_non_numeric_values():
    df = make_frame()
    df["y"] = df["y"].astype(str)
    with pytest.raises(InputError, match="must be numeric"):
        composer().fit(df)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_values(bad):
    df = make_frame()
    df.loc[7, "y"] = bad
    with pytest.raises(InputError, match="NaN or infinite.*series 's0'"):
        composer().fit(df)


def test_duplicate_timestamps():
    df = make_frame()
    df = pd.concat([df, df.iloc[[3]]], ignore_index=True)
    with pytest.raises(InputError, match="duplicate timestamps: series 's0'"):
        composer().fit(df)


def test_series_shorter_than_the_model_needs():
    df = make_frame(n=40)
    df = df[~((df["unique_id"] == "s2") & (df["ds"] > 3))]
    with pytest.raises(SeriesTooShortError, match="series 's2' has 3 observations but at least"):
        Composer(models=["ARIMA", "Naive"], agent="equal", horizon=4, season_length=4).fit(df)


@pytest.mark.parametrize("h", [0, -1, 1.5, "6", True])
def test_horizon_must_be_positive_int(h):
    with pytest.raises(InputError, match="horizon h must be a positive integer"):
        Composer(models=CHEAP, horizon=h)


def test_unknown_model_alias_lists_known_ones():
    with pytest.raises(UnknownModelError, match=r"unknown model alias 'Prophet'.*ARIMA"):
        Composer(models=["Naive", "Prophet"], horizon=3)
    with pytest.raises(UnknownModelError):
        get_model("arimaa")


def test_duplicate_aliases_in_pool():
    with pytest.raises(InputError, match="repeated: Naive"):
        Composer(models=["Naive", "naive"], horizon=3)


def test_cli_reports_bad_input_as_one_line(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    make_frame().drop(columns="y").to_csv(path, index=False)
    code = main(["forecast", str(path), "--horizon", "4", "--models", "Naive"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: missing column(s) ['y']") and "Traceback" not in err
