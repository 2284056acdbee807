"""Series feature sets: the registry ``name -> (names, function)`` the backtest computes at each origin.

Every set maps the observations known at an origin, ``y[:origin]``, to a float32 vector whose
values lie in ``[-1, 1]``, never NaN (NaN -> 0), and do not depend on the units of the series:

* ``"basic"`` (the default): the seven features of :mod:`metacompose.features`.
* ``"catch22"``: the 22 canonical time-series characteristics of Lubba et al. (2019), "catch22:
  CAnonical Time-series CHaracteristics", Data Mining and Knowledge Discovery 33, computed by
  ``pycatch22.catch22_all`` (which z-scores the series itself).
* ``"tsfeatures"``: the FFORMA feature set (Montero-Manso, Athanasopoulos, Hyndman & Talagala 2020,
  "FFORMA: Feature-based forecast model averaging", IJF 36(1), Table 1) computed by Nixtla's
  ``tsfeatures`` package (a port of R's tsfeatures), on the series mean-std scaled as that package
  and R's ``tsfeatures(scale = TRUE)`` do. Left out: ``heterogeneity`` (``arch_acf``, ``garch_acf``,
  ``arch_r2``, ``garch_r2``): tsfeatures 0.4.5 fits it with statsmodels' ``AR``, which statsmodels
  0.12 removed, so it is NaN for every series. ``hw_parameters`` is computed for ``m > 1`` only
  (a Holt-Winters model needs a season; the package gives NaN for ``m = 1``). With tsfeatures 0.4.5
  and numpy 2, ``stl_features``' trend block (``trend``, ``spike``, ``linearity``, ``curvature``,
  ``e_acf1``, ``e_acf10``) is NaN (so 0) for ``m = 1``: its SuperSmoother fit fails there.

Library features are computed on ``(y - y[-1]) / scale`` (``scale``: the MASE scale at the origin),
which the libraries then z-score, so a series times any ``c > 0`` has the same features. Each raw
value ``x`` is squashed by one fixed map, ``tanh((x - a) / c)`` with the ``(a, c)`` listed beside
its name below (``a``: a centre, ``c``: a typical spread, read off M3's training parts: a fixed
map, not fitted to any data at run time); features known to lie in ``[0, 1]`` use ``(0.5, 0.5)``.
Costs per series and origin (M3 monthly) are in ``benchmarks/m3/fforma_results.md``.
"""

from __future__ import annotations

import difflib
import os
import warnings
from typing import Callable, NamedTuple

import numpy as np

from metacompose.errors import InputError
from metacompose.features import FEATURE_NAMES, series_features
from metacompose.metrics import mase_scale

CATCH22_SPEC: tuple[tuple[str, float, float], ...] = (  # pycatch22 short name, a, c
    ("mode_5", 0.0, 1.0), ("mode_10", 0.0, 1.0), ("outlier_timing_pos", 0.0, 1.0),
    ("outlier_timing_neg", 0.0, 1.0), ("acf_timescale", 0.0, 10.0), ("acf_first_min", 0.0, 10.0),
    ("low_freq_power", 0.5, 0.5), ("median_freq", 1.5, 1.5), ("forecast_error", 1.0, 0.5),
    ("whiten_timescale", 0.5, 0.5), ("high_fluctuation", 0.5, 0.5), ("stretch_high", 0.0, 20.0),
    ("stretch_decreasing", 0.0, 10.0), ("entropy_pairs", 2.0, 0.5), ("ami2", 0.0, 0.5), ("trev", 0.0, 1.0),
    ("ami_timescale", 0.0, 10.0), ("transition_variance", 0.0, 0.05), ("periodicity", 0.0, 12.0),
    ("embedding_dist", 0.0, 0.5), ("rs_range", 0.5, 0.5), ("dfa", 0.5, 0.5),
)

UNIT = (0.5, 0.5)  # features in [0, 1]
TSFEATURES_SPEC: tuple[tuple[str, tuple[tuple[str, float, float], ...]], ...] = (  # function, ((feature, a, c), ...)
    ("acf_features", (("x_acf1", 0.0, 1.0), ("x_acf10", 0.0, 3.0), ("diff1_acf1", 0.0, 1.0),
                      ("diff1_acf10", 0.0, 1.0), ("diff2_acf1", 0.0, 1.0), ("diff2_acf10", 0.0, 1.0),
                      ("seas_acf1", 0.0, 1.0))),
    ("arch_stat", (("arch_lm", *UNIT),)),
    ("crossing_points", (("crossing_points", 0.0, 20.0),)),
    ("entropy", (("entropy", *UNIT),)),
    ("flat_spots", (("flat_spots", 0.0, 10.0),)),
    ("holt_parameters", (("alpha", *UNIT), ("beta", *UNIT))),
    ("lumpiness", (("lumpiness", 0.0, 1.0),)),
    ("nonlinearity", (("nonlinearity", 0.0, 10.0),)),
    ("pacf_features", (("x_pacf5", 0.0, 1.0), ("diff1x_pacf5", 0.0, 1.0), ("diff2x_pacf5", 0.0, 1.0),
                       ("seas_pacf", 0.0, 1.0))),
    ("stl_features", (("nperiods", *UNIT), ("seasonal_period", 0.0, 12.0), ("trend", *UNIT),
                      ("spike", 0.0, 1e-3), ("linearity", 0.0, 5.0), ("curvature", 0.0, 3.0), ("e_acf1", 0.0, 1.0),
                      ("e_acf10", 0.0, 1.0), ("seasonal_strength", *UNIT), ("peak", 0.0, 12.0),
                      ("trough", 0.0, 12.0))),
    ("stability", (("stability", 0.0, 1.0),)),
    ("hw_parameters", (("hw_alpha", *UNIT), ("hw_beta", *UNIT), ("hw_gamma", *UNIT))),
    ("unitroot_kpss", (("unitroot_kpss", 0.0, 1.0),)),
    ("unitroot_pp", (("unitroot_pp", 0.0, 20.0),)),
    ("series_length", (("series_length", 0.0, 100.0),)),
    ("hurst", (("hurst", *UNIT),)),
)
SEASONAL_ONLY = ("hw_parameters",)
"""tsfeatures functions computed for ``m > 1`` only."""


class FeatureSet(NamedTuple):
    """One entry of :data:`FEATURE_SETS`.

    Attributes:
        names: the ``F`` feature names, in output order.
        compute: ``compute(y, season_length, scale) -> float32 (F,)`` in ``[-1, 1]``, for the
            observations ``y`` (float64 ``(t,)``) known at an origin and their MASE scale (> 0).
    """

    names: tuple[str, ...]
    compute: Callable[[np.ndarray, int, float], np.ndarray]


def squash(raw, spec) -> np.ndarray:
    """``tanh((raw - a) / c)`` per feature, NaN -> 0, as float32 in ``[-1, 1]``.

    Args:
        raw: ``F`` raw feature values (NaN allowed); spec: ``F`` tuples ``(name, a, c)``, ``c > 0``.
    """
    x = np.asarray(raw, dtype=np.float64)
    a = np.array([s[1] for s in spec])
    c = np.array([s[2] for s in spec])
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.tanh((x - a) / c)
    return np.clip(np.nan_to_num(out, nan=0.0), -1.0, 1.0).astype(np.float32)


def _prepared(y: np.ndarray, scale: float) -> np.ndarray:
    """``(y - y[-1]) / scale``: the series in units of its MASE scale (no float overflow in the libraries)."""
    y = np.asarray(y, dtype=np.float64)
    return (y - y[-1]) / (scale if scale > 0 and np.isfinite(scale) else 1.0)


def catch22_features(y: np.ndarray, season_length: int, scale: float) -> np.ndarray:
    """The catch22 features of ``y[:origin]``, squashed (:data:`CATCH22_SPEC`).

    Args:
        y: float ``(t,)``; season_length: ``m`` (unused: catch22 does not take it); scale: MASE scale.

    Returns:
        float32 ``(22,)`` in ``[-1, 1]``; zeros for ``t < 3`` or a constant series.
    """
    import pycatch22

    z = _prepared(y, scale)
    if z.shape[0] < 3 or not np.ptp(z) > 0:
        return np.zeros(len(CATCH22_SPEC), dtype=np.float32)
    res = pycatch22.catch22_all(z.tolist(), catch24=False, short_names=True)
    values = dict(zip(res["short_names"], res["values"]))
    return squash([values.get(name, np.nan) for name, _, _ in CATCH22_SPEC], CATCH22_SPEC)


def _tsfeatures_modules():
    """``(tsfeatures.tsfeatures, tsfeatures.utils)``, imported without their side effects.

    tsfeatures 0.4.5 replaces ``warnings.warn`` by a no-op for the whole process and sets
    ``OMP_NUM_THREADS`` (and MKL's, NumExpr's) to 1 when imported; both are restored here.

    Raises:
        InputError: the package is not installed.
    """
    import importlib
    import sys

    if "tsfeatures.tsfeatures" not in sys.modules:
        warn, env = warnings.warn, dict(os.environ)
        try:
            importlib.import_module("tsfeatures")
        except ImportError as exc:
            raise InputError("features='tsfeatures' needs the tsfeatures package (pip install tsfeatures): "
                             f"{exc}") from None
        finally:
            warnings.warn = warn
            for key in ("MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "OMP_NUM_THREADS"):
                if key in env:
                    os.environ[key] = env[key]
                else:
                    os.environ.pop(key, None)
    return sys.modules["tsfeatures.tsfeatures"], sys.modules["tsfeatures.utils"]


def tsfeatures_features(y: np.ndarray, season_length: int, scale: float) -> np.ndarray:
    """The FFORMA features of ``y[:origin]`` from Nixtla's tsfeatures, squashed (:data:`TSFEATURES_SPEC`).

    Each tsfeatures function runs on the mean-std scaled series with ``freq = m``; a function
    that raises (too short a series, a fit that fails) gives NaN, so 0, for its features.

    Args:
        y: float ``(t,)``; season_length: ``m``; scale: MASE scale at the origin.

    Returns:
        float32 ``(F,)``, ``F = len(TSFEATURE_NAMES)``, in ``[-1, 1]``; zeros for ``t < 4`` or a
        constant series.

    Raises:
        InputError: tsfeatures is not installed.
    """
    lib, utils = _tsfeatures_modules()
    spec = [s for _, group in TSFEATURES_SPEC for s in group]
    z = _prepared(y, scale)
    m = max(1, int(season_length))
    if z.shape[0] < 4 or not np.ptp(z) > 0:
        return np.zeros(len(spec), dtype=np.float32)
    x = utils.scalets(z)
    values: dict = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for func, _ in TSFEATURES_SPEC:
            if m == 1 and func in SEASONAL_ONLY:
                continue
            try:
                values.update(getattr(lib, func)(x, m))
            except Exception:  # noqa: BLE001 -- a library function failing on one series gives NaN (-> 0), by design
                pass
    return squash([float(values.get(name, np.nan)) for name, _, _ in spec], spec)


TSFEATURE_NAMES: list[str] = [name for _, group in TSFEATURES_SPEC for name, _, _ in group]
CATCH22_NAMES: list[str] = [name for name, _, _ in CATCH22_SPEC]

FEATURE_SETS: dict[str, FeatureSet] = {
    "basic": FeatureSet(tuple(FEATURE_NAMES), series_features),
    "catch22": FeatureSet(tuple(CATCH22_NAMES), catch22_features),
    "tsfeatures": FeatureSet(tuple(TSFEATURE_NAMES), tsfeatures_features),
}
"""Feature set name -> :class:`FeatureSet` (names, function)."""


def check_feature_set(name) -> str:
    """``name`` if it names a feature set of :data:`FEATURE_SETS` (case-insensitive), lower-cased.

    Raises:
        InputError: not a string or an unknown name; the message suggests the closest one
            (:func:`difflib.get_close_matches`) and lists the valid ones.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in FEATURE_SETS:
        close = difflib.get_close_matches(str(key), list(FEATURE_SETS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InputError(f"unknown feature set {name!r}; {hint}choose from {', '.join(FEATURE_SETS)}")
    return key


def get_feature_set(name) -> FeatureSet:
    """The :class:`FeatureSet` called ``name``.

    Raises:
        InputError: as :func:`check_feature_set`.
    """
    return FEATURE_SETS[check_feature_set(name)]


def origin_features(y: np.ndarray, origins: np.ndarray, season_length: int, name: str) -> np.ndarray:
    """The features of set ``name`` of one series at each of its origins, each from ``y[:origin]`` only.

    Args:
        y: float64 ``(t,)``; origins: int ``(O,)``, an origin below 1 is skipped (zeros);
        season_length: ``m``; name: a feature set.

    Returns:
        float32 ``(O, F)`` in ``[-1, 1]``.

    Raises:
        InputError: an unknown set, or tsfeatures not installed.
    """
    fset = get_feature_set(name)
    out = np.zeros((len(origins), len(fset.names)), dtype=np.float32)
    for k, o in enumerate(np.asarray(origins, dtype=np.int64)):
        if o >= 1:
            prefix = np.asarray(y[:o], dtype=np.float64)
            scale = float(np.float32(mase_scale(prefix, season_length)))  # as the cube stores it (origin_scales)
            out[k] = fset.compute(prefix, season_length, scale)
    return out
