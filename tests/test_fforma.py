"""The FFORMA-style baseline learns the feature -> best model map of the synthetic cube."""

import numpy as np

from metacompose.agents import FFORMA, load_agent
from metacompose.synthetic import make_synthetic_cube


def _hit_rate(agent, cube):
    w = agent.weights(cube)
    best = np.asarray(cube.meta["best_model"])
    mask = cube.backtest_mask
    return float(np.mean(w.argmax(axis=2)[mask] == np.broadcast_to(best[:, None], mask.shape)[mask]))


def test_fforma_learns_which_model_the_feature_points_to(tmp_path):
    train = make_synthetic_cube(n_series=64, seed=0)
    held_out = make_synthetic_cube(n_series=64, seed=1)
    untrained = FFORMA(epochs=1, lr=1e-6).fit(train)
    agent = FFORMA().fit(train)
    assert _hit_rate(agent, held_out) > 0.9
    assert _hit_rate(untrained, held_out) < 0.6
    w = agent.weights(held_out)
    np.testing.assert_allclose(w.sum(axis=2), 1.0, atol=1e-6)
    agent.save(tmp_path / "f")
    np.testing.assert_array_equal(load_agent(tmp_path / "f").weights(held_out), w)
