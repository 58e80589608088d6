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
