"""Ten real data sets through ``metacompose forecast``, as a new user runs it: time, members kept, the
weights' source, and the composed forecast against the best single member on a holdout.

Usage::

    python benchmarks/realdata/run.py [--only NAME ...] [--out benchmarks/realdata/out] [--results benchmarks/RESULTS.md]

Each data set (``datasets.py``) is written as a CSV of its training part and forecast by the command
line in a fresh process, with the default pool and agent, no ``-m`` (the season length is inferred
from the time stamps) and stderr not a terminal (so the progress comes as log lines, which are
counted). The holdout is never read by the run; it only scores the written forecasts: sMAPE in
percent (M3/M4 definition, :func:`metacompose.metrics.smape`), averaged over each data set's series.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from datasets import datasets  # noqa: E402
from results_file import write_section  # noqa: E402

from metacompose.metrics import smape  # noqa: E402


def run_one(name: str, train: pd.DataFrame, holdout: pd.DataFrame, h: int, out: Path) -> dict:
    """Forecast one data set through the command line and score it on the holdout."""
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    train.to_csv(folder / "train.csv", index=False)
    cmd = [sys.executable, "-m", "metacompose.cli", "forecast", str(folder / "train.csv"), "-H", str(h),
           "--out", str(folder / "forecasts.csv"), "--n-jobs", "2"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    (folder / "stdout.txt").write_text(proc.stdout)
    (folder / "stderr.txt").write_text(proc.stderr)
    row = {"data": name, "series": train.unique_id.nunique(), "h": h, "seconds": round(seconds, 1),
           "progress lines": sum(line.startswith("metacompose: ") for line in proc.stderr.splitlines()),
           "exit": proc.returncode}
    if proc.returncode != 0:
        return {**row, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?"}
    lines = proc.stdout.splitlines()
    row["m"] = _after(lines, "season length: ").split(" ")[0]
    row["kept"] = _after(lines, "members kept: ")
    row["weights"] = _after(lines, "weights: ").split(" (")[0]
    fc = pd.read_csv(folder / "forecasts.csv")
    scores = _holdout_smape(fc, holdout)
    members = [c for c in scores.index if c != "composed"]
    best = scores[members].idxmin()
    row.update({"composed sMAPE": round(scores["composed"], 2), "best member": best,
                "best sMAPE": round(scores[best], 2)})
    return row


def _after(lines: list, prefix: str) -> str:
    return next((line[len(prefix):] for line in lines if line.startswith(prefix)), "")


def _holdout_smape(fc: pd.DataFrame, holdout: pd.DataFrame) -> pd.Series:
    """sMAPE (percent) of every forecast column on the holdout, per series, then averaged over series."""
    methods = [c for c in fc.columns if c not in ("unique_id", "ds") and not c.startswith("weight_") and "-lo-" not in c
               and "-hi-" not in c]
    fc = fc.copy()
    fc["step"] = fc.groupby("unique_id").cumcount()
    ho = holdout.copy()
    ho["step"] = ho.groupby("unique_id").cumcount()
    fc["unique_id"], ho["unique_id"] = fc["unique_id"].astype(str), ho["unique_id"].astype(str)
    joined = fc.merge(ho[["unique_id", "step", "y"]], on=["unique_id", "step"])
    per_series = joined.groupby("unique_id").apply(
        lambda g: pd.Series({c: smape(g["y"].to_numpy(), g[c].to_numpy()) for c in methods}), include_groups=False)
    return per_series.mean()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", default=None, help="data set names (default: all ten)")
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--results", default=None, help="also write the table into this RESULTS.md section")
    args = p.parse_args(argv)
    out = Path(args.out)
    rows = []
    for name, train, holdout, h in datasets():
        if args.only and name not in args.only:
            continue
        row = run_one(name, train, holdout, h, out)
        rows.append(row)
        print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows).set_index("data")
    text = table.to_string()
    print(text)
    (out / "table.txt").write_text(text + "\n")
    if args.results:
        write_section(Path(args.results), "realdata", _section(text, args))
    return 0


def _section(text: str, args) -> str:
    return ("## Real data: ten data sets that are not M3, through `metacompose forecast`\n\n"
            f"Command: `python benchmarks/realdata/run.py{' --only ' + ' '.join(args.only) if args.only else ''} "
            f"--results benchmarks/RESULTS.md` ({time.strftime('%Y-%m-%d')}); default pool and agent, no `-m`, "
            "`--n-jobs 2`, 2 cores. sMAPE in percent on the holdout (the competition's test part, else the last "
            "`h` observations), averaged over the series; `seconds` is the whole command's wall time; `progress "
            "lines` counts the log lines on stderr (not a terminal).\n\n```\n" + text + "\n```\n")


if __name__ == "__main__":
    sys.exit(main())
