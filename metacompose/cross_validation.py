"""Cross-validation of the whole composer on a user's data (``Composer.cross_validation``), and its scores.

The layout is statsforecast's ``cross_validation`` (Nixtla): for each of the last
``n_windows`` cutoffs of every series, ``step`` observations apart (default ``h``), the
rows ``unique_id, ds, cutoff, y`` and one column per forecast. Cutoffs are counted from
the end of each series: window ``w`` (``0`` the oldest) of a series of length ``n`` trains
on its first ``n - h - step * (n_windows - 1 - w)`` observations, so the newest window's
horizon ends with the data. ``cutoff`` is the timestamp of the last training observation.

For each window a fresh composer with the same constructor arguments is fitted on the data
up to and including its cutoff *only* -- the backtest, the pool selection and the agent's
training all happen inside that window's training data -- and forecasts ``h`` steps: nothing
after a cutoff can reach that cutoff's rows (``tests/test_cross_validation.py`` changes the
later values and checks). One exception by construction: a composer with
``train_agent=False`` uses its given, already trained agent in every window; whether that
agent saw data after a cutoff is up to whoever trained it.

:func:`cross_validation_scores` scores such a frame: sMAPE, MASE, MAPE and, for interval
columns, coverage, per method.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metacompose.checks import check_int, check_levels, check_optional_int
from metacompose.data import validate_frame
from metacompose.errors import InputError
from metacompose.metrics import coverage, mape, mase, mase_scale, smape

CUTOFF = "cutoff"


def window_ends(lengths, horizon: int, n_windows: int, step: int, min_train: int, ids) -> np.ndarray:
    """Training lengths int64 ``(S, n_windows)``: ``n_i - h - step * (n_windows - 1 - w)``, oldest window first.

    Args:
        lengths: ``S`` series lengths; horizon: ``h``; n_windows, step: as
        :func:`cross_validation`; min_train: fewest observations a composer is fitted on; ids:
        the ``S`` series ids (for the message).

    Raises:
        InputError: the shortest series is too short for ``n_windows`` windows: the message
            names it, its length, the length needed and how many windows it allows.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    held_out = horizon + step * (n_windows - 1)
    need = min_train + held_out
    i = int(np.argmin(lengths))
    if lengths[i] < need:
        fits = max(0, (int(lengths[i]) - min_train - horizon) // step + 1)
        raise InputError(f"n_windows={n_windows} is too large for series {ids[i]!r}: with horizon {horizon} and step "
                         f"{step} the windows hold out its last {held_out} observations and each fit needs at least "
                         f"{min_train} before the first cutoff, so it needs {need} observations; it has "
                         f"{int(lengths[i])} (at most {fits} window(s) fit)")
    back = horizon + step * np.arange(n_windows - 1, -1, -1, dtype=np.int64)
    return lengths[:, None] - back[None, :]


def cross_validation(comp, df: pd.DataFrame, n_windows: int, step: int | None = None, level=None) -> pd.DataFrame:
    """Fit a fresh copy of ``comp`` at each of the last ``n_windows`` cutoffs and forecast after each (module notes).

    Args:
        comp: the :class:`~metacompose.composer.Composer` whose constructor arguments are used
            (``Composer(**comp.get_params())``; an agent instance to train is cloned per
            window); it is neither fitted nor changed.
        df: long frame with every observation (columns ``comp.id_col``, ``time_col``, ``target_col``).
        n_windows: number of cutoffs (positive int).
        step: observations between consecutive cutoffs (positive int; default ``h``).
        level: None, or interval level(s) in percent in ``(0, 100)``, passed to
            ``Composer.predict(level=...)``.

    Returns:
        long frame, one row per series, cutoff and step, ordered by series (first appearance),
        cutoff, ``ds``: ``id_col``, ``time_col``, ``cutoff``, ``target_col`` (the actual), one
        column per model of the pool (NaN in a window whose pool selection dropped it),
        ``composed``, the interval columns with ``level``, and ``weight_<model>`` (0 for a
        dropped model; the weights of each row sum to 1).

    Raises:
        InputError: ``n_windows`` or ``step`` not a positive int; a bad ``level``; a bad frame
            (as :meth:`Composer.fit`); ``n_windows`` too large for the shortest series (named,
            with the length needed); a pool that could not be rebuilt.
        SeriesTooShortError: as :meth:`Composer.fit`.
    """
    n_windows = check_int(n_windows, "n_windows")
    step = comp.horizon if step is None else check_optional_int(step, "step")
    level = None if level is None else check_levels(level)
    if not comp.pool:
        raise InputError("this composer's pool could not be rebuilt when it was loaded; register its models "
                         "(metacompose.models.REGISTRY) to cross-validate it")
    panel = validate_frame(df, comp.id_col, comp.time_col, comp.target_col)
    need = max(m.min_length for m in comp.pool)
    ends = window_ends([len(y) for y in panel.values], comp.horizon, n_windows, step, need, panel.ids)
    frames = [_window(comp, panel, ends[:, w], level).assign(_w=w) for w in range(n_windows)]
    return _assemble(comp, frames, len(panel.ids))


def _window(comp, panel, ends: np.ndarray, level) -> pd.DataFrame:
    """Fit a fresh composer on each series up to ``ends`` and return its forecasts with cutoff and actuals."""
    params = comp.get_params()
    if params["train_agent"] and not isinstance(params["agent"], str):
        params["agent"] = params["agent"].clone()
    fresh = type(comp)(**params).fit(panel.to_frame(comp.id_col, comp.time_col, comp.target_col, ends))
    fc = fresh.predict() if level is None else fresh.predict(level=level)
    H = comp.horizon
    cutoffs = pd.Index([panel.timestamps(i)[e - 1] for i, e in enumerate(ends)]).repeat(H)
    fc.insert(2, CUTOFF, pd.Series(cutoffs, index=fc.index))
    fc.insert(3, comp.target_col, np.concatenate([panel.values[i][e:e + H] for i, e in enumerate(ends)]))
    return fc.assign(_s=np.repeat(np.arange(len(ends)), H), _k=np.tile(np.arange(H), len(ends)))


def _assemble(comp, frames: list, S: int) -> pd.DataFrame:
    """Concatenate the windows' frames in statsforecast's order, with the pool's columns in pool order."""
    out = pd.concat(frames, ignore_index=True)
    out = out.iloc[np.lexsort((out["_k"].to_numpy(), out["_w"].to_numpy(), out["_s"].to_numpy()))]
    out = out.drop(columns=["_s", "_w", "_k"]).reset_index(drop=True)
    aliases = [m.alias for m in comp.pool]
    weights = [f"weight_{a}" for a in aliases if f"weight_{a}" in out.columns]
    out[weights] = out[weights].fillna(0.0)
    head = [comp.id_col, comp.time_col, CUTOFF, comp.target_col]
    rest = [c for c in out.columns if c not in head and c not in weights]

    def owner(c: str) -> int:  # a model's interval columns stay behind it, in the pool's order
        return next((j for j, a in enumerate(aliases) if c == a or c.startswith((f"{a}-lo-", f"{a}-hi-"))), len(aliases))
    return out[head + sorted(rest, key=lambda c: (owner(c), rest.index(c))) + weights]


def _methods(cv: pd.DataFrame, skip) -> tuple[list[str], dict[str, list]]:
    """Forecast columns of a cross-validation frame, and each one's interval levels (from ``<name>-lo-<level>``)."""
    names = [c for c in cv.columns if c not in skip and not str(c).startswith("weight_")
             and "-lo-" not in str(c) and "-hi-" not in str(c)]
    levels = {n: sorted((c[len(n) + 4:] for c in cv.columns if str(c).startswith(f"{n}-lo-")
                         and f"{n}-hi-{c[len(n) + 4:]}" in cv.columns), key=float) for n in names}
    return names, levels


def cross_validation_scores(cv: pd.DataFrame, df: pd.DataFrame, season_length: int, id_col: str = "unique_id",
                            time_col: str = "ds", target_col: str = "y") -> pd.DataFrame:
    """sMAPE, MASE, MAPE and coverage of every forecast column of a :func:`cross_validation` frame.

    Every error is averaged over all rows (series x cutoffs x steps) where the forecast is
    known. MASE divides each row's absolute error by the MASE scale of its series' data up to
    and including its cutoff (:func:`metacompose.metrics.mase_scale` with lag ``season_length``),
    the scale known at that cutoff.

    Args:
        cv: the frame :func:`cross_validation` returned (its ``cutoff`` values as returned).
        df: the long frame it was computed from (for the scales).
        season_length: ``m`` of the MASE scale.
        id_col, time_col, target_col: the column names.

    Returns:
        frame indexed by method (each model column, ``composed``, in ``cv``'s order) with
        columns ``sMAPE`` (percent, M3/M4 definition), ``MASE``, ``MAPE`` (percent; actuals of 0
        left out) and, per interval level found, ``coverage-<level>``: the share (0..1) of actuals
        inside ``[<method>-lo-<level>, <method>-hi-<level>]`` (NaN for a method without that level).

    Raises:
        InputError: a bad ``df`` (as :func:`metacompose.data.validate_frame`), or ``cv`` names a
            series that ``df`` lacks.
    """
    panel = validate_frame(df, id_col, time_col, target_col)
    index = {str(s): i for i, s in enumerate(panel.ids)}
    scale = np.ones(len(cv))
    for (sid, cut), rows in cv.groupby([id_col, CUTOFF], sort=False).indices.items():
        if str(sid) not in index:
            raise InputError(f"the cross-validation frame holds series {sid!r}, which the data frame lacks")
        i = index[str(sid)]
        pos = int(np.searchsorted(panel.timestamps(i), cut, side="right"))
        scale[rows] = mase_scale(panel.values[i][:pos], season_length)
    y = cv[target_col].to_numpy(dtype=np.float64)
    names, levels = _methods(cv, {id_col, time_col, CUTOFF, target_col})
    rows = {}
    for n in names:
        f = cv[n].to_numpy(dtype=np.float64)
        yk = np.where(np.isfinite(f), y, np.nan)
        row = {"sMAPE": float(smape(yk, f)), "MASE": float(mase(yk, f, scale)), "MAPE": float(mape(yk, f))}
        for lv in levels[n]:
            row[f"coverage-{lv}"] = float(coverage(yk, cv[f"{n}-lo-{lv}"].to_numpy(dtype=np.float64),
                                                   cv[f"{n}-hi-{lv}"].to_numpy(dtype=np.float64)))
        rows[n] = row
    return pd.DataFrame.from_dict(rows, orient="index")
