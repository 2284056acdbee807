"""The command line's other jobs as plain functions: forecasting a user's file, meta-training the
learned optimizer, and turning ``--agent`` into what :class:`~metacompose.composer.Composer` takes.

(The main job, ``metacompose run``, is :func:`metacompose.m3_job.run_m3`.)
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from metacompose.agent_choice import AUTO, PRETRAINED
from metacompose.agents import AGENTS, is_rl_agent, load_agent
from metacompose.agents.callbacks import ppo_progress_callback
from metacompose.checks import check_levels
from metacompose.cli_args import check_out_file, check_out_folder, ignored_columns, write_table
from metacompose.composer import Composer
from metacompose.cross_validation import cross_validation_scores
from metacompose.data import load_m3, read_table, validate_frame
from metacompose.errors import InputError
from metacompose.fileio import container_base, container_file
from metacompose.metaopt import OptimizerNet, meta_train, meta_train_panels, sample_task, save_weights
from metacompose.models import REGISTRY
from metacompose.plots import write_composer_plots
from metacompose.update import extension_rows


def resolve_agent(agent: str, models: Sequence[str] | None, season_length: int | None, horizon: int | None = None,
                  echo: Callable[[str], None] = print) -> tuple[Any, list[str] | None, int | None]:
    """Turn ``--agent`` into what :class:`Composer` takes, plus the pool and ``m`` it implies.

    A saved composer asked for another ``horizon`` or ``season_length`` than it was fitted for
    gives its agent (trained, used as it is) to a new composer, fitted for the new ``h``/``m``
    from a new backtest of the same pool; a line says so. (The agent's observations are
    scale-free errors and series features, the same for any ``h`` and ``m``; what it learned
    at the old horizon is carried over as it is. To train a new agent, name one instead.)

    Args:
        agent: an agent name (``ppo``, ``equal``, ...), the path of an agent saved with
            ``agent.save(path)`` (with or without ``.json``), or a folder written by
            ``Composer.save`` (its agent, pool and season length are used).
        models: the pool asked for (None: the saved agent's pool, else the default pool).
        season_length: ``m`` asked for (None: the saved composer's, else None, which lets the
            composer infer it from the time stamps).
        horizon: ``h`` asked for (None: not compared with a saved composer's).
        echo: where the line about another ``h``/``m`` goes.

    Returns:
        ``(agent, models, season_length)``: ``agent`` is the name as given, or the loaded,
        trained agent instance, to be used with ``Composer(..., train_agent=False)`` (never
        trained again).

    Raises:
        InputError: neither a known name nor a saved agent; ``models`` differs from the pool
            the saved agent was trained on; or that pool holds models that are not registered
            (a new composer could not rebuild them).
        FileFormatError: the saved files are corrupted or from a newer version.
    """
    path = Path(agent)
    if (path / "composer.json").exists():
        header = Composer.read_header(path)
        saved = load_agent(path / "agent")
        old_h, old_m = header.get("horizon"), header.get("season_length", 1)
        season_length = old_m if season_length is None else season_length
        changed = (horizon is not None and horizon != old_h) or season_length != old_m
    elif path.with_suffix(".json").exists() or (path.suffix == ".json" and path.exists()):
        saved, changed = load_agent(path), False
    else:
        if agent.lower() in (*AGENTS, AUTO, PRETRAINED) or not (("/" in agent) or ("\\" in agent) or path.suffix):
            return agent, models, season_length
        raise InputError(f"--agent {agent!r}: no saved agent there, and not an agent name ({', '.join(AGENTS)})")
    pool = getattr(saved, "models_", None)
    if models is not None and pool is not None and [m.lower() for m in models] != [m.lower() for m in pool]:
        raise InputError(f"the saved agent was trained on the pool {pool}; --models {list(models)} differs")
    known = {k.lower() for k in REGISTRY}
    custom = [a for a in (pool or []) if a.lower() not in known]
    if custom:
        raise InputError(f"{agent}: the saved pool {pool} holds models that are not registered ({', '.join(custom)}); "
                         "the command line cannot fit them again, and the agent only weighs that pool: register "
                         "them (metacompose.models.REGISTRY) and fit in Python")
    if changed:
        echo(f"{path}: the saved composer was for h={old_h}, m={old_m}; fitting a new composer for h={horizon}, "
             f"m={season_length} (its pool backtested again) with its saved agent, untrained")
    return saved, list(models or pool or []) or None, season_length


def new_composer(agent: str, horizon: int, season_length: int | None, models: Sequence[str] | None,
                 n_jobs: int, seed: int, progress: bool | None, columns: Sequence[str], timeout: float | None = None,
                 echo: Callable[[str], None] = print) -> Composer:
    """An unfitted composer for the command line's ``--agent`` (see :func:`resolve_agent`; a saved agent
    is used as trained), with a PPO progress bar unless ``progress`` is False.

    Args:
        agent, horizon, season_length, models, n_jobs, seed, progress, timeout, echo: as
        :func:`forecast_file`; columns: ``(id_col, time_col, target_col)``.

    Returns:
        the composer, not fitted.

    Raises:
        InputError: as :func:`resolve_agent` and the :class:`Composer` constructor.
        FileFormatError: a saved agent or composer is corrupted or from a newer version.
    """
    agent_obj, models, m = resolve_agent(agent, models, season_length, horizon, echo)
    trained = not isinstance(agent_obj, str)
    kwargs = {}
    if not trained and (is_rl_agent(agent_obj) or agent_obj.lower() == AUTO) and progress is not False:
        kwargs["callback"] = ppo_progress_callback(disable=None if progress is None else False)
    id_col, time_col, target_col = columns
    return Composer(models=models, agent=agent_obj, horizon=horizon, season_length=m, n_jobs=n_jobs,
                    random_state=seed, agent_kwargs=kwargs, progress=progress, id_col=id_col, time_col=time_col,
                    target_col=target_col, train_agent=not trained, timeout=timeout, panel_timeout=timeout)


def cross_validate_file(path: str | Path, horizon: int, n_windows: int, step: int | None = None,
                        season_length: int | None = None, agent: str = "auto", models: Sequence[str] | None = None,
                        level=None, out: str | Path | None = None, n_jobs: int = 1, seed: int = 0,
                        progress: bool | None = None, columns: Sequence[str] = ("unique_id", "ds", "y"),
                        sep: str | None = None, timeout: float | None = None,
                        echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Cross-validate the composer on a long CSV/Parquet file and print its scores per method.

    Args:
        path: the long file; horizon: ``h``; n_windows, step, level: as
        :meth:`Composer.cross_validation`; season_length, agent, models, n_jobs, seed, progress,
        sep, timeout: as :func:`forecast_file`; out: file for the cross-validation frame, CSV or
        Parquet by its suffix as in :func:`forecast_file` (None: not written); columns:
        ``(id_col, time_col, target_col)``; echo: where the table goes.

    Returns:
        the score table of :func:`metacompose.cross_validation.cross_validation_scores`
        (sMAPE, MASE, MAPE and, with ``level``, coverage per method).

    Raises:
        InputError: a bad file, argument, level or ``out`` (checked before any work), or
            ``n_windows`` too large for the shortest series.
        FileFormatError: a saved agent or composer is corrupted or from a newer version.
        FileNotFoundError: the file does not exist.
    """
    level = None if level is None else check_levels(level)
    fmt = None if out is None else check_out_file(out)
    df = read_table(path, sep=sep, id_col=columns[0], time_col=columns[1])
    _echo_ignored(df, columns, echo)
    comp = new_composer(agent, horizon, season_length, models, n_jobs, seed, progress, columns, timeout, echo)
    cv = comp.cross_validation(df, n_windows, step, level)
    if out is not None:
        write_table(cv, out, fmt)
    table = cross_validation_scores(cv, df, comp.season_length, *columns)
    n_series = cv[columns[0]].nunique()
    echo(f"cross-validation: {n_series} series x {n_windows} cutoffs x h={horizon} (step {step or horizon}); "
         "sMAPE and MAPE in percent, MASE scaled by each series' data up to its cutoff, coverage as a share"
         + (f"; wrote {out}" if out is not None else ""))
    echo(table.round(3).to_string())
    return table


def forecast_file(path: str | Path, horizon: int, season_length: int | None = None, agent: str = "auto",
                  models: Sequence[str] | None = None, out: str | Path = "forecasts.csv", n_jobs: int = 1,
                  seed: int = 0, plots: str | Path | None = None, progress: bool | None = None, level=None,
                  id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y", sep: str | None = None,
                  timeout: float | None = None, echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Forecast every series of a long CSV or Parquet file and write the forecasts with their weights.

    The destinations (``out``, ``plots``) and the level are checked before the file is read.
    Columns besides ``id_col``, ``time_col`` and ``target_col`` are ignored, with a line saying so.

    Args:
        path: the long file (one row per observation: id, timestamp, value).
        horizon: ``h``.
        season_length: ``m`` (None: a saved composer's, else inferred by the composer from the
            time stamps).
        agent: agent name, or a saved agent / composer (see :func:`resolve_agent`); a saved
            agent is used as trained. A saved composer whose series the file only extends is
            updated instead (:func:`update_saved`).
        models: pool aliases (None: the saved agent's pool, else the default pool).
        out: output file, written as CSV (``.csv`` or no suffix) or Parquet (``.parquet``,
            ``.pq``): id, timestamp, one column per model, ``composed``, ``weight_<model>``
            (and the interval columns with ``level``).
        n_jobs: backtest workers (-1: every core).
        seed: the agent's seed.
        plots: folder for PNG plots (None: none); with ``level``, the forecasts show the
            composed intervals as fans.
        level: None, or interval level(s) in percent, each in ``(0, 100)``: adds the conformal
            interval columns (``composed-lo-80``, ..., see :meth:`Composer.predict`).
        progress: progress bars (None: only on a terminal).
        id_col, time_col, target_col: column names in the file.
        sep: a CSV file's column separator (None: detected).
        timeout: seconds one model fit (per series, or a panel fit) may take before its
            fallback forecasts instead (None: no limit).
        echo: where report lines go.

    Returns:
        the forecast frame written to ``out``.

    Raises:
        InputError: unsupported file type or bad content (see ``docs/bad_input.md``), a level
            outside ``(0, 100)``, or an ``out``/``plots`` destination that cannot be written
            (these checked before anything is read or fitted).
        FileFormatError: a saved agent or composer is corrupted or from a newer version.
        FileNotFoundError: the file does not exist.
    """
    level = None if level is None else check_levels(level)
    fmt = check_out_file(out)
    if plots is not None:
        check_out_folder(plots, "--plots")
    columns = (id_col, time_col, target_col)
    df = read_table(path, sep=sep, id_col=id_col, time_col=time_col)
    _echo_ignored(df, columns, echo)
    comp = update_saved(agent, df, horizon, season_length, models, columns, n_jobs, progress, echo, timeout)
    if comp is None:  # no saved composer that the file only extends: fit a new one
        comp = new_composer(agent, horizon, season_length, models, n_jobs, seed, progress, columns, timeout,
                            echo).fit(df)
        echo(comp.report_.summary())
        echo(comp.decision_.summary())
    fc = comp.predict(level=level)
    write_table(fc, out, fmt)
    echo(f"wrote {len(fc)} rows for {comp.cube_.shape[0]} series to {out}")
    if plots is not None:
        written = write_composer_plots(comp, plots, level=level)
        echo(f"wrote {len(written)} plots to {plots}")
    return fc


def update_saved(agent: str, df: pd.DataFrame, horizon: int, season_length: int | None,
                 models: Sequence[str] | None, columns: Sequence[str], n_jobs: int = 1, progress: bool | None = None,
                 echo: Callable[[str], None] = print, timeout: float | None = None) -> Composer | None:
    """A saved composer updated with the rows of ``df`` after its data, when ``df`` only extends it.

    That is when ``agent`` is a folder written by ``Composer.save`` with the series' values,
    ``horizon`` is its horizon, ``season_length`` and ``models`` are None or its own, and ``df``
    holds exactly its series, each with the saved observations first
    (:func:`metacompose.update.extension_rows`). Then :meth:`Composer.update` fits the base
    models at the new end only and the saved agent weighs them, untrained; with no new rows
    the saved forecast stands. Another ``horizon``, ``season_length`` or pool returns None
    silently (:func:`resolve_agent` says what happens then).

    Args:
        agent: the ``--agent`` value; df: the file's frame; horizon, season_length, models: as
        :func:`forecast_file`; columns: ``(id_col, time_col, target_col)`` of ``df``; n_jobs,
        progress, timeout: for the fits at the new origin (``timeout`` None keeps the saved
        composer's); echo: where report lines go.

    Returns:
        the updated composer, or None (the caller fits a new composer, as before).

    Raises:
        InputError: ``df`` is not a valid long frame.
        FileFormatError: the saved composer is corrupted or from a newer version.
    """
    path = Path(agent)
    if not (path / "composer.json").exists():
        return None
    comp = Composer.load(path)
    same_pool = models is None or [a.lower() for a in models] == [a.lower() for a in comp.models]
    if comp.horizon != horizon or season_length not in (None, comp.season_length) or not same_pool:
        return None
    comp.id_col, comp.time_col, comp.target_col = columns
    comp.n_jobs, comp.progress = n_jobs, progress
    if timeout is not None:
        comp.timeout = comp.panel_timeout = timeout
    new = extension_rows(comp, df)
    if new is None:
        echo(f"{path}: the file does not only extend this saved composer's series; fitting a new composer with its agent")
        return None
    if len(new):
        comp.update(new)
        echo(f"updated the saved composer {path} with {len(new)} new observations (no training); "
             + comp.update_report_.summary())
    else:
        echo(f"{path}: the file holds nothing after the saved composer's data; its forecast stands")
    return comp


def _echo_ignored(df: pd.DataFrame, columns: Sequence[str], echo: Callable[[str], None]) -> None:
    """Say which columns of ``df`` besides ``columns`` are ignored (nothing when there are none)."""
    line = ignored_columns(df, columns)
    if line is not None:
        echo(line)


def metaopt_train(file: str | Path | None = None, m3: str | None = None, horizon: int | None = None,
                  season_length: int | None = None, steps: int = 200, mode: str = "correction", seed: int = 0,
                  out: str | Path = "learned-optimizer.npz", resume: bool = False,
                  echo: Callable[[str], None] = print) -> OptimizerNet:
    """Meta-train learned-optimizer weights on a user's file or an M3 subset's training parts.

    The M3 test parts are never read. Checkpoints go beside ``out`` (see
    :func:`metacompose.metaopt.meta_train`); ``resume`` continues from one after a kill.

    Args:
        file: a long CSV/Parquet file of training series; m3: or an M3 subset (exactly one).
        horizon: ``h`` (required with ``file``; default the subset's); season_length: ``m``
            (default the subset's, else 1).
        steps: meta-iterations; seed: the seed.
        mode: ``"correction"`` or ``"pure"`` (per-series full-batch tasks, :func:`~metacompose.metaopt.meta_train`),
            or ``"bounded"``: the design the package ships, meta-trained in the neural members' regime on panels of
            the series (:func:`~metacompose.metaopt.meta_train_panels`); its weights need the run's length and rate,
            e.g. ``MLP(optimizer=lambda p: LearnedOptimizer(p, weights=out, lr=1e-3, total_steps=600), steps=600)``.
        out: the weights' container path (``<out>.json`` + ``<out>.npz``; a ``.npz``/``.json``
            suffix is dropped); resume: continue from the checkpoint beside ``out``.
        echo: where report lines go.

    Returns:
        the trained :class:`~metacompose.metaopt.network.OptimizerNet`.

    Raises:
        InputError: neither or both sources, no horizon for a file, or series too short.
    """
    if (file is None) == (m3 is None):
        raise InputError("give exactly one source: a file or an M3 subset")
    if m3 is not None:
        train, _, m, h = load_m3(m3)
        horizon, season_length = horizon or h, season_length or m
    else:
        if horizon is None:
            raise InputError("--horizon is required when meta-training on a file")
        train = read_table(file)
    series = validate_frame(train).values
    t0 = time.perf_counter()
    base = container_base(out)
    if mode == "bounded":
        net, hist = meta_train_panels(partial(sample_task, [(series, horizon, season_length or 1)]), iterations=steps,
                                      seed=seed, net_hidden=16, checkpoint_path=base.with_name(base.name + "-ckpt"),
                                      resume=resume)
        save_weights(out, net, meta={"seed": seed, "iterations": steps, "n_series": len(series), "horizon": horizon,
                                     "tasks": hist["tasks"]})
    else:
        net = meta_train(series, horizon, season_length or 1, steps=steps, seed=seed, out_path=str(out), mode=mode,
                         resume=resume)
    echo(f"meta-trained on {len(series)} series in {time.perf_counter() - t0:.1f} s; wrote "
         f"{container_file(base, '.json')} and {container_file(base, '.npz')}")
    return net
