"""Fused linear + cross-entropy: linear_cross_entropy forward, its backward,
forward + backward as functions and through nn.LinearCrossEntropy, and
peak extra memory against the (N, C) logits it never holds, over size x
threads. Inputs are made once per process and cached."""

import functools
import os
import tracemalloc

import numpy as np

import fastnl

# (N, in_features, C): a language model's output layer at two sizes
SHAPES = ["2048x512x32000", "4096x1024x50000"]
THREADS = [1, 2]
if os.environ.get("FASTNL_ASV_SMOKE"):  # CI: a small grid that still runs every path
    SHAPES = ["256x64x3000"]


def _shape(text):
    return tuple(int(n) for n in text.split("x"))


@functools.lru_cache(maxsize=None)
def _problem(shape, seed=0):
    n, d, c = _shape(shape)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    W = (rng.uniform(-1, 1, (c, d)) / np.sqrt(d)).astype(np.float32)
    b = (rng.uniform(-1, 1, c) / np.sqrt(d)).astype(np.float32)
    t = rng.integers(0, c, n)
    return x, W, b, t


class LinearCrossEntropy:
    params = (SHAPES, THREADS)
    param_names = ["shape", "threads"]
    timeout = 600
    number = 1
    repeat = (1, 3, 120.0)

    def setup(self, shape, threads):
        fastnl.set_num_threads(threads)
        self.x, self.W, self.b, self.t = _problem(shape)
        self.module = fastnl.nn.LinearCrossEntropy(self.x.shape[1], self.W.shape[0])
        self.module.load_state_dict({"weight": self.W, "bias": self.b})

    def teardown(self, *args):
        fastnl.set_num_threads(None)

    def _forward(self):
        return fastnl.linear_cross_entropy(self.x, self.W, self.t, linear_bias=self.b)

    def _backward(self):
        return fastnl.linear_cross_entropy_backward(self.x, self.W, self.t, linear_bias=self.b)

    def time_forward(self, shape, threads):
        self._forward()

    def time_backward(self, shape, threads):
        self._backward()

    def time_forward_backward(self, shape, threads):
        self._forward()
        self._backward()

    def time_module_forward_backward(self, shape, threads):
        self.module.zero_grad()
        self.module(self.x, self.t)
        self.module.backward()

    def _extra_over_logits(self, call, kept):
        """tracemalloc's peak beyond the results, as a fraction of the logits."""
        tracemalloc.start()
        try:
            call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return (peak - kept) / (self.x.shape[0] * self.W.shape[0] * 4)

    def track_forward_memory_vs_logits(self, shape, threads):
        return self._extra_over_logits(self._forward, 0)

    def track_backward_memory_vs_logits(self, shape, threads):
        kept = (self.x.size + self.W.size + self.b.size) * 4  # the gradients it returns
        return self._extra_over_logits(self._backward, kept)

    track_forward_memory_vs_logits.unit = "fraction of the logits"
    track_backward_memory_vs_logits.unit = "fraction of the logits"
