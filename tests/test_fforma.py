"""FFORMA: its objective's gradient, that it learns the feature -> best model map, its files and checks."""

import numpy as np
import pytest
from scipy.special import softmax

from metacompose.agents import FFORMA, load_agent
from metacompose.agents.fforma import fforma_objective
from metacompose.errors import FileFormatError, InputError, NotFittedError
from metacompose.synthetic import make_synthetic_cube


def _composed_mase(weights, cube):
    err = cube.errors("mase")
    mask = cube.backtest_mask
    return float(np.sum(weights * err, axis=2)[mask].mean())


def test_objective_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    scores, errors = rng.normal(size=(5, 4)), rng.uniform(0.1, 3.0, size=(5, 4))
    grad, hess = fforma_objective(scores, errors)

    def loss(s):
        return (softmax(s, axis=1) * errors).sum(axis=1)

    eps = 1e-6
    for j in range(4):
        step = np.zeros_like(scores)
        step[:, j] = eps
        np.testing.assert_allclose(grad[:, j], (loss(scores + step) - loss(scores - step)) / (2 * eps), atol=1e-6)
    assert np.all(hess > 0)


def test_fforma_learns_which_model_the_feature_points_to(tmp_path):
    train = make_synthetic_cube(n_series=64, seed=0)
    held_out = make_synthetic_cube(n_series=64, seed=1)
    agent = FFORMA().fit(train)
    w = agent.weights(held_out)
    np.testing.assert_allclose(w.sum(axis=2), 1.0, atol=1e-9)
    assert np.all(w[~held_out.valid] == 0.25)
    best = np.asarray(held_out.meta["best_model"])
    mask = held_out.backtest_mask
    hits = w.argmax(axis=2)[mask] == np.broadcast_to(best[:, None], mask.shape)[mask]
    assert hits.mean() > 0.9
    # any weights shared by all series (the best constant policy included) pick the wrong model for most
    shared = min(_composed_mase(np.broadcast_to(np.eye(4)[j], w.shape), held_out) for j in range(4))
    equal = _composed_mase(np.full(w.shape, 0.25), held_out)
    assert _composed_mase(w, held_out) < 0.5 * min(shared, equal)
    agent.save(tmp_path / "f")
    np.testing.assert_array_equal(load_agent(tmp_path / "f").weights(held_out), w)


def test_fforma_mase_errors_and_other_feature_counts_are_refused():
    train = make_synthetic_cube(n_series=32, seed=2)
    agent = FFORMA(error="mase", n_estimators=10).fit(train)
    assert agent.weights(train).shape == train.shape[:3]
    other = make_synthetic_cube(n_series=8, n_models=3, seed=3)
    with pytest.raises(InputError, match="fitted on 3 features and 4 models"):
        agent.weights(other)
    with pytest.raises(NotFittedError):
        FFORMA().weights(train)


@pytest.mark.parametrize("bad", [dict(n_estimators=0), dict(learning_rate=0.0), dict(subsample=1.5),
                                 dict(colsample=0), dict(num_leaves=1), dict(reg_lambda=-1.0), dict(error="owa2"),
                                 dict(max_depth=2.5)])
def test_bad_parameters_are_input_errors(bad):
    with pytest.raises(InputError):
        FFORMA(**bad)


def test_a_damaged_booster_is_a_file_format_error(tmp_path):
    FFORMA(n_estimators=3).fit(make_synthetic_cube(n_series=16, seed=4)).save(tmp_path / "f")
    header = tmp_path / "f.json"
    header.write_text(header.read_text().replace("tree_sizes", "tree_sizzles"))
    with pytest.raises(FileFormatError):
        load_agent(tmp_path / "f")
