"""The observation of the composition problem at one origin of one series: pure functions.

Everything here is computed only from what is known at origin ``k`` of series ``s``, as
:mod:`metacompose.history` defines it (past errors only on steps before the origin's
cut-off; ``cube.origin_scales[s, k]`` and ``cube.features[s, k]``, computed on ``y[:o]``;
never ``cube.scales``). Agents call :func:`observation_table` to get the observation of
every origin, the final one included, without stepping an environment.

Layout (``D = 7 * M + F + 3``, every value in ``[-1, 1]``; see :func:`observation_names`):

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
``season_length``           1      ``min(1, log(m) / log(366))``: 0 for m = 1, 0.42 for m = 12
``horizon``                 1      ``min(1, log(H) / log(366))``: 0.30 for H = 6, 0.49 for H = 18
==========================  =====  ============================================================

The last two are constant within a cube; they tell a policy trained on several panels at once
(cross-learning, :class:`~metacompose.envs.CubeVecEnv` over several cubes) which kind of
panel an origin belongs to.
"""

from __future__ import annotations

import warnings

import numpy as np

from metacompose.cube import ForecastCube
from metacompose.history import error_sum_table, existing_origins, known_scales, series_blocks, summarise_errors

PER_MODEL_BLOCKS: tuple[str, ...] = (
    "recent_error", "overall_error", "relative_error", "rank", "disagreement", "deviation", "failed",
)
# No "progress" (k / (O - 1)) entry: it is 1 only at the final origin, a value never seen in
# training, and a policy extrapolates on it (benchmarks/RESULTS.md, accuracy notes).
GLOBAL_BLOCKS: tuple[str, ...] = ("history_coverage", "season_length", "horizon")
_LOG_SCALE = np.log(366.0)   # a daily season of a year, or a year of daily steps, maps to 1
DEFAULT_HISTORY = 3
_EPS = 1e-6


def observation_space_size(cube: ForecastCube) -> int:
    """Length ``D = 7 * M + F + 3`` of the observation vector for ``cube``."""
    _, _, M, _ = cube.shape
    return len(PER_MODEL_BLOCKS) * M + cube.features.shape[2] + len(GLOBAL_BLOCKS)


def observation_names(cube: ForecastCube) -> list[str]:
    """Names of the ``D`` observation entries, e.g. ``"recent_error[ARIMA]"``, in order."""
    names = [f"{block}[{alias}]" for block in PER_MODEL_BLOCKS for alias in cube.models]
    names += [f"feature:{f}" for f in cube.feature_names]
    return names + list(GLOBAL_BLOCKS)


def _block_observations(cube: ForecastCube, rows: np.ndarray, history: int) -> np.ndarray:
    """Observations ``(B, O, D)`` of the series ``rows`` (int ``(B,)``) at every origin, vectorised over
    the block (zeros where an origin does not exist)."""
    M = cube.shape[2]
    scale = known_scales(cube, rows)                                   # (B, O)
    sums, counts = error_sum_table(cube, rows)
    recent, n_recent = summarise_errors(sums, counts, history, scale)       # (B, O, M), (B, O)
    overall, n_info = summarise_errors(sums, counts, None, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(recent, axis=-1, keepdims=True)             # (B, O, 1)
        rel = np.where(n_recent[..., None] > 0, np.tanh(np.log((recent + _EPS) / (med + _EPS))), 0.0)
        order = np.argsort(np.where(np.isfinite(recent), recent, np.inf), axis=-1, kind="stable")
        rank = np.argsort(order, axis=-1, kind="stable") / max(1, M - 1)
        rank = np.where(n_recent[..., None] > 0, rank, 0.5)

        f = cube.forecasts[rows].astype(np.float64)                    # (B, O, M, H)
        centre = np.nanmedian(f, axis=2, keepdims=True)                # (B, O, 1, H)
        dev = (f - centre) / scale[..., None, None]
        absdev = np.nanmean(np.abs(dev), axis=-1)                      # (B, O, M)
        sdev = np.nanmean(dev, axis=-1)

    feats = np.clip(np.nan_to_num(cube.features[rows].astype(np.float64)), -1.0, 1.0)
    panel = [min(1.0, np.log(max(1, cube.season_length)) / _LOG_SCALE), min(1.0, np.log(cube.shape[3]) / _LOG_SCALE)]
    glob = np.concatenate([np.minimum(1.0, n_info / max(1, history))[..., None],
                           np.broadcast_to(np.asarray(panel), (*n_info.shape, 2))], axis=-1)
    obs = np.concatenate([
        np.tanh(np.log1p(np.nan_to_num(recent, nan=0.0))),
        np.tanh(np.log1p(np.nan_to_num(overall, nan=0.0))),
        np.nan_to_num(rel),
        rank,
        np.tanh(np.log1p(np.nan_to_num(absdev))),
        np.tanh(np.nan_to_num(sdev)),
        cube.failed[rows].astype(np.float64),
        feats,
        glob,
    ], axis=-1)
    obs = np.clip(np.nan_to_num(obs), -1.0, 1.0).astype(np.float32)
    return np.where((cube.origins[rows] >= 0)[..., None], obs, np.float32(0.0))


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
    if existing_origins(cube, s, [k]).shape[0] == 0:
        return np.zeros(observation_space_size(cube), dtype=np.float32)
    return _block_observations(cube, np.array([s]), history)[0, k]


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
    for rows in series_blocks(S):
        out[rows] = _block_observations(cube, rows, history)
    return out
