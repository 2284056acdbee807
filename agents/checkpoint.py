"""Periodic checkpoints of an agent's training, and resuming from them after the process was killed.

A checkpoint is a :mod:`metacompose.fileio` container at ``<path>.ckpt``:
``<path>.ckpt.pt`` holds what stable-baselines3 itself saves of a model's torch state: the
policy's and its optimizers' ``state_dict`` (``model.get_parameters()``: PPO's one optimizer,
SAC's actor, critic and entropy optimizers, ...) and SAC's learned entropy coefficient
(tensors only, read back with ``torch.load(weights_only=True)``), ``<path>.ckpt.json`` the number of steps
done and the settings it belongs to, and ``<path>.ckpt.npz`` the header's digest. The
container is written atomically, and files of two different writes are refused together. A resumed run continues from the saved steps with
fresh episode draws (the environments are reseeded with ``seed + steps done``), so it is not
bit-identical to an uninterrupted run; it trains the same total number of steps. The replay
buffer of SAC, TD3 and DDPG is not saved (it can hold every transition of the run): a resumed
run refills it from the remaining steps.

Version 2 (the algorithm's optimizers by stable-baselines3's names) replaced version 1 (PPO's
``policy`` and ``optimizer``); a version-1 checkpoint belongs to other settings and is refused.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.save_util import recursive_getattr

from metacompose.errors import FileFormatError
from metacompose.fileio import container_file, read_arrays, read_header, save_container

CKPT_FORMAT, CKPT_VERSION = "metacompose.ppo-checkpoint", 2


def read_tensors(path: str | Path, what: str) -> Any:
    """Read a file of tensors written with :func:`torch.save`, unpickling nothing but tensors.

    ``torch.load(weights_only=True)`` refuses anything else; its message (which suggests
    ``weights_only=False``, i.e. running arbitrary code from the file) is never passed on.

    Args:
        path: the ``.pt`` file; what: what it should hold, for the message (e.g. "agent").

    Returns:
        what the file holds (a ``state_dict`` or a dict of them).

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: the file is corrupted, truncated, or not a metacompose ``what`` file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of foreign files
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # corrupt zip, truncated file, a pickle of other objects
        raise FileFormatError(f"{path} is corrupted or not a metacompose {what}") from None


def _base(path: str | Path) -> Path:
    return container_file(path, ".ckpt")


def _variables(model) -> list[str]:
    """Names of the model's torch tensors that stable-baselines3 saves beside the ``state_dict`` s
    (SAC's ``log_ent_coef``; none for the others)."""
    return list(model._get_torch_save_params()[1])


def save_checkpoint(path: str | Path, model, fingerprint: dict) -> None:
    """Write the policy, its optimizers, the saved tensors and ``model.num_timesteps`` atomically."""
    state = {"parameters": model.get_parameters(),
             "variables": {name: recursive_getattr(model, name).detach().clone() for name in _variables(model)}}
    save_container(_base(path), CKPT_FORMAT, CKPT_VERSION,
                   {"timesteps": int(model.num_timesteps), "config": fingerprint},
                   extras={".pt": lambda target: torch.save(state, target)})


def load_checkpoint(path: str | Path, model, fingerprint: dict) -> int:
    """Load a checkpoint into ``model`` if there is one; returns the steps it had done (0 if none).

    Raises:
        FileFormatError: the checkpoint is corrupted, not a metacompose checkpoint, or belongs to
            other settings or another cube.
    """
    pt, js, npz = (container_file(_base(path), suffix) for suffix in (".pt", ".json", ".npz"))
    if not (pt.exists() and js.exists() and npz.exists()):
        return 0
    what = f"{type(model).__name__} checkpoint"  # "PPO checkpoint", "SAC checkpoint", ...
    header = read_header(js, CKPT_FORMAT, CKPT_VERSION, what)
    read_arrays(npz, what, header=header)  # the policy file belongs to this header
    if header.get("config") != fingerprint:
        raise FileFormatError(f"{js} was written for other {type(model).__name__} settings or another cube; delete it "
                              "to start afresh")
    state = read_tensors(pt, what)
    try:
        model.set_parameters(state["parameters"], exact_match=True)
        with torch.no_grad():
            for name in _variables(model):
                recursive_getattr(model, name).copy_(state["variables"][name])
    except Exception:  # not a dict, missing keys, shape mismatch
        raise FileFormatError(f"{pt} does not fit this agent's model (another algorithm, pool or network size); "
                              "delete it to start afresh") from None
    return int(header["timesteps"])


class Checkpointing(BaseCallback):
    """Save a checkpoint every ``freq`` environment steps (stable-baselines3 callback)."""

    def __init__(self, path: str | Path, freq: int, fingerprint: dict) -> None:
        super().__init__(verbose=0)
        self.path, self.freq, self.fingerprint = path, int(freq), fingerprint
        self._next = None

    def _on_step(self) -> bool:
        if self._next is None:
            self._next = self.model.num_timesteps + self.freq
        if self.model.num_timesteps >= self._next:
            save_checkpoint(self.path, self.model, self.fingerprint)
            self._next = self.model.num_timesteps + self.freq
        return True
