"""A torch-style MLP through fastnl.nn: nn.Sequential of nn.Linear and
nn.GELU, and one SGD training step (forward, cross-entropy, backward, update
over named_parameters), over batch x dtype x threads, the step that
examples/train_digits.py runs."""

import os

import numpy as np

import fastnl
from fastnl import nn

BATCHES = [64, 4096]
DTYPES = ["float32", "float64"]
THREADS = [1, 2]
SIZES = (784, 512, 10)  # an MNIST-sized classifier
if os.environ.get("FASTNL_ASV_SMOKE"):  # CI: a small grid that still runs every path
    BATCHES, DTYPES, SIZES = [16], ["float32"], (20, 16, 10)


class MLPStep:
    params = (BATCHES, DTYPES, THREADS)
    param_names = ["batch", "dtype", "threads"]
    timeout = 120

    def setup(self, batch, dtype, threads):
        fastnl.set_num_threads(threads)
        n_in, n_hidden, n_out = SIZES
        self.model = nn.Sequential(nn.Linear(n_in, n_hidden, rng=0, dtype=dtype), nn.GELU(),
                                   nn.Linear(n_hidden, n_out, rng=1, dtype=dtype))
        self.loss_fn = nn.CrossEntropyLoss()
        rng = np.random.default_rng(2)
        self.x = rng.standard_normal((batch, n_in)).astype(dtype)
        self.t = rng.integers(0, n_out, batch)

    def teardown(self, *args):
        fastnl.set_num_threads(None)

    def time_forward(self, batch, dtype, threads):
        self.model(self.x)

    def time_step(self, batch, dtype, threads):
        self.model.zero_grad()
        self.loss_fn(self.model(self.x), self.t)
        self.model.backward(self.loss_fn.backward())
        for _, parameter, grad in self.model.named_parameters():
            parameter -= 0.01 * grad
