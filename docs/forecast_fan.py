"""Draw ``docs/forecast_fan.png``: a composed M3 monthly forecast with its 80% and 95% conformal fans.

The composer is fitted on the training parts of the first 60 M3 monthly series (a fast pool
and the inverse-error agent); the test part is only drawn, as black dots, for comparison.

    python docs/forecast_fan.py [--series N1402] [--out docs/forecast_fan.png]
"""

from __future__ import annotations

import argparse

from metacompose import Composer, load_m3
from metacompose.plot_style import finish_forecast_axes
from metacompose.plots import interval_bands, plot_forecast, save_figure


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", default=None, help="series id (default: the first)")
    ap.add_argument("--max-series", type=int, default=60)
    ap.add_argument("--out", default="docs/forecast_fan.png")
    args = ap.parse_args(argv)
    train, test, m, h = load_m3("monthly", max_series=args.max_series)
    comp = Composer(models=["ETS", "Theta", "SeasonalNaive", "Drift"], agent="inverse_error", horizon=h,
                    season_length=m, n_jobs=1).fit(train)
    fc = comp.predict(level=[80, 95])
    sid = args.series or comp.panel_.ids[0]
    rows = fc[fc["unique_id"] == sid]
    hist, future = train[train["unique_id"] == sid], test[test["unique_id"] == sid]
    fig = plot_forecast(hist["y"].to_numpy(), {a: rows[a].to_numpy() for a in comp.models}, rows["composed"].to_numpy(),
                        ds_history=hist["ds"].to_numpy(), ds_future=rows["ds"].to_numpy(), intervals=interval_bands(rows),
                        title=f"M3 monthly {sid}: composed forecast with 80% and 95% conformal fans")
    ax = fig.axes[0]
    ax.plot(future["ds"].to_numpy(), future["y"].to_numpy(), "o", color="black", markersize=3, label="test part (not used)")
    finish_forecast_axes(ax)  # the legend lists the test part, the y-range holds it
    print(f"wrote {save_figure(fig, args.out)}")


if __name__ == "__main__":
    main()
