"""Thread control for fastnl's OpenMP kernels."""

import contextlib
import operator

from fastnl._kernels import _openmp

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
    return _n_threads if _n_threads is not None else _openmp.max_threads()


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
