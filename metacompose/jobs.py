"""The command line's jobs as plain functions: the M3 main job and forecasting a user's file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from metacompose.composer import Composer
from metacompose.data import M3_SUBSETS, load_m3
from metacompose.errors import InputError
from metacompose.evaluate import comparison_table, test_matrix, weight_diversity


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
    progress: bool = True,
    echo=print,
) -> pd.DataFrame:
    """Backtest the pool, train the agent on the training parts, forecast the M3 test horizon, score it.

    The M3 test part (``xx``) is used only to score the final forecasts. For every subset
    the table has one row per base model, ``EqualWeights`` (mean of the pool),
    ``BestSingle`` (per series, the model with the lowest backtest MASE) and the agent.

    Args:
        subsets: M3 subsets to run (``yearly``, ``quarterly``, ``monthly``, ``other``).
        models: pool aliases (default pool if None).
        agent: composition agent name (default ``"ppo"``).
        max_series: first N series per subset (all if None).
        n_jobs: backtest workers.
        seed: seed of the agent.
        total_timesteps: PPO budget (agent default if None).
        out_dir: where ``forecasts_<subset>.csv``, ``weights_<subset>.csv`` and ``results.csv`` go.
        cache_dir: backtest cache folder (None = no cache).
        progress: progress bars.
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
        comp = Composer(models=models, agent=agent, horizon=h, season_length=m, n_jobs=n_jobs, cache_dir=cache_dir,
                        random_state=seed, agent_kwargs=kwargs, progress=progress)
        comp.fit(train)
        cube = comp.cube_
        actual = test_matrix(test, comp.panel_.ids, h)
        composed = {}
        for name in ("equal", "best"):
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
        echo(table[["sMAPE", "MASE"]].round(3).to_string())
        echo(f"weights at the final origin: mean entropy {div['mean_entropy']:.3f} nats (equal weights = "
             f"{div['max_entropy']:.3f}); top model differs from the pool's best single model in "
             f"{100 * div['share_top_differs']:.1f}% of series; {div['distinct_top_models']} distinct top models")
        fc = comp.predict()
        fc.to_csv(out / f"forecasts_{subset}.csv", index=False)
        comp.weights().to_csv(out / f"weights_{subset}.csv", index=False)
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


def forecast_file(path: str | Path, horizon: int, season_length: int = 1, agent: str = "ppo",
                  models: Sequence[str] | None = None, out: str | Path = "forecasts.csv", n_jobs: int = 1,
                  seed: int = 0, echo=print) -> pd.DataFrame:
    """Forecast every series of a long CSV or Parquet file and write the forecasts with their weights.

    Raises:
        InputError: unsupported file type or bad content (see :func:`metacompose.data.validate_frame`).
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path)
    elif path.suffix.lower() in (".parquet", ".pq"):
        df = pd.read_parquet(path)
    else:
        raise InputError(f"unsupported file type {path.suffix!r}: give a .csv or .parquet long file")
    if "ds" in df.columns and df["ds"].dtype == object:
        try:
            df["ds"] = pd.to_datetime(df["ds"])
        except (ValueError, TypeError):
            pass
    comp = Composer(models=models, agent=agent, horizon=horizon, season_length=season_length, n_jobs=n_jobs,
                    random_state=seed).fit(df)
    fc = comp.predict()
    fc.to_csv(out, index=False)
    echo(comp.report_.summary())
    echo(f"wrote {len(fc)} rows for {comp.cube_.shape[0]} series to {out}")
    return fc
