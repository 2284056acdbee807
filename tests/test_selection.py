"""Shrinkage toward equal weights is chosen on a validation origin inside the training data."""

import numpy as np

from metacompose.agents import PPOAgent
from metacompose.agents.selection import choose_shrinkage, shrink, validation_split
from metacompose.synthetic import make_synthetic_cube


def test_validation_split_trains_only_on_targets_before_the_validation_origin():
    cube = make_synthetic_cube(n_series=16, n_origins=10, horizon=6, seed=0)
    sub, actual, mask = validation_split(cube)
    H = cube.horizon
    val = sub.origins[:, -1]
    np.testing.assert_array_equal(val, cube.origins[:, -2])
    train = sub.train_valid
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
    assert choose_shrinkage(right, sub, actual, mask)[0] == 0.0
    assert choose_shrinkage(wrong, sub, actual, mask)[0] >= 0.75
    np.testing.assert_allclose(shrink(right, 0.5).sum(axis=1), 1.0)


def test_ppo_keeps_its_learned_weights_when_validation_supports_them():
    cube = make_synthetic_cube(n_series=64, n_origins=10, seed=0)
    agent = PPOAgent(total_timesteps=20_000).fit(cube)
    assert agent.shrinkage <= 0.5 and set(agent.shrinkage_scores_) == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert agent.shrinkage_scores_[agent.shrinkage] < agent.shrinkage_scores_[1.0]
