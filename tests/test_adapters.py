"""statsforecast, sktime and neuralforecast models join the pool through the adapters and pass the
conformance check.

statsforecast, sktime and neuralforecast are in the ``test`` extra, so CI installs them: these tests
import them directly and fail (rather than skip) when they are missing.
"""

import json

import numpy as np
import pytest
from neuralforecast.models import NBEATS
from sktime.forecasting.exp_smoothing import ExponentialSmoothing
from sktime.forecasting.naive import NaiveForecaster
from statsforecast.models import AutoETS, AutoTheta

from metacompose import Composer, InputError
from metacompose.adapters import NeuralForecastModel, SktimeForecaster, StatsForecastModel
from metacompose.errors import SeriesTooShortError
from metacompose.models import Naive
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


def _nbeats(**kw):
    """A tiny neuralforecast N-BEATS (h=6, input 12, a few steps) that trains in well under a second."""
    return NBEATS(**{"h": 6, "input_size": 12, "max_steps": 5, "stack_types": ["identity"], "n_blocks": [1],
                     "mlp_units": [[8, 8]], "random_seed": 0, **kw})


def test_neuralforecast_model_passes_the_conformance_check():
    check_forecaster(NeuralForecastModel(_nbeats(), season_length=4))


def test_neuralforecast_adapter_gives_the_first_h_steps_and_refuses_more_than_model_h():
    template = _nbeats()
    est = NeuralForecastModel(template).fit_panel([np.arange(40.0) + 1, 50 + np.sin(np.arange(30.0))])
    np.testing.assert_array_equal(est.predict_panel(4), est.predict_panel(6)[:, :4])
    with pytest.raises(InputError, match="h=6, cannot forecast h=7"):
        est.predict_panel(7)
    assert not hasattr(template, "metrics")  # the template is never fitted in place


def test_neuralforecast_adapter_describes_itself_in_json():
    ad = NeuralForecastModel(_nbeats(), season_length=12)
    assert ad.alias == "NBEATS" and ad.season_length == 12 and ad.min_length == 12
    params = json.loads(json.dumps(ad.get_params()))
    assert params["model"] == "neuralforecast.models.nbeats.NBEATS"
    assert params["model_params"]["h"] == 6 and params["model_params"]["loss"] == "MAE()"
    assert ad.clone().get_params() == ad.get_params() and ad.clone().model is not ad.model
    assert NeuralForecastModel(_nbeats(alias="NB")).alias == "NB"
    assert NeuralForecastModel(_nbeats(), alias="Mine").alias == "Mine"
    assert NeuralForecastModel(_nbeats(start_padding_enabled=True)).min_length == 1
    with pytest.raises(InputError, match="neuralforecast model"):
        NeuralForecastModel(AutoETS())


def test_neuralforecast_too_short_series_give_a_nan_row_and_fit_raises(capfd):
    capfd.readouterr()
    state = np.random.get_state()[1].copy()
    ys = [np.arange(40.0) + 1, np.arange(11.0) + 1, 50 + np.sin(np.arange(30.0))]
    out = NeuralForecastModel(_nbeats()).fit_panel(ys).predict_panel(6)
    assert np.all(np.isnan(out[1])) and np.all(np.isfinite(out[[0, 2]]))
    assert np.all(np.isnan(NeuralForecastModel(_nbeats()).fit_panel(ys[1:2]).predict_panel(6)))
    assert capfd.readouterr() == ("", "")  # no progress bar, model summary or "GPU available" notice
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # neuralforecast's seeding is undone
    with pytest.raises(SeriesTooShortError):
        NeuralForecastModel(_nbeats()).fit(ys[1])


def test_neuralforecast_adapter_in_a_backtest():
    rng = np.random.default_rng(0)
    ys = [100 + np.arange(40.0) * k + rng.normal(0, 1, 40) for k in (1, 2, 3)] + [np.arange(14.0) + 1]
    model = NeuralForecastModel(_nbeats())
    with pytest.warns(UserWarning, match="too short for any backtest origin"):
        cube, report = backtest(ys, [model, Naive()], horizon=6, season_length=4, n_origins=2, step=2)
    assert cube.models == ["NBEATS", "Naive"] and report.n_fallbacks == 0
    ok = cube.origins >= 0  # the 14-point series has only its final origin (input_size 12 + h 6 > 14 - 6)
    assert not ok[3, :-1].any() and np.all(np.isfinite(cube.forecasts[ok]))
    final = model.clone().fit_panel(ys).predict_panel(6)  # rows come back in the panel's order
    np.testing.assert_allclose(cube.forecasts[:, -1, 0], final, rtol=1e-5)
