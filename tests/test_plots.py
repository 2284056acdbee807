"""Plots (files are valid PNGs with the expected content), progress bars, and `metacompose forecast FILE`."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")  # the `test` extra installs it; this only guards a bare install

from matplotlib.image import imread  # noqa: E402

from metacompose import Composer, InputError, NotFittedError  # noqa: E402
from metacompose.cli import main  # noqa: E402
from metacompose.plots import (  # noqa: E402
    plot_forecast, plot_weights_by_origin, plot_weights_by_series, safe_name, save_figure, write_composer_plots,
)
from tests.conftest import make_frame  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
CHEAP = ["Naive", "SeasonalNaive"]


def assert_png(path):
    assert path.exists() and path.read_bytes()[:8] == PNG
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert np.unique(img.reshape(-1, img.shape[2]), axis=0).shape[0] > 10  # not a blank image


@pytest.fixture(scope="module")
def comp():
    return Composer(models=CHEAP, agent="best", horizon=4, season_length=4).fit(make_frame())


def test_forecast_plot_has_history_each_model_and_the_composed_line(tmp_path):
    fig = plot_forecast(np.arange(30.0), {"A": np.ones(5), "B": np.zeros(5), "C": np.full(5, 2.0)},
                        composed=np.full(5, 1.5), title="s0")
    ax = fig.axes[0]
    assert len(ax.lines) == 1 + 3 + 1
    assert [ln.get_label() for ln in ax.lines] == ["observed", "A", "B", "C", "composed"]
    assert len(ax.lines[0].get_xdata()) == 24  # last max(4 H, 24) observations
    np.testing.assert_array_equal(ax.lines[-1].get_xdata(), np.arange(30, 35))
    assert ax.get_title() == "s0"
    assert_png(save_figure(fig, tmp_path / "f.png"))


def test_forecast_plot_without_history_and_bad_input():
    assert len(plot_forecast(None, {"A": np.ones(3)}).axes[0].lines) == 1
    with pytest.raises(InputError, match="same horizon"):
        plot_forecast(None, {"A": np.ones(3), "B": np.ones(4)})
    with pytest.raises(InputError, match="at least one forecast"):
        plot_forecast(np.ones(3), {})


def test_weights_heatmap_has_one_cell_per_series_and_model(tmp_path):
    w = np.random.default_rng(0).dirichlet(np.ones(3), size=7)
    fig = plot_weights_by_series(w, [f"s{i}" for i in range(7)], ["A", "B", "C"])
    img = fig.axes[0].images[0]
    np.testing.assert_allclose(img.get_array(), w)
    assert img.get_clim() == (0.0, 1.0)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["A", "B", "C"]
    assert_png(save_figure(fig, tmp_path / "w.png"))
    with pytest.raises(InputError, match="must have shape"):
        plot_weights_by_series(w, ["s0"], ["A", "B", "C"])


def test_weights_across_origins_has_one_line_per_model(tmp_path):
    w = np.random.default_rng(1).dirichlet(np.ones(2), size=(5, 4))  # (S, O, M)
    valid = np.ones((5, 4), dtype=bool)
    valid[0, 0] = False
    fig = plot_weights_by_origin(w, ["A", "B"], valid)
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and all(len(ln.get_xdata()) == 4 for ln in ax.lines)
    np.testing.assert_allclose(ax.lines[0].get_ydata()[0], w[1:, 0, 0].mean())
    np.testing.assert_allclose(ax.lines[0].get_ydata()[1:], w[:, 1:, 0].mean(axis=0))
    assert ax.get_xticklabels()[-1].get_text() == "final"
    assert len(plot_weights_by_origin(w[0], ["A", "B"]).axes[0].lines) == 2  # one series (O, M)
    assert_png(save_figure(fig, tmp_path / "o.png"))


def test_composer_plots_are_written(comp, tmp_path):
    paths = write_composer_plots(comp, tmp_path / "plots", max_series=2, prefix="x_")
    assert [p.name for p in paths] == ["x_forecast_0_s0.png", "x_forecast_1_s1.png", "x_weights_by_series.png",
                                       "x_weights_by_origin.png"]
    for p in paths:
        assert_png(p)


def test_loaded_composer_plots_without_history(comp, tmp_path):
    comp.save(tmp_path / "c")
    paths = write_composer_plots(Composer.load(tmp_path / "c"), tmp_path / "p", max_series=1)
    assert len(paths) == 3 and all(p.exists() for p in paths)
    with pytest.raises(NotFittedError):
        write_composer_plots(Composer(models=CHEAP, horizon=2), tmp_path)


def test_safe_file_names():
    assert safe_name("série/é 1") == "s_rie_1" and safe_name("🚀") == "series" and len(safe_name("x" * 99)) == 40


# --- the command line ---------------------------------------------------------------------------
def forecast(tmp_path, *extra):
    return main(["forecast", str(tmp_path / "data.csv"), "--horizon", "4", "-m", "4", "--models", *CHEAP,
                 "--out", str(tmp_path / "fc.csv"), *extra])


@pytest.fixture
def data_csv(tmp_path):
    df = make_frame(n_series=3)
    df["ds"] = np.tile(pd.date_range("2021-01-04", periods=40, freq="W-MON"), 3)
    df.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path


def test_cli_forecast_writes_forecasts_weights_and_plots(data_csv, capsys):
    assert forecast(data_csv, "--agent", "inverse_error", "--plots", str(data_csv / "plots")) == 0
    out = pd.read_csv(data_csv / "fc.csv", parse_dates=["ds"])
    assert list(out.columns) == ["unique_id", "ds", "Naive", "SeasonalNaive", "composed", "weight_Naive",
                                 "weight_SeasonalNaive"]
    assert len(out) == 12 and out["ds"].iloc[0] == pd.Timestamp("2021-10-11")
    np.testing.assert_allclose(out["weight_Naive"] + out["weight_SeasonalNaive"], 1.0)
    names = sorted(p.name for p in (data_csv / "plots").iterdir())
    assert names == ["forecast_0_s0.png", "forecast_1_s1.png", "forecast_2_s2.png", "weights_by_origin.png",
                     "weights_by_series.png"]
    for n in names:
        assert_png(data_csv / "plots" / n)
    captured = capsys.readouterr()
    assert "wrote 5 plots" in captured.out
    assert "backtest:" not in captured.err and "it/s" not in captured.err  # no progress bar when not a terminal


def test_cli_progress_bar_when_asked(data_csv, capsys):
    assert forecast(data_csv, "--agent", "equal", "--progress") == 0
    assert "backtest: 100%" in capsys.readouterr().err


def test_ppo_training_progress_bar(capsys):
    from metacompose.agents import PPOAgent
    from metacompose.backtest import backtest
    from metacompose.agents.callbacks import ppo_progress_callback
    from metacompose.models import Naive, SeasonalNaive

    cube, _ = backtest([np.arange(40.0) + 5 * np.sin(np.arange(40.0)) + i for i in range(3)],
                       [Naive(), SeasonalNaive(season_length=4)], 3, 4)
    PPOAgent(total_timesteps=64, n_steps=32, batch_size=16, n_epochs=1, net_arch=[8],
             callback=ppo_progress_callback(disable=False)).fit(cube)
    assert "PPO: 100%" in capsys.readouterr().err
    PPOAgent(total_timesteps=64, n_steps=32, batch_size=16, n_epochs=1, net_arch=[8],
             callback=ppo_progress_callback(disable=None)).fit(cube)
    assert "PPO" not in capsys.readouterr().err  # hidden when stderr is not a terminal


def test_cli_forecast_with_a_saved_agent(data_csv, capsys):
    df = make_frame(n_series=3)
    comp = Composer(models=CHEAP, agent="best", horizon=4, season_length=4).fit(df)
    comp.agent_.save(data_csv / "agent")
    comp.save(data_csv / "composer")
    assert main(["forecast", str(data_csv / "data.csv"), "-H", "4", "-m", "4", "--agent", str(data_csv / "agent"),
                 "--out", str(data_csv / "a.csv")]) == 0  # the pool comes from the saved agent
    assert main(["forecast", str(data_csv / "data.csv"), "-H", "4", "--agent", str(data_csv / "composer"),
                 "--out", str(data_csv / "b.csv")]) == 0  # pool and m from the saved composer
    a, b = pd.read_csv(data_csv / "a.csv"), pd.read_csv(data_csv / "b.csv")
    pd.testing.assert_frame_equal(a, b)
    assert "weight_SeasonalNaive" in a.columns
    assert main(["forecast", str(data_csv / "data.csv"), "-H", "4", "--agent", str(data_csv / "agent"),
                 "--models", "Naive"]) == 2
    assert "trained on the pool" in capsys.readouterr().err
    assert main(["forecast", str(data_csv / "data.csv"), "-H", "4", "--agent", str(data_csv / "nothing.json")]) == 2
    assert "no saved agent there" in capsys.readouterr().err


def test_cli_run_writes_plots_for_m3(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--subset", "other", "--max-series", "3", "--models", *CHEAP, "--agent", "equal",
                 "--n-jobs", "1", "--out", str(out), "--plots"]) == 0
    names = sorted(p.name for p in (out / "plots").iterdir())
    assert names == ["other_forecast_0_N2830.png", "other_forecast_1_N2831.png", "other_forecast_2_N2832.png",
                     "other_weights_by_origin.png", "other_weights_by_series.png"]
    assert_png(out / "plots" / names[0])
    assert "wrote 5 plots" in capsys.readouterr().out
