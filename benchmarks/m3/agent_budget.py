"""How many training steps the PPO composer needs: the ``passes`` default (issue 17, point 4).

``RLAgent(passes=p)`` trains ``min(100,000, max(10,000, p * decisions))`` steps, a decision being
one steppable backtest origin of one series. This script chooses ``p`` on the M3 *training
parts* only: on each subset's pruned-pool cube (built as ``benchmarks/m3/baselines.py`` builds it),
the agent is trained on the validation replay (:func:`metacompose.history.validation_split`, the
task one horizon earlier) and scored at the validation origins (MASE, sMAPE), for each ``p`` and
for the fixed budget of earlier versions (``total_timesteps=100_000``, shown as passes ``None``),
over several seeds. The
test part is never read.

Rule, fixed before the run: the default is the smallest ``p`` whose validation MASE, averaged over
the seeds and the four subsets, is at most 0.2% above the fixed budget's.

``--test-cost`` reports, after the choice and without feeding back into it, what the default
budget costs on the M3 test part: the agent trained on each whole cube with ``passes`` at its
default against the fixed budget, same seeds, composed forecast at the final origin scored
against the test part (sMAPE, MASE).

    python benchmarks/m3/agent_budget.py [--passes 5 10 30 100] [--seeds 0 1 2] [--test-cost] [--results FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from metacompose.agents import PPOAgent
from metacompose.agents.rl_training import MAX_TIMESTEPS
from metacompose.evaluate import score
from metacompose.history import steppable_origins, validation_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.baselines import SUBSETS, build_cubes, validation_score  # noqa: E402  (benchmarks/m3/baselines.py)
from results_file import RunLog, write_section  # noqa: E402  (benchmarks/results_file.py)

TOLERANCE = 0.002  # relative validation MASE above the fixed budget's that a smaller budget may cost


def one_run(split, passes, seed: int) -> dict:
    """Train on the replay cube of ``split`` with ``passes`` (None: the fixed budget); validation scores."""
    budget = {"total_timesteps": MAX_TIMESTEPS} if passes is None else {"passes": passes}
    agent = PPOAgent(seed=seed, **budget).fit(split[0])
    return {**validation_score(agent.combine(split[0])[:, -1], split), "steps": agent.timesteps_,
            "seconds": agent.learn_seconds_}


def test_cost(cube, actual: np.ndarray, seeds: list, log) -> None:
    """Test-part sMAPE and MASE of the default budget against the fixed one on the whole ``cube`` (reported only)."""
    for name, budget in (("fixed 100,000", {"total_timesteps": MAX_TIMESTEPS}), ("default passes", {})):
        runs = []
        for seed in seeds:
            agent = PPOAgent(seed=seed, **budget).fit(cube)
            runs.append({**score(agent.combine(cube)[:, -1], actual, cube.scales), "steps": agent.timesteps_,
                         "seconds": agent.learn_seconds_})
        log(f"    test part, {name:>14}: steps {runs[0]['steps']:7d}  sMAPE "
            + " ".join(f"{r['sMAPE']:.3f}" for r in runs) + f" (mean {np.mean([r['sMAPE'] for r in runs]):.3f})  MASE "
            f"mean {np.mean([r['MASE'] for r in runs]):.4f}  learn s {np.mean([r['seconds'] for r in runs]):.1f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passes", type=float, nargs="+", default=[5, 10, 30, 100])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--subsets", nargs="+", default=list(SUBSETS))
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--cache", default=".metacompose-cache/m3")
    ap.add_argument("--test-cost", action="store_true", help="also report the default's cost on the test part")
    ap.add_argument("--results", default=None, help="write the table into this file's 'agent-budget' section")
    args = ap.parse_args(argv)
    log = RunLog()
    budgets = [None, *args.passes]
    rows = []
    for subset in args.subsets:
        cubes, actual, _ = build_cubes(subset, None, args.n_jobs, args.cache, 0, log)
        cube = cubes["pruned"]
        split = validation_split(cube)
        decisions = int(steppable_origins(split[0]).sum())
        for passes in budgets:
            runs = [one_run(split, passes, seed) for seed in args.seeds]
            mase = np.array([r["val MASE"] for r in runs])
            rows.append((subset, passes, mase.mean()))
            log(f"{subset:>9} decisions {decisions:5d}  passes {str(passes):>5}  steps {runs[0]['steps']:7d}  "
                f"val MASE {mase.mean():.4f} (sd {mase.std(ddof=1):.4f})  val sMAPE "
                f"{np.mean([r['val sMAPE'] for r in runs]):.3f}  learn s {np.mean([r['seconds'] for r in runs]):5.1f}")
        if args.test_cost:
            test_cost(cube, actual, args.seeds, log)
    mean = {p: np.mean([m for s, q, m in rows if q == p]) for p in budgets}
    ok = [p for p in args.passes if mean[p] <= mean[None] * (1 + TOLERANCE)]
    log("\nmean validation MASE over subsets and seeds: "
        + ", ".join(f"passes {p}: {v:.4f}" for p, v in mean.items())
        + f"\nchosen (smallest within {100 * TOLERANCE:.1f}% of the fixed budget): {min(ok) if ok else 'none'}")
    if args.results:
        cmd = "python benchmarks/m3/agent_budget.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_section(args.results, "agent-budget", f"## Agent training budget (`passes`)\n\nCommand: `{cmd}`\n\n"
                      f"```\n{chr(10).join(log.lines)}\n```\n")


if __name__ == "__main__":
    main()
