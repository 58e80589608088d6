"""Thread control for fastnl's OpenMP kernels."""

import contextlib
import operator

from fastnl._kernels import _build

# None: follow OpenMP's default, read at every call, so OMP_NUM_THREADS, the
# CPU affinity mask and threadpoolctl.threadpool_limits all apply.
_n_threads = None


def get_num_threads():
    """Number of threads fastnl's kernels use for large inputs.

    The value set by :func:`set_num_threads` if any, else OpenMP's default:
    the number of usable CPUs, or ``OMP_NUM_THREADS`` when set, lowered while a
    ``threadpoolctl.threadpool_limits`` block is in force. Inputs below
    32768 elements always run on one thread. A build without OpenMP returns 1.

    Examples
    --------
    >>> import fastnl
    >>> with fastnl.num_threads(1):
    ...     fastnl.get_num_threads()
    1
    """
    return _n_threads if _n_threads is not None else _build.max_threads()


def set_num_threads(n):
    """Set the number of threads for fastnl's kernels; ``None`` restores the default.

    An explicit number takes precedence over ``OMP_NUM_THREADS`` and
    ``threadpoolctl`` until it is reset with ``set_num_threads(None)``. It
    affects fastnl only, not other OpenMP libraries in the process.

    Raises
    ------
    TypeError
        If `n` is not an integer (or None).
    ValueError
        If `n` < 1.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.set_num_threads(1)
    >>> fastnl.get_num_threads()
    1
    >>> fastnl.set_num_threads(None)
    """
    global _n_threads
    if n is not None:
        n = operator.index(n)
        if n < 1:
            raise ValueError(f"number of threads must be >= 1, got {n}")
    _n_threads = n


@contextlib.contextmanager
def num_threads(n):
    """Context manager: run fastnl's kernels on `n` threads inside the block.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> with fastnl.num_threads(2):
    ...     y = fastnl.relu(np.arange(-2.0, 3.0))
    >>> y
    array([0., 0., 0., 1., 2.])
    """
    previous = _n_threads
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(previous)


def build_info():
    """How this fastnl was built and how it runs here, as a dict (see show_config)."""
    import os
    import platform

    import numpy as np

    from fastnl._kernels import _elementwise, _pool
    from fastnl._version import __version__

    libc, libc_version = platform.libc_ver()
    omp = _build.openmp_version()
    info = {
        "fastnl": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "compiler": _build.compiler(),
        "openmp": f"on (_OPENMP {omp})" if omp else "off: serial build, every kernel on one thread",
        "openmp runtimes loaded": _openmp_runtimes(),
        "simd (elementwise kernels)": _elementwise.simd_target(),
        "libc": f"{libc} {libc_version}".strip() or "unknown",
        "libc vector math (libmvec)": "not used: vectorisable polynomials of fastnl's own",
        "threads": get_num_threads(),
        "threads set by set_num_threads": _n_threads,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "usable cpus": (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                        else os.cpu_count()),
        "parallel grain (elements)": (f"{_elementwise.GRAIN_SIZE} at least; per elementwise "
                                      f"op: {_elementwise.GRAINS}"),
        "output cache (set_output_cache_limit, release_output_cache)": (
            f"limit {_pool.limit() / 2**20:g} MiB, {_pool.kept() / 2**20:g} MiB kept now"),
    }
    return info


def _openmp_runtimes():
    """The OpenMP libraries loaded in this process, through threadpoolctl if
    it is installed (it is an optional dependency)."""
    try:
        import threadpoolctl
    except ImportError:
        return "unknown (install threadpoolctl to list them)"
    found = [f"{lib['filepath']} ({lib['internal_api']} {lib.get('version') or ''})".replace(" )", ")")
             for lib in threadpoolctl.threadpool_info() if lib.get("user_api") == "openmp"]
    return "; ".join(found) or "none found"


def show_config():
    """Print how fastnl was built (compiler, OpenMP) and how it runs here
    (threads, OpenMP runtimes in the process, libc); useful in bug reports.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.show_config()  # doctest: +ELLIPSIS
    fastnl: ...
    """
    for key, value in build_info().items():
        print(f"{key}: {value}")
