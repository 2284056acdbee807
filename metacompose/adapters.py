"""Adapters: statsforecast models and sktime forecasters as metacompose base forecasters.

Both wrap an already built model of the other library and give it the plug-in contract
of :class:`~metacompose.models.base.Forecaster` (validated ``fit(y)``/``predict(h)``,
``clone``, JSON ``get_params``, a fallback when it fails), so it can join a pool::

    from statsforecast.models import AutoETS
    from sktime.forecasting.naive import NaiveForecaster
    from metacompose import Composer
    from metacompose.adapters import SktimeForecaster, StatsForecastModel

    pool = ["Theta", StatsForecastModel(AutoETS(season_length=12)),
            SktimeForecaster(NaiveForecaster(strategy="drift"), alias="Drift")]
    Composer(models=pool, horizon=18, season_length=12)

The libraries are optional extras (``pip install 'metacompose[statsforecast]'``,
``'metacompose[sktime]'``); this module imports neither. The wrapped model is never fitted
in place: every fit works on a fresh copy, so one adapter can be cloned and used from many
joblib workers. Like metacompose's statistical members, the wrapped model is fitted to the
series divided by its scale (:func:`metacompose.models.statistical.series_scale` over
``FIT_MAGNITUDE``) and its forecasts are multiplied back: statsforecast's and sktime's optimisers
stop on absolute tolerances, so fitted in the data's own units their forecasts of ``c * y`` and
``y`` differed (AutoTheta by 3e-2 relative at ``c = 1e-12``). Each adapter passes
:func:`metacompose.testing.check_forecaster`, its magnitude check included.
"""

from __future__ import annotations

import copy
import inspect
import json
from typing import Any

import numpy as np
import pandas as pd

from metacompose.errors import ForecastError, InputError
from metacompose.models.base import Forecaster
from metacompose.models.statistical import FIT_MAGNITUDE, series_scale


def _json_value(v: Any) -> Any:
    """``v`` if it is a JSON value, else its ``repr`` (for parameters that are objects)."""
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return repr(v)


class _Adapter(Forecaster):
    """Shared behaviour: hold a template model, fit copies of it, describe it in JSON."""

    def __init__(self, model: Any, season_length: int | None, alias: str | None, default_alias: str) -> None:
        super().__init__(season_length=season_length if season_length is not None else 1,
                         alias=alias or default_alias)
        self.model = model

    def _model_params(self) -> dict[str, Any]:
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        """JSON description: the wrapped class's dotted name and parameters, ``season_length``, ``alias``."""
        cls = type(self.model)
        return {"model": f"{cls.__module__}.{cls.__qualname__}",
                "model_params": {k: _json_value(v) for k, v in self._model_params().items()},
                "season_length": self.season_length, "alias": self.alias}

    def clone(self) -> "_Adapter":
        """A fresh, unfitted adapter around an unfitted copy of the wrapped model."""
        new = type(self).__new__(type(self))
        new.__dict__.update({k: v for k, v in vars(self).items() if not k.startswith("_")})
        new.model = self._fresh()
        new._is_fitted = False
        return new

    def _fresh(self) -> Any:
        return copy.deepcopy(self.model)

    def _scaled(self, y: np.ndarray) -> np.ndarray:
        """``y`` divided by its scale (kept for :meth:`_unscaled`), float64 ``(t,)`` of mean absolute value
        ``FIT_MAGNITUDE``."""
        self._scale = series_scale(y) / FIT_MAGNITUDE
        return np.asarray(y, dtype=np.float64) / self._scale

    def _unscaled(self, forecast) -> np.ndarray:
        """A forecast of the scaled series in the units of the data, float64 ``(h,)``."""
        return np.asarray(forecast, dtype=np.float64).reshape(-1) * self._scale

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r}, season_length={self.season_length}, alias={self.alias!r})"


class StatsForecastModel(_Adapter):
    """A statsforecast model (``statsforecast.models.*``) as a metacompose forecaster.

    Args:
        model: an unfitted statsforecast model, e.g. ``AutoETS(season_length=12)``; it
            needs ``fit(y)`` and ``predict(h)`` returning ``{"mean": array (h,)}``, as
            every model in ``statsforecast.models`` has.
        season_length: ``m`` (default: the model's ``season_length``, else 1).
        alias: name in the pool (default: the model's ``alias``, e.g. ``"AutoETS"``).

    Raises:
        InputError: ``model`` lacks ``fit``/``predict``, or ``season_length`` is not a positive int.

    Failures of the model (statsforecast raising on a too-short series, NaN forecasts)
    make the backtest use ``fallback`` (``SeasonalNaive``) for that series and origin.
    """

    def __init__(self, model: Any, season_length: int | None = None, alias: str | None = None) -> None:
        if not (callable(getattr(model, "fit", None)) and callable(getattr(model, "predict", None))):
            raise InputError(f"StatsForecastModel needs a statsforecast model with fit/predict, got {type(model).__name__}")
        m = season_length if season_length is not None else getattr(model, "season_length", 1)
        super().__init__(model, m, alias, str(getattr(model, "alias", type(model).__name__)))

    def _model_params(self) -> dict[str, Any]:
        names = [p for p in inspect.signature(type(self.model).__init__).parameters if p != "self"]
        return {p: getattr(self.model, p) for p in names if hasattr(self.model, p)}

    def _fresh(self) -> Any:
        new = getattr(self.model, "new", None)
        return new() if callable(new) else copy.deepcopy(self.model)

    def _fit(self, y: np.ndarray) -> None:
        self._fitted = self._fresh().fit(y=self._scaled(y))

    def _predict(self, h: int) -> np.ndarray:
        out = self._fitted.predict(h=h)
        if isinstance(out, dict):
            if "mean" not in out:
                raise ForecastError(f"{self.alias}: statsforecast predict returned no 'mean' (keys {sorted(out)})")
            out = out["mean"]
        return self._unscaled(out)


class SktimeForecaster(_Adapter):
    """An sktime forecaster as a metacompose forecaster.

    The series is given to sktime as a ``pandas.Series`` with a ``RangeIndex``; ``predict(h)``
    asks for the relative horizon ``1..h``. Forecasters that need the horizon at fit time
    (sktime tag ``requires-fh-in-fit``) are fitted at ``predict``.

    Args:
        forecaster: an unfitted sktime forecaster (a ``BaseForecaster``), e.g.
            ``NaiveForecaster(strategy="drift")``.
        season_length: ``m`` (default: the forecaster's ``sp`` parameter, else 1).
        alias: name in the pool (default: the forecaster's class name).

    Raises:
        InputError: ``forecaster`` lacks ``fit``/``predict``/``clone``, or ``season_length``
            is not a positive int.
    """

    def __init__(self, forecaster: Any, season_length: int | None = None, alias: str | None = None) -> None:
        if not all(callable(getattr(forecaster, a, None)) for a in ("fit", "predict", "clone")):
            raise InputError(f"SktimeForecaster needs an sktime forecaster, got {type(forecaster).__name__}")
        m = season_length
        if m is None:
            sp = forecaster.get_params(deep=False).get("sp", 1) if hasattr(forecaster, "get_params") else 1
            m = sp if isinstance(sp, (int, np.integer)) and sp >= 1 else 1
        super().__init__(forecaster, m, alias, type(forecaster).__name__)

    def _model_params(self) -> dict[str, Any]:
        return dict(self.model.get_params(deep=False))

    def _fresh(self) -> Any:
        return self.model.clone()

    def _needs_fh(self) -> bool:
        get_tag = getattr(self.model, "get_tag", None)
        return bool(get_tag("requires-fh-in-fit", False)) if callable(get_tag) else False

    def _fit(self, y: np.ndarray) -> None:
        self._y = pd.Series(self._scaled(y))
        self._fitted = None if self._needs_fh() else self._fresh().fit(self._y)

    def _predict(self, h: int) -> np.ndarray:
        fh = np.arange(1, h + 1)
        est = self._fitted if self._fitted is not None else self._fresh().fit(self._y, fh=fh)
        return self._unscaled(est.predict(fh=fh))
