"""Property test (hypothesis): composed forecasts are right at every magnitude from 1e-12 to 1e12 (issue 16).

Random valid panels (one to three series of random lengths; level, trend, season and noise
drawn at random; non-negative or signed) are put at a random magnitude ``a = 10**k``, ``k`` in
[-12, 12], and fitted by a cheap composer (statistical and naive members, equal weights), and
so is the panel times ``2**j`` (``j`` drawn so that it stays in that range). At both
magnitudes: the forecasts are finite, no member falls back (a silent failure would show as a
fallback in ``comp.report_``), and the composed forecast lies within the members' range at
every point. Between them every member's forecast, and the composed one, must scale exactly:
``forecast(2**j * panel) == 2**j * forecast(panel)``.

Why powers of two: multiplying by ``2**j`` is exact in floating point, so the statistical
members (fitted on the series divided by its mean absolute value) see bit-identical scaled
series and the float32 cube stores exactly scaled values; any difference is then a real
dependence on the magnitude. For other factors the scaled series differ in their last bit,
and ETS's optimiser and ARIMA's order search amplify one-ulp changes of the data, at any
magnitude: on random series like these by up to ~1e-2 (ETS; median ~1e-7) and, rarely, to
another ARIMA order; perturbing a series by one ulp without rescaling it does the same.
Those factors are checked on fixed series, where the result is deterministic:
``metacompose.testing.check_magnitudes`` and ``tests/test_input_magnitudes.py``.
"""

import warnings

import numpy as np
import pandas as pd
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from metacompose import Composer

MODELS = ["ARIMA", "ETS", "Theta", "SeasonalNaive", "Drift"]


@st.composite
def panels(draw):
    """``(frame at unit magnitude, h, m)``: a long frame of 1-3 well-behaved series."""
    m = draw(st.sampled_from([1, 4, 12]))
    h = draw(st.integers(1, 6))
    signed = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    parts = []
    for i in range(draw(st.integers(1, 3))):
        n = draw(st.integers(max(3 * m, 16) + h, 60))
        t = np.arange(n, dtype=np.float64)
        level = draw(st.floats(-50.0, 50.0)) if signed else draw(st.floats(20.0, 200.0))
        slope = draw(st.floats(-1.0, 1.0))
        amp = draw(st.floats(0.0, 10.0)) if m > 1 else 0.0
        noise = draw(st.floats(0.1, 3.0))
        y = level + slope * t + amp * np.sin(2 * np.pi * t / m + rng.uniform(0, 2 * np.pi)) + rng.normal(0, noise, n)
        if not signed:
            y = np.abs(y)  # non-negative: the composer's "auto" clipping at 0 applies
        parts.append(pd.DataFrame({"unique_id": f"s{i}", "ds": np.arange(n), "y": y}))
    return pd.concat(parts, ignore_index=True), h, m


def fit(df, h, m):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return Composer(models=MODELS, agent="equal", horizon=h, season_length=m, n_origins=3,
                        time_budget=None).fit(df)


def check_forecast(comp):
    """Finite forecasts, no fallback, the composed forecast within the members' range; returns the forecast frame."""
    assert comp.report_.n_fallbacks == 0, comp.report_.summary()
    out = comp.predict()
    members = out[MODELS].to_numpy()
    composed = out["composed"].to_numpy()
    assert np.all(np.isfinite(members)) and np.all(np.isfinite(composed))
    lo, hi = members.min(axis=1), members.max(axis=1)
    slack = 1e-5 * np.maximum(np.abs(lo), np.abs(hi))
    assert np.all(composed >= lo - slack) and np.all(composed <= hi + slack)
    return out


@st.composite
def magnitudes(draw):
    """``(a, j)``: a magnitude ``a = 10**k``, ``k`` in [-12, 12], and a power of two ``2**j`` such that
    ``a * 2**j`` lies in [1e-12, 1e12] too."""
    k = draw(st.floats(-12.0, 12.0))
    lo, hi = np.ceil((-12.0 - k) / np.log10(2.0)), np.floor((12.0 - k) / np.log10(2.0))
    return 10.0**k, draw(st.integers(int(lo), int(hi)))


# no shrinking (a failing panel of composer fits takes minutes to shrink; the example is printed as drawn);
# derandomized, so CI runs the same examples every time (150 random examples passed when this was written)
SETTINGS = settings(max_examples=12, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate])


@SETTINGS
@given(panels(), magnitudes())
def test_composed_forecast_is_right_at_every_magnitude(panel, magnitude):
    df, h, m = panel
    a, j = magnitude
    base = df.assign(y=df["y"] * a)
    out = check_forecast(fit(base, h, m))
    scaled = check_forecast(fit(base.assign(y=base["y"] * 2.0**j), h, m))
    for alias in MODELS + ["composed"]:
        np.testing.assert_allclose(
            scaled[alias].to_numpy() / 2.0**j, out[alias].to_numpy(), rtol=1e-12, atol=0,
            err_msg=f"{alias}: the forecast of 2**{j} x the panel (at {a:.1e}) is not 2**{j} x its forecast")
