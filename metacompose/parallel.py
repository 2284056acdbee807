"""Where the backtest's tasks run: joblib on local processes or a cluster."""

from __future__ import annotations

from joblib import Parallel, parallel_config
from joblib.parallel import BACKENDS, EXTERNAL_BACKENDS

from metacompose.errors import InputError


def parallel(n_jobs: int, backend: str | None) -> Parallel:
    """A joblib ``Parallel`` that yields results in task order, on ``backend``.

    Args:
        n_jobs: workers (-1: all cores). With a backend, 1 means all the cluster's workers (-1).
        backend: None (joblib's default: local processes), ``"dask"`` (the cluster of the
            current ``distributed.Client``), ``"ray"`` (the current Ray cluster) or any other
            registered joblib backend.

    Returns:
        a ``Parallel`` with ``return_as="generator"``.

    Raises:
        InputError: ``backend`` is not a registered joblib backend, or is ``"dask"``/``"ray"``
            without that package installed.
    """
    if backend is None:
        return Parallel(n_jobs=n_jobs, return_as="generator")
    if backend == "ray" and "ray" not in BACKENDS:
        try:  # optional dependency: imported only when asked for
            from ray.util.joblib import register_ray
        except ImportError:
            raise InputError("backend='ray' needs Ray: pip install 'ray[default]'") from None
        register_ray()
    if backend == "dask" and "dask" not in BACKENDS:
        try:  # optional dependency; importing it lets joblib register its dask backend lazily
            import distributed  # noqa: F401
        except ImportError:
            raise InputError("backend='dask' needs Dask: pip install 'metacompose[distributed]'") from None
    if backend not in BACKENDS and backend not in EXTERNAL_BACKENDS:
        raise InputError(f"unknown joblib backend {backend!r}; known: {', '.join(sorted(BACKENDS))}, dask, ray")
    with parallel_config(backend=backend):  # the Parallel keeps the backend built by joblib's own switch
        return Parallel(n_jobs=-1 if n_jobs == 1 else n_jobs, return_as="generator")
