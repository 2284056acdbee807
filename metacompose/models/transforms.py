"""Window transforms of the global networks (:class:`~metacompose.models.MLP`, :class:`~metacompose.models.LSTM`).

A global network learns one map ``last L values -> next h values`` from the windows of every
series of a panel (:mod:`metacompose.models._windows`). The series differ in level, scale,
trend and season, so each window is transformed into unit-free values before the network
sees it, and the network's outputs are mapped back. A transform here is

* a forward map on the input windows ``X`` ``(N, L)``, which are known at the forecast origin,
  giving the network's inputs ``Z`` ``(N, L)``;
* the same map applied to the training targets ``Y`` ``(N, h)`` (given their inputs), giving
  the network's targets ``T`` ``(N, h)``;
* the exact inverse of that target map on the network's outputs ``P`` ``(N, h)``, given ``X``.

========================  ==================================  ==========================================  =========================================
name                      input ``Z``                         target ``T`` (inverse)                      rows that fall back to ``"mean_abs"``
========================  ==================================  ==========================================  =========================================
``"mean_abs"`` (default)  ``X / s``, ``s = mean |X|``         ``Y / s`` (``P * s``)                       none
``"last"``                ``X / |x_L|``                       ``Y / |x_L|`` (``P * |x_L|``)               ``x_L = 0``
``"standard"``            ``(X - mean) / std``                ``(Y - mean) / std`` (``P * std + mean``)   ``std <= STD_FLOOR * mean |X|``
``"log"``                 ``log X - log x_L``                 ``log Y - log x_L`` (``x_L * exp(P)``)      a value ``<= 0`` in ``X`` (or in ``Y``)
``"seasonal_diff"``       ``D / s``, ``D`` the lag-``m``      ``d / s + z_L``, ``d`` the lag-``m``        ``L <= m``, or ``s <= STD_FLOOR * mean|X|``
                          differences of ``X``, left-padded   differences of ``x_{L-m+1..L}, Y``
                          to ``L`` with their first value,    (``d = (P - z_L) * s``, added back to
                          ``s = mean |D|``                    the last ``m`` known values, step by step)
========================  ==================================  ==========================================  =========================================

``x_L`` is the last input value, ``z_L`` the last value of ``Z``, ``m`` the season length (with
``m = 1`` ``"seasonal_diff"`` is first differences). A row a transform cannot express is
transformed by ``"mean_abs"`` instead (it never fails: the all-zero windows, which have no scale
at all, are taken out before any transform, :func:`~metacompose.models._windows.panel_windows`).
The choice is made per row from its input window, and for training rows also from its target
(``"log"`` of a non-positive target does not exist), so a network can mix rows of several
transforms; :func:`encode` returns which one each row used and :func:`decode` inverts it.

Shared properties (tested in ``tests/test_transforms.py``):

* **Scale-free.** ``X -> c X``, ``Y -> c Y`` (``c > 0``) leaves ``Z`` and ``T`` unchanged and
  multiplies the inverse by ``c``: the networks' forecasts are scale-equivariant.
* **The last value is the anchor.** The networks output the last input value plus a learned
  change (:mod:`metacompose.models.networks`). Every target is expressed so that ``P = z_L``
  (a silent network) decodes to the Naive forecast, or for ``"seasonal_diff"`` to zero seasonal
  change (the seasonal Naive forecast; Naive with ``m = 1``).
* **The guard works on ``Z``.** :func:`~metacompose.models._windows.clip_forecast` bounds ``P`` to
  ``z_L +- clip * range(Z)``: for the affine transforms (``mean_abs``, ``last``, ``standard``)
  that is the same bound in the units of the series; for ``"log"`` a bound on the ratio to the
  last value; for ``"seasonal_diff"`` a bound on each forecast seasonal change, by the range of
  the window's seasonal changes.

Sources: dividing by the mean absolute value is DeepAR's "mean scaling" (Salinas et al. 2020,
"DeepAR: Probabilistic forecasting with autoregressive recurrent networks", IJF 36(3)); the log is
the ``lambda = 0`` member of Box & Cox (1964, "An analysis of transformations", JRSS B 26(2)); the
back-transform of a median (the networks' MAE loss) is its exponential, and (seasonal) differences
are undone by adding back the last known values (Hyndman & Athanasopoulos, *Forecasting:
Principles and Practice*, 3rd ed., sections 5.6 and 9.1). The learned alternative on top of any of
these is :class:`~metacompose.models.networks.RevIN` (Kim et al. 2022).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from metacompose.errors import InputError
from metacompose.models._windows import window_scale

__all__ = ["TRANSFORMS", "DEFAULT", "AUTO", "STD_FLOOR", "WindowTransform", "get_transform", "check_transform",
           "encode", "decode", "transform_codes"]

TRANSFORMS: tuple[str, ...] = ("mean_abs", "last", "standard", "log", "seasonal_diff")
"""The window transforms, by name (the table of the module docstring)."""
DEFAULT = "mean_abs"
"""The default transform, and the fallback of every other one."""
AUTO = "auto"
"""``transform="auto"``: each series' transform chosen by the shipped chooser
(:mod:`metacompose.models.transform_choice`)."""
STD_FLOOR = 1e-6
"""A spread (standard deviation, mean absolute seasonal change) at most this share of the window's mean
absolute value counts as none: ``"standard"`` and ``"seasonal_diff"`` fall back to ``"mean_abs"`` there
(relative, so the decision does not depend on the units of the series)."""


class WindowTransform:
    """``"mean_abs"``: divide each window by the mean absolute value of its input part (the base class).

    Subclasses override :meth:`applies` and the three maps; every map works row by row, so any
    subset of rows can be transformed on its own.

    Args:
        season_length: the season length ``m`` (used by ``"seasonal_diff"``).
    """

    name = "mean_abs"

    def __init__(self, season_length: int = 1) -> None:
        self.season_length = int(season_length)

    def applies(self, X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
        """bool ``(N,)``: the rows this transform expresses (the others use ``"mean_abs"``).

        Args:
            X: input windows ``(N, L)`` with at least one non-zero value each; Y: their targets ``(N, h)``
                when training, None at forecast time.
        """
        return np.ones(X.shape[0], dtype=bool)

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """The network's inputs ``(N, L)`` for input windows ``X`` ``(N, L)`` (rows where it applies)."""
        return X / window_scale(X)

    def targets(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """The network's targets ``(N, h)`` for targets ``Y`` ``(N, h)`` after inputs ``X`` ``(N, L)``."""
        return Y / window_scale(X)

    def outputs(self, X: np.ndarray, P: np.ndarray) -> np.ndarray:
        """Network outputs ``P`` ``(N, h)`` back in the units of ``X``: the inverse of :meth:`targets`."""
        return P * window_scale(X)


class LastValue(WindowTransform):
    """``"last"``: divide each window by the absolute value of its last input value."""

    name = "last"

    def applies(self, X, Y=None):
        return X[:, -1] != 0

    def inputs(self, X):
        return X / np.abs(X[:, -1:])

    def targets(self, X, Y):
        return Y / np.abs(X[:, -1:])

    def outputs(self, X, P):
        return P * np.abs(X[:, -1:])


class Standard(WindowTransform):
    """``"standard"``: subtract the input window's mean, divide by its (population) standard deviation."""

    name = "standard"

    def applies(self, X, Y=None):
        return X.std(axis=1) > STD_FLOOR * np.mean(np.abs(X), axis=1)

    @staticmethod
    def _moments(X):
        return X.mean(axis=1, keepdims=True), X.std(axis=1, keepdims=True)

    def inputs(self, X):
        mu, sd = self._moments(X)
        return (X - mu) / sd

    def targets(self, X, Y):
        mu, sd = self._moments(X)
        return (Y - mu) / sd

    def outputs(self, X, P):
        mu, sd = self._moments(X)
        return P * sd + mu


class Log(WindowTransform):
    """``"log"``: the log of a strictly positive window, relative to the log of its last input value
    (Box & Cox 1964, ``lambda = 0``)."""

    name = "log"

    def applies(self, X, Y=None):
        ok = np.all(X > 0, axis=1)
        return ok if Y is None else ok & np.all(Y > 0, axis=1)

    def inputs(self, X):
        return np.log(X) - np.log(X[:, -1:])

    def targets(self, X, Y):
        return np.log(Y) - np.log(X[:, -1:])

    def outputs(self, X, P):
        with np.errstate(over="ignore"):  # an overflow gives inf: the series' forecast is NaN and falls back
            return X[:, -1:] * np.exp(P)


class SeasonalDiff(WindowTransform):
    """``"seasonal_diff"``: the lag-``m`` differences of the window, divided by their mean absolute value
    (FPP3 section 9.1); the targets are the seasonal changes of the next ``h`` values, offset by the last
    input so that a silent network forecasts no change."""

    name = "seasonal_diff"

    def _diffs(self, X):
        m = self.season_length
        D = X[:, m:] - X[:, :-m]
        return D, np.mean(np.abs(D), axis=1, keepdims=True)

    def applies(self, X, Y=None):
        if X.shape[1] <= self.season_length:
            return np.zeros(X.shape[0], dtype=bool)
        _, s = self._diffs(X)
        return s[:, 0] > STD_FLOOR * np.mean(np.abs(X), axis=1)

    def inputs(self, X):
        D, s = self._diffs(X)
        Dz = D / s
        return np.concatenate([np.repeat(Dz[:, :1], self.season_length, axis=1), Dz], axis=1)

    def targets(self, X, Y):
        m, h = self.season_length, Y.shape[1]
        D, s = self._diffs(X)
        full = np.concatenate([X[:, -m:], Y], axis=1)
        return (full[:, m:] - full[:, :h]) / s + D[:, -1:] / s

    def outputs(self, X, P):
        m, h = self.season_length, P.shape[1]
        D, s = self._diffs(X)
        d = (P - D[:, -1:] / s) * s
        out = np.empty_like(d)
        for j in range(h):  # add each seasonal change back to the value m steps before
            out[:, j] = (X[:, X.shape[1] - m + j] if j < m else out[:, j - m]) + d[:, j]
        return out


_CLASSES = {cls.name: cls for cls in (WindowTransform, LastValue, Standard, Log, SeasonalDiff)}


def get_transform(name: str, season_length: int = 1) -> WindowTransform:
    """The transform called ``name`` (one of :data:`TRANSFORMS`) for season length ``m``.

    Raises:
        InputError: an unknown name; the message lists the known ones.
    """
    if not isinstance(name, str) or name not in _CLASSES:
        raise InputError(f"unknown window transform {name!r}; choose from {', '.join(TRANSFORMS)}")
    return _CLASSES[name](season_length)


def check_transform(value: Any) -> str | list[str]:
    """A model's ``transform=`` argument, checked: a name of :data:`TRANSFORMS`, ``"auto"``, or a
    non-empty sequence of names (one per series; ``"auto"`` is not one of them).

    Returns:
        the name, or the names as a list (JSON-serialisable, as model parameters must be).

    Raises:
        InputError: an unknown name, an empty sequence, or anything else (a number, None).
    """
    if isinstance(value, str):
        if value != AUTO:
            get_transform(value)
        return value
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) > 0:
        for v in value:
            get_transform(v)
        return [str(v) for v in value]
    raise InputError(f"transform must be one of {', '.join(TRANSFORMS + (AUTO,))}, or a list of names "
                     f"(one per series), got {value!r}")


def _names(names: str | Sequence[str], n: int) -> np.ndarray:
    """``names`` as a str array ``(n,)`` (one name broadcast to every row)."""
    arr = np.asarray(names, dtype=str)
    return np.full(n, str(arr)) if arr.ndim == 0 else arr


def encode(names: str | Sequence[str], X: np.ndarray, Y: np.ndarray | None = None,
           season_length: int = 1) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Transform windows row by row, each with its own transform (falling back where it does not apply).

    Args:
        names: the transform of every row, str ``(N,)``, or one name for all.
        X: input windows float64 ``(N, L)``, none all zero, in the units of each series.
        Y: training targets float64 ``(N, h)``, or None at forecast time.
        season_length: ``m``.

    Returns:
        ``(Z, T, used)``: network inputs float64 ``(N, L)``, targets ``(N, h)`` (None without ``Y``),
        and the transform each row used, str ``(N,)`` (``"mean_abs"`` where its own fell back), for
        :func:`decode`.

    Raises:
        InputError: an unknown transform name.
    """
    n = X.shape[0]
    names = _names(names, n)
    used = names.copy().astype(object)
    for name in np.unique(names):
        rows = names == name
        own = get_transform(str(name), season_length).applies(X[rows], None if Y is None else Y[rows])
        used[np.flatnonzero(rows)[~own]] = DEFAULT
    used = used.astype(str)
    kinds = np.unique(used)
    if kinds.shape[0] == 1:  # one transform for every row (the default path): no copies
        t = get_transform(str(kinds[0]), season_length)
        return t.inputs(X), None if Y is None else t.targets(X, Y), used
    Z = np.empty_like(X, dtype=np.float64)
    T = None if Y is None else np.empty_like(Y, dtype=np.float64)
    for name in kinds:
        rows = used == name
        t = get_transform(str(name), season_length)
        Z[rows] = t.inputs(X[rows])
        if Y is not None:
            T[rows] = t.targets(X[rows], Y[rows])
    return Z, T, used


def decode(used: np.ndarray, X: np.ndarray, P: np.ndarray, season_length: int = 1) -> np.ndarray:
    """The inverse of :func:`encode`'s targets: network outputs back in the units of each series.

    Args:
        used: the transform of every row, str ``(N,)``, as :func:`encode` returned it.
        X: the input windows ``(N, L)`` the outputs were computed from.
        P: network outputs ``(N, h)`` (clipped or not).
        season_length: ``m``, as given to :func:`encode`.

    Returns:
        float64 ``(N, h)``; ``inf`` or NaN where an output overflows (the series then falls back).
    """
    kinds = np.unique(used)
    if kinds.shape[0] == 1:
        return get_transform(str(kinds[0]), season_length).outputs(X, P)
    out = np.empty(P.shape, dtype=np.float64)
    for name in kinds:
        rows = used == name
        out[rows] = get_transform(str(name), season_length).outputs(X[rows], P[rows])
    return out


def transform_codes(used: np.ndarray) -> np.ndarray:
    """One-hot codes of the transform of each row: float64 ``(N, K)``, column ``k`` for ``TRANSFORMS[k]``.

    Args:
        used: transform names, str ``(N,)`` (:func:`encode`'s ``used``).
    """
    return (np.asarray(used, dtype=str)[:, None] == np.asarray(TRANSFORMS)[None, :]).astype(np.float64)
