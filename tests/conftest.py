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


def replace_npz_arrays(path, **arrays):
    """Rewrite the ``.npz`` file at ``path`` with ``arrays`` replacing those of the same name."""
    with np.load(path) as z:
        kept = {k: z[k] for k in z.files}
    np.savez(path, **{**kept, **arrays})


@pytest.fixture
def saved_cube(tmp_path):
    """A small cube saved as ``tmp_path / "c"`` (``.json`` + ``.npz``); returns that base path."""
    from metacompose.backtest import backtest
    from metacompose.models import Naive

    cube, _ = backtest([np.arange(30.0) + i for i in range(3)], [Naive()], 3, 1)
    cube.save(tmp_path / "c")
    return tmp_path / "c"
