"""The command line's other jobs as plain functions: forecasting a user's file, meta-training the
learned optimizer, and turning ``--agent`` into what :class:`~metacompose.composer.Composer` takes.

(The main job, ``metacompose run``, is :func:`metacompose.m3_job.run_m3`.)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from metacompose.agents import AGENTS, load_agent
from metacompose.agents.callbacks import ppo_progress_callback
from metacompose.composer import Composer
from metacompose.data import load_m3, read_table, validate_frame
from metacompose.errors import InputError
from metacompose.fileio import container_base, container_file
from metacompose.metaopt import OptimizerNet, meta_train
from metacompose.plots import write_composer_plots


def resolve_agent(agent: str, models: Sequence[str] | None, season_length: int | None
                  ) -> tuple[Any, list[str] | None, int]:
    """Turn ``--agent`` into what :class:`Composer` takes, plus the pool and ``m`` it implies.

    Args:
        agent: an agent name (``ppo``, ``equal``, ...), the path of an agent saved with
            ``agent.save(path)`` (with or without ``.json``), or a folder written by
            ``Composer.save`` (its agent, pool and season length are used).
        models: the pool asked for (None: the saved agent's pool, else the default pool).
        season_length: ``m`` asked for (None: the saved composer's, else 1).

    Returns:
        ``(agent, models, season_length)``: ``agent`` is the name as given, or the loaded,
        trained agent instance, to be used with ``Composer(..., train_agent=False)`` (never
        trained again).

    Raises:
        InputError: neither a known name nor a saved agent; or ``models`` differs from the
            pool the saved agent was trained on.
        FileFormatError: the saved files are corrupted or from a newer version.
    """
    path = Path(agent)
    if (path / "composer.json").exists():
        header = Composer.read_header(path)
        saved, season_length = load_agent(path / "agent"), season_length or header.get("season_length", 1)
    elif path.with_suffix(".json").exists() or (path.suffix == ".json" and path.exists()):
        saved = load_agent(path)
    else:
        if agent.lower() in AGENTS or not (("/" in agent) or ("\\" in agent) or path.suffix):
            return agent, models, season_length or 1
        raise InputError(f"--agent {agent!r}: no saved agent there, and not an agent name ({', '.join(AGENTS)})")
    pool = getattr(saved, "models_", None)
    if models is not None and pool is not None and [m.lower() for m in models] != [m.lower() for m in pool]:
        raise InputError(f"the saved agent was trained on the pool {pool}; --models {list(models)} differs")
    return saved, list(models or pool or []) or None, season_length or 1


def forecast_file(path: str | Path, horizon: int, season_length: int | None = None, agent: str = "ppo",
                  models: Sequence[str] | None = None, out: str | Path = "forecasts.csv", n_jobs: int = 1,
                  seed: int = 0, plots: str | Path | None = None, progress: bool | None = None,
                  id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y",
                  echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Forecast every series of a long CSV or Parquet file and write the forecasts with their weights.

    Args:
        path: the long file (one row per observation: id, timestamp, value).
        horizon: ``h``.
        season_length: ``m`` (None: a saved composer's, else 1).
        agent: agent name, or a saved agent / composer (see :func:`resolve_agent`); a saved
            agent is used as trained.
        models: pool aliases (None: the saved agent's pool, else the default pool).
        out: output CSV: id, timestamp, one column per model, ``composed``, ``weight_<model>``.
        n_jobs: backtest workers.
        seed: the agent's seed.
        plots: folder for PNG plots (None: none).
        progress: progress bars (None: only on a terminal).
        id_col, time_col, target_col: column names in the file.
        echo: where report lines go.

    Returns:
        the forecast frame written to ``out``.

    Raises:
        InputError: unsupported file type or bad content (see ``docs/bad_input.md``).
        FileNotFoundError: the file does not exist.
    """
    df = read_table(path)
    agent_obj, models, m = resolve_agent(agent, models, season_length)
    trained = not isinstance(agent_obj, str)
    kwargs = {}
    if not trained and agent_obj.lower() == "ppo" and progress is not False:
        kwargs["callback"] = ppo_progress_callback(disable=None if progress is None else False)
    comp = Composer(models=models, agent=agent_obj, horizon=horizon, season_length=m, n_jobs=n_jobs,
                    random_state=seed, agent_kwargs=kwargs, progress=progress, id_col=id_col, time_col=time_col,
                    target_col=target_col, train_agent=not trained).fit(df)
    fc = comp.predict()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fc.to_csv(out, index=False)
    echo(comp.report_.summary())
    echo(f"wrote {len(fc)} rows for {comp.cube_.shape[0]} series to {out}")
    if plots is not None:
        written = write_composer_plots(comp, plots)
        echo(f"wrote {len(written)} plots to {plots}")
    return fc


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
        steps: meta-iterations; mode: ``"correction"`` or ``"pure"``; seed: the seed.
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
    net = meta_train(series, horizon, season_length or 1, steps=steps, seed=seed, out_path=str(out), mode=mode,
                     resume=resume)
    base = container_base(out)
    echo(f"meta-trained on {len(series)} series in {time.perf_counter() - t0:.1f} s; wrote "
         f"{container_file(base, '.json')} and {container_file(base, '.npz')}")
    return net
