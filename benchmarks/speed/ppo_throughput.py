"""PPO training throughput and composed accuracy, before and after the vectorised environment.

Backtests a cheap pool on an M3 subset once (cached with ``--cache-dir``), then trains
:class:`~metacompose.agents.PPOAgent` under each setting, in the same run:

* ``before``: the agent's former defaults: 30,000 steps, one ``EnsembleWeightsEnv`` in
  stable-baselines3's ``DummyVecEnv`` (``vec_env="dummy"``, ``n_envs=1``), ``n_steps=512``,
  ``batch_size=128``, ``n_epochs=10``, ``learning_rate=3e-4``;
* ``after``: the current defaults (``CubeVecEnv``, 64 episodes at once, large batches);
* ``after+early-stop``: the same with early stopping (patience 3, a score every 10,000 steps).

Throughput is ``timesteps / wall time of PPO.learn``. Accuracy is the composed forecast at
the final origin scored on the M3 test part: sMAPE (percent, M3/M4 definition) and MASE
(Hyndman & Koehler 2006, lag ``m``), with EqualWeights and BestSingle for reference.

Usage::

    python benchmarks/speed/ppo_throughput.py --subset other --seeds 0 1 2 --cache-dir .cache/speed
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from metacompose.agents import BestSingle, EqualWeights, PPOAgent
from metacompose.backtest import backtest
from metacompose.data import load_m3, validate_frame
from metacompose.evaluate import score, test_matrix
from metacompose.models import build_pool

BEFORE = {"total_timesteps": 30_000, "vec_env": "dummy", "n_envs": 1, "n_steps": 512, "batch_size": 128,
          "n_epochs": 10, "learning_rate": 3e-4}
SETTINGS = {"before": BEFORE, "after": {}, "after+early-stop": {"early_stopping_patience": 3}}


def main(argv=None) -> dict:
    """Run the comparison; print one line per setting and seed, then the means.

    Args:
        argv: command-line arguments (None: ``sys.argv``).

    Returns:
        ``{setting: {"steps_per_s", "sMAPE", "MASE", "seconds", "timesteps"}}`` (means over seeds).
    """
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", default="other")
    ap.add_argument("--max-series", type=int, default=None)
    ap.add_argument("--models", nargs="+", default=["Naive", "SeasonalNaive", "Theta", "ETS"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--cache-dir", default=".cache/speed")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    train, test, m, h = load_m3(args.subset, args.max_series)
    panel = validate_frame(train, "unique_id", "ds", "y")
    t0 = time.perf_counter()
    cube, report = backtest(panel.values, build_pool(args.models, m), h, m, ids=panel.ids, n_jobs=args.n_jobs,
                            cache_dir=args.cache_dir)
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}; "
          f"M3 {args.subset}: cube {cube.shape} in {time.perf_counter() - t0:.1f} s "
          f"({report.cached_chunks} cached chunks); pool {args.models}")
    actual = test_matrix(test, cube.series_ids, h)
    for ref in (EqualWeights(), BestSingle()):
        s = score(ref.fit(cube).combine(cube)[:, -1], actual, cube.scales)
        print(f"{type(ref).__name__:>18}: sMAPE {s['sMAPE']:.3f}  MASE {s['MASE']:.3f}")
    rows: dict[str, list] = {k: [] for k in args.settings}
    for seed in args.seeds:
        for name in args.settings:
            agent = PPOAgent(seed=seed, **SETTINGS[name]).fit(cube)
            s = score(agent.combine(cube)[:, -1], actual, cube.scales)
            rate = agent.timesteps_ / agent.learn_seconds_
            rows[name].append((rate, s["sMAPE"], s["MASE"], agent.learn_seconds_, agent.timesteps_))
            print(f"{name:>18} seed {seed}: {agent.timesteps_:>7} steps in {agent.learn_seconds_:6.1f} s = "
                  f"{rate:8.0f} steps/s; sMAPE {s['sMAPE']:.3f}  MASE {s['MASE']:.3f}", flush=True)
    out = {}
    print("means over seeds", args.seeds)
    for name, r in rows.items():
        a = np.mean(np.array(r), axis=0)
        out[name] = dict(zip(("steps_per_s", "sMAPE", "MASE", "seconds", "timesteps"), map(float, a)))
        print(f"{name:>18}: {a[0]:8.0f} steps/s  sMAPE {a[1]:.3f}  MASE {a[2]:.3f}  ({a[3]:.1f} s, {a[4]:.0f} steps)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
