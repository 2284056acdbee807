"""The store of earlier tuning results: the meta-knowledge the warm starts learn from.

One entry per tuned panel: the model's alias, the metric, the panel's features
(:func:`metacompose.features.panel_features`), the horizon, season length and number of series,
a free label, and every completed trial as ``{"params": point of the space, "value": backtest
error}``. The store is a :mod:`metacompose.fileio` container (a JSON header, no arrays, no
pickle): format ``metacompose-tuning-store``, version :data:`STORE_VERSION`. :func:`metacompose.tuning.tune`
appends its panel and saves the store, so it grows as a user tunes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from metacompose.errors import FileFormatError, InputError
from metacompose.fileio import container_base, container_file, load_container, save_container

__all__ = ["STORE_FORMAT", "STORE_VERSION", "TuningStore"]

STORE_FORMAT = "metacompose-tuning-store"
STORE_VERSION = 1
_FIELDS = {"model": str, "metric": str, "label": str, "horizon": int, "season_length": int, "n_series": int,
           "features": list, "trials": list}


def _check_entry(entry: Any, i: int, path) -> dict:
    """One panel of a loaded store, checked field by field (FileFormatError names what is wrong)."""
    if not isinstance(entry, dict):
        raise FileFormatError(f"{path}: panel {i} is not an object; the tuning store is corrupt")
    for key, kind in _FIELDS.items():
        if not isinstance(entry.get(key), kind) or isinstance(entry.get(key), bool):
            raise FileFormatError(f"{path}: panel {i} has no valid {key!r}; the tuning store is corrupt")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in entry["features"]):
        raise FileFormatError(f"{path}: panel {i} has non-numeric features; the tuning store is corrupt")
    for t in entry["trials"]:
        if not (isinstance(t, dict) and isinstance(t.get("params"), dict) and isinstance(t.get("value"), (int, float))):
            raise FileFormatError(f"{path}: panel {i} has a malformed trial; the tuning store is corrupt")
    return entry


class TuningStore:
    """Earlier tuning results, kept in a file (see the module notes).

    Args:
        path: where :meth:`save` writes (a base path; ``.json`` is appended); None: in memory
            only until :meth:`save` is given a path.

    Attributes:
        panels: the entries, oldest first (dicts with the fields of the module notes).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else container_base(path)
        self.panels: list[dict] = []

    def __len__(self) -> int:
        return len(self.panels)

    @classmethod
    def load(cls, path: str | Path) -> "TuningStore":
        """Read a store written by :meth:`save`.

        Raises:
            FileNotFoundError: no store at ``path`` (:meth:`open` starts an empty one instead).
            FileFormatError: not a tuning store, corrupt, or written by a newer metacompose.
        """
        header, _ = load_container(path, STORE_FORMAT, STORE_VERSION, "tuning store", arrays=False)
        panels = header.get("panels")
        if not isinstance(panels, list):
            raise FileFormatError(f"{path}: no list of panels; the tuning store is corrupt")
        store = cls(path)
        store.panels = [_check_entry(e, i, path) for i, e in enumerate(panels)]
        return store

    @classmethod
    def open(cls, path: str | Path) -> "TuningStore":
        """The store at ``path``, or an empty one that :meth:`save` will create there.

        Raises:
            FileFormatError: as :meth:`load`, for a file that exists.
        """
        if container_file(container_base(path), ".json").exists():
            return cls.load(path)
        return cls(path)

    def add(self, model: str, metric: str, features: np.ndarray, trials: Sequence[dict], horizon: int,
            season_length: int, n_series: int, label: str = "") -> dict:
        """Append a tuned panel.

        Args:
            model: the model's alias; metric: the backtest metric of the values;
            features: the panel's features ``(F,)``; trials: ``{"params": dict, "value": float}``
            per completed trial; horizon, season_length, n_series: the panel's sizes; label: free text.

        Returns:
            the new entry.

        Raises:
            InputError: no trials, a non-finite value or feature.
        """
        features = [float(v) for v in np.asarray(features, dtype=np.float64).ravel()]
        if not trials:
            raise InputError("a tuning store entry needs at least one completed trial")
        if not all(math.isfinite(v) for v in features) or not all(math.isfinite(float(t["value"])) for t in trials):
            raise InputError("tuning store features and trial values must be finite")
        entry = {"model": str(model), "metric": str(metric), "label": str(label), "horizon": int(horizon),
                 "season_length": int(season_length), "n_series": int(n_series), "features": features,
                 "trials": [{"params": dict(t["params"]), "value": float(t["value"])} for t in trials]}
        self.panels.append(entry)
        return entry

    def select(self, model: str, metric: str, n_features: int | None = None) -> list[dict]:
        """The entries of ``model`` scored with ``metric`` (and, if given, ``n_features`` features)."""
        return [e for e in self.panels if e["model"] == model and e["metric"] == metric
                and (n_features is None or len(e["features"]) == n_features)]

    def save(self, path: str | Path | None = None) -> Path:
        """Write the store atomically (:func:`metacompose.fileio.save_container`) to ``path`` or :attr:`path`.

        Returns:
            the path of the JSON file.

        Raises:
            InputError: no path given here or at construction.
        """
        if path is not None:
            self.path = container_base(path)
        if self.path is None:
            raise InputError("the tuning store has no path: pass save(path) or TuningStore(path)")
        return save_container(self.path, STORE_FORMAT, STORE_VERSION, {"panels": self.panels})
