"""The observation of the composition problem at one origin of one series: pure functions.

Everything here is computed only from what is known at origin ``k`` of series ``s``
(``o = cube.origins[s, k]`` observations seen):

* the forecasts made at origins ``k' <= k`` (a forecast is known once it is made);
* the actual at a position ``p`` only when ``p < o`` -- so the error of step ``j`` of a
  forecast made at origin ``o'`` (target position ``o' + j``) counts only if ``o' + j < o``;
* ``cube.origin_scales[s, k]`` and ``cube.features[s, k]`` (computed on ``y[:o]``).

``cube.scales`` (the scale of the whole training part) is never used: it is not known at
earlier origins. Agents call :func:`observation_table` to get the observation of every
origin, the final one included, without stepping an environment.

Layout (``D = 7 * M + F + 1``, every value in ``[-1, 1]``; see :func:`observation_names`):

==========================  =====  ============================================================
block                       size   value
==========================  =====  ============================================================
``recent_error``            M      ``tanh(log1p(e))``, ``e`` = mean absolute error of the known
                                   steps of the last ``history`` past origins that have any,
                                   over ``origin_scales[s, k]`` (MASE units); 0 without history
``overall_error``           M      the same over all past origins
``relative_error``          M      ``tanh(log(e_m / median_m e))`` of the recent errors
``rank``                    M      rank of the recent error, ``0`` best .. ``1`` worst; 0.5 without
                                   history
``disagreement``            M      ``tanh(log1p(mean_h |f_m - median_m f| / scale))`` at origin k
``deviation``               M      ``tanh(mean_h (f_m - median_m f) / scale)`` (signed)
``failed``                  M      1 if the model failed at origin k (a fallback forecast stands)
``feature:<name>``          F      ``cube.features[s, k]`` clipped to ``[-1, 1]``
``history_coverage``        1      ``min(1, past origins with known errors / history)``
==========================  =====  ============================================================
"""

from __future__ import annotations

import warnings

import numpy as np

from metacompose.cube import ForecastCube

PER_MODEL_BLOCKS: tuple[str, ...] = (
    "recent_error", "overall_error", "relative_error", "rank", "disagreement", "deviation", "failed",
)
# No "progress" (k / (O - 1)) entry: it is 1 only at the final origin, a value never seen in
# training, and the policy extrapolated on it (measured on M3 yearly: the PPO composer lost to
# equal weights on the test part while winning on the last backtest origin).
GLOBAL_BLOCKS: tuple[str, ...] = ("history_coverage",)
DEFAULT_HISTORY = 3
_EPS = 1e-6


def observation_space_size(cube: ForecastCube) -> int:
    """Length ``D = 7 * M + F + 1`` of the observation vector for ``cube``."""
    _, _, M, _ = cube.shape
    return len(PER_MODEL_BLOCKS) * M + cube.features.shape[2] + len(GLOBAL_BLOCKS)


def observation_names(cube: ForecastCube) -> list[str]:
    """Names of the ``D`` observation entries, e.g. ``"recent_error[ARIMA]"``, in order."""
    names = [f"{block}[{alias}]" for block in PER_MODEL_BLOCKS for alias in cube.models]
    names += [f"feature:{f}" for f in cube.feature_names]
    return names + list(GLOBAL_BLOCKS)


def _origin_scales(cube: ForecastCube, s: int, ks: np.ndarray) -> np.ndarray:
    sc = cube.origin_scales[s, ks].astype(np.float64)
    return np.where(np.isfinite(sc) & (sc > 0), sc, 1.0)


def _cutoffs(cube: ForecastCube, s: int) -> np.ndarray:
    """Positions ``(O,)`` before which actuals count as known at each origin of series ``s``.

    The origin itself, except at the final origin: backtest origins are ``step`` apart but
    the final origin comes ``H`` after the last one, so there every past forecast would be
    fully known, a view never seen in training (measured on M3 yearly: the PPO composer then
    lost to equal weights on the test part while beating them on the last backtest origin).
    The final origin therefore sees what it would see ``step`` after the last backtest
    origin; it uses less than is known, never more.
    """
    org = cube.origins[s].astype(np.int64)
    cut = org.copy()
    O = org.shape[0]
    if O >= 2 and org[O - 2] >= 0:
        step = int(cube.meta.get("step", 0) or 0)
        if step <= 0 and O >= 3 and org[O - 3] >= 0:
            step = int(org[O - 2] - org[O - 3])
        if step > 0:
            cut[O - 1] = min(org[O - 1], org[O - 2] + step)
    return cut


def _known_sums(cube: ForecastCube, s: int, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums and counts ``(K, O, M)`` of the absolute errors known at each origin of ``ks``.

    Entry ``[i, k', m]`` covers the steps ``j`` of model ``m``'s forecast made at origin
    ``k'`` whose target position ``origins[s, k'] + j`` is ``< origins[s, ks[i]]`` (at the final
    origin: before :func:`_cutoffs`) and whose actual and forecast are finite.
    """
    H = cube.shape[3]
    org = cube.origins[s].astype(np.int64)                            # (O,)
    pos = org[:, None] + np.arange(H)[None, :]                        # (O, H) target positions
    err = np.abs(cube.actuals[s].astype(np.float64)[:, None, :] - cube.forecasts[s].astype(np.float64))
    cut = _cutoffs(cube, s)
    known = (org[None, :, None] >= 0) & (pos[None, :, :] < cut[ks][:, None, None])      # (K, O, H)
    ok = known[:, :, None, :] & np.isfinite(err)[None]                # (K, O, M, H)
    sums = np.where(ok, err[None], 0.0).sum(axis=3)
    return sums, ok.sum(axis=3).astype(np.float64)


def _summarise(sums: np.ndarray, counts: np.ndarray, history: int | None, scale: np.ndarray):
    """Mean scaled errors ``(K, M)`` (NaN where none) and origins used ``(K,)``."""
    has = counts.sum(axis=2) > 0                                       # (K, O)
    if history is not None:
        from_end = np.cumsum(has[:, ::-1], axis=1)[:, ::-1]            # rows with info at or after k'
        has = has & (from_end <= int(history))
    tot = np.where(has[..., None], sums, 0.0).sum(axis=1)
    cnt = np.where(has[..., None], counts, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.where(cnt > 0, tot / np.where(cnt > 0, cnt, 1.0), np.nan) / scale[:, None]
    return e, has.sum(axis=1)


def _valid_ks(cube: ForecastCube, s: int, ks) -> np.ndarray:
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
    ks = _valid_ks(cube, s, [k])
    if ks.shape[0] == 0:
        return np.full(cube.shape[2], np.nan), 0
    sums, counts = _known_sums(cube, s, ks)
    e, n = _summarise(sums, counts, history, _origin_scales(cube, s, ks))
    return e[0], int(n[0])


def past_error_table(cube: ForecastCube, history: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`past_errors` of every origin of every series.

    Args:
        cube: the forecast cube.
        history: as in :func:`past_errors` (``None``: all past origins).

    Returns:
        ``(errors, n)``: float64 ``(S, O, M)`` mean absolute error of each model in MASE units
        of ``origin_scales[s, k]``, known at origin ``k`` (NaN where nothing is known yet or the
        origin does not exist), and int ``(S, O)``, the number of past origins that contributed.
    """
    S, O, M, _ = cube.shape
    errors = np.full((S, O, M), np.nan)
    n = np.zeros((S, O), dtype=np.int64)
    for s in range(S):
        ks = _valid_ks(cube, s, None)
        if ks.shape[0]:
            sums, counts = _known_sums(cube, s, ks)
            errors[s, ks], n[s, ks] = _summarise(sums, counts, history, _origin_scales(cube, s, ks))
    return errors, n


def _series_observations(cube: ForecastCube, s: int, ks: np.ndarray, history: int) -> np.ndarray:
    """Observations ``(K, D)`` of series ``s`` at the existing origins ``ks``."""
    M = cube.shape[2]
    scale = _origin_scales(cube, s, ks)                               # (K,)
    sums, counts = _known_sums(cube, s, ks)
    recent, n_recent = _summarise(sums, counts, history, scale)       # (K, M), (K,)
    overall, n_info = _summarise(sums, counts, None, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(recent, axis=1, keepdims=True)              # (K, 1)
        rel = np.where(n_recent[:, None] > 0, np.tanh(np.log((recent + _EPS) / (med + _EPS))), 0.0)
        order = np.argsort(np.where(np.isfinite(recent), recent, np.inf), axis=1, kind="stable")
        rank = np.argsort(order, axis=1, kind="stable") / max(1, M - 1)
        rank = np.where(n_recent[:, None] > 0, rank, 0.5)

        f = cube.forecasts[s, ks].astype(np.float64)                  # (K, M, H)
        centre = np.nanmedian(f, axis=1, keepdims=True)               # (K, 1, H)
        dev = (f - centre) / scale[:, None, None]
        absdev = np.nanmean(np.abs(dev), axis=2)                      # (K, M)
        sdev = np.nanmean(dev, axis=2)

    feats = np.clip(np.nan_to_num(cube.features[s, ks].astype(np.float64)), -1.0, 1.0)
    glob = np.minimum(1.0, n_info / max(1, history))[:, None]
    obs = np.concatenate([
        np.tanh(np.log1p(np.nan_to_num(recent, nan=0.0))),
        np.tanh(np.log1p(np.nan_to_num(overall, nan=0.0))),
        np.nan_to_num(rel),
        rank,
        np.tanh(np.log1p(np.nan_to_num(absdev))),
        np.tanh(np.nan_to_num(sdev)),
        cube.failed[s, ks].astype(np.float64),
        feats,
        glob,
    ], axis=1)
    return np.clip(np.nan_to_num(obs), -1.0, 1.0).astype(np.float32)


def observation(cube: ForecastCube, s: int, k: int, history: int = DEFAULT_HISTORY) -> np.ndarray:
    """The observation at origin ``k`` of series ``s``, from what is known there only.

    Args:
        cube: the forecast cube.
        s: series index in ``[0, S)``.
        k: origin index in ``[0, O)``; the final origin ``O - 1`` works too.
        history: how many recent past origins the ``recent_error`` block summarises (>= 1).

    Returns:
        float32 ``(D,)`` with ``D = observation_space_size(cube)``, every value in ``[-1, 1]``;
        all zeros for an origin that does not exist (``origins[s, k] == -1``).
    """
    ks = _valid_ks(cube, s, [k])
    if ks.shape[0] == 0:
        return np.zeros(observation_space_size(cube), dtype=np.float32)
    return _series_observations(cube, s, ks, history)[0]


def observation_table(cube: ForecastCube, history: int = DEFAULT_HISTORY) -> np.ndarray:
    """Observations of every origin of every series.

    Args:
        cube: the forecast cube.
        history: as in :func:`observation`.

    Returns:
        float32 ``(S, O, D)``; ``[s, k]`` equals ``observation(cube, s, k, history)``
        (zeros where the origin does not exist).
    """
    S, O, _, _ = cube.shape
    out = np.zeros((S, O, observation_space_size(cube)), dtype=np.float32)
    for s in range(S):
        ks = _valid_ks(cube, s, None)
        if ks.shape[0]:
            out[s, ks] = _series_observations(cube, s, ks, history)
    return out
