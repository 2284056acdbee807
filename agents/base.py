"""The interface every composition agent shares, its parameter handling and its safe file format.

An agent turns a :class:`~metacompose.cube.ForecastCube` into weights over the pool's
``M`` models, for every origin of every series, the final one included:

* ``fit(cube) -> self`` learns from the backtest origins only (``cube.backtest_mask``);
  what it learns is kept in attributes with a trailing underscore (``models_``, ``policy_``);
* ``weights(cube) -> (S, O, M)``: rows on the simplex, each computed only from what is
  known at its origin (:mod:`metacompose.history`);
* ``step_weights(cube) -> (S, O, H, M)``: the weights at each horizon step (by default the
  same at every step);
* ``combine(cube) -> (S, O, H)``: the composed forecasts (by default the step weights applied);
* ``get_params()``: the constructor arguments, read from the constructor's signature (as
  scikit-learn's ``get_params`` and stable-baselines3's saved ``data`` do), so that
* ``save(path)`` / ``load(path)`` can rebuild the agent through its constructor: a
  :mod:`metacompose.fileio` container (a JSON header with the format version, the agent's
  name, parameters and fitted JSON state, beside an ``.npz`` of arrays), read back without
  unpickling anything.

A subclass sets ``name`` (its key in :data:`AGENT_REGISTRY`), lists the checks of its
constructor arguments in ``param_checks`` and calls ``self._set_params(locals())`` in its
constructor, implements :meth:`weights`, and if it learns something, :meth:`fit`,
:meth:`_state` and :meth:`_set_state`.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from metacompose.combine import weighted_forecasts
from metacompose.cube import ForecastCube
from metacompose.errors import FileFormatError, InputError
from metacompose.fileio import container_base, container_file, read_arrays, read_header, save_container

AGENT_FORMAT = "metacompose.agent"
AGENT_VERSION = 1

AGENT_REGISTRY: dict[str, type["CompositionAgent"]] = {}
"""Agent name -> class, filled as each agent class is defined."""


def check_cube(cube: Any) -> ForecastCube:
    """Return ``cube`` if it is a :class:`ForecastCube`.

    Raises:
        InputError: it is not.
    """
    if not isinstance(cube, ForecastCube):
        raise InputError(f"expected a metacompose ForecastCube, got {type(cube).__name__}")
    return cube


class CompositionAgent(ABC):
    """Base class of composition agents (baselines and PPO); see the module notes.

    Class attributes:
        name: the agent's key in :data:`AGENT_REGISTRY` (and ``get_agent(name)``).
        param_checks: constructor argument -> ``check(value, name) -> value`` (raising
            :class:`~metacompose.errors.InputError`); arguments without a check are stored as given.
        unsaved_params: constructor arguments left out of :meth:`get_params` and of saved
            files (live objects such as callbacks).
    """

    name: ClassVar[str] = "base"
    param_checks: ClassVar[Mapping[str, Callable[[Any, str], Any]]] = {}
    unsaved_params: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and not inspect.isabstract(cls):
            AGENT_REGISTRY[cls.name] = cls

    # --- parameters ----------------------------------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        """The constructor's argument names, in order."""
        params = inspect.signature(cls.__init__).parameters.values()
        return [p.name for p in params if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]

    def _set_params(self, values: Mapping[str, Any]) -> None:
        """Check (``param_checks``) and store every constructor argument found in ``values``.

        Raises:
            InputError: a check refuses a value.
        """
        for name in self._param_names():
            check = self.param_checks.get(name)
            setattr(self, name, values[name] if check is None else check(values[name], name))

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments as stored (JSON values), except ``unsaved_params``."""
        return {n: getattr(self, n) for n in self._param_names() if n not in self.unsaved_params}

    def clone(self) -> "CompositionAgent":
        """A fresh, unfitted agent built through the constructor with this one's arguments
        (``unsaved_params`` such as callbacks included, shared, not copied)."""
        return type(self)(**{n: getattr(self, n) for n in self._param_names()})

    # --- learning and weighting ------------------------------------------------------------------

    def fit(self, cube: ForecastCube) -> "CompositionAgent":
        """Learn from the backtest origins (``cube.backtest_mask``) of ``cube``.

        Args:
            cube: the forecast cube.

        Returns:
            ``self``, with ``models_`` (the pool's aliases).

        Raises:
            InputError: ``cube`` is not a ForecastCube.
        """
        check_cube(cube)
        self.models_ = list(cube.models)
        return self

    @abstractmethod
    def weights(self, cube: ForecastCube) -> np.ndarray:
        """Weights of the ``M`` models at every origin of every series.

        Args:
            cube: the forecast cube (the one fitted on, or another with the same pool).

        Returns:
            float64 ``(S, O, M)``, every row non-negative and summing to 1; the row of origin
            ``k`` depends only on what is known at that origin. Origins that do not exist get
            equal weights.
        """

    def step_weights(self, cube: ForecastCube) -> np.ndarray:
        """Weights of the ``M`` models at every step of the horizon, every origin, every series.

        By default :meth:`weights` at every step; an agent that weighs each step on its own
        (per-horizon actions, :class:`~metacompose.agents.global_weights.GlobalWeights` with
        ``per_step``) overrides this and returns in :meth:`weights` the mean over the steps.

        Args:
            cube: the forecast cube.

        Returns:
            float64 ``(S, O, H, M)``, every row on the simplex (a read-only broadcast view by default).
        """
        S, O, M, H = cube.shape
        return np.broadcast_to(np.asarray(self.weights(cube), dtype=np.float64)[:, :, None, :], (S, O, H, M))

    def combine(self, cube: ForecastCube) -> np.ndarray:
        """Composed forecasts, by default ``step_weights(cube)`` applied to ``cube.forecasts``.

        Args:
            cube: the forecast cube.

        Returns:
            float64 ``(S, O, H)``; NaN where the origin does not exist.
        """
        check_cube(cube)
        return weighted_forecasts(self.step_weights(cube), cube.forecasts)

    # --- persistence -----------------------------------------------------------------------------

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Fitted state as (JSON values, numeric arrays)."""
        return ({"models": self.models_} if hasattr(self, "models_") else {}), {}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray], base: Path) -> None:
        """Restore what :meth:`_state` returned (``base`` is the container's base path)."""
        if "models" in state:
            self.models_ = list(state["models"])

    @classmethod
    def _upgrade_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Saved parameters as this version's constructor takes them (renamed arguments); as given by default."""
        return params

    def _extra_files(self) -> dict[str, Callable[[Path], None]]:
        """Files beside the header and the npz, as ``{suffix: writer(path)}`` (PPO: its policy)."""
        return {}

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.json`` (header, parameters, JSON state) and ``<path>.npz`` (arrays).

        Args:
            path: destination without suffix (a ``.json``/``.npz``/``.pt`` suffix is dropped).

        Returns:
            the path of the JSON header.

        Raises:
            NotFittedError: an agent that must be fitted before it can be saved is not.
        """
        state, arrays = self._state()
        header = {"agent": self.name, "params": self.get_params(), "state": state}
        return save_container(path, AGENT_FORMAT, AGENT_VERSION, header, arrays, self._extra_files())

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
            FileFormatError: not an agent file, corrupted (the arrays, the JSON state or a
                policy file: never torch's own message), an unknown agent, another kind of
                agent than ``cls``, or a format version newer than this metacompose supports.
        """
        base = container_base(path)
        header_path = container_file(base, ".json")
        header = read_header(header_path, AGENT_FORMAT, AGENT_VERSION, "agent")
        klass = AGENT_REGISTRY.get(str(header.get("agent", "")).lower())
        if klass is None:
            raise FileFormatError(f"{header_path} holds an unknown agent {header.get('agent')!r}")
        if not issubclass(klass, cls):
            raise FileFormatError(f"{header_path} holds a {klass.__name__}, not a {cls.__name__}")
        params = header.get("params", {})
        if not isinstance(params, dict):
            raise FileFormatError(f"{header_path}: 'params' must be a JSON object")
        params = klass._upgrade_params(params)
        try:
            agent = klass(**params)
        except (TypeError, InputError) as exc:
            raise FileFormatError(f"{header_path}: parameters do not fit {klass.__name__}: {exc}") from None
        arrays = read_arrays(container_file(base, ".npz"), "agent", header=header)
        try:
            agent._set_state(header.get("state", {}) or {}, arrays, base)
        except (FileFormatError, FileNotFoundError):
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # RuntimeError: torch's shape mismatches
            raise FileFormatError(f"{header_path}: the saved state does not fit a {klass.__name__} "
                                  f"({type(exc).__name__}); the agent's files do not belong together") from None
        return agent

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
