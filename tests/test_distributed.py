"""The backtest's tasks (chunks of series, panel fits) on a Dask cluster, or on any backend registered with
joblib, give exactly the local cube."""

import numpy as np
import pytest
from joblib import register_parallel_backend
from joblib._parallel_backends import ThreadingBackend
from joblib.parallel import BACKENDS

from metacompose.backtest import backtest
from metacompose.errors import InputError
from metacompose.models import MLP, build_pool

distributed = pytest.importorskip("distributed")


def _panel(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return [50 + np.cumsum(rng.normal(size=int(rng.integers(20, 40)))) for _ in range(n)]


def test_dask_backtest_equals_local_cube(tmp_path):
    ys = _panel()
    pool = build_pool(["Naive", "SeasonalNaive", "Theta"], 4) + [MLP(4, hidden=(16,), steps=30)]
    kw = dict(horizon=4, season_length=4, n_origins=3)
    local, rep_local = backtest(ys, pool, **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as stream:
            remote, rep_remote = backtest(ys, pool, backend="dask", cache_dir=tmp_path, **kw)
        # the chunks of series and the panel fits really ran as tasks on the cluster's workers
        assert any("_series_chunk" in t["key"] for t in stream.data)
        assert any("_panel_fit" in t["key"] for t in stream.data)
    assert remote.shape == local.shape and rep_remote.n_fallbacks == rep_local.n_fallbacks
    for name in local._ARRAYS:
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name), err_msg=name)
    assert remote.series_ids == local.series_ids and remote.models == local.models
    # the cache written through the cluster is read back by a local run
    again, rep = backtest(ys, pool, cache_dir=tmp_path, **kw)
    assert rep.cached_chunks == 3  # two chunks of series and the MLP's panel file
    np.testing.assert_array_equal(again.forecasts, local.forecasts)


def test_unknown_backend_is_refused():
    with pytest.raises(InputError, match="backend"):
        backtest(_panel(3), build_pool(["Naive"], 1), horizon=2, backend="no-such-engine")


class _CountingBackend(ThreadingBackend):
    """joblib's threading backend, counting the tasks it was given (threads share this class)."""

    submitted = 0

    def submit(self, func, callback=None):
        type(self).submitted += 1
        return super().submit(func, callback=callback)


def test_user_registered_backend_is_used_and_gives_the_local_cube():
    ys = _panel(40, seed=1)
    pool = build_pool(["Naive", "SeasonalNaive", "Theta"], 4) + [MLP(4, hidden=(8,), steps=10)]
    kw = dict(horizon=4, season_length=4, n_origins=2)
    local, _ = backtest(ys, pool, **kw)
    register_parallel_backend("my-backend", _CountingBackend)
    try:
        _CountingBackend.submitted = 0
        custom, _ = backtest(ys, pool, backend="my-backend", n_jobs=2, **kw)
    finally:
        BACKENDS.pop("my-backend", None)
    assert _CountingBackend.submitted > 0  # the tasks really went through the registered backend
    for name in local._ARRAYS:
        np.testing.assert_array_equal(getattr(custom, name), getattr(local, name), err_msg=name)


def test_ray_without_registration_says_how_to_register_it():
    if "ray" in BACKENDS:
        pytest.skip("a Ray backend is registered in this process")
    with pytest.raises(InputError, match=r"ray\.util\.joblib\.register_ray\(\)"):
        backtest(_panel(3), build_pool(["Naive"], 1), horizon=2, backend="ray")
