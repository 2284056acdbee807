"""Conformal prediction intervals from the backtest errors in a :class:`~metacompose.cube.ForecastCube`.

Method: split conformal prediction per horizon step (Vovk, Gammerman & Shafer 2005; Lei et
al. 2018, "Distribution-free predictive inference for regression", JASA 113(523)), with the
backtest origins as the calibration set, as in the multi-step conformal forecasters of
Stankevičiūtė, Alaa & van der Schaar 2021 ("Conformal time-series forecasting", NeurIPS) and
statsforecast's ``ConformalIntervals`` (one set of absolute errors per horizon step, symmetric
intervals ``forecast ± quantile``). Like statsforecast, and unlike the Bonferroni-corrected
joint intervals of Stankevičiūtė et al., each step gets its own marginal ``level``% interval.

1. **Scores.** At each backtest origin ``k`` of series ``s`` whose actuals are fully known
   (``cube.backtest_mask``) and whose forecast is finite, the error of step ``j`` in MASE
   units of the scale known at that origin, ``e[s, k, j] = |y - yhat| / origin_scales[s, k]``
   (:func:`scaled_backtest_errors`), divided by ``1 + d[s, k, j]``, where ``d`` is the pool's
   disagreement around the forecast: the mean over the cube's ``M`` models of
   ``|f_m - yhat| / origin_scales[s, k]`` (:func:`pool_spread`). This is a normalised
   ("locally weighted") nonconformity score (Papadopoulos, Gammerman & Vovk 2008; Lei et al.
   2018, section 5.2): where the members disagree, the interval widens. ``normalise=False``
   scores ``e`` alone. Everything used is known at the final origin (forecasts are known
   when made); its own (unknown) actuals are never read.
2. **Pooling across series.** A series has only ``n_origins`` (5 by default) backtest
   origins, too few for a 95% quantile of its own, so the scale-free scores of step ``j``
   are pooled over every series and backtest origin (``n_j`` of about ``5 S`` scores).
   With ``groups`` (e.g. :func:`feature_groups`, series binned by a feature known at the
   final origin) they are pooled within each group of series instead.
3. **Quantile.** ``q_j`` is the ``ceil((n_j + 1) level / 100)``-th smallest of the ``n_j``
   scores (the split-conformal finite-sample correction). When that rank exceeds ``n_j``
   (fewer than ``100 / (100 - level) - 1`` scores: 19 for 95%), no finite quantile has the
   guarantee and ``q_j = inf``: the interval is the whole real line, ``(-inf, inf)``.
4. **Interval.** At the final origin, ``yhat_j ± q_j * origin_scales[s, O - 1] * (1 + d_j)``
   (the scale of the whole training part, the pool's disagreement there), in the units of
   the series.

Why normalised: on the validation origin of every M3 subset (training data only, see
:func:`validation_coverage`) it gave a lower MSIS than the plain pooled scores, for the
composed forecast and for each member, at about the same coverage (``benchmarks/RESULTS.md``,
section "intervals", has the figures).

The guarantee is approximate: the scores of one series' origins overlap in time and are
correlated, series differ, and the final origin's models are fitted on more data than the
backtest's. For the composed forecast of a learned agent (PPO, FFORMA, ...) the backtest
errors are in-sample: the agent was trained to lower exactly those errors, so its intervals
can be too narrow; for fixed rules (equal weights, median) and for each base model they are
out-of-sample. :func:`validation_coverage` measures coverage inside the training data, on
the last backtest origin, with intervals from earlier origins only.

Shapes: ``S`` series, ``O`` origins (the last is the final one), ``M`` models, ``H`` steps,
``L`` levels; forecasts may carry any axes between ``O`` and ``H`` (``(S, O, H)`` for a
composed forecast, ``(S, O, M, H)`` for the pool).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from metacompose.checks import check_int, check_levels
from metacompose.cube import ForecastCube
from metacompose.errors import InputError
from metacompose.history import known_scales, validation_split
from metacompose.metrics import coverage, msis, scaled_errors


def _check_forecasts(cube: ForecastCube, forecasts) -> np.ndarray:
    f = np.asarray(forecasts, dtype=np.float64)
    S, O, _, H = cube.shape
    if f.ndim < 3 or f.shape[:2] != (S, O) or f.shape[-1] != H:
        raise InputError(f"forecasts must have shape ({S}, {O}, ..., {H}) (series, origins, ..., steps), "
                         f"got {f.shape}")
    return f


def scaled_backtest_errors(cube: ForecastCube, forecasts) -> np.ndarray:
    """The conformity scores: absolute errors at the backtest origins in MASE units known there.

    Args:
        cube: the backtest cube (its actuals, origin scales and backtest mask are used).
        forecasts: forecasts at every origin, ``(S, O, ..., H)`` (e.g. ``(S, O, H)`` composed
            or ``cube.forecasts`` ``(S, O, M, H)``), in the units of the series.

    Returns:
        float64 of the shape of ``forecasts``: ``|y - yhat| / origin_scales[s, k]``; NaN at
        origins outside ``cube.backtest_mask`` (always at the final origin) and where the
        forecast is not finite.

    Raises:
        InputError: ``forecasts`` does not have the shape ``(S, O, ..., H)``.
    """
    f = _check_forecasts(cube, forecasts)
    extra = f.ndim - 3                                         # axes between O and H
    idx = (slice(None), slice(None)) + (None,) * extra
    y = cube.actuals.astype(np.float64)[idx]                   # (S, O, 1.., H)
    scale = known_scales(cube)[idx + (None,)]                  # (S, O, 1.., 1)
    err = scaled_errors(y, f, scale)
    mask = cube.backtest_mask[idx + (None,)]
    return np.where(mask & np.isfinite(err), err, np.nan)


def pool_spread(cube: ForecastCube, forecasts) -> np.ndarray:
    """The pool's disagreement around forecasts: mean over the cube's models of ``|f_m - yhat|``
    in MASE units of the scale known at each origin (the normaliser of the scores, ``d``).

    Args:
        cube: the cube; its ``forecasts`` ``(S, O, M, H)`` are the pool.
        forecasts: forecasts at every origin ``(S, O, ..., H)``, e.g. the composed forecast
            ``(S, O, H)`` or ``cube.forecasts`` (then each model's spread is its distance from
            the others, averaged over the ``M`` models, itself included).

    Returns:
        float64 of the shape of ``forecasts``, ``>= 0``; models with a non-finite forecast are
        left out of the mean, and 0 where no model has a finite one.

    Raises:
        InputError: ``forecasts`` does not have the shape ``(S, O, ..., H)``.
    """
    f = _check_forecasts(cube, forecasts)
    extra = f.ndim - 3
    S, O, M, H = cube.shape
    pool = cube.forecasts.astype(np.float64).reshape((S, O, M) + (1,) * extra + (H,))
    scale = known_scales(cube).reshape((S, O, 1) + (1,) * extra + (1,))
    dist = np.abs(pool - f[:, :, None]) / scale
    n = np.isfinite(dist).sum(axis=2)
    return np.where(n > 0, np.where(np.isfinite(dist), dist, 0.0).sum(axis=2) / np.maximum(n, 1), 0.0)


def conformal_quantiles(errors: np.ndarray, levels, groups=None) -> np.ndarray:
    """Split-conformal quantiles of scores ``(S, O, ..., H)``, pooled over series and origins.

    Args:
        errors: scores, e.g. :func:`scaled_backtest_errors`; NaN marks no score.
        levels: a level or levels in percent, each in ``(0, 100)`` (:func:`check_levels`).
        groups: None (pool every series) or ``(S,)`` labels: scores are pooled within each
            group of series, and each series gets its group's quantile.

    Returns:
        float64 ``(L, S, ..., H)`` (``L`` levels in increasing order): for each level, series
        and step, the ``ceil((n + 1) level / 100)``-th smallest of the ``n`` scores pooled over
        its group's series and origins (the same for every series without ``groups``); ``inf``
        where that rank exceeds ``n`` (including ``n = 0``).

    Raises:
        InputError: a bad level, ``errors`` with fewer than 3 axes, or ``groups`` not of
            length ``S``.
    """
    lv = np.asarray(check_levels(levels), dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim < 3:
        raise InputError(f"errors must have shape (S, O, ..., H), got {e.shape}")
    S = e.shape[0]
    labels = np.zeros(S, dtype=np.int64) if groups is None else np.asarray(groups)
    if labels.shape != (S,):
        raise InputError(f"groups must have one label per series ({S}), got shape {labels.shape}")
    out = np.empty((lv.shape[0],) + e.shape[:1] + e.shape[2:])
    for g in np.unique(labels):
        rows = labels == g
        pooled = np.sort(e[rows].reshape((-1,) + e.shape[2:]), axis=0)     # NaN sort last
        n = np.isfinite(pooled).sum(axis=0)                                 # (..., H)
        rank = np.ceil((n[None] + 1) * lv.reshape((-1,) + (1,) * n.ndim) / 100.0 - 1e-9).astype(np.int64)
        pick = np.take_along_axis(pooled[None], np.clip(rank - 1, 0, max(pooled.shape[0] - 1, 0))[:, None], axis=1)
        q = np.where(rank <= n[None], pick[:, 0], np.inf)                   # (L, ..., H)
        out[:, rows] = q[:, None]
    return out


def conformal_bounds(cube: ForecastCube, forecasts, levels, groups=None, normalise: bool = True) -> dict:
    """Conformal intervals of forecasts at the final origin, from their backtest errors.

    Args:
        cube: the backtest cube.
        forecasts: forecasts at every origin ``(S, O, ..., H)``, in the units of the series;
            the last origin's are the ones the intervals surround.
        levels: level(s) in percent, each in ``(0, 100)``.
        groups: None or ``(S,)`` labels, see :func:`conformal_quantiles`.
        normalise: divide the scores by ``1 + d`` (:func:`pool_spread`) and widen the
            interval by the same factor (the default); False: plain scaled errors.

    Returns:
        ``{level: (lo, hi)}`` for each level in increasing order (whole levels as ``int``),
        ``lo`` and ``hi`` float64 ``(S, ..., H)`` in the units of the series:
        ``forecast ± q * origin_scales[:, -1] * (1 + d[:, -1])``; NaN where the forecast is
        NaN, ``∓inf`` where ``q`` is infinite.

    Raises:
        InputError: bad levels, ``forecasts`` of the wrong shape, or bad ``groups``.
    """
    f = _check_forecasts(cube, forecasts)
    lv = check_levels(levels)
    norm = 1.0 + pool_spread(cube, f) if normalise else np.ones_like(f)
    q = conformal_quantiles(scaled_backtest_errors(cube, f) / norm, lv, groups)    # (L, S, ..., H)
    center = f[:, -1]
    width = known_scales(cube)[:, -1].reshape((-1,) + (1,) * (center.ndim - 1)) * norm[:, -1]
    with np.errstate(invalid="ignore"):
        return {level: (center - q[i] * width, center + q[i] * width) for i, level in enumerate(lv)}


def composed_intervals(cube: ForecastCube, composed, levels, groups=None, normalise: bool = True) -> dict:
    """Intervals of a composed forecast: :func:`conformal_bounds` of ``composed`` ``(S, O, H)``.

    Args:
        cube: the backtest cube the composition was made on.
        composed: the composed forecast at every origin ``(S, O, H)`` (e.g. ``Composer.composed_``
            or ``agent.combine(cube)``).
        levels, groups, normalise: as in :func:`conformal_bounds`.

    Returns:
        ``{level: (lo, hi)}``, each float64 ``(S, H)``.

    Raises:
        InputError: as :func:`conformal_bounds`, or ``composed`` not ``(S, O, H)``.
    """
    if np.ndim(composed) != 3:
        raise InputError(f"the composed forecast must have shape (S, O, H), got {np.shape(composed)}")
    return conformal_bounds(cube, composed, levels, groups, normalise)


def model_intervals(cube: ForecastCube, levels, groups=None, normalise: bool = True) -> dict:
    """Intervals of each model of the pool: :func:`conformal_bounds` of ``cube.forecasts``.

    Each model's scores are its own backtest errors (out-of-sample: the models at an origin
    are fitted on the data before it).

    Returns:
        ``{level: (lo, hi)}``, each float64 ``(S, M, H)``.

    Raises:
        InputError: as :func:`conformal_bounds`.
    """
    return conformal_bounds(cube, cube.forecasts, levels, groups, normalise)


def feature_groups(cube: ForecastCube, feature: str, n_groups: int = 2) -> np.ndarray:
    """Series binned by a feature known at the final origin, as ``groups`` for the functions above.

    Args:
        cube: the cube; its ``features[:, -1]`` (computed on the whole training part) are used.
        feature: one of ``cube.feature_names``.
        n_groups: number of bins (>= 1), with equal numbers of series (quantiles of the feature).

    Returns:
        int64 ``(S,)`` group labels in ``0 .. n_groups - 1``; series whose feature is not
        finite join group 0.

    Raises:
        InputError: unknown feature or bad ``n_groups``.
    """
    n_groups = check_int(n_groups, "n_groups")
    if feature not in cube.feature_names:
        raise InputError(f"feature must be one of {cube.feature_names}, got {feature!r}")
    x = cube.features[:, -1, cube.feature_names.index(feature)].astype(np.float64)
    fin = np.isfinite(x)
    if not fin.any():
        return np.zeros(x.shape[0], dtype=np.int64)
    edges = np.quantile(x[fin], np.linspace(0, 1, n_groups + 1)[1:-1])
    return np.where(fin, np.searchsorted(edges, x, side="right"), 0).astype(np.int64)


def validation_coverage(cube: ForecastCube, forecasts, levels, groups=None, normalise: bool = True) -> dict:
    """Coverage and MSIS at the validation origin, with intervals from earlier origins only.

    Replays the interval procedure one horizon earlier, inside the training data
    (:func:`metacompose.history.validation_split`): the last backtest origin ``O - 2`` plays
    the final origin and only origins whose horizons end before it give scores. Use it to
    judge the intervals (or a change to them) without the test part.

    Args:
        cube: the backtest cube.
        forecasts: forecasts at every origin ``(S, O, H)`` (e.g. the composed forecast).
        levels, groups, normalise: as in :func:`conformal_bounds`.

    Returns:
        ``{level: {"coverage": float in [0, 1], "msis": float}}`` over the validation
        series (MSIS in the MASE scale known at the validation origin); an empty dict when
        the cube has no validation origin (see ``validation_split``).

    Raises:
        InputError: bad levels, or ``forecasts`` not ``(S, O, H)``.
    """
    f = _check_forecasts(cube, forecasts)
    if f.ndim != 3:
        raise InputError(f"forecasts must have shape (S, O, H), got {f.shape}")
    S, O, M, H = cube.shape
    both = replace(cube, forecasts=np.concatenate([cube.forecasts, f[:, :, None].astype(cube.forecasts.dtype)], 2),
                   failed=np.concatenate([cube.failed, np.zeros((S, O, 1), dtype=bool)], 2),
                   models=list(cube.models) + ["\0forecast"])             # a name no model has
    split = validation_split(both)
    if split is None:
        return {}
    sub, actual, mask = split
    scale = known_scales(sub)[:, -1:]
    y = np.where(mask[:, None], actual, np.nan)
    bounds = conformal_bounds(sub.take_models(cube.models), sub.forecasts[:, :, -1], levels, groups, normalise)
    return {level: {"coverage": float(coverage(y, lo, hi)), "msis": float(msis(y, lo, hi, level, scale))}
            for level, (lo, hi) in bounds.items()}


def interval_columns(cube: ForecastCube, composed, levels, composed_name: str = "composed") -> dict:
    """The interval columns of a long forecast frame, per forecast, in statsforecast's names and order.

    Args:
        cube: the backtest cube.
        composed: the composed forecast at every origin ``(S, O, H)``.
        levels: level(s) in percent, each in ``(0, 100)``.
        composed_name: the composed forecast's column name.

    Returns:
        ``{name: {column: values}}`` for each model alias and ``composed_name``: columns
        ``<name>-lo-<level>`` for the levels from highest to lowest, then ``<name>-hi-<level>``
        from lowest to highest, each float64 ``(S * H,)`` (series-major, like the frame).

    Raises:
        InputError: as :func:`conformal_bounds`.
    """
    lv = check_levels(levels)
    per_model = model_intervals(cube, lv)
    out = {}
    for j, name in enumerate(list(cube.models) + [composed_name]):
        if j < len(cube.models):
            bounds = {level: (lo[:, j], hi[:, j]) for level, (lo, hi) in per_model.items()}
        else:
            bounds = composed_intervals(cube, composed, lv)
        cols = {f"{name}-lo-{level}": bounds[level][0].reshape(-1) for level in reversed(lv)}
        cols.update({f"{name}-hi-{level}": bounds[level][1].reshape(-1) for level in lv})
        out[name] = cols
    return out
