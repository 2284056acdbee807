"""Lag windows for the global neural forecasters (:mod:`metacompose.models.neural`).

A global model learns one map ``last L values -> next h values`` from windows cut out of
every series of a panel, as in N-BEATS (Oreshkin et al. 2020, ICLR, §3 and appendix on
M3/M4 sampling). Helpers here:

* :func:`pad_left` repeats the first value so that short series still fill a window;
* :func:`training_windows` cuts ``(input, target)`` pairs at the most recent origins of each
  series (the target always lies on observed points, the input may be padded);
* :func:`forecast_inputs` builds the input window that ends at the last observation;
* :func:`window_scale` gives the per-window scale (mean absolute value of the input part);
* :func:`nonzero_rows` marks the windows that have such a scale (not all zeros);
* :func:`panel_windows` / :func:`owned_panel_windows` put these together for a panel (the latter
  also tells which series each training window comes from, :func:`window_owners`).

Everything is in the units of each series; the networks see the windows through a transform
(:mod:`metacompose.models.transforms`; by default ``window / scale``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["pad_left", "training_windows", "forecast_inputs", "window_scale", "CLIP", "clip_forecast", "nonzero_rows",
           "panel_windows", "owned_panel_windows", "window_owners"]


def pad_left(y: np.ndarray, length: int) -> np.ndarray:
    """Return ``y`` left-padded to at least ``length`` points by repeating ``y[0]``.

    Args:
        y: one series, shape ``(t,)`` with ``t >= 1``.
        length: wanted length; a longer ``y`` is returned unchanged.

    Returns:
        array of shape ``(max(t, length),)``, same dtype and units as ``y``.
    """
    missing = length - y.shape[0]
    if missing <= 0:
        return y
    return np.concatenate([np.full(missing, y[0], dtype=y.dtype), y])


def training_windows(
    ys: list[np.ndarray],
    input_length: int,
    h: int,
    per_series: int,
    min_input: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``(input, target)`` windows at the most recent origins of every series.

    For a series of ``t`` points the cut ``c`` (number of points before the target) runs
    from ``t - h`` down to ``max(min_input, t - h - per_series + 1)``: the target
    ``y[c:c+h]`` is always observed, the input ``y[c-L:c]`` is left-padded with ``y[0]``
    when ``c < L``. A series with ``t < min_input + h`` gives no window.

    Args:
        ys: series, each float64 ``(t_i,)``.
        input_length: ``L``, the number of input values.
        h: horizon, the number of target values.
        per_series: at most this many (the most recent) windows per series.
        min_input: fewest observed points an input window must hold.

    Returns:
        ``(X, Y)``: float64 arrays ``(N, L)`` and ``(N, h)`` in the units of each series.
    """
    xs, ts = [], []
    for y in ys:
        t = y.shape[0]
        last = t - h
        first = max(min_input, last - per_series + 1)
        if last < first:
            continue
        pad = max(0, input_length - first)
        yp = pad_left(y, t + pad)
        win = np.lib.stride_tricks.sliding_window_view(yp, input_length + h)
        starts = np.arange(first, last + 1) + pad - input_length
        sel = win[starts]
        xs.append(sel[:, :input_length])
        ts.append(sel[:, input_length:])
    if not xs:
        return np.zeros((0, input_length)), np.zeros((0, h))
    return np.concatenate(xs), np.concatenate(ts)


def forecast_inputs(ys: list[np.ndarray], input_length: int, min_length: int) -> tuple[np.ndarray, np.ndarray]:
    """The input window ending at the last observation of each series.

    Args:
        ys: series, each float64 ``(t_i,)``.
        input_length: ``L``.
        min_length: series shorter than this get a zero row and ``ok = False``.

    Returns:
        ``(X, ok)``: float64 ``(S, L)`` in the units of each series (left-padded with the
        first value where ``t_i < L``), and a bool mask ``(S,)`` of forecastable series.
    """
    X = np.zeros((len(ys), input_length))
    ok = np.zeros(len(ys), dtype=bool)
    for i, y in enumerate(ys):
        if y.shape[0] >= min_length:
            X[i] = pad_left(y, input_length)[-input_length:]
            ok[i] = True
    return X, ok


def window_scale(X: np.ndarray) -> np.ndarray:
    """Per-window scale: the mean absolute value of the input part.

    Only the input part is used, so the scale is known at forecast time. A window of zeros
    gets scale 1 (its values are left as they are).

    Args:
        X: input windows ``(N, L)``.

    Returns:
        positive array ``(N, 1)`` in the units of each series.
    """
    s = np.mean(np.abs(X), axis=1, keepdims=True)
    return np.where(s > 0, s, 1.0)


CLIP = 0.5
"""Default short-series guard of the global networks (MLP, LSTM, NBEATS), in input-window ranges
(:func:`clip_forecast`): the only value compared (0.5, 1, 2, unbounded) that kept both yearly tail
figures of every network no worse than ARIMA's on the M3 training parts
(``benchmarks/m3/neural_pool.py --part clip``)."""


def clip_forecast(pred: np.ndarray, x: np.ndarray, clip: float | None) -> np.ndarray:
    """Bound each forecast to ``last +- clip * (max - min)`` of its input window (the short-series guard).

    Args:
        pred: forecasts ``(S, h)``; x: their input windows ``(S, L)``, same units.
        clip: how many input ranges a forecast may move from the last value; None: no bound.

    Returns:
        array ``(S, h)`` (``pred`` itself when ``clip`` is None); a forecast from a constant window
        is that constant.
    """
    if clip is None:
        return pred
    last = x[:, -1:]
    bound = clip * (x.max(axis=1, keepdims=True) - x.min(axis=1, keepdims=True))
    return last + np.clip(pred - last, -bound, bound)


def nonzero_rows(X: np.ndarray) -> np.ndarray:
    """Rows of ``X`` with at least one non-zero value: the windows :func:`window_scale` can scale.

    An all-zero input window has mean absolute value 0; its scale 1 from :func:`window_scale`
    is an absolute number, not one in the units of the series, so the global models keep
    such windows out of training and forecast them as 0 (scale-equivariance,
    :mod:`metacompose.models.neural`).

    Args:
        X: input windows ``(N, L)``.

    Returns:
        bool array ``(N,)``.
    """
    return np.any(X != 0, axis=1)


def window_owners(ys: list[np.ndarray], input_length: int, h: int, per_series: int, min_input: int) -> np.ndarray:
    """The series of each window :func:`training_windows` cuts, in its row order.

    Args:
        ys, input_length, h, per_series, min_input: as :func:`training_windows`.

    Returns:
        int64 ``(N,)``: the index in ``ys`` of the series each training window comes from.
    """
    counts = []
    for y in ys:
        last = y.shape[0] - h
        counts.append(max(0, last - max(min_input, last - per_series + 1) + 1))
    return np.repeat(np.arange(len(ys), dtype=np.int64), counts)


def panel_windows(ys: list[np.ndarray], input_length: int, h: int, per_series: int,
                  min_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Everything a global network needs from a panel: training windows, forecast inputs, and the rows it cannot scale.

    All-zero input windows have no scale (:func:`nonzero_rows`): they are left out of training,
    and a series whose last input window is all zeros is forecast as 0 (the only
    scale-equivariant answer), not by the network.

    Args:
        ys: series, each float64 ``(t_i,)``; input_length: ``L``; h: horizon;
        per_series: at most this many (the most recent) training windows per series;
        min_length: fewest observed points of an input window, and of a series to forecast.

    Returns:
        ``(X, Y, Xf, ok, out)``: training windows float64 ``(N, L)`` and ``(N, h)`` (all-zero
        inputs removed); forecast inputs ``(S, L)``; bool ``(S,)``, the series the network
        forecasts; float64 ``(S, h)``, the forecasts decided without it (0 for an all-zero last
        window, NaN elsewhere, to be filled where ``ok``). All in the units of each series.
    """
    return owned_panel_windows(ys, input_length, h, per_series, min_length)[:5]


def owned_panel_windows(ys: list[np.ndarray], input_length: int, h: int, per_series: int, min_length: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`panel_windows`, plus the series each training window comes from (for per-series transforms).

    Returns:
        ``(X, Y, Xf, ok, out, owner)``: as :func:`panel_windows`, and int64 ``(N,)``, the index in
        ``ys`` of the series of each row of ``X`` (:func:`window_owners`, all-zero inputs removed).
    """
    X, Y = training_windows(ys, input_length, h, per_series, min_input=min_length)
    owner = window_owners(ys, input_length, h, per_series, min_length)
    keep = nonzero_rows(X)
    Xf, ok = forecast_inputs(ys, input_length, min_length)
    out = np.full((len(ys), h), np.nan)
    zero = ok & ~nonzero_rows(Xf)
    out[zero] = 0.0
    return X[keep], Y[keep], Xf, ok & ~zero, out, owner[keep]
