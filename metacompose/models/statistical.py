"""Statistical base forecasters on statsmodels: ARIMA, ETS and Theta.

All three share one seasonal treatment, the one of the M4 competition benchmarks
(Makridakis, Spiliotis & Assimakopoulos 2020, ``M4-methods`` repository): when
``season_length`` ``m > 1`` and the series holds at least ``3m`` observations, the
lag-``m`` autocorrelation is tested at the 90% level,

    ``|r_m| > 1.645 * sqrt((1 + 2 * sum_{k=1}^{m-1} r_k^2) / n)``,

and a seasonal series is adjusted by classical decomposition
(:func:`statsmodels.tsa.seasonal.seasonal_decompose`; multiplicative when every value is
positive, additive otherwise). The non-seasonal model is fitted to the adjusted series
and its forecasts are re-seasonalised with the last ``m`` seasonal indices.

A fit that raises propagates its exception, so the backtest's fallback
(``SeasonalNaive``) forecasts instead and the failure is counted; a non-finite
forecast raises :class:`~metacompose.errors.ForecastError`. Convergence warnings of
statsmodels are silenced inside the fits.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import least_squares
from scipy.signal import lfilter
from statsmodels.tsa.arima.model import ARIMA as _SMARIMA
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.forecasting.theta import ThetaModel
from statsmodels.tsa.seasonal import seasonal_decompose
from statsmodels.tsa.stattools import kpss

from metacompose.errors import ForecastError
from metacompose.models.base import Forecaster

__all__ = ["ARIMA", "ETS", "Theta", "seasonality_test", "SeasonalAdjustment"]


# -- shared helpers -----------------------------------------------------------------------
def _acf(y: np.ndarray, nlags: int) -> np.ndarray:
    """Sample autocorrelations ``r_0..r_nlags`` of ``y`` (shape ``(t,)``), biased estimator."""
    z = y - y.mean()
    den = float(np.dot(z, z))
    if den <= 0.0:
        return np.r_[1.0, np.zeros(nlags)]
    return np.array([1.0] + [float(np.dot(z[k:], z[:-k])) / den for k in range(1, nlags + 1)])


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
    if m <= 1 or n < 3 * m:
        return False
    r = _acf(y, m)
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
        """Test and, if seasonal, decompose ``y`` (shape ``(t,)``).

        Args:
            y: series, float ``(t,)``.
            m: season length.
            test: apply :func:`seasonality_test`; if False, adjust whenever ``t >= 3m``.

        Returns:
            ``(adjustment, adjusted series (t,))``; the series is returned unchanged when
            no adjustment is made.
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


def _finite(fc: np.ndarray, alias: str) -> np.ndarray:
    fc = np.asarray(fc, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(fc)):
        raise ForecastError(f"{alias} produced NaN or infinite forecasts")
    return fc


def _is_constant(y: np.ndarray) -> bool:
    return bool(np.ptp(y) <= 1e-10 * max(1.0, float(np.max(np.abs(y)))))


# -- ARIMA --------------------------------------------------------------------------------
def _ndiffs(x: np.ndarray, max_d: int = 2, alpha_crit: str = "5%") -> int:
    """Number of first differences by repeated KPSS level-stationarity tests (forecast::ndiffs).

    Lag truncation ``trunc(3 sqrt(n) / 13)`` as in R's ``forecast::ndiffs``; differencing
    stops at ``max_d``, when the test no longer rejects, or when the series is constant.
    """
    d = 0
    while d < max_d and x.shape[0] >= 5 and not _is_constant(x):
        stat, _, _, crit = kpss(x, regression="c", nlags=max(0, int(3 * np.sqrt(x.shape[0]) / 13)))
        if stat <= crit[alpha_crit]:
            break
        x = np.diff(x)
        d += 1
    return d


def _roots_ok(coef: np.ndarray, sign: float) -> bool:
    """True when ``1 + sign*(c1 z + ... + cp z^p)`` has all roots outside ``|z| = 1.01``."""
    if coef.shape[0] == 0:
        return True
    poly = np.r_[1.0, sign * coef]  # coefficients of z^0..z^p
    roots = np.roots(poly[::-1])
    return bool(np.all(np.abs(roots) > 1.01))


def _lags(z: np.ndarray, k: int, start: int) -> np.ndarray:
    """Columns ``z[t-1], ..., z[t-k]`` for ``t = start .. n-1``, shape ``(n - start, k)``."""
    n = z.shape[0]
    return np.column_stack([z[start - i:n - i] for i in range(1, k + 1)]) if k else np.empty((n - start, 0))


def _hannan_rissanen(z: np.ndarray, p: int, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Two-stage least-squares ARMA(p, q) estimates of a zero-mean series ``z`` ``(n,)``.

    Hannan & Rissanen (1982), as statsmodels' ``hannan_rissanen`` (long autoregression of
    order ``max(floor(log(n)^2), 2 max(p, q))``, then OLS on lagged values and lagged
    residuals), written with plain ``numpy.linalg.lstsq`` because statsmodels' version
    costs ~6 ms a call. Returns zeros (a neutral start) when the series is too short or the
    estimates are not stationary/invertible.
    """
    n = z.shape[0]
    zeros = (np.zeros(p), np.zeros(q))
    if p + q == 0:
        return zeros
    if q == 0:
        if n - p <= p + 1:
            return zeros
        phi = np.linalg.lstsq(_lags(z, p, p), z[p:], rcond=None)[0]
        return (phi, np.zeros(0)) if _roots_ok(phi, -1.0) else zeros
    m = max(int(np.floor(np.log(n) ** 2)), 2 * max(p, q))
    m = min(m, (n - 1) // 2)
    start = m + max(p, q)
    if m < 1 or n - start <= p + q + 1:
        return zeros
    a = np.linalg.lstsq(_lags(z, m, m), z[m:], rcond=None)[0]
    e = np.r_[np.zeros(m), z[m:] - _lags(z, m, m) @ a]
    X = np.column_stack([_lags(z, p, start), _lags(e, q, start)])
    b = np.linalg.lstsq(X, z[start:], rcond=None)[0]
    phi, theta = b[:p], b[p:]
    if not (np.all(np.isfinite(b)) and _roots_ok(phi, -1.0) and _roots_ok(theta, 1.0)):
        return zeros
    return phi, theta


def _css_fit(w: np.ndarray, p: int, q: int, c: bool, n0: int):
    """Conditional-sum-of-squares fit of an ARMA(p, q) (with mean if ``c``) to ``w`` ``(n,)``.

    Starts at the Hannan-Rissanen estimates (:func:`_hannan_rissanen`) and minimises the sum of squared
    one-step errors from time ``n0`` on (``scipy.optimize.least_squares``, Levenberg-Marquardt).

    Returns:
        ``(sse, mu, phi (p,), theta (q,))``, or None when the fit fails or the estimates are
        not stationary/invertible (an AR or MA root inside ``|z| = 1.01``): the candidate is
        then skipped, as ``auto.arima`` skips such models.
    """
    mu0 = float(w.mean()) if c else 0.0
    phi0, theta0 = _hannan_rissanen(w - mu0, p, q)
    k0 = int(c)

    def unpack(par: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return (par[0] if c else 0.0), par[k0:k0 + p], par[k0 + p:]

    def resid(par: np.ndarray) -> np.ndarray:
        mu, phi, theta = unpack(par)
        return lfilter(np.r_[1.0, -phi], np.r_[1.0, theta], w - mu)[n0:]

    def jac(par: np.ndarray) -> np.ndarray:
        # e = phi(B)/theta(B) (w - mu) with zero pre-sample values, so every derivative is a
        # filtered, lagged series: de/dphi_i = -B^i (w-mu)/theta(B), de/dtheta_j = -B^j e/theta(B)
        mu, phi, theta = unpack(par)
        ar, ma = np.r_[1.0, -phi], np.r_[1.0, theta]
        z = w - mu
        e = lfilter(ar, ma, z)
        cols = [lfilter(ar, ma, -np.ones_like(w))] if c else []
        zf, ef = lfilter([1.0], ma, z), lfilter([1.0], ma, e)
        cols += [-np.r_[np.zeros(i), zf[:-i]] for i in range(1, p + 1)]
        cols += [-np.r_[np.zeros(j), ef[:-j]] for j in range(1, q + 1)]
        return np.column_stack(cols)[n0:]

    x = np.r_[[mu0] if c else [], phi0, theta0]
    if p + q > 0:
        try:
            x = least_squares(resid, x, jac=jac, method="lm", max_nfev=30 * (x.shape[0] + 1)).x
        except (ValueError, np.linalg.LinAlgError):
            return None
    mu, phi, theta = unpack(x)
    if not (np.all(np.isfinite(x)) and _roots_ok(phi, -1.0) and _roots_ok(theta, 1.0)):
        return None
    e = resid(x)
    sse = float(np.dot(e, e))
    if not np.isfinite(sse) or sse <= 0:
        return None
    return sse, float(mu), phi, theta


class ARIMA(Forecaster):
    """Automatic non-seasonal ARIMA on the seasonally adjusted series (statsmodels).

    How the model is chosen (a fast variant of Hyndman & Khandakar 2008, ``auto.arima`` with
    ``approximation=TRUE``):

    1. Seasonality: the shared 90% ACF test and classical decomposition (module docstring);
       seasonal series are modelled after adjustment, not by seasonal ARIMA terms.
    2. ``d`` in {0, 1, 2}: repeated KPSS level-stationarity tests at 5% (statsmodels
       ``kpss``, lags ``trunc(3 sqrt(n) / 13)``), as ``forecast::ndiffs``.
    3. ``(p, q)`` in ``{0..max_p} x {0..max_q}`` with at most one parameter per four
       observations. A constant is always included when ``d == 0`` (the mean), tried with
       and without when ``d == 1`` (the drift) and never used when ``d == 2``. Each
       candidate is fitted to the ``d``-times differenced series by conditional sum of
       squares (Levenberg-Marquardt with an analytic Jacobian, started at Hannan-Rissanen
       estimates), conditioning on the same first ``max_p`` points, and scored by AICc;
       candidates whose estimates have an AR or MA root inside ``|z| = 1.01`` are skipped.
    4. The winner is refitted once by exact Gaussian maximum likelihood (statsmodels
       ``ARIMA(w, order=(p, 0, q), trend="c"|"n").fit(method="statespace")``: Kalman filter,
       L-BFGS started at the CSS estimates, stationarity and invertibility enforced);
       its forecasts are integrated ``d`` times and re-seasonalised.

    Cost: about 40-60 ms of one CPU core per fit on an M3 series (yearly to monthly).
    A constant (adjusted) series is forecast as that constant.

    Args:
        season_length: seasonal period ``m``.
        alias: defaults to ``"ARIMA"``.
        max_p: largest AR order searched (default 2).
        max_q: largest MA order searched (default 2).
        seasonal_test: test before adjusting (True) or adjust every series with ``t >= 3m``.

    Raises:
        InputError: bad ``season_length`` (from :class:`Forecaster`).
    """

    alias = "ARIMA"
    fallback = "SeasonalNaive"

    def __init__(self, season_length: int = 1, alias: str | None = None, max_p: int = 2,
                 max_q: int = 2, seasonal_test: bool = True) -> None:
        super().__init__(season_length, alias)
        self.max_p = int(max_p)
        self.max_q = int(max_q)
        self.seasonal_test = bool(seasonal_test)

    @property
    def min_length(self) -> int:
        """Six observations: at least four remain after two differences."""
        return 6

    def _candidates(self, nw: int, d: int) -> list[tuple[int, int, bool]]:
        # at most one parameter per four observations, so that AICc stays meaningful
        budget = max(1, (nw - 2) // 4)
        consts = {0: (True,), 1: (True, False)}.get(d, (False,))
        return [(p, q, c) for p in range(self.max_p + 1) for q in range(self.max_q + 1)
                for c in consts if p + q + int(c) <= budget or (p + q == 0)]

    def _fit(self, y: np.ndarray) -> None:
        self._adj, x = SeasonalAdjustment.fit(y, self.season_length, self.seasonal_test)
        self._const_value = None
        if _is_constant(x):
            self._const_value = float(x[-1])
            return
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            d = _ndiffs(x)
            tails = []  # last value of each differencing level, for integration
            w = x
            for _ in range(d):
                tails.append(float(w[-1]))
                w = np.diff(w)
            if _is_constant(w):  # e.g. an exact line: the differences are constant
                self._order, self._tails, self._w_const = (0, d, 0), tails, float(w.mean())
                self._res = None
                return
            p, q, c, start = self._search(w, d)
            model = _SMARIMA(w, order=(p, 0, q), trend="c" if c else "n")
            try:
                res = model.fit(start_params=start, method="statespace", cov_type="none")
            except (ValueError, np.linalg.LinAlgError):
                res = model.fit(method="statespace", cov_type="none")
        if not np.all(np.isfinite(np.asarray(res.params))):
            raise ForecastError(f"{self.alias}: maximum likelihood gave non-finite parameters")
        self._order, self._tails, self._res, self._w_const = (p, d, q), tails, res, None

    def _search(self, w: np.ndarray, d: int) -> tuple[int, int, bool, np.ndarray | None]:
        """Best ``(p, q, constant, start_params)`` of the differenced series ``w`` by CSS-AICc."""
        n0 = self.max_p
        n_eff = w.shape[0] - n0
        best = (np.inf, 0, 0, d <= 1, None)
        for p, q, c in self._candidates(w.shape[0], d):
            fit = _css_fit(w, p, q, c, n0)
            if fit is None:
                continue
            sse, mu, phi, theta = fit
            sigma2 = sse / n_eff
            loglik = -0.5 * n_eff * (np.log(2 * np.pi * sigma2) + 1.0)
            score = _aicc(loglik, p + q + int(c) + 1, n_eff)
            if score < best[0]:
                best = (score, p, q, c, np.r_[[mu] if c else [], phi, theta, sigma2])
        return best[1], best[2], best[3], best[4]

    def _predict(self, h: int) -> np.ndarray:
        if self._const_value is not None:
            return self._adj.apply(np.full(h, self._const_value))
        if self._res is None:
            fw = np.full(h, self._w_const)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fw = np.asarray(self._res.forecast(h), dtype=np.float64)
        for last in reversed(self._tails):
            fw = last + np.cumsum(fw)
        return _finite(self._adj.apply(fw), self.alias)


# -- ETS ----------------------------------------------------------------------------------
_TRENDS = {"N": (None, False), "A": ("add", False), "Ad": ("add", True)}


class ETS(Forecaster):
    """Exponential smoothing state-space model chosen by AICc (statsmodels ``ETSModel``).

    Follows Hyndman, Koehler, Snyder & Grose (2002) / ``forecast::ets``, without seasonal
    states: the series is seasonally adjusted as in the module docstring, then the models
    with trend None ("N"), additive ("A") and additive damped ("Ad"; ``phi`` in
    [0.8, 0.98]) and with additive or, for a positive series, multiplicative errors are fitted
    by maximum likelihood (statsmodels ``ETSModel``, Hyndman et al. 2008) and the lowest
    AICc wins. Candidates with ``t <= k + 1`` parameters are skipped. The point forecasts
    of the winner are re-seasonalised.

    Args:
        season_length: seasonal period ``m``.
        alias: defaults to ``"ETS"``.
        trend: ``"auto"`` (select among N, A, Ad) or one of ``"N"``, ``"A"``, ``"Ad"``.
        seasonal_test: test before adjusting (True) or adjust every series with ``t >= 3m``.

    Raises:
        InputError: bad ``season_length`` (from :class:`Forecaster`).
        ValueError: ``trend`` is not one of the accepted strings.
    """

    alias = "ETS"
    fallback = "SeasonalNaive"

    def __init__(self, season_length: int = 1, alias: str | None = None, trend: str = "auto",
                 error: str = "add", seasonal_test: bool = True) -> None:
        super().__init__(season_length, alias)
        if trend != "auto" and trend not in _TRENDS:
            raise ValueError(f"trend must be 'auto', 'N', 'A' or 'Ad', got {trend!r}")
        if error not in ("add", "auto"):
            raise ValueError(f"error must be 'add' or 'auto', got {error!r}")
        self.trend = trend
        self.error = error
        self.seasonal_test = bool(seasonal_test)

    @property
    def min_length(self) -> int:
        """Four observations (simple exponential smoothing has three parameters)."""
        return 4

    def _fit(self, y: np.ndarray) -> None:
        self._adj, x = SeasonalAdjustment.fit(y, self.season_length, self.seasonal_test)
        self._const_value = float(x[-1]) if _is_constant(x) else None
        if self._const_value is not None:
            return
        n = x.shape[0]
        trends = list(_TRENDS) if self.trend == "auto" else [self.trend]
        errors = ["add", "mul"] if self.error == "auto" and np.min(x) > 0 else ["add"]
        def n_params(name: str) -> int:  # alpha, l0, sigma2; beta, b0; phi
            return 3 + 2 * (name != "N") + (name == "Ad")

        # too many parameters for AICc: skip, but always keep the simplest model asked for
        trends = [t for t in trends if n > n_params(t) + 1] or trends[:1]
        best, best_score, last_exc = None, np.inf, None
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for name in trends:
                tr, damped = _TRENDS[name]
                for err in errors:
                    try:
                        res = ETSModel(x, error=err, trend=tr, damped_trend=damped).fit(disp=False)
                    except Exception as exc:  # noqa: BLE001 - try the other candidates
                        last_exc = exc
                        continue
                    score = _aicc(float(res.llf), n_params(name), n)
                    if not np.isfinite(score):
                        score = np.finfo(float).max  # AICc undefined: kept only if nothing else fits
                    if score < best_score:
                        best, best_score, self._spec = res, score, (err, name)
        if best is None:
            if last_exc is not None:
                raise last_exc
            raise ForecastError(f"{self.alias}: no exponential smoothing model could be fitted")
        self._res = best

    def _predict(self, h: int) -> np.ndarray:
        if self._const_value is not None:
            return self._adj.apply(np.full(h, self._const_value))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = np.asarray(self._res.forecast(h), dtype=np.float64)
        return _finite(self._adj.apply(fc), self.alias)


# -- Theta --------------------------------------------------------------------------------
class Theta(Forecaster):
    """The Theta method (Assimakopoulos & Nikolopoulos 2000) via statsmodels ``ThetaModel``.

    The series is seasonally adjusted as in the module docstring (this is the M3/M4
    benchmark's treatment; ``ThetaModel``'s own adjustment is switched off), then
    ``ThetaModel(deseasonalize=False).fit()`` estimates the slope ``b0`` of a linear trend
    by OLS and simple exponential smoothing (``alpha`` by least squares, initial level =
    first value). The forecast is SES plus half the trend slope, i.e. SES with drift
    ``b0 / 2`` (Hyndman & Billah 2003, ``theta = 2``), re-seasonalised.

    Args:
        season_length: seasonal period ``m``.
        alias: defaults to ``"Theta"``.
        theta: weight of the theta line, ``>= 1`` (2 is the classical method).
        seasonal_test: test before adjusting (True) or adjust every series with ``t >= 3m``.

    Raises:
        InputError: bad ``season_length`` (from :class:`Forecaster`).
        ValueError: ``theta < 1``.
    """

    alias = "Theta"
    fallback = "SeasonalNaive"

    def __init__(self, season_length: int = 1, alias: str | None = None, theta: float = 2.0,
                 seasonal_test: bool = True) -> None:
        super().__init__(season_length, alias)
        if not float(theta) >= 1.0:
            raise ValueError(f"theta must be >= 1, got {theta!r}")
        self.theta = float(theta)
        self.seasonal_test = bool(seasonal_test)

    @property
    def min_length(self) -> int:
        """Four observations (a trend line and a smoothing constant)."""
        return 4

    def _fit(self, y: np.ndarray) -> None:
        self._adj, x = SeasonalAdjustment.fit(y, self.season_length, self.seasonal_test)
        self._const_value = float(x[-1]) if _is_constant(x) else None
        if self._const_value is not None:
            return
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            self._res = ThetaModel(x, period=1, deseasonalize=False).fit()

    def _predict(self, h: int) -> np.ndarray:
        if self._const_value is not None:
            return self._adj.apply(np.full(h, self._const_value))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = np.asarray(self._res.forecast(h, theta=self.theta), dtype=np.float64)
        return _finite(self._adj.apply(fc), self.alias)
