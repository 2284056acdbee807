"""Update a fitted composer with new observations: one new origin, no training (``Composer.update``).

When new observations of some or all series arrive, :func:`update_composer`

1. checks them (:func:`new_observations`): every series must be one the composer was fitted
   on (an unknown series is an error: its weights would come from no history, and the pool
   selection and agent never saw it; fit a composer on all series to add it), and each
   series' new timestamps must continue its last one at its frequency, without a gap,
   overlap or going back;
2. fits the base models at the new end of the updated series only
   (:func:`metacompose.backtest_plan.final_origin_plan`: the same fit-predict path, fallbacks
   and timeouts as the backtest; panel models are fitted on every series at its end, as at a
   full backtest's final origin; nothing is cached);
3. appends that origin to the cube (:func:`append_origin`): the old final origin becomes a
   backtest origin whose actuals are now (partly) known; the forecasts at every earlier origin
   are kept as they are -- the data before them did not change, so refitting would give the same;
4. lets the trained agent weigh the new cube (``Composer._finish``): no training, no pool
   selection.

Origin layout. The cube gains one origin column for every series, so that the last column is
every series' final origin: an updated series' row is its old origins followed by the new
end; a series without new observations keeps its final origin where it was, its row shifted
right behind a non-existent origin (``-1``: NaN forecasts and actuals, as for a short
series), so that its weights and forecast stay what they were.

What the new final origin knows (:mod:`metacompose.history`): the new origin lies ``d``
observations after the old final one (``d`` new values), not ``step`` after it. The cube's
``meta["step"]`` stays the fit's spacing, so :func:`metacompose.history.cutoffs` lets the new
final origin see the actuals before ``min(new end, old end + step)``: the view the agent was
trained on (a last forecast ``step`` old), never more than is known.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from metacompose.backtest import assemble_backtest, run_backtest
from metacompose.backtest_plan import final_origin_plan
from metacompose.cube import ForecastCube
from metacompose.data import Panel, frame_columns, validate_frame
from metacompose.errors import FileFormatError, InputError, NotFittedError
from metacompose.fileio import container_file, load_container, save_container
from metacompose.metrics import mase_scale
from metacompose.report import BacktestReport

_SHOWN = 5  # ids named in a message
SERIES_FORMAT, SERIES_VERSION = "metacompose.series", 1
"""The saved series' values (``series.json`` + ``series.npz`` in a composer's folder), which ``update`` needs."""


def new_observations(panel: Panel, df: pd.DataFrame, id_col: str = "unique_id", time_col: str = "ds",
                     target_col: str = "y") -> list[np.ndarray]:
    """Check new observations against the series of ``panel`` and split them by series.

    Args:
        panel: the series the composer was fitted on (its ids, last timestamps, frequencies).
        df: long frame of new observations (rows in any order), columns named as in the fit.
        id_col, time_col, target_col: its column names.

    Returns:
        ``S`` float64 arrays in the order of ``panel.ids``: the new values of each series,
        oldest first (empty for a series without new observations).

    Raises:
        InputError: the frame's columns, values or timestamps are bad (as
            :func:`metacompose.data.validate_frame`); a series the composer was not fitted on
            (named); timestamps of another kind than the series' (datetimes for integers, say);
            timestamps that overlap or go back (at or before the series' last timestamp), are
            repeated, leave a gap (a missing timestamp at the series' frequency) or are off that
            frequency: the message names the series, the timestamp expected and the one found.
    """
    codes, uniques, vals, ds, kind = frame_columns(df, id_col, time_col, target_col)
    index = {str(sid): i for i, sid in enumerate(panel.ids)}
    unknown = [u for u in uniques if str(u) not in index]
    if unknown:
        raise InputError(f"update: {len(unknown)} series the composer was not fitted on, e.g. "
                         f"{', '.join(repr(u) for u in unknown[:_SHOWN])}; update only extends the fitted series "
                         f"(fit a composer on all series to add new ones)")
    new = [np.zeros(0) for _ in panel.ids]
    for c, sid in enumerate(uniques):
        i = index[str(sid)]
        rows = np.flatnonzero(codes == c)
        t = ds[rows]
        order = np.argsort(t.asi8 if kind == "datetime" else t, kind="stable")
        _check_continuation(panel, i, t[order], kind, time_col)
        new[i] = vals[rows][order]
    return new


def _check_continuation(panel: Panel, i: int, t, kind: str, time_col: str) -> None:
    """Refuse timestamps ``t`` (sorted) that do not continue series ``i`` of ``panel`` at its frequency.

    Raises:
        InputError: as :func:`new_observations`.
    """
    sid, last, freq = panel.ids[i], panel.last_ds[i], panel.freqs[i]
    if (kind == "int") != isinstance(freq, (int, np.integer)):
        have = "integers" if isinstance(freq, (int, np.integer)) else "datetimes"
        raise InputError(f"update: series {sid!r} has {have} as {time_col}; the new observations have "
                         f"{'integers' if kind == 'int' else 'datetimes'}")
    expected = panel.future_ds(i, len(t))
    try:
        same = np.asarray([a == b for a, b in zip(t, expected)], dtype=bool)
        back = [a <= last for a in t]
    except TypeError:  # e.g. a time-zone-aware timestamp against a naive one
        raise InputError(f"update: series {sid!r}: the new {time_col} values cannot be compared with its last one "
                         f"({last}); give them in the same time zone") from None
    if same.all():
        return
    j = int(np.argmin(same))
    if j > 0 and t[j] == t[j - 1]:
        raise InputError(f"update: series {sid!r}: {time_col}={t[j]} appears twice in the new observations")
    if back[j]:
        raise InputError(f"update: series {sid!r} already has data up to {time_col}={last}; new observations must "
                         f"continue at {time_col}={expected[j]}, got {t[j]} (overlapping or older timestamps)")
    freq = getattr(freq, "freqstr", freq)
    if t[j] > expected[j]:
        raise InputError(f"update: series {sid!r}: a gap in {time_col}: expected {expected[j]} (frequency {freq}), "
                         f"got {t[j]}; fill the missing timestamps first")
    raise InputError(f"update: series {sid!r}: {time_col}={t[j]} is off its frequency {freq}: expected {expected[j]}")


def append_origin(cube: ForecastCube, final: ForecastCube, rows, values, season_length: int) -> ForecastCube:
    """The cube with one more origin: the new end of the series ``rows``.

    Args:
        cube: the fitted cube, ``(S, O, M, H)``.
        final: a one-origin cube ``(S, 1, M, H)`` of the same models at the new ends (only its
            ``rows`` are used).
        rows: indices of the series with new observations.
        values: the ``S`` updated series, float64 ``(t_i,)``.
        season_length: ``m``, for the MASE scale of the updated series.

    Returns:
        a new cube ``(S, O + 1, M, H)`` laid out as the module notes say; the updated series'
        actuals are recomputed from ``values`` (the old final origin's become known) and their
        ``scales`` cover the whole updated series; ``meta["updates"]`` counts the updates.
    """
    S, O, M, H = cube.shape
    upd = np.zeros(S, dtype=bool)
    upd[list(rows)] = True

    def grow(old: np.ndarray, new: np.ndarray, fill) -> np.ndarray:
        out = np.full((S, O + 1) + old.shape[2:], fill, dtype=old.dtype)
        out[upd, :O], out[upd, O] = old[upd], new[upd, 0]
        out[~upd, 1:] = old[~upd]
        return out

    origins = grow(cube.origins, final.origins, -1)
    actuals = grow(cube.actuals, final.actuals, np.nan)
    scales = cube.scales.copy()
    for i in np.flatnonzero(upd):
        scales[i] = mase_scale(values[i], season_length)
        for k in range(O):
            if origins[i, k] >= 0:
                seg = values[i][origins[i, k]:origins[i, k] + H]
                actuals[i, k, :] = np.nan
                actuals[i, k, :seg.shape[0]] = seg
    return replace(
        cube, forecasts=grow(cube.forecasts, final.forecasts, np.nan), actuals=actuals, scales=scales,
        origin_scales=grow(cube.origin_scales, final.origin_scales, 1.0), origins=origins,
        features=grow(cube.features, final.features, 0.0), failed=grow(cube.failed, final.failed, False),
        meta={**cube.meta, "updates": int(cube.meta.get("updates", 0)) + 1},
    )


def update_composer(comp, new_df: pd.DataFrame):
    """Append new observations to a fitted composer and forecast from the new end (module notes).

    Args:
        comp: a fitted :class:`~metacompose.composer.Composer` (fitted, or loaded from a folder
            with the series' values, ``series.json``: :func:`save_series`).
        new_df: long frame of the new observations, columns named as in the fit.

    Returns:
        ``comp``, updated in place: ``panel_`` (values appended, new last timestamps),
        ``cube_`` (one origin more), ``update_report_`` (a :class:`BacktestReport` of the fits at
        the new origin), ``weights_`` and ``forecast_``; the agent is not trained. When the
        input is refused, nothing changes.

    Raises:
        NotFittedError: ``comp`` is not fitted.
        InputError: bad new observations (see :func:`new_observations`); a composer without
            its series' values (loaded from a folder saved before update existed) or whose pool
            could not be rebuilt.
    """
    if comp.cube_ is None:
        raise NotFittedError("call Composer.fit(df) before update(new_df)")
    panel, cube = comp.panel_, comp.cube_
    if len(panel.values) != len(panel.ids):
        raise InputError("this composer does not hold its series' values (it was loaded from a folder saved before "
                         "update existed, without series.json): it predicts, but cannot update; fit it again on "
                         "the whole data")
    pool = {m.alias: m for m in comp.pool}
    if any(a not in pool for a in cube.models):
        raise InputError(f"this composer's pool {list(cube.models)} could not be rebuilt when it was loaded; register "
                         "its models (metacompose.models.REGISTRY) to update it")
    new = new_observations(panel, new_df, comp.id_col, comp.time_col, comp.target_col)
    rows = [i for i, v in enumerate(new) if v.size]
    values = [np.concatenate([y, v]) for y, v in zip(panel.values, new)]
    final, report = final_origin(values, [pool[a] for a in cube.models], comp, panel.ids, rows)
    last = [panel.future_ds(i, len(v))[-1] if len(v) else panel.last_ds[i] for i, v in enumerate(new)]
    comp.cube_ = append_origin(cube, final, rows, values, comp.season_length)
    comp.cube_, _ = comp.cube_.clip_at_zero(comp._nonnegative_rows(values))  # as fit does (Composer nonnegative=)
    comp.panel_, comp.update_report_ = Panel(list(panel.ids), values, last, list(panel.freqs)), report
    comp._finish()
    return comp


def final_origin(values: list, pool: list, comp, ids, rows) -> tuple[ForecastCube, BacktestReport]:
    """Forecasts, features and scales at the end of every series (of ``rows`` for per-series models).

    Args:
        values: the ``S`` series up to their new ends; pool: the cube's models, in cube order;
        comp: the composer (horizon, season length, timeouts, workers, backend, progress);
        ids: the series ids; rows: the series with new observations.

    Returns:
        ``(cube (S, 1, M, H), report)``: only the ``rows`` of the cube are meant to be used; the
        report counts the fallbacks at this origin (for the panel models, over every series).
    """
    plan = final_origin_plan(values, pool, comp.horizon, comp.season_length, ids, rows, comp.timeout,
                             comp.panel_timeout, features=comp.features)
    cube, report = assemble_backtest(plan, run_backtest(plan, comp.n_jobs, comp.backend, comp.progress))
    report.short_series = []  # a one-origin plan has no backtest origin by design
    return cube, report


def extension_rows(comp, df: pd.DataFrame) -> pd.DataFrame | None:
    """The rows of ``df`` that come after a fitted composer's data, when ``df`` only extends it.

    ``df`` extends the composer when it holds exactly the composer's series (ids compared as
    strings), each starting with the same observations the composer holds (same timestamps;
    values equal to 1e-9 relative) and possibly continuing them.

    Args:
        comp: a fitted composer holding its series' values; df: a long frame, columns named as
            the composer's ``id_col``, ``time_col``, ``target_col``.

    Returns:
        a long frame of the observations after each series' end (possibly empty), or None when
        ``df`` does not extend the composer's data (other series, other history) or the
        composer does not hold its series' values.

    Raises:
        InputError: ``df`` is not a valid long frame (as :func:`metacompose.data.validate_frame`).
    """
    panel = comp.panel_
    if len(panel.values) != len(panel.ids):
        return None
    full = validate_frame(df, comp.id_col, comp.time_col, comp.target_col)
    index = {str(sid): i for i, sid in enumerate(panel.ids)}
    if sorted(map(str, full.ids)) != sorted(index):
        return None
    parts = []
    for j, sid in enumerate(full.ids):
        i, y = index[str(sid)], full.values[j]
        n = len(panel.values[i])
        if len(y) < n or not pd.Index(full.timestamps(j)[:n]).equals(pd.Index(panel.timestamps(i))) or \
                not np.allclose(y[:n], panel.values[i], rtol=1e-9, atol=0.0):
            return None
        parts.append(pd.DataFrame({comp.id_col: [sid] * (len(y) - n), comp.time_col: full.timestamps(j)[n:],
                                   comp.target_col: y[n:]}))
    return pd.concat(parts, ignore_index=True)


def save_series(panel: Panel, path) -> None:
    """Save the panel's values as a :mod:`metacompose.fileio` container: ``<path>.json`` (the ids) and
    ``<path>.npz`` (``values``: float64, every series concatenated; ``lengths``: int64 ``(S,)``). A panel
    without values (a composer loaded from a folder saved before update existed) removes the files."""
    if len(panel.values) != len(panel.ids):
        for suffix in (".json", ".npz"):
            container_file(path, suffix).unlink(missing_ok=True)
        return
    values = [np.asarray(v, dtype=np.float64) for v in panel.values]
    save_container(path, SERIES_FORMAT, SERIES_VERSION, {"ids": [str(i) for i in panel.ids]},
                   {"values": np.concatenate(values) if values else np.zeros(0),
                    "lengths": np.array([v.shape[0] for v in values], dtype=np.int64)})


def load_series(path, ids) -> list[np.ndarray]:
    """The values saved by :func:`save_series` for the series ``ids``; ``[]`` when there is no
    ``<path>.json`` (a composer saved before update existed: it predicts but cannot update).

    Raises:
        FileNotFoundError: the ``.npz`` is missing.
        FileFormatError: corrupted, from a newer version, or saved for other series than ``ids``.
    """
    if not container_file(path, ".json").exists():
        return []
    header, arrays = load_container(path, SERIES_FORMAT, SERIES_VERSION, "series", ("values", "lengths"))
    values, lengths = arrays["values"].astype(np.float64), arrays["lengths"].astype(np.int64)
    if header.get("ids") != [str(i) for i in ids] or values.ndim != 1 or lengths.ndim != 1 or (lengths < 0).any() \
            or int(lengths.sum()) != values.shape[0]:
        raise FileFormatError(f"{container_file(path, '.npz')} does not hold the values of the composer's series")
    return [v.copy() for v in np.split(values, np.cumsum(lengths)[:-1])] if lengths.size else []
