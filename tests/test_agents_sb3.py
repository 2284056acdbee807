"""The RL agent over every stable-baselines3 algorithm: PPO, A2C, SAC, TD3, DDPG (issue 19, point 5)."""

import json

import numpy as np
import pytest
import torch

from metacompose.agent_choice import make_agent
from metacompose.agents import (AGENT_FORMAT, AGENT_VERSION, RL_AGENTS, A2CAgent, CompositionAgent, DDPGAgent,
                                EqualWeights, PPOAgent, RLAgent, SACAgent, TD3Agent, get_agent, is_rl_agent,
                                load_agent)
from metacompose.agents.sb3_algorithms import ALGORITHMS
from metacompose.errors import FileFormatError, InputError, UnknownModelError
from metacompose.fileio import save_container
from metacompose.synthetic import make_synthetic_cube

ALGOS = list(ALGORITHMS)
CLASSES = {"ppo": PPOAgent, "a2c": A2CAgent, "sac": SACAgent, "td3": TD3Agent, "ddpg": DDPGAgent}
POLICIES = {"ppo": "ActorCriticPolicy", "a2c": "ActorCriticPolicy", "sac": "SACPolicy", "td3": "TD3Policy",
            "ddpg": "TD3Policy"}


@pytest.fixture(scope="module")
def small_cube():
    return make_synthetic_cube(n_series=16, n_origins=8, n_models=3, horizon=4, seed=3)


@pytest.fixture(scope="module")
def fitted(small_cube):
    """One agent per algorithm on a tiny budget (the guard's probe included)."""
    tiny = {"ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 2}, "a2c": {"n_steps": 8},
            "sac": {"learning_starts": 100, "gradient_steps": 2}, "td3": {"learning_starts": 100, "gradient_steps": 2},
            "ddpg": {"learning_starts": 100, "gradient_steps": 2}}
    return {a: get_agent(a, total_timesteps=1024, n_envs=16, net_arch=[16], seed=0, **tiny[a]).fit(small_cube)
            for a in ALGOS}


def _assert_simplex(w, shape):
    assert w.shape == shape and np.all(np.isfinite(w)) and np.all(w >= 0)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("algorithm", ALGOS)
def test_fit_gives_simplex_weights(algorithm, fitted, small_cube):
    agent = fitted[algorithm]
    assert type(agent) is CLASSES[algorithm] and agent.algorithm == algorithm and is_rl_agent(agent)
    assert type(agent.policy_).__name__ == POLICIES[algorithm]
    assert type(agent.model_) is ALGORITHMS[algorithm].cls and agent.model_.gamma == 0.0
    assert agent.timesteps_ >= 1024
    _assert_simplex(agent.weights(small_cube), small_cube.shape[:3])
    np.testing.assert_array_equal(agent.weights(small_cube), agent.weights(small_cube))  # deterministic actions


@pytest.mark.parametrize("algorithm", ALGOS)
def test_save_load_round_trip(algorithm, fitted, small_cube, tmp_path):
    agent = fitted[algorithm]
    path = agent.save(tmp_path / algorithm)
    header = json.loads(path.read_text())
    assert header["agent"] == algorithm and header["params"]["algorithm"] == algorithm
    for loaded in (load_agent(tmp_path / algorithm), CLASSES[algorithm].load(tmp_path / algorithm),
                   RLAgent.load(tmp_path / algorithm), CompositionAgent.load(path)):
        assert type(loaded) is CLASSES[algorithm] and type(loaded.policy_).__name__ == POLICIES[algorithm]
        np.testing.assert_array_equal(loaded.weights(small_cube), agent.weights(small_cube))
        assert loaded.get_params() == agent.get_params()


@pytest.mark.parametrize("algorithm", ALGOS)
def test_tampered_policy_raises_file_format_error(algorithm, fitted, tmp_path):
    fitted[algorithm].save(tmp_path / "a")
    sd = torch.load(tmp_path / "a.pt", weights_only=True)
    key = sorted(sd)[0]
    torch.save({k: v for k, v in sd.items() if k != key}, tmp_path / "a.pt")  # a tensor missing
    with pytest.raises(FileFormatError, match="does not hold"):
        load_agent(tmp_path / "a")
    torch.save({k: torch.zeros(tuple(v.shape) + (2,)) for k, v in sd.items()}, tmp_path / "a.pt")  # wrong shapes
    with pytest.raises(FileFormatError):
        load_agent(tmp_path / "a")
    other = "sac" if algorithm != "sac" else "td3"  # another algorithm's policy under this header
    fitted[other].save(tmp_path / "b")
    (tmp_path / "a.pt").write_bytes((tmp_path / "b.pt").read_bytes())
    with pytest.raises(FileFormatError):
        load_agent(tmp_path / "a")
    (tmp_path / "a.pt").write_bytes(b"\x80\x04not a policy")
    with pytest.raises(FileFormatError):
        load_agent(tmp_path / "a")


def test_file_saved_before_other_algorithms_loads_as_ppo(fitted, small_cube, tmp_path):
    """A PPO agent file as written before RLAgent: no ``algorithm``, ``ppo_kwargs``, PPO's settings given."""
    agent = fitted["ppo"]
    params = {k: v for k, v in agent.get_params().items() if k != "algorithm" and v is not None}
    params["ppo_kwargs"] = params.pop("algorithm_kwargs")
    state, arrays = agent._state()
    save_container(tmp_path / "old", AGENT_FORMAT, AGENT_VERSION, {"agent": "ppo", "params": params, "state": state},
                   arrays, {".pt": lambda p: torch.save(agent.policy_.state_dict(), p)})
    loaded = load_agent(tmp_path / "old")
    assert type(loaded) is PPOAgent and loaded.algorithm == "ppo" and loaded.algorithm_kwargs == {}
    np.testing.assert_array_equal(loaded.weights(small_cube), agent.weights(small_cube))


def test_sac_learns_which_model_is_accurate():
    """SAC, off-policy, on a cube where a feature tells the accurate model: far below equal weights' error.

    A constant policy (equal weights, or any fixed mix: the accurate model varies by series) or a
    random one cannot get near; the untrained policy is checked to fail the same bar.
    """
    cube = make_synthetic_cube(n_series=64, n_origins=10, n_models=4, horizon=6, seed=1)
    train = cube.backtest_mask & cube.valid
    y, sc = cube.actuals.astype(np.float64), cube.origin_scales[..., None]

    def mase(agent):
        return np.mean((np.abs(agent.combine(cube) - y) / sc)[train])

    eq = mase(EqualWeights())
    untrained = SACAgent(total_timesteps=0, select_shrinkage=False).fit(cube)
    agent = SACAgent(total_timesteps=30_000, select_shrinkage=False, seed=0).fit(cube)
    print(f"SAC 30,000 steps in {agent.learn_seconds_:.1f} s: MASE {mase(agent):.3f}, untrained "
          f"{mase(untrained):.3f}, equal weights {eq:.3f}")
    assert mase(untrained) > 0.8 * eq
    assert mase(agent) < 0.6 * eq


def test_unknown_algorithm_and_agent_names_suggest():
    with pytest.raises(UnknownModelError, match="did you mean 'sac'"):
        get_agent("sacc")
    with pytest.raises(UnknownModelError, match="did you mean 'td3'"):
        RLAgent(algorithm="tdd3")
    with pytest.raises(InputError, match="known algorithms"):
        get_agent("rl", algorithm="dqn")
    with pytest.raises(InputError):
        RLAgent(algorithm=3)


def test_settings_an_algorithm_does_not_take_are_refused():
    with pytest.raises(InputError, match="n_epochs does not apply to SAC"):
        get_agent("sac", n_epochs=5)
    with pytest.raises(InputError, match="buffer_size"):
        PPOAgent(buffer_size=1000)
    with pytest.raises(InputError, match="batch_size"):
        A2CAgent(batch_size=64)
    with pytest.raises(InputError, match="action_noise_sigma"):
        SACAgent(action_noise_sigma=0.2)
    with pytest.raises(InputError, match="only SAC"):
        PPOAgent(ent_coef="auto")
    with pytest.raises(InputError, match="the parameter"):
        PPOAgent(algorithm_kwargs={"n_steps": 8})
    with pytest.raises(InputError, match="policy_delay"):
        TD3Agent(algorithm_kwargs={"policy_dely": 2})
    with pytest.raises(InputError, match="runs SAC"):
        SACAgent(algorithm="td3")
    assert TD3Agent(algorithm_kwargs={"policy_delay": 3}).algorithm_kwargs == {"policy_delay": 3}
    assert SACAgent(algorithm="SAC").algorithm == "sac"


def test_registry_defaults_and_presets():
    assert set(RL_AGENTS) == set(ALGOS) and all(is_rl_agent(a) for a in ALGOS + ["rl", "PPO"])
    assert not is_rl_agent("equal") and not is_rl_agent(EqualWeights())
    for algorithm in ALGOS:
        agent = get_agent(algorithm)
        assert type(agent) is CLASSES[algorithm] and agent.gamma == 0.0
        assert set(agent.algorithm_settings()) == set(ALGORITHMS[algorithm].defaults)
        assert get_agent("rl", algorithm=algorithm).algorithm_settings() == agent.algorithm_settings()
    assert RLAgent().algorithm == "ppo" and SACAgent().algorithm_settings()["ent_coef"] == "auto"
    assert TD3Agent().algorithm_settings()["action_noise_sigma"] == 0.1


@pytest.mark.parametrize("algorithm", ["sac", "td3"])
def test_off_policy_checkpoints_resume_and_early_stopping(algorithm, small_cube, tmp_path):
    kw = {"n_envs": 8, "net_arch": [16], "learning_starts": 64, "gradient_steps": 1, "select_shrinkage": False,
          "checkpoint_path": str(tmp_path / "agent"), "checkpoint_freq": 200, "seed": 0}
    first = get_agent(algorithm, total_timesteps=400, **kw).fit(small_cube)
    assert first.resumed_from_ == 0 and (tmp_path / "agent.ckpt.pt").exists()
    resumed = get_agent(algorithm, total_timesteps=400, **kw).fit(small_cube)  # the checkpoint has done it all
    assert resumed.resumed_from_ >= 200
    with pytest.raises(FileFormatError, match="other"):
        get_agent(algorithm, total_timesteps=400, **{**kw, "tau": 0.5}).fit(small_cube)
    stopped = get_agent(algorithm, total_timesteps=2000, n_envs=8, net_arch=[16], learning_starts=64,
                        gradient_steps=1, select_shrinkage=False, early_stopping_patience=1, eval_freq=200,
                        seed=0).fit(small_cube)
    assert stopped.train_reward_ and 0 < stopped.timesteps_ <= 2000
    _assert_simplex(stopped.weights(small_cube), small_cube.shape[:3])


def test_composer_and_command_line_take_any_algorithm(tmp_path):
    from metacompose import Composer
    from metacompose.cli_jobs import new_composer
    from tests.conftest import make_frame

    comp = Composer(models=["Naive", "SeasonalNaive"], agent="td3", horizon=4, season_length=4, random_state=3,
                    agent_kwargs={"total_timesteps": 512, "n_envs": 8, "learning_starts": 64, "gradient_steps": 1})
    comp.fit(make_frame(n_series=4))
    assert type(comp.agent_) is TD3Agent and comp.agent_.seed == 3  # the composer's seed applies to every algorithm
    _assert_simplex(comp.weights_, (4, 2))
    cli = new_composer("sac", 4, 4, ["Naive"], 1, 5, None, ("unique_id", "ds", "y"), echo=lambda msg: None)
    agent = make_agent(cli)
    assert type(agent) is SACAgent and agent.seed == 5 and agent.callback


def test_training_budget_grows_with_the_decisions():
    from metacompose.agents.rl_training import MAX_TIMESTEPS, MIN_TIMESTEPS, training_timesteps
    from metacompose.history import steppable_origins

    small = make_synthetic_cube(n_series=16, n_origins=8, n_models=3, horizon=4, seed=3)
    big = make_synthetic_cube(n_series=400, n_origins=8, n_models=3, horizon=4, seed=3)
    decisions = int(steppable_origins(big).sum())
    assert 400 * 4 < decisions  # most of 400 x 7 backtest origins
    assert training_timesteps(PPOAgent(passes=30), [small]) == MIN_TIMESTEPS  # floor
    assert training_timesteps(PPOAgent(passes=30), [big]) == 30 * decisions
    assert training_timesteps(PPOAgent(passes=10), [big, big]) == 20 * decisions  # every cube counts
    assert training_timesteps(PPOAgent(passes=1000), [big]) == MAX_TIMESTEPS  # ceiling
    assert training_timesteps(PPOAgent(total_timesteps=2_000), [big]) == 2_000  # an explicit budget is exact
    agent = PPOAgent(n_envs=16, net_arch=[16], select_shrinkage=False).fit(small)
    assert MIN_TIMESTEPS <= agent.timesteps_ < MIN_TIMESTEPS + 16 * 16  # one rollout rounds up
    for bad in (0, -1.0, "many", None):
        with pytest.raises(InputError, match="passes"):
            PPOAgent(passes=bad)
