"""Shapes and layouts beyond the bench's 1-d and 2-d matrix, each of which was
once a slow path (a strided loop, a copy, one task per element): prelu with
one weight per channel on (N, C) and (N, C, H, W), and its gradient; rrelu in
training; cross_entropy over (N, C, H, W) (the class axis not the last) and
with label smoothing; a pointwise loss of Fortran-ordered operands; an
activation of a slice of the channel axis; strided and broadcast operands
(x[:, ::2], a target or pos_weight broadcast along the rows) and NHWC views
of NCHW arrays, which were copied whole first. Forward and backward, over
dtype x threads. Inputs are made once per process and cached."""

import functools

import numpy as np

import fastnl

DTYPES = ["float32", "float64"]
THREADS = [1, 2]


@functools.lru_cache(maxsize=None)
def _normal(dtype, shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@functools.lru_cache(maxsize=None)
def _classes(shape, n_classes, seed=0):
    return np.random.default_rng(seed).integers(0, n_classes, shape)


def _prelu(dtype, shape):
    x, w = _normal(dtype, shape), np.linspace(0.1, 0.3, shape[1]).astype(dtype)
    g = _normal(dtype, shape, 1)
    return lambda: fastnl.prelu(x, w), lambda: fastnl.prelu_backward(g, x, w)


def _rrelu(dtype):
    x = _normal(dtype, (1000, 100))
    y, noise = fastnl.rrelu(x, training=True, rng=0, return_noise=True)
    return (lambda: fastnl.rrelu(x, training=True, rng=0),
            lambda: fastnl.rrelu_backward(x, x, training=True, noise=noise))


def _cross_entropy(dtype, **kw):
    x, t = _normal(dtype, (32, 16, 32, 32)), _classes((32, 32, 32), 16)
    return (lambda: fastnl.cross_entropy(x, t, **kw),
            lambda: fastnl.cross_entropy_backward(x, t, **kw))


def _smoothed(dtype):
    x, t = _normal(dtype, (4096, 256)), _classes((4096,), 256)
    return (lambda: fastnl.cross_entropy(x, t, label_smoothing=0.1),
            lambda: fastnl.cross_entropy_backward(x, t, label_smoothing=0.1))


def _fortran_loss(dtype):
    x, y = _normal(dtype, (4096, 256)).T, _normal(dtype, (4096, 256), 1).T
    return lambda: fastnl.l1_loss(x, y), lambda: fastnl.l1_loss_backward(x, y)


def _channel_slice(dtype):
    x = _normal(dtype, (32, 16, 32, 32))[:, :8]
    g = _normal(dtype, (32, 16, 32, 32), 1)[:, 8:]
    return lambda: fastnl.silu(x), lambda: fastnl.silu_backward(g, x)


def _every_other_column(dtype):
    w = _normal(dtype, (4096, 512))
    return (lambda: fastnl.mse_loss(w[:, ::2], w[:, 1::2]),
            lambda: fastnl.gelu_backward(w[:, 1::2], w[:, ::2]))


def _broadcast_row(dtype):
    x, t = _normal(dtype, (4096, 256)), _normal(dtype, (256,), 1)
    y, w = (_normal(dtype, (4096, 256), 2) > 0).astype(dtype), np.abs(t)
    return (lambda: fastnl.mse_loss(x, np.broadcast_to(t, x.shape), reduction="none"),
            lambda: fastnl.binary_cross_entropy_with_logits_backward(x, y, pos_weight=w))


def _nhwc(dtype):
    x = _normal(dtype, (32, 64, 16, 16)).transpose(0, 2, 3, 1)
    g = _normal(dtype, (32, 64, 16, 16), 1).transpose(0, 2, 3, 1)
    y = fastnl.softmax(x, axis=-1)
    return (lambda: (fastnl.silu(x), fastnl.softmax(x, axis=-1)),
            lambda: (fastnl.silu_backward(g, x), fastnl.softmax_backward(g, y, axis=-1)))


CASES = {
    "prelu (1000, 100)": lambda dtype: _prelu(dtype, (1000, 100)),
    "prelu (100, 64, 16, 16)": lambda dtype: _prelu(dtype, (100, 64, 16, 16)),
    "rrelu training (1000, 100)": _rrelu,
    "cross_entropy (32, 16, 32, 32)": _cross_entropy,
    "cross_entropy smoothed (4096, 256)": _smoothed,
    "l1_loss Fortran (256, 4096)": _fortran_loss,
    "silu x[:, :8] of (32, 16, 32, 32)": _channel_slice,
    "mse_loss, gelu' of x[:, ::2] of (4096, 512)": _every_other_column,
    "mse_loss, bce_with_logits' of a row broadcast (4096, 256)": _broadcast_row,
    "silu, softmax of NHWC views (32, 16, 16, 64)": _nhwc,
}


class Layouts:
    params = (list(CASES), DTYPES, THREADS)
    param_names = ["case", "dtype", "threads"]
    timeout = 120

    def setup(self, case, dtype, threads):
        fastnl.set_num_threads(threads)
        self.forward, self.backward = CASES[case](dtype)

    def teardown(self, *args):
        fastnl.set_num_threads(None)

    def time_forward(self, case, dtype, threads):
        self.forward()

    def time_backward(self, case, dtype, threads):
        self.backward()
