"""The base-forecaster plug-in contract.

A forecaster is a small class. The constructor only stores parameters; ``fit`` takes one
series, ``predict`` returns ``h`` future values. The public methods validate their input
and then call the private hooks, which are all a plug-in author writes:

* :meth:`Forecaster._fit` ``(y) -> None`` with ``y`` a finite float64 array ``(t,)``;
* :meth:`Forecaster._predict` ``(h) -> array (h,)``;
* optionally :meth:`Forecaster._fit_from` ``(y, previous) -> None``, a warm start from the
  same model fitted at an earlier origin of the series (default: ``_fit(y)``).

Models that learn across many series derive from :class:`PanelForecaster` and write
``_fit_panel`` / ``_predict_panel`` instead; the backtest then trains one model per origin
on all series at once. The idea follows statsforecast's model classes and sktime's
extension template, at a fraction of their weight.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from metacompose.checks import check_horizon, check_season_length
from metacompose.errors import ForecastError, InputError, NotFittedError, SeriesTooShortError


def check_series(y: Any, min_length: int = 1, name: str = "y") -> np.ndarray:
    """Return ``y`` as a finite float64 array of shape ``(t,)``.

    Raises:
        InputError: ``y`` is not one-dimensional, not numeric, or holds NaN/inf.
        SeriesTooShortError: ``t < min_length``.
    """
    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric; could not convert it to float ({exc})") from None
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional with shape (t,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise InputError(f"{name} holds {bad} NaN or infinite value(s); clean or impute them first")
    if arr.shape[0] < min_length:
        raise SeriesTooShortError(
            f"{name} has {arr.shape[0]} observations but at least {min_length} are needed"
        )
    return arr


class Forecaster:
    """Base class of every forecaster in the pool.

    Args:
        season_length: seasonal period ``m`` (1 means no seasonality), a positive int.
        alias: name of the model in cubes, tables and output columns; defaults to the
            class attribute ``alias``.

    Class attributes a subclass may override:
        alias: default unique name, e.g. ``"ARIMA"``.
        fallback: alias of the model that forecasts instead when this one fails on a
            series (default ``"SeasonalNaive"``); ``None`` for the last resort.

    Raises:
        InputError: ``season_length`` is not a positive int.
    """

    alias: str = "Forecaster"
    fallback: str | None = "SeasonalNaive"

    def __init__(self, season_length: int = 1, alias: str | None = None) -> None:
        check_season_length(season_length)
        self.season_length = int(season_length)
        if alias is not None:
            self.alias = str(alias)
        self._is_fitted = False

    # -- what a plug-in author may override --------------------------------------------
    @property
    def min_length(self) -> int:
        """Fewest observations ``fit`` accepts (default 1)."""
        return 1

    def _fit(self, y: np.ndarray) -> None:
        raise NotImplementedError

    def _predict(self, h: int) -> np.ndarray:
        raise NotImplementedError

    def _fit_from(self, y: np.ndarray, previous: "Forecaster") -> None:
        """Fit ``y`` reusing what ``previous`` (same class and parameters, fitted on a prefix of
        ``y``) learned; by default nothing is reused: ``self._fit(y)``."""
        self._fit(y)

    # -- public API ----------------------------------------------------------------------
    def fit(self, y: Any, X: Any = None, previous: "Forecaster | None" = None) -> "Forecaster":
        """Fit the model to one series.

        Args:
            y: observations, array-like of shape ``(t,)``, oldest first.
            X: exogenous regressors; not supported by the built-in models, must be None.
            previous: a warm start: the same model (same class and parameters) already fitted
                on a prefix of ``y``, an earlier origin of the same series. A model that can
                reuses its specification search and starts its optimiser from its parameters
                (:class:`~metacompose.models.arima.ARIMA`, :class:`~metacompose.models.statistical.ETS`,
                with ``warm_start=True``); the others fit from scratch. Whatever ``previous``
                carries was computed from its own, shorter series, so nothing after that prefix's
                end reaches this fit through it. The caller vouches that its series is a prefix of
                ``y``: the backtest passes each origin the fit of the origin before.

        Returns:
            self

        Raises:
            InputError: ``y`` is not a finite numeric 1-D array, ``X`` is given, or ``previous``
                is not a fitted model of the same class with the same parameters.
            SeriesTooShortError: ``t < self.min_length``.
        """
        if X is not None:
            raise InputError(f"{self.alias} does not use exogenous regressors; pass X=None")
        arr = check_series(y, self.min_length)
        self._check_previous(previous)
        self._is_fitted = False
        if previous is None:
            self._fit(arr)
        else:
            self._fit_from(arr, previous)
        self._is_fitted = True
        return self

    @property
    def warm_starts(self) -> bool:
        """True when ``fit(y, previous=...)`` reuses ``previous`` (the backtest then fits this model's
        backtest origins in time order); False by default."""
        return False

    def _check_previous(self, previous: "Forecaster | None") -> None:
        """Raise InputError unless ``previous`` is None or a fitted model of this class with these parameters."""
        if previous is not None and (type(previous) is not type(self) or not previous._is_fitted
                                     or previous.get_params() != self.get_params()):
            raise InputError(f"{self.alias}: previous= must be a fitted {type(self).__name__} with the same "
                             f"parameters, got {previous!r}")

    def predict(self, h: int, X: Any = None) -> np.ndarray:
        """Forecast the next ``h`` values after the end of the fitted series.

        Returns:
            float64 array of shape ``(h,)``, in the units of ``y``.

        Raises:
            NotFittedError: ``fit`` was not called.
            InputError: ``h`` is not a positive int, or ``X`` is given.
            ForecastError: the model returned the wrong shape or non-finite values.
        """
        if X is not None:
            raise InputError(f"{self.alias} does not use exogenous regressors; pass X=None")
        h = check_horizon(h)
        if not self._is_fitted:
            raise NotFittedError(f"{self.alias}: call fit(y) before predict(h)")
        out = np.asarray(self._predict(h), dtype=np.float64).reshape(-1)
        if out.shape != (h,):
            raise ForecastError(f"{self.alias} returned shape {out.shape}, expected ({h},)")
        if not np.all(np.isfinite(out)):
            raise ForecastError(f"{self.alias} returned NaN or infinite forecasts")
        return out

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-serialisable), used to save and rebuild the model."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def clone(self) -> "Forecaster":
        """A fresh, unfitted copy with the same parameters."""
        new = type(self).__new__(type(self))
        new.__dict__.update({k: v for k, v in vars(self).items() if not k.startswith("_")})
        new._is_fitted = False
        return new

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


class PanelForecaster(Forecaster):
    """A forecaster that learns across many series at once (global or batched models).

    Subclasses write ``_fit_panel(ys)`` and ``_predict_panel(h) -> (S, h)``. A row of
    NaN in ``_predict_panel``'s output marks a series the model could not forecast (too
    short, say); the backtest then uses the fallback for that series and counts it.
    Single-series ``fit``/``predict`` are a panel of one.
    """

    def _fit(self, y: np.ndarray) -> None:
        self._n_series = 1
        self._fit_panel([y])

    def _predict(self, h: int) -> np.ndarray:
        return self._predict_panel(h)[0]

    def _fit_panel(self, ys: list[np.ndarray]) -> None:
        raise NotImplementedError

    def _predict_panel(self, h: int) -> np.ndarray:
        raise NotImplementedError

    def _fit_panel_from(self, ys: list[np.ndarray], previous: "PanelForecaster") -> None:
        """Fit ``ys`` reusing what ``previous`` (same class and parameters, fitted at an earlier origin of
        the panel) learned; by default nothing is reused: ``self._fit_panel(ys)``."""
        self._fit_panel(ys)

    def fit_panel(self, ys: Sequence[Any], previous: "PanelForecaster | None" = None) -> "PanelForecaster":
        """Fit on a list of series (each array-like ``(t_i,)``, lengths may differ).

        Series shorter than ``min_length`` are kept out of training and forecast as NaN.

        Args:
            ys: the series.
            previous: a warm start: the same model fitted on the panel at an earlier origin (every
                series it saw ends before this fit's series do), as :meth:`Forecaster.fit`'s
                ``previous``; the global networks fine-tune its network (``warm_steps``).

        Raises:
            InputError: the list is empty, a series is not a finite numeric 1-D array, or
                ``previous`` is not a fitted model of the same class with the same parameters.
        """
        if len(ys) == 0:
            raise InputError(f"{self.alias}.fit_panel needs at least one series")
        arrs = [check_series(y, 1, name=f"series {i}") for i, y in enumerate(ys)]
        self._check_previous(previous)
        self._is_fitted = False
        if previous is None:
            self._fit_panel(arrs)
        else:
            self._fit_panel_from(arrs, previous)
        self._n_series = len(arrs)
        self._is_fitted = True
        return self

    def predict_panel(self, h: int) -> np.ndarray:
        """Forecast every series of the last ``fit_panel`` call.

        Returns:
            float64 array ``(S, h)``; a NaN row marks a series the model could not forecast.

        Raises:
            NotFittedError: ``fit_panel`` was not called.
            InputError: ``h`` is not a positive int.
            ForecastError: the output has the wrong shape.
        """
        h = check_horizon(h)
        if not self._is_fitted:
            raise NotFittedError(f"{self.alias}: call fit_panel(ys) before predict_panel(h)")
        out = np.asarray(self._predict_panel(h), dtype=np.float64)
        if out.shape != (self._n_series, h):
            raise ForecastError(f"{self.alias} returned shape {out.shape}, expected ({self._n_series}, {h})")
        out[~np.all(np.isfinite(out), axis=1)] = np.nan
        return out


class HorizonPanelForecaster(PanelForecaster):
    """A panel forecaster whose training depends on the horizon: it stores the panel at ``fit_panel``
    and trains once per horizon, at ``fit_panel`` when ``self.horizon`` is set, else lazily at the
    first ``predict_panel(h)`` (a shorter ``h`` than ``self.horizon`` reuses that training).

    Subclasses (the global networks: MLP, LSTM, NBEATS) set ``self.horizon`` (int or None) and
    write ``_train(h)``, which stores the ``(S, h)`` forecasts in ``self._forecasts[h]``, and
    may write ``_reset()`` to clear their other per-fit state. ``self._previous`` is the warm
    start given to ``fit_panel`` (or None), for ``_train`` to use or ignore.
    """

    def _reset(self) -> None:
        """Clear per-fit state besides the stored series and forecasts (nothing by default)."""

    def _train(self, h: int) -> None:
        raise NotImplementedError

    def _fit_panel(self, ys: list[np.ndarray]) -> None:
        self._fit_panel_from(ys, None)

    def _fit_panel_from(self, ys: list[np.ndarray], previous: "HorizonPanelForecaster | None") -> None:
        self._ys = [np.asarray(y, dtype=np.float64).copy() for y in ys]
        self._forecasts: dict[int, np.ndarray] = {}
        self._previous = previous  # read by _train (a warm start), also when it runs lazily
        self._reset()
        if self.horizon is not None:
            self._train(self.horizon)

    def _predict_panel(self, h: int) -> np.ndarray:
        base = self.horizon if self.horizon is not None and h <= self.horizon else h
        if base not in self._forecasts:
            self._train(base)
        return self._forecasts[base][:, :h].copy()
