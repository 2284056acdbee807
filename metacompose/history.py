"""What is known at a forecast origin: cut-offs, past-error tables, steppable origins, the validation replay.

The environments (``metacompose.envs``) and the composition agents (``metacompose.agents``)
both build on this module, so that "known at origin ``k`` of series ``s``" has one meaning.
With ``o = cube.origins[s, k]`` observations seen at origin ``k``:

* the forecasts made at origins ``k' <= k`` are known (a forecast is known once it is made);
* the actual at a position ``p`` is known only when ``p`` is before the origin's cut-off
  (:func:`cutoffs`; the origin itself, except at the final origin) -- so the error of step
  ``j`` of a forecast made at origin ``o'`` (target position ``o' + j``) counts only if
  ``o' + j`` is before the cut-off;
* ``cube.origin_scales[s, k]`` and ``cube.features[s, k]`` (computed on ``y[:o]``).

``cube.scales`` (the scale of the whole training part) is never used here: it is not known
at earlier origins.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from metacompose.cube import ForecastCube
from metacompose.metrics import check_metric, smape_points


def origin_scales(cube: ForecastCube, s: int, ks: np.ndarray) -> np.ndarray:
    """MASE scales ``(K,)`` known at the origins ``ks`` of series ``s`` (1.0 where not positive and finite)."""
    return _usable_scales(cube.origin_scales[s, ks])


def known_scales(cube: ForecastCube, rows: np.ndarray | None = None) -> np.ndarray:
    """float64 ``(S, O)``: the MASE scale known at every origin (:func:`origin_scales` of all of them);
    with ``rows`` (int ``(B,)``), of those series only, ``(B, O)``."""
    return _usable_scales(cube.origin_scales if rows is None else cube.origin_scales[rows])


def _usable_scales(sc: np.ndarray) -> np.ndarray:
    sc = np.asarray(sc, dtype=np.float64)
    return np.where(np.isfinite(sc) & (sc > 0), sc, 1.0)


def cutoffs(cube: ForecastCube, s: int) -> np.ndarray:
    """Positions ``(O,)`` before which actuals count as known at each origin of series ``s``.

    The origin itself, except at the final origin: backtest origins are ``step`` apart but
    the final origin comes ``H`` after the last one, so there every past forecast would be
    fully known, a view never seen in training. The final origin therefore sees what it
    would see ``step`` after the last backtest origin; it uses less than is known, never more.
    """
    return cutoff_table(cube, np.array([s]))[0]


def cutoff_table(cube: ForecastCube, rows: np.ndarray) -> np.ndarray:
    """:func:`cutoffs` of the series ``rows`` (int ``(B,)``), int64 ``(B, O)``."""
    org = cube.origins[rows].astype(np.int64)
    cut = org.copy()
    O = org.shape[1]
    if O < 2:
        return cut
    step = int(cube.meta.get("step", 0) or 0)
    if step <= 0:  # not recorded: the distance between the last two backtest origins, series by series
        step = np.where(org[:, O - 3] >= 0, org[:, O - 2] - org[:, O - 3], 0) if O >= 3 else np.zeros(len(rows), int)
    step = np.broadcast_to(np.asarray(step, dtype=np.int64), (len(rows),))
    last = (org[:, O - 2] >= 0) & (step > 0)
    cut[last, O - 1] = np.minimum(org[last, O - 1], org[last, O - 2] + step[last])
    return cut


def known_error_sums(cube: ForecastCube, s: int, ks: np.ndarray, metric: str = "mase") -> tuple[np.ndarray, np.ndarray]:
    """Sums and counts ``(K, O, M)`` of the pointwise errors known at each origin of ``ks``.

    Entry ``[i, k', m]`` covers the steps ``j`` of model ``m``'s forecast made at origin
    ``k'`` whose target position ``origins[s, k'] + j`` is before ``cutoffs(cube, s)[ks[i]]``
    and whose actual and forecast are finite. Errors are absolute errors in the units of the
    series for ``metric="mase"`` (to be scaled), pointwise sMAPE in percent
    (:func:`metacompose.metrics.smape_points`) for ``"smape"``.
    """
    sums, counts = error_sum_table(cube, np.array([s]), metric)
    ks = np.asarray(ks, dtype=np.int64)
    return sums[0, ks], counts[0, ks]


def error_sum_table(cube: ForecastCube, rows: np.ndarray, metric: str = "mase") -> tuple[np.ndarray, np.ndarray]:
    """:func:`known_error_sums` of the series ``rows`` (int ``(B,)``) at every origin: ``(B, O, O, M)`` each."""
    H = cube.shape[3]
    org = cube.origins[rows].astype(np.int64)                         # (B, O)
    pos = org[:, :, None] + np.arange(H)                               # (B, O, H) target positions
    y, f = cube.actuals[rows].astype(np.float64)[:, :, None, :], cube.forecasts[rows].astype(np.float64)
    err = np.abs(y - f) if metric == "mase" else np.where(np.isfinite(f) & np.isfinite(y), smape_points(y, f), np.nan)
    cut = cutoff_table(cube, rows)                                     # (B, K)
    known = (org[:, None, :, None] >= 0) & (pos[:, None] < cut[:, :, None, None])      # (B, K, O, H)
    ok = known[:, :, :, None, :] & np.isfinite(err)[:, None]           # (B, K, O, M, H)
    sums = np.where(ok, err[:, None], 0.0).sum(axis=-1)
    return sums, ok.sum(axis=-1).astype(np.float64)


def summarise_errors(sums: np.ndarray, counts: np.ndarray, history: int | None,
                     scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean scaled errors from :func:`known_error_sums`, over the last ``history`` informative origins.

    Args:
        sums, counts: ``(..., K, O, M)`` (any leading axes, e.g. series).
        history: how many of the most recent past origins with known steps to use (None: all).
        scale: ``(..., K)`` MASE scales of the origins (ones for errors already scale-free, e.g. sMAPE).

    Returns:
        ``(errors (..., K, M) in MASE units (the sums' units over ``scale``), NaN where nothing is
        known; origins used (..., K))``.
    """
    has = counts.sum(axis=-1) > 0                                      # (..., K, O)
    if history is not None:
        from_end = np.flip(np.cumsum(np.flip(has, -1), axis=-1), -1)   # rows with info at or after k'
        has = has & (from_end <= int(history))
    tot = np.where(has[..., None], sums, 0.0).sum(axis=-2)
    cnt = np.where(has[..., None], counts, 0.0).sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.where(cnt > 0, tot / np.where(cnt > 0, cnt, 1.0), np.nan) / scale[..., None]
    return e, has.sum(axis=-1)


def existing_origins(cube: ForecastCube, s: int, ks=None) -> np.ndarray:
    """The origin indices among ``ks`` (None: all) that exist for series ``s``, int64 ``(K,)``."""
    ks = np.arange(cube.shape[1]) if ks is None else np.atleast_1d(np.asarray(ks, dtype=np.int64))
    return ks[cube.origins[s, ks] >= 0]


def past_errors(cube: ForecastCube, s: int, k: int, history: int | None = None) -> tuple[np.ndarray, int]:
    """Mean scaled error of each model over the known steps of past forecasts.

    Args:
        cube: the forecast cube.
        s: series index.
        k: origin index.
        history: use only the last ``history`` past origins that have known steps
            (``None``: all of them).

    Returns:
        ``(errors, n)``: float64 ``(M,)`` mean absolute error in MASE units of
        ``origin_scales[s, k]`` (NaN for a model without any known error, and for an origin
        that does not exist), and ``n``, the number of past origins that contributed.
    """
    ks = existing_origins(cube, s, [k])
    if ks.shape[0] == 0:
        return np.full(cube.shape[2], np.nan), 0
    sums, counts = known_error_sums(cube, s, ks)
    e, n = summarise_errors(sums, counts, history, origin_scales(cube, s, ks))
    return e[0], int(n[0])


def past_error_table(cube: ForecastCube, history: int | None = None,
                     metric: str = "mase") -> tuple[np.ndarray, np.ndarray]:
    """:func:`past_errors` of every origin of every series, in MASE or sMAPE.

    Args:
        cube: the forecast cube.
        history: as in :func:`past_errors` (``None``: all past origins).
        metric: ``"mase"`` (mean absolute error in MASE units of ``origin_scales[s, k]``) or
            ``"smape"`` (mean pointwise sMAPE, percent, M3/M4 definition).

    Returns:
        ``(errors, n)``: float64 ``(S, O, M)`` mean error of each model known at origin ``k``
        (NaN where nothing is known yet or the origin does not exist), and int ``(S, O)``, the
        number of past origins that contributed.

    Raises:
        InputError: unknown ``metric``.
    """
    metric = check_metric(metric)
    S, O, M, _ = cube.shape
    errors = np.full((S, O, M), np.nan)
    n = np.zeros((S, O), dtype=np.int64)
    for rows in series_blocks(S):
        sums, counts = error_sum_table(cube, rows, metric)
        scale = known_scales(cube, rows) if metric == "mase" else np.ones((len(rows), O))
        e, used = summarise_errors(sums, counts, history, scale)
        exists = cube.origins[rows] >= 0
        errors[rows] = np.where(exists[..., None], e, np.nan)
        n[rows] = np.where(exists, used, 0)
    return errors, n


def series_blocks(S: int, size: int = 512) -> list[np.ndarray]:
    """Row indices of ``S`` series in blocks of ``size`` (the tables here are computed a block at a time:
    vectorised over series, with memory bounded by the block)."""
    return [np.arange(a, min(S, a + size)) for a in range(0, S, size)]


def steppable_origins(cube: ForecastCube) -> np.ndarray:
    """bool ``(S, O)``: backtest origins with fully known actuals and all-finite forecasts.

    These are the origins an environment steps and an agent is rewarded on.
    """
    return cube.backtest_mask & np.all(np.isfinite(cube.forecasts), axis=(2, 3))


def validation_split(cube: ForecastCube) -> tuple[ForecastCube, np.ndarray, np.ndarray] | None:
    """The sub-cube that replays the forecasting task one horizon earlier, inside the training data.

    The validation origin is the last backtest origin (index ``O - 2``, whose horizon ends
    where the training data end), playing the final origin; the sub-cube keeps only the
    origins whose horizons end at or before it (``k <= O - 2 - ceil(H / step)``), so no
    target learned from lies after it.

    Returns:
        ``(sub, actual, mask)``: a cube of those origins followed by the validation origin as
        its final origin (actuals NaN there), the validation actuals float64 ``(S, H)``, and
        bool ``(S,)``: series whose validation origin exists with fully known actuals. None
        when there is no such training origin or no series to score.
    """
    S, O, M, H = cube.shape
    if O < 3:
        return None
    k_val = O - 2
    org = cube.origins
    step = int(cube.meta.get("step", 0) or 0)
    if step <= 0:
        diffs = org[:, 1:k_val + 1] - org[:, :k_val]
        diffs = diffs[(org[:, 1:k_val + 1] >= 0) & (org[:, :k_val] >= 0)]
        step = int(np.median(diffs)) if diffs.size else H
    gap = math.ceil(H / max(1, step))
    train_idx = list(range(0, k_val - gap + 1))
    if not train_idx:
        return None
    idx = np.array(train_idx + [k_val])
    actual = cube.actuals[:, k_val].astype(np.float64)
    mask = cube.valid[:, k_val] & np.isfinite(actual).all(axis=1)
    sub_actuals = cube.actuals[:, idx].copy()
    sub_actuals[:, -1] = np.nan
    sub = replace(
        cube, forecasts=cube.forecasts[:, idx], actuals=sub_actuals, origin_scales=cube.origin_scales[:, idx],
        origins=cube.origins[:, idx], features=cube.features[:, idx], failed=cube.failed[:, idx],
        meta={**cube.meta, "step": step},
    )
    if not mask.any() or not sub.backtest_mask.any():
        return None
    return sub, actual, mask
