"""Exceptions raised by metacompose.

Every error a user can cause derives from :class:`MetacomposeError`, so a script can
catch them all at once; the input errors also derive from :class:`ValueError`, so
code written against the usual Python conventions keeps working.
"""

from __future__ import annotations


class MetacomposeError(Exception):
    """Base class of every error metacompose raises on purpose."""


class InputError(MetacomposeError, ValueError):
    """The data or an argument given by the user is not usable (the message says why)."""


class SeriesTooShortError(InputError):
    """A series has fewer observations than a model or the backtest needs."""


class UnknownModelError(InputError):
    """A model alias is not in the registry of built-in forecasters."""


class NotFittedError(MetacomposeError, RuntimeError):
    """``predict`` (or a similar method) was called before ``fit``."""


class ForecastError(MetacomposeError, RuntimeError):
    """A forecaster produced no usable forecast (wrong shape, NaN or inf values)."""


class FileFormatError(MetacomposeError, ValueError):
    """A saved file is not a metacompose file, is corrupted, or has an unsupported format version."""


class TuningError(MetacomposeError, RuntimeError):
    """A hyperparameter search ended without a usable trial (every trial failed)."""
