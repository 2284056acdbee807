"""Built-in base forecasters and the alias registry.

``get_model("ARIMA", season_length=12)`` builds a model from its alias; a
:class:`~metacompose.models.base.Forecaster` instance can be used anywhere an alias can.
"""

from __future__ import annotations

from typing import Any

from metacompose.errors import InputError, UnknownModelError
from metacompose.models.base import Forecaster, PanelForecaster, check_horizon, check_series
from metacompose.models.naive import Drift, Naive, SeasonalNaive
from metacompose.models.nbeats import NBEATS
from metacompose.models.neural import LSTM, MLP
from metacompose.models.arima import ARIMA
from metacompose.models.statistical import ETS, Theta

REGISTRY: dict[str, type[Forecaster]] = {
    cls.alias: cls for cls in (Naive, SeasonalNaive, Drift, ARIMA, ETS, Theta, MLP, LSTM, NBEATS)
}

DEFAULT_POOL: tuple[str, ...] = ("ARIMA", "ETS", "Theta", "MLP", "NBEATS", "SeasonalNaive", "Drift")
"""The built-in candidate pool; ``Composer`` prunes it on the backtest of each data set
(:func:`metacompose.pool_selection.select_pool`)."""


def get_model(model: str | Forecaster, season_length: int = 1, **params: Any) -> Forecaster:
    """Build a forecaster from an alias (case-insensitive), or return a given instance as is.

    Raises:
        UnknownModelError: the alias is not registered; the message lists the known ones.
        InputError: ``model`` is neither a string nor a Forecaster.
    """
    if isinstance(model, Forecaster):
        return model
    if not isinstance(model, str):
        raise InputError(f"a model must be an alias (str) or a Forecaster instance, got {type(model).__name__}")
    return registered_class(model)(season_length=season_length, **params)


def registered_class(alias: str) -> type[Forecaster]:
    """The forecaster class registered under ``alias`` (case-insensitive).

    Raises:
        UnknownModelError: the alias is not registered; the message lists the known ones.
    """
    lookup = {k.lower(): v for k, v in REGISTRY.items()}
    cls = lookup.get(alias.lower())
    if cls is None:
        raise UnknownModelError(f"unknown model alias {alias!r}; known aliases: {', '.join(sorted(REGISTRY))}")
    return cls


def build_pool(models, season_length: int) -> list[Forecaster]:
    """Turn a list of aliases and/or instances into forecasters with unique aliases.

    Raises:
        InputError: the list is empty or two models share an alias.
        UnknownModelError: an alias is not registered.
    """
    if models is None or len(models) == 0:
        raise InputError("the pool needs at least one model")
    pool = [get_model(m, season_length) for m in models]
    aliases = [m.alias for m in pool]
    dupes = sorted({a for a in aliases if aliases.count(a) > 1})
    if dupes:
        raise InputError(f"model aliases must be unique in a pool; repeated: {', '.join(dupes)} (pass alias=...)")
    return pool


__all__ = [
    "ARIMA", "Drift", "ETS", "LSTM", "MLP", "NBEATS", "Naive", "SeasonalNaive", "Theta", "Forecaster", "PanelForecaster",
    "REGISTRY", "DEFAULT_POOL", "get_model", "registered_class", "build_pool", "check_horizon", "check_series",
]
