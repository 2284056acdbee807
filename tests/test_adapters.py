"""statsforecast and sktime models join the pool through the adapters and pass the conformance check.

statsforecast and sktime are in the ``test`` extra, so CI installs them: these tests import
them directly and fail (rather than skip) when they are missing.
"""

import json

import numpy as np
import pytest
from sktime.forecasting.exp_smoothing import ExponentialSmoothing
from sktime.forecasting.naive import NaiveForecaster
from statsforecast.models import AutoETS, AutoTheta

from metacompose import Composer, InputError
from metacompose.adapters import SktimeForecaster, StatsForecastModel
from metacompose.backtest import backtest
from metacompose.testing import check_forecaster
from tests.conftest import make_frame

pytestmark = pytest.mark.filterwarnings("ignore:.*remember_data:FutureWarning")  # sktime 1.2's notice


@pytest.mark.parametrize("model", [AutoETS(season_length=4), AutoTheta(season_length=4)], ids=lambda m: repr(m))
def test_statsforecast_models_pass_the_conformance_check(model):
    check_forecaster(StatsForecastModel(model))


@pytest.mark.parametrize("make", [lambda: NaiveForecaster(strategy="drift"), lambda: NaiveForecaster(sp=4),
                                  lambda: ExponentialSmoothing(trend="add")], ids=["drift", "seasonal-last", "ets"])
def test_sktime_forecasters_pass_the_conformance_check(make):
    check_forecaster(SktimeForecaster(make()))


def test_statsforecast_adapter_matches_statsforecast():
    y = 50 + 10 * np.sin(np.arange(48) * np.pi / 2) + np.arange(48.0)
    model = AutoETS(season_length=4)
    ours = StatsForecastModel(model).fit(y).predict(6)
    theirs = AutoETS(season_length=4).forecast(y=y, h=6)["mean"]
    np.testing.assert_allclose(ours, theirs)
    assert not hasattr(model, "model_")  # the wrapped template is never fitted in place


def test_sktime_adapter_matches_sktime():
    y = np.arange(20.0) * 2 + 1
    ours = SktimeForecaster(NaiveForecaster(strategy="drift")).fit(y).predict(3)
    np.testing.assert_allclose(ours, [41.0, 43.0, 45.0])


def test_adapters_describe_themselves_in_json():
    sf = StatsForecastModel(AutoETS(season_length=12))
    assert sf.alias == "AutoETS" and sf.season_length == 12
    params = json.loads(json.dumps(sf.get_params()))
    assert params["model"] == "statsforecast.models.AutoETS" and params["model_params"]["season_length"] == 12
    sk = SktimeForecaster(NaiveForecaster(sp=7), alias="SeasonalNaive7")
    assert sk.alias == "SeasonalNaive7" and sk.season_length == 7
    assert sk.get_params()["model_params"] == {"sp": 7, "strategy": "last", "window_length": None}
    assert StatsForecastModel(AutoETS(season_length=12), season_length=4, alias="ETS4").season_length == 4


def test_adapters_refuse_what_they_cannot_wrap():
    with pytest.raises(InputError, match="statsforecast model"):
        StatsForecastModel("AutoETS")
    with pytest.raises(InputError, match="sktime forecaster"):
        SktimeForecaster(AutoETS())


def test_adapters_in_a_composer_pool():
    pool = [StatsForecastModel(AutoETS(season_length=4)), SktimeForecaster(NaiveForecaster(strategy="drift"),
                                                                           alias="Drift"), "SeasonalNaive"]
    comp = Composer(models=pool, agent="inverse_error", horizon=4, season_length=4, n_origins=2)
    out = comp.fit(make_frame(n_series=2)).predict()
    assert {"AutoETS", "Drift", "SeasonalNaive", "composed", "weight_AutoETS"} <= set(out.columns)
    assert np.all(np.isfinite(out[["AutoETS", "Drift", "composed"]].to_numpy()))
    assert comp.report_.n_fallbacks == 0


def test_adapter_failures_fall_back():
    # a multiplicative ETS cannot fit a negative series: statsforecast raises, the fallback forecasts
    ys = [-np.arange(1.0, 30.0), np.arange(1.0, 30.0)]
    mmm = StatsForecastModel(AutoETS(season_length=4, model="MMM"), alias="ETS_MMM")
    cube, report = backtest(ys, [mmm], horizon=2, season_length=4, n_origins=2, step=1)
    assert report.failures_by_series == {"0": {"ETS_MMM": 3}}
    assert report.failure_kinds["ETS_MMM"]["error"] == 3
    assert any("negative" in f for f in report.failures)
    assert np.all(np.isfinite(cube.forecasts))
