"""Checkpoints of meta-training: the complete training state, so a killed run resumes exactly.

:func:`save_checkpoint` writes the optimizer network, the meta-optimizer's state, the slots'
parameters and accumulators, the random generators and the training history as a
``"meta_train_checkpoint"`` container of :mod:`~metacompose.metaopt.weights_file` (JSON header
beside npz arrays, no pickle); :func:`load_checkpoint` reads it back. On resume,
:func:`load_resume_state` checks a checkpoint against the current configuration and rebuilds
the network, and :func:`restore_training_state` puts the meta-optimizer, the generators and
the slots back where they were.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from ..errors import FileFormatError
from .network import OptimizerNet
from .tasks import TaskSet
from .weights_file import load_arrays, save_arrays

CHECKPOINT_KIND = "meta_train_checkpoint"

__all__ = ["CHECKPOINT_KIND", "tasks_fingerprint", "save_checkpoint", "load_checkpoint", "load_resume_state",
           "restore_training_state", "optimizer_arrays", "restore_optimizer"]


def tasks_fingerprint(tasks: TaskSet) -> str:
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
    """Write the complete meta-training state to the container ``path`` (pickle-free, atomic).

    Arrays: ``net:<name>`` (network weights), ``opt:<i>:<name>`` (Adam state of parameter i),
    ``rng:gen`` / ``rng:torch`` (state of the training generator and of torch's global
    generator, uint8 bytes stored exactly as float32), ``slot:idx``, ``slot:tstep``,
    ``slot:ref``, ``slot:ref_tr`` (task index, offset in the unroll and reference losses of the B
    slots), ``slot:p:<name>`` and ``slot:s:<name>:<acc>`` (carried inner parameters and
    accumulators). Header meta: ``iteration``, ``train_config`` (checked on resume),
    ``net_config`` and the history so far.

    Args:
        path: the container's base path (a ``.json``/``.npz`` suffix is dropped).
        net, meta_opt: the network being meta-trained and its Adam optimizer.
        iteration: meta-iterations done.
        gen: the training generator.
        slots: what the slots carry (:meth:`~metacompose.metaopt.slots.Slots.as_dict`).
        train_config: the settings a resumed run must share.
        hist: the history (``meta_loss``, ``skipped``, ``restarts_diverged``).

    Returns:
        the path of the JSON header.
    """
    arrays = {f"net:{k}": v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    arrays.update(optimizer_arrays(meta_opt))
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


def optimizer_arrays(opt: torch.optim.Optimizer) -> dict[str, np.ndarray]:
    """The state of a torch optimizer (e.g. the meta-optimizer's Adam moments) as arrays ``opt:<i>:<name>``."""
    return {f"opt:{i}:{name}": torch.as_tensor(v).detach().cpu().numpy()
            for i, st in opt.state_dict()["state"].items() for name, v in st.items()}


def restore_optimizer(opt: torch.optim.Optimizer, arrays: dict[str, np.ndarray]) -> None:
    """Load the state :func:`optimizer_arrays` saved into ``opt`` (over the same parameters).

    Raises:
        KeyError, ValueError, RuntimeError: the arrays do not fit ``opt``'s parameters.
    """
    sd = opt.state_dict()
    ids = sorted({int(k.split(":")[1]) for k in arrays if k.startswith("opt:")})
    sd["state"] = {i: {k.split(":")[2]: torch.from_numpy(np.array(v))
                       for k, v in arrays.items() if k.startswith(f"opt:{i}:")} for i in ids}
    opt.load_state_dict(sd)


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`: ``(arrays, header)``.

    Raises:
        FileNotFoundError: no such container.
        FileFormatError: not a meta-training checkpoint (e.g. plain weights), or corrupt.
    """
    arrays, header = load_arrays(path, kind=CHECKPOINT_KIND)
    meta = header.get("meta", {})
    if not isinstance(meta.get("iteration"), int) or not isinstance(meta.get("train_config"), dict):
        raise FileFormatError(f"{path}: checkpoint header lacks iteration/train_config")
    return arrays, header


def _u8(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a).round().astype(np.uint8))


def _differences(saved: dict, wanted: dict) -> str:
    """``"key: checkpoint a vs now b"`` for each key of ``wanted`` whose value differs in ``saved``."""
    diff = {k: (saved.get(k), v) for k, v in wanted.items() if saved.get(k) != v}
    return ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in sorted(diff.items()))


def load_resume_state(path, train_config: dict, net: OptimizerNet | None, mode: str, adam_lr: float | None,
                      net_hidden: int, step_scale: float) -> dict:
    """Load a checkpoint for ``resume`` and check it against the current configuration.

    Args:
        path: the checkpoint.
        train_config: the current run's settings; each must equal the checkpoint's.
        net: the network given to the current run, or None; its config must equal the
            checkpoint's, and it receives the checkpoint's weights.
        mode, adam_lr, net_hidden, step_scale: the settings of a new network (when ``net``
            is None); ``adam_lr`` None accepts the checkpoint's.

    Returns:
        ``{"arrays", "iteration", "train_config", "net", "hist"}``: the checkpoint's arrays,
        iteration and saved settings, the network with its weights, and its history.

    Raises:
        FileNotFoundError: no such checkpoint.
        FileFormatError: not a readable checkpoint, or written with another configuration.
    """
    arrays, header = load_checkpoint(path)
    meta = header["meta"]
    saved = meta["train_config"]
    detail = _differences(saved, train_config)
    if detail:
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
        detail = _differences(cfg, want)
        if detail:
            raise FileFormatError(f"{path}: checkpoint network has another configuration ({detail})")
    try:
        net = net if net is not None else OptimizerNet(**cfg)
        sd = {k[4:]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("net:")}
        net.load_state_dict(sd, strict=True)
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise FileFormatError(f"{path}: checkpoint weights do not fit the network ({exc})") from exc
    return {"arrays": arrays, "iteration": int(meta["iteration"]), "train_config": saved,
            "net": net, "hist": meta.get("hist", {})}


def restore_training_state(path, arrays: dict[str, np.ndarray], meta_opt: torch.optim.Optimizer,
                           gen: torch.Generator, slots: dict, n_tasks: int) -> dict:
    """Put the meta-optimizer, the generators and the slots back as the checkpoint saved them.

    Sets ``meta_opt``'s Adam state, ``gen``'s state and torch's global random state.

    Args:
        path: the checkpoint (for messages).
        arrays: its arrays (:func:`load_resume_state`'s ``"arrays"``).
        meta_opt: the meta-optimizer over the network's parameters.
        gen: the training generator.
        slots: the current run's freshly drawn slots (keys
            :data:`~metacompose.metaopt.slots.SLOT_FIELDS`): the checkpoint must hold the same
            parameter names and shapes.
        n_tasks: size of the task family (the saved task indices must lie in it).

    Returns:
        the carried slots, keyed as ``slots``.

    Raises:
        FileFormatError: the arrays do not fit this training configuration.
    """
    a = arrays
    try:
        restore_optimizer(meta_opt, a)
        gen.set_state(_u8(a["rng:gen"]))
        torch.set_rng_state(_u8(a["rng:torch"]))
        carried = {"idx": torch.from_numpy(np.array(a["slot:idx"])).round().long(),
                   "tstep": torch.from_numpy(np.array(a["slot:tstep"])),
                   "ref": torch.from_numpy(np.array(a["slot:ref"])),
                   "ref_tr": torch.from_numpy(np.array(a["slot:ref_tr"])),
                   "params": {k: torch.from_numpy(np.array(a[f"slot:p:{k}"])) for k in slots["params"]},
                   "state": {k: {s: torch.from_numpy(np.array(a[f"slot:s:{k}:{s}"])) for s in st}
                             for k, st in slots["state"].items()}}
    except (KeyError, ValueError, RuntimeError, IndexError) as exc:
        raise FileFormatError(f"{path}: checkpoint does not fit this training configuration ({exc})") from exc
    for k, v in slots["params"].items():
        if carried["params"][k].shape != v.shape:
            raise FileFormatError(f"{path}: carried parameter {k!r} has shape "
                                  f"{tuple(carried['params'][k].shape)}, expected {tuple(v.shape)}")
    idx = carried["idx"]
    if idx.shape != slots["idx"].shape or int(idx.min()) < 0 or int(idx.max()) >= n_tasks:
        raise FileFormatError(f"{path}: slot task indices do not fit this task family")
    return carried
