"""The EnsembleWeights-v0 environment: API conformance, no leakage, weights, rewards."""

import warnings

import gymnasium as gym
import numpy as np
import pytest

import metacompose.envs  # noqa: F401  (registers the environment)
from metacompose.combine import action_to_weights
from metacompose.envs import ENV_ID, EnsembleWeightsEnv, observation_names
from metacompose.envs.observation import observation, observation_space_size, observation_table
from metacompose.errors import InputError
from metacompose.synthetic import make_synthetic_cube


def _make():
    # step 2 < horizon 6: at each origin the previous forecasts are only partly observed
    return make_synthetic_cube(n_series=24, n_origins=8, n_models=4, horizon=6, seed=3, short_fraction=0.25)


@pytest.fixture(scope="module")
def cube():
    return _make()


def test_gymnasium_and_sb3_env_checkers_pass(cube):
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    env = gym.make(ENV_ID, cube=cube)
    assert isinstance(env.unwrapped, EnsembleWeightsEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        gym_check(env.unwrapped, skip_render_check=True)
        sb3_check(env.unwrapped, warn=True)
    env.close()


def test_spaces_and_episode_walks_backtest_origins_in_order(cube):
    env = EnsembleWeightsEnv(cube)
    S, O, M, _ = cube.shape
    assert env.action_space.shape == (M,) and env.action_space.dtype == np.float32
    assert env.observation_space.shape == (observation_space_size(cube),)
    assert len(observation_names(cube)) == observation_space_size(cube) == 7 * M + cube.features.shape[2] + 3
    for s in (0, 5, S - 1):
        obs, info = env.reset(seed=1, options={"series": s})
        assert info["series"] == s and env.observation_space.contains(obs)
        origins, done = [info["origin"]], False
        while not done:
            obs, r, terminated, truncated, step_info = env.step(env.action_space.sample())
            assert env.observation_space.contains(obs) and np.isfinite(r) and not truncated
            assert step_info["origin"] == origins[-1]
            done = terminated
            if not done:
                origins.append(int(np.flatnonzero(cube.backtest_mask[s])[len(origins)]))
        assert origins == list(np.flatnonzero(cube.backtest_mask[s]))
        assert O - 1 not in origins  # the final origin (unknown actuals) is never stepped
    with pytest.raises(RuntimeError):
        env.step(np.zeros(M, np.float32))


def test_reset_seed_is_reproducible_and_uses_np_random(cube):
    env = EnsembleWeightsEnv(cube)
    a = [env.reset(seed=7)[1]["series"]] + [env.reset()[1]["series"] for _ in range(10)]
    b = [env.reset(seed=7)[1]["series"]] + [env.reset()[1]["series"] for _ in range(10)]
    assert a == b and len(set(a)) > 1


def test_series_argument_limits_episodes(cube):
    env = EnsembleWeightsEnv(cube, series=[2, 4])
    assert {env.reset(seed=i)[1]["series"] for i in range(20)} == {2, 4}
    with pytest.raises(InputError):
        EnsembleWeightsEnv(cube, series=[cube.shape[0]])
    with pytest.raises(InputError):
        EnsembleWeightsEnv(cube, temperature=0.0)
    with pytest.raises(InputError):
        EnsembleWeightsEnv(cube, reward_metric="rmse")


def _corrupt_future(cube, s, k, rng):
    """A copy of ``cube`` where everything unknown at origin k of series s is replaced by noise."""
    c = _make()
    S, O, M, H = c.shape
    o = c.origins[s, k]
    pos = c.origins[:, :, None] + np.arange(H)                        # (S, O, H) target positions
    future = (pos >= o) | (c.origins[:, :, None] < 0)
    future[np.arange(S) != s] = True                                  # other series: all of it
    noise = rng.normal(0, 1e3, size=c.actuals.shape).astype(np.float32)
    c.actuals[future] = noise[future]                                 # actuals at positions >= origin
    later = np.zeros((S, O), bool)
    later[:, k + 1:] = True
    later[np.arange(S) != s] = True
    c.forecasts[later] = rng.normal(0, 1e3, size=c.forecasts[later].shape)   # forecasts made later
    # forecasts made before k but aiming at positions >= origin are known; still, the errors
    # must not use them (their actuals are unknown): corrupt them too
    past_future = future & ~later[:, :, None] & (np.arange(O)[None, :, None] < k)
    c.forecasts[np.broadcast_to(past_future[:, :, None, :], c.forecasts.shape)] = 12345.0
    c.features[later] = rng.uniform(-1, 1, size=c.features[later].shape)
    c.origin_scales[later] = rng.uniform(0.1, 100, size=c.origin_scales[later].shape)
    c.failed[later] = ~c.failed[later]
    c.scales[:] = rng.uniform(0.1, 100, size=S)                       # whole-training scale: not known early
    return c


def _leak_cases(cube):
    """Origins to check: early, middle, the final one, and a short series' first origin."""
    full = np.flatnonzero(cube.valid.all(axis=1))
    short = np.flatnonzero(~cube.valid.all(axis=1))
    O = cube.shape[1]
    cases = [(full[0], 1), (full[0], 4), (full[1], O - 2), (full[2], O - 1)]
    cases.append((short[0], int(np.flatnonzero(cube.valid[short[0]])[0])))
    cases.append((short[0], int(np.flatnonzero(cube.valid[short[0]])[1])))
    return [(int(s), int(k)) for s, k in cases]


@pytest.mark.parametrize("case", range(6))
def test_observation_does_not_leak_future(cube, case):
    s, k = _leak_cases(cube)[case]
    rng = np.random.default_rng(case)
    before = observation(cube, s, k)
    corrupted = _corrupt_future(cube, s, k, rng)
    assert not np.array_equal(corrupted.actuals, cube.actuals)
    np.testing.assert_array_equal(observation(corrupted, s, k), before)
    np.testing.assert_array_equal(observation_table(corrupted)[s, k], before)


def test_observation_leakage_check_can_fail(cube):
    """Changing one value known at the origin changes the observation (so the test above bites)."""
    s, k = int(np.flatnonzero(cube.valid.all(axis=1))[0]), 4
    o = cube.origins[s, k]
    before = observation(cube, s, k)
    # step j of the forecast made at origin k-1 targets o_{k-1} + j; pick the last known step
    kp = k - 1
    j = int(o - cube.origins[s, kp] - 1)
    assert 0 <= j < cube.horizon and cube.origins[s, kp] + j < o
    c = _make()
    c.actuals[s, kp, j] += 50.0 * c.origin_scales[s, k]
    assert not np.array_equal(observation(c, s, k), before)
    # and the first unknown step (target position == origin) does not
    c = _make()
    c.actuals[s, kp, j + 1] += 50.0 * c.origin_scales[s, k]
    np.testing.assert_array_equal(observation(c, s, k), before)


def test_observation_table_bounded_and_zero_for_missing_origins(cube):
    tab = observation_table(cube)
    assert tab.dtype == np.float32 and np.all(np.isfinite(tab))
    assert tab.min() >= -1.0 and tab.max() <= 1.0
    assert np.all(tab[~cube.valid] == 0.0)
    assert (~cube.valid).any()  # the fixture has short series


def test_action_to_weights_always_on_simplex():
    rng = np.random.default_rng(0)
    acts = np.concatenate([rng.uniform(-1, 1, (500, 5)), rng.normal(0, 100, (100, 5)),
                           np.array([[np.nan, 1, -1, np.inf, -np.inf]])])
    for temp in (0.1, 1.0, 3.0, 50.0):
        w = action_to_weights(acts, temp)
        assert np.all(np.isfinite(w)) and np.all(w >= 0)
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(action_to_weights(np.full(4, 0.3), 3.0), np.full(4, 0.25))


def test_weights_in_info_on_simplex_and_reward_signs(cube):
    env = EnsembleWeightsEnv(cube)
    best = np.asarray(cube.meta["best_model"])
    M = cube.shape[2]
    positive = []
    for s in range(cube.shape[0]):
        env.reset(seed=0, options={"series": s})
        done = False
        while not done:
            _, r, done, _, info = env.step(np.zeros(M, np.float32))
            assert r == pytest.approx(0.0, abs=1e-12)  # the uniform action is the reference
            np.testing.assert_allclose(info["weights"].sum(), 1.0)
            assert info["errors"].shape == (M,)
        env.reset(seed=0, options={"series": s})
        act = -np.ones(M, np.float32)
        act[best[s]] = 1.0
        done = False
        while not done:
            _, r, done, _, info = env.step(act)
            assert info["weights"][best[s]] > 0.99 and np.isclose(info["weights"].sum(), 1.0)
            assert r == pytest.approx(info["error_equal"] - info["error_composed"])
            positive.append(r)
    # equal weights can beat the best model at an origin by luck, but rarely and not on average
    assert np.mean(np.asarray(positive) > 0) > 0.85 and np.mean(positive) > 0.1


def test_reward_positive_when_all_weight_on_exact_model():
    cube = make_synthetic_cube(n_series=6, n_origins=5, seed=1, good_noise=0.0, failed_fraction=0.0)
    env = EnsembleWeightsEnv(cube, temperature=50.0)  # weight on the chosen model ~ 1 - 1e-43
    M = cube.shape[2]
    for s, b in enumerate(cube.meta["best_model"]):
        env.reset(options={"series": s})
        act = np.where(np.arange(M) == b, 1.0, -1.0).astype(np.float32)
        done = False
        while not done:
            _, r, done, _, info = env.step(act)
            assert info["error_composed"] < 1e-6 and r > 0
            assert r == pytest.approx(min(5.0, info["error_equal"]), abs=1e-6)


def test_reward_smape_metric_and_clip(cube):
    env = EnsembleWeightsEnv(cube, reward_metric="smape", reward_clip=0.01)
    env.reset(seed=0)
    M = cube.shape[2]
    for _ in range(3):
        act = np.where(np.arange(M) == 1, 1.0, -1.0).astype(np.float32)
        _, r, done, _, info = env.step(act)
        assert abs(r) <= 0.01 + 1e-12 and 0 <= info["error_composed"] <= 2.0
        if done:
            break


def test_tables_computed_by_blocks_of_series_equal_the_per_origin_functions():
    from metacompose.history import past_error_table, past_errors
    from metacompose.synthetic import make_synthetic_cube

    big = make_synthetic_cube(n_series=600, n_origins=5, n_models=3, horizon=4, seed=5)  # two blocks of series
    tab = observation_table(big, 3)
    err, n = past_error_table(big, 2)
    for s in (0, 1, 511, 512, 599):
        for k in range(big.shape[1]):
            np.testing.assert_array_equal(tab[s, k], observation(big, s, k, 3))
            e, used = past_errors(big, s, k, 2)
            np.testing.assert_array_equal(err[s, k], e)
            assert n[s, k] == used
    assert (big.origins < 0).any()  # short series: origins that do not exist are covered too
