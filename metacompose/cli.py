"""Command line: ``metacompose run`` (the M3 main job), ``metacompose forecast FILE``,
``metacompose cross-validation FILE`` and ``metacompose metaopt train`` (meta-train the learned optimizer).

A thin shell over :func:`metacompose.m3_job.run_m3` and :mod:`metacompose.cli_jobs`; errors a user can cause are printed as one
line (``error: ...``) with exit status 2, never as a traceback: bad arguments and unusable
destinations (:mod:`metacompose.cli_args`) before any work. Ctrl-C stops with one line saying
what is cached (exit status 130). Progress bars (backtest, PPO training) go to stderr when it
is a terminal; ``--progress`` forces them on, ``--no-progress`` off.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from metacompose.agents import AGENTS
from metacompose.cli_args import Parser, check_out_folder, n_jobs, positive_int, seconds, seed, separator
from metacompose.cli_jobs import cross_validate_file, forecast_file, metaopt_train
from metacompose.data import M3_SUBSETS
from metacompose.errors import MetacomposeError
from metacompose.fileio import container_base, container_file
from metacompose.m3_job import run_m3
from metacompose.progress import LOGGER, log_to_stderr

AGENT_NAMES = ", ".join(AGENTS)
"""Every agent name, for the help texts (from :data:`metacompose.agents.AGENTS`)."""
SEED_HELP = "seed of the agent (RL training: ppo, a2c, sac, td3, ddpg; FFORMA's trees; default: 0)"
N_JOBS_HELP = "backtest worker processes: a positive number, or -1 for all cores (default: %(default)s)"
TIMEOUT_HELP = ("seconds one model fit may take (per series, or one panel fit of a global model); a fit that runs "
                "longer is replaced by the model's fallback forecast and counted in the report (default: no limit)")
SEP_HELP = "column separator of a CSV file, e.g. ';', or \\t for a tab (default: detected)"


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="metacompose", description="Compose time-series forecasts with a learned agent.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="main job: backtest, train the agent and score it on the M3 test part")
    r.add_argument("--subset", choices=list(M3_SUBSETS), action="append",
                   help="M3 subset to run (repeatable; default: other)")
    r.add_argument("--all-subsets", action="store_true", help="run yearly, quarterly, monthly and other")
    r.add_argument("--max-series", type=positive_int, default=None, help="first N series per subset (default: all)")
    r.add_argument("--models", nargs="+", default=None, help="pool aliases (default: the built-in pool, pruned on the backtest)")
    r.add_argument("--agent", default="ppo", help=f"composition agent: {AGENT_NAMES} (default: ppo)")
    r.add_argument("--timesteps", type=positive_int, default=None, help="RL agent's training steps (ppo, a2c, sac, td3, ddpg; default: the agent's)")
    r.add_argument("--n-jobs", type=n_jobs, default=2, help=N_JOBS_HELP)
    r.add_argument("--seed", type=seed, default=0, help=SEED_HELP)
    r.add_argument("--out", default="metacompose-out", help="output folder (default: metacompose-out)")
    r.add_argument("--cache", default=None, help="backtest cache folder (default: none)")
    r.add_argument("--plots", action="store_true", help="also write PNG plots to OUT/plots/")
    _progress_flag(r)

    f = sub.add_parser("forecast", help="forecast every series of a long CSV/Parquet file (unique_id, ds, y)")
    f.add_argument("file", help="long .csv or .parquet file: one row per observation")
    f.add_argument("--horizon", "-H", type=positive_int, required=True, help="steps to forecast")
    f.add_argument("--season-length", "-m", type=positive_int, default=None,
                   help="seasonal period, a positive integer (default: a saved composer's, else inferred from "
                        "the time stamps)")
    f.add_argument("--models", nargs="+", default=None,
                   help="pool aliases (default: the saved agent's pool, else the built-in pool)")
    f.add_argument("--agent", default="auto",
                   help=f"agent name ({AGENT_NAMES}, auto, pretrained), a saved agent's path, "
                        "or a saved composer's folder (default: auto: PPO, or the pretrained agent for fewer "
                        "than 50 series with the default pool). A saved composer whose series the file "
                        "only extends (the same series, the saved observations first, new ones after) is "
                        "updated: base models refitted at the new end only, its agent untrained; otherwise "
                        "(other series, another -H or -m) a new composer is fitted with its agent, untrained")
    f.add_argument("--out", default="forecasts.csv",
                   help="output file: .csv, .csv.gz (or no suffix) for CSV, .parquet/.pq for Parquet "
                        "(default: forecasts.csv)")
    f.add_argument("--plots", default=None, metavar="DIR", help="write PNG plots to the folder DIR (created)")
    f.add_argument("--level", type=float, nargs="+", default=None, metavar="LEVEL",
                   help="conformal prediction intervals at these levels in percent, e.g. --level 80 95 "
                        "(columns composed-lo-80, composed-hi-80, ... and the same per model)")
    f.add_argument("--id-col", default="unique_id", help="series id column (default: unique_id)")
    f.add_argument("--time-col", default="ds", help="timestamp column (default: ds)")
    f.add_argument("--target-col", default="y", help="value column (default: y)")
    _common_flags(f)

    _cross_validation_parser(sub)

    mo = sub.add_parser("metaopt", help="the learned optimizer of the neural forecasters")
    mo_sub = mo.add_subparsers(dest="metaopt_command", required=True)
    t = mo_sub.add_parser("train", help="meta-train new learned-optimizer weights on your series")
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--file", help="long .csv/.parquet file (unique_id, ds, y) of training series")
    src.add_argument("--m3", choices=list(M3_SUBSETS), help="use the training parts of an M3 subset")
    t.add_argument("--horizon", "-H", type=positive_int, default=None,
                   help="forecast horizon (default: the M3 subset's)")
    t.add_argument("--season-length", "-m", type=positive_int, default=None,
                   help="seasonal period, a positive integer (default: M3's, else 1)")
    t.add_argument("--steps", type=positive_int, default=200, help="meta-iterations (default: 200)")
    t.add_argument("--mode", choices=["correction", "pure", "bounded"], default="correction",
                   help="correction/pure: per-series tasks; bounded: the shipped design, trained on panels of your "
                        "series in the neural members' regime (default: correction)")
    t.add_argument("--seed", type=seed, default=0, help="seed of the meta-training (default: 0)")
    t.add_argument("--out", required=True, help="output path: writes <out>.json (header) and <out>.npz (weights); use with "
                                                "MLP(optimizer=lambda p: LearnedOptimizer(p, weights=out))")
    t.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out, if any")
    return p


def _cross_validation_parser(sub) -> None:
    """The ``cross-validation`` subcommand's arguments."""
    c = sub.add_parser("cross-validation", help="refit the whole composer at the last cutoffs of a long file and "
                                                "score its forecasts (sMAPE, MASE, MAPE, coverage per method)")
    c.add_argument("file", help="long .csv or .parquet file: one row per observation")
    c.add_argument("--horizon", "-H", type=positive_int, required=True, help="steps to forecast after each cutoff")
    c.add_argument("--windows", type=positive_int, required=True,
                   help="number of cutoffs (the last ones of each series)")
    c.add_argument("--step", type=positive_int, default=None,
                   help="observations between cutoffs (default: the horizon)")
    c.add_argument("--season-length", "-m", type=positive_int, default=None,
                   help="seasonal period, a positive integer (default: a saved composer's, else inferred from the "
                        "time stamps)")
    c.add_argument("--models", nargs="+", default=None, help="pool aliases (default: the built-in pool)")
    c.add_argument("--agent", default="auto",
                   help=f"agent name ({AGENT_NAMES}, auto, pretrained), or a saved agent or composer used as "
                        "trained (default: auto, as for forecast)")
    c.add_argument("--level", type=float, nargs="+", default=None, metavar="LEVEL",
                   help="also score conformal intervals at these levels in percent (coverage)")
    c.add_argument("--out", default=None, help="write the cross-validation frame to this file: .csv, .csv.gz "
                                               "(or no suffix) for CSV, .parquet/.pq for Parquet")
    for col, default in (("--id-col", "unique_id"), ("--time-col", "ds"), ("--target-col", "y")):
        c.add_argument(col, default=default, help=f"column name (default: {default})")
    _common_flags(c)


def _common_flags(p: argparse.ArgumentParser) -> None:
    """The flags ``forecast`` and ``cross-validation`` share: ``--sep``, ``--timeout``, ``--n-jobs``, ``--seed``,
    ``--progress``."""
    p.add_argument("--sep", type=separator, default=None, help=SEP_HELP)
    p.add_argument("--timeout", type=seconds, default=None, metavar="SECONDS", help=TIMEOUT_HELP)
    p.add_argument("--n-jobs", type=n_jobs, default=1, help=N_JOBS_HELP)
    p.add_argument("--seed", type=seed, default=0, help=SEED_HELP)
    _progress_flag(p)


def _progress_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars on stderr (default: only when stderr is a terminal)")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``metacompose`` console script.

    Args:
        argv: the arguments (None: ``sys.argv[1:]``).

    Returns:
        the exit status: 0 done, 2 a user's error (printed as one line ``error: ...``; usage
        errors too), 130 interrupted (Ctrl-C: one line saying what is cached, no traceback).
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else 2
    handler = log_to_stderr()  # one line per stage on stderr, terminal or not
    try:
        _run(args)
    except (MetacomposeError, FileNotFoundError, ImportError) as exc:  # ImportError: a missing optional extra
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; {_saved_so_far(args)}", file=sys.stderr)
        return 130
    finally:
        LOGGER.removeHandler(handler)
    return 0


def _run(args: argparse.Namespace) -> None:
    """Run the subcommand ``args`` asks for.

    Raises:
        MetacomposeError, FileNotFoundError, ImportError: a user's error, as the jobs raise them.
        KeyboardInterrupt: Ctrl-C.
    """
    if args.command == "run":
        check_out_folder(args.out, "--out")
        if args.cache is not None:
            check_out_folder(args.cache, "--cache")
        subsets = list(M3_SUBSETS) if args.all_subsets else (args.subset or ["other"])
        run_m3(subsets, models=args.models, agent=args.agent, max_series=args.max_series, n_jobs=args.n_jobs,
               seed=args.seed, total_timesteps=args.timesteps, out_dir=args.out, cache_dir=args.cache,
               progress=args.progress, plots=args.plots)
    elif args.command == "forecast":
        forecast_file(args.file, args.horizon, args.season_length, agent=args.agent, models=args.models,
                      out=args.out, n_jobs=args.n_jobs, seed=args.seed, plots=args.plots, level=args.level,
                      progress=args.progress, id_col=args.id_col, time_col=args.time_col,
                      target_col=args.target_col, sep=args.sep, timeout=args.timeout)
    elif args.command == "cross-validation":
        cross_validate_file(args.file, args.horizon, args.windows, args.step, args.season_length, agent=args.agent,
                            models=args.models, level=args.level, out=args.out, n_jobs=args.n_jobs, seed=args.seed,
                            progress=args.progress, columns=(args.id_col, args.time_col, args.target_col),
                            sep=args.sep, timeout=args.timeout)
    elif args.command == "metaopt":
        metaopt_train(file=args.file, m3=args.m3, horizon=args.horizon, season_length=args.season_length,
                      steps=args.steps, mode=args.mode, seed=args.seed, out=args.out, resume=args.resume)


def _saved_so_far(args: argparse.Namespace) -> str:
    """What an interrupted command leaves behind, for the line printed after Ctrl-C."""
    if args.command == "run" and args.cache is not None:
        return (f"the backtest results finished so far are cached in {args.cache}; the same command continues "
                "from them")
    if args.command == "metaopt":
        base = container_base(args.out)
        ckpt = container_file(base.with_name(base.name + "-ckpt"), ".json")
        if Path(ckpt).exists():
            return f"the last meta-training checkpoint is {ckpt}; add --resume to continue from it"
    return "nothing was saved"


if __name__ == "__main__":
    sys.exit(main())
