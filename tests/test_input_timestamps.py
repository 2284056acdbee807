"""Catalogue rows on time stamps, season lengths, series ids and reading files (docs/bad_input.md).

Reading is tested through :func:`metacompose.data.read_table` (the command line's ``--sep`` is
tested with the command line); the forecasts use the cheap models and the equal-weight agent.
"""

import gzip
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from metacompose import Composer, InputError
from metacompose.data import check_one_season_length, infer_season_length, read_table, validate_frame
from tests.conftest import make_frame

CHEAP = ["Naive", "SeasonalNaive"]


def fit(df, horizon=4, m=4):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return Composer(models=CHEAP, agent="equal", horizon=horizon, season_length=m).fit(df)


def frame_at(stamps, n_series=1):
    """A long frame whose every series has the time stamps ``stamps`` (any type)."""
    n = len(stamps)
    return pd.DataFrame({"unique_id": np.repeat([f"s{i}" for i in range(n_series)], n),
                         "ds": list(stamps) * n_series, "y": 100.0 + np.arange(n * n_series) % 7})


def no_warnings(func, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return func(*args, **kw)


# --- time stamps ---------------------------------------------------------------------------------
def test_utc_offsets_changing_with_daylight_saving():
    utc = pd.date_range("2021-03-27 18:00", periods=30, freq="h", tz="UTC")
    df = frame_at([t.isoformat() for t in utc.tz_convert("Europe/Paris")])
    assert df["ds"].str[-6:].nunique() == 2  # "+01:00" then "+02:00"
    out = fit(df).predict()
    assert list(out["ds"]) == list(pd.date_range(utc[-1], periods=5, freq="h")[1:])
    assert str(out["ds"].iloc[0].tz) == "UTC"


def test_local_dates_with_changing_offsets_stay_calendar_days():
    local = pd.date_range("2021-03-20", periods=20, freq="D", tz="Europe/Paris")  # midnight, +01:00 then +02:00
    panel = validate_frame(frame_at([t.isoformat() for t in local]))
    assert panel.freqs[0] == pd.offsets.Day() and panel.last_ds[0] == pd.Timestamp("2021-04-08")
    assert panel.future_ds(0, 1) == [pd.Timestamp("2021-04-09")]


def test_one_utc_offset_is_kept():
    stamps = pd.date_range("2021-01-01", periods=12, freq="h").strftime("%Y-%m-%dT%H:%M:%S+05:30")
    panel = validate_frame(frame_at(stamps))
    assert str(panel.last_ds[0]) == "2021-01-01 11:00:00+05:30" and panel.freqs[0] == pd.offsets.Hour()


@pytest.mark.parametrize("fmt", ["%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y %H:%M"])
def test_day_first_dates(fmt):
    days = pd.date_range("2020-01-25", periods=20, freq="D")  # day fields 25..31 show the order
    panel = no_warnings(validate_frame, frame_at(days.strftime(fmt), n_series=2))
    assert panel.freqs == [pd.offsets.Day()] * 2 and panel.last_ds[1] == days[-1]


def test_day_first_monthly_dates_are_not_read_as_days():
    months = pd.date_range("2020-01-01", periods=30, freq="MS")  # "01/02/2020": the day never exceeds 12
    panel = no_warnings(validate_frame, frame_at(months.strftime("%d/%m/%Y")))
    assert panel.freqs[0] == pd.offsets.MonthBegin() and panel.last_ds[0] == months[-1]


def test_ambiguous_dates_warn_and_follow_the_separator():
    months = pd.date_range("2020-01-01", periods=12, freq="MS")  # both readings give a regular series
    with pytest.warns(UserWarning, match=r"'01/02/2020'.*read month-first \('01/02/2020' is 2020-01-02\)"):
        panel = validate_frame(frame_at(months.strftime("%d/%m/%Y")))
    assert panel.freqs[0] == pd.offsets.Day()
    with pytest.warns(UserWarning, match="read day-first"):
        panel = validate_frame(frame_at(months.strftime("%d.%m.%Y")))
    assert panel.freqs[0] == pd.offsets.MonthBegin()


def test_day_first_and_month_first_mixed():
    df = frame_at(["01/01/2020", "13/01/2020", "01/14/2020"])
    with pytest.raises(InputError, match=r"mixes day-first dates \('13/01/2020' in series 's0'\) and month-first "
                                         r"ones \('01/14/2020'"):
        validate_frame(df)


@pytest.mark.parametrize("bad, valid", [("2020-02-30", "2020-01-01"), ("garbage", "2020-01-01"),
                                        ("2020/04/01", "2020-01-01")])
def test_a_bad_date_is_named_not_a_valid_one(bad, valid):
    df = pd.concat([frame_at(pd.date_range("2020-01-01", periods=6, freq="MS").strftime("%Y-%m-%d")),
                    frame_at([valid, "2020-02-01", bad]).assign(unique_id="b")], ignore_index=True)
    with pytest.raises(InputError) as err:
        validate_frame(df)
    msg = str(err.value)
    assert f"{bad!r} in series 'b'" in msg and "not a date" in msg
    assert f"e.g. {valid!r}" not in msg


# --- season lengths ------------------------------------------------------------------------------
@pytest.mark.parametrize("freq, m", [("YS", 1), ("QS", 4), ("MS", 12), ("ME", 12), ("W-SUN", 52), ("2W", 26),
                                     ("D", 7), ("B", 5), ("h", 24), ("2h", 12), ("30min", 48), ("15min", 96),
                                     ("min", 1440), ("7D", 52), ("7h", 1)])
def test_season_length_from_the_frequency(freq, m):
    got, reason = infer_season_length([pd.tseries.frequencies.to_offset(freq)])
    assert got == m and reason.startswith(f"season length {m}")
    assert infer_season_length([freq]) == (got, reason)  # a frequency string gives the same


def test_season_length_of_a_panel():
    panel = validate_frame(frame_at(pd.date_range("2020-01-01", periods=24, freq="MS")))
    assert panel.season_length() == (12, "season length 12 inferred from the monthly ('MS') time stamps "
                                         "(12 steps a year)")
    m, reason = validate_frame(make_frame()).season_length()
    assert m == 1 and "integer time stamps" in reason


def test_season_length_of_mixed_frequencies():
    offsets = [pd.tseries.frequencies.to_offset(f) for f in ("QS", "MS", "MS")]
    m, reason = infer_season_length(offsets)
    assert m == 12 and "2 of 3 series" in reason and "QS-JAN (1)" in reason


def test_several_season_lengths():
    with pytest.raises(InputError, match=r"one season length m, got \[48, 336\].*m=336.*m=48"):
        check_one_season_length([48, 336])
    assert check_one_season_length(48) == 48
    with pytest.raises(InputError, match=r"one season length m, got \[48, 336\].*m=48"):
        Composer(models=CHEAP, agent="equal", horizon=4, season_length=[48, 336])


# --- series ids ----------------------------------------------------------------------------------
def test_ids_are_read_verbatim(tmp_path):
    ids = ["001", "1e3", "NA", "0x1F", "1.50"]
    df = make_frame(n_series=5)
    df["unique_id"] = np.repeat(ids, 40)
    df.to_csv(tmp_path / "d.csv", index=False)
    read = read_table(tmp_path / "d.csv")
    assert list(pd.unique(read["unique_id"])) == ids and read["ds"].dtype == np.int64
    assert validate_frame(read).ids == ids


def test_an_empty_id_field_is_a_missing_id(tmp_path):
    (tmp_path / "d.csv").write_text("unique_id,ds,y\na,1,1.0\n,2,2.0\n")
    with pytest.raises(InputError, match=r"'unique_id' holds 1 missing series id"):
        validate_frame(read_table(tmp_path / "d.csv"))


@pytest.mark.parametrize("a, b", [("s0", "s0 "), ("store 1", "store\u00a01"), (1, "1")])
def test_near_duplicate_ids_warn(a, b):
    df = make_frame(n_series=2)
    df["unique_id"] = np.repeat(np.array([a, b], dtype=object), 40)
    with pytest.warns(UserWarning, match=re.escape(f"series ids {a!r} and {b!r} differ only in whitespace or type")):
        panel = validate_frame(df)
    assert panel.ids == [a, b]  # kept apart


def test_distinct_ids_do_not_warn():
    df = make_frame(n_series=3)
    df["unique_id"] = np.repeat(["s0", "s00", "S0"], 40)
    assert no_warnings(validate_frame, df).ids == ["s0", "s00", "S0"]


# --- reading files -------------------------------------------------------------------------------
@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_separator_is_detected(tmp_path, sep):
    df = make_frame()
    df.to_csv(tmp_path / "d.csv", sep=sep, index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "d.csv"), df)
    with gzip.open(tmp_path / "d.csv.gz", "wt") as f:
        df.to_csv(f, sep=sep, index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "d.csv.gz"), df)


def test_semicolon_file_with_decimal_commas(tmp_path):
    (tmp_path / "d.csv").write_text("unique_id;ds;y\nA;2020-01-01;1,5\nA;2020-01-02;2\nA;2020-01-03;-3,25\n")
    read = read_table(tmp_path / "d.csv")
    assert list(read["y"]) == [1.5, 2.0, -3.25] and list(read["ds"])[0] == "2020-01-01"


def test_a_given_separator_is_used(tmp_path):
    make_frame().to_csv(tmp_path / "d.csv", sep="|", index=False)
    assert list(read_table(tmp_path / "d.csv", sep="|").columns) == ["unique_id", "ds", "y"]


def test_a_wrong_separator_says_so(tmp_path):
    make_frame().to_csv(tmp_path / "d.csv", sep=";", index=False)
    with pytest.raises(InputError, match=r"separator looks wrong.*splits by ';'.*sep=';' \(--sep"):
        read_table(tmp_path / "d.csv", sep=",")


def test_a_frame_read_with_the_wrong_separator(tmp_path):
    make_frame().to_csv(tmp_path / "d.csv", sep=";", index=False)
    with pytest.raises(InputError, match="wrong separator") as err:
        validate_frame(pd.read_csv(tmp_path / "d.csv"))
    assert "did you mean" not in str(err.value)


def test_parquet_keeps_its_types(tmp_path):
    pytest.importorskip("pyarrow")
    df = make_frame()
    df["unique_id"] = np.repeat([7, 8, 9, 10], 40)
    df.to_parquet(tmp_path / "d.parquet")
    read = read_table(tmp_path / "d.parquet")
    assert read["unique_id"].dtype == np.int64 and validate_frame(read).ids == [7, 8, 9, 10]
