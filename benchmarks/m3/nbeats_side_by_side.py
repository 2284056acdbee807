"""N-BEATS side by side on M3 monthly: metacompose's own NBEATS against neuralforecast's (issue 13, part 4).

Both sides are one generic N-BEATS network (no ensemble) trained on the whole panel with matched
settings as far as they map: lookback ``L = k h`` (ours ``lookbacks=[k]``, neuralforecast
``input_size``), ``blocks`` generic blocks of ``layers`` ReLU layers of ``width`` units (ours
``blocks``/``layers``/``width``; neuralforecast ``stack_types=["identity"]``, ``n_blocks=[blocks]``,
``mlp_units=[[width, width]] * (layers - 1)``, its first layer being the input layer), the same
number of Adam steps (ours ``steps``, neuralforecast ``max_steps``), windows per step (ours
``batch_size``, neuralforecast ``windows_batch_size``), learning rate with the same linear decay to
0 (neuralforecast ``lr_scheduler=LambdaLR``), sMAPE loss (neuralforecast ``losses.pytorch.SMAPE``),
seed, and one torch thread (``torch.set_num_threads(1)``). neuralforecast runs through
:class:`metacompose.adapters.NeuralForecastModel` (each series divided by its mean absolute value,
``scaler_type="identity"``); ours through ``fit_panel``/``predict_panel``.

What does not map, left at each library's own choice: ours draws each step's windows from the
``10 h`` most recent fully observed windows of every series, scales each window by the mean absolute
value of its input, feeds the network the window minus its last value and clips forecasts to
``clip`` input ranges of the last value (its value is in the settings line); neuralforecast samples ``--nf-series-batch`` series per step (its
``batch_size``, default 32) and then the windows from all their windows (targets may be partly
beyond the end, masked), and, because with the default ``k = 2`` 320 of the 1428 monthly
validation series (30 points) are shorter than ``L = 36``, runs with ``start_padding_enabled=True``
(zeros before the start; ours pads with the first value) so that both sides forecast every series
(``--nf-start-padding off`` turns it off; with ``--lookback 1`` no series is too short).

Choice rule (the M3 test part is never used for choosing): each side is scored on a validation
split inside the training part -- fit on every training series minus its last ``h`` values, score
those ``h`` values (sMAPE in percent, M3 definition; MASE with the seasonal-naive scale, lag 12, of
the shortened series; :mod:`metacompose.metrics`). The test-part scores (fit on the whole training
part, scored on the M3 test part, MASE scale of the whole training part) are reported only. CPU
seconds are ``time.process_time()`` around one fit and predict (the machine's 2 cores are shared
with other jobs, so wall time is not comparable). A series a side cannot forecast (a NaN row) gets
the seasonal-naive forecast, and is counted.

    python benchmarks/m3/nbeats_side_by_side.py [--steps 200 400 800] [--lookback 2] [--max-series N]
"""

from __future__ import annotations

import argparse
import datetime
import functools
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from metacompose.adapters import NeuralForecastModel
from metacompose.data import load_m3
from metacompose.metrics import mase, mase_scale, smape
from metacompose.models import NBEATS, SeasonalNaive

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from m3.run import markdown  # noqa: E402  (benchmarks/m3/run.py)
from results_file import RunLog, write_section  # noqa: E402


def linear_decay(step: int, steps: int) -> float:
    """The learning-rate factor ``1 - step / steps`` of metacompose's training loop, for ``LambdaLR``."""
    return max(0.0, 1.0 - step / steps)


def ours(args, m: int, h: int, steps: int) -> NBEATS:
    """metacompose's NBEATS: one generic member, lookback ``k h``, sMAPE loss, exactly ``steps`` steps.

    ``epochs`` is lifted from its default 20 passes over the training windows, which would stop the
    3200-step budget at 1683 steps on the validation split (86166 windows) and 2185 on the test split.
    """
    return NBEATS(season_length=m, horizon=h, stack="generic", lookbacks=[args.lookback], losses=["smape"],
                  ensemble_size=1, blocks=args.blocks, layers=args.layers, width=args.width, steps=steps,
                  epochs=1e9, batch_size=args.batch_size, lr=args.lr, random_state=args.seed, num_threads=1,
                  **({} if args.clip is None else {"clip": args.clip}))


def theirs(args, m: int, h: int, steps: int) -> NeuralForecastModel:
    """neuralforecast's NBEATS with the settings of :func:`ours` where they map (module docstring)."""
    from neuralforecast.losses.pytorch import SMAPE
    from neuralforecast.models import NBEATS as NFNBEATS

    net = NFNBEATS(h=h, input_size=args.lookback * h, stack_types=["identity"], n_blocks=[args.blocks],
                   mlp_units=[[args.width, args.width]] * (args.layers - 1), loss=SMAPE(), valid_loss=SMAPE(),
                   max_steps=steps, learning_rate=args.lr, windows_batch_size=args.batch_size,
                   batch_size=args.nf_series_batch, random_seed=args.seed, scaler_type="identity",
                   start_padding_enabled=args.nf_start_padding == "on", lr_scheduler=torch.optim.lr_scheduler.LambdaLR,
                   lr_scheduler_kwargs={"lr_lambda": functools.partial(linear_decay, steps=steps)})
    return NeuralForecastModel(net, season_length=m, alias="neuralforecast NBEATS")


def forecast(model, ys: list[np.ndarray], h: int, m: int) -> tuple[np.ndarray, float, int]:
    """Fit ``model`` (a clone) on the panel and forecast ``h`` steps.

    Returns:
        ``(forecasts (S, h), CPU seconds of fit + predict, NaN rows replaced by seasonal naive)``.
    """
    t0 = time.process_time()
    out = model.clone().fit_panel(ys).predict_panel(h)
    cpu = time.process_time() - t0
    bad = np.flatnonzero(~np.all(np.isfinite(out), axis=1))
    for i in bad:
        out[i] = SeasonalNaive(season_length=m).fit(ys[i]).predict(h)
    return out, cpu, len(bad)


def scores(actual: np.ndarray, fc: np.ndarray, scale: np.ndarray) -> tuple[float, float]:
    """``(sMAPE, MASE)`` over every series and step (``actual``/``fc`` ``(S, h)``, ``scale`` ``(S,)``)."""
    return float(smape(actual, fc)), float(mase(actual, fc, scale[:, None]))


def splits(subset: str, max_series: int | None) -> tuple[dict, int, int]:
    """The validation and test splits: per split ``(training series, actuals (S, h), MASE scales (S,))``."""
    train, test, m, h = load_m3(subset, max_series)
    ys = [g["y"].to_numpy(np.float64) for _, g in train.groupby("unique_id", sort=False)]
    actual = np.stack([g["y"].to_numpy(np.float64) for _, g in test.groupby("unique_id", sort=False)])
    short = [y[:-h] for y in ys]
    return {"val": (short, np.stack([y[-h:] for y in ys]), np.array([mase_scale(y, m) for y in short])),
            "test": (ys, actual, np.array([mase_scale(y, m) for y in ys]))}, m, h


def run(args, echo) -> pd.DataFrame:
    """Every side at every step budget, on both splits; one row per (side, steps).

    Each side first fits once, untimed, on 20 series for 2 steps, so that no measured fit pays for
    imports or first-call set-up.
    """
    data, m, h = splits("monthly", args.max_series)
    echo(f"M3 monthly: {len(data['test'][0])} series, h = {h}, m = {m}, L = {args.lookback * h}")
    for make in (ours, theirs):
        forecast(make(args, m, h, 2), data["test"][0][:20], h, m)
    rows = []
    for steps in args.steps:
        for side, make in (("metacompose NBEATS", ours), ("neuralforecast NBEATS", theirs)):
            row = {"side": side, "steps": steps}
            for split, (ys, actual, scale) in data.items():
                fc, cpu, filled = forecast(make(args, m, h, steps), ys, h, m)
                s, q = scores(actual, fc, scale)
                row.update({f"{split} sMAPE": round(s, 3), f"{split} MASE": round(q, 3),
                            f"{split} CPU s": round(cpu, 1), f"{split} filled": filled})
                echo(f"{side}, {steps} steps, {split}: sMAPE {s:.3f} MASE {q:.3f}, {cpu:.1f} CPU s, "
                     f"{filled} series filled by seasonal naive")
            rows.append(row)
    return pd.DataFrame(rows)


def verdict(table: pd.DataFrame) -> str:
    """The choice on the validation split only: per budget the lower validation sMAPE, and each side's best."""
    lines = []
    for steps, g in table.groupby("steps", sort=True):
        best = g.loc[g["val sMAPE"].idxmin()]
        each = ", ".join(f"{side} {s:.3f}" for side, s in zip(g["side"], g["val sMAPE"]))
        lines.append(f"- {steps} steps: lower validation sMAPE: **{best['side']}** ({each})")
    for side, g in table.groupby("side", sort=False):
        b = g.loc[g["val sMAPE"].idxmin()]
        lines.append(f"- {side}: best validation sMAPE {b['val sMAPE']:.3f} at {b['steps']} steps "
                     f"({b['val CPU s']:.1f} CPU s for that fit)")
    return "\n".join(lines)


def machine_note() -> str:
    """Versions and hardware in one line."""
    import neuralforecast

    return (f"{platform.machine()}, {os.cpu_count()} cores shared with another job, "
            f"Python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} thread), "
            f"neuralforecast {neuralforecast.__version__}")


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[200, 400, 800], help="optimizer step budgets")
    ap.add_argument("--lookback", type=int, default=2, help="k: lookback L = k h")
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=1024, help="windows per step (both sides)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--nf-series-batch", type=int, default=32, help="neuralforecast batch_size: series per step")
    ap.add_argument("--nf-start-padding", choices=["on", "off"], default="on",
                    help="neuralforecast start_padding_enabled (off: series shorter than L get seasonal naive)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clip", type=float, default=None,
                    help="our forecast clip in input ranges (default: NBEATS's default; recorded in the results)")
    ap.add_argument("--max-series", type=int, default=None, help="the first N monthly series (both sides)")
    ap.add_argument("--results", default="benchmarks/m3/nbeats_side_by_side_results.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    import neuralforecast  # noqa: F401  (its import sets lightning's loggers to INFO; quiet them after it)

    logging.getLogger("lightning_fabric").setLevel(logging.WARNING)  # "Seed set to" at each model's construction
    echo = RunLog()
    t0 = time.perf_counter()
    table = run(args, echo)
    shown = table[["side", "steps", "val sMAPE", "val MASE", "test sMAPE", "test MASE", "val CPU s", "test CPU s",
                   "val filled", "test filled"]].set_index("side").astype(object)
    print(markdown(shown))
    given = argv if argv is not None else sys.argv[1:]
    cmd = ("python benchmarks/m3/nbeats_side_by_side.py " + " ".join(given)).strip()
    notes = "\n\n".join(n.strip() for n in __doc__.split("\n\n")[1:4])
    subset = "all 1428 series" if args.max_series is None else f"the first {args.max_series} series"
    text = (f"## N-BEATS side by side: metacompose vs neuralforecast, M3 monthly "
            f"(L = {args.lookback} h; neuralforecast: {args.nf_series_batch} series per step, start padding "
            f"{args.nf_start_padding})\n\n"
            f"Command: `{cmd}` ({datetime.date.today().isoformat()}; {subset}; wall time "
            f"{time.perf_counter() - t0:.0f} s). Machine: {machine_note()}.\n\n{notes}\n\n"
            f"Settings: L = {args.lookback} h, {args.blocks} blocks x {args.layers} layers x {args.width} units, "
            f"{args.batch_size} windows per step, lr {args.lr:g} (linear decay to 0), seed {args.seed}; our "
            f"forecast clip {ours(args, 1, 1, 1).clip} input ranges.\n\n"
            "Columns: `val *`: validation split (last h of each training part; the choice), `test *`: M3 test "
            "part (**reporting only**), `CPU s`: process CPU seconds of that fit + predict, `filled`: series "
            f"forecast by seasonal naive instead.\n\n{markdown(shown)}\n\n"
            f"Choice (validation only):\n\n{verdict(table)}\n\n### Run log\n\n```\n"
            + "\n".join(echo.lines) + "\n```\n")
    name = "nbeats_side_by_side" + ("" if args.nf_series_batch == 32 else f"_nf_series_batch{args.nf_series_batch}") \
        + ("" if args.lookback == 2 else f"_lookback{args.lookback}") \
        + ("" if args.nf_start_padding == "on" else "_nf_no_start_padding")
    write_section(args.results, name, text)
    return table


if __name__ == "__main__":
    main()
