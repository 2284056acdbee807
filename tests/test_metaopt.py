"""Tests of the learned meta-optimizer (metacompose.metaopt). Fast: about 20 s on one thread."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from metacompose.errors import FileFormatError, InputError
from metacompose.metaopt import (LearnedOptimizer, OptimizerNet, default_weights_path, load_weights,
                                 make_tasks, meta_loss_of, meta_sgd_train, meta_train, meta_train_tasks,
                                 reptile_train, run_inner, save_arrays, save_weights)
from metacompose.metaopt.baselines import expand_init
from metacompose.metaopt.tasks import lstm_init, mlp_init

torch.set_num_threads(1)


def _synthetic(n, length=60, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    out = []
    for _ in range(n):
        amp, ph, lvl, tr = rng.uniform(0.5, 2), rng.uniform(0, 6.3), rng.uniform(5, 20), rng.uniform(-0.05, 0.05)
        out.append(lvl + tr * t + amp * np.sin(2 * np.pi * t / 12 + ph) + 0.1 * rng.standard_normal(length))
    return out


@pytest.fixture(scope="module")
def small_tasks():
    train, _ = make_tasks(_synthetic(24, seed=0), n_lags=12, horizon=4, n_val=2, max_train_windows=24)
    held, _ = make_tasks(_synthetic(16, seed=1), n_lags=12, horizon=4, n_val=2, max_train_windows=24)
    return train, held


def _perturbed_net(mode="pure", seed=0):
    torch.manual_seed(seed)
    net = OptimizerNet(hidden=8, mode=mode, adam_lr=1e-2)
    with torch.no_grad():  # make the learned step non-negligible so the tests see it
        net.mlp[-1].weight.normal_(0, 0.5)
        net.mlp[-1].bias.normal_(0, 0.5)
    return net


def test_make_tasks_windows_do_not_leak():
    x = np.arange(1, 61, dtype=float)
    ts, kept = make_tasks([x, x[:15]], n_lags=6, horizon=4, n_val=2)
    assert kept == [0]  # the 15-point series has a single training window (< 4) and is skipped
    t, H, V, L = 60, 4, 2, 6
    cut = t - H - V + 1  # first validation origin; training targets must end at or before it
    n_tr = int(ts.M_tr[0].sum())
    assert n_tr == cut - H - L + 1  # every origin o with o + H <= cut, and no other
    assert ts.X_va.shape == (1, V, L) and ts.Y_va.shape == (1, V, H)
    scale = float(ts.scale[0])
    assert np.isclose(scale, np.mean(x[:cut]))  # scale from the part before validation only
    # level-normalised windows of a line: targets are k*step for k = 1..H
    assert torch.allclose(ts.Y_va[0, 0], torch.arange(1, H + 1, dtype=torch.float32) / scale)
    # the forecast input is the last L points of the series
    assert np.allclose(ts.to_forecast(torch.zeros(1, H)), 60.0)
    with pytest.raises(InputError):
        make_tasks([x[:10]], n_lags=6, horizon=4)


def test_meta_training_lowers_meta_loss(small_tasks):
    train, held = small_tasks
    torch.manual_seed(0)
    net0 = OptimizerNet(hidden=16, mode="pure", step_scale=0.01)
    before_train = meta_loss_of(net0, train, steps=20)
    before_held = meta_loss_of(net0, held, steps=20)
    net, hist = meta_train_tasks(train, net=OptimizerNet(hidden=16, mode="pure"), unroll_length=20,
                                 truncation=5, batch_size=8, steps=40, meta_lr=1e-2, seed=0)
    after_train = meta_loss_of(net, train, steps=20)
    after_held = meta_loss_of(net, held, steps=20)
    # an untrained pure-mode net barely moves the parameters: meta-loss ~ 0
    assert abs(before_train) < 0.05
    assert after_train < before_train - 0.2, (before_train, after_train)
    assert after_held < before_held - 0.2, (before_held, after_held)  # generalises to unseen series
    assert hist["skipped"] == 0 and len(hist["meta_loss"]) == 40


def test_save_load_gives_identical_updates(tmp_path):
    net = _perturbed_net("correction")
    path = save_weights(tmp_path / "w.npz", net, meta={"note": "test"})
    net2, header = load_weights(path)
    assert header["meta"]["note"] == "test" and header["config"] == net.config()
    torch.manual_seed(1)
    m1 = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 1))
    m2 = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 1))
    m2.load_state_dict(m1.state_dict())
    o1, o2 = LearnedOptimizer(m1.parameters(), net=net), LearnedOptimizer(m2.parameters(), weights=path)
    X, y = torch.randn(32, 5), torch.randn(32, 1)
    for _ in range(5):
        for m, o in ((m1, o1), (m2, o2)):
            o.zero_grad()
            torch.nn.functional.mse_loss(m(X), y).backward()
            o.step()
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)


def test_functional_and_module_paths_agree():
    """The vmapped meta-training update equals LearnedOptimizer's update on an nn.Module."""
    net = _perturbed_net("pure")
    ts, _ = make_tasks(_synthetic(2), n_lags=12, horizon=4, n_val=2)
    p0 = mlp_init(2, 12, 4, 8, torch.Generator().manual_seed(0))
    r = run_inner(ts, "mlp", p0, 3, ("learned", net))
    # same thing with modules for task 0
    W1 = torch.nn.Parameter(p0["W1"][0].clone())
    b1 = torch.nn.Parameter(p0["b1"][0].clone())
    W2 = torch.nn.Parameter(p0["W2"][0].clone())
    b2 = torch.nn.Parameter(p0["b2"][0].clone())
    opt = LearnedOptimizer([W1, b1, W2, b2], net=net)
    X, Y, M = ts.X_tr[0], ts.Y_tr[0], ts.M_tr[0]
    for _ in range(3):
        opt.zero_grad()
        pred = torch.relu(X @ W1 + b1) @ W2 + b2
        ((((pred - Y) ** 2).mean(-1) * M).sum() / M.sum()).backward()
        opt.step()
    for name, p in zip(["W1", "b1", "W2", "b2"], [W1, b1, W2, b2]):
        assert torch.allclose(r["params"][name][0], p.detach(), atol=1e-5), name


def test_optimizer_reduces_loss_on_module():
    """The shipped weights work on an arbitrary nn.Module through the torch.optim API."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    X = torch.randn(128, 3)
    y = 0.5 * (X @ torch.tensor([[1.0], [-2.0], [0.5]])) + 0.3
    opt = LearnedOptimizer(model.parameters(), lr=1e-2, total_steps=60)  # shipped default weights
    first = None
    for _ in range(60):
        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(X), y)
            loss.backward()
            return loss
        loss = opt.step(closure)
        first = loss.item() if first is None else first
    final = torch.nn.functional.mse_loss(model(X), y).item()
    assert np.isfinite(final) and final < 0.5 * first, (first, final)
    sd = opt.state_dict()  # the accumulators round-trip through the usual optimizer API
    opt2 = LearnedOptimizer(model.parameters(), total_steps=60)
    opt2.load_state_dict(sd)
    assert opt2.state_dict()["state"][0]["step"] == 60


def test_default_weights_ship_and_load():
    net, header = load_weights(default_weights_path())
    assert header["version"] == 1 and header["kind"] == "optimizer_net"
    assert (net.mode, net.progress, net.granularity) == ("bounded", "relative", "tensor")
    with pytest.raises(InputError, match="granularity"):  # a mode the shipped network cannot run
        LearnedOptimizer([torch.nn.Parameter(torch.zeros(2))], mode="correction", total_steps=5)


def test_bad_files_raise_file_format_error(tmp_path):
    save_weights(tmp_path / "good.npz", _perturbed_net())
    header = json.loads((tmp_path / "good.json").read_text())
    raw = (tmp_path / "good.npz").read_bytes()
    arrays = dict(np.load(tmp_path / "good.npz", allow_pickle=False))

    def container(name, header, npz=raw):  # <name>.json + <name>.npz, as fileio writes them
        (tmp_path / f"{name}.json").write_text(json.dumps(header))
        (tmp_path / f"{name}.npz").write_bytes(npz)

    container("trunc", header, raw[: len(raw) // 2])
    container("text", header, b"hello, not a zip")
    np.savez(tmp_path / "noheader.npz", a=np.zeros(3))  # arrays without a JSON header beside them
    # a file from a newer format version
    container("newer", {**header, "version": 99})
    # header and arrays disagree
    np.savez(tmp_path / "shapes.npz", **{**arrays, "mlp.0.weight": np.zeros((2, 2), np.float32)})
    (tmp_path / "shapes.json").write_text(json.dumps(header))
    save_arrays(tmp_path / "otherkind.npz", {"a": np.zeros(2)}, kind="reptile_init")
    for name in ["trunc", "text", "noheader", "newer", "shapes", "otherkind"]:
        with pytest.raises(FileFormatError):
            load_weights(tmp_path / f"{name}.npz")
        with pytest.raises(FileFormatError):
            LearnedOptimizer([torch.nn.Parameter(torch.zeros(2))], weights=tmp_path / f"{name}.npz")
    with pytest.raises(FileNotFoundError):
        load_weights(tmp_path / "missing.npz")


def test_meta_train_entry_point_saves_loadable_weights(tmp_path):
    out = tmp_path / "user.npz"
    net = meta_train(_synthetic(8), horizon=4, season_length=6, steps=3, seed=0, out_path=out,
                     unroll_length=6, truncation=3, batch_size=4, mode="pure")
    loaded, header = load_weights(out)
    assert header["meta"]["n_series"] == 8 and loaded.config() == net.config()
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3)
    LearnedOptimizer([p], weights=out).step()
    assert torch.isfinite(p).all()


def test_baselines_run(small_tasks):
    train, _ = small_tasks
    res, hist = meta_sgd_train(train, "mlp", hidden=8, unroll_length=5, batch_size=4, steps=3, learn_init=True)
    assert set(res["log_lr"]) == {"W1", "b1", "W2", "b2"} and res["init"]["W1"].shape == (12, 8)
    r = run_inner(train, "mlp", expand_init(res["init"], len(train)), 4, ("sgd", res["log_lr"]))
    assert torch.isfinite(r["val"]).all()
    init, _ = reptile_train(train, "mlp", hidden=8, inner_steps=5, batch_size=4, steps=2)
    assert init["W2"].shape == (8, 4) and all(torch.isfinite(v).all() for v in init.values())


def test_lstm_task_runs_with_learned_optimizer(small_tasks):
    train, _ = small_tasks
    p0 = lstm_init(4, 12, 4, 8, torch.Generator().manual_seed(0))
    r = run_inner(train.subset(range(4)), "lstm", p0, 5, ("learned", _perturbed_net("correction")))
    assert r["val"].shape == (4, 6) and torch.isfinite(r["val"]).all()
