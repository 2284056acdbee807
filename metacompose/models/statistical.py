"""Statistical base forecasters on statsmodels: ETS and Theta here, ARIMA in :mod:`metacompose.models.arima`.

All three share one seasonal treatment, the one of the M4 competition benchmarks
(Makridakis, Spiliotis & Assimakopoulos 2020, ``M4-methods`` repository): when
``season_length`` ``m > 1`` and the series holds at least ``3m`` observations, the
lag-``m`` autocorrelation is tested at the 90% level,

    ``|r_m| > 1.645 * sqrt((1 + 2 * sum_{k=1}^{m-1} r_k^2) / n)``,

and a seasonal series is adjusted by classical decomposition
(:func:`statsmodels.tsa.seasonal.seasonal_decompose`; multiplicative when every value is
positive, additive otherwise). The non-seasonal model is fitted to the adjusted series
and its forecasts are re-seasonalised with the last ``m`` seasonal indices.

All three are fitted to the series divided by its scale and their forecasts are multiplied
back. The scale is :func:`series_scale` (the mean absolute value; 1 for an all-zero series)
over :data:`FIT_MAGNITUDE`, so the models always see a series of mean absolute value 1000.
Every step of the models is scale-equivariant in exact arithmetic (forecasting ``c * y``
gives ``c * forecast(y)`` for ``c > 0``), but statsmodels' optimisers stop on absolute
tolerances and the constant-series check needs a threshold: fitted in the series' own
units, a series of values near ``1e-9`` got an ARIMA forecast of the wrong sign and one
near ``1e-14`` collapsed to its last value (issue 16). On the scaled series the same
tolerances mean the same thing at every magnitude, and the forecasts of ``c * y`` and ``y``
differ only by what a one-ulp change of the data does to the optimisers. The constant
check (:func:`_is_constant`) is relative to the series' own magnitude too.

A fit that raises propagates its exception, so the backtest's fallback
(``SeasonalNaive``) forecasts instead and the failure is counted; a non-finite
forecast raises :class:`~metacompose.errors.ForecastError`. Convergence warnings of
statsmodels are silenced inside the fits.
"""

from __future__ import annotations

import warnings

import numpy as np
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.forecasting.theta import ThetaModel
from statsmodels.tsa.seasonal import seasonal_decompose
from statsmodels.tsa.stattools import acf

from metacompose.errors import ForecastError, InputError
from metacompose.models.base import Forecaster

__all__ = ["ETS", "Theta", "seasonality_test", "series_scale", "FIT_MAGNITUDE", "SeasonalAdjustment"]


# -- shared helpers -----------------------------------------------------------------------
def seasonality_test(y: np.ndarray, m: int) -> bool:
    """90% autocorrelation test for seasonality at lag ``m`` (M4 Theta benchmark).

    Args:
        y: series, float array ``(t,)``.
        m: season length.

    Returns:
        True when ``m > 1``, ``t >= 3m`` and ``|r_m|`` exceeds
        ``1.645 * sqrt((1 + 2 * sum_{k<m} r_k^2) / t)`` (Bartlett's standard error).
    """
    n = y.shape[0]
    if m <= 1 or n < 3 * m or _is_constant(y):
        return False
    r = acf(y, nlags=m, fft=False)
    limit = 1.645 * np.sqrt((1.0 + 2.0 * np.sum(r[1:m] ** 2)) / n)
    return bool(abs(r[m]) > limit)


class SeasonalAdjustment:
    """Classical seasonal adjustment of one series, and re-seasonalisation of forecasts.

    Built by :meth:`fit`; ``factors`` is ``None`` when the series is not adjusted (``m == 1``,
    too short, or the test finds no seasonality).

    Attributes:
        mode: ``"multiplicative"``, ``"additive"`` or ``"none"``.
        factors: the last ``m`` seasonal indices (times ``t-m .. t-1``), float ``(m,)``, or None.
    """

    def __init__(self, mode: str = "none", factors: np.ndarray | None = None) -> None:
        self.mode = mode
        self.factors = factors

    @classmethod
    def fit(cls, y: np.ndarray, m: int, test: bool = True) -> tuple["SeasonalAdjustment", np.ndarray]:
        """Test and, if seasonal, decompose one series.

        Args:
            y: series, float ``(t,)``.
            m: season length.
            test: apply :func:`seasonality_test` first (False: adjust whenever ``t >= 3m``).

        Returns:
            ``(adjustment, adjusted series (t,))``; ``y`` itself when it is not adjusted.
        """
        n = y.shape[0]
        if m <= 1 or n < 3 * m or (test and not seasonality_test(y, m)):
            return cls(), y
        mode = "multiplicative" if np.min(y) > 0 else "additive"
        seasonal = np.asarray(seasonal_decompose(y, model=mode, period=m).seasonal, dtype=np.float64)
        if not np.all(np.isfinite(seasonal)) or (mode == "multiplicative" and np.min(seasonal) <= 0):
            return cls(), y
        adjusted = y / seasonal if mode == "multiplicative" else y - seasonal
        return cls(mode, seasonal[-m:].copy()), adjusted

    def apply(self, fc: np.ndarray) -> np.ndarray:
        """Re-seasonalise forecasts ``fc`` (shape ``(h,)``) of the adjusted series."""
        if self.factors is None:
            return fc
        m = self.factors.shape[0]
        idx = np.tile(self.factors, int(np.ceil(fc.shape[0] / m)))[: fc.shape[0]]
        return fc * idx if self.mode == "multiplicative" else fc + idx


def _aicc(loglik: float, k: int, n: int) -> float:
    """AICc = -2 logL + 2k + 2k(k+1)/(n-k-1); ``inf`` when ``n - k - 1 <= 0``."""
    if n - k - 1 <= 0 or not np.isfinite(loglik):
        return np.inf
    return -2.0 * loglik + 2.0 * k + 2.0 * k * (k + 1) / (n - k - 1)


FIT_MAGNITUDE = 1000.0
"""Mean absolute value of the series the statistical models are fitted to (see the module docstring).

Any fixed value makes the forecasts scale-equivariant; ARIMA and Theta hardly depend on it
(validation sMAPE on the last ``h`` points of the M3 training parts, 300 yearly and 300
quarterly series: within 0.03 between 1 and 1000). ETS does: statsmodels' ``ETSModel``
optimises the initial states together with the smoothing parameters (L-BFGS-B, numerical
gradient, absolute tolerances): on a series of magnitude 1 it reaches a higher likelihood
(on 60-77% of the quarterly and monthly series) but forecasts worse than at magnitude
1000, where it stops earlier: validation sMAPE yearly (645 series) 21.55 at 1 vs 21.14 at
1000, quarterly (300) 12.06 vs 11.98, monthly (300) 24.60 vs 24.41, other (300) 4.11 vs
4.12. 1000 is also the magnitude of the M3 data on which the models' defaults were chosen
(unscaled fits there: 21.18, 11.88, 24.37, 4.10). The price: at 1000 ETS is more sensitive
to one-ulp changes of the data (which is all that separates ``c * y`` from ``y`` once
scaled): on random short series its forecast moves by a median 1e-7 of the series' level,
but up to ~1e-2 on a few ill-conditioned fits (at magnitude 1: up to ~1e-3).
"""


def series_scale(y: np.ndarray) -> float:
    """The typical magnitude of a series: the mean absolute value of ``y``.

    Computed as ``max|y| * mean(|y| / max|y|)`` so that it neither overflows for values
    near the float64 limit nor underflows for tiny ones. The statistical models are fitted
    to ``y / series_scale(y) * FIT_MAGNITUDE``.

    Args:
        y: series, finite float ``(t,)``, in the units of the data.

    Returns:
        positive float in the units of ``y``; 1.0 for an all-zero series (nothing to scale).
    """
    peak = float(np.max(np.abs(y)))
    if not peak > 0.0:
        return 1.0
    return peak * float(np.mean(np.abs(y) / peak))


def _is_constant(y: np.ndarray) -> bool:
    """True when the range of ``y`` is at most ``1e-10`` of its largest absolute value.

    Relative to the series' own magnitude, so the answer is the same for ``y`` and ``c * y``
    (an absolute floor would call every series of values below ``1e-10`` constant). An
    all-zero series is constant.

    Args:
        y: series, finite float ``(t,)``.
    """
    return bool(np.ptp(y) <= 1e-10 * float(np.max(np.abs(y))))


class _Adjusted(Forecaster):
    """Shared frame: scaling, seasonal adjustment, constant series, finite forecasts.

    ``_fit`` rescales the series to ``y / series_scale(y) * FIT_MAGNITUDE`` (a series of mean
    absolute value 1000 whatever the units: scale-equivariance, module docstring; an
    all-zero series stays zero), seasonally adjusts it and hands the adjusted series to
    ``_fit_adjusted``; ``_predict`` re-seasonalises ``_forecast_adjusted(h)`` and scales it
    back to the units of ``y``. Subclasses write ``_fit_adjusted(x)`` and
    ``_forecast_adjusted(h) -> (h,)`` for the scaled, adjusted series ``x`` and never see the
    original units; statsmodels warnings are silenced around both. ``_fit_adjusted(x, previous)``
    gets the same model fitted at an earlier origin of the series (a warm start,
    :meth:`Forecaster.fit`) when the subclass has ``warm_start=True`` and ``previous`` was
    not a constant series, else None.
    """

    fallback = "SeasonalNaive"

    def __init__(self, season_length: int = 1, alias: str | None = None, seasonal_test: bool = True) -> None:
        super().__init__(season_length, alias)
        self.seasonal_test = bool(seasonal_test)

    def _fit(self, y: np.ndarray) -> None:
        self._fit_from(y, None)

    def _fit_from(self, y: np.ndarray, previous: "_Adjusted | None") -> None:
        self._scale = series_scale(y)  # divide before multiplying: no underflow for tiny series
        x = y / self._scale * FIT_MAGNITUDE
        self._adj, x = SeasonalAdjustment.fit(x, self.season_length, self.seasonal_test)
        self._const_value = float(x[-1]) if _is_constant(x) else None
        if previous is not None and (previous._const_value is not None or not self.warm_starts):
            previous = None  # nothing fitted to start from, or warm starts switched off
        if self._const_value is None:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                self._fit_adjusted(x, previous)

    @property
    def warm_starts(self) -> bool:
        """The subclass's ``warm_start`` parameter (False when it has none, as Theta)."""
        return bool(getattr(self, "warm_start", False))

    def _rescaled(self, previous: "_Adjusted") -> float:
        """Factor from ``previous``'s scaled units to this fit's (``FIT_MAGNITUDE / series_scale`` of each)."""
        return previous._scale / self._scale

    def _predict(self, h: int) -> np.ndarray:
        if self._const_value is not None:
            return self._adj.apply(np.full(h, self._const_value)) / FIT_MAGNITUDE * self._scale
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            fc = np.asarray(self._forecast_adjusted(h), dtype=np.float64).reshape(-1)
        fc = self._adj.apply(fc) / FIT_MAGNITUDE * self._scale
        if not np.all(np.isfinite(fc)):
            raise ForecastError(f"{self.alias} produced NaN or infinite forecasts")
        return fc


# -- ETS ----------------------------------------------------------------------------------
_TRENDS = {"N": (None, False), "A": ("add", False), "Ad": ("add", True)}
_TREND_SETS = {"auto": ("N", "Ad"), "all": ("N", "A", "Ad")}


class ETS(_Adjusted):
    """Exponential smoothing state-space model chosen by AICc (statsmodels ``ETSModel``).

    ``forecast::ets`` (Hyndman, Koehler, Snyder & Grose 2002) without seasonal states: the
    series is seasonally adjusted (module docstring), ETS models (statsmodels ``ETSModel``,
    Hyndman et al. 2008; maximum likelihood, estimated initial states) are fitted, the
    lowest AICc wins and its point forecasts are re-seasonalised. Default candidates: no
    trend ("N", simple exponential smoothing) and additive damped trend ("Ad", Gardner &
    McKenzie 1985, ``phi`` in [0.8, 0.98]), additive errors (chosen on the M3 *training*
    parts, ``benchmarks/validation/stat_defaults.py``; the numbers are in
    ``benchmarks/RESULTS.md``). A candidate with ``t <= k + 1`` (``k`` parameters incl.
    ``sigma2``) is skipped unless it is the first.

    Args:
        season_length: seasonal period ``m``.
        alias: defaults to ``"ETS"``.
        trend: ``"auto"`` (N or Ad), ``"all"`` (N, A or Ad), or a fixed ``"N"``, ``"A"``, ``"Ad"``.
        error: ``"add"``, or ``"auto"`` to try multiplicative errors too on positive series.
        seasonal_test: test before adjusting (True) or adjust every series with ``t >= 3m``.
        warm_start: when ``fit(y, previous=...)`` gets this model fitted at an earlier origin of
            the series (the backtest passes each origin the fit of the origin before, except at
            the first backtest origin and at the final one), fit only the specification it chose
            (errors and trend), if still a candidate, starting from its estimates (initial
            states rescaled to this fit's units). Not leakage: the choice and the estimates come
            from the earlier, shorter series alone. Off by default: on the M3 training parts'
            backtests it made the backtest forecasts less accurate for a 1.3-2x faster fit
            (numbers in ``benchmarks/speed/RESULTS.md``, "warm starts").

    Raises:
        InputError: bad ``season_length`` (from :class:`Forecaster`), or ``trend`` or
            ``error`` is not one of the accepted strings.
    """

    alias = "ETS"

    def __init__(self, season_length: int = 1, alias: str | None = None, trend: str = "auto",
                 error: str = "add", seasonal_test: bool = True, warm_start: bool = False) -> None:
        super().__init__(season_length, alias, seasonal_test)
        if trend not in _TREND_SETS and trend not in _TRENDS:
            raise InputError(f"trend must be 'auto', 'all', 'N', 'A' or 'Ad', got {trend!r}")
        if error not in ("add", "auto"):
            raise InputError(f"error must be 'add' or 'auto', got {error!r}")
        self.trend = trend
        self.error = error
        self.warm_start = bool(warm_start)

    @property
    def min_length(self) -> int:
        """Four observations (simple exponential smoothing has three parameters)."""
        return 4

    def _fit_adjusted(self, x: np.ndarray, previous: "ETS | None" = None) -> None:
        n = x.shape[0]

        def n_params(name: str) -> int:  # alpha, l0, sigma2; beta, b0; phi
            return 3 + 2 * (name != "N") + (name == "Ad")

        trends = list(_TREND_SETS.get(self.trend, (self.trend,)))
        trends = [t for t in trends if n > n_params(t) + 1] or trends[:1]
        errors = ["add", "mul"] if self.error == "auto" and np.min(x) > 0 else ["add"]
        candidates = [(err, name) for name in trends for err in errors]
        start = None
        if previous is not None and previous._spec in candidates:  # the earlier origin's choice and estimates
            candidates, start = [previous._spec], self._start_from(previous)
        best, best_score, last_exc = None, np.inf, None
        for err, name in candidates:
            tr, damped = _TRENDS[name]
            try:
                res = ETSModel(x, error=err, trend=tr, damped_trend=damped).fit(start_params=start, disp=False)
            except Exception as exc:  # noqa: BLE001 - try the other candidates
                last_exc = exc
                continue
            score = _aicc(float(res.llf), n_params(name), n)
            score = min(score, np.finfo(float).max)  # undefined AICc (inf): last resort
            if score < best_score:
                best, best_score, self._spec = res, score, (err, name)
        if best is None:
            raise last_exc if last_exc is not None else ForecastError(f"{self.alias}: no model could be fitted")
        self._res = best

    def _start_from(self, previous: "ETS") -> np.ndarray:
        """``previous``'s estimates with its initial states rescaled to this fit's units (smoothing and
        damping parameters are scale-free)."""
        start = np.array(previous._res.params, dtype=float)
        names = previous._res.model.param_names
        for i, name in enumerate(names):
            if name.startswith("initial_"):
                start[i] *= self._rescaled(previous)
        return start

    def _forecast_adjusted(self, h: int) -> np.ndarray:
        return np.asarray(self._res.forecast(h))


# -- Theta --------------------------------------------------------------------------------
class Theta(_Adjusted):
    """The Theta method (Assimakopoulos & Nikolopoulos 2000) via statsmodels ``ThetaModel``.

    The series is seasonally adjusted as in the module docstring (the M3/M4 benchmark's
    treatment; ``ThetaModel``'s own adjustment is switched off), then
    ``ThetaModel(x, deseasonalize=False).fit()`` estimates the slope ``b0`` of a linear
    trend by OLS and simple exponential smoothing (``alpha`` by least squares, initial level
    = first value). The forecast is SES plus ``(1 - 1/theta)`` of the trend, i.e. for
    ``theta = 2`` SES with drift ``b0 / 2`` (Hyndman & Billah 2003), re-seasonalised.

    Args:
        season_length: seasonal period ``m``.
        alias: defaults to ``"Theta"``.
        theta: weight of the theta line, ``>= 1`` (2 is the classical method).
        seasonal_test: test before adjusting (True) or adjust every series with ``t >= 3m``.

    Raises:
        InputError: bad ``season_length`` (from :class:`Forecaster`), or ``theta < 1``.
    """

    alias = "Theta"

    def __init__(self, season_length: int = 1, alias: str | None = None, theta: float = 2.0,
                 seasonal_test: bool = True) -> None:
        super().__init__(season_length, alias, seasonal_test)
        if not float(theta) >= 1.0:
            raise InputError(f"theta must be >= 1, got {theta!r}")
        self.theta = float(theta)

    @property
    def min_length(self) -> int:
        """Four observations (a trend line and a smoothing constant)."""
        return 4

    def _fit_adjusted(self, x: np.ndarray, previous: None = None) -> None:
        self._res = ThetaModel(x, period=1, deseasonalize=False).fit()

    def _forecast_adjusted(self, h: int) -> np.ndarray:
        return np.asarray(self._res.forecast(h, theta=self.theta))
