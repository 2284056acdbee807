"""The interface every composition agent shares, and its safe file format.

An agent turns a :class:`~metacompose.cube.ForecastCube` into weights over the pool's
``M`` models, for every origin of every series, the final one included:

* ``fit(cube) -> self`` learns from the backtest origins only (``cube.train_valid``);
* ``weights(cube) -> (S, O, M)``: rows on the simplex, each computed only from what is
  known at its origin;
* ``combine(cube) -> (S, O, H)``: the composed forecasts (by default the weighted sum);
* ``save(path)`` / ``load(path)``: a JSON header (format name and version, the agent's
  parameters) beside an ``.npz`` of arrays, read back without unpickling anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from metacompose.cube import ForecastCube
from metacompose.errors import FileFormatError, InputError
from metacompose.fileio import read_arrays, read_header

AGENT_FORMAT = "metacompose.agent"
AGENT_VERSION = 1


def check_cube(cube: Any) -> ForecastCube:
    """Return ``cube`` if it is a :class:`ForecastCube`.

    Raises:
        InputError: it is not.
    """
    if not isinstance(cube, ForecastCube):
        raise InputError(f"expected a metacompose ForecastCube, got {type(cube).__name__}")
    return cube


def equal_weights(cube: ForecastCube) -> np.ndarray:
    """Equal weights, float64 ``(S, O, M)``."""
    S, O, M, _ = cube.shape
    return np.full((S, O, M), 1.0 / M)


def weighted_forecasts(weights: np.ndarray, forecasts: np.ndarray) -> np.ndarray:
    """Weighted sum of forecasts over the model axis, leaving out non-finite forecasts.

    Args:
        weights: ``(..., M)`` on the simplex.
        forecasts: ``(..., M, H)``.

    Returns:
        float64 ``(..., H)``. Where a model's forecast is NaN the weights of the others are
        renormalised; where every weighted forecast is NaN (an origin that does not exist)
        the result is NaN.
    """
    f = np.asarray(forecasts, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)[..., None]
    fin = np.isfinite(f)
    num = np.sum(w * np.where(fin, f, 0.0), axis=-2)
    den = np.sum(w * fin, axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _base_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".json", ".npz", ".pt") else path


class CompositionAgent:
    """Base class of composition agents (baselines and PPO).

    Subclasses set ``name`` (their key in ``metacompose.agents.AGENTS``), implement
    :meth:`weights`, and if they learn something, :meth:`fit`, :meth:`_state` and
    :meth:`_set_state`. Constructor arguments must be JSON values and are returned by
    :meth:`get_params`, so that :meth:`save` / :meth:`load` can rebuild the agent.
    """

    name: str = "base"

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as JSON values."""
        return {}

    def fit(self, cube: ForecastCube) -> "CompositionAgent":
        """Learn from the backtest origins (``cube.train_valid``) of ``cube``.

        Args:
            cube: the forecast cube.

        Returns:
            ``self``.

        Raises:
            InputError: ``cube`` is not a ForecastCube.
        """
        check_cube(cube)
        self.models_ = list(cube.models)
        return self

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """Weights of the ``M`` models at every origin of every series.

        Args:
            cube: the forecast cube (the one fitted on, or another with the same pool).

        Returns:
            float64 ``(S, O, M)``, every row non-negative and summing to 1; the row of origin
            ``k`` depends only on what is known at that origin. Origins that do not exist get
            equal weights.
        """
        raise NotImplementedError

    def combine(self, cube: ForecastCube) -> np.ndarray:
        """Composed forecasts, by default ``weights(cube)`` applied to ``cube.forecasts``.

        Args:
            cube: the forecast cube.

        Returns:
            float64 ``(S, O, H)``; NaN where the origin does not exist.
        """
        check_cube(cube)
        return weighted_forecasts(self.weights(cube), cube.forecasts)

    # --- persistence -------------------------------------------------------------------------

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Fitted state as (JSON values, numeric arrays)."""
        return ({"models": self.models_} if hasattr(self, "models_") else {}), {}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray], base: Path) -> None:
        """Restore what :meth:`_state` returned (``base`` is the path without suffix)."""
        if "models" in state:
            self.models_ = list(state["models"])

    def _save_extra(self, base: Path) -> None:
        """Write files other than the header and the npz (PPO writes its policy)."""

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.json`` (header and parameters) and ``<path>.npz`` (arrays).

        Args:
            path: destination without suffix (a ``.json``/``.npz`` suffix is dropped).

        Returns:
            the path of the JSON header.
        """
        base = _base_path(path)
        base.parent.mkdir(parents=True, exist_ok=True)
        state, arrays = self._state()
        header = {"format": AGENT_FORMAT, "version": AGENT_VERSION, "agent": self.name,
                  "params": self.get_params(), "state": state}
        np.savez_compressed(base.with_suffix(".npz"), **arrays)
        self._save_extra(base)
        base.with_suffix(".json").write_text(json.dumps(header, indent=1))
        return base.with_suffix(".json")

    @classmethod
    def load(cls, path: str | Path) -> "CompositionAgent":
        """Read an agent written by :meth:`save`; never unpickles anything.

        ``CompositionAgent.load`` returns whichever agent the file holds; a subclass's
        ``load`` insists on its own kind.

        Args:
            path: the path given to :meth:`save` (with or without suffix).

        Returns:
            the agent, ready for :meth:`weights`.

        Raises:
            FileNotFoundError: a file is missing.
            FileFormatError: not an agent file, corrupted, an unknown agent, another kind of
                agent than ``cls``, or a format version newer than this metacompose supports.
        """
        from metacompose.agents import AGENTS

        base = _base_path(path)
        header_path = base.with_suffix(".json")
        header = read_header(header_path, AGENT_FORMAT, AGENT_VERSION, "agent")
        klass = AGENTS.get(str(header.get("agent", "")).lower())
        if klass is None:
            raise FileFormatError(f"{header_path} holds an unknown agent {header.get('agent')!r}")
        if not issubclass(klass, cls):
            raise FileFormatError(f"{header_path} holds a {klass.__name__}, not a {cls.__name__}")
        params = header.get("params", {})
        if not isinstance(params, dict):
            raise FileFormatError(f"{header_path}: 'params' must be a JSON object")
        try:
            agent = klass(**params)
        except (TypeError, InputError) as exc:
            raise FileFormatError(f"{header_path}: parameters do not fit {klass.__name__}: {exc}") from None
        arrays = read_arrays(base.with_suffix(".npz"), "composition-agent")
        agent._set_state(header.get("state", {}) or {}, arrays, base)
        return agent

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
