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

Layout (``D = 7 * M + F + 2``, every value in ``[-1, 1]``; see :func:`observation_names`):

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
``progress``                1      ``k / (O - 1)``
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
GLOBAL_BLOCKS: tuple[str, ...] = ("progress", "history_coverage")
DEFAULT_HISTORY = 3
_EPS = 1e-6


def observation_space_size(cube: ForecastCube) -> int:
    """Length ``D = 7 * M + F + 2`` of the observation vector for ``cube``."""
    _, _, M, _ = cube.shape
    return len(PER_MODEL_BLOCKS) * M + cube.features.shape[2] + len(GLOBAL_BLOCKS)


def observation_names(cube: ForecastCube) -> list[str]:
    """Names of the ``D`` observation entries, e.g. ``"recent_error[ARIMA]"``, in order."""
    names = [f"{block}[{alias}]" for block in PER_MODEL_BLOCKS for alias in cube.models]
    names += [f"feature:{f}" for f in cube.feature_names]
    return names + list(GLOBAL_BLOCKS)


def _origin_scale(cube: ForecastCube, s: int, k: int) -> float:
    sc = float(cube.origin_scales[s, k])
    return sc if np.isfinite(sc) and sc > 0 else 1.0


def known_error_sums(cube: ForecastCube, s: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Absolute errors of past forecasts of series ``s`` that are known at origin ``k``.

    Args:
        cube: the forecast cube.
        s: series index.
        k: origin index.

    Returns:
        ``(sums, counts)``, both float64 of shape ``(O, M)``: for every origin ``k'`` the
        sum (in the series' units) and number of the absolute errors ``|y - f|`` of the
        steps whose target position ``origins[s, k'] + j`` is ``< origins[s, k]`` and whose
        actual and forecast are finite. Rows of origins that do not exist are 0.
    """
    _, O, _, H = cube.shape
    o = int(cube.origins[s, k])
    org = cube.origins[s].astype(np.int64)
    if o < 0:
        return np.zeros((O, cube.shape[2])), np.zeros((O, cube.shape[2]))
    pos = org[:, None] + np.arange(H)[None, :]                        # (O, H) target positions
    known = (org[:, None] >= 0) & (pos < o)                           # (O, H)
    err = np.abs(cube.actuals[s].astype(np.float64)[:, None, :] - cube.forecasts[s].astype(np.float64))
    ok = known[:, None, :] & np.isfinite(err)                         # (O, M, H)
    sums = np.where(ok, err, 0.0).sum(axis=2)
    return sums, ok.sum(axis=2).astype(np.float64)


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
        ``origin_scales[s, k]`` (NaN for a model without any known error), and ``n``, the
        number of past origins that contributed.
    """
    sums, counts = known_error_sums(cube, s, k)
    return _summarise(sums, counts, history, _origin_scale(cube, s, k))


def _summarise(sums: np.ndarray, counts: np.ndarray, history: int | None, scale: float) -> tuple[np.ndarray, int]:
    rows = np.flatnonzero(counts.sum(axis=1) > 0)
    if history is not None:
        rows = rows[-int(history):] if history > 0 else rows[:0]
    tot, cnt = sums[rows].sum(axis=0), counts[rows].sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.where(cnt > 0, tot / np.where(cnt > 0, cnt, 1.0), np.nan) / scale
    return e, int(rows.shape[0])


def _ranks(e: np.ndarray) -> np.ndarray:
    M = e.shape[0]
    r = np.argsort(np.argsort(np.where(np.isfinite(e), e, np.inf), kind="stable"), kind="stable")
    return r / max(1, M - 1)


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
    S, O, M, _ = cube.shape
    D = observation_space_size(cube)
    if cube.origins[s, k] < 0:
        return np.zeros(D, dtype=np.float32)
    scale = _origin_scale(cube, s, k)
    sums, counts = known_error_sums(cube, s, k)
    recent, n_recent = _summarise(sums, counts, history, scale)
    overall, n_info = _summarise(sums, counts, None, scale)

    if n_recent > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(recent)
        rel = np.tanh(np.log((recent + _EPS) / (med + _EPS)))
        rank = _ranks(recent)
    else:
        rel = np.zeros(M)
        rank = np.full(M, 0.5)

    f = cube.forecasts[s, k].astype(np.float64)                       # (M, H)
    finite = np.isfinite(f)
    if finite.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            centre = np.nanmedian(f, axis=0)                          # (H,)
            dev = (f - centre[None, :]) / scale
            absdev = np.nanmean(np.abs(dev), axis=1)
            sdev = np.nanmean(dev, axis=1)
    else:
        absdev = sdev = np.zeros(M)

    feats = np.clip(np.nan_to_num(cube.features[s, k].astype(np.float64)), -1.0, 1.0)
    obs = np.concatenate([
        np.tanh(np.log1p(np.nan_to_num(recent, nan=0.0))),
        np.tanh(np.log1p(np.nan_to_num(overall, nan=0.0))),
        np.nan_to_num(rel),
        rank,
        np.tanh(np.log1p(np.nan_to_num(absdev))),
        np.tanh(np.nan_to_num(sdev)),
        cube.failed[s, k].astype(np.float64),
        feats,
        [k / max(1, O - 1), min(1.0, n_info / max(1, history))],
    ])
    return np.clip(np.nan_to_num(obs), -1.0, 1.0).astype(np.float32)


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
        for k in range(O):
            if cube.origins[s, k] >= 0:
                out[s, k] = observation(cube, s, k, history)
    return out
