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
            current ``distributed.Client``) or the name of any backend registered with joblib
            (its own ``"loky"``, ``"threading"``, ...; one registered with
            ``joblib.register_parallel_backend``, e.g. ``"ray"`` after
            ``ray.util.joblib.register_ray()``, which this package does not call).

    Returns:
        a ``Parallel`` with ``return_as="generator"``.

    Raises:
        InputError: ``backend`` is ``"dask"`` without Dask's ``distributed`` installed, or is
            not registered with joblib (for ``"ray"``: ``register_ray()`` was not called).
    """
    if backend is None:
        return Parallel(n_jobs=n_jobs, return_as="generator")
    if backend == "dask" and "dask" not in BACKENDS:
        try:  # optional dependency; importing it lets joblib register its dask backend lazily
            import distributed  # noqa: F401
        except ImportError:
            raise InputError("backend='dask' needs Dask: pip install 'metacompose[distributed]'") from None
    if backend not in BACKENDS and backend not in EXTERNAL_BACKENDS:
        hint = (" (Ray's backend is not built in: pip install 'ray[default]', then call "
                "ray.util.joblib.register_ray() before the backtest)" if backend == "ray" else "")
        raise InputError(f"unknown joblib backend {backend!r}{hint}; known: "
                         f"{', '.join(sorted(set(BACKENDS) | set(EXTERNAL_BACKENDS)))}; register another with "
                         "joblib.register_parallel_backend(name, factory)")
    with parallel_config(backend=backend):  # the Parallel keeps the backend built by joblib's own switch
        return Parallel(n_jobs=-1 if n_jobs == 1 else n_jobs, return_as="generator")
