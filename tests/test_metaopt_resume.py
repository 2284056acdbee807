"""Meta-training of the learned optimizer resumes after the process is killed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from metacompose.errors import FileFormatError
from metacompose.metaopt import meta_train_tasks, save_weights
from metacompose.metaopt.checkpoint import load_checkpoint

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]

# Shared by the test process and the killed child, so both build the same task family.
SETUP = """
import numpy as np, torch
from metacompose.metaopt import make_tasks
torch.set_num_threads(1)
rng = np.random.default_rng(0)
t = np.arange(50)
series = [rng.uniform(5, 20) + rng.uniform(0.5, 2) * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 6.3))
          + 0.1 * rng.standard_normal(50) for _ in range(8)]
TASKS, _ = make_tasks(series, n_lags=8, horizon=3, n_val=2, max_train_windows=16)
KW = dict(net=None, mode="pure", net_hidden=8, unroll_length=6, truncation=2, batch_size=4,
          meta_lr=1e-2, seed=0)
"""


def _setup():
    ns: dict = {}
    exec(SETUP, ns)  # noqa: S102 - fixed test code
    return ns["TASKS"], ns["KW"]


def _weights(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_killed_run_resumes_from_checkpoint(tmp_path):
    ckpt = tmp_path / "run-ckpt.npz"  # a container: run-ckpt.json (header, written last) + run-ckpt.npz
    child = SETUP + (f"\nfrom metacompose.metaopt import meta_train_tasks\n"
                     f"meta_train_tasks(TASKS, steps=100000, checkpoint_path={str(ckpt)!r}, "
                     f"checkpoint_every=2, **KW)\n")
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", child], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while not ckpt.with_suffix(".json").exists():
            if proc.poll() is not None:
                pytest.fail(f"child exited early: {proc.stderr.read().decode()[-2000:]}")
            if time.time() > deadline:
                pytest.fail("no checkpoint within 60 s")
            time.sleep(0.05)
        time.sleep(0.3)  # let it go a few checkpoints further
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode != 0  # killed, not finished

    _, header = load_checkpoint(ckpt)  # the atomic write leaves a whole, readable file
    it = header["meta"]["iteration"]
    assert it > 0 and it % 2 == 0

    tasks, kw = _setup()
    steps = it + 3
    net, hist = meta_train_tasks(tasks, steps=steps, checkpoint_path=ckpt, checkpoint_every=2,
                                 resume=True, **kw)
    assert hist["start_iteration"] == it
    assert len(hist["meta_loss"]) == steps and np.all(np.isfinite(hist["meta_loss"]))
    assert all(torch.isfinite(v).all() for v in net.state_dict().values())
    assert load_checkpoint(ckpt)[1]["meta"]["iteration"] == steps  # final checkpoint written

    # resuming a finished run trains nothing
    net2, hist2 = meta_train_tasks(tasks, steps=steps, checkpoint_path=ckpt, resume=True, **kw)
    assert hist2["start_iteration"] == steps
    for k, v in _weights(net).items():
        assert torch.equal(v, net2.state_dict()[k])


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    tasks, kw = _setup()
    n, k = 7, 3
    full, hist_full = meta_train_tasks(tasks, steps=n, **kw)
    ckpt = tmp_path / "part-ckpt.npz"
    meta_train_tasks(tasks, steps=k, checkpoint_path=ckpt, checkpoint_every=k, **kw)
    resumed, hist_res = meta_train_tasks(tasks, steps=n, checkpoint_path=ckpt, checkpoint_every=k,
                                         resume=True, **kw)
    assert hist_res["start_iteration"] == k
    assert hist_res["meta_loss"] == hist_full["meta_loss"]
    for name, v in _weights(full).items():
        assert torch.equal(v, resumed.state_dict()[name]), name


def test_checkpoint_from_other_configuration_is_rejected(tmp_path):
    tasks, kw = _setup()
    ckpt = tmp_path / "c-ckpt.npz"
    meta_train_tasks(tasks, steps=2, checkpoint_path=ckpt, checkpoint_every=2, **kw)
    with pytest.raises(FileFormatError, match="batch_size"):
        meta_train_tasks(tasks, steps=4, checkpoint_path=ckpt, resume=True, **{**kw, "batch_size": 2})
    with pytest.raises(FileFormatError, match="seed"):
        meta_train_tasks(tasks, steps=4, checkpoint_path=ckpt, resume=True, **{**kw, "seed": 1})
    with pytest.raises(FileFormatError, match="task data"):
        meta_train_tasks(tasks.subset(range(len(tasks))[::-1]), steps=4, checkpoint_path=ckpt,
                         resume=True, **kw)
    with pytest.raises(FileFormatError, match="network"):
        meta_train_tasks(tasks, steps=4, checkpoint_path=ckpt, resume=True, **{**kw, "net_hidden": 4})
    # plain weights (the old checkpoint format) are not a resumable checkpoint
    net, _ = meta_train_tasks(tasks, steps=1, **kw)
    save_weights(tmp_path / "w.npz", net)
    with pytest.raises(FileFormatError):
        meta_train_tasks(tasks, steps=4, checkpoint_path=tmp_path / "w.npz", resume=True, **kw)
    # resume without a checkpoint file starts from scratch
    _, hist = meta_train_tasks(tasks, steps=1, checkpoint_path=tmp_path / "none.npz", resume=True, **kw)
    assert hist["start_iteration"] == 0
