"""Composition agents: PPO learns the observable best model; baselines; save/load."""

import json
import time

import numpy as np
import pytest

from metacompose.agents import AGENTS, BestSingle, CompositionAgent, EqualWeights, PPOAgent, get_agent, load_agent
from metacompose.errors import FileFormatError, InputError, NotFittedError, UnknownModelError
from metacompose.synthetic import make_synthetic_cube

N_MODELS = 4
PPO_STEPS = 10_000


def _hit_rate(weights, cube, origins=None):
    """Share of existing origins where the series' accurate model gets more than half the weight."""
    best = np.asarray(cube.meta["best_model"])
    wb = np.take_along_axis(weights, np.broadcast_to(best[:, None, None], weights.shape[:2] + (1,)), axis=2)[..., 0]
    mask = cube.valid if origins is None else cube.valid & origins
    return float(np.mean(wb[mask] > 0.5))


def _first_origins(cube):
    """bool (S, O): each series' first existing origin (no past error known there)."""
    first = np.zeros(cube.valid.shape, bool)
    first[np.arange(cube.shape[0]), np.argmax(cube.valid, axis=1)] = True
    return first


@pytest.fixture(scope="module")
def train_cube():
    return make_synthetic_cube(n_series=64, n_origins=10, n_models=N_MODELS, horizon=6, seed=1)


@pytest.fixture(scope="module")
def heldout_cube():
    return make_synthetic_cube(n_series=64, n_origins=10, n_models=N_MODELS, horizon=6, seed=2)


@pytest.fixture(scope="module")
def trained(train_cube):
    t0 = time.perf_counter()
    agent = PPOAgent(total_timesteps=PPO_STEPS, seed=0).fit(train_cube)
    agent.fit_seconds_ = time.perf_counter() - t0
    return agent


def _assert_simplex(w, shape):
    assert w.shape == shape and np.all(np.isfinite(w)) and np.all(w >= 0)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-6)


def test_ppo_learns_feature_dependent_best_model(trained, train_cube, heldout_cube):
    chance = 1.0 / N_MODELS
    w_train, w_held = trained.weights(train_cube), trained.weights(heldout_cube)
    _assert_simplex(w_train, train_cube.shape[:3])
    rates = {
        "train": _hit_rate(w_train, train_cube),
        "heldout": _hit_rate(w_held, heldout_cube),
        # at a series' first origin no past error is known: only the feature can tell
        "heldout_first_origin": _hit_rate(w_held, heldout_cube, _first_origins(heldout_cube)),
        "heldout_final_origin": float(np.mean(
            w_held[np.arange(64), -1, heldout_cube.meta["best_model"]] > 0.5)),
    }
    print(f"PPO {PPO_STEPS} steps in {trained.fit_seconds_:.1f} s; rates (chance {chance:.2f}): {rates}")
    assert trained.timesteps_ >= PPO_STEPS
    assert rates["train"] > 0.8 and rates["heldout"] > 0.8
    assert rates["heldout_first_origin"] > 0.5 and rates["heldout_final_origin"] > 0.8


def test_learning_test_discriminates_untrained_policy(train_cube, heldout_cube):
    untrained = PPOAgent(total_timesteps=0, seed=0).fit(train_cube)
    assert untrained.timesteps_ == 0
    rate = _hit_rate(untrained.weights(heldout_cube), heldout_cube)
    random_w = np.random.default_rng(0).dirichlet(np.ones(N_MODELS), size=heldout_cube.shape[:2])
    print(f"untrained PPO rate {rate:.3f}, random-weights rate {_hit_rate(random_w, heldout_cube):.3f}")
    assert rate < 0.3 and _hit_rate(random_w, heldout_cube) < 0.3


def test_ppo_beats_equal_weights_on_heldout(trained, heldout_cube):
    y = heldout_cube.actuals[:, :-1].astype(np.float64)
    sc = heldout_cube.origin_scales[:, :-1, None]

    def mase(agent):
        return np.nanmean(np.abs(agent.combine(heldout_cube)[:, :-1] - y) / sc)

    assert mase(trained) < 0.8 * mase(EqualWeights())


def test_ppo_save_load_identical_weights(trained, train_cube, heldout_cube, tmp_path):
    path = trained.save(tmp_path / "ppo")
    header = json.loads(path.read_text())
    assert header["format"] == "metacompose.agent" and header["version"] == 1 and header["agent"] == "ppo"
    assert (tmp_path / "ppo.pt").exists()
    for loaded in (PPOAgent.load(tmp_path / "ppo"), load_agent(tmp_path / "ppo.json"),
                   CompositionAgent.load(tmp_path / "ppo")):
        assert isinstance(loaded, PPOAgent)
        np.testing.assert_array_equal(loaded.weights(heldout_cube), trained.weights(heldout_cube))
        np.testing.assert_array_equal(loaded.pooled_weights_, trained.pooled_weights_)
        assert (loaded.pooling_, loaded.shrinkage_) == (trained.pooling_, trained.shrinkage_)
        np.testing.assert_array_equal(loaded.combine(train_cube), trained.combine(train_cube))


def test_load_refuses_newer_unknown_or_foreign_files(trained, tmp_path):
    trained.save(tmp_path / "a")
    header = json.loads((tmp_path / "a.json").read_text())
    for change in ({"version": 2}, {"version": "1"}, {"format": "something.else"}, {"agent": "nope"}):
        (tmp_path / "b.json").write_text(json.dumps({**header, **change}))
        for suffix in (".npz", ".pt"):
            (tmp_path / f"b{suffix}").write_bytes((tmp_path / f"a{suffix}").read_bytes())
        with pytest.raises(FileFormatError):
            load_agent(tmp_path / "b")
    (tmp_path / "c.pt").write_bytes(b"not a torch file")
    (tmp_path / "c.json").write_text(json.dumps(header))
    (tmp_path / "c.npz").write_bytes((tmp_path / "a.npz").read_bytes())
    with pytest.raises(FileFormatError):
        load_agent(tmp_path / "c")
    BestSingle().save(tmp_path / "best")
    with pytest.raises(FileFormatError):
        PPOAgent.load(tmp_path / "best")  # a BestSingle file is not a PPO agent


def test_ppo_errors(train_cube):
    with pytest.raises(NotFittedError):
        PPOAgent().weights(train_cube)
    with pytest.raises(InputError):
        PPOAgent(total_timesteps=-1)
    with pytest.raises(InputError):
        PPOAgent().fit("not a cube")


def test_ppo_rejects_cube_with_other_pool(trained):
    other = make_synthetic_cube(n_series=4, n_origins=4, n_models=N_MODELS + 1, seed=5)
    with pytest.raises(InputError):
        trained.weights(other)


@pytest.mark.parametrize("name", ["equal", "median", "best", "inverse_error"])
def test_baselines_give_simplex_weights_and_round_trip(name, train_cube, tmp_path):
    agent = get_agent(name).fit(train_cube)
    w = agent.weights(train_cube)
    _assert_simplex(w, train_cube.shape[:3])
    combined = agent.combine(train_cube)
    assert combined.shape == (train_cube.shape[0], train_cube.shape[1], train_cube.horizon)
    assert np.all(np.isfinite(combined[train_cube.valid])) and np.all(np.isnan(combined[~train_cube.valid]))
    loaded = load_agent(agent.save(tmp_path / name))
    assert type(loaded) is type(agent) and loaded.get_params() == agent.get_params()
    np.testing.assert_array_equal(loaded.weights(train_cube), w)


def test_median_combine_is_the_median(train_cube):
    med = get_agent("median").combine(train_cube)
    v = train_cube.valid
    np.testing.assert_allclose(med[v], np.median(train_cube.forecasts[v].astype(np.float64), axis=1))


def test_best_single_picks_known_best_model(train_cube):
    w = BestSingle().fit(train_cube).weights(train_cube)
    best = np.asarray(train_cube.meta["best_model"])
    first = _first_origins(train_cube)
    # no error is known at a series' first origin: equal weights
    np.testing.assert_allclose(w[first], 1.0 / N_MODELS)
    later = train_cube.valid & ~first
    picked = np.argmax(w, axis=2)
    assert np.all(w.max(axis=2)[later] == 1.0)
    assert np.mean((picked == best[:, None])[later]) > 0.95
    # the final origin (unknown actuals) gets a selection too, made from known errors only
    assert np.mean(picked[:, -1] == best) > 0.95


def test_best_single_uses_only_errors_known_at_origin(train_cube):
    cube = make_synthetic_cube(n_series=64, n_origins=10, n_models=N_MODELS, horizon=6, seed=1)
    before = BestSingle().weights(cube)
    cube.actuals[:, -2] = 0.0  # the last backtest origin: its steps are not known at earlier origins
    after = BestSingle().weights(cube)
    np.testing.assert_array_equal(after[:, :-1], before[:, :-1])


def test_inverse_error_favours_accurate_model(train_cube):
    w = get_agent("inverse_error").fit(train_cube).weights(train_cube)
    later = train_cube.valid & ~_first_origins(train_cube)
    best = np.asarray(train_cube.meta["best_model"])
    assert np.mean((np.argmax(w, axis=2) == best[:, None])[later]) > 0.9


def test_registry_and_get_agent():
    assert {"ppo", "equal", "median", "best", "inverse_error"} <= set(AGENTS)
    assert isinstance(get_agent("PPO", total_timesteps=5), PPOAgent)
    assert isinstance(get_agent("best_single"), BestSingle)
    agent = EqualWeights()
    assert get_agent(agent) is agent
    with pytest.raises(UnknownModelError, match="known agents"):
        get_agent("oracle")
    with pytest.raises(InputError):
        get_agent(3)


def test_ppo_callbacks_early_stopping_and_vec_envs():
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    class Count(BaseCallback):
        calls = 0

        def _on_step(self):
            Count.calls += 1
            return True

    cube = make_synthetic_cube(n_series=12, n_origins=6, n_models=3, seed=4)
    threads = torch.get_num_threads()
    agent = PPOAgent(total_timesteps=2048, n_envs=2, n_steps=64, batch_size=64, n_epochs=2,
                     early_stopping_patience=1, eval_freq=256, callback=Count(), seed=1).fit(cube)
    assert torch.get_num_threads() == threads  # torch_threads=1 applies inside fit only
    assert 0 < agent.timesteps_ <= 2048 and Count.calls == agent.timesteps_ // 2
    _assert_simplex(agent.weights(cube), cube.shape[:3])
