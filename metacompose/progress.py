"""What a run tells while it works: the ``metacompose`` logger and the backtest's progress in series.

Every stage logs one line to the ``metacompose`` logger (standard :mod:`logging`; the library adds
no handler, so a script decides where the lines go, e.g. ``logging.basicConfig(level="INFO")``;
the command line sends them to stderr with :func:`log_to_stderr`). Progress bars (tqdm) are for
terminals; the log lines are for everything else — files, CI logs, notebooks — so a long run is
never silent.
"""

from __future__ import annotations

import logging
import sys
import time

from tqdm.auto import tqdm

LOGGER = logging.getLogger("metacompose")
LOG_EVERY = 10.0
"""Seconds between two backtest progress lines in the log."""

__all__ = ["LOGGER", "LOG_EVERY", "SeriesProgress", "log_to_stderr"]


def log_to_stderr(level: int = logging.INFO) -> logging.Handler:
    """Send the ``metacompose`` logger's lines to stderr as ``metacompose: <time> <message>``.

    Args:
        level: the lowest level shown.

    Returns:
        the handler (remove it with ``LOGGER.removeHandler``); calling again replaces it.
    """
    for old in [h for h in LOGGER.handlers if getattr(h, "_metacompose_cli", False)]:
        LOGGER.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("metacompose: %(asctime)s %(message)s", datefmt="%H:%M:%S"))
    handler._metacompose_cli = True
    LOGGER.addHandler(handler)
    LOGGER.setLevel(level)
    return handler


class SeriesProgress:
    """The backtest's progress counted in series, on a tqdm bar and in the log.

    Each series counts 1 when every model has forecast it at every origin: a chunk of ``s``
    series adds ``s`` times the per-series models' share of the pool, a panel fit on ``r`` series
    at one origin adds ``r / O`` times one panel model's share. Cached work counts as done
    from the start.

    Args:
        plan: the :class:`~metacompose.backtest_plan.BacktestPlan`; tasks: the tasks to run,
            ``("chunk", c)`` or ``("panel", j, k, rows)``; progress: True, False or None
            (a bar only when stderr is a terminal).
    """

    def __init__(self, plan, tasks: list, progress: bool | None) -> None:
        S, O, M = plan.shape
        self.plan, self.n_series, self.n_origins = plan, S, O
        self.local_share, self.panel_share = len(plan.local) / M, 1.0 / M
        self.done = float(S) - sum(self._size(t) for t in tasks)
        self.start = self.last = time.perf_counter()
        self.bar = None if progress is False else tqdm(
            total=S, initial=self.done, disable=None if progress is None else False, desc="backtest", unit="series",
            bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} series [{elapsed}<{remaining}]")
        cached = "; all cached" if not tasks else (f"; {self.done:.0f} series cached" if self.done >= 0.5 else "")
        LOGGER.info("backtest: %d series x %d origins, %d models (%s)%s", S, O, M, ", ".join(plan.aliases), cached)

    def _size(self, task: tuple) -> float:
        """The series one task completes."""
        if task[0] == "chunk":
            return len(self.plan.chunks[task[1]]) * self.local_share
        return len(task[3]) / self.n_origins * self.panel_share

    def advance(self, task: tuple) -> None:
        """Count a finished task; log a progress line when the last one is ``LOG_EVERY`` seconds old."""
        step = self._size(task)
        self.done += step
        if self.bar is not None:
            self.bar.update(step)
        now = time.perf_counter()
        if now - self.last >= LOG_EVERY and (self.bar is None or self.bar.disable):  # a visible bar says it already
            self.last = now
            LOGGER.info("backtest: %.0f%% done (%.1f of %d series), %.0f s", 100.0 * self.done / max(1, self.n_series),
                        self.done, self.n_series, now - self.start)

    def panel_done(self, task: tuple, seconds: float, cut: tuple | None) -> None:
        """Log one panel fit: model, origin, series, seconds, and whether its training was cut short."""
        _, j, k, rows = task
        note = f"; training cut short after {cut[0]} of {cut[1]} steps (time budget)" if cut is not None else ""
        LOGGER.info("backtest: %s fitted on %d series at origin %d of %d in %.1f s%s", self.plan.models[j].alias,
                    len(rows), k + 1, self.n_origins, seconds, note)

    def close(self, seconds: dict) -> None:
        """Close the bar and log the end, with the seconds per model (``seconds``: alias or stage -> s)."""
        if self.bar is not None:
            self.bar.close()
        per_model = ", ".join(f"{k.removeprefix('panel:')} {v:.1f} s" for k, v in seconds.items()
                              if k != "per-series models")
        LOGGER.info("backtest: done in %.1f s%s", time.perf_counter() - self.start,
                    f" (compute per model: {per_model})" if per_model else "")
