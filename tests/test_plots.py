"""Plots (files are valid PNGs with the expected content), progress bars, and `metacompose forecast FILE`."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")  # the `test` extra installs it; this only guards a bare install

from matplotlib.image import imread  # noqa: E402

from metacompose import Composer, InputError, NotFittedError  # noqa: E402
from metacompose.cli import main  # noqa: E402
from metacompose.plot_style import (  # noqa: E402
    COMPOSED_COLOR, MODEL_COLORS, OBSERVED_COLOR, OTHER_COLORS, finish_forecast_axes, format_value_axis, model_color,
)
from metacompose.plots import (  # noqa: E402
    composer_forecast_figure, plot_forecast, plot_weights_by_origin, plot_weights_by_series, safe_name, save_figure,
    write_composer_plots,
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


def test_loaded_composer_plots_with_integer_time_stamps(comp, tmp_path):
    comp.save(tmp_path / "c")
    paths = write_composer_plots(Composer.load(tmp_path / "c"), tmp_path / "p", max_series=1)
    assert len(paths) == 3 and all(p.exists() for p in paths)
    ax = composer_forecast_figure(Composer.load(tmp_path / "c"), 1).axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(17, 41))  # make_frame: ds 1..40, last 24 shown
    np.testing.assert_array_equal(ax.lines[-1].get_xdata(), np.arange(41, 45))
    with pytest.raises(NotFittedError):
        write_composer_plots(Composer(models=CHEAP, horizon=2), tmp_path)
    with pytest.raises(InputError, match="out of range"):
        composer_forecast_figure(comp, 9)


# --- the look: colours, legends, axes -----------------------------------------------------------------
def _colors_of(fig):
    return {ln.get_label(): ln.get_color() for ln in fig.axes[0].lines}


def test_a_models_colour_depends_only_on_its_alias():
    pool = {"ETS": np.ones(3), "my-model": np.zeros(3), "Naive": np.full(3, 2.0), "Custom2": np.full(3, 3.0)}
    a = _colors_of(plot_forecast(np.arange(10.0), pool, composed=np.ones(3)))
    b = _colors_of(plot_forecast(None, dict(reversed(list(pool.items()))), composed=np.ones(3)))
    c = _colors_of(plot_forecast(None, {"my-model": np.zeros(3)}))
    assert {k: a[k] for k in pool} == {k: b[k] for k in pool}
    assert c["my-model"] == a["my-model"] == model_color("my-model")
    assert a["ETS"] == MODEL_COLORS["ETS"] and a["Naive"] == MODEL_COLORS["Naive"]
    assert model_color("my-model") in OTHER_COLORS
    ws = plot_weights_by_origin(np.full((3, 2), 0.5), ["Naive", "ETS"]).axes[0].lines
    assert [ln.get_color() for ln in ws] == [MODEL_COLORS["Naive"], MODEL_COLORS["ETS"]]


def test_model_colours_are_the_same_in_another_process():
    import os
    import subprocess
    import sys
    from pathlib import Path

    import metacompose.plot_style as style

    aliases = ["ETS", "my-model", "zz", "Custom2", "Prophet"]
    code = ("import importlib.util as u, sys; s = u.spec_from_file_location('ps', sys.argv[1]); "
            "m = u.module_from_spec(s); s.loader.exec_module(m); print([m.model_color(a) for a in sys.argv[2:]])")
    out = subprocess.run([sys.executable, "-c", code, str(Path(style.__file__)), *aliases], capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout.strip()
    assert out == str([model_color(a) for a in aliases])
    # pinned: a change of palette or hash shows up here (and changes every user's plots)
    assert [model_color(a) for a in aliases] == ["#ff7f0e", "#393b79", "#8ca252", "#637939", "#756bb1"]


def test_the_composed_line_has_a_colour_no_member_gets_and_is_on_top():
    aliases = list(MODEL_COLORS) + [f"custom{i}" for i in range(40)]
    members = {model_color(a) for a in aliases}
    assert COMPOSED_COLOR not in members and OBSERVED_COLOR not in members
    fig = plot_forecast(np.arange(10.0), {a: np.ones(3) for a in aliases[:12]}, composed=np.ones(3))
    lines = {ln.get_label(): ln for ln in fig.axes[0].lines}
    composed = lines.pop("composed")
    assert composed.get_color() == COMPOSED_COLOR
    for label, ln in lines.items():
        assert ln.get_color() != composed.get_color()
        assert ln.get_linewidth() < composed.get_linewidth() and ln.get_zorder() < composed.get_zorder()


def test_the_legend_is_outside_the_data_area():
    many = {a: np.linspace(0, 1, 6) + k for k, a in enumerate(MODEL_COLORS)}
    fig = plot_forecast(np.arange(40.0), many, composed=np.ones(6),
                        intervals={80: (np.zeros(6), np.full(6, 2.0)), 95: (np.zeros(6) - 1, np.full(6, 3.0))})
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None and len(legend.get_texts()) == 1 + len(many) + 2 + 1
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    box = legend.get_window_extent(renderer)
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1  # and it is inside the figure


def test_a_nearly_flat_series_has_no_offset_and_is_not_blown_up():
    rng = np.random.default_rng(0)
    y = 1000.0001 + rng.uniform(-1e-4, 1e-4, 50)
    fig = plot_forecast(y, {"Naive": np.full(5, y[-1])}, composed=np.full(5, 1000.0001))
    fig.draw(fig.canvas.get_renderer())
    ax = fig.axes[0]
    assert ax.yaxis.get_offset_text().get_text() == ""
    lo, hi = ax.get_ylim()
    assert hi - lo >= 0.01 * 1000 * 0.99 and lo < 1000 < hi  # the wiggles of 1e-4 stay small
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels and all(len(t) <= 7 for t in labels)  # e.g. "1000.0", not "1000.00010"
    format_value_axis(ax, min_rel_span=0.0)  # even when the wiggles fill the axes: plain numbers, no offset
    fig.draw(fig.canvas.get_renderer())
    assert ax.get_ylim()[1] - ax.get_ylim()[0] < 1e-3 and ax.yaxis.get_offset_text().get_text() == ""
    big = plot_forecast(np.linspace(20000, 40000, 50), {"Naive": np.full(5, 40000.0)})
    big.draw(big.canvas.get_renderer())
    assert big.axes[0].yaxis.get_offset_text().get_text() == ""
    lo, hi = big.axes[0].get_ylim()
    assert hi - lo < 30000  # a series that moves keeps matplotlib's own range


@pytest.mark.parametrize("freq, periods, h, words", [
    ("MS", 60, 12, {"Jan", "Apr", "Jul", "Oct", "2019", "2020", "2021", "2022", "2023", "2024"}),
    ("D", 90, 14, {"Feb", "Mar", "Apr", "May", "15"}),
    ("D", 20, 7, {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}),
    ("30min", 14 * 48, 96, {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}),
    ("30min", 2 * 48, 48, {"00:00", "06:00", "12:00", "18:00"}),
])
def test_datetime_axes_have_concise_date_labels(freq, periods, h, words):
    from matplotlib.dates import ConciseDateFormatter

    ds = pd.date_range("2020-01-03", periods=periods + h, freq=freq)
    fig = plot_forecast(np.sin(np.arange(periods)) + 10, {"Naive": np.full(h, 10.0)}, composed=np.full(h, 10.0),
                        ds_history=ds[:periods], ds_future=ds[periods:], history=periods)
    fig.draw(fig.canvas.get_renderer())
    ax = fig.axes[0]
    assert isinstance(ax.xaxis.get_major_formatter(), ConciseDateFormatter)
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert 3 <= len(labels) <= 12 and all(a != b for a, b in zip(labels, labels[1:])), labels
    assert any(any(w in lab for w in words) for lab in labels), labels
    numbers = [float(lab) for lab in labels if lab.replace(".", "").replace("-", "").isdigit()]
    assert all(1 <= x <= 31 or 1900 <= x <= 2100 for x in numbers), labels  # days, years; never matplotlib's
    assert ax.xaxis.get_offset_text().get_text() == "" or "2020" in ax.xaxis.get_offset_text().get_text()  # day numbers


def test_time_zone_aware_stamps_are_drawn_in_local_wall_clock_time():
    ds = pd.date_range("2000-06-05 00:00", periods=50, freq="30min", tz="Europe/London")
    ax = plot_forecast(np.arange(48.0), {"Naive": np.ones(2)}, ds_history=ds[:48], ds_future=list(ds[48:]),
                       history=48).axes[0]
    assert pd.Timestamp(ax.lines[0].get_xdata()[0]) == pd.Timestamp("2000-06-05 00:00")
    assert pd.Timestamp(ax.lines[-1].get_xdata()[-1]) == pd.Timestamp("2000-06-06 00:30")


def test_integer_time_stamps_get_integer_ticks_without_offset():
    fig = plot_forecast(np.arange(30.0), {"Naive": np.ones(4)}, ds_history=np.arange(100001, 100031),
                        ds_future=np.arange(100031, 100035), history=30)
    fig.draw(fig.canvas.get_renderer())
    ax = fig.axes[0]
    assert ax.xaxis.get_offset_text().get_text() == ""
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(lab.isdigit() and 99990 <= int(lab) <= 100040 for lab in labels), labels
    with pytest.raises(InputError, match="one kind"):
        plot_forecast(np.arange(3.0), {"Naive": np.ones(2)}, ds_history=pd.date_range("2020", periods=3),
                      ds_future=[4, 5])
    with pytest.raises(InputError, match="time stamps"):
        plot_forecast(np.arange(3.0), {"Naive": np.ones(2)}, ds_history=np.arange(2))


def test_extra_artists_join_the_legend_and_the_y_range():
    fig = plot_forecast(np.full(30, 5.0), {"Naive": np.full(4, 5.0)})
    ax = fig.axes[0]
    ax.plot(np.arange(30, 34), [5, 9, 1, 5], "o", label="test part")
    finish_forecast_axes(ax)
    lo, hi = ax.get_ylim()
    assert lo <= 1 and hi >= 9
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "test part"


def test_loaded_composer_plots_show_real_dates_and_history(tmp_path):
    df = make_frame(n_series=2, n=36)
    df["ds"] = np.tile(pd.date_range("2015-01-01", periods=36, freq="MS"), 2)
    fitted = Composer(models=CHEAP, agent="equal", horizon=6, season_length=4).fit(df)
    fitted.save(tmp_path / "c")
    loaded = Composer.load(tmp_path / "c")
    ax = composer_forecast_figure(loaded, 1, level=80, history=36).axes[0]
    observed, composed = ax.lines[0], ax.lines[-1]
    assert observed.get_label() == "observed" and composed.get_label() == "composed"
    np.testing.assert_array_equal(pd.DatetimeIndex(observed.get_xdata()), pd.date_range("2015-01-01", periods=36,
                                                                                       freq="MS"))
    np.testing.assert_allclose(observed.get_ydata(), df["y"].to_numpy()[36:])
    np.testing.assert_array_equal(pd.DatetimeIndex(composed.get_xdata()), pd.date_range("2018-01-01", periods=6,
                                                                                       freq="MS"))
    np.testing.assert_allclose(composed.get_ydata(), fitted.predict()["composed"].to_numpy()[6:])
    assert len(ax.collections) == 1  # the 80% fan
    paths = write_composer_plots(loaded, tmp_path / "p", max_series=2, level=[80, 95])
    assert [p.name for p in paths][:2] == ["forecast_0_s0.png", "forecast_1_s1.png"]
    for p in paths:
        assert_png(p)


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
    assert "series/s" not in captured.err and "it/s" not in captured.err  # no progress bar when not a terminal
    assert "metacompose: " in captured.err and "backtest: done in" in captured.err  # but log lines


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
