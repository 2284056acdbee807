"""CubeVecEnv steps the same episodes as EnsembleWeightsEnv copies, and PPO trains on it fast."""

import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

from metacompose.agents import PPOAgent
from metacompose.envs import EnsembleWeightsEnv
from metacompose.envs.vec_env import CubeVecEnv
from metacompose.errors import InputError
from metacompose.synthetic import make_synthetic_cube


@pytest.fixture(scope="module")
def cube():
    c = make_synthetic_cube(n_series=30, n_origins=6, n_models=3, horizon=5, seed=4)
    c.origins[:3, :2] = -1  # a few short series: fewer steppable origins, shorter episodes
    c.forecasts[:3, :2] = np.nan
    c.actuals[:3, :2] = np.nan
    return c


@pytest.mark.parametrize("metric", ["mase", "smape"])
def test_same_trajectories_as_dummy_vec_env(cube, metric):
    N, M = 5, cube.shape[2]
    ref = make_vec_env(EnsembleWeightsEnv, n_envs=N, seed=3, env_kwargs={"cube": cube, "reward_metric": metric})
    fast = CubeVecEnv(cube, N, reward_metric=metric, seed=3)
    np.testing.assert_array_equal(fast.reset(), ref.reset())
    rng = np.random.default_rng(0)
    n_done = 0
    for _ in range(60):
        act = rng.uniform(-1.3, 1.3, (N, M)).astype(np.float32)  # out-of-range actions are clipped by both
        o1, r1, d1, i1 = ref.step(act)
        o2, r2, d2, i2 = fast.step(act)
        assert o2.shape == (N, fast.observation_space.shape[0]) and o2.dtype == np.float32 and r2.dtype == np.float32
        np.testing.assert_array_equal(o2, o1)
        np.testing.assert_allclose(r2, r1, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(d2, d1)
        for a, b in zip(i1, i2):
            assert (a["series"], a["origin"]) == (b["series"], b["origin"])
            for key in ("weights", "errors", "error_composed", "error_equal"):
                np.testing.assert_allclose(b[key], a[key], rtol=1e-12, err_msg=key)
            assert ("terminal_observation" in a) == ("terminal_observation" in b)
            if "terminal_observation" in a:
                np.testing.assert_array_equal(b["terminal_observation"], a["terminal_observation"])
                assert b["episode"]["l"] == a["episode"]["l"]
                np.testing.assert_allclose(b["episode"]["r"], a["episode"]["r"], atol=1e-5)
                n_done += 1
    assert n_done > 10  # auto-resets happened


def test_scoring_matches_stepping(cube):
    env = CubeVecEnv(cube, 1, seed=0)
    s, k = env.train_origins()
    assert s.shape == k.shape == (int(env._n_steps[env.series].sum()),)
    act = np.random.default_rng(1).uniform(-1, 1, (s.shape[0], cube.shape[2]))
    single = EnsembleWeightsEnv(cube)
    expected = []
    for i, (si, ki) in enumerate(zip(s, k)):
        single.reset(options={"series": int(si)})
        single._t = int(np.flatnonzero(single._steps == ki)[0])
        expected.append(single.step(act[i])[1])
    np.testing.assert_allclose(env.rewards(s, k, act), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(env.observations(s, k), single.observations[s, k])


def test_vec_env_api_and_errors(cube):
    env = CubeVecEnv(cube, 4, series=[3, 4, 5], seed=0)
    env.reset()
    assert set(env._s) <= {3, 4, 5}
    assert env.get_attr("render_mode") == [None] * 4 and env.env_is_wrapped(object) == [False] * 4
    env.set_options({"series": 7})
    env.reset()
    assert np.all(env._s == 7)
    with pytest.raises(RuntimeError):
        env.step_wait()
    with pytest.raises(InputError):
        CubeVecEnv(cube, 0)
    with pytest.raises(InputError):
        CubeVecEnv(cube, 2, series=[99])


def test_ppo_fast_defaults_and_early_stopping(cube):
    agent = PPOAgent(total_timesteps=60_000, early_stopping_patience=2, eval_freq=4_096, min_improvement=0.005, seed=0).fit(cube)
    print(f"PPO {agent.timesteps_} steps in {agent.learn_seconds_:.2f} s "
          f"({agent.timesteps_ / agent.learn_seconds_:.0f} steps/s); scores {agent.train_reward_}")
    assert agent.timesteps_ < 60_000  # stopped early
    scores = [r for _, r in agent.train_reward_]
    assert len(scores) >= 3 and max(scores) > 0  # better than equal weights on the training origins
    w = agent.weights(cube)
    assert np.all(np.isfinite(w)) and np.allclose(w.sum(axis=-1), 1.0)
