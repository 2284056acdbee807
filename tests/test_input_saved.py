"""Saved files that are corrupted, truncated, foreign or from a newer version (catalogue rows in
docs/bad_input.md, section "Saved files"): a clear ``FileFormatError``, never an unpickled object."""

import json
import warnings

import numpy as np
import pytest

from metacompose import Composer, FileFormatError, ForecastCube
from metacompose.agents import EqualWeights, load_agent
from tests.conftest import make_frame, replace_npz_arrays


def fit(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return Composer(models=["Naive", "SeasonalNaive"], agent="equal", horizon=4, season_length=4).fit(df)


# --- saved files ---------------------------------------------------------------------------------
def test_corrupted_cube_file(saved_cube):
    saved_cube.with_suffix(".npz").write_bytes(b"\x00garbage" * 50)
    with pytest.raises(FileFormatError, match="corrupted or not a cube"):
        ForecastCube.load(saved_cube)


def test_truncated_cube_file(saved_cube):
    npz = saved_cube.with_suffix(".npz")
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    with pytest.raises(FileFormatError, match="corrupted or not a cube"):
        ForecastCube.load(saved_cube)


def test_corrupted_cube_header(saved_cube):
    hdr = saved_cube.with_suffix(".json")
    hdr.write_text(hdr.read_text()[:40])
    with pytest.raises(FileFormatError, match="is not valid JSON"):
        ForecastCube.load(saved_cube)


def test_foreign_json_file(saved_cube):
    saved_cube.with_suffix(".json").write_text(json.dumps({"name": "something else"}))
    with pytest.raises(FileFormatError, match="not a metacompose cube"):
        ForecastCube.load(saved_cube)


def test_cube_from_a_newer_version(saved_cube):
    hdr = saved_cube.with_suffix(".json")
    hdr.write_text(hdr.read_text().replace('"version": 1', '"version": 99'))
    with pytest.raises(FileFormatError, match="version 99 is newer.*upgrade metacompose"):
        ForecastCube.load(saved_cube)


def test_cube_with_arrays_of_the_wrong_shape(saved_cube):
    npz = saved_cube.with_suffix(".npz")
    with np.load(npz) as z:
        short = z["scales"][:1]
    replace_npz_arrays(npz, scales=short)
    with pytest.raises(FileFormatError, match="scales has shape"):
        ForecastCube.load(saved_cube)


def test_cube_holding_a_pickled_object_array(saved_cube):
    replace_npz_arrays(saved_cube.with_suffix(".npz"), scales=np.array([{"a": 1}, None, 3], dtype=object))
    with pytest.raises(FileFormatError, match="corrupted or not a cube"):
        ForecastCube.load(saved_cube)


def test_missing_saved_file(saved_cube):
    saved_cube.with_suffix(".npz").unlink()
    with pytest.raises(FileNotFoundError):
        ForecastCube.load(saved_cube)


def test_composer_from_a_newer_version(tmp_path):
    fit(make_frame()).save(tmp_path / "comp")
    hdr = tmp_path / "comp" / "composer.json"
    hdr.write_text(hdr.read_text().replace('"version": 1', '"version": 7'))
    with pytest.raises(FileFormatError, match="composer format version 7 is newer"):
        Composer.load(tmp_path / "comp")


def test_agent_from_a_newer_version(tmp_path):
    path = EqualWeights().save(tmp_path / "agent")
    path.write_text(path.read_text().replace('"version": 1', '"version": 5'))
    with pytest.raises(FileFormatError, match="version 5 is newer"):
        load_agent(tmp_path / "agent")
