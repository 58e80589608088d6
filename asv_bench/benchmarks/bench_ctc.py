"""The CTC loss, the cases of ``python -m fastnl.bench --ctc``: ctc_loss
('mean') and ctc_loss + ctc_loss_backward, over size x dtype x threads.
Inputs are made once per process and cached."""

import functools
import os

import fastnl
from fastnl.bench import CTC_OPS, CTC_SIZES, DTYPES, THREADS, _ctc_fastnl, _ctc_problem

SIZES = list(CTC_SIZES)  # batch x time steps x classes x target length
if os.environ.get("FASTNL_ASV_SMOKE"):  # CI: a small grid that still runs every path
    SIZES = ["8x100x10x20"]  # 8 x 100 x 41 alpha cells: above the threading grain


@functools.lru_cache(maxsize=4)
def _problem(size, dtype):
    return _ctc_problem(size, dtype)


class CTC:
    params = (list(CTC_OPS), SIZES, list(DTYPES), list(THREADS))
    param_names = ["op", "size", "dtype", "threads"]
    timeout = 120

    def setup(self, op, size, dtype, threads):
        fastnl.set_num_threads(threads)
        self.call = _ctc_fastnl(op, *_problem(size, dtype))

    def teardown(self, *args):
        fastnl.set_num_threads(None)

    def time_ctc(self, op, size, dtype, threads):
        self.call()
