"""metacompose: compose time-series forecasts with a learned agent.

A pool of base forecasters is backtested at rolling origins of every series into a
:class:`ForecastCube`; a Gymnasium environment (``metacompose/EnsembleWeights-v0``) turns
the cube into a decision problem; an RL agent (stable-baselines3's PPO, A2C, SAC, TD3 or DDPG) learns how much weight
each model gets, series by series; the :class:`Composer` ties it together.
"""

from metacompose.errors import (
    FileFormatError, ForecastError, InputError, MetacomposeError, NotFittedError, SeriesTooShortError,
    TuningError, UnknownModelError,
)
from metacompose.cube import ForecastCube
from metacompose.models import Forecaster, PanelForecaster, get_model
from metacompose.backtest import BacktestReport, backtest
from metacompose.composer import Composer
from metacompose.data import load_m3, validate_frame

__version__ = "0.1.0"

__all__ = [
    "Composer", "ForecastCube", "Forecaster", "PanelForecaster", "BacktestReport", "backtest", "get_model",
    "load_m3", "validate_frame", "MetacomposeError", "InputError", "SeriesTooShortError", "UnknownModelError",
    "NotFittedError", "ForecastError", "FileFormatError", "TuningError",
]
