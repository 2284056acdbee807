"""Run a model fit with a time limit, in a worker thread.

Why a thread: ``signal.alarm`` works only in the main thread of the main interpreter, and the
backtest runs fits inside joblib/Dask workers (often not the main thread) and on platforms
without SIGALRM; a process per fit would pay a process start (and pickling of the model and
the series) for every one of tens of thousands of fits. A thread costs microseconds. The
waiting side gives up after the limit, and the abandoned thread gets an asynchronous
``TimeoutError`` (``PyThreadState_SetAsyncExc``), which stops a fit stuck in Python code; a
fit stuck inside C code runs on in the background until it returns, and its result is
discarded. Either way the run goes on, with the model's fallback for that series and origin.
"""

from __future__ import annotations

import contextvars
import ctypes
import threading


def _interrupt(thread: threading.Thread) -> None:
    """Best effort: raise ``TimeoutError`` inside an abandoned fit thread (takes effect in Python code only)."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(TimeoutError))


def run_with_timeout(fn, timeout: float | None):
    """Call ``fn()``; with a ``timeout`` (seconds), in a daemon thread, giving up after ``timeout``.

    Args:
        fn: a function of no arguments.
        timeout: seconds to wait (None: call ``fn`` directly, no thread).

    Returns:
        what ``fn`` returns.

    Raises:
        TimeoutError: ``fn`` did not finish in time (its thread is abandoned, see above).
        Exception: whatever ``fn`` raised.
    """
    if timeout is None:
        return fn()
    box: dict = {}
    context = contextvars.copy_context()  # the caller's context variables (e.g. a training budget) hold in the thread

    def target():
        try:
            box["value"] = context.run(fn)
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="metacompose-fit", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        _interrupt(worker)
        raise TimeoutError(f"did not finish within the time limit of {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]
