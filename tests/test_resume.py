"""PPO training checkpoints periodically; a killed run resumes from its checkpoint."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from metacompose.agents import PPOAgent
from metacompose.errors import FileFormatError
from metacompose.synthetic import make_synthetic_cube

TOTAL = 300_000
SCRIPT = """
from metacompose.agents import PPOAgent
from metacompose.synthetic import make_synthetic_cube
PPOAgent(total_timesteps={total}, checkpoint_path={path!r}, checkpoint_freq=8192,
         select_shrinkage=False).fit(make_synthetic_cube(n_series=64, seed=0))
"""


def test_killed_training_resumes_from_its_checkpoint(tmp_path):
    path = str(tmp_path / "agent")
    ckpt = tmp_path / "agent.ckpt.json"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(total=TOTAL, path=path)])
    try:
        deadline = time.time() + 120
        while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert ckpt.exists(), "no checkpoint was written"
    finally:
        proc.kill()
        proc.wait()
    saved = json.loads(ckpt.read_text())["timesteps"]
    assert 0 < saved < TOTAL  # killed part-way through
    agent = PPOAgent(total_timesteps=TOTAL, checkpoint_path=path, checkpoint_freq=8192, select_shrinkage=False)
    agent.fit(make_synthetic_cube(n_series=64, seed=0))
    assert agent.resumed_from_ >= saved
    assert agent.timesteps_ >= TOTAL
    w = agent.weights(make_synthetic_cube(n_series=64, seed=0))
    np.testing.assert_allclose(w.sum(axis=2), 1.0, atol=1e-6)


def test_checkpoint_of_other_settings_is_refused(tmp_path):
    path = str(tmp_path / "agent")
    cube = make_synthetic_cube(n_series=16, seed=0)
    PPOAgent(total_timesteps=4096, checkpoint_path=path, checkpoint_freq=1024, select_shrinkage=False).fit(cube)
    with pytest.raises(FileFormatError, match="other PPO settings"):
        PPOAgent(total_timesteps=4096, learning_rate=1e-4, checkpoint_path=path, checkpoint_freq=1024,
                 select_shrinkage=False).fit(cube)
