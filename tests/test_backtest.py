"""Rolling-origin backtest: origins, no look-ahead, fallbacks counted, parallel = serial, safe cache."""

import numpy as np
import pytest

from metacompose.backtest import backtest, rolling_origins
from metacompose.cube import ForecastCube
from metacompose.errors import FileFormatError
from metacompose.models import Forecaster, Naive, SeasonalNaive


class Exploding(Forecaster):
    """Fails on every series whose last value is above 150, returns NaN on odd lengths."""

    alias = "Exploding"

    def _fit(self, y):
        if y[-1] > 150:
            raise RuntimeError("boom")
        self._n = y.shape[0]
        self._last = y[-1]

    def _predict(self, h):
        return np.full(h, np.nan if self._n % 2 else self._last)


def panel(S=5, n=30, seed=0):
    rng = np.random.default_rng(seed)
    return [100 + 3 * i * np.arange(n) / n * 20 + rng.normal(0, 1, n) for i in range(S)]


def test_rolling_origins_end_with_the_final_origin():
    o = rolling_origins(n=30, h=6, n_origins=3, step=2, min_train=8)
    np.testing.assert_array_equal(o, [20, 22, 24, 30])
    assert rolling_origins(n=12, h=6, n_origins=3, step=2, min_train=5)[0] == -1


def test_cube_shapes_actuals_and_no_look_ahead():
    ys = panel()
    cube, report = backtest(ys, [Naive(), SeasonalNaive(season_length=4)], horizon=6, season_length=4, n_origins=3, step=2)
    S, O, M, H = cube.shape
    assert (S, O, M, H) == (5, 4, 2, 6)
    for i, y in enumerate(ys):
        for k in range(O - 1):
            o = cube.origins[i, k]
            np.testing.assert_allclose(cube.actuals[i, k], y[o:o + 6], rtol=1e-6)
            # Naive forecasts the last value known at the origin, nothing later
            np.testing.assert_allclose(cube.forecasts[i, k, 0], y[o - 1], rtol=1e-6)
        assert np.all(np.isnan(cube.actuals[i, -1]))
        np.testing.assert_allclose(cube.forecasts[i, -1, 1], np.tile(y[-4:], 2)[:6], rtol=1e-6)
    assert report.n_fallbacks == 0


def test_failures_fall_back_and_are_counted():
    ys = panel()
    cube, report = backtest(ys, [Exploding(), Naive()], horizon=4, season_length=1, n_origins=2, step=1)
    expected = np.zeros(cube.failed.shape[:2], dtype=bool)
    for i, y in enumerate(ys):
        for k, o in enumerate(cube.origins[i]):
            expected[i, k] = y[o - 1] > 150 or o % 2 == 1
    np.testing.assert_array_equal(cube.failed[:, :, 0], expected)
    assert report.fallbacks == {"Exploding": int(expected.sum()), "Naive": 0}
    assert expected.any() and not expected.all()
    assert np.all(np.isfinite(cube.forecasts))
    assert any("boom" in f for f in report.failures)


def test_parallel_equals_serial_and_cache_is_reused(tmp_path):
    ys = panel(S=40)
    models = [Naive(), SeasonalNaive(season_length=4)]
    serial, _ = backtest(ys, models, 5, 4, n_jobs=1)
    par, _ = backtest(ys, models, 5, 4, n_jobs=2, cache_dir=tmp_path)
    again, report = backtest(ys, models, 5, 4, n_jobs=2, cache_dir=tmp_path)
    np.testing.assert_array_equal(serial.forecasts, par.forecasts)
    np.testing.assert_array_equal(par.features, again.features)
    assert report.cached_chunks == 2


def test_cube_round_trip_and_corruption(tmp_path):
    cube, _ = backtest(panel(), [Naive()], 3, 1)
    cube.save(tmp_path / "c")
    back = ForecastCube.load(tmp_path / "c")
    np.testing.assert_array_equal(back.forecasts, cube.forecasts)
    assert back.series_ids == cube.series_ids and back.models == ["Naive"]
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FileFormatError, match="corrupted"):
        ForecastCube.load(tmp_path / "c")
