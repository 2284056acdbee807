"""Adapters: statsforecast, sktime and neuralforecast models as metacompose base forecasters.

Each wraps an already built model of the other library and gives it the plug-in contract
of :class:`~metacompose.models.base.Forecaster` (validated ``fit(y)``/``predict(h)``,
``clone``, JSON ``get_params``, a fallback when it fails), so it can join a pool::

    from statsforecast.models import AutoETS
    from sktime.forecasting.naive import NaiveForecaster
    from neuralforecast.models import NBEATS
    from metacompose import Composer
    from metacompose.adapters import NeuralForecastModel, SktimeForecaster, StatsForecastModel

    pool = ["Theta", StatsForecastModel(AutoETS(season_length=12)),
            SktimeForecaster(NaiveForecaster(strategy="drift"), alias="Drift"),
            NeuralForecastModel(NBEATS(h=18, input_size=36, max_steps=500))]
    Composer(models=pool, horizon=18, season_length=12)

The libraries are optional extras (``pip install 'metacompose[statsforecast]'``,
``'metacompose[sktime]'``, ``'metacompose[neuralforecast]'``); this module imports none of them
(neuralforecast is imported at the first fit). The wrapped model is never fitted
in place: every fit works on a fresh copy, so one adapter can be cloned and used from many
joblib workers. Like metacompose's statistical members, the wrapped model is fitted to the
series divided by its scale (:func:`metacompose.models.statistical.series_scale` over
``FIT_MAGNITUDE``) and its forecasts are multiplied back: statsforecast's and sktime's optimisers
stop on absolute tolerances, so fitted in the data's own units their forecasts of ``c * y`` and
``y`` differed (AutoTheta by 3e-2 relative at ``c = 1e-12``). neuralforecast models are global
(one network for the panel): :class:`NeuralForecastModel` is a
:class:`~metacompose.models.base.PanelForecaster` and divides each series by its own scale, to
magnitude 1 (its docstring says why). Each adapter passes
:func:`metacompose.testing.check_forecaster`, its magnitude check included.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import logging
import random
import warnings
from typing import Any

import numpy as np
import pandas as pd

from metacompose.errors import ForecastError, InputError
from metacompose.models.base import Forecaster, PanelForecaster
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


_QUIET_TRAINER = {"enable_progress_bar": False, "logger": False, "enable_model_summary": False, "accelerator": "cpu"}
_QUIET_LOGGERS = ("pytorch_lightning", "lightning_fabric", "lightning")
_QUIET_WARNINGS = (".*val_check_steps is greater than max_steps.*", ".*LeafSpec.*")


@contextlib.contextmanager
def _quiet_and_seed_neutral():
    """Silence lightning's notices and keep the global random states of Python, NumPy and torch as they were.

    neuralforecast seeds every fit through ``pytorch_lightning.seed_everything`` (Python's, NumPy's and
    torch's global generators); lightning logs "GPU available", "Seed set to", "`Trainer.fit` stopped" at
    INFO (quieted through lightning's documented ``logging.getLogger("pytorch_lightning").setLevel``).
    """
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        with warnings.catch_warnings(), _torch_fork_rng():
            for pattern in _QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
        random.setstate(py_state)
        np.random.set_state(np_state)


def _torch_fork_rng():
    """``torch.random.fork_rng`` over the CPU generator (torch imported here, not at module import)."""
    import torch

    return torch.random.fork_rng(devices=[])


class NeuralForecastModel(_Adapter, PanelForecaster):
    """A neuralforecast model (``neuralforecast.models.*``) as a global metacompose forecaster.

    neuralforecast (Olivares, Challu, Garza, Mergenthaler Canseco & Dubrawski 2022,
    github.com/Nixtla/neuralforecast) trains one network on a whole panel, so this is a
    :class:`~metacompose.models.base.PanelForecaster`: ``fit_panel(ys)`` fits
    ``neuralforecast.NeuralForecast(models=[copy], freq=1)`` on a long frame (``unique_id`` the
    series' position, ``ds`` the integer time index, ``y``) built from the panel, on a fresh deep
    copy of the wrapped model every fit (the template is never fitted), and ``predict_panel(h)``
    gives the ``(S, h)`` forecasts in the panel's order; ``fit(y)``/``predict(h)`` are a panel of one.

    Horizon: neuralforecast fixes ``h`` at construction, so ``predict_panel(h)`` gives the first
    ``h`` of the model's ``model.h`` steps and raises for a longer ``h``. Inside a backtest or a
    composer whose horizon exceeds ``model.h`` that error makes every series use the fallback
    (counted in the report): build the model with ``h`` at least the composer's horizon.

    Short series: neuralforecast refuses a panel whose shortest series has fewer than
    ``input_size`` points (unless ``start_padding_enabled=True``); that is :attr:`min_length`
    here: ``fit`` raises :class:`~metacompose.errors.SeriesTooShortError`, and ``fit_panel`` keeps
    such series out of training and gives them NaN rows, which the backtest fills from the
    ``fallback`` (``SeasonalNaive``) and counts.

    Scaling: each series is divided by its mean absolute value
    (:func:`~metacompose.models.statistical.series_scale`) before training, and its forecasts are
    multiplied back. The network then sees values of magnitude 1 whatever the units, which makes
    the forecasts scale-equivariant (:func:`metacompose.testing.check_magnitudes`: ``c * y``
    scales to the same float32 inputs as ``y``); neuralforecast's own ``scaler_type``
    (per-window normalisation, default ``"identity"``) is kept as the model was built and works
    on top: its scalers add absolute epsilons, and the default identity on raw data would feed
    values of 1e12 to the network, so neither alone passes the magnitude check.

    Quiet: the copy's trainer gets ``enable_progress_bar=False``, ``logger=False``,
    ``enable_model_summary=False`` and ``accelerator="cpu"`` unless the model was built with
    its own values (neuralforecast's documented ``model.trainer_kwargs``; neuralforecast itself
    sets ``accelerator="gpu"`` at construction when CUDA is available, and that is kept); lightning's INFO
    notices are silenced during fit and predict, and the global random states that
    neuralforecast's seeding resets are restored afterwards.

    Args:
        model: an unfitted neuralforecast model, e.g.
            ``NBEATS(h=18, input_size=36, max_steps=500)``; a point loss (one output column).
        season_length: ``m`` (default 1); neuralforecast models take their own seasonality
            settings, this is metacompose's (fallback, MASE scale).
        alias: name in the pool (default: the model's ``alias``, else its class name).

    Raises:
        InputError: ``model`` is not a neuralforecast model (no ``h``/``fit``/``predict``), or
            ``season_length`` is not a positive int. ``predict_panel(h)``/``predict(h)``:
            :class:`~metacompose.errors.InputError` when ``h > model.h``.
    """

    fallback = "SeasonalNaive"

    def __init__(self, model: Any, season_length: int | None = None, alias: str | None = None) -> None:
        if not (isinstance(getattr(model, "h", None), int) and hasattr(model, "hparams")
                and callable(getattr(model, "fit", None)) and callable(getattr(model, "predict", None))):
            raise InputError(f"NeuralForecastModel needs a neuralforecast model (with h, fit, predict), "
                             f"got {type(model).__name__}")
        super().__init__(model, season_length, alias, str(getattr(model, "alias", None) or type(model).__name__))

    @property
    def min_length(self) -> int:
        """Fewest observations neuralforecast trains on: ``input_size``, or 1 with ``start_padding_enabled``."""
        if getattr(self.model, "start_padding_enabled", False) or not getattr(self.model, "input_size", None):
            return 1
        return int(self.model.input_size)

    def _model_params(self) -> dict[str, Any]:
        return dict(self.model.hparams)

    def _trainable(self) -> Any:
        """A deep copy of the wrapped model with the quiet trainer settings (where the model sets none)."""
        model = copy.deepcopy(self.model)
        for key, value in _QUIET_TRAINER.items():
            model.trainer_kwargs.setdefault(key, value)
        return model

    def _fit_panel(self, ys: list[np.ndarray]) -> None:
        h = int(self.model.h)
        self._forecast = np.full((len(ys), h), np.nan)
        keep = [i for i, y in enumerate(ys) if y.shape[0] >= self.min_length]
        if not keep:
            return
        scales = np.array([series_scale(ys[i]) for i in keep])
        frame = pd.DataFrame({"unique_id": np.concatenate([np.full(ys[i].shape[0], i) for i in keep]),
                              "ds": np.concatenate([np.arange(ys[i].shape[0]) for i in keep]),
                              "y": np.concatenate([ys[i] / s for i, s in zip(keep, scales)])})
        from neuralforecast import NeuralForecast

        model = self._trainable()
        with _quiet_and_seed_neutral():
            nf = NeuralForecast(models=[model], freq=1)
            nf.fit(df=frame)
            out = nf.predict()
        column = str(model)
        if column not in out.columns:
            raise ForecastError(f"{self.alias}: neuralforecast gave columns {list(out.columns)}, no {column!r}")
        out = out.reset_index() if "unique_id" not in out.columns else out
        rows = out.groupby("unique_id", sort=False)[column].apply(lambda c: c.to_numpy(np.float64)[:h])
        for i, s in zip(keep, scales):
            self._forecast[i] = rows[i] * s

    def _predict_panel(self, h: int) -> np.ndarray:
        if h > self.model.h:
            raise InputError(f"{self.alias}: the neuralforecast model was built with h={self.model.h}, cannot "
                             f"forecast h={h}; build it with h >= {h}")
        return self._forecast[:, :h].copy()
