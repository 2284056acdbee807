"""The backtest's on-disk cache: one ``.npz`` file per chunk of series and per panel model.

A file's name holds a hash of everything its arrays depend on (the models and their
parameters, horizon, season length, feature names, origins, the series' values and the
cache version), so a changed input never reads a stale file. Files are written atomically
with :func:`metacompose.fileio.write_arrays` and read with
:func:`metacompose.fileio.read_arrays` (no unpickling): a damaged, truncated or foreign file
is recomputed and replaced, never trusted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Mapping

import numpy as np

from metacompose.errors import FileFormatError
from metacompose.fileio import read_arrays, write_arrays
from metacompose.models import Forecaster

CACHE_VERSION = 3  # 3: statistical members fitted on the scaled series; panel keys hold the training limit
CHUNK_ARRAYS = ("fc", "kind", "feats", "oscale", "msgs")  # the arrays of a chunk file, in task order
PANEL_ARRAYS = ("fc", "kind")  # the arrays of a panel model's file


def cache_key(*parts) -> str:
    """A 32-hex-digit hash of ``parts`` (arrays by their bytes, anything else as sorted JSON)."""
    hsh = hashlib.sha256()
    for p in parts:
        hsh.update(p.tobytes() if isinstance(p, np.ndarray) else json.dumps(p, sort_keys=True, default=str).encode())
    return hsh.hexdigest()[:32]


def model_id(model: Forecaster) -> str:
    """What identifies a model's forecasts: its class (module and name) and its parameters."""
    return f"{type(model).__module__}.{type(model).__qualname__}{model.get_params()}"


def read_cached(path: Path | None, names: tuple[str, ...]) -> tuple | None:
    """The arrays ``names`` of a cache file, or None when there is none or it is damaged (then it is recomputed)."""
    if path is None or not path.exists():
        return None
    try:
        arrays = read_arrays(path, "backtest cache", names)
    except (FileFormatError, OSError):  # a truncated, pickled or foreign cache file is recomputed, not trusted
        return None
    return tuple(arrays[k] for k in names)


def write_cached(path: Path | None, arrays: Mapping[str, np.ndarray]) -> None:
    """Write a cache file atomically (a killed run never leaves a half-written one); nothing when ``path`` is None."""
    if path is not None:
        write_arrays(path, arrays, compress=False)
