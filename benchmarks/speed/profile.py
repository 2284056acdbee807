"""Where the time goes: a profile of the whole pipeline on one M3 subset (issue 17, point 1).

Runs ``Composer(...).fit(train)`` and ``predict()`` on one subset in this process, one job, no
cache, under :mod:`cProfile` with the process's CPU clock (``time.process_time``: the numbers
do not depend on what else the machine runs), and records:

* the CPU time and share of each stage, read from the profile (cumulative time of the stage's
  function): the time budget's pilot, the members' backtest, pool selection, the agent's
  training, the intervals-free forecast; and the backtest's compute per member as the run
  report counts it (thread CPU time of each fit, torch's threads included);
* the functions with the most cumulative and the most own time (``pstats``).

    python benchmarks/speed/profile.py [--subset other] [--max-series N] [--top 25]
"""

from __future__ import annotations

import sys
from pathlib import Path

# this file's name is the standard library's ``profile``, which cProfile imports: drop its folder
# from the path before that import, so cProfile finds the library's module
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402

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


def profile(subset: str, max_series: int | None, seed: int):
    """Fit and predict under cProfile (CPU clock); returns the profiler, the composer and the total CPU seconds."""
    from metacompose import Composer
    from metacompose.data import load_m3

    train, _, m, h = load_m3(subset, max_series)
    prof = cProfile.Profile(time.process_time)
    t0 = time.process_time()
    prof.enable()
    comp = Composer(horizon=h, season_length=m, n_jobs=1, random_state=seed).fit(train)
    comp.predict()
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
    args = ap.parse_args(argv)
    prof, comp, total = profile(args.subset, args.max_series, args.seed)
    lines = [f"{k:<24} {v:8.1f} CPU-s  {100 * v / total:5.1f}%" for k, v in stage_seconds(prof).items()]
    lines.append(f"{'total':<24} {total:8.1f} CPU-s")
    lines += ["", "backtest compute per member (run report, thread CPU time):"]
    lines += [f"  {k:<22} {v:8.1f} s" for k, v in comp.report_.seconds.items() if k != "wall"]
    stage_text = "\n".join(lines)
    cum, own = top(prof, "cumulative", args.top), top(prof, "tottime", args.top)
    print(stage_text, cum, own, sep="\n\n")
    cmd = ("python benchmarks/speed/profile.py " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    size = f"{len(comp.panel_.ids)} series"
    body = (f"## Profile: M3 {args.subset} ({size}), one job, no cache\n\nCommand: `{cmd}`. "
            f"{__doc__.split(chr(10) * 2)[1].strip()}\n\nKept: {', '.join(comp.cube_.models)}; weights: "
            f"{comp.decision_.source} ({type(comp.agent_).__name__}).\n\n### Stages\n\n```\n{stage_text}\n```\n\n### Most cumulative time\n\n```\n{cum}```"
            f"\n\n### Most own time\n\n```\n{own}```\n")
    write_section(args.results, f"{args.section}-{args.subset}", body)


if __name__ == "__main__":
    main()
