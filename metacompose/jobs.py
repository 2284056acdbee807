"""The command line's jobs as plain functions: the M3 main job and forecasting a user's file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import pandas as pd

from metacompose.composer import Composer
from metacompose.data import M3_SUBSETS, load_m3
from metacompose.errors import FileFormatError, InputError
from metacompose.evaluate import comparison_table, test_matrix, weight_diversity


BASELINES = ("equal", "median", "best", "inverse_error", "fforma")


def run_m3(
    subsets: Sequence[str] = ("other",),
    models: Sequence[str] | None = None,
    agent: str = "ppo",
    max_series: int | None = None,
    n_jobs: int = 2,
    seed: int = 0,
    total_timesteps: int | None = None,
    out_dir: str | Path = "metacompose-out",
    cache_dir: str | Path | None = None,
    progress: bool | None = True,
    plots: bool = False,
    echo=print,
) -> pd.DataFrame:
    """Backtest the pool, train the agent on the training parts, forecast the M3 test horizon, score it.

    The M3 test part (``xx``) is used only to score the final forecasts. For every subset
    the table has one row per base model, the baseline composers on the same cube
    (``EqualWeights``: mean of the pool; ``Median``; ``BestSingle``: per series, the model
    with the lowest backtest MASE; ``InverseError``; ``FFORMA``: series features -> weights)
    and the agent.

    Args:
        subsets: M3 subsets to run (``yearly``, ``quarterly``, ``monthly``, ``other``).
        models: pool aliases (default pool if None).
        agent: composition agent name (default ``"ppo"``).
        max_series: first N series per subset (all if None).
        n_jobs: backtest workers.
        seed: seed of the agent.
        total_timesteps: PPO budget (agent default if None).
        out_dir: where ``forecasts_<subset>.csv``, ``weights_<subset>.csv``, ``results.csv``
            and the backtest cube ``cube_<subset>.npz/.json`` go.
        cache_dir: backtest cache folder (None = no cache).
        progress: progress bars on stderr for the backtest and PPO training (None: only when
            stderr is a terminal).
        plots: also write PNG plots to ``out_dir/plots/`` (see
            :func:`metacompose.plots.write_composer_plots`; files prefixed ``<subset>_``).
        echo: where lines of the report go.

    Returns:
        the results frame: subset, method, sMAPE (percent), MASE, n_series.

    Raises:
        InputError: unknown subset.
    """
    from metacompose.agents import get_agent

    for s in subsets:
        if s not in M3_SUBSETS:
            raise InputError(f"unknown M3 subset {s!r}; choose from {', '.join(M3_SUBSETS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = []
    for subset in subsets:
        t0 = time.perf_counter()
        train, test, m, h = load_m3(subset, max_series)
        kwargs = {"total_timesteps": total_timesteps} if (total_timesteps and agent == "ppo") else {}
        if agent == "ppo" and progress is not False:
            kwargs["callback"] = ppo_progress_callback(disable=None if progress is None else False)
        comp = Composer(models=models, agent=agent, horizon=h, season_length=m, n_jobs=n_jobs, cache_dir=cache_dir,
                        random_state=seed, agent_kwargs=kwargs, progress=progress)
        comp.fit(train)
        cube = comp.cube_
        actual = test_matrix(test, comp.panel_.ids, h)
        composed = {}
        for name in BASELINES:
            base = get_agent(name).fit(cube)
            composed[type(base).__name__] = base.combine(cube)[:, -1]
        composed[f"{type(comp.agent_).__name__} (composer)"] = comp.forecast_
        table = comparison_table(cube, composed, actual)
        table.insert(0, "subset", subset)
        table["n_series"] = cube.shape[0]
        wall = time.perf_counter() - t0
        div = weight_diversity(comp.weights_, cube)
        echo(f"\n== M3 {subset}: {cube.shape[0]} series, h={h}, m={m}, wall time {wall:.1f} s ==")
        echo(comp.report_.summary())
        sel = comp.pool_selection_
        if sel is not None:
            echo(f"pool chosen on the backtest: {', '.join(sel.models)}" + (
                f"; dropped {', '.join(f'{a} (p = {p:.2g})' for a, p in zip(sel.dropped, sel.p_values))}, "
                f"equal-weight backtest {sel.metric.upper()} {sel.scores[0]:.4f} -> {sel.scores[-1]:.4f}"
                if sel.dropped else f"; no removal lowered the equal-weight backtest {sel.metric.upper()} significantly"))
        echo(table[["sMAPE", "MASE"]].round(3).to_string())
        echo(f"weights at the final origin: mean entropy {div['mean_entropy']:.3f} nats (equal weights = "
             f"{div['max_entropy']:.3f}); exactly equal weights in {100 * div['share_equal']:.1f}% of series; "
             f"elsewhere the top model differs from the pool's best single model in "
             f"{100 * div['share_top_differs']:.1f}% of series, {div['distinct_top_models']} distinct top models")
        pooled = getattr(comp.agent_, "pooled_weights_", None)
        if pooled is not None:
            sel = getattr(comp.agent_, "selection_", None)
            why = "" if sel is None else (
                f"; best pair on the validation origin {sel.best}, one-sided p-value against equal weights "
                f"{sel.p_value:.3g}")
            echo(f"PPO weights pulled toward its pooled weights by {comp.agent_.pooling:g} and toward equal weights by "
                 f"{comp.agent_.shrinkage:g} (chosen on the validation origin{why}); pooled weights: "
                 + ", ".join(f"{a} {w:.2f}" for a, w in zip(cube.models, pooled)))
        fc = comp.predict()
        fc.to_csv(out / f"forecasts_{subset}.csv", index=False)
        cube.save(out / f"cube_{subset}")
        comp.weights().to_csv(out / f"weights_{subset}.csv", index=False)
        if plots:
            from metacompose.plots import write_composer_plots

            written = write_composer_plots(comp, out / "plots", prefix=f"{subset}_")
            echo(f"wrote {len(written)} plots: " + ", ".join(str(p) for p in written))
        tables.append(table.rename_axis("method").reset_index())
    results = pd.concat(tables, ignore_index=True)
    if len(subsets) > 1:
        results = pd.concat([results, _pooled(results)], ignore_index=True)
        echo("\n== all subsets (point-weighted: series x horizon) ==")
        echo(_pooled(results).set_index("method")[["sMAPE", "MASE"]].round(3).to_string())
    results.to_csv(out / "results.csv", index=False)
    echo(f"\nwrote {out}/results.csv, forecasts_<subset>.csv and weights_<subset>.csv")
    return results


def _pooled(results: pd.DataFrame) -> pd.DataFrame:
    """Point-weighted mean over subsets for methods present in every subset."""
    r = results[results["subset"] != "all"].copy()
    r["points"] = r["n_series"] * r["subset"].map(lambda s: M3_SUBSETS[s][1])
    rows = []
    for method, g in r.groupby("method", sort=False):
        if g["subset"].nunique() == r["subset"].nunique():
            w = g["points"] / g["points"].sum()
            rows.append({"subset": "all", "method": method, "sMAPE": float((g["sMAPE"] * w).sum()),
                         "MASE": float((g["MASE"] * w).sum()), "n_series": int(g["n_series"].sum())})
    return pd.DataFrame(rows)


def ppo_progress_callback(disable: bool | None = None):
    """A stable-baselines3 callback showing PPO training as a tqdm bar (steps) on stderr.

    Args:
        disable: tqdm's ``disable`` (None: hide when stderr is not a terminal).

    Returns:
        a ``BaseCallback`` instance.
    """
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm.auto import tqdm

    class TqdmCallback(BaseCallback):
        def _on_training_start(self) -> None:
            self.bar = tqdm(total=self.locals.get("total_timesteps"), desc="PPO", unit="step", disable=disable)

        def _on_step(self) -> bool:
            self.bar.update(self.training_env.num_envs)
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    return TqdmCallback()


def resolve_agent(agent: str, models: Sequence[str] | None, season_length: int | None):
    """Turn ``--agent`` into what :class:`Composer` takes, plus the pool and ``m`` it implies.

    Args:
        agent: an agent name (``ppo``, ``equal``, ...), the path of an agent saved with
            ``agent.save(path)`` (with or without ``.json``), or a folder written by
            ``Composer.save`` (its agent, pool and season length are used).
        models: the pool asked for (None: the saved agent's pool, else the default pool).
        season_length: ``m`` asked for (None: the saved composer's, else 1).

    Returns:
        ``(agent for Composer, models, season_length)``; a saved agent is used as trained,
        never retrained.

    Raises:
        InputError: neither a known name nor a saved agent; or ``models`` differs from the
            pool the saved agent was trained on.
        FileFormatError: the saved files are corrupted or from a newer version.
    """
    import json

    from metacompose.agents import AGENTS, load_agent

    path = Path(agent)
    if (path / "composer.json").exists():
        try:
            header = json.loads((path / "composer.json").read_text())
        except json.JSONDecodeError as exc:
            raise FileFormatError(f"{path / 'composer.json'} is not valid JSON: {exc}") from None
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
    return _Pretrained(saved), list(models or pool or []) or None, season_length or 1


class _Pretrained:
    """Hands a saved agent to :class:`Composer` so that ``fit`` uses it as trained."""

    def __init__(self, agent):
        self.agent = agent

    def fit(self, cube):
        return self.agent


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a long CSV or Parquet file.

    Raises:
        FileNotFoundError: the file does not exist.
        InputError: not a .csv/.parquet file, unreadable content, or Parquet without pyarrow.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt") or path.name.lower().endswith(".csv.gz"):
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except ImportError as exc:
        raise InputError(f"reading {path.name} needs pyarrow: pip install 'metacompose[parquet]' ({exc})") from None
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"could not read {path}: {type(exc).__name__}: {exc}") from None
    raise InputError(f"unsupported file type {path.suffix!r}: give a .csv or .parquet long file")


def forecast_file(path: str | Path, horizon: int, season_length: int | None = None, agent: str = "ppo",
                  models: Sequence[str] | None = None, out: str | Path = "forecasts.csv", n_jobs: int = 1,
                  seed: int = 0, plots: str | Path | None = None, progress: bool | None = None,
                  id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y",
                  echo=print) -> pd.DataFrame:
    """Forecast every series of a long CSV or Parquet file and write the forecasts with their weights.

    Args:
        path: the long file (one row per observation: id, timestamp, value).
        horizon: ``h``.
        season_length: ``m`` (None: a saved composer's, else 1).
        agent: agent name, or a saved agent / composer (see :func:`resolve_agent`).
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
    kwargs = {}
    if isinstance(agent_obj, str) and agent_obj.lower() == "ppo" and progress is not False:
        kwargs["callback"] = ppo_progress_callback(disable=None if progress is None else False)
    comp = Composer(models=models, agent=agent_obj, horizon=horizon, season_length=m, n_jobs=n_jobs,
                    random_state=seed, agent_kwargs=kwargs, progress=progress, id_col=id_col, time_col=time_col,
                    target_col=target_col).fit(df)
    fc = comp.predict()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fc.to_csv(out, index=False)
    echo(comp.report_.summary())
    echo(f"wrote {len(fc)} rows for {comp.cube_.shape[0]} series to {out}")
    if plots is not None:
        from metacompose.plots import write_composer_plots

        written = write_composer_plots(comp, plots)
        echo(f"wrote {len(written)} plots to {plots}")
    return fc


def metaopt_train(file: str | Path | None = None, m3: str | None = None, horizon: int | None = None,
                  season_length: int | None = None, steps: int = 200, mode: str = "correction", seed: int = 0,
                  out: str | Path = "learned-optimizer.npz", resume: bool = False, echo=print):
    """Meta-train learned-optimizer weights on a user's file or an M3 subset's training parts.

    The M3 test parts are never read. Checkpoints go beside ``out`` (see
    :func:`metacompose.metaopt.meta_train`); ``resume`` continues from one after a kill.

    Returns:
        the trained :class:`~metacompose.metaopt.network.OptimizerNet`.

    Raises:
        InputError: neither or both sources, no horizon for a file, or series too short.
    """
    from metacompose.data import validate_frame
    from metacompose.metaopt import meta_train

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
    echo(f"meta-trained on {len(series)} series in {time.perf_counter() - t0:.1f} s; wrote {out}")
    return net
