"""The command line's arguments, destinations, saved files and interrupts (catalogue rows in docs/bad_input.md).

Cheap pools (Naive, SeasonalNaive) and the equal-weight agent keep these fast; every destination
and argument is checked before any work, so most tests only need a small file.
"""

import json
import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import metacompose.cli as cli_module
import metacompose.cli_args as cli_args
import metacompose.cli_jobs as cli_jobs
from metacompose import Composer, FileFormatError, InputError
from metacompose.agents import AGENTS, PPOAgent, get_agent, load_agent
from metacompose.agents.checkpoint import read_tensors
from metacompose.backtest import backtest
from metacompose.cli import _parser, main
from metacompose.models import Naive, SeasonalNaive
from tests.conftest import make_frame

CHEAP = ["Naive", "SeasonalNaive"]


class MyNaive(Naive):
    """A plugged-in model that is not in metacompose.models.REGISTRY."""

    alias = "MyNaive"


@pytest.fixture
def data_csv(tmp_path):
    make_frame().to_csv(tmp_path / "d.csv", index=False)
    return tmp_path / "d.csv"


def forecast(data, *extra, agent="equal", m=("-m", "4")):
    """Run ``metacompose forecast`` on ``data`` with the cheap pool; returns the exit status."""
    models = ["--models", *CHEAP] if agent in AGENTS else []
    return main(["forecast", str(data), "-H", "4", *m, *models, "--agent", agent, "--no-progress", *extra])


def fit(df, horizon=4, m=4, models=CHEAP):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return Composer(models=models, agent="equal", horizon=horizon, season_length=m).fit(df)


def no_work(monkeypatch):
    """Make reading the input file fail the test: the checks must come before it."""
    def boom(*args, **kwargs):
        raise AssertionError("the file was read before the arguments were checked")
    monkeypatch.setattr(cli_jobs, "read_table", boom)


# --- command-line arguments and destinations ----------------------------------------------------
@pytest.mark.parametrize("trailing", ["", "/"])
def test_cli_out_is_a_folder(tmp_path, data_csv, monkeypatch, capsys, trailing):
    (tmp_path / "outdir").mkdir()
    no_work(monkeypatch)
    assert forecast(data_csv, "--out", str(tmp_path / "outdir") + trailing) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out") and "is a folder; give a file path" in err


def test_cli_out_under_a_file(tmp_path, data_csv, monkeypatch, capsys):
    (tmp_path / "plain").write_text("x")
    no_work(monkeypatch)
    assert forecast(data_csv, "--out", str(tmp_path / "plain" / "fc.csv")) == 2
    assert "is a file, so no folder can be created there" in capsys.readouterr().err


def test_cli_out_unsupported_suffix(tmp_path, data_csv, monkeypatch, capsys):
    no_work(monkeypatch)
    assert forecast(data_csv, "--out", str(tmp_path / "fc.xlsx")) == 2
    err = capsys.readouterr().err
    assert "unsupported file type '.xlsx'" in err and ".csv" in err and ".parquet" in err and ".pq" in err


def test_cli_out_parquet_and_no_suffix(tmp_path, data_csv):
    pytest.importorskip("pyarrow")
    assert forecast(data_csv, "--out", str(tmp_path / "fc.parquet")) == 0
    assert len(pd.read_parquet(tmp_path / "fc.parquet")) == 16  # Parquet, not CSV text
    assert forecast(data_csv, "--out", str(tmp_path / "sub" / "fc")) == 0  # no suffix: CSV, folder created
    assert len(pd.read_csv(tmp_path / "sub" / "fc")) == 16
    assert forecast(data_csv, "--out", str(tmp_path / "fc.csv.gz")) == 0  # compressed CSV
    assert len(pd.read_csv(tmp_path / "fc.csv.gz")) == 16


def test_cli_out_parquet_without_pyarrow(tmp_path, data_csv, monkeypatch, capsys):
    real = cli_args.importlib.util.find_spec
    monkeypatch.setattr(cli_args.importlib.util, "find_spec", lambda name: None if name == "pyarrow" else real(name))
    no_work(monkeypatch)
    assert forecast(data_csv, "--out", str(tmp_path / "fc.pq")) == 2
    assert "metacompose[parquet]" in capsys.readouterr().err


def test_cli_plots_is_a_file(tmp_path, data_csv, monkeypatch, capsys):
    (tmp_path / "p.png").write_bytes(b"x")
    no_work(monkeypatch)
    assert forecast(data_csv, "--out", str(tmp_path / "fc.csv"), "--plots", str(tmp_path / "p.png")) == 2
    assert "--plots" in capsys.readouterr().err


def test_cli_cross_validation_out_checked_first(tmp_path, data_csv, monkeypatch, capsys):
    no_work(monkeypatch)
    args = ["cross-validation", str(data_csv), "-H", "4", "-m", "4", "--windows", "2", "--models", *CHEAP,
            "--agent", "equal", "--no-progress"]
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "cv.json")]) == 2
    assert "unsupported file type '.json'" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-2", "1.5", "all"])
def test_cli_bad_n_jobs(data_csv, capsys, value):
    assert forecast(data_csv, "--n-jobs", value) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --n-jobs: must be a positive number of workers, or -1") and \
        "Traceback" not in err


def test_cli_all_cores_n_jobs():
    args = _parser().parse_args(["forecast", "d.csv", "-H", "4", "--n-jobs", "-1"])
    assert args.n_jobs == -1


@pytest.mark.parametrize("command", ["forecast", "cross-validation"])
@pytest.mark.parametrize("value", ["0", "-3", "2.5"])
def test_cli_bad_season_length(data_csv, capsys, command, value):
    extra = ["--windows", "2"] if command == "cross-validation" else []
    assert main([command, str(data_csv), "-H", "4", "-m", value, *extra]) == 2
    assert capsys.readouterr().err.startswith("error: argument --season-length/-m: must be a positive integer")


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "soon"])
def test_cli_bad_timeout(data_csv, capsys, value):
    assert forecast(data_csv, "--timeout", value) == 2
    assert capsys.readouterr().err.startswith("error: argument --timeout: must be a positive number of seconds")


def test_cli_timeout_reaches_the_composer(tmp_path, data_csv, monkeypatch):
    seen = {}

    class Spy(Composer):
        def __init__(self, **kw):
            seen.update(kw)
            super().__init__(**kw)

    monkeypatch.setattr(cli_jobs, "Composer", Spy)
    assert forecast(data_csv, "--timeout", "2.5", "--out", str(tmp_path / "fc.csv")) == 0
    assert seen["timeout"] == seen["panel_timeout"] == 2.5


@pytest.mark.parametrize("command", ["forecast", "cross-validation"])
def test_cli_help_texts(capsys, command):
    assert main([command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert all(name in out for name in AGENTS)
    for text in ("--seed SEED seed of the agent", "--n-jobs N_JOBS backtest worker processes: a positive number, "
                 "or -1 for all cores", "--timeout SECONDS seconds one model fit may take", "fallback forecast",
                 "--sep SEP column separator"):
        assert text in out


def test_cli_without_season_length(tmp_path, capsys):
    """No -m and no saved composer: season_length=None reaches the Composer, which infers m from the time stamps."""
    assert cli_jobs.resolve_agent("equal", None, None) == ("equal", None, None)
    df = make_frame(n=48)
    df["ds"] = np.tile(pd.date_range("2020-01-01", periods=48, freq="MS"), 4)
    df.to_csv(tmp_path / "monthly.csv", index=False)
    assert forecast(tmp_path / "monthly.csv", "--out", str(tmp_path / "fc.csv"), m=()) == 0
    assert len(pd.read_csv(tmp_path / "fc.csv")) == 16


@pytest.mark.parametrize("given, sep", [(";", ";"), ("\\t", "\t")])
def test_cli_sep_semicolon(tmp_path, given, sep):
    make_frame().to_csv(tmp_path / "semi.csv", sep=sep, index=False)
    assert forecast(tmp_path / "semi.csv", "--sep", given, "--out", str(tmp_path / "fc.csv")) == 0
    out = pd.read_csv(tmp_path / "fc.csv")
    assert len(out) == 16 and list(out["unique_id"].unique()) == ["s0", "s1", "s2", "s3"]


def test_cli_exogenous_columns_are_named(tmp_path, capsys):
    make_frame().assign(price=1.5, promo=0).to_csv(tmp_path / "exo.csv", index=False)
    assert forecast(tmp_path / "exo.csv", "--out", str(tmp_path / "fc.csv")) == 0
    out = capsys.readouterr().out
    assert "ignoring 2 other column(s) ['price', 'promo']" in out and "own history only" in out


@pytest.mark.parametrize("extra, h, m, rows", [(["-H", "2"], 2, 4, 8), (["-H", "4", "-m", "2"], 4, 2, 16)])
def test_cli_saved_composer_other_horizon(tmp_path, data_csv, capsys, extra, h, m, rows):
    fit(make_frame()).save(tmp_path / "comp")
    args = ["forecast", str(data_csv), *extra, "--agent", str(tmp_path / "comp"), "--no-progress",
            "--out", str(tmp_path / "fc.csv")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"the saved composer was for h=4, m=4; fitting a new composer for h={h}, m={m}" in out
    assert "with its saved agent, untrained" in out
    assert len(pd.read_csv(tmp_path / "fc.csv")) == rows


def test_cli_saved_composer_with_unregistered_models(tmp_path, data_csv, monkeypatch, capsys):
    fit(make_frame(), models=[MyNaive(season_length=4), "Naive"]).save(tmp_path / "comp")
    monkeypatch.setattr(cli_jobs.Composer, "fit", lambda *a, **k: pytest.fail("fitted before the check"))
    for extra in (["-H", "2"], ["-H", "4", "-m", "2"]):
        assert main(["forecast", str(data_csv), *extra, "--agent", str(tmp_path / "comp"), "--no-progress",
                     "--out", str(tmp_path / "fc.csv")]) == 2
        err = capsys.readouterr().err
        assert "holds models that are not registered (MyNaive)" in err and "metacompose.models.REGISTRY" in err


def test_cli_misspelt_agent_name(data_csv, monkeypatch, capsys):
    monkeypatch.setattr(cli_jobs, "read_table", lambda *a, **k: make_frame())
    monkeypatch.setattr(cli_jobs.Composer, "fit", lambda *a, **k: pytest.fail("fitted before the check"))
    assert forecast(data_csv, agent="eqaul") == 2
    assert "unknown agent 'eqaul'; did you mean 'equal'?" in capsys.readouterr().err


def test_misspelt_agent_argument():
    with pytest.raises(InputError, match=r"agent 'ppo' has no argument 'total_timestep'; did you mean "
                                         r"'total_timesteps'\? \(its arguments: total_timesteps, passes, seed"):
        get_agent("ppo", total_timestep=5)
    with pytest.raises(InputError, match="'equal' has no argument 'history'.*takes no arguments"):
        get_agent("equal", history=3)
    with pytest.raises(InputError, match="did you mean 'total_timesteps'"):  # before any backtest
        Composer(models=CHEAP, agent="ppo", horizon=4, season_length=4, agent_kwargs={"total_timestep": 5})


# --- saved files ---------------------------------------------------------------------------------
EDITS = {
    "horizon": (lambda h: h.update(horizon=6), "horizon is 6 but the saved cube's is 4"),
    "params.horizon": (lambda h: h["params"].update(horizon=6), "params.horizon is 6 but the saved cube's is 4"),
    "season_length": (lambda h: h.update(season_length=12), "season_length is 12 but the saved cube's is 4"),
    "models": (lambda h: h.update(models=["SeasonalNaive", "Naive"]), "models is ['SeasonalNaive', 'Naive'] but"),
    "params.models": (lambda h: h["params"].update(models=["Naive"]), "params.models is ['Naive'] but"),
    "ids order": (lambda h: h.update(ids=["s1", "s0", "s2", "s3"]), "ids[0] is 's1' but the saved cube's is 's0'"),
    "ids count": (lambda h: h.update(ids=["s0", "s1", "s2"]), "ids is 3 ids but the saved cube's is 4 series"),
    "freqs": (lambda h: h.update(freqs=[1, 1]), "freqs is 2 entries but the saved cube's is 4 series"),
    "last_ds": (lambda h: h.update(last_ds=[40] * 5), "last_ds is 5 entries but the saved cube's is 4 series"),
}


@pytest.mark.parametrize("field", list(EDITS))
def test_edited_composer_header(tmp_path, field):
    fit(make_frame()).save(tmp_path / "comp")
    path = tmp_path / "comp" / "composer.json"
    header = json.loads(path.read_text())
    edit, message = EDITS[field]
    edit(header)
    path.write_text(json.dumps(header))
    with pytest.raises(FileFormatError, match=re.escape(message)):
        Composer.load(tmp_path / "comp")


@pytest.fixture(scope="module")
def ppo_agent():
    cube, _ = backtest([np.arange(30.0) + i for i in range(3)], [Naive(), SeasonalNaive(season_length=4)], 3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return PPOAgent(total_timesteps=64, n_envs=4, batch_size=64, select_shrinkage=False).fit(cube)


@pytest.mark.parametrize("damage", ["garbage", "pickle", "truncated", "empty"])
def test_corrupted_agent_weights(tmp_path, data_csv, ppo_agent, capsys, damage):
    ppo_agent.save(tmp_path / "agent")
    pt = tmp_path / "agent.pt"
    data = {"garbage": b"not a torch file" * 8, "pickle": pickle.dumps({"policy": {1, 2}}),
            "truncated": pt.read_bytes()[:300], "empty": b""}[damage]
    pt.write_bytes(data)
    with pytest.raises(FileFormatError, match="agent.pt is corrupted or not a metacompose agent") as exc:
        load_agent(tmp_path / "agent")
    assert "weights_only" not in str(exc.value)
    with pytest.raises(FileFormatError, match="is corrupted or not a metacompose PPO checkpoint"):
        read_tensors(pt, "PPO checkpoint")
    assert forecast(data_csv, "--out", str(tmp_path / "fc.csv"), agent=str(tmp_path / "agent")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is corrupted or not a metacompose agent" in err
    assert "weights_only" not in err and "Traceback" not in err


def test_agent_weights_of_another_agent(tmp_path, ppo_agent):
    cube, _ = backtest([np.arange(30.0) + i for i in range(3)], [Naive()], 3, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        other = PPOAgent(total_timesteps=64, n_envs=4, batch_size=64, select_shrinkage=False, net_arch=[8]).fit(cube)
    ppo_agent.save(tmp_path / "agent")
    other.save(tmp_path / "other")
    (tmp_path / "agent.pt").write_bytes((tmp_path / "other.pt").read_bytes())
    with pytest.raises(FileFormatError, match="does not hold the policy .*agent.json describes"):
        load_agent(tmp_path / "agent")


def test_loaded_composer_with_unregistered_models(tmp_path):
    df = make_frame()
    fit(df, models=[MyNaive(season_length=4), "Naive"]).save(tmp_path / "comp")
    comp = Composer.load(tmp_path / "comp")
    assert len(comp.predict()) == 16  # it still predicts
    with pytest.raises(InputError, match=r"could not be rebuilt when it was loaded; register"):
        comp.fit(df)
    with pytest.raises(InputError, match=r"could not be rebuilt when it was loaded; register"):
        comp.cross_validation(df, 2)
    new = make_frame(n=44)
    with pytest.raises(InputError, match=r"could not be rebuilt when it was loaded; register"):
        comp.update(new[new["ds"] > 40])


def test_loaded_composer_keeps_the_inferred_season_length(tmp_path):
    df = make_frame(n=48)
    df["ds"] = np.tile(pd.date_range("2020-01-01", periods=48, freq="MS"), 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        comp = Composer(models=CHEAP, agent="equal", horizon=4).fit(df)
    comp.save(tmp_path / "comp")
    loaded = Composer.load(tmp_path / "comp")
    assert loaded.season_length == comp.season_length == loaded.cube_.season_length
    assert [m.season_length for m in loaded.pool] == [m.season_length for m in comp.pool]
    pd.testing.assert_frame_equal(loaded.predict(), comp.predict())


# --- files given to the command line -------------------------------------------------------------
def cli_file(tmp_path, name, *extra):
    """Run ``metacompose forecast`` on the file ``tmp_path / name`` with the cheap pool."""
    return main(["forecast", str(tmp_path / name), "-H", "4", "-m", "4", "--models", *CHEAP, "--agent", "equal",
                 "--out", str(tmp_path / "fc.csv"), "--no-progress", *extra])


def test_unsupported_file_type(tmp_path, capsys):
    (tmp_path / "d.xlsx").write_bytes(b"PK\x03\x04")
    assert cli_file(tmp_path, "d.xlsx") == 2
    assert capsys.readouterr().err.startswith("error: unsupported file type '.xlsx'")


def test_missing_input_file(tmp_path, capsys):
    assert cli_file(tmp_path, "nope.csv") == 2
    assert capsys.readouterr().err.startswith("error: no such file")


def test_unreadable_input_file(tmp_path, capsys):
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 4)
    assert cli_file(tmp_path, "bin.csv") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_parquet_input(tmp_path):
    make_frame().to_parquet(tmp_path / "d.parquet")
    assert cli_file(tmp_path, "d.parquet") == 0
    assert len(pd.read_csv(tmp_path / "fc.csv")) == 16


def test_file_with_other_column_names(tmp_path):
    make_frame().rename(columns={"ds": "date", "y": "sales"}).to_csv(tmp_path / "d.csv", index=False)
    assert cli_file(tmp_path, "d.csv", "--time-col", "date", "--target-col", "sales") == 0
    assert "date" in pd.read_csv(tmp_path / "fc.csv").columns


# --- interrupts ----------------------------------------------------------------------------------
def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_during_a_forecast(tmp_path, data_csv, monkeypatch, capsys):
    monkeypatch.setattr("metacompose.composer.backtest", interrupt)  # deep inside the work
    assert forecast(data_csv, "--out", str(tmp_path / "fc.csv")) == 130
    err = capsys.readouterr().err
    assert err.endswith("\ninterrupted; nothing was saved\n") and "Traceback" not in err
    assert all(line.startswith("metacompose: ") for line in err.splitlines()[:-1])  # only the progress lines before
    assert not (tmp_path / "fc.csv").exists()


def test_ctrl_c_during_run_names_the_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli_module, "run_m3", interrupt)
    cache = tmp_path / "cache"
    assert main(["run", "--out", str(tmp_path / "out"), "--cache", str(cache), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted; the backtest results finished so far are cached in") and str(cache) in err
    assert "Traceback" not in err


def test_ctrl_c_during_metaopt_names_the_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli_module, "metaopt_train", interrupt)
    args = ["metaopt", "train", "--m3", "other", "--out", str(tmp_path / "lo")]
    assert main(args) == 130
    assert capsys.readouterr().err == "interrupted; nothing was saved\n"
    (tmp_path / "lo-ckpt.json").write_text("{}")
    assert main(args) == 130
    err = capsys.readouterr().err
    assert "lo-ckpt.json" in err and "--resume" in err
