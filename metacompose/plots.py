"""Plots of what a composer did: a series with its forecasts, and the weights it used.

Built on matplotlib's object API (``matplotlib.figure.Figure`` with the Agg canvas), never
on ``pyplot``: nothing here changes the user's backend or global figure state, works
without a display and from worker threads. Needs the ``plot`` extra
(``pip install metacompose[plot]``).

Every ``plot_*`` function returns a :class:`~matplotlib.figure.Figure`; :func:`save_figure`
writes it as a PNG; :func:`write_composer_plots` writes the standard set for a fitted
:class:`~metacompose.composer.Composer` (what ``metacompose run --plots`` and
``metacompose forecast --plots DIR`` call).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from metacompose.errors import InputError, NotFittedError
from metacompose.plot_style import (
    COMPOSED_COLOR, OBSERVED_COLOR, as_x, finish_forecast_axes, model_color, place_legend,
)


def _figure(width: float = 8.0, height: float = 4.5):
    try:  # optional dependency (the plot extra): imported only when plotting
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("plots need matplotlib: pip install 'metacompose[plot]'") from exc
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as a PNG file (creating the folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")  # ids in scripts the font lacks
        fig.savefig(path, format="png")
    return path


def plot_forecast(
    y: Sequence[float] | None,
    forecasts: Mapping[str, Sequence[float]],
    composed: Sequence[float] | None = None,
    ds_history: Sequence | None = None,
    ds_future: Sequence | None = None,
    title: str | None = None,
    history: int | None = None,
    intervals: Mapping[float, tuple[Sequence[float], Sequence[float]]] | None = None,
):
    """One series: its recent history, each base model's forecast, the composed forecast and its fans.

    The axes hold, in this order, one line for the history (if ``y`` is given, black), one
    thin dashed line per base model (in its own colour, :func:`~metacompose.plot_style.model_color`,
    the same in every plot), and one thick line for the composed forecast (if given; a colour
    no model gets, drawn on top); each interval of ``intervals`` is a shaded band (a fan: the
    widest level palest) in ``ax.collections``, one per level, widest first. The forecast
    period is shaded grey (a patch). The legend sits right of the axes, datetimes get concise
    date ticks, the y axis has no offset and a nearly flat series is not blown up (see
    :mod:`metacompose.plot_style`; call :func:`~metacompose.plot_style.finish_forecast_axes`
    again after drawing more on the axes).

    Args:
        y: observed values ``(t,)``, oldest first (None: no history line).
        forecasts: model alias -> forecast ``(H,)``, in the units of ``y``.
        composed: the composed forecast ``(H,)``.
        ds_history: ``t`` timestamps of ``y`` (datetimes or numbers; default positions ``0..t-1``).
        ds_future: ``H`` timestamps of the forecasts (default positions ``t..t+H-1``).
        title: axes title.
        history: show only the last ``history`` observations (default: ``max(4 H, 24)``).
        intervals: level in percent -> ``(lo, hi)``, each ``(H,)`` (e.g. the composed
            forecast's conformal intervals); non-finite bounds are left out of the band.

    Returns:
        the figure (one axes).

    Raises:
        InputError: no forecast given, forecasts or bounds of different lengths, or
            timestamps that do not match ``y`` and the horizon (in number or kind).
    """
    if not forecasts and composed is None:
        raise InputError("plot_forecast needs at least one forecast")
    lengths = {len(v) for v in forecasts.values()} | ({len(composed)} if composed is not None else set())
    lengths |= {len(b) for pair in (intervals or {}).values() for b in pair}
    if len(lengths) != 1:
        raise InputError(f"forecasts must all have the same horizon, got lengths {sorted(lengths)}")
    H = lengths.pop()
    y = None if y is None else np.asarray(y, dtype=np.float64)
    t = 0 if y is None else y.shape[0]
    xs_hist, kind_h = as_x(ds_history) if ds_history is not None else (np.arange(t), "integer")
    xs_fut, kind = as_x(ds_future) if ds_future is not None else (np.arange(t, t + H), "integer")
    if len(xs_hist) != t or len(xs_fut) != H:
        raise InputError(f"need {t} history and {H} future time stamps, got {len(xs_hist)} and {len(xs_fut)}")
    if kind_h != kind and {kind_h, kind} != {"integer", "number"}:
        raise InputError(f"history and future time stamps must be of one kind, got {kind_h} and {kind}")
    keep = max(4 * H, 24) if history is None else int(history)
    fig = _figure(10.0, 4.5)
    ax = fig.add_subplot()
    shown = t > 0 and keep > 0
    if shown:
        ax.plot(xs_hist[-keep:], y[-keep:], color=OBSERVED_COLOR, linewidth=1.3, zorder=2.5, label="observed")
    ax.axvspan(xs_hist[-1] if shown else xs_fut[0], xs_fut[-1], color="0.95", linewidth=0, zorder=0)
    for alias, f in forecasts.items():
        ax.plot(xs_fut, np.asarray(f, dtype=np.float64), linestyle="--", linewidth=1.2, alpha=0.85,
                color=model_color(alias), zorder=2, label=alias)
    _draw_fans(ax, xs_fut, intervals or {})
    if composed is not None:
        ax.plot(xs_fut, np.asarray(composed, dtype=np.float64), color=COMPOSED_COLOR, linewidth=2.4, zorder=4,
                label="composed")
    ax.set_title(title or "forecast")
    ax.set_xlabel("time")
    ax.set_ylabel("value")
    ax.grid(True, color="0.85", linewidth=0.6)
    ax.set_axisbelow(True)
    finish_forecast_axes(ax, kind)
    return fig


def interval_bands(frame: pd.DataFrame, name: str = "composed") -> dict:
    """The intervals of forecast ``name`` in a forecast frame: ``{level: (lo, hi)}`` from its
    ``<name>-lo-<level>`` / ``<name>-hi-<level>`` columns (statsforecast's names); empty without them."""
    out = {}
    for col in frame.columns:
        m = re.fullmatch(re.escape(name) + r"-lo-(.+)", str(col))
        if m and f"{name}-hi-{m.group(1)}" in frame.columns:
            out[float(m.group(1))] = (frame[col].to_numpy(dtype=np.float64),
                                      frame[f"{name}-hi-{m.group(1)}"].to_numpy(dtype=np.float64))
    return out


def _draw_fans(ax, xs, intervals: Mapping) -> None:
    """Shade each ``level -> (lo, hi)`` band around the composed forecast, widest (palest) first."""
    levels = sorted(intervals, reverse=True)
    for i, level in enumerate(levels):
        lo, hi = (np.asarray(b, dtype=np.float64) for b in intervals[level])
        ok = np.isfinite(lo) & np.isfinite(hi)
        alpha = 0.14 + 0.16 * i / max(1, len(levels) - 1)
        ax.fill_between(xs, np.where(ok, lo, np.nan), np.where(ok, hi, np.nan), where=ok, color=COMPOSED_COLOR,
                        alpha=alpha, linewidth=0, zorder=1, label=f"composed {level:g}% interval")


def plot_weights_by_series(weights: np.ndarray, series_ids: Sequence, models: Sequence[str], title: str | None = None):
    """Heatmap of the weights at the final origin: one row per series, one column per model.

    Args:
        weights: ``(S, M)``, rows on the simplex.
        series_ids: ``S`` ids (row labels, shown when ``S <= 40``).
        models: ``M`` aliases (column labels).
        title: axes title.

    Returns:
        the figure; its first axes holds one image of shape ``(S, M)``, values in ``[0, 1]``.

    Raises:
        InputError: ``weights`` is not ``(S, M)`` matching the labels.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape != (len(series_ids), len(models)):
        raise InputError(f"weights must have shape ({len(series_ids)}, {len(models)}), got {w.shape}")
    S, M = w.shape
    fig = _figure(max(4.0, 1.1 * M + 2.5), min(14.0, max(3.0, 0.22 * S + 1.5)))
    ax = fig.add_subplot()
    im = ax.imshow(w, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks(range(M), list(models), rotation=45, ha="right")
    if S <= 40:
        ax.set_yticks(range(S), [str(s) for s in series_ids], fontsize="small")
    ax.set_xlabel("model")
    ax.set_ylabel("series")
    ax.set_title(title or "weights at the final origin")
    fig.colorbar(im, ax=ax, label="weight")
    return fig


def plot_weights_by_origin(weights: np.ndarray, models: Sequence[str], valid: np.ndarray | None = None,
                           title: str | None = None):
    """Mean weight of each model at each origin (over the series where the origin exists).

    Args:
        weights: ``(S, O, M)`` (e.g. ``agent.weights(cube)``) or ``(O, M)`` for one series.
        models: ``M`` aliases.
        valid: bool ``(S, O)``, origins that exist (e.g. ``cube.valid``); default all.
        title: axes title.

    Returns:
        the figure; its axes hold one line per model, ``O`` points each (the last is the
        final origin, the forecast's).

    Raises:
        InputError: shapes that do not match.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[2] != len(models):
        raise InputError(f"weights must have shape (S, O, {len(models)}) or (O, {len(models)}), got {np.shape(weights)}")
    S, O, M = w.shape
    v = np.ones((S, O), dtype=bool) if valid is None else np.asarray(valid, dtype=bool).reshape(S, O)
    cnt = v.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt[:, None] > 0, (w * v[:, :, None]).sum(axis=0) / np.maximum(cnt, 1)[:, None], np.nan)
    fig = _figure()
    ax = fig.add_subplot()
    xs = np.arange(O)
    for j, alias in enumerate(models):
        ax.plot(xs, mean[:, j], marker="o", color=model_color(alias), label=alias)
    ax.set_xticks(xs, [f"{k + 1}" for k in range(O - 1)] + ["final"])
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("origin (backtest origins in time order, then the final one)")
    ax.set_ylabel(f"mean weight over {S} series" if S > 1 else "weight")
    ax.set_title(title or "weights across origins")
    place_legend(ax)
    return fig


def safe_name(text: str, limit: int = 40) -> str:
    """``text`` reduced to ``[A-Za-z0-9._-]`` (other runs become ``_``) for a file name."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._")
    return out[:limit] or "series"


def composer_forecast_figure(comp, i: int, level=None, history: int | None = None, frame: pd.DataFrame | None = None):
    """The forecast plot of series ``i`` of a fitted (or loaded) composer, with real time stamps.

    The history is the series' values kept in ``comp.panel_`` (a loaded composer has them too,
    except one saved before values were saved: then only the forecasts are drawn), on the
    series' own time stamps (``panel_.timestamps(i)``); the forecasts are on ``panel_.future_ds(i, h)``.

    Args:
        comp: a fitted (or loaded) :class:`~metacompose.composer.Composer`.
        i: the series' position in ``comp.panel_.ids``.
        level: None, or interval level(s) in percent: the composed intervals are drawn as fans.
        history: how many observations to show (see :func:`plot_forecast`).
        frame: ``comp.predict(level=level)`` if already computed (saves predicting again).

    Returns:
        the figure.

    Raises:
        NotFittedError: the composer is not fitted.
        InputError: ``i`` out of range, or a level outside ``(0, 100)``.
    """
    if getattr(comp, "cube_", None) is None:
        raise NotFittedError("fit the composer before plotting it")
    panel, H = comp.panel_, comp.cube_.shape[3]
    if not 0 <= int(i) < len(panel.ids):
        raise InputError(f"series position {i} out of range: the composer has {len(panel.ids)} series")
    fc = comp.predict(level=level) if frame is None else frame
    rows = fc.iloc[i * H:(i + 1) * H]
    has_y = i < len(panel.values) and panel.values[i] is not None and len(panel.values[i]) > 0
    y = np.asarray(panel.values[i], dtype=np.float64) if has_y else None
    return plot_forecast(y, {a: rows[a].to_numpy() for a in comp.cube_.models}, rows["composed"].to_numpy(),
                         ds_history=panel.timestamps(i) if has_y else None, ds_future=panel.future_ds(i, H),
                         title=f"series {panel.ids[i]}", history=history, intervals=interval_bands(rows))


def write_composer_plots(comp, out_dir: str | Path, max_series: int = 6, prefix: str = "",
                         level=None, history: int | None = None) -> list[Path]:
    """Write the standard plots of a fitted composer as PNG files.

    Files (in ``out_dir``): ``<prefix>forecast_<k>_<id>.png`` for the first ``max_series``
    series (``k`` is the series' position, ``id`` its id made file-safe),
    ``<prefix>weights_by_series.png`` (heatmap at the final origin) and
    ``<prefix>weights_by_origin.png`` (mean weights across origins).

    Args:
        comp: a fitted (or loaded) :class:`~metacompose.composer.Composer`.
        out_dir: destination folder (created).
        max_series: how many series get a forecast plot (>= 0).
        prefix: prepended to every file name (e.g. ``"monthly_"``).
        level: None, or interval level(s) in percent (see ``Composer.predict``): the forecast
            plots then draw the composed intervals as fans.
        history: how many observations each forecast plot shows (default ``max(4 h, 24)``).

    Returns:
        the paths written, in the order above.

    Raises:
        NotFittedError: the composer is not fitted.
        InputError: a level outside ``(0, 100)``.
    """
    if getattr(comp, "cube_", None) is None:
        raise NotFittedError("fit the composer before plotting it")
    out = Path(out_dir)
    cube, panel = comp.cube_, comp.panel_
    fc = comp.predict(level=level)
    paths = []
    for i in range(min(max_series, len(panel.ids))):
        fig = composer_forecast_figure(comp, i, history=history, frame=fc)
        paths.append(save_figure(fig, out / f"{prefix}forecast_{i}_{safe_name(panel.ids[i])}.png"))
    paths.append(save_figure(plot_weights_by_series(comp.weights_, list(panel.ids), cube.models),
                             out / f"{prefix}weights_by_series.png"))
    w = np.asarray(comp.agent_.weights(cube), dtype=np.float64)
    paths.append(save_figure(plot_weights_by_origin(w, cube.models, cube.valid), out / f"{prefix}weights_by_origin.png"))
    return paths
