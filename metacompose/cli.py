"""Command line: ``metacompose run`` (the M3 main job) and ``metacompose forecast FILE``.

A thin shell over :mod:`metacompose.jobs`; errors a user can cause are printed as one
line (``error: ...``) with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys

from metacompose.data import M3_SUBSETS
from metacompose.errors import MetacomposeError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="metacompose", description="Compose time-series forecasts with a learned agent.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="main job: backtest, train the agent and score it on the M3 test part")
    r.add_argument("--subset", choices=list(M3_SUBSETS), action="append",
                   help="M3 subset to run (repeatable; default: other)")
    r.add_argument("--all-subsets", action="store_true", help="run yearly, quarterly, monthly and other")
    r.add_argument("--max-series", type=int, default=None, help="first N series per subset (default: all)")
    r.add_argument("--models", nargs="+", default=None, help="pool aliases (default: the built-in pool)")
    r.add_argument("--agent", default="ppo", help="composition agent (default: ppo)")
    r.add_argument("--timesteps", type=int, default=None, help="PPO training steps (default: the agent's)")
    r.add_argument("--n-jobs", type=int, default=2, help="backtest workers (default: 2)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="metacompose-out", help="output folder (default: metacompose-out)")
    r.add_argument("--cache", default=None, help="backtest cache folder (default: none)")
    r.add_argument("--no-progress", action="store_true")

    f = sub.add_parser("forecast", help="forecast every series of a long CSV/Parquet file (unique_id, ds, y)")
    f.add_argument("file")
    f.add_argument("--horizon", "-H", type=int, required=True)
    f.add_argument("--season-length", "-m", type=int, default=1)
    f.add_argument("--models", nargs="+", default=None)
    f.add_argument("--agent", default="ppo")
    f.add_argument("--out", default="forecasts.csv")
    f.add_argument("--n-jobs", type=int, default=1)
    f.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``metacompose`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    from metacompose import jobs

    try:
        if args.command == "run":
            subsets = list(M3_SUBSETS) if args.all_subsets else (args.subset or ["other"])
            jobs.run_m3(subsets, models=args.models, agent=args.agent, max_series=args.max_series, n_jobs=args.n_jobs,
                        seed=args.seed, total_timesteps=args.timesteps, out_dir=args.out, cache_dir=args.cache,
                        progress=not args.no_progress)
        elif args.command == "forecast":
            jobs.forecast_file(args.file, args.horizon, args.season_length, agent=args.agent, models=args.models,
                               out=args.out, n_jobs=args.n_jobs, seed=args.seed)
    except (MetacomposeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
