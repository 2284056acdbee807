"""Train the pretrained composition agent that ships in the package (``agent="pretrained"``).

One PPO agent (:class:`metacompose.agents.RLAgent`, default settings) is trained on the
backtest cubes of the four M3 subsets at once (cross-learning), with the seven-member default
pool and the basic features, built as ``benchmarks/m3/baselines.py`` builds them. Only the
*training parts* are used: the cubes' origins lie inside them, and the final origin's actuals
(the test part) are never read here.

The number of horizon knots ``K`` (1: one weight vector for the horizon; 2: weights that move
along it) is chosen on the training data only: each candidate is trained on the validation
replay of every subset (:func:`metacompose.history.validation_split`, one horizon earlier) and
scored by its mean MASE at the validation origins; the lower wins (ties: ``K = 1``). The agent
is then trained on the whole backtests and saved to ``agents/weights/m3_default_pool``.

    python benchmarks/m3/pretrain.py [--timesteps 200000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from metacompose.agents import get_agent
from metacompose.agents.pretrained import PRETRAINED_PATH
from metacompose.history import known_scales, validation_split
from metacompose.metrics import horizon_errors

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.baselines import SUBSETS, build_cubes  # noqa: E402  (benchmarks/m3/baselines.py)

KNOTS = (1, 2)


def validation_error(knots: int, cubes: list, seed: int, timesteps: int) -> float:
    """Mean MASE at the validation origins of an agent with ``knots`` trained on the validation replays."""
    splits = [validation_split(c) for c in cubes]
    splits = [s for s in splits if s is not None]
    agent = get_agent("ppo", horizon_knots=knots, seed=seed, total_timesteps=timesteps).fit([s[0] for s in splits])
    errors = []
    for sub, actual, mask in splits:
        fc = agent.combine(sub)[:, -1]
        errors.append(horizon_errors(actual[mask], fc[mask], known_scales(sub)[mask, -1][:, None], "mase"))
    return float(np.nanmean(np.concatenate(errors)))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timesteps", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--cache", default=".metacompose-cache/m3")
    ap.add_argument("--out", default=str(PRETRAINED_PATH))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    cubes = [build_cubes(s, None, args.n_jobs, args.cache, args.seed, print)[0]["full"] for s in SUBSETS]
    scores = {k: validation_error(k, cubes, args.seed, args.timesteps) for k in KNOTS}
    knots = min(KNOTS, key=lambda k: (scores[k], k))
    print(f"validation MASE by knots: {scores}; chosen K = {knots}", flush=True)
    agent = get_agent("ppo", horizon_knots=knots, seed=args.seed, total_timesteps=args.timesteps).fit(cubes)
    path = agent.save(args.out)
    info = {"subsets": SUBSETS, "series": [int(c.shape[0]) for c in cubes], "models": list(cubes[0].models),
            "validation_mase_by_knots": {str(k): v for k, v in scores.items()}, "knots": knots,
            "timesteps": args.timesteps, "seed": args.seed, "guard_choice": list(agent.shrinkage_choice_.choice),
            "guard_p_value": agent.shrinkage_choice_.p_value,
            "seconds": round(time.perf_counter() - t0, 1)}
    Path(args.out).with_name("TRAINING.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote {path}; {info}")


if __name__ == "__main__":
    main()
