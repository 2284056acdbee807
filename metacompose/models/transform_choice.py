"""The learned choice of each series' window transform (``transform="auto"`` of MLP and LSTM).

:class:`TransformChooser` is a classifier from a series' scale-free features
(:func:`metacompose.features.series_features`, on the series divided by its MASE scale) to the
window transform (:mod:`metacompose.models.transforms`) whose forecasts had the lowest error on
a backtest of that series. It is LightGBM's multiclass gradient boosting (Ke et al. 2017,
"LightGBM: A highly efficient gradient boosting decision tree", NeurIPS), the set-up of
algorithm selection from series features (Talagala, Hyndman & Athanasopoulos 2018, FFORMS;
Montero-Manso et al. 2020, FFORMA).

The chooser shipped in the package (``metacompose/models/weights/transform_chooser.json``) was
trained by ``benchmarks/m3/transforms.py`` on the M3 training parts only: for every series of the
four subsets, MLP was fitted once per transform on the series cut one horizon before the
validation origin, and the label is the transform with the lowest MASE on the next ``h`` points,
all inside the training part. Its set-up and scores are in ``benchmarks/m3/transforms_results.md``.

A chooser is saved as a :mod:`metacompose.fileio` container holding only a JSON header (LightGBM's
model text, the class names, the feature names): nothing is unpickled on loading.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from metacompose.checks import check_int, check_number
from metacompose.errors import FileFormatError, InputError, NotFittedError
from metacompose.features import FEATURE_NAMES, series_feature_matrix
from metacompose.fileio import load_container, save_container
from metacompose.models.transforms import TRANSFORMS, get_transform

__all__ = ["TransformChooser", "shipped_chooser", "choose_transforms", "SHIPPED"]

FORMAT = "metacompose-transform-chooser"
VERSION = 1
SHIPPED = Path(__file__).resolve().parent / "weights" / "transform_chooser"
"""Base path of the chooser shipped in the package (a ``.json`` container)."""


class TransformChooser:
    """Classifier from series features to the window transform expected to forecast best.

    Args:
        n_estimators: boosting rounds.
        learning_rate: shrinkage of each tree.
        num_leaves: leaves per tree.
        min_data_in_leaf: fewest series in a leaf (the labels are noisy: a large value smooths).
        random_state: LightGBM's seed.

    Raises:
        InputError: a parameter out of range.
    """

    def __init__(self, n_estimators: int = 100, learning_rate: float = 0.05, num_leaves: int = 8,
                 min_data_in_leaf: int = 40, random_state: int = 0) -> None:
        self.n_estimators = check_int(n_estimators, "n_estimators")
        self.learning_rate = check_number(learning_rate, "learning_rate", low=0.0, low_open=True)
        self.num_leaves = check_int(num_leaves, "num_leaves", 2)
        self.min_data_in_leaf = check_int(min_data_in_leaf, "min_data_in_leaf")
        self.random_state = check_int(random_state, "random_state", 0)
        self.info: dict = {}  # how it was trained (saved in the header)

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters."""
        return {k: getattr(self, k) for k in ("n_estimators", "learning_rate", "num_leaves", "min_data_in_leaf",
                                               "random_state")}

    def lgb_params(self, n_classes: int) -> dict[str, Any]:
        """LightGBM's parameters for ``n_classes`` classes (one thread, deterministic)."""
        return {"objective": "multiclass", "num_class": n_classes, "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_data_in_leaf, "lambda_l2": 1.0,
                "seed": self.random_state, "deterministic": True, "num_threads": 1, "verbose": -1,
                "force_col_wise": True}

    def fit(self, features: np.ndarray, labels: Sequence[str], weight: np.ndarray | None = None) -> "TransformChooser":
        """Learn the choice from labelled series.

        Args:
            features: float ``(N, F)`` (:func:`~metacompose.features.series_feature_matrix`).
            labels: ``N`` transform names (:data:`~metacompose.models.transforms.TRANSFORMS`): the best one
                of each series.
            weight: non-negative ``(N,)`` importance of each series (None: equal).

        Returns:
            self.

        Raises:
            InputError: shapes that do not match, no series, an unknown label, or a bad weight.
        """
        import lightgbm as lgb

        x = self._check_features(features)
        labels = [str(v) for v in labels]
        if len(labels) != x.shape[0] or x.shape[0] == 0:
            raise InputError(f"fit needs one label per row of features and at least one row; got {len(labels)} "
                             f"labels for {x.shape[0]} rows")
        for v in set(labels):
            get_transform(v)
        w = None if weight is None else np.asarray(weight, dtype=np.float64)
        if w is not None and (w.shape != (x.shape[0],) or not np.all(np.isfinite(w)) or np.any(w < 0)):
            raise InputError(f"weight must be {x.shape[0]} finite non-negative numbers")
        self.classes_ = [t for t in TRANSFORMS if t in set(labels)]
        self.booster_ = None
        if len(self.classes_) > 1:
            y = np.array([self.classes_.index(v) for v in labels])
            data = lgb.Dataset(x, label=y, weight=w, free_raw_data=True)
            self.booster_ = lgb.train(self.lgb_params(len(self.classes_)), data, num_boost_round=self.n_estimators)
        return self

    def _check_features(self, features: Any) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES) or not np.all(np.isfinite(x)):
            raise InputError(f"features must be finite with shape (N, {len(FEATURE_NAMES)}) "
                             f"({', '.join(FEATURE_NAMES)}), got shape {x.shape}")
        return x

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """float64 ``(N, K)``: each series' probability of each class of :attr:`classes_`.

        Raises:
            NotFittedError: neither fitted nor loaded.
            InputError: ``features`` is not finite ``(N, F)``.
        """
        if not hasattr(self, "classes_"):
            raise NotFittedError("TransformChooser: call fit(features, labels) or load a saved one first")
        x = self._check_features(features)
        if self.booster_ is None or x.shape[0] == 0:
            return np.ones((x.shape[0], len(self.classes_))) / len(self.classes_)
        return np.asarray(self.booster_.predict(x), dtype=np.float64).reshape(x.shape[0], len(self.classes_))

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The chosen transform of each series: str ``(N,)``, the most probable class.

        Raises:
            NotFittedError, InputError: as :meth:`predict_proba`.
        """
        p = self.predict_proba(features)
        return np.asarray(self.classes_, dtype=str)[np.argmax(p, axis=1)] if p.shape[0] else np.zeros(0, dtype=str)

    def save(self, path: str | Path, info: dict | None = None) -> Path:
        """Write the chooser as a container (JSON header only; :mod:`metacompose.fileio`).

        Args:
            path: base path (a ``.json`` suffix is dropped).
            info: JSON values describing how it was trained (kept in the header as ``info``).

        Returns:
            the path of the JSON file.

        Raises:
            NotFittedError: not fitted.
        """
        if not hasattr(self, "classes_"):
            raise NotFittedError("TransformChooser: nothing to save before fit")
        header = {"params": self.get_params(), "classes": list(self.classes_), "feature_names": list(FEATURE_NAMES),
                  "booster": None if self.booster_ is None else self.booster_.model_to_string(),
                  "info": self.info if info is None else info}
        return save_container(path, FORMAT, VERSION, header)

    @classmethod
    def load(cls, path: str | Path) -> "TransformChooser":
        """Read a chooser written by :meth:`save`.

        Raises:
            FileNotFoundError: no such file.
            FileFormatError: not a chooser file, a newer format version, unknown classes, other features
                than this version computes, or a damaged LightGBM model.
        """
        import lightgbm as lgb

        header, _ = load_container(path, FORMAT, VERSION, "transform chooser", arrays=False)
        classes, booster = header.get("classes"), header.get("booster")
        if (not isinstance(classes, list) or not classes or any(c not in TRANSFORMS for c in classes)
                or header.get("feature_names") != list(FEATURE_NAMES)):
            raise FileFormatError(f"{path}: not a transform chooser of this version (classes {classes!r}, "
                                  f"features {header.get('feature_names')!r})")
        try:
            new = cls(**header.get("params", {}))
        except (TypeError, InputError):
            raise FileFormatError(f"{path}: the chooser's parameters are damaged") from None
        new.classes_, new.info = list(classes), dict(header.get("info") or {})
        new.booster_ = None
        if len(classes) > 1:
            if not isinstance(booster, str):
                raise FileFormatError(f"{path}: the chooser's model must be LightGBM's model text")
            try:
                new.booster_ = lgb.Booster(model_str=booster)
            except lgb.basic.LightGBMError:
                raise FileFormatError(f"{path}: the chooser's model is not a valid LightGBM model") from None
            if new.booster_.num_model_per_iteration() != len(classes):
                raise FileFormatError(f"{path}: the chooser's model has another number of classes than its header")
        return new


@functools.lru_cache(maxsize=1)
def shipped_chooser() -> TransformChooser:
    """The chooser shipped in the package (:data:`SHIPPED`), loaded once per process.

    Raises:
        FileNotFoundError, FileFormatError: as :meth:`TransformChooser.load`.
    """
    return TransformChooser.load(SHIPPED)


def choose_transforms(ys: Sequence[np.ndarray], season_length: int,
                      chooser: TransformChooser | None = None) -> list[str]:
    """The window transform of each series, by ``chooser`` (default: :func:`shipped_chooser`).

    Args:
        ys: series, each float ``(t_i,)`` with ``t_i >= 1``; season_length: ``m``.
        chooser: a fitted :class:`TransformChooser`.

    Returns:
        one name of :data:`~metacompose.models.transforms.TRANSFORMS` per series.
    """
    chooser = shipped_chooser() if chooser is None else chooser
    return [str(v) for v in chooser.predict(series_feature_matrix(ys, season_length))]
