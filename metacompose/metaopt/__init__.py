"""Learned meta-optimizer: a small network that trains the neural forecasters from their gradients.

Main entry points:

* :class:`LearnedOptimizer` — a ``torch.optim.Optimizer`` driven by a meta-trained
  :class:`OptimizerNet`; loads the weights shipped with the package when none are given.
  ``MLP(optimizer="learned")`` / ``LSTM(optimizer="learned")`` use it.
* :func:`meta_train_panels` — meta-train in the regime the optimizer is used in: global mini-batch
  training of the neural members on panels (:mod:`~metacompose.metaopt.panel_tasks`,
  :mod:`~metacompose.metaopt.panel_train`).
* :func:`meta_train` — meta-train new weights on a user's series (``metacompose metaopt train``;
  per-series full-batch tasks).
* :func:`save_weights` / :func:`load_weights` — pickle-free files (``metacompose.fileio``'s
  JSON header + ``.npz`` container; ``weights_file.py``).
* Baselines from the same lineage: :func:`meta_sgd_train` (Meta-SGD, learned per-parameter
  rates and optionally the initialisation) and :func:`reptile_train` (Reptile-learned init).

See ``network.py`` for the design and ``benchmarks/metaopt/RESULTS.md`` for how it compares
with tuned Adam on held-out M3 series.
"""

from .baselines import meta_sgd_train, reptile_train
from .learned_optimizer import LearnedOptimizer
from .meta_train import meta_loss_of, meta_train, meta_train_tasks, tune_adam_lr
from .network import OptimizerNet
from .panel_tasks import PanelTask, make_task, sample_task
from .panel_train import meta_train_panels, run_task
from .tasks import TaskSet, forecast, make_tasks, run_inner
from .weights_file import default_weights_path, load_arrays, load_weights, save_arrays, save_weights

__all__ = [
    "LearnedOptimizer", "OptimizerNet", "default_weights_path",
    "meta_train", "meta_train_tasks", "meta_loss_of", "tune_adam_lr",
    "save_weights", "load_weights", "save_arrays", "load_arrays",
    "meta_sgd_train", "reptile_train",
    "TaskSet", "make_tasks", "run_inner", "forecast",
    "meta_train_panels", "run_task", "PanelTask", "make_task", "sample_task",
]
