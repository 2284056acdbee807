"""Every forecaster, built-in or plugged in, passes the same conformance check."""

import numpy as np
import pytest

from metacompose.models import REGISTRY, Forecaster, get_model
from metacompose.testing import check_forecaster


class Drift(Forecaster):
    """The custom-model example of the README: a random walk with drift."""

    alias = "Drift"

    @property
    def min_length(self):
        return 2

    def _fit(self, y):
        self._last = y[-1]
        self._slope = (y[-1] - y[0]) / (len(y) - 1)

    def _predict(self, h):
        return self._last + self._slope * np.arange(1, h + 1)


class Broken(Forecaster):
    """Returns the wrong shape: the check must catch it."""

    alias = "Broken"

    def _fit(self, y):
        self._y = y

    def _predict(self, h):
        return self._y[-1:]


FAST = {"MLP": {"steps": 60}, "LSTM": {"steps": 30}}


@pytest.mark.parametrize("alias", sorted(REGISTRY))
@pytest.mark.parametrize("m", [1, 12])
def test_builtin_models_conform(alias, m):
    model = get_model(alias, season_length=m)
    for k, v in FAST.get(alias, {}).items():
        if hasattr(model, k):
            setattr(model, k, v)
    check_forecaster(model)


def test_custom_model_conforms_and_drifts():
    check_forecaster(Drift())
    np.testing.assert_allclose(Drift().fit([1.0, 2.0, 3.0]).predict(2), [4.0, 5.0])


def test_check_catches_a_broken_model():
    with pytest.raises(Exception, match="Broken returned shape"):
        check_forecaster(Broken())
