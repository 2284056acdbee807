"""The checks of :class:`~metacompose.agents.rl.RLAgent`'s constructor arguments (its ``param_checks``).

Each check is ``check(value, name) -> value`` and raises :class:`~metacompose.errors.InputError`
for a value out of range; the algorithm-specific settings accept None (the algorithm's default,
:mod:`metacompose.agents.sb3_algorithms`, which also refuses settings an algorithm does not take).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from metacompose.agents.sb3_algorithms import ACTIVATIONS
from metacompose.checks import check_choice, check_int, check_number, check_optional_int
from metacompose.errors import InputError
from metacompose.metrics import ERROR_METRICS, check_alpha


def _net_arch(value: Any, name: str) -> list[int]:
    return [check_int(n, f"{name} entries") for n in value]


def _optional_str(value: Any, name: str) -> str | None:
    return None if value is None else str(value)


def _optional(check):
    return lambda value, name: None if value is None else check(value, name)


def _ent_coef(value: Any, name: str) -> float | str | None:
    if isinstance(value, str) and value.startswith("auto"):
        return value
    return None if value is None else check_number(value, name, low=0.0)


def _json_dict(value: Any, name: str) -> dict:
    if value is not None and not isinstance(value, dict):
        raise InputError(f"{name} must be a dict of keyword arguments (JSON values), got {type(value).__name__}")
    return dict(value or {})


AMOUNT = partial(check_number, low=0.0, high=1.0)
POSITIVE = partial(check_number, low=0.0, low_open=True)


RL_PARAM_CHECKS = {
    "total_timesteps": _optional(partial(check_int, low=0)), "passes": POSITIVE,
    "seed": partial(check_optional_int, low=0),
    "n_envs": check_int, "temperature": POSITIVE, "history": check_int, "horizon_knots": check_int,
    "reward_metric": partial(check_choice, choices=ERROR_METRICS), "net_arch": _net_arch,
    "activation": partial(check_choice, choices=tuple(ACTIVATIONS)), "gamma": AMOUNT,
    "learning_rate": _optional(POSITIVE), "batch_size": _optional(partial(check_int, low=2)),
    "n_steps": _optional(check_int), "gae_lambda": _optional(AMOUNT), "clip_range": _optional(POSITIVE),
    "n_epochs": _optional(check_int), "ent_coef": _ent_coef, "log_std_init": _optional(check_number),
    "buffer_size": _optional(check_int), "learning_starts": _optional(partial(check_int, low=0)),
    "train_freq": _optional(check_int), "gradient_steps": _optional(check_int), "tau": _optional(AMOUNT),
    "action_noise_sigma": _optional(partial(check_number, low=0.0)), "algorithm_kwargs": _json_dict,
    "early_stopping_patience": check_optional_int, "eval_freq": check_int, "min_improvement": check_number,
    "vec_env": partial(check_choice, choices=("cube", "dummy")), "progress_bar": lambda v, name: bool(v),
    "device": lambda v, name: str(v), "torch_threads": check_optional_int, "verbose": partial(check_int, low=0),
    "shrinkage": AMOUNT, "pooling": AMOUNT, "select_shrinkage": lambda v, name: bool(v),
    "selection_alpha": check_alpha, "checkpoint_path": _optional_str, "checkpoint_freq": check_int,
}
"""RLAgent argument -> its check."""
