"""The learned optimizer in the neural members' regime: bounded design, panel tasks, meta-training on them."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from metacompose.cli import main
from metacompose.errors import FileFormatError, InputError
from metacompose.metaopt import LearnedOptimizer, OptimizerNet, load_weights, make_task, meta_train_panels, run_task
from metacompose.metaopt.network import init_state
from metacompose.models.networks import MLPNet
from metacompose.models.training import train_network


def _series(n_series=12, n=60, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return [50 + 0.3 * t * rng.uniform(-1, 1) + 8 * np.sin(2 * np.pi * t / 4 + rng.uniform(0, 6))
            + rng.normal(0, 1, n) for _ in range(n_series)]


def _bounded(granularity="tensor", hidden=8):
    return OptimizerNet(hidden=hidden, mode="bounded", progress="relative", granularity=granularity)


@pytest.mark.parametrize("granularity", ["tensor", "coordinate"])
def test_untrained_bounded_optimizer_is_the_members_adam(granularity):
    """With a zero last layer the bounded rule is exactly Adam with the members' linear decay."""
    torch.manual_seed(0)
    net = _bounded(granularity)
    with torch.no_grad():
        net.mlp[-1].weight.zero_()
    gen = torch.Generator().manual_seed(0)
    X, Y = torch.randn(64, 6, generator=gen), torch.randn(64, 2, generator=gen)
    a, b = MLPNet(6, 2, [8]), MLPNet(6, 2, [8])
    b.load_state_dict(a.state_dict())
    start = [p.detach().clone() for p in a.parameters()]
    # few steps: the MAE's sign gradients would let float rounding differences grow over a long run
    train_network(a, X, Y, torch.optim.Adam(a.parameters(), lr=1e-3), 10, lr_decay=True)
    train_network(b, X, Y, LearnedOptimizer(b.parameters(), net=net, lr=1e-3, total_steps=10), 10)
    for pa, pb, p0 in zip(a.parameters(), b.parameters(), start):
        torch.testing.assert_close(pb - p0, pa - p0, rtol=1e-3, atol=1e-7)
        assert (pa - p0).abs().max() > 1e-3  # both moved


@pytest.mark.parametrize("granularity", ["tensor", "coordinate"])
def test_bounded_step_stays_within_its_bound_whatever_the_network(granularity):
    net = _bounded(granularity)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(300.0)
    p = torch.randn(20, 7)
    st = init_state(p)
    for t in range(1, 6):
        g = torch.randn(20, 7) * 10 ** t
        delta, st = net.update(p, g, st, float(t), total_steps=5, adam_lr=0.1)
        m_hat, v_hat = st["m1"] / (1 - 0.9 ** t), st["v"] / (1 - 0.999 ** t)
        lr_t = 0.1 * (1 - (t - 1) / 5)
        extra = 1.0 if granularity == "coordinate" else (g.abs() / (v_hat.sqrt() + 1e-8))
        bound = lr_t * (math.exp(net.mag_clip) * m_hat.abs() / (v_hat.sqrt() + 1e-8) + extra)
        assert torch.isfinite(delta).all() and (delta.abs() <= bound * (1 + 1e-5)).all()


def test_relative_progress_features_stay_in_range_past_the_run():
    net = _bounded("coordinate")
    p, g = torch.randn(5, 3), torch.randn(5, 3)
    st = init_state(p)
    at_end = net.features(p, g, st, 100.0, 0, total_steps=100)[..., -5:]
    far = net.features(p, g, st, 1000.0, 0, total_steps=100)[..., -5:]
    assert torch.equal(at_end, far) and at_end.min() >= 0 and at_end.max() <= 1


def test_bad_settings_of_the_bounded_design_raise():
    with pytest.raises(InputError, match="relative"):
        OptimizerNet(mode="bounded", progress="absolute")
    with pytest.raises(InputError, match="granularity"):
        OptimizerNet(mode="correction", granularity="tensor")
    with pytest.raises(InputError, match="total_steps"):
        LearnedOptimizer([torch.nn.Parameter(torch.zeros(2))], net=_bounded())
    with pytest.raises(InputError, match="total steps"):
        _bounded().update(torch.zeros(2), torch.ones(2), init_state(torch.zeros(2)), 1.0)


@pytest.mark.parametrize("kind", ["mlp", "lstm", "nbeats"])
def test_panel_task_holds_the_last_h_points_out_of_training(kind):
    ys = _series()
    for y in ys:
        y[-3:] = 1e6  # the validation targets: a training window that reached them would show it
    task = make_task(kind, ys, 3, 4, seed=1, batch_size=32, **({"width": 16} if kind == "nbeats" else {}))
    assert task.X.shape[1] == task.Xv.shape[1] and task.Y.shape[1] == task.Yv.shape[1] == 3
    assert task.Xv.shape[0] == len(ys)
    assert float(task.Y.abs().max()) < 100 < float(task.Yv.abs().min())


def test_panel_task_bad_input_raises():
    with pytest.raises(InputError, match="kind"):
        make_task("arima", _series(), 3)
    with pytest.raises(InputError, match="points a task needs"):
        make_task("mlp", [np.arange(5.0)], 3)
    with pytest.raises(InputError, match="no training or no validation window"):
        make_task("mlp", [np.zeros(20)], 3)


def test_run_task_records_the_validation_loss_and_starts_every_optimizer_alike():
    task = make_task("mlp", _series(), 3, 4, hidden=[16], batch_size=32)
    adam = run_task(task, ("adam", 1e-2, "linear"), 20, every=5)
    learned = run_task(task, ("learned", _bounded()), 20, every=5)
    assert adam["steps"].tolist() == [0, 5, 10, 15, 20] and len(adam["train"]) == 20
    assert adam["val"][0] == learned["val"][0] and adam["val"][-1] < adam["val"][0]
    with pytest.raises(InputError, match="unknown optimizer"):
        run_task(task, ("sgd", 0.1), 5)


def _draw(rng):
    # a member whose nominal rate is 100x too small: what a learned step-size controller must fix
    return make_task("mlp", _series(seed=int(rng.integers(1000))), 3, 4, seed=int(rng.integers(1000)),
                     hidden=[16], batch_size=64, steps=40, lr=1e-4)


def test_meta_training_on_panels_learns_to_beat_its_nominal_adam():
    """Learning test: the untrained network *is* the nominal Adam, so a constant policy cannot pass."""
    torch.manual_seed(0)
    net, hist = meta_train_panels(_draw, iterations=40, slots=2, truncation=10, horizon_fraction=1.0,
                                  curriculum=0.0, meta_lr=3e-2, net_hidden=8, seed=0)
    assert hist["tasks"] >= 8 and hist["skipped"] == 0
    rng = np.random.default_rng(99)
    wins = []
    for _ in range(4):
        task = _draw(rng)
        adam = run_task(task, ("adam", task.lr, "linear"), 40, every=40)["val"][-1]
        learned = run_task(task, ("learned", net), 40, every=40)["val"][-1]
        wins.append(learned < 0.95 * adam)
    assert all(wins)


def test_meta_training_resumes_from_its_checkpoint(tmp_path):
    ckpt = tmp_path / "ckpt"
    kw = dict(slots=1, truncation=3, horizon_fraction=1.0, net_hidden=4, seed=3, checkpoint_path=ckpt,
              checkpoint_every=2)
    _, first = meta_train_panels(_draw, iterations=4, **kw)
    net, resumed = meta_train_panels(_draw, iterations=6, resume=True, **kw)
    assert resumed["start_iteration"] == 4 and len(resumed["meta_loss"]) == 6
    assert resumed["meta_loss"][:4] == first["meta_loss"]
    with pytest.raises(FileFormatError, match="another configuration"):
        meta_train_panels(_draw, iterations=4, resume=True, **{**kw, "truncation": 5})


def test_meta_training_bad_sizes_raise():
    with pytest.raises(InputError):
        meta_train_panels(_draw, slots=0)
    with pytest.raises(InputError):
        meta_train_panels(_draw, horizon_fraction=0.0)
    with pytest.raises(InputError, match="weighting"):
        meta_train_panels(_draw, weighting="early")


def test_late_weighting_counts_the_end_of_the_run_most():
    _, uniform = meta_train_panels(_draw, iterations=1, slots=1, truncation=4, horizon_fraction=0.1, seed=5)
    _, late = meta_train_panels(_draw, iterations=1, slots=1, truncation=4, horizon_fraction=0.1, seed=5,
                                weighting="late")
    # the same first steps (same task, same draws): weights 2t/T with t = 1..4 of T = 10 average 0.5
    assert late["meta_loss"][0] == pytest.approx(uniform["meta_loss"][0] * 0.5, rel=0.35)


def test_the_whole_model_step_equals_the_rule_tensor_by_tensor():
    """LearnedOptimizer's fast path (all tensors at once) gives OptimizerNet.update's steps, up to rounding."""
    torch.manual_seed(0)
    net = _bounded("tensor")
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(30.0)  # an opinionated network, so that its outputs matter
    model = MLPNet(6, 2, [8])
    X, Y = torch.randn(32, 6), torch.randn(32, 2)
    opt = LearnedOptimizer(model.parameters(), net=net, lr=1e-2, total_steps=8)
    state = [init_state(p) for p in model.parameters()]
    for t in range(1, 9):
        opt.zero_grad()
        (model(X) - Y).abs().mean().backward()
        expected = []
        for i, p in enumerate(model.parameters()):
            delta, state[i] = net.update(p.detach(), p.grad, state[i], float(t), nb=0, total_steps=8, adam_lr=1e-2)
            expected.append((p.detach() + delta).detach())
        opt.step()
        for a, b in zip(model.parameters(), expected):
            torch.testing.assert_close(a.detach(), b, rtol=1e-4, atol=1e-6)
        state = [{k: v.detach() for k, v in st.items()} for st in state]


def test_cli_meta_trains_the_bounded_design_on_panels_of_a_users_file(tmp_path, capsys):
    rows = [(f"s{i}", t, float(y)) for i, ys in enumerate(_series(n_series=6)) for t, y in enumerate(ys)]
    path = tmp_path / "train.csv"
    pd.DataFrame(rows, columns=["unique_id", "ds", "y"]).to_csv(path, index=False)
    out = tmp_path / "opt"
    assert main(["metaopt", "train", "--file", str(path), "--horizon", "3", "--season-length", "4",
                 "--steps", "2", "--mode", "bounded", "--out", str(out)]) == 0
    net, header = load_weights(out)
    assert (net.mode, net.granularity, header["meta"]["iterations"]) == ("bounded", "tensor", 2)
    assert "meta-trained on 6 series" in capsys.readouterr().out
