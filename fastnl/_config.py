"""Thread control for fastnl's OpenMP kernels."""

import contextlib
import operator
import os
import warnings

from fastnl._kernels import _build

# None: follow OpenMP's default, read at every call, so OMP_NUM_THREADS, the
# CPU affinity mask and threadpoolctl.threadpool_limits all apply.
_n_threads = None


def get_num_threads():
    """Number of threads fastnl's kernels use for large inputs.

    The value set by :func:`set_num_threads` if any, else OpenMP's default:
    the number of usable CPUs, or ``OMP_NUM_THREADS`` when set, lowered while a
    ``threadpoolctl.threadpool_limits`` block is in force. Inputs below
    32768 elements always run on one thread. A build without OpenMP returns 1,
    and so does a process forked after fastnl had started threads, where the
    OpenMP runtime is GNU libgomp (it cannot start threads again after fork).

    Examples
    --------
    >>> import fastnl
    >>> with fastnl.num_threads(1):
    ...     fastnl.get_num_threads()
    1
    """
    if _build.fork_serial():
        return 1
    return _n_threads if _n_threads is not None else _build.max_threads()


def _kernel_threads():
    """get_num_threads() for a kernel about to run. Every kernel call takes its
    thread count here or, in C, from the same function of _build (get_num_threads
    itself stays a query): more than one marks this process as one whose forked
    children must keep to one thread under libgomp."""
    return _build.kernel_threads()


def _set(n):
    """The thread count of every kernel: here, and in C for the kernels that
    read it there (the elementwise kernels and ufuncs)."""
    global _n_threads
    _n_threads = n
    _build.set_threads(n or 0)


def _usable_cpus():
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _runtime_name():
    """The OpenMP runtime by name, for messages."""
    return {"libgomp": "GNU libgomp", "libomp": "LLVM libomp"}.get(
        _build.openmp_runtime(), "the OpenMP runtime (not recognised as LLVM libomp)")


def _fork_reason():
    """Why a forked child runs fastnl on one thread (for warnings and show_config)."""
    return (f"this process was forked from one where fastnl had started threads, and "
            f"{_runtime_name()} cannot start a new thread pool after fork() (more than one "
            f"thread would hang); a 'spawn' or 'forkserver' multiprocessing context keeps threads")


def _checked(n, stacklevel):
    """`n` validated for set_num_threads/num_threads, with their warnings
    pointing `stacklevel` frames up."""
    if n is None:
        return n
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"number of threads must be >= 1, got {n}")
    if n > 1 and _build.fork_serial():
        warnings.warn(f"fastnl stays on 1 thread, not {n}: {_fork_reason()}", RuntimeWarning,
                      stacklevel=stacklevel + 1)
    elif _build.openmp_version() and n > _usable_cpus():
        warnings.warn(f"{n} threads on {_usable_cpus()} usable CPUs: oversubscription (the "
                      f"threads take turns on the CPUs, usually slower than one per CPU)",
                      RuntimeWarning, stacklevel=stacklevel + 1)
    return n


def set_num_threads(n):
    """Set the number of threads for fastnl's kernels; ``None`` restores the default.

    An explicit number takes precedence over ``OMP_NUM_THREADS`` and
    ``threadpoolctl`` until it is reset with ``set_num_threads(None)``. It
    affects fastnl only, not other OpenMP libraries in the process.

    Warns
    -----
    RuntimeWarning
        If `n` is more than the usable CPUs (oversubscription; `n` is set all
        the same), or if `n` > 1 in a forked child that must keep to one
        thread (see :func:`get_num_threads`; it stays at 1 there).

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
    _set(_checked(n, stacklevel=2))


@contextlib.contextmanager
def num_threads(n):
    """Context manager: run fastnl's kernels on `n` threads inside the block
    (warnings and errors as :func:`set_num_threads`).

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> with fastnl.num_threads(2):
    ...     y = fastnl.relu(np.arange(-2.0, 3.0))
    >>> y
    array([0., 0., 0., 1., 2.])
    """
    previous = _n_threads
    # frames up to the caller's `with`: _checked's caller, contextlib's __enter__
    _set(_checked(n, stacklevel=3))
    try:
        yield
    finally:
        _set(previous)  # checked when it was set


def build_info():
    """How this fastnl was built and how it runs here, as a dict (see show_config)."""
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
        "fork": _fork_state(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "usable cpus": _usable_cpus(),
        "parallel grain (elements)": (f"{_elementwise.GRAIN_SIZE} at least; per elementwise "
                                      f"op: {_elementwise.GRAINS}"),
        "output cache (set_output_cache_limit, release_output_cache)": (
            f"limit {_pool.limit() / 2**20:g} MiB, {_pool.kept() / 2**20:g} MiB kept now"),
    }
    return info


def _fork_state():
    """What fork() did or would do to fastnl's threads here, for build_info."""
    runtime = _build.openmp_runtime()
    if runtime == "none" or not hasattr(os, "fork"):
        return "no effect: " + ("serial build" if runtime == "none" else "no fork() here")
    if _build.fork_serial():
        return f"this is a forked child, fastnl runs on 1 thread: {_fork_reason()}"
    if _build.forked():
        why = ("LLVM libomp starts a new thread pool after fork()" if runtime == "libomp"
               else "its parent had started no fastnl threads")
        return f"this is a forked child, threads kept: {why}"
    if runtime == "libomp":
        return "forked children keep their threads (LLVM libomp starts a new pool after fork())"
    cannot = f"{_runtime_name()} cannot start a new thread pool after fork()"
    if _build.threads_started():
        return (f"forked children of this process run fastnl on 1 thread: fastnl has started "
                f"threads here, and {cannot} ('spawn' or 'forkserver' keep threads)")
    return (f"forked children keep their threads while fastnl has started none here "
            f"(after that they run on 1 thread: {cannot})")


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
