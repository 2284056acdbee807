"""Simple robust combinations: the trimmed mean of the pool, and equal weights after dropping the worst members.

* :class:`TrimmedMean`: per horizon step, the mean of the members' forecasts after dropping the
  lowest and highest ``trim`` share of them. Trimmed (and winsorised) means of forecasts are
  more robust than the plain mean to one member going astray and are often as accurate as
  the best combinations (Jose & Winkler 2008, "Simple robust averages of forecasts: some
  empirical results", IJF 24(1), 163-169, where trimming 10-30% did well; Petropoulos &
  Svetunkov 2020, "A simple combination of univariate models", IJF 36(1), 110-115, the
  median-based SCUM combination for M4).
* :class:`DropWorst`: equal weights over the members whose past backtest error, known at the
  origin, is not among the worst ``k`` -- the "trimming" of poor forecasters before averaging
  (Timmermann 2006, "Forecast combinations", Handbook of Economic Forecasting 1, ch. 4,
  section 7; Aiolfi & Timmermann 2006, "Persistence in forecasting performance and conditional
  combination strategies", J. Econometrics 135, 31-53; Kourentzes, Barrow & Petropoulos 2019,
  "Another look at forecast selection and combination: evidence from forecast pooling",
  IJPE 209, 226-235).

Neither learns anything in ``fit``; both use, at origin ``k``, only what is known there
(:mod:`metacompose.history`).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from metacompose.agents.base import CompositionAgent, check_cube
from metacompose.history import past_error_table
from metacompose.checks import check_choice, check_number, check_optional_int
from metacompose.cube import ForecastCube
from metacompose.errors import InputError
from metacompose.metrics import check_metric


def _check_trim(value: Any, name: str) -> float:
    """A trimming share in ``[0, 0.5)``."""
    v = check_number(value, name, low=0.0, high=0.5)
    if v >= 0.5:
        raise InputError(f"{name} must lie in [0, 0.5) (a share trimmed at each end), got {value!r}")
    return v


def trimmed_step_weights(forecasts: np.ndarray, trim: float) -> np.ndarray:
    """Weights per horizon step that make the trimmed mean of the finite forecasts.

    At each ``(s, o, h)`` the ``n`` finite forecasts are ranked; the lowest and the highest
    ``c = floor(trim * n)`` are dropped (``scipy.stats.trim_mean``'s rounding; ties broken by
    model order, which does not change the mean) and each remaining one gets ``1 / (n - 2c)``.

    Args:
        forecasts: ``(..., M, H)``.
        trim: share trimmed at each end, in ``[0, 0.5)``.

    Returns:
        float64 ``(..., M, H)``: non-negative, summing to 1 over the model axis where at least
        one forecast is finite, all 0 where none is.
    """
    f = np.asarray(forecasts, dtype=np.float64)
    fin = np.isfinite(f)
    n = fin.sum(axis=-2, keepdims=True)                                   # (..., 1, H)
    cut = np.floor(trim * n + 1e-9)
    order = np.argsort(np.where(fin, f, np.inf), axis=-2, kind="stable")
    rank = np.argsort(order, axis=-2, kind="stable")                      # rank of each model per step
    keep = fin & (rank >= cut) & (rank < n - cut)
    kept = keep.sum(axis=-2, keepdims=True)
    return np.where(keep, 1.0 / np.maximum(kept, 1), 0.0)


class TrimmedMean(CompositionAgent):
    """The trimmed mean of the pool's forecasts, step by step (the mean with ``trim=0``).

    ``combine`` returns the exact trimmed mean over models at every ``(series, origin, step)``
    (NaN forecasts left out; see :func:`trimmed_step_weights` for the rounding). Which members
    are trimmed changes from step to step, so no single weight vector reproduces it:
    ``weights`` describes it as the per-step weights averaged over the horizon (the share of
    the horizon each model spends inside the trimmed set, each step's kept members sharing
    that step equally), so the rows are on the simplex but ``weights @ forecasts`` is not the
    trimmed mean in general -- as for :class:`~metacompose.agents.baselines.Median`.

    Args:
        trim: share of the members dropped at each end, in ``[0, 0.5)``; with ``M`` members,
            ``floor(trim * M)`` are dropped at each end (0.2 and five to nine members: one at
            each end; with four members 0.2 drops none, 0.25 drops one).

    Raises:
        InputError: ``trim`` outside ``[0, 0.5)``.
    """

    name = "trimmed_mean"
    param_checks = {"trim": _check_trim}

    def __init__(self, trim: float = 0.2) -> None:
        self._set_params(locals())

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, M)``: the per-step trimmed-mean weights averaged over the horizon steps
        that have a finite forecast; equal rows where none has (an origin that does not exist)."""
        check_cube(cube)
        step = trimmed_step_weights(cube.forecasts, self.trim)               # (S, O, M, H)
        steps = (step.sum(axis=2) > 0).sum(axis=2)[..., None]                # (S, O, 1)
        M = cube.shape[2]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(steps > 0, step.sum(axis=3) / np.maximum(steps, 1), 1.0 / M)

    def combine(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, H)``: the trimmed mean over models; NaN where no forecast is finite."""
        check_cube(cube)
        f = cube.forecasts.astype(np.float64)
        step = trimmed_step_weights(f, self.trim)
        total = np.where(step > 0, f, 0.0) * step
        return np.where(step.sum(axis=2) > 0, total.sum(axis=2), np.nan)


def _check_drop(value: Any, name: str) -> int | float | None:
    """None, a count ``>= 1`` of members, or a share in ``(0, 1)``."""
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value >= 1:
            return int(value)
    elif isinstance(value, (float, np.floating)) and 0.0 < float(value) < 1.0:
        return float(value)
    raise InputError(f"{name} must be None, a count of members >= 1 or a share in (0, 1), got {value!r}")


class DropWorst(CompositionAgent):
    """Equal weights over the members whose past error is not among the worst ``k``.

    The rule, at origin ``k`` of series ``s``:

    1. each model's past error is its mean error (``metric``) over the steps of past backtest
       forecasts known at that origin (:func:`metacompose.history.past_error_table`,
       the rule of :mod:`metacompose.history`), over the last ``history`` past origins (None: all);
    2. with ``scope="panel"`` (default), the error that ranks the models is the mean of those
       per-series errors over every series of the panel at the same origin index ``k``, each
       series counting what is known at its own origin ``k`` (a panel-wide ranking: steadier
       than one series' few past forecasts; nothing past any series' cut-off enters, and at the
       final origin nothing past the training data). With ``scope="series"``, the series'
       own past errors alone rank the models;
    3. the ``d`` worst-ranked models are dropped and the others share the weight equally:
       ``d = k`` for a count, ``floor(k * M)`` for a share, ``floor(M / 2)`` for None (keep the
       better half), and never more than ``M - 1``. A model without any known error ranks
       below every model with one; ties keep the model listed first.

    Where the ranking knows no error yet (the first origin: of the series with
    ``scope="series"``, of every series with ``scope="panel"``) or the origin does not exist,
    the weights are equal.

    Args:
        k: how many members to drop: a count (``>= 1``), a share of the pool in ``(0, 1)``, or
            None (half the pool, rounded down).
        scope: ``"panel"`` (rank by the panel-wide past error at the origin) or ``"series"``.
        metric: ``"mase"`` (MASE units of the origin's scale) or ``"smape"`` (percent).
        history: how many recent past origins to average over (None: all).

    Raises:
        InputError: a bad ``k``, ``scope``, ``metric`` or ``history``.
    """

    name = "drop_worst"
    param_checks = {"k": _check_drop, "scope": partial(check_choice, choices=("panel", "series")),
                    "metric": check_metric, "history": check_optional_int}

    def __init__(self, k: int | float | None = None, scope: str = "panel", metric: str = "mase",
                 history: int | None = None) -> None:
        self._set_params(locals())

    def n_dropped(self, M: int) -> int:
        """How many of ``M`` members are dropped (between 0 and ``M - 1``)."""
        if self.k is None:
            d = M // 2
        elif isinstance(self.k, float):
            d = math.floor(self.k * M + 1e-9)
        else:
            d = self.k
        return int(min(max(d, 0), M - 1))

    def ranking_errors(self, cube: ForecastCube) -> np.ndarray:
        """The errors the models are ranked by at each origin.

        Returns:
            float64 ``(S, O, M)`` in ``metric`` units (MASE, or sMAPE in percent); NaN where
            nothing is known. With ``scope="panel"`` every series of an origin index shares one row.
        """
        check_cube(cube)
        err, _ = past_error_table(cube, self.history, self.metric)         # (S, O, M)
        if self.scope == "series":
            return err
        known = np.isfinite(err)
        cnt = known.sum(axis=0)                                             # (O, M)
        with np.errstate(invalid="ignore", divide="ignore"):
            panel = np.where(cnt > 0, np.where(known, err, 0.0).sum(axis=0) / np.maximum(cnt, 1), np.nan)
        return np.broadcast_to(panel[None], err.shape).copy()

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, M)``: ``1 / (M - d)`` on the kept members, 0 on the dropped ones;
        equal rows where nothing is known yet or the origin does not exist."""
        err = self.ranking_errors(cube)
        S, O, M, _ = cube.shape
        d = self.n_dropped(M)
        order = np.argsort(np.where(np.isfinite(err), err, np.inf), axis=2, kind="stable")
        rank = np.argsort(order, axis=2, kind="stable")
        keep = (rank < M - d).astype(np.float64)
        w = keep / keep.sum(axis=2, keepdims=True)
        known = np.isfinite(err).any(axis=2) & cube.valid
        return np.where(known[..., None], w, 1.0 / M)
