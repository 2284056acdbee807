"""Bayesian meta-selection: weights that are posterior model probabilities from the backtest errors.

For series ``s`` at origin ``k`` with past data ``D`` (the errors of the pool's past backtest
forecasts known there, :mod:`metacompose.history`), the posterior probability that model ``i``
is the one to use is

    ``P(i | D) ∝ P(D | i) P(i)``.

Bayesian model averaging (BMA) weights the members by it; selection takes its mode (MAP)
(Hoeting, Madigan, Raftery & Volinsky 1999, "Bayesian model averaging: a tutorial",
Statistical Science 14(4), 382-417; Claeskens & Hjort 2008, "Model Selection and Model
Averaging", Cambridge UP, ch. 3 and 7).

**Likelihood.** Each past forecast counts as one observation: its mean absolute error ``a`` over
its known steps, in scale-free units (MASE over the origin's scale, or sMAPE), is modelled for
model ``i`` as exponential with mean ``b_i`` -- the law of ``|e|`` for a Laplace(0, ``b_i``)
error, the error law whose maximum-likelihood point forecast is the median and whose scale MLE
is the mean absolute error, matching MAE-type metrics. With ``n`` past forecasts and ``b_i`` at
its MLE ``ē_i`` (the model's mean past error, :func:`metacompose.history.past_error_table`),

    ``log P(D | i) = -n (log ē_i + 1)``,

a profile likelihood; every model has one scale parameter, so the BIC-type penalty that would
approximate the marginal likelihood is the same for all and cancels (Raftery 1995, "Bayesian
model selection in social research", Sociological Methodology 25, 111-163). The steps of one
forecast are strongly correlated (and backtest forecasts overlap), so counting each step as an
independent observation would overstate the evidence by roughly the horizon; counting
forecasts instead is a tempered ("power") likelihood with learning rate ``n / (number of
steps)`` (Grünwald & van Ommen 2017, "Inconsistency of Bayesian inference for misspecified
linear models, and a proposal for repairing it", Bayesian Analysis 12(4); Holmes & Walker 2017,
"Assigning a value to a power likelihood in a general Bayesian model", Biometrika 104(2)).
Hence ``P(i | D) ∝ P(i) ē_i^(-n)``: the evidence sharpens as past forecasts accumulate.

**Prior (empirical Bayes).** ``P(i)`` is learned across the series of the panel in ``fit``: the
share of series on which model ``i`` has the lowest past error known at their final origin
(the whole backtest; ties shared), smoothed by a symmetric Dirichlet(``prior_strength``)
hyperprior -- the posterior mean of the categorical "which model wins a series" probabilities,
``(wins_i + a) / (S' + M a)`` (``a = 1``: Laplace's rule of succession). Estimating the
prior's hyperparameters from the panel is parametric empirical Bayes (Robbins 1956; Casella 1985,
"An introduction to empirical Bayes data analysis", Am. Statistician 39(2), 83-87; Gelman et
al. 2013, "Bayesian Data Analysis", 3rd ed., ch. 5).

At an origin without any known past error the posterior is the prior. The prior is fitted on
the backtest, so at the final origin of a training cube nothing after the training data is
used; at its *intermediate* origins the prior has seen later backtest errors of every series
(as every agent fitted on the whole backtest, e.g. :class:`~metacompose.agents.fforma.FFORMA`).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from metacompose.agents.base import CompositionAgent, check_cube
from metacompose.history import past_error_table
from metacompose.checks import check_choice, check_number, check_optional_int
from metacompose.cube import ForecastCube
from metacompose.errors import InputError, NotFittedError
from metacompose.metrics import check_metric

FORMS = ("bma", "map")
MIN_ERROR = 1e-12
"""Floor of a mean past error in the likelihood (a perfect model would otherwise have log 0)."""


def win_shares(errors: np.ndarray) -> np.ndarray:
    """How many series each model wins: lowest error, ties shared equally.

    Args:
        errors: ``(S, M)`` errors; NaN: unknown (a row without any known error counts for none).

    Returns:
        float64 ``(M,)``, summing to the number of rows with a known error.
    """
    e = np.where(np.isfinite(errors), errors, np.inf)
    best = np.isfinite(errors) & (e == e.min(axis=1, keepdims=True))
    n = best.sum(axis=1, keepdims=True)
    return np.where(n > 0, best / np.maximum(n, 1), 0.0).sum(axis=0)


def log_posterior(log_prior: np.ndarray, errors: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Normalised log posterior ``log P(i | D)`` of each model, from mean past errors.

    Args:
        log_prior: ``(M,)`` log prior probabilities.
        errors: ``(..., M)`` mean past errors ``ē_i`` (any scale-free unit; NaN: unknown).
        n: ``(...)`` number of past forecasts behind the errors.

    Returns:
        float64 ``(..., M)``: ``log P(i) - n log ē_i`` normalised over the models; a model
        without a known error gets ``-inf`` where others have one; rows with ``n == 0`` or no
        known error get the prior, and so do rows where every model with a known error has
        prior 0 (possible with ``prior_strength=0``).
    """
    known = np.isfinite(errors)
    loglik = np.where(known, -n[..., None] * np.log(np.maximum(np.where(known, errors, 1.0), MIN_ERROR)), -np.inf)
    has = known.any(axis=-1) & (n > 0)
    z = np.where(has[..., None], loglik, 0.0) + log_prior
    top = np.max(z, axis=-1, keepdims=True)
    z = np.where(np.isfinite(top), z, log_prior)
    top = np.max(z, axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        return z - top - np.log(np.sum(np.exp(z - top), axis=-1, keepdims=True))


class BayesianSelection(CompositionAgent):
    """Posterior model probabilities from the known backtest errors, with an empirical-Bayes prior.

    See the module notes for the likelihood (exponential law of a past forecast's mean absolute
    error, one observation per past forecast) and the prior (smoothed share of series won).

    Args:
        form: ``"bma"``: the weights are the posterior probabilities (Bayesian model
            averaging); ``"map"``: all weight on the posterior's mode (selection; ties to the
            model listed first). :class:`BMA` and :class:`MAPSelection` fix it.
        metric: ``"mase"`` (MASE units of the origin's scale) or ``"smape"`` (percent): the
            error the likelihood is built on.
        prior_strength: ``a >= 0`` of the Dirichlet smoothing of the prior (0: raw win shares,
            a model that wins no series then never gets weight).
        history: use only the last ``history`` past origins (None: all).

    Attributes (after ``fit``):
        prior_: float64 ``(M,)``, the empirical-Bayes prior ``P(i)``.
        wins_: float64 ``(M,)``, the series won by each model (ties shared).

    Raises:
        InputError: a bad ``form``, ``metric``, ``prior_strength`` or ``history``.
    """

    name = "bayes"
    param_checks = {"form": partial(check_choice, choices=FORMS), "metric": check_metric,
                    "prior_strength": partial(check_number, low=0.0), "history": check_optional_int}

    def __init__(self, form: str = "bma", metric: str = "mase", prior_strength: float = 1.0,
                 history: int | None = None) -> None:
        self._set_params(locals())

    def fit(self, cube: ForecastCube) -> "BayesianSelection":
        """Learn the prior from the past errors known at each series' final origin (the backtest).

        Returns:
            ``self``, with ``prior_``, ``wins_`` and ``models_``.

        Raises:
            InputError: ``cube`` is not a ForecastCube.
        """
        check_cube(cube)
        err, n = past_error_table(cube, self.history, self.metric)
        last = err[:, -1]                                             # (S, M), known at the final origin
        self.wins_ = win_shares(np.where((n[:, -1] > 0)[:, None], last, np.nan))
        M = cube.shape[2]
        total = self.wins_.sum() + M * self.prior_strength
        self.prior_ = (self.wins_ + self.prior_strength) / total if total > 0 else np.full(M, 1.0 / M)
        self.models_ = list(cube.models)
        return self

    def posterior(self, cube: ForecastCube) -> np.ndarray:
        """Posterior model probabilities ``P(i | D)`` at every origin of every series.

        Returns:
            float64 ``(S, O, M)`` on the simplex: the prior where no past error is known, equal
            rows where the origin does not exist.

        Raises:
            NotFittedError: ``fit`` was not called.
            InputError: ``cube`` has another number of models than the fitted one.
        """
        check_cube(cube)
        if not hasattr(self, "prior_"):
            raise NotFittedError(f"{type(self).__name__}: call fit(cube) before weights(cube)")
        M = cube.shape[2]
        if M != self.prior_.shape[0]:
            raise InputError(f"{type(self).__name__} was fitted on {self.prior_.shape[0]} models; this cube has {M}")
        err, n = past_error_table(cube, self.history, self.metric)
        with np.errstate(divide="ignore"):
            post = np.exp(log_posterior(np.log(self.prior_), err, n))
        return np.where(cube.valid[..., None], post, 1.0 / M)

    def weights(self, cube: ForecastCube) -> np.ndarray:
        """float64 ``(S, O, M)``: the posterior (``"bma"``) or a one-hot row on its mode (``"map"``,
        the prior's mode where nothing is known); equal rows where the origin does not exist.

        Raises:
            NotFittedError: ``fit`` was not called.
            InputError: ``cube`` has another number of models than the fitted one.
        """
        post = self.posterior(cube)
        if self.form == "bma":
            return post
        M = cube.shape[2]
        return np.where(cube.valid[..., None], np.eye(M)[np.argmax(post, axis=2)], 1.0 / M)

    def _state(self):
        state, _ = super()._state()
        if not hasattr(self, "prior_"):
            return state, {}
        return state, {"prior": self.prior_, "wins": self.wins_}

    def _set_state(self, state, arrays, base) -> None:
        super()._set_state(state, arrays, base)
        if "prior" in arrays:
            prior = np.asarray(arrays["prior"], dtype=np.float64)
            if prior.shape != (len(self.models_),):
                raise ValueError("the prior does not match the pool")
            self.prior_, self.wins_ = prior, np.asarray(arrays["wins"], dtype=np.float64)


class BMA(BayesianSelection):
    """Bayesian model averaging: :class:`BayesianSelection` with ``form="bma"`` (weights = posterior).

    Args:
        metric, prior_strength, history: as in :class:`BayesianSelection`.
    """

    name = "bma"

    def __init__(self, metric: str = "mase", prior_strength: float = 1.0, history: int | None = None) -> None:
        self._set_params(locals())
        self.form = "bma"


class MAPSelection(BayesianSelection):
    """Bayesian selection: :class:`BayesianSelection` with ``form="map"`` (all weight on the posterior's mode).

    Args:
        metric, prior_strength, history: as in :class:`BayesianSelection`.
    """

    name = "map"

    def __init__(self, metric: str = "mase", prior_strength: float = 1.0, history: int | None = None) -> None:
        self._set_params(locals())
        self.form = "map"
