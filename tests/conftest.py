import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def make_frame(n_series=4, n=40, m=4, seed=0, start=1):
    """Long frame of positive seasonal series with integer timestamps."""
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n_series):
        t = np.arange(n)
        y = 100 + (i + 1) * t * 0.5 + 10 * np.sin(2 * np.pi * t / m) + rng.normal(0, 1, n)
        parts.append(pd.DataFrame({"unique_id": f"s{i}", "ds": np.arange(start, start + n), "y": y}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def frame():
    return make_frame()
