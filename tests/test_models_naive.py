"""The reference forecasters: Naive, SeasonalNaive and Drift."""

import numpy as np

from metacompose.models import Drift, Naive, SeasonalNaive


def test_drift_extends_the_line_through_the_first_and_last_values():
    # (7 - 1) / 3 = 2 per step, whatever lies between the ends
    np.testing.assert_allclose(Drift().fit([1.0, 3.0, 2.0, 7.0]).predict(3), [9.0, 11.0, 13.0])
    np.testing.assert_allclose(Drift().fit([5.0, 4.0, 3.0]).predict(2), [2.0, 1.0])


def test_drift_of_one_observation_is_flat_and_falls_back_to_naive():
    np.testing.assert_allclose(Drift().fit([4.0]).predict(3), [4.0, 4.0, 4.0])
    assert Drift.fallback == "Naive"


def test_naive_and_seasonal_naive_repeat_the_last_value_and_season():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    np.testing.assert_allclose(Naive().fit(y).predict(2), [6.0, 6.0])
    np.testing.assert_allclose(SeasonalNaive(season_length=4).fit(y).predict(5), [3.0, 4.0, 5.0, 6.0, 3.0])

