"""Weights per horizon step: the knot map, the combinations, the environments and cross-learning over cubes."""

import numpy as np
import pytest

from metacompose.combine import (action_to_step_weights, action_to_weights, horizon_profile, weighted_forecasts,
                                 weighted_sum)
from metacompose.envs import EnsembleWeightsEnv, observation_table
from metacompose.envs.vec_env import CubeVecEnv
from metacompose.errors import InputError
from metacompose.metrics import reward_errors
from metacompose.synthetic import make_synthetic_cube


@pytest.mark.parametrize("H,K", [(1, 1), (1, 3), (6, 1), (6, 2), (18, 3), (5, 5), (4, 7)])
def test_horizon_profile_interpolates_between_knots(H, K):
    P = horizon_profile(H, K)
    assert P.shape == (H, K) and np.all(P >= 0)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_array_equal(P[0], np.eye(K)[0])                 # the first step sits on the first knot
    if H > 1:
        np.testing.assert_array_equal(P[-1], np.eye(K)[-1])           # the last step on the last knot
        pos = P @ np.linspace(0.0, 1.0, K) if K > 1 else np.zeros(H)
        np.testing.assert_allclose(pos, np.linspace(0.0, 1.0, H) if K > 1 else 0.0, atol=1e-12)


def test_step_weights_on_simplex_and_constant_special_case():
    rng = np.random.default_rng(0)
    a = rng.uniform(-1.5, 1.5, (7, 3 * 4))
    w = action_to_step_weights(a, 3.0, 9, 3)
    assert w.shape == (7, 9, 4) and np.all(w >= 0)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0)
    one = action_to_step_weights(a[:, :4], 3.0, 9, 1)                  # K = 1: the same weights at every step
    np.testing.assert_allclose(one, np.broadcast_to(action_to_weights(a[:, :4], 3.0)[:, None], (7, 9, 4)))
    same = action_to_step_weights(np.tile(a[:, :4], 3), 3.0, 9, 3)    # equal knots: constant too
    np.testing.assert_allclose(same, one)
    assert not np.allclose(w[:, 0], w[:, -1])                         # different knots: weights change
    with pytest.raises(ValueError):
        action_to_step_weights(a[:, :5], 3.0, 9, 2)


def test_combinations_apply_each_steps_weights():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(5, 3, 4))                                    # (N, M, H)
    w = rng.dirichlet(np.ones(3), size=(5, 4))                        # (N, H, M)
    manual = np.einsum("nhm,nmh->nh", w, f)
    np.testing.assert_allclose(weighted_sum(w, f), manual)
    np.testing.assert_allclose(weighted_forecasts(w, f), manual)
    f[0, 1, 2] = np.nan                                               # a missing forecast: the others renormalised
    expect = (w[0, 2, 0] * f[0, 0, 2] + w[0, 2, 2] * f[0, 2, 2]) / (w[0, 2, 0] + w[0, 2, 2])
    np.testing.assert_allclose(weighted_forecasts(w, f)[0, 2], expect)


def test_env_with_knots_scores_each_step():
    cube = make_synthetic_cube(n_series=6, n_origins=4, n_models=3, horizon=5, seed=2, short_fraction=0.0)
    env = EnsembleWeightsEnv(cube, horizon_knots=2)
    assert env.action_space.shape == (6,)
    _, info = env.reset(seed=0, options={"series": 1})
    action = np.array([1, -1, -1, -1, -1, 1], dtype=np.float32)       # model 0 early, model 2 late
    _, r, _, _, step = env.step(action)
    w = action_to_step_weights(action, env.temperature, 5, 2)
    s, k = info["series"], info["origin"]
    np.testing.assert_allclose(step["step_weights"], w)
    np.testing.assert_allclose(step["weights"], w.mean(axis=0))
    comp = np.einsum("hm,mh->h", w, cube.forecasts[s, k].astype(np.float64))
    sc = cube.origin_scales[s, k]
    e = float(reward_errors(cube.actuals[s, k], comp, sc, "mase"))
    np.testing.assert_allclose(step["error_composed"], e, rtol=1e-6)
    np.testing.assert_allclose(r, step["error_equal"] - e, rtol=1e-6, atol=1e-9)


def test_vec_env_over_several_cubes_scores_each_with_its_own_horizon():
    a = make_synthetic_cube(n_series=8, n_origins=5, n_models=3, horizon=4, seed=3)
    b = make_synthetic_cube(n_series=5, n_origins=7, n_models=3, horizon=9, seed=4, season_length=4)
    both = CubeVecEnv([a, b], n_envs=3, seed=0, horizon_knots=2)
    assert both.observation_space.shape[0] == observation_table(a).shape[2]
    rng = np.random.default_rng(0)
    for cube, offset in ((a, 0), (b, 8)):
        alone = CubeVecEnv(cube, n_envs=1, seed=0, horizon_knots=2)
        s, k = alone.train_origins()
        act = rng.uniform(-1, 1, (s.shape[0], 6))
        np.testing.assert_allclose(both.rewards(s + offset, k, act), alone.rewards(s, k, act))
        np.testing.assert_array_equal(both.observations(s + offset, k), alone.observations(s, k))
    s_all, _ = both.train_origins()
    assert set(np.unique(s_all)) <= set(range(13)) and (s_all >= 8).any() and (s_all < 8).any()
    obs = both.reset()
    for _ in range(20):                                               # episodes from both cubes step and restart
        obs, rewards, dones, infos = both.step(rng.uniform(-1, 1, (3, 6)).astype(np.float32))
        assert obs.shape == (3, both.observation_space.shape[0]) and np.all(np.isfinite(rewards))
        for info in infos:
            H = 4 if info["series"] < 8 else 9
            assert info["step_weights"].shape == (H, 3)


def test_vec_env_refuses_cubes_with_different_pools():
    a = make_synthetic_cube(n_series=4, n_origins=4, n_models=3, seed=0)
    b = make_synthetic_cube(n_series=4, n_origins=4, n_models=4, seed=0)
    with pytest.raises(InputError, match="share"):
        CubeVecEnv([a, b], n_envs=2)
    with pytest.raises(InputError, match="non-empty"):
        CubeVecEnv([], n_envs=2)


def horizon_cube(seed: int = 0):
    """A cube where model 0 is exact at the start of the horizon and model 1 at its end (both biased
    the same way in between, by 3 scale units at their bad end), and model 2 is noise (4 scale
    units): the best weights change along the horizon. The best weight vector constant over it
    (fitted by GlobalWeights) scores MASE 1.27 and PPO with K = 1 1.33; weights that follow the
    step can reach about 0.55 (GlobalWeights per step), and PPO with K = 2 reaches 0.66."""
    cube = make_synthetic_cube(n_series=40, n_origins=8, n_models=3, horizon=6, seed=seed, short_fraction=0.0,
                               failed_fraction=0.0)
    rng = np.random.default_rng(seed)
    S, O, M, H = cube.shape
    known = np.isfinite(cube.actuals).all(axis=-1)                    # (S, O) backtest origins
    sc = cube.origin_scales[..., None].astype(np.float64)
    sign = rng.choice([-1.0, 1.0], size=(S, O, 1))
    ramp = np.linspace(0.0, 1.0, H)
    y = np.nan_to_num(cube.actuals.astype(np.float64))
    f = np.stack([y + sign * sc * 3 * ramp, y + sign * sc * 3 * (1 - ramp), y + sc * 4 * rng.normal(size=(S, O, H))],
                 axis=2)
    cube.forecasts[known] = f[known].astype(np.float32)
    return cube


def backtest_mase(cube, composed):
    """Mean MASE of composed forecasts ``(S, O, H)`` over the cube's backtest origins."""
    mask = cube.backtest_mask
    return float(np.mean(reward_errors(cube.actuals[mask], composed[mask], cube.origin_scales[mask][:, None], "mase")))


def test_per_horizon_action_learns_what_constant_weights_cannot():
    from metacompose.agents import GlobalWeights, get_agent

    cube = horizon_cube()
    constant = backtest_mase(cube, GlobalWeights().fit(cube).combine(cube))    # the best single vector, fitted
    assert constant > 1.1                                             # no constant weights do well here
    agent = get_agent("ppo", horizon_knots=2, total_timesteps=30_000, seed=0, select_shrinkage=False).fit(cube)
    learned = backtest_mase(cube, agent.combine(cube))
    assert learned < 0.75 * constant, (learned, constant)
    w = agent.step_weights(cube)[cube.backtest_mask]                  # (N, H, M)
    assert w[:, 0, 0].mean() > 0.6 and w[:, -1, 1].mean() > 0.6      # model 0 early, model 1 late
    np.testing.assert_allclose(agent.weights(cube), agent.step_weights(cube).mean(axis=2))


def test_agent_trained_on_several_cubes_acts_on_each_and_round_trips(tmp_path):
    from metacompose.agents import load_agent, get_agent

    a = make_synthetic_cube(n_series=20, n_origins=6, n_models=3, horizon=4, seed=1)
    b = make_synthetic_cube(n_series=12, n_origins=5, n_models=3, horizon=9, seed=2, season_length=4)
    agent = get_agent("ppo", horizon_knots=2, total_timesteps=4_000, seed=0).fit([a, b])
    for cube in (a, b):
        S, O, M, H = cube.shape
        w = agent.step_weights(cube)
        assert w.shape == (S, O, H, M)
        np.testing.assert_allclose(w.sum(axis=-1), 1.0)
        assert agent.combine(cube).shape == (S, O, H)
    agent.save(tmp_path / "agent")
    again = load_agent(tmp_path / "agent")
    np.testing.assert_array_equal(again.step_weights(b), agent.step_weights(b))
    with pytest.raises(InputError, match="share"):
        get_agent("ppo", total_timesteps=1_000).fit([a, make_synthetic_cube(n_series=5, n_models=4)])
