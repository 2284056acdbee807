"""Pooling and shrinkage toward equal weights are chosen on a validation origin inside the training data."""

import numpy as np
import pytest

from metacompose.agents import PPOAgent
from metacompose.agents.shrinkage import choose_shrinkage
from metacompose.combine import compose_weights, shrink, weighted_forecasts
from metacompose.history import validation_split
from metacompose.errors import InputError
from metacompose.metrics import smape
from metacompose.synthetic import make_synthetic_cube


def test_validation_split_trains_only_on_targets_before_the_validation_origin():
    cube = make_synthetic_cube(n_series=16, n_origins=10, horizon=6, seed=0)
    sub, actual, mask = validation_split(cube)
    H = cube.horizon
    val = sub.origins[:, -1]
    np.testing.assert_array_equal(val, cube.origins[:, -2])
    train = sub.backtest_mask
    for s in range(16):
        for k in np.flatnonzero(train[s]):
            assert sub.origins[s, k] + H <= val[s]
    assert np.isnan(sub.actuals[:, -1]).all()
    np.testing.assert_array_equal(actual[mask], cube.actuals[mask, -2])


def test_choose_shrinkage_prefers_the_policy_when_it_is_right_and_equal_weights_when_not():
    cube = make_synthetic_cube(n_series=32, n_origins=10, seed=1)
    sub, actual, mask = validation_split(cube)
    M = cube.shape[2]
    best = np.asarray(cube.meta["best_model"])
    right = np.eye(M)[best]                      # all weight on the accurate model
    wrong = np.eye(M)[(best + 1) % M]            # all weight on a noisy one
    assert choose_shrinkage(right, sub, actual, mask)[0] == (0.0, 0.0)
    pooling, s = choose_shrinkage(wrong, sub, actual, mask)[0]
    assert pooling == 0.0 and s >= 0.75
    np.testing.assert_allclose(shrink(right, 0.5).sum(axis=1), 1.0)


def test_choose_shrinkage_pools_when_the_pooled_weights_are_right_and_not_when_they_are_wrong():
    cube = make_synthetic_cube(n_series=64, n_origins=10, n_best=1, seed=2)  # model 0 is every series' best
    sub, actual, mask = validation_split(cube)
    S, _, M, _ = cube.shape
    noisy = np.eye(M)[np.random.default_rng(0).integers(1, M, size=S)]      # per-series weights on noisy models
    assert choose_shrinkage(noisy, sub, actual, mask, pooled=np.eye(M)[0])[0] == (1.0, 0.0)
    right = np.eye(M)[np.zeros(S, dtype=int)]
    assert choose_shrinkage(right, sub, actual, mask, pooled=np.eye(M)[1])[0] == (0.0, 0.0)
    w = compose_weights(noisy, np.eye(M)[0], 0.5, 0.25)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_allclose(w[:, 0], 0.75 * 0.5 + 0.25 / M)


def test_ppo_keeps_its_learned_weights_when_validation_supports_them():
    cube = make_synthetic_cube(n_series=64, n_origins=10, seed=0)
    agent = PPOAgent(total_timesteps=20_000).fit(cube)
    grid = (0.0, 0.25, 0.5, 0.75, 1.0)
    assert agent.shrinkage_ <= 0.5 and set(agent.shrinkage_scores_) == {(p, s) for p in grid for s in grid}
    assert agent.shrinkage_scores_[(agent.pooling_, agent.shrinkage_)] < agent.shrinkage_scores_[(0.0, 1.0)]
    assert agent.shrinkage_choice_.choice == agent.shrinkage_choice_.best and agent.shrinkage_choice_.p_value < 0.05
    # the synthetic cube's best model differs by series, so the per-series weights beat pooled ones
    assert agent.pooling_ < 1.0
    assert agent.shrinkage_scores_[(0.0, 0.0)] < agent.shrinkage_scores_[(1.0, 0.0)]


def test_the_guard_keeps_equal_weights_when_the_gain_rests_on_too_little_evidence():
    cube = make_synthetic_cube(n_series=32, n_origins=10, seed=1)
    sub, actual, mask = validation_split(cube)
    M = cube.shape[2]
    right = np.eye(M)[np.asarray(cube.meta["best_model"])]
    per_series = choose_shrinkage(right, sub, actual, mask, grid=(0.0, 1.0), alpha=None)
    assert per_series.choice == (0.0, 0.0) and per_series.p_value < 1e-3   # a consistent gain on 32 series
    # two validation series only: one where the accurate model gains a lot, one where it barely does
    f = sub.forecasts[:, -1].astype(np.float64)
    gain = (np.abs(actual - f.mean(axis=1)) - np.abs(actual - weighted_forecasts(right, f))).mean(axis=1)
    gain = np.where(mask, gain / sub.origin_scales[:, -1], np.nan)
    pick = np.zeros_like(mask)
    pick[[np.nanargmax(gain), np.nanargmin(np.abs(gain))]] = True
    loose = choose_shrinkage(right, sub, actual, pick, grid=(0.0, 1.0), alpha=None)
    guarded = choose_shrinkage(right, sub, actual, pick, grid=(0.0, 1.0))
    assert loose.best == loose.choice == (0.0, 0.0) and loose.scores[(0.0, 0.0)] < loose.scores[(0.0, 1.0)]
    assert guarded.p_value == loose.p_value > 0.05 and guarded.choice == (0.0, 1.0)
    assert guarded.best == (0.0, 0.0)


def test_selection_scores_in_the_metric_it_is_given():
    cube = make_synthetic_cube(n_series=32, n_origins=10, seed=3)
    sub, actual, mask = validation_split(cube)
    M = cube.shape[2]
    right = np.eye(M)[np.asarray(cube.meta["best_model"])]
    sel = choose_shrinkage(right, sub, actual, mask, grid=(0.0, 1.0), metric="smape")
    f = sub.forecasts[mask, -1].astype(np.float64)
    np.testing.assert_allclose(sel.scores[(0.0, 1.0)], smape(actual[mask], f.mean(axis=1), axis=1).mean())
    np.testing.assert_allclose(sel.scores[(0.0, 0.0)], smape(actual[mask], weighted_forecasts(right[mask], f),
                                                              axis=1).mean())
    with pytest.raises(InputError, match="metric"):
        choose_shrinkage(right, sub, actual, mask, metric="mape")
    with pytest.raises(InputError, match="alpha"):
        choose_shrinkage(right, sub, actual, mask, alpha=1.5)
    with pytest.raises(InputError, match="selection_alpha"):
        PPOAgent(selection_alpha=0.0)


def test_ppo_scores_its_selection_in_its_reward_metric():
    cube = make_synthetic_cube(n_series=32, n_origins=8, seed=4)
    agent = PPOAgent(total_timesteps=4096, reward_metric="smape").fit(cube)
    sub, actual, mask = validation_split(cube)
    f = sub.forecasts[mask, -1].astype(np.float64)
    np.testing.assert_allclose(agent.shrinkage_scores_[(0.0, 1.0)], smape(actual[mask], f.mean(axis=1), axis=1).mean())


def test_improvement_p_value_and_check_alpha():
    from metacompose.metrics import check_alpha, improvement_p_value

    ref = np.array([2.0, 3.0, 4.0, 5.0, np.nan])
    assert improvement_p_value(ref, ref - [1.0, 1.1, 0.9, 1.0, 0.0]) < 0.001   # the NaN pair is left out
    assert improvement_p_value(ref, ref + [1.0, 1.1, 0.9, 1.0, 0.0]) > 0.999
    assert improvement_p_value(ref, ref - 0.5) == 0.0 and improvement_p_value(ref, ref + 0.5) == 1.0
    assert improvement_p_value(ref[:1], ref[:1] - 1.0) == 1.0                   # one pair is no evidence
    assert check_alpha(None) is None and check_alpha(0.05) == 0.05
    for bad in (0.0, 1.0, True, "0.05"):
        with pytest.raises(InputError, match="level"):
            check_alpha(bad, "level")
