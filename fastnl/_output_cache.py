"""The output cache: the memory of fastnl's large freed results, kept for reuse.

fastnl allocates its outputs of 1 MiB and more through a NumPy memory handler
that keeps up to four freed blocks (256 MiB by default) and hands them to the
next output they fit, so a loop of allocating calls writes into memory that
is already mapped instead of paying a page fault per page
(fastnl/_kernels/_pool.pyx). The price is memory the process keeps after the
results are freed; these calls set that limit and give the memory back.
"""

from fastnl._kernels import _pool
from fastnl._validate import real

__all__ = ["set_output_cache_limit", "get_output_cache_limit", "release_output_cache"]

_MIB = 1 << 20


def set_output_cache_limit(mib):
    """Keep at most `mib` MiB of freed results for reuse; 0 turns the cache off.

    Blocks already kept beyond the new limit are given back to the system at
    once. The default is 256, or ``FASTNL_OUTPUT_CACHE_MB`` when set at
    import. Returns the previous limit in MiB.

    Raises
    ------
    TypeError
        If `mib` is not a real number.
    ValueError
        If `mib` is negative or not finite.

    Examples
    --------
    >>> import fastnl
    >>> previous = fastnl.set_output_cache_limit(64)
    >>> fastnl.get_output_cache_limit()
    64.0
    >>> _ = fastnl.set_output_cache_limit(previous)
    """
    value = real("the output cache limit (MiB)", mib)
    if value < 0:
        raise ValueError(f"the output cache limit must be >= 0 MiB, got {mib!r}")
    previous = get_output_cache_limit()
    _pool.set_limit(int(value * _MIB))
    return previous


def get_output_cache_limit():
    """The most MiB of freed results the output cache keeps (0.0: off).

    Examples
    --------
    >>> import fastnl
    >>> fastnl.get_output_cache_limit() >= 0
    True
    """
    return _pool.limit() / _MIB


def release_output_cache():
    """Give the memory of every freed result the cache keeps back to the
    system now (the limit stays, so later results are cached again).

    Returns the number of bytes given back. Useful after a phase of large
    results, before memory-hungry work, or to measure memory use.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> y = fastnl.relu(np.ones(1 << 18))   # a 2 MiB result...
    >>> del y                                # ...freed: its memory is kept
    >>> fastnl.release_output_cache() >= 0
    True
    >>> fastnl.release_output_cache()        # nothing is kept any more
    0
    """
    return _pool.release()
