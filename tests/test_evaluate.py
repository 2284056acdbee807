"""Test-part scores: MAPE beside sMAPE and MASE, and the tail figures against a reference."""

import numpy as np
import pytest

from metacompose.evaluate import score, tail_figures
from metacompose.metrics import smape


def test_score_reports_mape_in_percent():
    actual = np.array([[100.0, 200.0]])
    s = score(np.array([[110.0, 180.0]]), actual, np.array([10.0]))
    assert s["MAPE"] == pytest.approx(10.0)
    assert s["MASE"] == pytest.approx(1.5)


def test_tail_figures_count_series_worse_than_twice_the_reference():
    rng = np.random.default_rng(0)
    actual = rng.uniform(50, 150, size=(200, 4))
    reference = actual * 1.10                     # 10 % off everywhere
    forecast = actual * 1.05                      # better than the reference ...
    forecast[:30] = actual[:30] * 1.50            # ... except 30 series, far worse than twice
    tails = tail_figures(forecast, actual, reference)
    assert tails["share >2x ref"] == pytest.approx(30 / 200)
    per = smape(actual, forecast, axis=1)
    assert tails["p99 sMAPE"] == pytest.approx(np.percentile(per, 99))
    assert tails["p99 sMAPE"] > smape(actual, forecast)


def test_tail_figures_leave_out_series_without_actuals():
    actual = np.array([[1.0, 2.0], [np.nan, np.nan]])
    tails = tail_figures(np.array([[1.0, 2.0], [5.0, 5.0]]), actual, np.array([[1.5, 2.5], [1.0, 1.0]]))
    assert tails == {"p99 sMAPE": 0.0, "share >2x ref": 0.0}
    none = tail_figures(actual[1:], actual[1:], actual[1:])
    assert np.isnan(none["p99 sMAPE"]) and np.isnan(none["share >2x ref"])
