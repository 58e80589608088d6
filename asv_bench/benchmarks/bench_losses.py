"""The other losses, the cases of ``python -m fastnl.bench --losses``:
poisson_nll_loss, gaussian_nll_loss, soft_margin_loss, margin_ranking_loss
and hinge_embedding_loss, forward ('mean') and forward + backward, over op x
size x dtype x threads. Inputs are made once per process and cached."""

import functools
import os

import fastnl
from fastnl.bench import DTYPES as _DTYPES
from fastnl.bench import LOSS_SIZES, loss_cases, loss_operands

CASES = {c.name: c for c in loss_cases()}
OPS = list(CASES)
SIZES = list(LOSS_SIZES)
DTYPES = list(_DTYPES)
THREADS = [1, 2]
if os.environ.get("FASTNL_ASV_SMOKE"):  # CI: a small grid that still runs every path
    SIZES = [10_000]


@functools.lru_cache(maxsize=4)
def _operands(name, dtype, size):
    return loss_operands(name, dtype, size)


class Losses:
    params = (OPS, SIZES, DTYPES, THREADS)
    param_names = ["op", "size", "dtype", "threads"]
    timeout = 120

    def setup(self, op, size, dtype, threads):
        fastnl.set_num_threads(threads)
        self.call = CASES[op].fastnl(_operands(op.removesuffix("+backward"), dtype, size))

    def teardown(self, *args):
        fastnl.set_num_threads(None)

    def time_call(self, op, size, dtype, threads):
        self.call()
