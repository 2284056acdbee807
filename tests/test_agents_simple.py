"""The simple and Bayesian baseline composers: trimmed mean, drop-worst, global weights, BMA / MAP."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import trim_mean

from metacompose.agents import (AGENTS, BMA, BayesianSelection, DropWorst, EqualWeights, GlobalWeights, MAPSelection,
                                TrimmedMean, get_agent, load_agent)
from metacompose.cube import ForecastCube
from metacompose.errors import InputError, NotFittedError
from metacompose.history import cutoffs, past_error_table
from metacompose.metrics import smape_points
from metacompose.synthetic import make_synthetic_cube

N_MODELS = 4
AGENT_SPECS = [
    ("trimmed_mean", {}), ("trimmed_mean", {"trim": 0.0}), ("drop_worst", {}),
    ("drop_worst", {"k": 1, "scope": "series", "history": 3}), ("drop_worst", {"k": 0.5, "metric": "smape"}),
    ("global_weights", {}), ("global_weights", {"per_step": True, "metric": "smape"}),
    ("bma", {}), ("map", {}), ("bayes", {"form": "map", "metric": "smape", "prior_strength": 0.5, "history": 2}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in AGENT_SPECS]


@pytest.fixture(scope="module")
def cube():
    return make_synthetic_cube(n_series=48, n_origins=9, n_models=N_MODELS, horizon=6, seed=3)


def _assert_simplex(w, shape):
    assert w.shape == shape and np.all(np.isfinite(w)) and np.all(w >= 0)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-9)


def _make_cube(forecasts, actuals, step=1, first=20):
    """A cube of the given forecasts ``(S, O, M, H)`` and actuals ``(S, O, H)`` (the final origin's set NaN)."""
    S, O, M, H = forecasts.shape
    actuals = np.array(actuals, dtype=np.float32)
    actuals[:, -1] = np.nan
    origins = np.broadcast_to(first + step * np.arange(O), (S, O)).astype(np.int64).copy()
    return ForecastCube(
        forecasts=forecasts.astype(np.float32), actuals=actuals, scales=np.ones(S, np.float32),
        origin_scales=np.ones((S, O), np.float32), origins=origins, features=np.zeros((S, O, 0), np.float32),
        failed=np.zeros((S, O, M), bool), series_ids=[f"s{i}" for i in range(S)],
        models=[f"m{j}" for j in range(M)], feature_names=[], season_length=1, horizon=H, meta={"step": step})


def _perturb_after(cube, k, rng):
    """The cube with every actual whose target position is at or after origin ``k`` (of its series) redrawn."""
    H = cube.shape[3]
    pos = cube.origins[:, :, None] + np.arange(H)                               # (S, O, H)
    cut = cube.origins[:, k][:, None, None]
    later = (pos >= cut) & (cube.origins[:, :, None] >= 0) & (cube.origins[:, k] >= 0)[:, None, None]
    actuals = cube.actuals.copy()
    actuals[later] = rng.normal(0.0, 1e3, size=int(later.sum())).astype(np.float32)
    return replace(cube, actuals=actuals)


def _mase(combined, cube):
    """Mean absolute error over the backtest origins (the test cubes have unit scales)."""
    mask = cube.backtest_mask
    return float(np.mean(np.abs(combined[mask] - cube.actuals[mask])))


# --- shared contract --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, kwargs", AGENT_SPECS, ids=IDS)
def test_weights_on_simplex_and_combine_shape(name, kwargs, cube):
    agent = get_agent(name, **kwargs).fit(cube)
    _assert_simplex(agent.weights(cube), cube.shape[:3])
    combined = agent.combine(cube)
    assert combined.shape == (cube.shape[0], cube.shape[1], cube.horizon)
    assert np.all(np.isfinite(combined[cube.valid])) and np.all(np.isnan(combined[~cube.valid]))


@pytest.mark.parametrize("name, kwargs", AGENT_SPECS, ids=IDS)
def test_no_leakage_from_after_the_origin(name, kwargs, cube):
    """Redrawing every actual at or after origin k changes nothing at origin k (the agent fitted once)."""
    agent = get_agent(name, **kwargs).fit(cube)
    w, c = agent.weights(cube), agent.combine(cube)
    rng = np.random.default_rng(0)
    for k in range(cube.shape[1]):
        other = _perturb_after(cube, k, rng)
        assert not np.array_equal(other.actuals, cube.actuals, equal_nan=True)
        np.testing.assert_array_equal(agent.weights(other)[:, k], w[:, k])
        np.testing.assert_array_equal(agent.combine(other)[:, k], c[:, k])


@pytest.mark.parametrize("name", ["global_weights", "bma", "map"])
def test_fit_uses_only_the_backtest(name, cube):
    """What a fitted agent learns does not depend on the final origin's actuals (e.g. a test part)."""
    filled = cube.actuals.copy()
    filled[:, -1] = np.random.default_rng(1).normal(0.0, 1e3, size=filled[:, -1].shape)
    a = get_agent(name).fit(cube)
    b = get_agent(name).fit(replace(cube, actuals=filled))
    np.testing.assert_array_equal(a.weights(cube), b.weights(cube))


@pytest.mark.parametrize("name, kwargs", AGENT_SPECS, ids=IDS)
def test_save_load_round_trip(name, kwargs, cube, tmp_path):
    agent = get_agent(name, **kwargs).fit(cube)
    loaded = load_agent(agent.save(tmp_path / name))
    assert type(loaded) is type(agent) and loaded.get_params() == agent.get_params()
    assert loaded.get_params() == {**get_agent(name).get_params(), **kwargs}
    np.testing.assert_array_equal(loaded.weights(cube), agent.weights(cube))
    np.testing.assert_array_equal(loaded.combine(cube), agent.combine(cube))


def test_registry_names_and_aliases():
    assert {"trimmed_mean", "drop_worst", "global_weights", "bayes", "bma", "map"} <= set(AGENTS)
    assert isinstance(get_agent("trimmed", trim=0.1), TrimmedMean)
    assert isinstance(get_agent("DropWorst"), DropWorst)
    assert isinstance(get_agent("global", per_step=True), GlobalWeights)
    bma, map_ = get_agent("bma"), get_agent("map")
    assert isinstance(bma, BMA) and bma.form == "bma" and isinstance(map_, MAPSelection) and map_.form == "map"
    assert isinstance(get_agent("bayesian", form="map"), BayesianSelection)


@pytest.mark.parametrize("make", [
    lambda: TrimmedMean(trim=0.5), lambda: TrimmedMean(trim=-0.1), lambda: DropWorst(k=0), lambda: DropWorst(k=1.0),
    lambda: DropWorst(k=True), lambda: DropWorst(scope="world"), lambda: DropWorst(metric="mape"),
    lambda: GlobalWeights(per_step="yes"), lambda: GlobalWeights(maxiter=0), lambda: BMA(prior_strength=-1.0),
    lambda: BayesianSelection(form="mode"), lambda: MAPSelection(history=0),
])
def test_bad_arguments(make):
    with pytest.raises(InputError):
        make()


def test_fitted_agents_refuse_unfitted_use_and_other_pools(cube):
    other = make_synthetic_cube(n_series=4, n_origins=4, n_models=N_MODELS + 1, seed=5)
    for agent in (GlobalWeights(), BMA(), MAPSelection()):
        with pytest.raises(NotFittedError):
            agent.weights(cube)
        with pytest.raises(InputError):
            agent.fit(cube).weights(other)
    with pytest.raises(InputError):
        GlobalWeights(per_step=True).fit(cube).combine(make_synthetic_cube(4, 4, N_MODELS, horizon=3, seed=5))
    empty = replace(cube, actuals=np.full_like(cube.actuals, np.nan))
    with pytest.raises(InputError, match="backtest origin"):
        GlobalWeights().fit(empty)


def test_past_smape_table_counts_only_known_steps(cube):
    err, n = past_error_table(cube, metric="smape")
    mase_err, mase_n = past_error_table(cube, metric="mase")
    ref_err, ref_n = past_error_table(cube)
    np.testing.assert_array_equal(mase_err, ref_err)
    np.testing.assert_array_equal(n, ref_n)
    H = cube.shape[3]
    for s in (0, 7, 21):
        cut = cutoffs(cube, s)
        for k in np.flatnonzero(cube.valid[s]):
            pts = []
            for kk in np.flatnonzero(cube.valid[s]):
                known = cube.origins[s, kk] + np.arange(H) < cut[k]
                pts.append(smape_points(cube.actuals[s, kk][known][None, :], cube.forecasts[s, kk][:, known]))
            vals = np.concatenate(pts, axis=1)
            expect = np.nanmean(vals, axis=1) if vals.shape[1] else np.full(N_MODELS, np.nan)
            np.testing.assert_allclose(err[s, k], expect, rtol=1e-9)


# --- trimmed mean and drop-worst ------------------------------------------------------------------


def test_trimmed_mean_with_trim_zero_is_the_mean(cube):
    v = cube.valid
    mean = cube.forecasts[v].astype(np.float64).mean(axis=1)
    np.testing.assert_allclose(TrimmedMean(trim=0.0).combine(cube)[v], mean, rtol=1e-12)
    np.testing.assert_allclose(TrimmedMean(trim=0.0).weights(cube), 1.0 / N_MODELS)


def test_trimmed_mean_matches_scipy_and_its_weights_describe_it():
    f = np.random.default_rng(4).normal(size=(6, 5, 7, 3))
    c = _make_cube(f, np.zeros((6, 5, 3)))
    for trim in (0.15, 0.2, 0.3, 0.45):
        expect = trim_mean(f, trim, axis=2)
        np.testing.assert_allclose(TrimmedMean(trim).combine(c), expect, rtol=1e-6)
    w = TrimmedMean(0.3).weights(c)                         # 7 members, 2 trimmed at each end: 3 kept
    _assert_simplex(w, c.shape[:3])
    kept = (np.argsort(np.argsort(f, axis=2), axis=2) >= 2) & (np.argsort(np.argsort(f, axis=2), axis=2) < 5)
    np.testing.assert_allclose(w, kept.mean(axis=3) / 3.0, rtol=1e-6)
    assert not np.allclose(w, 1 / 7)


def _graded_cube(noise=(0.1, 0.4, 1.6, 6.4), S=30, O=8, H=6, seed=6):
    """Forecasts = truth + noise, each model with its own noise level (model 0 best, the last worst)."""
    rng = np.random.default_rng(seed)
    y = np.cumsum(rng.normal(size=(S, 20 + O + H)), axis=1) + 50.0
    actuals = np.stack([y[:, 20 + k:20 + k + H] for k in range(O)], axis=1)          # (S, O, H)
    f = actuals[:, :, None, :] + np.asarray(noise)[None, None, :, None] * rng.normal(size=(S, O, len(noise), H))
    return _make_cube(f, actuals)


@pytest.mark.parametrize("scope", ["series", "panel"])
def test_drop_worst_drops_the_worst(scope):
    c = _graded_cube()
    known = c.valid.copy()
    known[:, 0] = False                                     # nothing known at the first origin
    # one series' first known errors are a step or two (step 1): from origin 3 on, six or more
    later = known & (np.arange(c.shape[1]) >= (3 if scope == "series" else 1))
    w1 = DropWorst(k=1, scope=scope).weights(c)
    np.testing.assert_allclose(w1[:, 0], 0.25)
    np.testing.assert_allclose(w1[later], np.tile([1 / 3, 1 / 3, 1 / 3, 0.0], (later.sum(), 1)))
    for k in (2, 0.5, None):                                # a count, a share, the default (half the pool)
        w2 = DropWorst(k=k, scope=scope).weights(c)
        np.testing.assert_allclose(w2[later], np.tile([0.5, 0.5, 0.0, 0.0], (later.sum(), 1)))
    assert DropWorst(k=10).n_dropped(4) == 3 and DropWorst(k=0.3).n_dropped(7) == 2


def test_drop_worst_panel_scope_shares_one_ranking_per_origin():
    c = _graded_cube(noise=(1.0, 1.0, 1.0, 1.0), seed=8)
    w_panel = DropWorst(k=1).weights(c)
    w_series = DropWorst(k=1, scope="series").weights(c)
    assert np.all(np.ptp(w_panel, axis=0) == 0)            # every series of an origin: the same weights
    assert np.any(np.ptp(w_series, axis=0) > 0)            # equally good models: the series disagree


# --- global weights ---------------------------------------------------------------------------------


def _mixture_cube(seed, S=40, O=8, H=4, mix=(0.7, 0.3, 0.0)):
    rng = np.random.default_rng(seed)
    f = 10.0 + rng.normal(size=(S, O, len(mix), H))
    y = np.einsum("somh,m->soh", f, np.asarray(mix)) + 0.02 * rng.normal(size=(S, O, H))
    return _make_cube(f, y)


@pytest.mark.parametrize("metric", ["mase", "smape"])
def test_global_weights_recover_a_fixed_mixture(metric):
    train, held = _mixture_cube(0), _mixture_cube(1)
    agent = GlobalWeights(metric=metric).fit(train)
    np.testing.assert_allclose(agent.step_weights_[0], [0.7, 0.3, 0.0], atol=0.03)
    assert agent.fit_errors_["fitted"] < 0.5 * agent.fit_errors_["equal"]
    assert _mase(agent.combine(held), held) < 0.3 * _mase(EqualWeights().combine(held), held)


def test_global_weights_per_step_follow_the_best_model_along_the_horizon():
    def cube(seed, S=40, O=8, H=6):
        rng = np.random.default_rng(seed)
        f = 10.0 + rng.normal(size=(S, O, 3, H))
        y = np.concatenate([f[:, :, 0, :3], f[:, :, 1, 3:]], axis=2) + 0.02 * rng.normal(size=(S, O, H))
        return _make_cube(f, y)

    train, held = cube(2), cube(3)
    step = GlobalWeights(per_step=True).fit(train)
    flat = GlobalWeights().fit(train)
    assert step.step_weights_.shape == (6, 3) and flat.step_weights_.shape == (1, 3)
    np.testing.assert_allclose(step.step_weights_[:3], np.tile([1.0, 0.0, 0.0], (3, 1)), atol=0.03)
    np.testing.assert_allclose(step.step_weights_[3:], np.tile([0.0, 1.0, 0.0], (3, 1)), atol=0.03)
    np.testing.assert_allclose(step.weights(held)[held.valid], np.tile(step.step_weights_.mean(axis=0), (held.valid.sum(), 1)))
    # the weights applied step by step, not their mean: horizon-constant weights cannot do this
    assert _mase(step.combine(held), held) < 0.2 * _mase(flat.combine(held), held)


# --- Bayesian selection -----------------------------------------------------------------------------


def test_bma_concentrates_on_the_better_model_as_evidence_grows():
    c = make_synthetic_cube(n_series=300, n_origins=12, n_models=3, horizon=4, seed=9, good_noise=1.0,
                            bad_noise=1.3, short_fraction=0.0)
    w = BMA().fit(c).weights(c)
    best = np.asarray(c.meta["best_model"])
    on_best = w[np.arange(300), :, best]                    # (S, O): weight on each series' better model
    mean = on_best.mean(axis=0)
    _, n = past_error_table(c)
    assert np.all(n[:, 0] == 0) and np.all(np.diff(n[:, 1:-1], axis=1) == 1)   # one more past forecast per origin
    assert mean[-2] > mean[2] + 0.15 and mean[-2] > 0.75
    assert np.all(np.diff(mean[1:-1]) > -0.03)              # (almost) monotone growth
    first = BMA().fit(c)
    np.testing.assert_allclose(w[:, 0], np.tile(first.prior_, (300, 1)))   # no past error: the prior


def test_map_is_one_hot_on_the_posterior_mode(cube):
    agent = MAPSelection().fit(cube)
    w = agent.weights(cube)
    v = cube.valid
    assert np.all(np.isin(w[v], (0.0, 1.0))) and np.all(w[v].max(axis=1) == 1.0)
    post = BMA().fit(cube).posterior(cube)
    np.testing.assert_array_equal(np.argmax(w, axis=2)[v], np.argmax(post, axis=2)[v])
    best = np.asarray(cube.meta["best_model"])
    assert np.mean(np.argmax(w[:, -1], axis=1) == best) > 0.95


@pytest.mark.parametrize("strength", [0.0, 1.0, 5.0])
def test_empirical_bayes_prior_reflects_the_share_of_series_won(strength):
    c = make_synthetic_cube(n_series=200, n_origins=8, n_models=N_MODELS, horizon=6, seed=11, n_best=3)
    wins = np.bincount(c.meta["best_model"], minlength=N_MODELS).astype(float)
    agent = BMA(prior_strength=strength).fit(c)
    np.testing.assert_allclose(agent.wins_, wins, atol=3.0)
    expect = (wins + strength) / (wins.sum() + N_MODELS * strength)
    np.testing.assert_allclose(agent.prior_, expect, atol=0.015)
    assert agent.prior_[3] == pytest.approx(strength / (200 + N_MODELS * strength))   # model 3 never wins
    assert np.argmax(agent.prior_) == np.argmax(wins)


def test_posterior_is_prior_times_error_power():
    """Two models, one past forecast each: P(i | D) ∝ P(i) ē_i^(-n)."""
    f = np.zeros((1, 4, 2, 2))
    f[..., 0, :], f[..., 1, :] = 1.0, 4.0                   # absolute errors 1 and 4 against zero actuals
    c = _make_cube(f, np.zeros((1, 4, 2)), step=2)
    agent = BMA(prior_strength=1.0).fit(c)
    prior = agent.prior_
    np.testing.assert_allclose(prior, [2 / 3, 1 / 3])       # model 0 wins the one series
    post = agent.posterior(c)[0]
    _, n = past_error_table(c)
    for k in range(4):
        odds = prior[0] / prior[1] * 4.0 ** n[0, k]
        np.testing.assert_allclose(post[k], [odds / (1 + odds), 1 / (1 + odds)])
    assert n[0, 0] == 0 and n[0, 2] == 2
