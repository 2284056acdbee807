"""Time budgets: a per-series member too slow for the data is dropped before the backtest, a panel
member's training is cut short, and the run says so (metacompose/budget.py)."""

import time
import warnings

import numpy as np
import pytest
import torch

from metacompose import Composer
from metacompose.backtest import backtest
from metacompose.budget import BASE_SECONDS, SECONDS_PER_FIT, member_budget, plan_budget
from metacompose.errors import InputError
from metacompose.models import MLP, Forecaster, Naive, SeasonalNaive
from metacompose.models.training import train_network, training_budget
from tests.conftest import make_frame


class Slow(Forecaster):
    """Naive, after burning ``burn`` CPU seconds per fit (CPU, not sleep: the budget counts CPU time)."""

    alias = "Slow"

    def __init__(self, season_length: int = 1, alias: str | None = None, burn: float = 0.05) -> None:
        super().__init__(season_length, alias)
        self.burn = burn

    def _fit(self, y):
        t0 = time.thread_time()
        while time.thread_time() - t0 < self.burn:
            pass
        self._last = float(y[-1])

    def _predict(self, h):
        return np.full(h, self._last)


def test_auto_budget_grows_with_series_and_origins():
    assert member_budget(1, 6) == pytest.approx(BASE_SECONDS + SECONDS_PER_FIT * 6)
    assert member_budget(1000, 6) - member_budget(100, 6) == pytest.approx(SECONDS_PER_FIT * 900 * 6)
    assert member_budget(10, 6, 3.5) == 3.5


def test_a_member_over_its_budget_is_dropped_and_a_cheap_one_kept():
    ys = [np.arange(40.0) + i for i in range(10)]
    plan = plan_budget([Slow(burn=0.05), Naive(), MLP(horizon=3, steps=2)], ys, 3, 6, time_budget=1.0)
    assert [m.alias for m in plan.kept] == ["Naive", "MLP"]  # 0.05 s x 10 series x 6 origins = 3 s > 1 s
    assert "Slow" in plan.dropped and "over its budget of 1" in plan.dropped["Slow"]
    assert plan.estimates["Slow"] == pytest.approx(3.0, rel=0.5)
    assert plan.panel_seconds == pytest.approx(1.0 / 6)
    kept = plan_budget([Slow(burn=0.05), Naive()], ys, 3, 6, time_budget=1.0, can_drop=False)
    assert [m.alias for m in kept.kept] == ["Slow", "Naive"] and not kept.dropped


def test_the_cheapest_member_stays_when_all_are_over_budget():
    ys = [np.arange(40.0)] * 4
    plan = plan_budget([Slow(burn=0.05), Slow(burn=0.01, alias="Faster")], ys, 3, 6, time_budget=0.01)
    assert [m.alias for m in plan.kept] == ["Faster"] and list(plan.dropped) == ["Slow"]


def test_training_is_cut_short_at_its_cpu_limit_and_keeps_what_it_learned():
    torch.manual_seed(0)
    net = torch.nn.Linear(8, 2)
    X, Y = torch.randn(64, 8), torch.randn(64, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    with training_budget(0.05) as budget:
        history = train_network(net, X, Y, opt, steps=10**6, batch_size=16)
    assert 1 <= len(history) < 10**6
    assert budget.cut == [(len(history), 10**6)]
    with training_budget(None) as none:
        assert none is None and len(train_network(net, X, Y, opt, steps=5, batch_size=16)) == 5


def test_composer_drops_members_too_slow_for_the_data_and_says_so():
    df = make_frame(n_series=3, n=40, m=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comp = Composer(models=[Slow(season_length=4, burn=0.05), Naive(), SeasonalNaive(season_length=4),
                                MLP(season_length=4, horizon=4, steps=10**6), MLP(season_length=4, horizon=4, steps=3,
                                                                                  alias="SmallMLP")],
                        agent="equal", horizon=4, season_length=4, time_budget=0.6).fit(df)
    assert comp.models == ["Naive", "SeasonalNaive", "SmallMLP"]
    assert set(comp.dropped_) == {"Slow", "MLP"} and set(comp.decision_.dropped) == {"Slow", "MLP"}
    assert "over twice its budget" in comp.dropped_["MLP"]
    assert "members dropped: Slow: estimated" in comp.decision_.summary()
    assert np.all(np.isfinite(comp.predict()["SmallMLP"]))


def test_backtest_cuts_panel_training_short_and_reports_it():
    ys = [np.sin(np.arange(40.0)) + 5 + i for i in range(3)]
    cube, report = backtest(ys, [MLP(horizon=4, steps=10**6), Naive()], 4, 1, n_origins=2, train_seconds=0.05)
    cuts = report.cut_short["MLP"]
    assert [k for k, _, _ in cuts] == [0, 1, 2] and all(done < asked == 10**6 for _, done, asked in cuts)
    assert "training cut short by the time budget: MLP at 3 origin(s)" in report.summary()
    assert np.all(np.isfinite(cube.forecasts[:, :, 0]))
    _, uncut = backtest(ys, [MLP(horizon=4, steps=3)], 4, 1, n_origins=2, train_seconds=30.0)
    assert uncut.cut_short == {}


def test_no_budget_keeps_every_member():
    df = make_frame(n_series=2, n=30, m=4)
    comp = Composer(models=[Slow(season_length=4, burn=0.002), Naive()], agent="equal", horizon=4, season_length=4,
                    time_budget=None).fit(df)
    assert comp.models == ["Slow", "Naive"] and comp.dropped_ == {} and comp.report_.cut_short == {}


@pytest.mark.parametrize("bad", [0, -1, "fast", float("nan")])
def test_bad_time_budget(bad):
    with pytest.raises(InputError, match="time_budget"):
        Composer(models=["Naive"], horizon=2, time_budget=bad)
