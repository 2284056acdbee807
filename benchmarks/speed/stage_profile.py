"""Where the time goes: a profile of the whole pipeline on one M3 subset (issue 17, point 1).

Runs ``Composer(...).fit(train)`` and ``predict()`` on one subset in this process, one job, no
cache, under :mod:`cProfile` with the process's CPU clock (``time.process_time``: the numbers
do not depend on what else the machine runs), and records:

* the CPU time and share of each stage, read from the profile (cumulative time of the stage's
  function): the time budget's pilot, the members' backtest, pool selection, the agent's
  training, the intervals-free forecast; and the backtest's compute per member as the run
  report counts it (wall seconds inside each fit; with one job and an idle machine, close to
  its CPU time);
* the functions with the most cumulative and the most own time (``pstats``).

cProfile's per-call overhead inflates code made of many small Python calls (the statistical
members' optimisers) several times more than torch's kernels, so ``--plain`` runs the same fit
without it and records only the total CPU time, the agent's training (wall seconds of
``learn``) and the run report's compute per member: the shares to decide from.

    python benchmarks/speed/stage_profile.py [--subset other] [--max-series N] [--top 25] [--plain]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_file import write_section  # noqa: E402


STAGES = {  # stage -> (file, function) whose cumulative time it is
    "time budget pilot": ("budget.py", "plan_budget"),
    "backtest": ("backtest.py", "backtest"),
    "pool selection": ("pool_selection.py", "select_pool"),
    "agent training": ("rl.py", "fit"),
    "weights and forecast": ("composer.py", "_finish"),
    "predict": ("composer.py", "predict"),
}


def profile(subset: str, max_series: int | None, seed: int, plain: bool = False):
    """Fit and predict under cProfile (CPU clock), or without it when ``plain``; returns the profiler
    (None when ``plain``), the composer and the total CPU seconds."""
    from metacompose import Composer
    from metacompose.data import load_m3

    train, _, m, h = load_m3(subset, max_series)
    prof = None if plain else cProfile.Profile(time.process_time)
    t0 = time.process_time()
    if prof is not None:
        prof.enable()
    comp = Composer(horizon=h, season_length=m, n_jobs=1, random_state=seed).fit(train)
    comp.predict()
    if prof is not None:
        prof.disable()
    return prof, comp, time.process_time() - t0


def stage_seconds(prof: cProfile.Profile) -> dict[str, float]:
    """Cumulative CPU seconds of each stage's function (0 when it did not run)."""
    stats = pstats.Stats(prof).stats
    out = {}
    for stage, (file, func) in STAGES.items():
        out[stage] = sum(ct for (path, _, name), (_, _, _, ct, _) in stats.items()
                         if name == func and Path(path).name == file)
    return out


def top(prof: cProfile.Profile, key: str, n: int) -> str:
    """The ``n`` functions with the largest ``key`` (``"cumulative"`` or ``"tottime"``), as pstats prints them."""
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key).print_stats(n)
    text = out.getvalue()
    return text[text.index("ncalls"):] if "ncalls" in text else text


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", default="other", choices=["yearly", "quarterly", "monthly", "other"])
    ap.add_argument("--max-series", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--results", default="benchmarks/speed/RESULTS.md")
    ap.add_argument("--section", default="profile")
    ap.add_argument("--plain", action="store_true", help="no cProfile: total, agent and per-member CPU only")
    args = ap.parse_args(argv)
    prof, comp, total = profile(args.subset, args.max_series, args.seed, args.plain)
    stages = {"agent training (wall)": getattr(comp.agent_, "learn_seconds_", 0.0)} if args.plain else stage_seconds(prof)
    lines = [f"{k:<24} {v:8.1f} CPU-s  {100 * v / total:5.1f}%" for k, v in stages.items()]
    lines.append(f"{'total':<24} {total:8.1f} CPU-s")
    lines += ["", "backtest compute per member (run report, wall seconds inside the fits):"]
    lines += [f"  {k:<22} {v:8.1f} s" for k, v in comp.report_.seconds.items() if k != "wall"]
    stage_text = "\n".join(lines)
    cmd = ("python benchmarks/speed/stage_profile.py " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    size = f"{len(comp.panel_.ids)} series"
    body = (f"## Profile{' (plain)' if args.plain else ''}: M3 {args.subset} ({size}), one job, no cache\n\n"
            f"Command: `{cmd}`. {__doc__.split(chr(10) * 2)[3 if args.plain else 1].strip()}\n\nKept: {', '.join(comp.cube_.models)}; "
            f"weights: {comp.decision_.source} ({type(comp.agent_).__name__}).\n\n### Stages\n\n```\n{stage_text}\n```\n")
    if not args.plain:
        cum, own = top(prof, "cumulative", args.top), top(prof, "tottime", args.top)
        body += f"\n### Most cumulative time\n\n```\n{cum}```\n\n### Most own time\n\n```\n{own}```\n"
    print(body)
    write_section(args.results, f"{args.section}{'-plain' if args.plain else ''}-{args.subset}", body)


if __name__ == "__main__":
    main()
