"""Saving and loading a :class:`~metacompose.composer.Composer`: a folder of JSON headers and ``.npz``
arrays, never a pickle.

The folder holds ``composer.json`` (format name, version, the constructor parameters as JSON values,
the panel's ids, frequencies and last timestamps), the series' values (``series.*``, for
``update``), the cube (``cube.json``/``.npz``) and the agent (``agent.*``, its own safe format).
``composer.json`` is written last, so only a complete folder has one. Loading goes through the
constructor, so a loaded composer is checked like a new one and can be fitted and updated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metacompose.agents import CompositionAgent, load_agent
from metacompose.cube import ForecastCube
from metacompose.data import Panel
from metacompose.errors import FileFormatError, NotFittedError, UnknownModelError
from metacompose.fileio import read_header, save_container
from metacompose.models import build_pool
from metacompose.update import load_series, save_series

FORMAT, VERSION = "metacompose.composer", 1
"""``composer.json``'s format name and version. Version 1 files written before the constructor
parameters were saved (no ``"params"`` key) still load, with defaults for what they lack."""


def saved_params(comp) -> dict[str, Any]:
    """The constructor arguments of ``comp`` as JSON values (what :func:`load_composer` passes back).

    An agent instance is saved by its name and parameters; ``agent_kwargs`` keep their JSON
    values only (a callback, say, is left out); ``progress`` is not saved.
    """
    if isinstance(comp.agent, str):
        agent, kwargs = comp.agent, comp.agent_kwargs
    else:
        agent, kwargs = comp.agent_.name, comp.agent_.get_params()
    params = {k: v for k, v in comp.get_params().items() if k != "progress"}
    return {**params, "models": comp._pool_param, "agent": agent, "agent_kwargs": _json_values(kwargs),
            "cache_dir": None if comp.cache_dir is None else str(comp.cache_dir)}


def save_composer(comp, path: str | Path) -> Path:
    """Save a fitted composer to a folder.

    Args:
        comp: a fitted :class:`~metacompose.composer.Composer`.
        path: the folder (created if needed).

    Returns:
        the folder's path.

    Raises:
        NotFittedError: ``comp.fit`` was not called.
    """
    if comp.cube_ is None:
        raise NotFittedError("call Composer.fit(df) before save()")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    comp.cube_.save(path / "cube")
    comp.agent_.save(path / "agent")
    save_series(comp.panel_, path / "series")
    freqs = [int(f) if isinstance(f, (int, np.integer)) else f.freqstr for f in comp.panel_.freqs]
    last = [int(d) if isinstance(d, (int, np.integer)) else pd.Timestamp(d).isoformat() for d in comp.panel_.last_ds]
    header = {
        "horizon": comp.horizon, "season_length": comp.season_length, "models": comp.models,
        "agent": type(comp.agent_).__name__, "random_state": comp.random_state,
        "columns": [comp.id_col, comp.time_col, comp.target_col], "freqs": freqs, "last_ds": last,
        "ids": [str(i) for i in comp.panel_.ids], "params": saved_params(comp),
    }
    save_container(path / "composer", FORMAT, VERSION, header=header)  # last: only a complete folder has one
    return path


def read_composer_header(path: str | Path) -> dict[str, Any]:
    """The checked ``composer.json`` header of a folder written by :func:`save_composer`.

    Args:
        path: the composer's folder.

    Returns:
        the header: ``horizon``, ``season_length``, ``models`` (the pool, in cube order),
        ``agent`` (its class name), ``random_state``, ``columns``, ``freqs``, ``last_ds``,
        ``ids`` and, in files written since the constructor parameters are saved, ``params``.

    Raises:
        FileNotFoundError: no ``composer.json`` in ``path``.
        FileFormatError: not a composer header, not JSON, or from a newer version.
    """
    return read_header(Path(path) / "composer.json", FORMAT, VERSION, "composer")


def load_composer(cls, path: str | Path):
    """Load a composer saved by :func:`save_composer`; nothing is unpickled.

    The composer is built through the constructor from its saved parameters (files that
    predate them get the defaults for what they lack), then its fitted state (``cube_``,
    ``agent_``, the panel's ids, timestamps and values, ``weights_``, ``forecast_``) is restored:
    it predicts exactly as the saved one did, ``fit`` and ``update`` work as before saving. Its
    pool is rebuilt from the aliases: custom models must be registered to fit again
    (a pool that cannot be rebuilt still loads and predicts).

    Args:
        cls: the class to build (:class:`~metacompose.composer.Composer` or a subclass).
        path: the composer's folder.

    Returns:
        the composer, fitted.

    Raises:
        FileNotFoundError: the folder or a file is missing.
        FileFormatError: not a composer folder, corrupted, or from a newer version; or
            ``composer.json`` does not match the saved cube or agent (an edited horizon, season
            length, pool, ids, or as many frequencies / last timestamps as series): the message
            names the field and both values.
    """
    path = Path(path)
    header = read_composer_header(path)
    try:
        cube, agent = ForecastCube.load(path / "cube"), load_agent(path / "agent")
        check_header(header, cube, agent, path / "composer.json")
        params = _constructor_params(header, agent)
        try:
            comp = cls(**params)
        except UnknownModelError:  # custom models that are not registered: it predicts, fit says why not
            comp = cls(**{**params, "models": None})
            comp.pool, comp._pool_param = [], params["models"]
        _restore(comp, header, cube, agent, load_series(path / "series", header["ids"]))
    except FileFormatError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise FileFormatError(f"{path / 'composer.json'} is incomplete or malformed: {type(exc).__name__}: {exc}") from None
    return comp


class _Shown(str):
    """Text shown as it is (not by ``repr``) in :func:`check_header`'s messages."""


def check_header(header: dict, cube: ForecastCube, agent: CompositionAgent, where: Path) -> None:
    """Check a ``composer.json`` header against the cube and agent saved beside it.

    The header's ``horizon``, ``season_length``, ``models`` and ``ids`` (count and order) must
    be the cube's; ``freqs`` and ``last_ds`` must have one entry per series; the saved
    constructor parameters, where given, must agree (``horizon``, ``season_length``, and a pool
    holding every model of the cube, which pool selection may have pruned); the agent's pool,
    when it records one, must be the cube's.

    Args:
        header: the header read by :func:`read_composer_header`; cube, agent: the folder's cube
        and agent; where: the header's path, for messages.

    Raises:
        FileFormatError: a field differs; the message names it and gives both values.
        KeyError: the header lacks a field.
    """
    def differ(field: str, value: Any, expected: Any, what: str = "the saved cube's") -> FileFormatError:
        """The error for ``field``; ``value`` and ``expected`` are shown by ``repr`` unless already text."""
        show = [v if isinstance(v, _Shown) else repr(v) for v in (value, expected)]
        return FileFormatError(f"{where}: {field} is {show[0]} but {what} is {show[1]}; the folder's files do "
                               "not belong together (was composer.json edited?)")

    S = len(cube.series_ids)
    for field, expected in (("horizon", cube.horizon), ("season_length", cube.season_length)):
        if header[field] != expected:
            raise differ(field, header[field], expected)
    if not isinstance(header["models"], list) or header["models"] != list(cube.models):
        raise differ("models", header["models"], list(cube.models))
    ids = header["ids"]
    if not isinstance(ids, list) or len(ids) != S:
        raise differ("ids", _Shown(f"{len(ids)} ids" if isinstance(ids, list) else "not a list"),
                     _Shown(f"{S} series"))
    for k, (a, b) in enumerate(zip(map(str, ids), map(str, cube.series_ids))):
        if a != b:
            raise differ(f"ids[{k}]", a, b)
    for field in ("freqs", "last_ds"):
        n = len(header[field]) if isinstance(header[field], list) else None
        if n != S:
            raise differ(field, _Shown(f"{n} entries" if n is not None else "not a list"), _Shown(f"{S} series"))
    params = header.get("params")
    if isinstance(params, dict):
        for field, expected in (("horizon", cube.horizon), ("season_length", cube.season_length)):
            if params.get(field) is not None and params[field] != expected:
                raise differ(f"params.{field}", params[field], expected)
        pool = params.get("models")
        if pool is not None and (not isinstance(pool, list) or not set(cube.models) <= set(pool)):
            raise differ("params.models", pool, list(cube.models), "the saved cube's pool (all of it must be in it)")
    trained_on = getattr(agent, "models_", None)
    if trained_on is not None and list(trained_on) != list(cube.models):
        raise differ("the agent's pool", list(trained_on), list(cube.models))


def _restore(comp, header: dict, cube: ForecastCube, agent: CompositionAgent, values: list) -> None:
    """Set the fitted state saved in ``header`` with its cube, agent and series' values (``[]``: none saved).

    A composer whose season length was inferred at fit (``season_length=None``) gets the cube's
    ``m`` back, and its pool is rebuilt with it, as fit did.
    """
    comp.cube_, comp.agent_ = cube, agent
    freqs = [f if isinstance(f, int) else pd.tseries.frequencies.to_offset(f) for f in header["freqs"]]
    last = [d if isinstance(d, int) else pd.Timestamp(d) for d in header["last_ds"]]
    comp.panel_ = Panel(header["ids"], values, last, freqs)
    if getattr(comp, "_season_param", 1) is None:  # m was inferred at fit: the cube's, not the constructor's 1
        comp.season_length = cube.season_length
        comp.season_reason_ = f"season length {cube.season_length}, inferred from the time stamps when it was fitted"
        if comp.pool:  # rebuilt with that m, as fit did (an empty pool: not registered, stays empty)
            comp.pool = build_pool(comp._pool_models(), cube.season_length)
    comp._finish()


def _json_values(values: dict) -> dict:
    """The items of ``values`` that are JSON values (others, e.g. callbacks, are left out)."""
    out = {}
    for k, v in values.items():
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            continue
        out[k] = v
    return out


def _constructor_params(header: dict, agent: CompositionAgent) -> dict[str, Any]:
    """The constructor arguments of a saved composer; for a version-1 header without them, those it recorded.

    A composer saved with ``train_agent=False`` gets the loaded ``agent`` back as its agent.

    Raises:
        KeyError, TypeError: the header lacks or garbles what it needs.
    """
    params = header.get("params")
    if params is None:  # written before the parameters were saved: what the header has, defaults for the rest
        id_col, time_col, target_col = header["columns"]
        params = {"models": header["models"], "agent": agent.name, "horizon": header["horizon"],
                  "season_length": header["season_length"], "random_state": header["random_state"],
                  "id_col": id_col, "time_col": time_col, "target_col": target_col, "pool_selection": False}
    if not isinstance(params, dict):
        raise TypeError("'params' must be a JSON object")
    params = dict(params)
    if not params.get("train_agent", True):
        params["agent"] = agent
    return params
