"""``python -m fastnl.bench``: fastnl's speed side by side with NumPy/SciPy,
PyTorch (when installed) and a plain copy of the same array, in one process.

For every operation, dtype and size it prints fastnl's median time and the
ratios ``other / fastnl`` (above 1: fastnl is faster) for the plain NumPy (or
SciPy) formula and for torch, and ``fastnl / copy``: the time against a
parallel copy of the same array on the same threads, the memory-bandwidth
floor an elementwise operation cannot beat (1.0 is the limit).

    python -m fastnl.bench                      # all ops, float32 and float64
    python -m fastnl.bench --ops relu gelu --dtypes float32 --sizes 1000 10000000
    python -m fastnl.bench --threads 1 --alloc  # allocating calls (no out=)
    python -m fastnl.bench --threads 1 2        # one table per thread count
    python -m fastnl.bench --backward           # <op>_backward(g, x, out=) against the copy
    python -m fastnl.bench --rowwise --threads 1 2  # only the row-wise table, per thread count

After the elementwise table (or alone, with ``--rowwise``) comes the
row-wise table: softmax and log_softmax of 4096 x 1000 float32 along the
last axis and axis 0, their backward on 1000 x 1000, and cross_entropy with
class indices on 512 x 32000 (a language model's vocabulary), forward and
forward + backward (``cross_entropy`` + ``cross_entropy_backward`` against
torch autograd's forward + ``loss.backward()``); its ratio column is
``fastnl / torch`` (below 1: fastnl faster).
"""

import argparse
import sys
import time

import numpy as np

import fastnl
from fastnl._kernels import _elementwise as _k

try:  # SciPy's erf and expit make the fairest plain baselines; optional
    from scipy import special as _special
except ImportError:  # pragma: no cover
    _special = None


def _erf(x):
    if _special is not None:
        return _special.erf(x)
    from fastnl._reference import _erfc_f64
    return 1 - _erfc_f64(x).astype(x.dtype)


def _sigmoid(x):
    return _special.expit(x) if _special is not None else 1 / (1 + np.exp(-x))


# op -> (fastnl call, plain NumPy/SciPy formula, torch call or None); each
# takes (x, out) where out may be None (allocate).
def _ops():
    t = lambda name, **kw: (lambda torch, x: getattr(torch.nn.functional, name)(x, **kw))  # noqa: E731
    return {
        "relu": (fastnl.relu, lambda x: np.maximum(x, 0), t("relu")),
        "leaky_relu": (fastnl.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x), t("leaky_relu")),
        "hardtanh": (fastnl.hardtanh, lambda x: np.clip(x, -1, 1), t("hardtanh")),
        "relu6": (fastnl.relu6, lambda x: np.clip(x, 0, 6), t("relu6")),
        "elu": (fastnl.elu, lambda x: np.where(x > 0, x, np.expm1(x)), t("elu")),
        "selu": (fastnl.selu, lambda x: 1.0507 * np.where(x > 0, x, 1.6733 * np.expm1(x)), t("selu")),
        "gelu": (fastnl.gelu, lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), t("gelu")),
        "gelu_tanh": (lambda x, out=None: fastnl.gelu(x, approximate="tanh", out=out),
                      lambda x: 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x ** 3))),
                      t("gelu", approximate="tanh")),
        "softplus": (fastnl.softplus, lambda x: np.logaddexp(0, x), t("softplus")),
        "sigmoid": (fastnl.sigmoid, _sigmoid, lambda torch, x: torch.sigmoid(x)),
        "tanh": (fastnl.tanh, np.tanh, lambda torch, x: torch.tanh(x)),
        "softsign": (fastnl.softsign, lambda x: x / (1 + np.abs(x)), t("softsign")),
        "logsigmoid": (fastnl.logsigmoid, lambda x: -np.logaddexp(0, -x), t("logsigmoid")),
        "silu": (fastnl.silu, lambda x: x * _sigmoid(x), t("silu")),
        "mish": (fastnl.mish, lambda x: x * np.tanh(np.logaddexp(0, x)), t("mish")),
        "hardsigmoid": (fastnl.hardsigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1), t("hardsigmoid")),
        "hardswish": (fastnl.hardswish, lambda x: x * np.clip(x / 6 + 0.5, 0, 1), t("hardswish")),
        "tanhshrink": (fastnl.tanhshrink, lambda x: x - np.tanh(x), t("tanhshrink")),
        "softshrink": (fastnl.softshrink,
                       lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)),
                       t("softshrink")),
        "hardshrink": (fastnl.hardshrink, lambda x: np.where(np.abs(x) > 0.5, x, 0), t("hardshrink")),
        "threshold": (lambda x, out=None: fastnl.threshold(x, 0.5, -1.0, out=out),
                      lambda x: np.where(x > 0.5, x, -1.0),
                      lambda torch, x: torch.nn.functional.threshold(x, 0.5, -1.0)),
        "celu": (fastnl.celu, lambda x: np.where(x > 0, x, np.expm1(x)), t("celu")),
    }


def _backward(op):
    """fastnl's <op>_backward as a call (g, x, out)."""
    if op == "gelu_tanh":
        return lambda g, x, out: fastnl.gelu_backward(g, x, approximate="tanh", out=out)
    if op == "threshold":
        return lambda g, x, out: fastnl.threshold_backward(g, x, 0.5, -1.0, out=out)
    f = getattr(fastnl, f"{op}_backward")
    return lambda g, x, out: f(g, x, out=out)


def median_time(f, min_time=0.2, max_repeat=50):
    """Median of repeated timings, each of enough calls to last about 1 ms."""
    f()  # warm up (first touch of fresh pages, caches)
    start = time.perf_counter()
    f()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(1e-3 / once))
    repeat = int(min(max_repeat, max(5, min_time / (once * number))))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            f()
        times.append((time.perf_counter() - start) / number)
    return float(np.median(times))


def parallel_copy(x, out, n_threads):
    """A copy through fastnl's own loop machinery (the same C path as every
    activation, so small sizes pay the same call overhead): the bandwidth floor."""
    if fastnl.get_num_threads() != n_threads:  # entering num_threads costs more than
        with fastnl.num_threads(n_threads):    # a small copy: only when needed
            return parallel_copy(x, out, n_threads)
    if _k.fast1(_k.OP_IDS["identity"], x, out, ()) is None:
        _k.identity(x.reshape(-1), out.reshape(-1), n_threads)


def run(ops=None, dtypes=("float32", "float64"), sizes=(1_000, 100_000, 10_000_000),
        threads=None, allocate=False, use_torch=True, print_=print, backward=False):
    """Measure and print the table; returns its rows as dicts.

    With `backward`, times ``<op>_backward(g, x, out=)`` (no NumPy or torch
    baseline: their columns are empty) against the same copy.
    """
    table = _ops()
    ops = ops or list(table)
    threads = threads or fastnl.get_num_threads()
    if "torch" in sys.modules:  # a previous run's torch threads may still spin
        time.sleep(1.5)
    if backward:
        use_torch = False
    mode = ("backward, out= given" if backward
            else "allocating (no out=)" if allocate else "out= given")
    print_(f"fastnl {fastnl.__version__}, {threads} thread(s), {mode}")
    print_("ratios: numpy/fastnl and torch/fastnl (> 1: fastnl faster), fastnl/copy (1.0 = bandwidth)")
    header = f"{'op':<12}{'dtype':<9}{'size':>10}{'fastnl':>12}{'numpy':>9}{'torch':>9}{'copy':>8}"
    print_(header)
    print_("-" * len(header))
    inputs = [(dtype, size, (np.random.default_rng(0).standard_normal(size) * 3).astype(dtype))
              for dtype in dtypes for size in sizes]
    rows = []
    # fastnl, NumPy and the copy first, torch after (imported only then): once
    # torch has started its thread pool, its idle OpenMP threads spin and take
    # the cores from fastnl's, so the two libraries are never timed together.
    with fastnl.num_threads(threads):
        for dtype, size, x in inputs:
            out = np.empty_like(x)
            t_copy = median_time(lambda: parallel_copy(x, out, threads))
            g = np.random.default_rng(1).standard_normal(size).astype(dtype)
            for op in ops:
                if size >= 1_000_000:  # re-measure the floor next to each op: shared
                    t_copy = median_time(lambda: parallel_copy(x, out, threads))  # machines drift
                ours, numpy_formula, _ = table[op]
                if backward:
                    grad = _backward(op)
                    t_ours = median_time(lambda: grad(g, x, out))
                    rows.append(dict(op=op, dtype=dtype, size=size, fastnl=t_ours,
                                     numpy=None, torch=None, copy=t_ours / t_copy))
                    continue
                call = (lambda: ours(x)) if allocate else (lambda: ours(x, out=out))
                t_ours = median_time(call)
                rows.append(dict(op=op, dtype=dtype, size=size, fastnl=t_ours,
                                 numpy=median_time(lambda: numpy_formula(x), max_repeat=7) / t_ours,
                                 torch=None, copy=t_ours / t_copy))
    torch = None
    if use_torch:
        try:
            import torch
            torch.set_num_threads(threads)
            print_(f"torch {torch.__version__}, {threads} thread(s)")
        except ImportError:
            print_("torch not installed")
    if torch is not None:
        row = iter(rows)
        for dtype, size, x in inputs:
            xt, outt = torch.from_numpy(x), torch.from_numpy(np.empty_like(x))
            for op in ops:
                torch_call = table[op][2]
                call = ((lambda: torch_call(torch, xt)) if allocate
                        else (lambda: outt.copy_(torch_call(torch, xt))))
                r = next(row)
                r["torch"] = median_time(call) / r["fastnl"]
    for r in rows:
        torch_text = f"{r['torch']:>8.2f}x" if r["torch"] else f"{'-':>9}"
        numpy_text = f"{r['numpy']:>8.2f}x" if r["numpy"] else f"{'-':>9}"
        print_(f"{r['op']:<12}{r['dtype']:<9}{r['size']:>10}{_fmt(r['fastnl']):>12}"
               f"{numpy_text}{torch_text}{r['copy']:>7.2f}x")
    return rows


def _rowwise_cases():
    """(name, dtype, shape text, axis text, fastnl call, torch call maker) for
    the row-wise table; the torch maker takes the torch module and returns a
    call, or None (an op torch lacks)."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4096, 1000)) * 3).astype(np.float32)
    out = np.empty_like(x)
    g = rng.standard_normal((1000, 1000)).astype(np.float32)
    y_log = fastnl.log_softmax(rng.standard_normal((1000, 1000)).astype(np.float32))
    y = np.exp(y_log)
    gout = np.empty_like(g)
    logits = (rng.standard_normal((512, 32000)) * 3).astype(np.float32)
    target = rng.integers(0, 32000, 512)

    def along(name, axis):
        f = getattr(fastnl, name)

        def make(torch):
            xt = torch.from_numpy(x)
            tf = getattr(torch, name)
            return lambda: tf(xt, axis)
        return f"{name}", "float32", "4096x1000", str(axis), (lambda: f(x, axis=axis)), make

    def backward(name, yv):
        f = getattr(fastnl, f"{name}_backward")

        def make(torch):
            aten = torch.ops.aten
            op = aten._log_softmax_backward_data if name == "log_softmax" else aten._softmax_backward_data
            gt, yt = torch.from_numpy(g), torch.from_numpy(yv)
            return lambda: op(gt, yt, 1, torch.float32)
        return f"{name}_backward", "float32", "1000x1000", "-1", (lambda: f(g, yv, out=gout)), make

    def softmax_out(torch):
        xt, ot = torch.from_numpy(x), torch.from_numpy(np.empty_like(x))
        return lambda: torch.softmax(xt, -1, out=ot)

    def ce_forward(torch):
        xt, tt = torch.from_numpy(logits), torch.from_numpy(target)
        return lambda: torch.nn.functional.cross_entropy(xt, tt)

    def ce_both(torch):
        leaf = torch.from_numpy(logits.copy()).requires_grad_(True)
        tt = torch.from_numpy(target)

        def call():
            loss = torch.nn.functional.cross_entropy(leaf, tt)
            loss.backward()
            leaf.grad = None
        return call

    def fastnl_both():
        fastnl.cross_entropy(logits, target)
        return fastnl.cross_entropy_backward(logits, target)

    return [
        along("softmax", -1), along("softmax", 0),
        along("log_softmax", -1), along("log_softmax", 0),
        ("softmax (out=)", "float32", "4096x1000", "-1", lambda: fastnl.softmax(x, out=out),
         softmax_out),
        backward("softmax", y), backward("log_softmax", y_log),
        ("cross_entropy", "float32", "512x32000", "-1",
         lambda: fastnl.cross_entropy(logits, target), ce_forward),
        ("cross_entropy f+b", "float32", "512x32000", "-1", fastnl_both, ce_both),
    ]


def run_rowwise(threads=None, use_torch=True, print_=print):
    """Measure and print the row-wise table (fastnl first, torch after, as in
    `run`); returns its rows as dicts with both times and the ratio."""
    threads = threads or fastnl.get_num_threads()
    if "torch" in sys.modules:  # a previous run's torch threads may still spin
        time.sleep(1.5)
    cases = _rowwise_cases()
    rows = []
    with fastnl.num_threads(threads):
        for name, dtype, shape, axis, call, _ in cases:
            rows.append(dict(op=name, dtype=dtype, shape=shape, axis=axis,
                             fastnl=median_time(call), torch=None))
    if use_torch:
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            torch = None
        if torch is not None:
            for r, (*_, make) in zip(rows, cases):
                try:
                    r["torch"] = median_time(make(torch))
                except (AttributeError, RuntimeError, TypeError):  # an op this torch lacks
                    r["torch"] = None
    print_(f"fastnl {fastnl.__version__}, row-wise ops, {threads} thread(s)"
           + (f", torch {sys.modules['torch'].__version__}" if "torch" in sys.modules else ""))
    header = (f"{'op':<22}{'dtype':<9}{'shape':>11}{'axis':>6}{'fastnl':>11}{'torch':>11}"
              f"{'fastnl/torch':>14}")
    print_(header)
    print_("-" * len(header))
    for r in rows:
        t = r["torch"]
        ratio = f"{r['fastnl'] / t:.2f}x" if t else "-"
        print_(f"{r['op']:<22}{r['dtype']:<9}{r['shape']:>11}{r['axis']:>6}{_fmt(r['fastnl']):>11}"
               f"{_fmt(t) if t else '-':>11}{ratio:>14}")
    return rows


def _fmt(seconds):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastnl.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", nargs="+", choices=list(_ops()), help="operations (default: all)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1_000, 100_000, 10_000_000])
    parser.add_argument("--threads", type=int, nargs="+", default=[None],
                        help="threads for fastnl and torch, one table per value "
                             "(default: fastnl.get_num_threads())")
    parser.add_argument("--alloc", action="store_true", help="time allocating calls (no out=)")
    parser.add_argument("--backward", action="store_true",
                        help="time <op>_backward(g, x, out=) instead (no baselines)")
    parser.add_argument("--no-torch", action="store_true", help="skip torch even if installed")
    parser.add_argument("--rowwise", action="store_true",
                        help="only the row-wise table (softmax family, cross_entropy)")
    args = parser.parse_args(argv)
    for threads in args.threads:
        if not args.rowwise:
            run(args.ops, args.dtypes, args.sizes, threads, args.alloc, not args.no_torch,
                backward=args.backward)
    if args.rowwise or not (args.ops or args.backward or args.alloc):
        for threads in args.threads:
            run_rowwise(threads, not args.no_torch)


if __name__ == "__main__":
    main()
