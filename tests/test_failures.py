"""A base model that raises, returns NaN, or hangs falls back and is reported per model and per series."""

import threading
import time

import numpy as np
import pytest

from metacompose import Composer, InputError
from metacompose.backtest import backtest
from metacompose.timeout import run_with_timeout
from metacompose.models import Forecaster, Naive, PanelForecaster, SeasonalNaive
from tests.conftest import make_frame


def panel(S=4, n=30):
    return [100.0 + 10 * i + np.arange(n, dtype=float) for i in range(S)]


class Raises(Forecaster):
    """Raises on series whose first value is 120 (series 2 of ``panel``)."""

    alias = "Raises"

    def _fit(self, y):
        if y[0] == 120.0:
            raise RuntimeError("cannot fit this one")
        self._last = y[-1]

    def _predict(self, h):
        return np.full(h, self._last)


class ReturnsNaN(Raises):
    alias = "ReturnsNaN"

    def _fit(self, y):
        self._last = np.nan if y[0] == 110.0 else y[-1]


class WrongShape(Raises):
    alias = "WrongShape"

    def _fit(self, y):
        self._last = y[-1]

    def _predict(self, h):
        return np.full(h + 1, self._last)


class Overflows(Raises):
    alias = "Overflows"

    def _fit(self, y):
        self._last = 1e200


class Sleeps(Raises):
    """Sleeps ``seconds`` on series whose first value is 130 (series 3), else forecasts the last value."""

    alias = "Sleeps"

    def __init__(self, seconds=3.0, season_length=1):
        super().__init__(season_length)
        self.seconds = seconds

    def _fit(self, y):
        if y[0] == 130.0:
            time.sleep(self.seconds)
        self._last = y[-1]


class Spins(Raises):
    """Loops forever in Python code."""

    alias = "Spins"

    def _fit(self, y):
        while True:
            pass


class PanelSleeps(PanelForecaster):
    alias = "PanelSleeps"
    fallback = "Naive"

    def _fit_panel(self, ys):
        time.sleep(3.0)

    def _predict_panel(self, h):
        return np.zeros((self._n_series, h))


class PanelRaisesOnOne(PanelForecaster):
    """Forecasts NaN for series 1 (first value 110) and the last value for the others."""

    alias = "PanelRaisesOnOne"
    fallback = "Naive"

    def _fit_panel(self, ys):
        self._rows = [np.nan if y[0] == 110.0 else y[-1] for y in ys]

    def _predict_panel(self, h):
        return np.repeat(np.array(self._rows)[:, None], h, axis=1)


def run(models, **kw):
    return backtest(panel(), models, horizon=3, season_length=1, n_origins=3, step=1, **kw)


def test_a_model_that_raises_falls_back_and_is_reported_per_series():
    cube, report = run([Raises(), Naive()])
    assert report.fallbacks == {"Raises": 4, "Naive": 0}
    assert report.failure_kinds["Raises"] == {"error": 4, "non-finite": 0, "timeout": 0}
    assert report.failures_by_series == {"2": {"Raises": 4}}
    assert cube.failed[2, :, 0].all() and not cube.failed[[0, 1, 3]].any()
    # the fallback (SeasonalNaive, m=1: the last value) forecasts instead; nothing else changes
    np.testing.assert_array_equal(cube.forecasts[2, :, 0], cube.forecasts[2, :, 1])
    assert any("Raises @ series 2, origin" in f and "cannot fit this one" in f for f in report.failures)
    table = report.failure_table()
    assert list(table.index) == ["2"] and table.loc["2", "Raises"] == 4 and table.loc["2", "total"] == 4
    assert "Raises: 4 (error 4) in 1 series" in report.summary()


@pytest.mark.parametrize("model, series", [(ReturnsNaN(), "1"), (WrongShape(), None), (Overflows(), None)])
def test_nan_wrong_shape_or_overflowing_forecasts_fall_back(model, series):
    cube, report = run([model, Naive()])
    counts = report.failure_kinds[model.alias]
    assert counts["non-finite"] == report.fallbacks[model.alias] > 0 and counts["error"] == counts["timeout"] == 0
    if series is not None:
        assert list(report.failures_by_series) == [series]
    else:
        assert sorted(report.failures_by_series) == ["0", "1", "2", "3"]
    assert np.all(np.isfinite(cube.forecasts[cube.valid]))


def test_a_model_that_hangs_is_stopped_by_the_time_limit():
    t0 = time.perf_counter()
    cube, report = run([Sleeps(seconds=3.0), Naive()], timeout=0.1)
    assert time.perf_counter() - t0 < 2.5  # four hanging fits of 3 s each did not stall the run
    assert report.failure_kinds["Sleeps"] == {"error": 0, "non-finite": 0, "timeout": 4}
    assert report.failures_by_series == {"3": {"Sleeps": 4}}
    assert any("time limit of 0.1 s" in f for f in report.failures)
    expected, _ = run([SeasonalNaive(), Naive()])
    np.testing.assert_array_equal(cube.forecasts[3, :, 0], expected.forecasts[3, :, 0])  # the fallback's forecast
    np.testing.assert_array_equal(cube.forecasts[:3, :, 0], expected.forecasts[:3, :, 0])  # others unaffected


def test_a_model_looping_in_python_is_interrupted():
    before = threading.active_count()
    cube, report = run([Spins(), Naive()], timeout=0.05)
    assert report.failure_kinds["Spins"]["timeout"] == report.fallbacks["Spins"] == 16
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before  # the abandoned threads were stopped, not left spinning


def test_without_a_timeout_no_thread_is_used():
    assert run_with_timeout(threading.current_thread, None) is threading.current_thread()
    assert run_with_timeout(threading.current_thread, 5) is not threading.current_thread()
    with pytest.raises(ZeroDivisionError):
        run_with_timeout(lambda: 1 / 0, 5)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "5", True])
def test_timeout_must_be_a_positive_number(bad):
    with pytest.raises(InputError, match="timeout must be None or a positive number"):
        run([Naive()], timeout=bad)


def test_panel_model_failures_fall_back_per_series():
    cube, report = run([PanelRaisesOnOne(), Naive()])
    assert report.failures_by_series == {"1": {"PanelRaisesOnOne": 4}}
    assert report.failure_kinds["PanelRaisesOnOne"]["non-finite"] == 4
    np.testing.assert_array_equal(cube.forecasts[1, :, 0], cube.forecasts[1, :, 1])


def test_a_hanging_panel_model_is_stopped_by_its_time_limit():
    t0 = time.perf_counter()
    cube, report = run([PanelSleeps(), Naive()], panel_timeout=0.1)
    assert time.perf_counter() - t0 < 2.5
    assert report.failure_kinds["PanelSleeps"]["timeout"] == 16 and len(report.failures_by_series) == 4
    np.testing.assert_array_equal(cube.forecasts[:, :, 0], cube.forecasts[:, :, 1])


def test_composer_run_survives_failures_and_reports_them():
    df = make_frame(n_series=4, n=30)
    df.loc[df["unique_id"] == "s1", "y"] = df.loc[df["unique_id"] == "s1", "y"] + 1000.0

    class Flaky(Forecaster):
        alias = "Flaky"

        def _fit(self, y):
            if y[0] > 500:
                raise RuntimeError("too big")
            self._last = y[-1]

        def _predict(self, h):
            return np.full(h, self._last)

    comp = Composer(models=[Flaky(), "Naive"], agent="equal", horizon=4, season_length=4).fit(df)
    assert comp.report_.failures_by_series == {"s1": {"Flaky": 6}}
    out = comp.predict()
    assert np.all(np.isfinite(out["composed"])) and len(out) == 16
