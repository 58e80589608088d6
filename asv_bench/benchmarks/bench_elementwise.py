"""Elementwise activations, forward and backward, with and without out=,
over op x dtype x size x threads; a parallel copy of the same array is the
bandwidth floor to compare with (Copy). Inputs are made once per process
and cached."""

import functools
import os

import numpy as np

import fastnl
from fastnl._kernels import _elementwise as _k
from fastnl.bench import cases

# one case per ufunc of fastnl/_ops.py (gelu, gelu_tanh, ...) with its parameters,
# as python -m fastnl.bench times them
CASES = {case.name: case for case in cases()}
OPS = list(CASES)
DTYPES = ["float32", "float64"]
SIZES = [10**3, 10**5, 10**7]
THREADS = [1, 2]
if os.environ.get("FASTNL_ASV_SMOKE"):  # CI: a small grid that still runs every path
    OPS = ["relu", "hardtanh", "sigmoid", "gelu", "silu"]
    SIZES = [10**3, 10**5]


def _functions(op):
    case = CASES[op]
    params = {k: np.asarray(v) if isinstance(v, tuple) else v for k, v in case.params.items()}
    name = case.activation.name
    fwd, bwd = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
    return (functools.partial(fwd, **params), functools.partial(bwd, **params))


@functools.lru_cache(maxsize=None)
def _input(dtype, size, seed=0):
    return (np.random.default_rng(seed).standard_normal(size) * 3).astype(dtype)


class _Threads:
    def _set_threads(self, threads):
        fastnl.set_num_threads(threads)

    def teardown(self, *args):
        fastnl.set_num_threads(None)


class Elementwise(_Threads):
    params = (OPS, DTYPES, SIZES, THREADS)
    param_names = ["op", "dtype", "size", "threads"]
    timeout = 120

    def setup(self, op, dtype, size, threads):
        self._set_threads(threads)
        self.forward, self.backward = _functions(op)
        self.x = _input(dtype, size)
        self.g = _input(dtype, size, 1)
        self.out = np.empty_like(self.x)

    def time_forward_out(self, op, dtype, size, threads):
        self.forward(self.x, out=self.out)

    def time_forward_alloc(self, op, dtype, size, threads):
        self.forward(self.x)

    def time_backward_out(self, op, dtype, size, threads):
        self.backward(self.g, self.x, out=self.out)


class Copy(_Threads):
    """The floor: a parallel copy through the same kernel machinery."""
    params = (DTYPES, SIZES, THREADS)
    param_names = ["dtype", "size", "threads"]

    def setup(self, dtype, size, threads):
        self._set_threads(threads)
        self.threads = threads
        self.x = _input(dtype, size)
        self.out = np.empty_like(self.x)

    def time_copy(self, dtype, size, threads):
        # the identity kernel through the same call path as the activations
        _k.fast(_k.identity, None, self.x, self.out)

    def time_numpy_copyto(self, dtype, size, threads):
        np.copyto(self.out, self.x)


class RowSlice(_Threads):
    """A slice of rows, x[:, 500:] of a 64 x 1000 (or 1000 x 1000) array, read
    in place, against the same values contiguous: the cost of rows that lie
    apart (they were copied first before the row path)."""
    params = (["relu", "sigmoid", "gelu"], DTYPES, [64, 1000], THREADS)
    param_names = ["op", "dtype", "rows", "threads"]

    def setup(self, op, dtype, rows, threads):
        self._set_threads(threads)
        self.forward, self.backward = _functions(op)
        whole = _input(dtype, rows * 1000).reshape(rows, 1000)
        self.x = whole[:, 500:]
        self.contiguous = np.ascontiguousarray(self.x)

    def time_slice(self, op, dtype, rows, threads):
        self.forward(self.x)

    def time_contiguous(self, op, dtype, rows, threads):
        self.forward(self.contiguous)
