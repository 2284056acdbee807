"""Every forecaster, built-in or plugged in, passes the same conformance check."""

import numpy as np
import pytest

from metacompose.models import REGISTRY, Forecaster, get_model
from metacompose.testing import check_forecaster


class WindowMean(Forecaster):
    """The custom-model example of the README: the mean of the last ``window`` values."""

    alias = "WindowMean"

    def __init__(self, window=4, season_length=1, alias=None):
        super().__init__(season_length, alias)
        self.window = window

    def _fit(self, y):
        self._level = y[-self.window:].mean()

    def _predict(self, h):
        return np.full(h, self._level)


class Broken(Forecaster):
    """Returns the wrong shape: the check must catch it."""

    alias = "Broken"

    def _fit(self, y):
        self._y = y

    def _predict(self, h):
        return self._y[-1:]


class UnitBound(Forecaster):
    """Calls a series flat when its range is below an absolute 1e-6 (as statistical models once
    did with an absolute tolerance): scale-equivariance breaks at small magnitudes."""

    alias = "UnitBound"

    def _fit(self, y):
        self._y = y

    def _predict(self, h):
        y = self._y
        if np.ptp(y) < 1e-6:
            return np.full(h, y[-1])
        return y[-1] + (y[-1] - y[0]) / (len(y) - 1) * np.arange(1, h + 1)


FAST = {"MLP": {"steps": 60}, "LSTM": {"steps": 30}}


@pytest.mark.parametrize("alias", sorted(REGISTRY))
@pytest.mark.parametrize("m", [1, 12])
def test_builtin_models_conform(alias, m):
    model = get_model(alias, season_length=m)
    for k, v in FAST.get(alias, {}).items():
        if hasattr(model, k):
            setattr(model, k, v)
    check_forecaster(model)


def test_custom_model_conforms_and_keeps_its_parameter():
    check_forecaster(WindowMean())
    model = WindowMean(window=2)
    np.testing.assert_allclose(model.fit([1.0, 2.0, 3.0, 5.0]).predict(2), [4.0, 4.0])
    assert model.get_params()["window"] == 2 and model.clone().window == 2


def test_check_catches_a_broken_model():
    with pytest.raises(Exception, match="Broken returned shape"):
        check_forecaster(Broken())


def test_check_catches_a_model_that_depends_on_the_units():
    with pytest.raises(AssertionError, match=r"UnitBound: the forecast of 1e-12 x a trend series is not"):
        check_forecaster(UnitBound())
    check_forecaster(UnitBound(), magnitudes=())  # everything else about it conforms
