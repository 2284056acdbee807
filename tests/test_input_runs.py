"""What a run says and how long it may take: catalogue rows in docs/bad_input.md ("Runs: time, progress and
what the composer decided"). Cheap pools and the equal-weight agent keep these fast."""

import time

import numpy as np
import pandas as pd

from metacompose import Composer
from metacompose.cli import main
from metacompose.models import Forecaster, Naive
from tests.conftest import make_frame


class Sluggish(Forecaster):
    """Naive after 0.05 CPU seconds of work per fit: too slow for a one-second budget on this panel."""

    alias = "Sluggish"

    def _fit(self, y):
        t0 = time.thread_time()
        while time.thread_time() - t0 < 0.05:
            pass
        self._last = float(y[-1])

    def _predict(self, h):
        return np.full(h, self._last)


def dated_csv(tmp_path, n_series=3, n=48, trend=0.5):
    df = make_frame(n_series=n_series, n=n, m=12)
    df["ds"] = np.tile(pd.date_range("2016-01-01", periods=n, freq="MS"), n_series)
    df["y"] += trend * np.tile(np.arange(n), n_series)
    df.to_csv(tmp_path / "d.csv", index=False)
    return tmp_path / "d.csv"


def test_a_member_too_slow_for_the_data_is_dropped():
    comp = Composer(models=[Sluggish(), Naive()], agent="equal", horizon=4, season_length=4, time_budget=1.0)
    comp.fit(make_frame(n_series=4, n=40))
    assert comp.models == ["Naive"]
    assert comp.decision_.dropped["Sluggish"].startswith("estimated ")
    assert "members dropped: Sluggish" in comp.decision_.summary()


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, capsys):
    path = dated_csv(tmp_path)
    assert main(["forecast", str(path), "-H", "6", "--models", "Naive", "SeasonalNaive", "--agent", "equal",
                 "--out", str(tmp_path / "fc.csv")]) == 0
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines and all(line.startswith("metacompose: ") for line in lines)
    for stage in ("data: 3 series", "season length: season length 12 inferred", "time budget:",
                  "backtest: 3 series x 6 origins", "backtest: done in", "fit: done in"):
        assert any(stage in line for line in lines), stage


def test_forecast_prints_what_the_composer_decided(tmp_path, capsys):
    path = dated_csv(tmp_path)
    assert main(["forecast", str(path), "-H", "6", "--models", "Naive", "SeasonalNaive", "Drift", "--agent",
                 "inverse_error", "--out", str(tmp_path / "fc.csv")]) == 0
    out = capsys.readouterr().out
    assert "season length: 12 (season length 12 inferred from the monthly" in out
    assert "members kept: Naive, SeasonalNaive, Drift" in out
    assert "weights: baseline (the 'inverse_error' rule on the backtest errors)" in out
    table = out[out.index("backtest error"):]
    for method in ("Naive", "SeasonalNaive", "Drift", "composed"):
        assert f"  {method} " in table, method


def test_negative_forecasts_of_nonnegative_data(tmp_path):
    t = np.arange(30)
    df = pd.DataFrame({"unique_id": "falling", "ds": t, "y": np.maximum(50.0 - 2.5 * t, 0.0) + 1.0})
    fc = Composer(models=["Drift", "Naive"], agent="equal", horizon=10, season_length=1).fit(df).predict()
    assert fc["Drift"].min() == 0.0 and fc["composed"].min() >= 0.0
    raw = Composer(models=["Drift", "Naive"], agent="equal", horizon=10, season_length=1, nonnegative=False)
    assert raw.fit(df).predict()["Drift"].min() < 0.0
