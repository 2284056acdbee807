"""The look shared by the plots of :mod:`metacompose.plots`: colours, axes and legends.

* **Colours** depend only on a model's alias: the built-in models have fixed colours
  (:data:`MODEL_COLORS`), any other alias is hashed (MD5 of its UTF-8 bytes, never Python's
  salted ``hash``) into :data:`OTHER_COLORS`, so a model has the same colour in every plot,
  run and process, whatever the pool and its order. The composed forecast alone is drawn in
  :data:`COMPOSED_COLOR`, the observed history in :data:`OBSERVED_COLOR`; no member gets either.
* **Axes**: datetimes get matplotlib's ``AutoDateLocator`` with a ``ConciseDateFormatter``
  (readable from yearly to sub-hourly data), integer time stamps integer ticks; the value
  axis never uses an offset (``1e-4 + 1.0001e3``), and a nearly flat series is drawn in a
  y-range of at least :data:`MIN_REL_SPAN` of its level, so tiny wiggles do not fill the plot.
* **Legends** sit to the right of the axes, outside the data area, so they never cover a line.

Needs matplotlib (the ``plot`` extra); it is imported only inside the functions.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import pandas as pd

#: Fixed colours of the built-in models (matplotlib's tab10 without its red, which is the composed line's).
MODEL_COLORS: dict[str, str] = {
    "ARIMA": "#1f77b4",          # blue
    "ETS": "#ff7f0e",            # orange
    "Theta": "#2ca02c",          # green
    "MLP": "#9467bd",            # purple
    "LSTM": "#8c564b",           # brown
    "Naive": "#7f7f7f",          # grey
    "SeasonalNaive": "#bcbd22",  # olive
    "Drift": "#17becf",          # cyan
    "NBEATS": "#e377c2",         # pink
}
#: Colours for any other alias (matplotlib's tab20b/tab20c, reds left out), chosen by a hash of the alias.
OTHER_COLORS: tuple[str, ...] = (
    "#393b79", "#5254a3", "#637939", "#8ca252", "#8c6d31", "#bd9e39",
    "#7b4173", "#a55194", "#3182bd", "#31a354", "#756bb1", "#636363",
)
#: The composed forecast and its interval fans (no member gets it).
COMPOSED_COLOR = "#c8102e"
#: The observed history.
OBSERVED_COLOR = "#000000"
#: Day ticks carry the weekday when the plotted data span at most this many days.
WEEKDAY_SPAN_DAYS = 31
#: A y-range spans at least this fraction of the largest absolute value shown.
MIN_REL_SPAN = 0.01


def model_color(alias: str) -> str:
    """The colour of model ``alias`` (a hex string), the same in every plot, run and process.

    Args:
        alias: the model's alias, e.g. ``"ETS"``.

    Returns:
        its fixed colour if it is a built-in model, else a colour of :data:`OTHER_COLORS`
        chosen by the MD5 digest of the alias.
    """
    alias = str(alias)
    if alias in MODEL_COLORS:
        return MODEL_COLORS[alias]
    digest = hashlib.md5(alias.encode("utf-8")).digest()
    return OTHER_COLORS[int.from_bytes(digest[:4], "big") % len(OTHER_COLORS)]


def as_x(values: Sequence | None) -> tuple[np.ndarray | None, str]:
    """Time stamps as an array matplotlib can plot, and their kind.

    Args:
        values: datetimes (timezone-aware ones are shown as local wall-clock time), numbers, or None.

    Returns:
        ``(array, kind)``: ``kind`` is ``"datetime"`` (``datetime64[ns]``), ``"integer"`` or
        ``"number"``; ``(None, "none")`` for None.
    """
    if values is None:
        return None, "none"
    if isinstance(values, pd.DatetimeIndex):
        idx = values
    else:
        arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
        if arr.dtype.kind in "iu":
            return arr.astype(np.int64), "integer"
        if arr.dtype.kind == "f":
            return arr, "number"
        idx = pd.DatetimeIndex(pd.to_datetime(arr))
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx.to_numpy(dtype="datetime64[ns]"), "datetime"


def format_time_axis(ax, kind: str) -> None:
    """Readable ticks on the x axis for time stamps of ``kind`` (see :func:`as_x`).

    Datetimes: ``AutoDateLocator`` and ``ConciseDateFormatter`` (e.g. years and months for
    monthly data, days and hours for half-hourly data; the year and month that the ticks
    leave out are written at the axis' end). When the data span at most
    :data:`WEEKDAY_SPAN_DAYS` days, day ticks carry the weekday ("Mon 05"), which matters
    for daily and sub-daily series. Integers: integer ticks, no offset.

    Args:
        ax: the axes.
        kind: ``"datetime"``, ``"integer"``, ``"number"`` or ``"none"``.
    """
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    if kind == "datetime":
        locator = AutoDateLocator(minticks=4, maxticks=10)
        ax.xaxis.set_major_locator(locator)
        x0, x1 = ax.dataLim.intervalx  # matplotlib's date units: days
        if np.isfinite(x0) and np.isfinite(x1) and x1 - x0 <= WEEKDAY_SPAN_DAYS:  # day ticks read "Mon 05"
            formats = ["%Y", "%b", "%a %d", "%H:%M", "%H:%M", "%S.%f"]
            zero_formats = ["", "%Y", "%b", "%a %d", "%H:%M", "%H:%M"]
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, formats=formats, zero_formats=zero_formats))
        else:
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        return
    if kind in ("integer", "none"):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fmt = ScalarFormatter(useOffset=False)
    fmt.set_scientific(False)
    ax.xaxis.set_major_formatter(fmt)


def format_value_axis(ax, min_rel_span: float = MIN_REL_SPAN) -> None:
    """No offset on the y axis, and a y-range of at least ``min_rel_span`` of the level shown.

    Uses what the axes hold now (``ax.dataLim``), so call it again after drawing more.

    Args:
        ax: the axes.
        min_rel_span: the smallest y-range, as a fraction of the largest absolute y value.
    """
    from matplotlib.ticker import ScalarFormatter

    fmt = ScalarFormatter(useOffset=False)
    fmt.set_powerlimits((-4, 7))  # plain numbers from 0.0001 to 10 million; beyond, a power of ten
    ax.yaxis.set_major_formatter(fmt)
    ax.set_autoscaley_on(True)
    ax.autoscale_view(scalex=False, scaley=True)
    lo, hi = ax.dataLim.intervaly
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return
    need = min_rel_span * max(abs(lo), abs(hi))
    if need > 0 and hi - lo < need:
        mid = 0.5 * (lo + hi)
        ax.set_ylim(mid - 0.5 * need, mid + 0.5 * need)


def place_legend(ax, fontsize: str = "small"):
    """Put the legend of ``ax`` to the right of its data area (outside it), one entry per row.

    Args:
        ax: the axes; its labelled artists form the legend.
        fontsize: the legend's font size.

    Returns:
        the legend, or None when nothing is labelled.
    """
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                     fontsize=fontsize, frameon=False)


def finish_forecast_axes(ax, kind: str | None = None) -> None:
    """Apply the time axis, value axis and legend rules above to a forecast plot.

    Call it again after adding artists to a figure from :func:`metacompose.plots.plot_forecast`
    (e.g. the test part of a series), so the legend lists them and the y-range holds them.

    Args:
        ax: the axes.
        kind: the kind of its time stamps (see :func:`as_x`); None leaves the time axis as it is.
    """
    if kind is not None:
        format_time_axis(ax, kind)
    format_value_axis(ax)
    place_legend(ax)
