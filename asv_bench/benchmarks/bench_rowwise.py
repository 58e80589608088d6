"""Row-wise kernels: softmax / log_softmax / softmin along the last axis and
along axis 0 (the tile kernel), their backward, and cross-entropy with class
indices (forward, backward, both), over dtype x shape x threads. Inputs are
made once per process and cached."""

import functools
import os

import numpy as np

import fastnl

FUNCS = ["softmax", "log_softmax", "softmin"]
DTYPES = ["float32", "float64"]
# (rows, length of the softmax axis)
SHAPES = ["64x1000", "4096x1000", "1000x64"]
AXES = [-1, 0]
# (rows, classes): a small classifier and a language model's vocabulary
CE_SHAPES = ["256x10", "512x32000"]
THREADS = [1, 2]
if os.environ.get("FASTNL_ASV_SMOKE"):  # CI: a small grid that still runs every path
    FUNCS = ["softmax", "log_softmax"]
    DTYPES = ["float32"]
    SHAPES = ["64x1000"]
    CE_SHAPES = ["256x10", "64x3000"]


def _shape(text):
    return tuple(int(n) for n in text.split("x"))


@functools.lru_cache(maxsize=None)
def _input(dtype, shape, seed=0):
    return (np.random.default_rng(seed).standard_normal(_shape(shape)) * 3).astype(dtype)


@functools.lru_cache(maxsize=None)
def _targets(shape):
    rows, classes = _shape(shape)
    return np.random.default_rng(2).integers(0, classes, rows)


class _Threads:
    def _set_threads(self, threads):
        fastnl.set_num_threads(threads)

    def teardown(self, *args):
        fastnl.set_num_threads(None)


class AlongAxis(_Threads):
    params = (FUNCS, DTYPES, SHAPES, AXES, THREADS)
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
    params = (DTYPES, CE_SHAPES, THREADS)
    param_names = ["dtype", "shape", "threads"]
    timeout = 120

    def setup(self, dtype, shape, threads):
        self._set_threads(threads)
        self.x = _input(dtype, shape)
        self.t = _targets(shape)

    def time_forward(self, dtype, shape, threads):
        fastnl.cross_entropy(self.x, self.t)

    def time_forward_smoothing(self, dtype, shape, threads):
        fastnl.cross_entropy(self.x, self.t, label_smoothing=0.1)

    def time_backward(self, dtype, shape, threads):
        fastnl.cross_entropy_backward(self.x, self.t)

    def time_forward_backward(self, dtype, shape, threads):
        fastnl.cross_entropy(self.x, self.t)
        fastnl.cross_entropy_backward(self.x, self.t)
