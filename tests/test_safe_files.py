"""Saved files load without unpickling code: a malicious pickle is refused and never runs.

The payload is a real one: unpickling it calls ``Path.touch(marker)``. Each test first shows
that plain ``pickle.loads`` would run it, then that metacompose's loaders refuse the file
with :class:`FileFormatError` (or recompute, for the backtest cache) and the marker file was
never created.
"""

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from metacompose import Composer, FileFormatError, ForecastCube
from metacompose.backtest import backtest
from metacompose.models import Naive
from tests.conftest import make_frame, replace_npz_arrays


class Evil:
    """Unpickling this object creates the file ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def evil_object_array(marker: Path) -> np.ndarray:
    return np.array([Evil(marker), 1.0, 2.0], dtype=object)


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def test_the_payload_is_really_malicious(tmp_path):
    marker = tmp_path / "pwned-by-pickle"
    pickle.loads(pickle.dumps(Evil(marker)))
    assert marker.exists()
    marker.unlink()
    np.load(io.BytesIO(npy_bytes(evil_object_array(marker))), allow_pickle=True)
    assert marker.exists()  # what loading with allow_pickle=True would do


def test_cube_with_a_pickled_object_array_is_refused(saved_cube, tmp_path):
    marker = tmp_path / "pwned"
    replace_npz_arrays(saved_cube.with_suffix(".npz"), scales=evil_object_array(marker))
    with pytest.raises(FileFormatError, match="Object arrays cannot be loaded when allow_pickle=False"):
        ForecastCube.load(saved_cube)
    assert not marker.exists()


def test_cube_replaced_by_a_raw_pickle_is_refused(saved_cube, tmp_path):
    marker = tmp_path / "pwned"
    saved_cube.with_suffix(".npz").write_bytes(pickle.dumps({"forecasts": Evil(marker)}))
    with pytest.raises(FileFormatError, match="corrupted or not a cube"):
        ForecastCube.load(saved_cube)
    assert not marker.exists()


def test_composer_holding_a_malicious_cube_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    Composer(models=["Naive", "SeasonalNaive"], agent="equal", horizon=4, season_length=4).fit(make_frame()).save(
        tmp_path / "comp")
    replace_npz_arrays(tmp_path / "comp" / "cube.npz", forecasts=evil_object_array(marker))
    with pytest.raises(FileFormatError):
        Composer.load(tmp_path / "comp")
    assert not marker.exists()


def test_agent_file_with_a_pickled_array_is_refused(tmp_path):
    from metacompose.agents import InverseError, load_agent

    marker = tmp_path / "pwned"
    InverseError().save(tmp_path / "agent")
    np.savez(tmp_path / "agent.npz", payload=evil_object_array(marker))
    with pytest.raises(FileFormatError, match="corrupted"):
        load_agent(tmp_path / "agent")
    assert not marker.exists()


def test_ppo_policy_file_with_a_pickle_is_refused(tmp_path):
    import torch
    from metacompose.agents import PPOAgent, load_agent

    cube, _ = backtest([np.arange(40.0) + 5 * np.sin(np.arange(40.0)) + i for i in range(3)], [Naive()], 3, 1)
    PPOAgent(total_timesteps=64, n_steps=32, batch_size=16, n_epochs=1, net_arch=[8]).fit(cube).save(tmp_path / "ppo")
    marker = tmp_path / "pwned"
    torch.save({"policy": Evil(marker)}, tmp_path / "ppo.pt")  # torch.save pickles the object
    with pytest.raises(FileFormatError):
        load_agent(tmp_path / "ppo")
    assert not marker.exists()


def test_malicious_backtest_cache_file_is_recomputed_not_loaded(tmp_path):
    marker = tmp_path / "pwned"
    ys = [np.arange(30.0) + i for i in range(3)]
    first, _ = backtest(ys, [Naive()], 3, 1, cache_dir=tmp_path / "cache")
    (chunk,) = (tmp_path / "cache").glob("chunk-*.npz")
    np.savez(chunk, fc=evil_object_array(marker), kind=evil_object_array(marker))
    again, report = backtest(ys, [Naive()], 3, 1, cache_dir=tmp_path / "cache")
    assert report.cached_chunks == 0 and not marker.exists()
    np.testing.assert_array_equal(again.forecasts, first.forecasts)
    third, report = backtest(ys, [Naive()], 3, 1, cache_dir=tmp_path / "cache")
    assert report.cached_chunks == 1  # the recomputed chunk replaced the bad file


@pytest.mark.parametrize("version", [2, 99])
def test_files_from_a_newer_version_are_refused(saved_cube, tmp_path, version):
    hdr = saved_cube.with_suffix(".json")
    header = json.loads(hdr.read_text())
    header["version"] = version
    hdr.write_text(json.dumps(header))
    with pytest.raises(FileFormatError, match=f"version {version} is newer.*upgrade metacompose"):
        ForecastCube.load(saved_cube)
