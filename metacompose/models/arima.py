"""Automatic ARIMA on statsmodels: KPSS differencing, a CSS order search by AICc, an exact MLE refit.

The seasonal treatment (90% ACF test, classical decomposition) and the scaling are the ones
shared with ETS and Theta, in :mod:`metacompose.models.statistical`: everything below runs
on the series rescaled to a mean absolute value of 1000 and the forecasts are scaled back, so
the CSS and maximum-likelihood optimisers' absolute tolerances, and the constant checks,
mean the same at every magnitude (forecasting ``c * y`` gives ``c * forecast(y)``).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares
from scipy.signal import lfilter
from statsmodels.tsa.arima.model import ARIMA as _SMARIMA
from statsmodels.tsa.stattools import kpss

from metacompose.errors import ForecastError, InputError
from metacompose.models.statistical import _Adjusted, _aicc, _is_constant

__all__ = ["ARIMA"]


def _ndiffs(x: np.ndarray, max_d: int, alpha_crit: str = "5%") -> int:
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
    roots = np.roots(np.r_[1.0, sign * coef][::-1]) if coef.shape[0] else np.zeros(0)
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
    k0, n = int(c), w.shape[0]

    def unpack(par: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return (par[0] if c else 0.0), par[k0:k0 + p], par[k0 + p:]

    def polys(par: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mu, phi, theta = unpack(par)
        return np.concatenate(([1.0], -phi)), np.concatenate(([1.0], theta)), w - mu

    def resid(par: np.ndarray) -> np.ndarray:
        ar, ma, z = polys(par)
        return lfilter(ar, ma, z)[n0:]

    def jac(par: np.ndarray) -> np.ndarray:
        # e = phi(B)/theta(B) (w - mu) with zero pre-sample values, so every derivative is a
        # filtered, lagged series: de/dmu = -phi(B) 1/theta(B), de/dphi_i = -B^i (w-mu)/theta(B),
        # de/dtheta_j = -B^j e/theta(B); the three filters by 1/theta(B) run as one call
        ar, ma, z = polys(par)
        e = lfilter(ar, ma, z)
        rows = [z, e] + ([-np.convolve(ar, np.ones_like(w))[:n]] if c else [])
        f = lfilter([1.0], ma, np.stack(rows), axis=1) if q else np.stack(rows)
        out = np.zeros((n, k0 + p + q))
        if c:
            out[:, 0] = f[2]
        for i in range(1, p + 1):
            out[i:, k0 + i - 1] = -f[0, :-i]
        for j in range(1, q + 1):
            out[j:, k0 + p + j - 1] = -f[1, :-j]
        return out[n0:]

    x = np.r_[[mu0] if c else [], phi0, theta0]
    if p + q > 0:
        try:
            x = least_squares(resid, x, jac=jac, method="lm", ftol=1e-6, xtol=1e-6,
                              max_nfev=30 * (x.shape[0] + 1)).x
        except (ValueError, np.linalg.LinAlgError):
            return None
    mu, phi, theta = unpack(x)
    sse = float(np.sum(resid(x) ** 2))
    ok = np.all(np.isfinite(x)) and np.isfinite(sse) and sse > 0
    return (sse, float(mu), phi, theta) if ok and _roots_ok(phi, -1.0) and _roots_ok(theta, 1.0) else None


class ARIMA(_Adjusted):
    """Automatic non-seasonal ARIMA of the seasonally adjusted series (statsmodels).

    A fast variant of ``auto.arima`` with ``approximation=TRUE`` (Hyndman & Khandakar 2008):

    0. Scale: the series is rescaled to a mean absolute value of 1000
       (:data:`~metacompose.models.statistical.FIT_MAGNITUDE`); the forecasts are scaled
       back at the end (scale-equivariance, module docstring).
    1. Seasonality: the shared 90% ACF test and classical decomposition (module docstring),
       instead of seasonal ARIMA terms.
    2. ``d`` in ``0..max_d``: repeated KPSS tests at 5% (statsmodels ``kpss``, lags
       ``trunc(3 sqrt(n) / 13)``), as ``forecast::ndiffs``. ``max_d`` is 1 by default, not
       auto.arima's 2: quadratic extrapolation of short series often explodes (chosen on
       the M3 *training* parts, ``benchmarks/validation/stat_defaults.py``; the numbers are
       in ``benchmarks/RESULTS.md``).
    3. ``(p, q)`` in ``{0..max_p} x {0..max_q}``, at most one parameter per four
       observations; a constant always when ``d == 0`` (the mean), with and without when
       ``d == 1`` (the drift), never when ``d == 2``. Each candidate is fitted to the
       differenced series by conditional sum of squares (:func:`_css_fit`), all conditioned
       on the same first ``max_p`` points, and scored by AICc; candidates with an AR or MA
       root inside ``|z| = 1.01`` are skipped.
    4. The winner is refitted once by exact Gaussian maximum likelihood (statsmodels
       ``ARIMA(w, order=(p, 0, q), trend="c" or "n").fit(method="statespace")``: Kalman
       filter, L-BFGS from the CSS estimates, stationarity and invertibility enforced);
       its forecasts are integrated ``d`` times, re-seasonalised and multiplied by the scale.

    Args:
        season_length: seasonal period ``m``.
        alias: defaults to ``"ARIMA"``.
        max_p: largest AR order searched (default 2).
        max_q: largest MA order searched (default 2).
        max_d: largest number of differences (default 1; auto.arima uses 2).
        seasonal_test: test before adjusting (True) or adjust every series with ``t >= 3m``.
        warm_start: when ``fit(y, previous=...)`` gets this model fitted at an earlier origin of
            the series (the backtest passes each origin the fit of the origin before, except at
            the first backtest origin and at the final one), keep its ``d``, ``(p, q)`` and
            constant instead of steps 2-3, and start step 4 from its estimates (rescaled to
            this fit's units). Not leakage: the order was chosen, and the estimates made, on the
            earlier, shorter series alone. Off by default: on the M3 training parts' backtests it
            made the backtest forecasts less accurate for a 1.3-2x faster fit (numbers in
            ``benchmarks/speed/RESULTS.md``, "warm starts").

    Raises:
        InputError: bad ``season_length`` (from :class:`Forecaster`), or a negative ``max_p``,
            ``max_q`` or ``max_d``.
    """

    alias = "ARIMA"

    def __init__(self, season_length: int = 1, alias: str | None = None, max_p: int = 2,
                 max_q: int = 2, max_d: int = 1, seasonal_test: bool = True, warm_start: bool = False) -> None:
        super().__init__(season_length, alias, seasonal_test)
        if min(max_p, max_q, max_d) < 0:
            raise InputError(f"max_p, max_q and max_d must be >= 0, got {max_p}, {max_q}, {max_d}")
        self.max_p = int(max_p)
        self.max_q = int(max_q)
        self.max_d = int(max_d)
        self.warm_start = bool(warm_start)

    @property
    def min_length(self) -> int:
        """Six observations: enough for the KPSS test and a mean or drift model."""
        return 6

    def _fit_adjusted(self, x: np.ndarray, previous: "ARIMA | None" = None) -> None:
        warm = previous is not None and previous._res is not None
        d = previous._order[1] if warm else _ndiffs(x, self.max_d)
        self._tails, w = [], x  # last value of each differencing level, for integration
        for _ in range(d):
            self._tails.append(float(w[-1]))
            w = np.diff(w)
        self._res, self._w_const, self._order, self._const = None, float(w.mean()), (0, d, 0), False
        if _is_constant(w):  # e.g. an exact line: constant differences
            return
        if warm:  # the earlier origin's order, and its estimates (in this fit's units) as the start
            (p, _, q), c = previous._order, previous._const
            start = np.array(previous._res.params, dtype=float)
            r = self._rescaled(previous)
            start[-1] *= r * r
            if c:
                start[0] *= r
        else:
            p, q, c, start = self._search(w, d)
        model = _SMARIMA(w, order=(p, 0, q), trend="c" if c else "n")
        try:
            res = model.fit(start_params=start, method="statespace", cov_type="none")
        except (ValueError, np.linalg.LinAlgError):
            res = model.fit(method="statespace", cov_type="none")
        if not np.all(np.isfinite(np.asarray(res.params))):
            raise ForecastError(f"{self.alias}: maximum likelihood gave non-finite parameters")
        self._res, self._order, self._const = res, (p, d, q), bool(c)

    def _search(self, w: np.ndarray, d: int) -> tuple[int, int, bool, np.ndarray | None]:
        """Best ``(p, q, constant, start_params)`` for the differenced series ``w`` by CSS-AICc."""
        n0, n_eff = self.max_p, w.shape[0] - self.max_p
        budget = max(1, (w.shape[0] - 2) // 4)
        consts = {0: (True,), 1: (True, False)}.get(d, (False,))
        best = (np.inf, 0, 0, consts[0], None)
        for p in range(self.max_p + 1):
            for q in range(self.max_q + 1):
                for c in consts:
                    if p + q > 0 and p + q + c > budget:
                        continue
                    fit = _css_fit(w, p, q, c, n0)
                    if fit is None:
                        continue
                    sse, mu, phi, theta = fit
                    loglik = -0.5 * n_eff * (np.log(2 * np.pi * sse / n_eff) + 1.0)
                    score = _aicc(loglik, p + q + int(c) + 1, n_eff)
                    if score < best[0]:
                        best = (score, p, q, c, np.r_[[mu] if c else [], phi, theta, sse / n_eff])
        return best[1:]

    def _forecast_adjusted(self, h: int) -> np.ndarray:
        fw = np.full(h, self._w_const) if self._res is None else np.asarray(self._res.forecast(h))
        for last in reversed(self._tails):
            fw = last + np.cumsum(fw)
        return fw
