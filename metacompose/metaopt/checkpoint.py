"""Checkpoints of meta-training: the complete training state, so a killed run resumes exactly.

:func:`save_checkpoint` writes the optimizer network, the meta-optimizer's state, the slots'
parameters and accumulators, the random generators and the training history as npz arrays
with a JSON header (no pickle); :func:`load_checkpoint` reads them back, and the resume path
of :func:`~metacompose.metaopt.meta_train.meta_train_tasks` checks them against the current
configuration before continuing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from ..errors import FileFormatError
from .io import load_arrays, save_arrays
from .network import OptimizerNet
from .tasks import TaskSet


CHECKPOINT_KIND = "meta_train_checkpoint"


def _tasks_fingerprint(tasks: TaskSet) -> str:
    """SHA-256 of a task family's arrays (identifies the training data in a checkpoint)."""
    h = hashlib.sha256()
    for name in ("X_tr", "Y_tr", "M_tr", "X_va", "Y_va", "M_va"):
        a = np.ascontiguousarray(getattr(tasks, name).detach().cpu().numpy())
        h.update(name.encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_checkpoint(path, *, net: OptimizerNet, meta_opt: torch.optim.Optimizer, iteration: int,
                    gen: torch.Generator, slots: dict, train_config: dict, hist: dict) -> Path:
    """Write the complete meta-training state to ``path`` (pickle-free ``.npz``, atomic).

    Arrays: ``net:<name>`` (network weights), ``opt:<i>:<name>`` (Adam state of parameter i),
    ``rng:gen`` / ``rng:torch`` (state of the training generator and of torch's global
    generator, uint8 bytes stored exactly as float32), ``slot:idx``, ``slot:tstep``,
    ``slot:ref``, ``slot:ref_tr`` (task index, offset in the unroll and reference losses of the B
    slots), ``slot:p:<name>`` and ``slot:s:<name>:<acc>`` (carried inner parameters and
    accumulators). Header meta: ``iteration``, ``train_config`` (checked on resume),
    ``net_config`` and the history so far.
    """
    arrays = {f"net:{k}": v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    opt_sd = meta_opt.state_dict()
    for i, st in opt_sd["state"].items():
        for name, v in st.items():
            arrays[f"opt:{i}:{name}"] = torch.as_tensor(v).detach().cpu().numpy()
    arrays["rng:gen"] = gen.get_state().numpy()
    arrays["rng:torch"] = torch.get_rng_state().numpy()
    for k in ("idx", "tstep", "ref", "ref_tr"):
        arrays[f"slot:{k}"] = slots[k].detach().cpu().numpy()
    for k, v in slots["params"].items():
        arrays[f"slot:p:{k}"] = v.detach().cpu().numpy()
    for k, st in slots["state"].items():
        for a, v in st.items():
            arrays[f"slot:s:{k}:{a}"] = v.detach().cpu().numpy()
    meta = {"iteration": int(iteration), "checkpoint": True, "train_config": train_config,
            "net_config": net.config(),
            "hist": {"meta_loss": [float(x) for x in hist["meta_loss"]], "skipped": int(hist["skipped"]),
                     "restarts_diverged": int(hist["restarts_diverged"])}}
    return save_arrays(path, arrays, kind=CHECKPOINT_KIND, config=net.config(), meta=meta)


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`: ``(arrays, header)``.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: not a meta-training checkpoint (e.g. plain weights), or corrupt.
    """
    arrays, header = load_arrays(path, kind=CHECKPOINT_KIND)
    meta = header.get("meta", {})
    if not isinstance(meta.get("iteration"), int) or not isinstance(meta.get("train_config"), dict):
        raise FileFormatError(f"{path}: checkpoint header lacks iteration/train_config")
    return arrays, header


def _u8(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a).round().astype(np.uint8))


def _resume_state(path, tasks, train_config, net, mode, adam_lr, net_hidden, step_scale) -> dict:
    """Load a checkpoint for ``resume`` and check it against the current configuration."""
    from .network import OptimizerNet as _Net

    arrays, header = load_checkpoint(path)
    meta = header["meta"]
    saved = meta["train_config"]
    diff = {k: (saved.get(k), v) for k, v in train_config.items() if saved.get(k) != v}
    if diff:
        detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in sorted(diff.items()))
        raise FileFormatError(f"{path}: checkpoint was written with another configuration ({detail}); "
                              "delete it or pass resume=False")
    cfg = meta.get("net_config", header.get("config", {}))
    if net is not None:
        if net.config() != cfg:
            raise FileFormatError(f"{path}: checkpoint network config {cfg} differs from the given "
                                  f"net's {net.config()}")
    else:
        want = {"mode": mode, "hidden": net_hidden, "step_scale": float(step_scale)}
        if adam_lr is not None:
            want["adam_lr"] = float(adam_lr)
        bad = {k: (cfg.get(k), v) for k, v in want.items() if cfg.get(k) != v}
        if bad:
            detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in sorted(bad.items()))
            raise FileFormatError(f"{path}: checkpoint network has another configuration ({detail})")
    try:
        net = net if net is not None else _Net(**cfg)
        sd = {k[4:]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("net:")}
        net.load_state_dict(sd, strict=True)
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise FileFormatError(f"{path}: checkpoint weights do not fit the network ({exc})") from exc
    return {"arrays": arrays, "iteration": int(meta["iteration"]), "train_config": saved,
            "net": net, "hist": meta.get("hist", {})}
