"""fastnl's large outputs and the cache of their memory (fastnl/_kernels/_pool.pyx)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from numpy._core.multiarray import get_handler_name

import fastnl
from fastnl._kernels import _pool

BIG = 1 << 18  # float64 elements: 2 MiB, above the 1 MiB the cache starts at


def owner(a):
    """The array that owns `a`'s memory (a result may be a reshaped view)."""
    while a.base is not None:
        a = a.base
    return a


@pytest.fixture
def cache():
    """The cache at its default limit, emptied before and after the test."""
    limit = _pool.limit()
    _pool.set_limit(0)
    _pool.set_limit(limit)
    yield
    _pool.set_limit(0)
    _pool.set_limit(limit)


@pytest.mark.parametrize("call", [
    lambda x: fastnl.gelu(x),                                 # the C small-call path
    lambda x: fastnl.gelu(x[::-1]),                           # the general path
    lambda x: fastnl.softmax(x.reshape(512, -1), axis=0),     # the row kernels
    lambda x: fastnl.mse_loss(x, x[::-1], reduction="none"),  # a loss kernel
    lambda x: fastnl.cross_entropy_backward(x.reshape(512, -1), np.zeros(512, int)),
], ids=["fast", "general", "rowwise", "loss", "class-gradient"])
def test_freed_output_memory_is_reused(cache, call):
    x = np.linspace(-3, 3, BIG)
    first = call(x)
    assert get_handler_name(owner(first)) == "fastnl_output_cache"
    address, expected = first.ctypes.data, first.copy()
    # NaN in the freed block: the values checked below must be written again,
    # not left over from the first call
    owner(first)[...] = np.nan
    del first
    assert _pool.kept() >= BIG * 8
    second = call(x)
    assert second.ctypes.data == address
    np.testing.assert_array_equal(second, expected)  # every element written again
    assert _pool.kept() == 0


def test_only_fastnl_outputs_use_the_handler(cache):
    x = np.ones(BIG)
    fastnl.relu(x)
    assert get_handler_name() == "default_allocator"  # the process's handler is untouched
    assert get_handler_name(np.empty(BIG)) == "default_allocator"
    assert get_handler_name(fastnl.relu(np.ones(1000))) == "default_allocator"  # small


def test_empty_takes_numpy_empty_shapes(cache):
    """An int or a tuple, below and above the size the cache starts at."""
    for n in (10, BIG):
        for shape in (n, (n,), [n]):
            a = _pool.empty(shape, np.float64)
            assert a.shape == (n,) and a.dtype == np.float64
    assert get_handler_name(_pool.empty(BIG, np.float64)) != "default_allocator"


def test_live_results_get_fresh_memory(cache):
    x = np.ones(BIG)
    results = [fastnl.sigmoid(x) for _ in range(3)]
    assert len({r.ctypes.data for r in results}) == 3
    assert _pool.kept() == 0


def test_kept_memory_is_bounded(cache):
    x = np.ones(BIG)
    results = [fastnl.relu(x) for _ in range(6)]
    del results
    assert _pool.kept() == 4 * BIG * 8  # four blocks at most
    _pool.set_limit(3 * BIG * 8)  # below what is kept: everything is given back
    assert _pool.kept() == 0
    results = [fastnl.relu(x) for _ in range(6)]
    del results
    assert _pool.kept() == 3 * BIG * 8
    with pytest.raises(ValueError, match=">= 0"):
        _pool.set_limit(-1)


def test_the_blocks_freed_last_are_kept(cache):
    x = np.ones(BIG)
    old = [fastnl.relu(np.ones(2 * BIG)) for _ in range(4)]
    del old  # four blocks of another size fill the cache
    y = fastnl.relu(x)
    address = y.ctypes.data
    del y  # the block freed longest ago makes room
    assert _pool.kept() == 3 * 2 * BIG * 8 + BIG * 8
    assert fastnl.relu(x).ctypes.data == address


def test_a_block_much_larger_is_not_handed_out(cache):
    fastnl.relu(np.ones(4 * BIG))  # freed at once: kept
    small = fastnl.relu(np.ones(BIG))
    assert _pool.kept() == 4 * BIG * 8  # not used for an output a quarter of its size
    del small


def test_environment_sets_the_limit():
    script = ("import numpy as np, fastnl; from fastnl._kernels import _pool; "
              "from numpy._core.multiarray import get_handler_name; "
              "print(_pool.limit(), get_handler_name(fastnl.relu(np.ones(1 << 18))))")
    env = dict(os.environ, FASTNL_OUTPUT_CACHE_MB="0")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["0", "default_allocator"]


# ---------------------------------------------------------------- the public calls

def test_set_and_get_the_limit(cache):
    previous = fastnl.get_output_cache_limit()
    assert previous == _pool.limit() / 2**20
    assert fastnl.set_output_cache_limit(3) == previous
    assert fastnl.get_output_cache_limit() == 3.0 and _pool.limit() == 3 << 20
    assert fastnl.set_output_cache_limit(0.5) == 3.0  # fractions of a MiB too
    assert _pool.limit() == 1 << 19
    results = [fastnl.relu(np.ones(BIG)) for _ in range(2)]
    del results
    assert _pool.kept() == 0  # 2 MiB blocks do not fit a 0.5 MiB limit
    for bad, error in [(-1, ValueError), (np.nan, ValueError), (np.inf, ValueError),
                       ("64", TypeError), (None, TypeError)]:
        with pytest.raises(error, match="output cache limit"):
            fastnl.set_output_cache_limit(bad)
    assert fastnl.get_output_cache_limit() == 0.5  # unchanged by the refused calls


def test_release_empties_the_cache_and_keeps_the_limit(cache):
    x = np.ones(BIG)
    results = [fastnl.relu(x) for _ in range(3)]
    del results
    assert _pool.kept() == 3 * BIG * 8
    limit = fastnl.get_output_cache_limit()
    assert fastnl.release_output_cache() == 3 * BIG * 8
    assert _pool.kept() == 0 and fastnl.release_output_cache() == 0
    assert fastnl.get_output_cache_limit() == limit
    y = fastnl.relu(x)
    address = y.ctypes.data
    del y
    assert fastnl.relu(x).ctypes.data == address  # still caching


def test_show_config_reports_the_cache(cache, capsys):
    fastnl.set_output_cache_limit(8)
    y = fastnl.relu(np.ones(BIG))
    del y
    fastnl.show_config()
    line = [s for s in capsys.readouterr().out.splitlines() if s.startswith("output cache")]
    assert line == ["output cache (set_output_cache_limit, release_output_cache): "
                    "limit 8 MiB, 2 MiB kept now"]


_RSS = """
import os, sys
import numpy as np
import fastnl

PAGE = os.sysconf("SC_PAGE_SIZE")

def rss_mib():  # resident pages, the second field of /proc/self/statm
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20

mib, count, how = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
x = np.ones((mib << 20) // 8)
results = [fastnl.gelu(x) for _ in range(count)]
del results
kept = rss_mib()
if how == "release":
    fastnl.release_output_cache()
else:
    fastnl.set_output_cache_limit(0)
print(kept - rss_mib(), fastnl.get_output_cache_limit())
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc/self/statm")
@pytest.mark.parametrize("mib, count", [(64, 1), (4, 4)], ids=["one-large", "four-medium"])
@pytest.mark.parametrize("how", ["release", "limit"])
def test_resident_memory_drops(mib, count, how):
    """In a fresh process: the kept results stay resident until they are
    released (or the limit drops to 0), then the resident set shrinks by
    about their size (90% of it: a page or two of the process may move
    meanwhile), for one large block and for the cache's four blocks."""
    env = {k: v for k, v in os.environ.items() if k != "FASTNL_OUTPUT_CACHE_MB"}
    out = subprocess.run([sys.executable, "-c", _RSS, str(mib), str(count), how],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    dropped, limit = map(float, out.stdout.split())
    assert dropped >= 0.9 * mib * count
    assert limit == (256.0 if how == "release" else 0.0)
