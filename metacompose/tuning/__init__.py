"""Meta-learned hyperparameters of the pool's members: an optuna search with warm starts from earlier panels.

* :func:`tune` searches one member's hyperparameters on the backtest of a panel (optuna's TPE,
  :mod:`metacompose.tuning.search`);
* the search spaces and the derived names (``lookback``, ``width``/``depth``) are in
  :mod:`metacompose.tuning.space`;
* a **model-based** warm start (a meta-model from panel features and configurations to their rank)
  and a **metric-based** one (the best configurations of the nearest earlier panels) give the first
  trials (:mod:`metacompose.tuning.warm_start`);
* :func:`tune_composer` tunes the composer's own backtest origins, step and agent by cross-validation
  (:mod:`metacompose.tuning.composer_search`);
* earlier results live in a :class:`TuningStore` file that grows as a user tunes
  (:mod:`metacompose.tuning.store`).

Example::

    from metacompose.tuning import TuningStore, tune
    store = TuningStore.open("tuning-store")
    result = tune("MLP", train_df, horizon=18, season_length=12, n_trials=10, warm_start="metric", store=store)
    mlp = result.build(season_length=12)
"""

from metacompose.tuning.composer_search import COMPOSER_PARAMETERS, composer_space, tune_composer
from metacompose.tuning.search import TuningResult, backtest_error, tune
from metacompose.tuning.space import DEFAULT_SPACES, check_space
from metacompose.tuning.store import TuningStore
from metacompose.tuning.warm_start import WARM_STARTS, metric_warm_start, model_warm_start

__all__ = ["COMPOSER_PARAMETERS", "DEFAULT_SPACES", "TuningResult", "TuningStore", "WARM_STARTS", "backtest_error",
           "check_space", "composer_space", "metric_warm_start", "model_warm_start", "tune", "tune_composer"]
