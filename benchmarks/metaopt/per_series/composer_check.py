"""Issue 4: the composer built on learned-optimizer-trained MLP vs Adam-trained MLP, M3 other, seed 0."""
import time, warnings
warnings.simplefilter("ignore")
from metacompose import Composer, load_m3
from metacompose.models import MLP, LSTM
from metacompose.evaluate import test_matrix, score
train, test, m, h = load_m3("other")
for label, opt in [("adam", "adam"), ("learned", "learned")]:
    t = time.time()
    pool = ["ARIMA", "ETS", "Theta", MLP(season_length=m, optimizer=opt), LSTM(season_length=m, optimizer=opt), "SeasonalNaive"]
    c = Composer(models=pool, horizon=h, season_length=m, n_jobs=2, cache_dir="/tmp/cache_other").fit(train)
    act = test_matrix(test, c.panel_.ids, h)
    mlp = score(c.cube_.forecasts[:, -1, 3], act, c.cube_.scales)
    lstm = score(c.cube_.forecasts[:, -1, 4], act, c.cube_.scales)
    comp = score(c.forecast_, act, c.cube_.scales)
    print(f"{label}: MLP sMAPE {mlp['sMAPE']:.3f} MASE {mlp['MASE']:.3f}; LSTM sMAPE {lstm['sMAPE']:.3f} MASE {lstm['MASE']:.3f}; "
          f"PPO composer sMAPE {comp['sMAPE']:.3f} MASE {comp['MASE']:.3f} (shrinkage {c.agent_.shrinkage_}); {time.time()-t:.0f} s", flush=True)
