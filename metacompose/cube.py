"""ForecastCube: the backtest of a pool on a panel of series, as plain arrays.

Saved in :mod:`metacompose.fileio`'s container (numeric arrays in an ``.npz`` read with
``allow_pickle=False``, beside a JSON header), so a cube from anyone is safe to load.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from metacompose.errors import FileFormatError, InputError
from metacompose.fileio import container_base, container_file, load_container, save_container
from metacompose.metrics import horizon_errors

CUBE_FORMAT = "metacompose.cube"
CUBE_VERSION = 1


@dataclass
class ForecastCube:
    """Forecasts of ``M`` models at ``O`` origins of ``S`` series, with what is known about them.

    Origins run in time order; the last one (index ``O - 1``) is the final origin at the
    end of each series' training data, whose actuals are unknown (NaN) unless a test part
    was given for evaluation only.

    Attributes:
        forecasts: float32 ``(S, O, M, H)``, in the units of each series.
        actuals: float32 ``(S, O, H)``; NaN where the value is unknown or not observed.
        scales: float32 ``(S,)``, MASE scale of each series' whole training part.
        origin_scales: float32 ``(S, O)``, MASE scale of ``y[:origin]`` (known at the origin).
        origins: int64 ``(S, O)``, origin as the number of observations before it
            (the forecast covers positions ``origin .. origin + H - 1``); ``-1`` marks an
            origin that does not exist for a short series (its forecasts and actuals are NaN).
        features: float32 ``(S, O, F)``, series features of the scaled ``y[:origin]``.
        failed: bool ``(S, O, M)``, True where a model failed and its fallback forecast instead.
        series_ids: ``S`` ids; models: ``M`` aliases; feature_names: ``F`` names.
        season_length: ``m``; horizon: ``H``.
    """

    forecasts: np.ndarray
    actuals: np.ndarray
    scales: np.ndarray
    origin_scales: np.ndarray
    origins: np.ndarray
    features: np.ndarray
    failed: np.ndarray
    series_ids: list[str]
    models: list[str]
    feature_names: list[str]
    season_length: int
    horizon: int
    meta: dict = field(default_factory=dict)

    _ARRAYS = ("forecasts", "actuals", "scales", "origin_scales", "origins", "features", "failed")

    def __post_init__(self) -> None:
        S, O, M, H = self.forecasts.shape
        expect = {
            "actuals": (S, O, H), "scales": (S,), "origin_scales": (S, O), "origins": (S, O),
            "failed": (S, O, M),
        }
        for name, shape in expect.items():
            if getattr(self, name).shape != shape:
                raise FileFormatError(f"cube array {name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.features.shape[:2] != (S, O) or self.features.shape[2] != len(self.feature_names):
            raise FileFormatError(f"cube features have shape {self.features.shape}, expected ({S}, {O}, {len(self.feature_names)})")
        if len(self.series_ids) != S or len(self.models) != M or H != self.horizon:
            raise FileFormatError("cube ids, model aliases or horizon do not match the forecasts' shape")

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(S, O, M, H)``."""
        return self.forecasts.shape

    @property
    def valid(self) -> np.ndarray:
        """bool ``(S, O)``: the origin exists for that series."""
        return self.origins >= 0

    @property
    def backtest_mask(self) -> np.ndarray:
        """bool ``(S, O)``: backtest origins (not the final one) whose actuals are fully known."""
        v = self.valid & np.all(np.isfinite(self.actuals), axis=2)
        v[:, -1] = False
        return v

    def errors(self, kind: str = "mase") -> np.ndarray:
        """Per-model errors ``(S, O, M)``, averaged over the known steps of each horizon.

        Args:
            kind: ``"mase"`` (absolute error over the series' MASE scale) or ``"smape"`` (percent).

        Returns:
            float64 ``(S, O, M)``; NaN where no actual is known.

        Raises:
            InputError: unknown ``kind``.
        """
        scale = self.scales.astype(np.float64)[:, None, None, None]
        return horizon_errors(self.actuals[:, :, None, :], self.forecasts, scale, kind)

    def clip_at_zero(self, rows) -> tuple["ForecastCube", int]:
        """The same cube with the negative forecasts of the series ``rows`` set to 0.

        Args:
            rows: bool ``(S,)``, the series whose forecasts must not be negative (e.g. series
                whose data are all non-negative: counts, sales, passengers).

        Returns:
            ``(cube, n)``: a new cube (``forecasts`` copied, other arrays shared) and the number of
            (series, origin, model) forecasts that had a negative value.
        """
        rows = np.asarray(rows, dtype=bool)
        neg = (self.forecasts < 0) & rows[:, None, None, None]
        if not neg.any():
            return self, 0
        forecasts = np.where(neg, np.float32(0), self.forecasts)
        return replace(self, forecasts=forecasts), int(neg.any(axis=3).sum())

    def take_models(self, aliases) -> "ForecastCube":
        """The same cube restricted to the models ``aliases``, in the cube's model order.

        Returns:
            a new cube with ``M' = len(set(aliases))`` models: ``forecasts`` and ``failed``
            are copies, the arrays without a model axis are shared with this cube.

        Raises:
            InputError: ``aliases`` is empty or names a model that is not in the cube.
        """
        wanted = set(aliases)
        unknown = sorted(wanted - set(self.models))
        if not wanted or unknown:
            raise InputError(f"take_models needs aliases from the cube's models {self.models}, got {sorted(wanted)}")
        idx = [j for j, a in enumerate(self.models) if a in wanted]
        return replace(self, forecasts=self.forecasts[:, :, idx].copy(), failed=self.failed[:, :, idx].copy(),
                       models=[self.models[j] for j in idx], meta=dict(self.meta))

    def save(self, path: str | Path) -> Path:
        """Write the cube as a :mod:`metacompose.fileio` container: ``<path>.npz`` (arrays) and
        ``<path>.json`` (header); returns the npz path.
        """
        header = {
            "series_ids": list(map(str, self.series_ids)), "models": list(self.models),
            "feature_names": list(self.feature_names), "season_length": int(self.season_length),
            "horizon": int(self.horizon), "meta": self.meta,
        }
        save_container(path, CUBE_FORMAT, CUBE_VERSION, header, {k: getattr(self, k) for k in self._ARRAYS})
        return container_file(container_base(path), ".npz")

    @classmethod
    def load(cls, path: str | Path) -> "ForecastCube":
        """Read a cube written by :meth:`save` (never unpickles anything).

        Raises:
            FileNotFoundError: a file is missing.
            FileFormatError: the files are corrupted, not a cube, or from a newer format version.
        """
        header, arrays = load_container(path, CUBE_FORMAT, CUBE_VERSION, "cube", cls._ARRAYS)
        try:
            return cls(
                **arrays, series_ids=header["series_ids"], models=header["models"],
                feature_names=header["feature_names"], season_length=int(header["season_length"]),
                horizon=int(header["horizon"]), meta=header.get("meta", {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, FileFormatError):
                raise
            json_path = container_file(container_base(path), ".json")
            raise FileFormatError(f"{json_path} is incomplete or malformed: {type(exc).__name__}: {exc}") from None


def check_cubes(cubes) -> list[ForecastCube]:
    """A cube, or several to learn from together (cross-learning), as a checked list.

    Several cubes must share their pool and features, so that an observation and an action mean
    the same for each; their horizons, season lengths and origins may differ.

    Args:
        cubes: a :class:`ForecastCube` or a non-empty list or tuple of them.

    Returns:
        the cubes as a list.

    Raises:
        InputError: anything else, or cubes whose pools or feature lists differ from the first one's.
    """
    items = list(cubes) if isinstance(cubes, (list, tuple)) else [cubes]
    if not items:
        raise InputError("expected a ForecastCube or a non-empty list of them, got an empty list")
    first = items[0]
    for i, c in enumerate(items):
        if not isinstance(c, ForecastCube):
            raise InputError(f"expected a metacompose ForecastCube, got {type(c).__name__} (item {i})")
        if list(c.models) != list(first.models) or list(c.feature_names) != list(first.feature_names):
            raise InputError(f"cubes learned from together must share their pool and features: cube {i} has "
                             f"{list(c.models)} and {list(c.feature_names)}, cube 0 has {list(first.models)} "
                             f"and {list(first.feature_names)}")
    return items
