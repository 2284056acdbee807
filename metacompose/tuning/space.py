"""Search spaces of the pool's hyperparameters: checking, default spaces, sampling and encoding.

A search space is a dict ``name -> distribution`` whose distributions are optuna's own
(``optuna.distributions.IntDistribution``, ``FloatDistribution``, ``CategoricalDistribution``),
so the same objects drive the search (:mod:`metacompose.tuning.search`), the warm starts
(:mod:`metacompose.tuning.warm_start`) and the store (:mod:`metacompose.tuning.store`).

A name is a keyword argument of the model's constructor, or one of the *derived* names that
map onto one:

* ``lookback``: ``input_length = lookback * h`` (the input window in multiples of the horizon,
  as N-BEATS sets it; Oreshkin et al. 2020), for models with an ``input_length`` argument;
* ``width`` and ``depth`` (together): ``hidden = [width] * depth``, for models with a ``hidden``
  argument and no ``width`` of their own (:class:`~metacompose.models.MLP`).

``season_length``, ``alias`` and ``horizon`` are set by the tuner, never searched.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Mapping

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from metacompose.errors import InputError
from metacompose.models import Forecaster, registered_class

__all__ = ["DEFAULT_SPACES", "RESERVED", "check_distributions", "check_space", "constructor_names", "default_space", "encode", "in_space",
           "model_class", "model_params", "sample", "suggest"]

RESERVED = ("season_length", "alias", "horizon")
"""Constructor arguments the tuner sets itself."""

DEFAULT_SPACES: dict[str, dict[str, BaseDistribution]] = {
    "MLP": {
        "lookback": IntDistribution(1, 5),
        "width": IntDistribution(32, 512, log=True),
        "depth": IntDistribution(1, 3),
        "steps": IntDistribution(100, 1200, log=True),
        "lr": FloatDistribution(1e-4, 1e-2, log=True),
        "revin": CategoricalDistribution([False, True]),
    },
    "LSTM": {
        "lookback": IntDistribution(1, 5),
        "hidden_size": IntDistribution(16, 128, log=True),
        "steps": IntDistribution(200, 2000, log=True),
        "lr": FloatDistribution(5e-4, 2e-2, log=True),
        "revin": CategoricalDistribution([False, True]),
    },
    "NBEATS": {
        "width": IntDistribution(32, 256, log=True),
        "blocks": IntDistribution(1, 4),
        "layers": IntDistribution(2, 4),
        "steps": IntDistribution(200, 2000, log=True),
        "lr": FloatDistribution(2e-4, 1e-2, log=True),
    },
    "ARIMA": {"max_p": IntDistribution(0, 4), "max_q": IntDistribution(0, 4), "max_d": IntDistribution(0, 2)},
    "ETS": {"trend": CategoricalDistribution(["auto", "all", "N", "A", "Ad"]),
            "error": CategoricalDistribution(["add", "auto"])},
    "Theta": {"theta": FloatDistribution(1.0, 3.0)},
}
"""The built-in models' search spaces (alias -> space): ranges around the defaults the project chose
on the M3 training parts."""


def model_class(model) -> type[Forecaster]:
    """The forecaster class of ``model``: a registered alias (case-insensitive) or a :class:`Forecaster` subclass.

    Raises:
        InputError: neither an alias nor a Forecaster subclass (an instance is refused: the
            tuner builds new ones); UnknownModelError (an InputError): an unknown alias.
    """
    if isinstance(model, type) and issubclass(model, Forecaster):
        return model
    if isinstance(model, str):
        return registered_class(model)
    raise InputError(f"tune a model by its alias or its Forecaster class, got {type(model).__name__}")


def constructor_names(cls: type[Forecaster]) -> set[str]:
    """The keyword arguments of ``cls``'s constructor, less :data:`RESERVED`."""
    params = inspect.signature(cls.__init__).parameters
    return {n for n, p in params.items() if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            } - set(RESERVED)


def _derived(cls: type[Forecaster]) -> dict[str, str]:
    """Derived name -> the constructor argument it sets, for the derived names ``cls`` accepts."""
    names = constructor_names(cls)
    out = {}
    if "input_length" in names and "lookback" not in names:
        out["lookback"] = "input_length"
    if "hidden" in names:
        out.update({n: "hidden" for n in ("width", "depth") if n not in names})
    return out


def default_space(cls: type[Forecaster]) -> dict[str, BaseDistribution]:
    """The built-in space of ``cls`` (:data:`DEFAULT_SPACES`, by alias).

    Raises:
        InputError: ``cls`` has no built-in space (pass ``space=``).
    """
    if cls.alias not in DEFAULT_SPACES:
        raise InputError(f"{cls.alias} has no built-in search space; pass space={{name: optuna distribution}}")
    return dict(DEFAULT_SPACES[cls.alias])


def check_distributions(space: Any, accepted, owner: str, reserved=()) -> dict[str, BaseDistribution]:
    """Check the form of a search space: a non-empty mapping of accepted names to optuna distributions.

    Args:
        space: the space to check; accepted: the names it may use (listed in the message);
        owner: what they belong to, for the message; reserved: names the tuner sets itself.

    Returns:
        the space as a new dict.

    Raises:
        InputError: not a mapping, empty, a reserved or unknown name, or a value that is not an optuna
            distribution.
    """
    if not isinstance(space, Mapping):
        raise InputError(f"a search space is a dict name -> optuna distribution, got {type(space).__name__}")
    if not space:
        raise InputError("the search space is empty: give at least one parameter to search")
    for name, dist in space.items():
        if name in reserved:
            raise InputError(f"{name!r} is set by the tuner and cannot be searched")
        if name not in accepted:
            raise InputError(f"unknown parameter {name!r} of {owner}; it accepts: {', '.join(sorted(accepted))}")
        if not isinstance(dist, BaseDistribution):
            raise InputError(f"space[{name!r}] must be an optuna distribution, got {type(dist).__name__}")
    return dict(space)


def check_space(cls: type[Forecaster], space: Any) -> dict[str, BaseDistribution]:
    """Check a search space against ``cls``'s constructor (:func:`check_distributions`).

    Returns:
        the space as a new dict.

    Raises:
        InputError: not a mapping, empty, a value that is not an optuna distribution, a name
            that is reserved or neither a constructor argument nor a derived name of ``cls``, or
            ``width`` without ``depth`` (or the reverse).
    """
    derived = _derived(cls)
    space = check_distributions(space, constructor_names(cls) | set(derived), cls.alias, RESERVED)
    pair = {"width", "depth"} & set(derived)
    if pair and len(pair & set(space)) == 1:
        raise InputError("'width' and 'depth' set 'hidden' together: search both or neither")
    return space


def model_params(cls: type[Forecaster], values: Mapping[str, Any], horizon: int) -> dict[str, Any]:
    """Constructor keyword arguments of ``cls`` from a point of the space (derived names resolved).

    Args:
        values: name -> value, as sampled; horizon: ``h``, for ``lookback``.
    """
    derived = _derived(cls)
    out = {k: v for k, v in values.items() if k not in derived}
    if "lookback" in values and "lookback" in derived:
        out["input_length"] = max(2, int(values["lookback"]) * int(horizon))
    if "width" in values and "width" in derived:
        out["hidden"] = [int(values["width"])] * int(values["depth"])
    return out


def suggest(trial, space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """Ask an optuna ``trial`` for a value of every parameter of ``space``."""
    out = {}
    for name, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            out[name] = trial.suggest_categorical(name, dist.choices)
        elif isinstance(dist, IntDistribution):
            out[name] = trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
        else:
            out[name] = trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return out


def _contains(dist: BaseDistribution, v: Any) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return any(type(v) is type(c) and v == c for c in dist.choices)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not dist.low <= v <= dist.high:
        return False
    if isinstance(dist, IntDistribution):
        return float(v).is_integer() and (int(v) - dist.low) % dist.step == 0
    return True


def in_space(space: Mapping[str, BaseDistribution], values: Mapping[str, Any]) -> bool:
    """True when ``values`` names exactly the parameters of ``space`` and each value lies in its distribution."""
    if set(values) != set(space):
        return False
    return all(_contains(dist, values[n]) for n, dist in space.items())


def sample(space: Mapping[str, BaseDistribution], rng: np.random.Generator) -> dict[str, Any]:
    """A point drawn from ``space`` (uniform, or log-uniform for ``log=True``; steps respected)."""
    out = {}
    for name, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            out[name] = dist.choices[int(rng.integers(len(dist.choices)))]
            continue
        lo, hi = float(dist.low), float(dist.high)
        x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if dist.log else rng.uniform(lo, hi)
        if dist.step is not None:
            x = lo + round((x - lo) / dist.step) * dist.step
        x = min(max(x, lo), hi)
        out[name] = int(round(x)) if isinstance(dist, IntDistribution) else float(x)
    return out


def encode(space: Mapping[str, BaseDistribution], values: Mapping[str, Any]) -> np.ndarray:
    """A point of ``space`` as numbers for a meta-model: ``log`` of log-scaled values, the index of a
    categorical choice, the value otherwise. float64 ``(len(space),)``."""
    out = np.empty(len(space))
    for i, (name, dist) in enumerate(space.items()):
        v = values[name]
        if isinstance(dist, CategoricalDistribution):
            out[i] = dist.to_internal_repr(v)
        else:
            out[i] = math.log(v) if dist.log else float(v)
    return out
