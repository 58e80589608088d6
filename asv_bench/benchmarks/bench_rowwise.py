"""Row-wise kernels, the cases of ``python -m fastnl.bench --rowwise``:
softmax / log_softmax / softmin along the last axis and along axis 0 (the
tile kernel), their backward, cross_entropy with class indices, nll_loss and
cross_entropy forward + backward, logsumexp, glu, gumbel_softmax, their
backward and one_hot, over op x shape x dtype x threads (Rowwise,
allocating and writing into out=), plus the cases the table leaves out
(AlongAxis: short rows; CrossEntropy: a small classifier, label smoothing,
the backward alone, its earlier timings kept on the bench's shapes). Inputs are made once per process and cached."""

import functools
import os

import numpy as np

import fastnl
from fastnl.bench import DTYPES as _DTYPES
from fastnl.bench import ROWWISE_SHAPES, RowwiseInputs, rowwise_cases

# the bench's cases by name: "<op>" along the last axis, "<op>@0" along axis 0
CASES = {f"{c.name}@0" if c.axis == 0 else c.name: c for c in rowwise_cases()}
OPS = list(CASES)
SHAPES = list(ROWWISE_SHAPES)  # (rows, length of the softmax axis / classes)
DTYPES = list(_DTYPES)
THREADS = [1, 2]
FUNCS = ["softmax", "log_softmax", "softmin"]
AXES = [-1, 0]
SHORT_ROWS = ["1000x64"]
CE_SHAPES = ["256x10"]
if os.environ.get("FASTNL_ASV_SMOKE"):  # CI: a small grid that still runs every path
    OPS = ["softmax", "log_softmax@0", "softmin_backward", "softmax_backward@0",
           "cross_entropy", "nll_loss", "cross_entropy+backward", "logsumexp@0",
           "logsumexp_backward", "glu_backward", "gumbel_softmax", "one_hot"]
    SHAPES = ["64x1000"]
    FUNCS = ["softmax"]
    SHORT_ROWS = ["100x16"]


@functools.lru_cache(maxsize=2)  # 512x32000 float64 with its outputs: about 1.2 GB
def _inputs(dtype, shape):
    return RowwiseInputs(dtype, shape)


class _Threads:
    def _set_threads(self, threads):
        fastnl.set_num_threads(threads)

    def teardown(self, *args):
        fastnl.set_num_threads(None)


class Rowwise(_Threads):
    """The bench's row-wise matrix: fastnl's call of each case."""
    params = (OPS, SHAPES, DTYPES, THREADS)
    param_names = ["op", "shape", "dtype", "threads"]
    timeout = 180

    def setup(self, op, shape, dtype, threads):
        self._set_threads(threads)
        inp = _inputs(dtype, shape)
        self.alloc = CASES[op].fastnl(inp, None)
        self.out = CASES[op].fastnl(inp, np.empty_like(inp.x))  # the losses' forwards: no out=

    def time_alloc(self, op, shape, dtype, threads):
        self.alloc()

    def time_out(self, op, shape, dtype, threads):
        self.out()


@functools.lru_cache(maxsize=None)
def _input(dtype, shape, seed=0):
    rows, cols = (int(n) for n in shape.split("x"))
    return (np.random.default_rng(seed).standard_normal((rows, cols)) * 3).astype(dtype)


class AlongAxis(_Threads):
    """Short rows (the softmax axis shorter than the other)."""
    params = (FUNCS, DTYPES, SHORT_ROWS, AXES, THREADS)
    param_names = ["func", "dtype", "shape", "axis", "threads"]
    timeout = 120

    def setup(self, func, dtype, shape, axis, threads):
        self._set_threads(threads)
        self.forward = getattr(fastnl, func)
        self.backward = getattr(fastnl, f"{func}_backward")
        self.x = _input(dtype, shape)
        self.g = _input(dtype, shape, 1)
        self.y = self.forward(self.x, axis=axis)
        self.out = np.empty_like(self.x)

    def time_forward_out(self, func, dtype, shape, axis, threads):
        self.forward(self.x, axis=axis, out=self.out)

    def time_forward_alloc(self, func, dtype, shape, axis, threads):
        self.forward(self.x, axis=axis)

    def time_backward_out(self, func, dtype, shape, axis, threads):
        self.backward(self.g, self.y, axis=axis, out=self.out)


class CrossEntropy(_Threads):
    """A small classifier and the bench's shapes; label smoothing and the
    backward alone."""
    params = (DTYPES, CE_SHAPES + SHAPES, THREADS)
    param_names = ["dtype", "shape", "threads"]
    timeout = 120

    def setup(self, dtype, shape, threads):
        self._set_threads(threads)
        inp = _inputs(dtype, shape)
        self.x, self.t = inp.x, inp.target

    def time_forward(self, dtype, shape, threads):
        fastnl.cross_entropy(self.x, self.t)

    def time_forward_smoothing(self, dtype, shape, threads):
        fastnl.cross_entropy(self.x, self.t, label_smoothing=0.1)

    def time_backward(self, dtype, shape, threads):
        fastnl.cross_entropy_backward(self.x, self.t)

    def time_forward_backward(self, dtype, shape, threads):
        fastnl.cross_entropy(self.x, self.t)
        fastnl.cross_entropy_backward(self.x, self.t)
