"""``python -m fastnl.bench``: is fastnl ever slower than torch? Every
elementwise activation of ``fastnl._ops``, forward and backward, side by side
with PyTorch (when installed), the plain NumPy (or SciPy) formula and a plain
copy of the same array, in one process.

For every activation (one case per ufunc: ``gelu`` and ``gelu_tanh``), pass,
dtype, size and thread count it prints fastnl's median time and the ratios
``fastnl / other``, in that one direction everywhere (below 1: fastnl is
faster): ``fastnl/torch``; ``fastnl/numpy`` (forward only); ``fastnl/copy``,
against a parallel copy of the same array on the same threads, the
memory-bandwidth floor an elementwise operation cannot beat (about 1 at best).
Each table ends with its worst ``fastnl/torch`` ratio and its case.

    python -m fastnl.bench                      # the whole matrix, allocating calls
    python -m fastnl.bench --out                # fastnl writes into out= (torch allocates)
    python -m fastnl.bench --ops relu gelu_tanh --dtypes float32 --sizes 1000 100000
    python -m fastnl.bench --threads 1 --passes backward --no-torch
    python -m fastnl.bench --rowwise            # only the row-wise table, per thread count

The torch side is what torch runs: ``torch.nn.functional.<name>`` forward,
and for the backward its own kernel (``aten.gelu_backward``, ...) or, for
the functions torch composes of several ops, the ops its autograd evaluates
(the ``torch_backward`` expressions of ``fastnl._ops``).

After the elementwise tables (or alone, with ``--rowwise``) comes the
row-wise table: softmax and log_softmax of 4096 x 1000 float32 along the
last axis and axis 0, their backward on 1000 x 1000, and cross_entropy with
class indices on 512 x 32000 (a language model's vocabulary), forward and
forward + backward (``cross_entropy`` + ``cross_entropy_backward`` against
torch autograd's forward + ``loss.backward()``); its ratio is also
``fastnl / torch``.
"""

import argparse
import inspect
import sys
import time
from typing import NamedTuple

import numpy as np

import fastnl
from fastnl import _ops
from fastnl._config import _kernel_threads
from fastnl._kernels import _elementwise as _k

try:  # SciPy's erf and expit make the fairest plain baselines; optional
    from scipy import special as _special
except ImportError:  # pragma: no cover
    _special = None

DTYPES = ("float32", "float64")
SIZES = (1_000, 100_000, 1_000_000, 10_000_000)
THREADS = (1, 2)
PASSES = ("forward", "backward")
RATIOS = ("fastnl / other, below 1 fastnl is faster; copy: a parallel copy of x on the same "
          "threads, the bandwidth floor (fastnl/copy is about 1 at best, a backward reads "
          "two arrays)")


def _erf(x):
    if _special is not None:
        return _special.erf(x)
    from fastnl._reference import _erfc_f64
    return 1 - _erfc_f64(x).astype(x.dtype)


def _expit(x):
    return _special.expit(x) if _special is not None else 1 / (1 + np.exp(-x))


class Case(NamedTuple):
    name: str          # the ufunc's name: gelu, gelu_tanh, ...
    activation: object  # its row of fastnl._ops.ACTIVATIONS
    params: dict       # the keyword arguments of fastnl's and torch's calls


def cases():
    """One Case per ufunc of ``fastnl._ops.UFUNCS``: its activation with the
    first ``cases`` setting that chooses the ufunc's kernel."""
    found = []
    for a in _ops.ACTIVATIONS:
        if a.custom or not a.ufunc:
            continue
        chooser = next((p.name for p in a.params if p.options), None)
        for option, _, name in _ops.kernel_choices(a):
            setting = next((c for c in a.cases if _ops.setting_name(a, c) == name),
                           {chooser: option})
            found.append(Case(name, a, setting))
    return found


def _values(a, params, as_array):
    """The names of a row's expressions: fastnl's defaults updated by
    `params`, tuples (prelu's weight) through `as_array`."""
    signature = inspect.signature(getattr(fastnl, a.name)).parameters.values()
    values = {p.name: p.default for p in signature if p.default is not inspect.Parameter.empty}
    values.update(params)
    return {k: as_array(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _function(text, args, names):
    # a real function, so that a timed call pays no eval()
    return eval(f"lambda {', '.join(args)}: {text}", names)  # noqa: S307 (our own table)


def numpy_formula(a, params, dtype):
    """The row's ``numpy`` expression as a call f(x) for arrays of `dtype`."""
    names = _values(a, params, lambda v: np.asarray(v, dtype))
    return _function(a.numpy, ["x"], {"np": np, "erf": _erf, "expit": _expit, **names})


def torch_forward(a, params, torch):
    """torch's forward of the row as a call f(xt)."""
    f = (getattr(torch, a.torch) if a.torch in ("sigmoid", "tanh")
         else getattr(torch.nn.functional, a.torch))
    if not any(isinstance(v, tuple) for v in params.values()):
        return lambda xt: f(xt, **params)
    return lambda xt: f(xt, **{k: torch.tensor(v, dtype=xt.dtype) if isinstance(v, tuple) else v
                               for k, v in params.items()})


def torch_backward(a, params, torch, xt):
    """The row's ``torch_backward`` expression as a call f(g, x, y) for the
    tensor `xt` (its ``torch_saved`` is computed here, once, from xt)."""
    names = {"torch": torch, "aten": torch.ops.aten,
             **_values(a, params, lambda v: torch.tensor(v, dtype=xt.dtype))}
    if a.torch_saved:
        names["saved"] = _function(a.torch_saved, ["x"], names)(xt)
    return _function(a.torch_backward, ["g", "x", "y"], names)


def _fastnl_call(case, direction, x, g, out):
    """fastnl's forward or backward of `case` as a call without arguments."""
    kwargs = {k: np.asarray(v) if isinstance(v, tuple) else v for k, v in case.params.items()}
    if out is not None:
        kwargs["out"] = out
    if direction == "forward":
        f = getattr(fastnl, case.activation.name)
        return lambda: f(x, **kwargs)
    f = getattr(fastnl, f"{case.activation.name}_backward")
    if "output" in inspect.signature(f).parameters:  # sigmoid, tanh: from the output, as
        y = getattr(fastnl, case.activation.name)(x, **kwargs)  # torch's autograd does
        return lambda: f(g, out=kwargs.get("out"), output=y)
    return lambda: f(g, x, **kwargs)


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
    if _k.fast(_k.identity, None, x, out) is None:
        _k.identity(x.reshape(-1), out.reshape(-1), _kernel_threads())


def run(ops=None, dtypes=DTYPES, sizes=SIZES, threads=None, out=False, use_torch=True,
        print_=print, passes=PASSES):
    """Measure and print one table per pass (forward, backward) on `threads`
    threads; returns the rows as dicts of times in seconds (None: not
    measured). With `out`, fastnl writes into out= (torch, which has no out=
    in these functions, still allocates; NumPy always allocates)."""
    chosen = [c for c in cases() if not ops or c.name in ops]
    threads = threads or fastnl.get_num_threads()
    if "torch" in sys.modules:  # a previous run's torch threads may still spin
        time.sleep(1.5)
    inputs = [(dtype, size, (np.random.default_rng(0).standard_normal(size) * 3).astype(dtype))
              for dtype in dtypes for size in sizes]
    rows = []
    # fastnl, NumPy and the copy first, torch after (imported only then): once
    # torch has started its thread pool, its idle OpenMP threads spin and take
    # the cores from fastnl's, so the two libraries are never timed together.
    with fastnl.num_threads(threads):
        for dtype, size, x in inputs:
            buffer = np.empty_like(x)
            g = np.random.default_rng(1).standard_normal(size).astype(dtype)
            t_copy = median_time(lambda: parallel_copy(x, buffer, threads))
            for direction in passes:
                for case in chosen:
                    if size >= 1_000_000:  # re-measure the floor next to each op: shared
                        t_copy = median_time(lambda: parallel_copy(x, buffer, threads))  # machines drift
                    t_numpy = None
                    if direction == "forward":
                        formula = numpy_formula(case.activation, case.params, x.dtype)
                        with np.errstate(all="ignore"):
                            t_numpy = median_time(lambda: formula(x), max_repeat=7)
                    call = _fastnl_call(case, direction, x, g, buffer if out else None)
                    rows.append(dict(op=case.name, direction=direction, dtype=dtype, size=size,
                                     threads=threads, fastnl=median_time(call), numpy=t_numpy,
                                     torch=None, copy=t_copy))
    torch = None
    if use_torch:
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            pass
    if torch is not None:
        row = iter(rows)
        for dtype, size, x in inputs:
            xt = torch.from_numpy(x)
            gt = torch.from_numpy(np.random.default_rng(1).standard_normal(size).astype(dtype))
            for direction in passes:
                for case in chosen:
                    if case.activation.torch is None:  # fastnl's own (squareplus): no twin
                        next(row)
                        continue
                    forward = torch_forward(case.activation, case.params, torch)
                    if direction == "forward":
                        call = lambda: forward(xt)  # noqa: E731
                    else:
                        backward = torch_backward(case.activation, case.params, torch, xt)
                        yt = forward(xt)
                        call = lambda: backward(gt, xt, yt)  # noqa: E731
                    next(row)["torch"] = median_time(call)
    fastnl_mode = "writing into out=" if out else "allocating"
    torch_text = (f"torch {torch.__version__} allocating (no out= in torch.nn.functional)"
                  if torch is not None else "no torch" if use_torch else "torch skipped")
    order = {c.name: i for i, c in enumerate(chosen)}  # printed op by op, timed size by size
    for direction in passes:
        print_(f"fastnl {fastnl.__version__}, {direction}, {fastnl_mode}; {torch_text}; "
               f"NumPy {np.__version__}; {threads} thread(s)")
        _print_table(sorted((r for r in rows if r["direction"] == direction),
                            key=lambda r: order[r["op"]]), print_)
    return rows


def _ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def _print_table(rows, print_):
    print_(f"ratios: {RATIOS}")
    header = (f"{'op':<12}{'dtype':<9}{'size':>10}{'fastnl':>11}{'fastnl/torch':>14}"
              f"{'fastnl/numpy':>14}{'fastnl/copy':>13}")
    print_(header)
    print_("-" * len(header))
    for r in rows:
        print_(f"{r['op']:<12}{r['dtype']:<9}{r['size']:>10}{_fmt(r['fastnl']):>11}"
               f"{_ratio(r['fastnl'], r['torch']):>14}{_ratio(r['fastnl'], r['numpy']):>14}"
               f"{_ratio(r['fastnl'], r['copy']):>13}")
    _print_worst(rows, lambda r: f"{r['op']} {r['dtype']} {r['size']}", print_)


def _print_worst(rows, label, print_):
    """The table's last line: its largest fastnl/torch ratio and where."""
    compared = [r for r in rows if r["torch"]]
    if not compared:
        print_("worst fastnl/torch: - (torch not timed)\n")
        return
    worst = max(compared, key=lambda r: r["fastnl"] / r["torch"])
    slower = sum(r["fastnl"] > r["torch"] for r in compared)
    print_(f"worst fastnl/torch: {worst['fastnl'] / worst['torch']:.2f} ({label(worst)}); "
           f"fastnl slower in {slower} of {len(compared)}\n")


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
    `run`); returns its rows as dicts with both times."""
    threads = threads or fastnl.get_num_threads()
    if "torch" in sys.modules:  # a previous run's torch threads may still spin
        time.sleep(1.5)
    rowwise = _rowwise_cases()
    rows = []
    with fastnl.num_threads(threads):
        for name, dtype, shape, axis, call, _ in rowwise:
            rows.append(dict(op=name, dtype=dtype, shape=shape, axis=axis,
                             fastnl=median_time(call), torch=None))
    if use_torch:
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            torch = None
        if torch is not None:
            for r, (*_, make) in zip(rows, rowwise):
                try:
                    r["torch"] = median_time(make(torch))
                except (AttributeError, RuntimeError, TypeError):  # an op this torch lacks
                    r["torch"] = None
    print_(f"fastnl {fastnl.__version__}, row-wise ops, {threads} thread(s)"
           + (f", torch {sys.modules['torch'].__version__}" if "torch" in sys.modules else ""))
    print_("ratio: fastnl / torch, below 1 fastnl is faster")
    header = (f"{'op':<22}{'dtype':<9}{'shape':>11}{'axis':>6}{'fastnl':>11}{'torch':>11}"
              f"{'fastnl/torch':>14}")
    print_(header)
    print_("-" * len(header))
    for r in rows:
        t = r["torch"]
        print_(f"{r['op']:<22}{r['dtype']:<9}{r['shape']:>11}{r['axis']:>6}{_fmt(r['fastnl']):>11}"
               f"{_fmt(t) if t else '-':>11}{_ratio(r['fastnl'], t):>14}")
    _print_worst(rows, lambda r: f"{r['op']} {r['shape']} axis {r['axis']}", print_)
    return rows


def _fmt(seconds):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


# ---------------------------------------------------------------- fused linear cross-entropy
#
# python -m fastnl.bench --linear: linear_cross_entropy at a language model's
# output layer, against torch 2.13's linear_cross_entropy on both its paths.
# Kept apart from the tables above (its own cases, timing and memory probe).

LINEAR_SIZES = ((2048, 512, 32000), (4096, 1024, 50000))  # (N, in_features, C)


def _linear_problem(n, d, c, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    W = (rng.uniform(-1, 1, (c, d)) / np.sqrt(d)).astype(np.float32)  # as torch.nn.Linear
    b = (rng.uniform(-1, 1, c) / np.sqrt(d)).astype(np.float32)
    t = rng.integers(0, c, n)
    return x, W, b, t


def _linear_cases(x, W, b, t, torch):
    """{name: (call, bytes of what the call leaves behind)}: the results,
    which both libraries must produce, are not counted as extra memory."""
    n, d = x.shape
    grads = (x.size + W.size + b.size) * 4
    lce = fastnl.nn.LinearCrossEntropy(d, W.shape[0])
    lce.load_state_dict({"weight": W, "bias": b})

    def module():
        lce.zero_grad()
        lce(x, t)
        return lce.backward()

    cases = {
        "fastnl forward": (lambda: fastnl.linear_cross_entropy(x, W, t, linear_bias=b), 0),
        "fastnl fwd+bwd": (lambda: (fastnl.linear_cross_entropy(x, W, t, linear_bias=b),
                                    fastnl.linear_cross_entropy_backward(x, W, t,
                                                                         linear_bias=b)),
                           grads),
        "fastnl module fwd+bwd": (module, grads),
    }
    if torch is None:
        return cases
    F = torch.nn.functional
    xt, Wt, bt, tt = (torch.from_numpy(a) for a in (x, W, b, t))
    paths = {"reference": None, "chunked": torch.nn.LinearCrossEntropyOptions()}
    for name, options in paths.items():
        def forward(options=options):
            with torch.no_grad():
                return F.linear_cross_entropy(xt, Wt, tt, linear_bias=bt, options=options)

        def both(options=options):
            leaves = [a.detach().requires_grad_() for a in (xt, Wt, bt)]
            loss = F.linear_cross_entropy(leaves[0], leaves[1], tt, linear_bias=leaves[2],
                                          options=options)
            loss.backward()
            return [a.grad for a in leaves]

        cases[f"torch {name} forward"] = (forward, 0)
        cases[f"torch {name} fwd+bwd"] = (both, grads)
    return cases


class _PeakRSS:
    """The largest resident set size seen while inside the block, sampled
    every millisecond from /proc/self/statm (Linux; None elsewhere)."""

    def __init__(self):
        import os
        import threading
        self._os, self._threading = os, threading
        self.peak = self.start = None

    def _rss(self):
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self._os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def _sample(self):
        while not self._stop.wait(0.001):
            rss = self._rss()
            if rss is not None:
                self.peak = max(self.peak, rss)

    def __enter__(self):
        self.start = self.peak = self._rss()
        if self.start is not None:
            self._stop = self._threading.Event()
            self._thread = self._threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.start is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self._rss() or 0)


def _fixed_mmap_threshold():
    """Have glibc's malloc give blocks of 64 KiB and more their own pages,
    returned at free (it otherwise raises that threshold as big blocks are
    freed and reuses the heap, which hides them from the RSS): best effort."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def peak_extra_memory(call, kept=0):
    """Bytes a call holds at its peak beyond what it leaves behind (`kept`,
    its results): the larger of tracemalloc's peak (NumPy's allocations) and
    the growth of the resident set size (any allocator: torch's, BLAS's)."""
    import gc
    import tracemalloc
    gc.collect()
    tracemalloc.start()
    try:
        with _PeakRSS() as rss:
            result = call()
        traced = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    grown = rss.peak - rss.start if rss.start is not None else 0
    return max(traced, grown) - kept


def run_linear(threads=THREADS, sizes=LINEAR_SIZES, use_torch=True, repeat=3, print_=print):
    """Time (median of `repeat` rounds, the cases interleaved within each
    round so that a change of load hits all of them) and measure the peak
    extra memory of every case; print one table per size and thread count,
    with ratios fastnl / torch's faster path. Returns the rows."""
    torch = None
    if use_torch:
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None and not hasattr(torch.nn, "LinearCrossEntropyOptions"):
            torch = None  # a torch without linear_cross_entropy's chunked path
    _fixed_mmap_threshold()
    rows = []
    for n, d, c in sizes:
        x, W, b, t = _linear_problem(n, d, c)
        logits = n * c * 4
        for th in threads:
            if torch is not None:
                torch.set_num_threads(th)
            with fastnl.num_threads(th):
                cases = _linear_cases(x, W, b, t, torch)
                for call, _ in cases.values():
                    call()  # warm up: first calls set up caches, pools, BLAS buffers
                memory = {name: peak_extra_memory(call, kept)
                          for name, (call, kept) in cases.items()}
                times = {name: [] for name in cases}
                for _ in range(repeat):
                    for name, (call, _) in cases.items():
                        start = time.perf_counter()
                        call()
                        times[name].append(time.perf_counter() - start)
            found = {name: float(np.median(v)) for name, v in times.items()}
            best = {p: min((found[k] for k in found if k.startswith("torch") and
                            k.endswith(p)), default=None) for p in ("forward", "fwd+bwd")}
            for name in cases:
                anchor = best["forward" if name.endswith("forward") else "fwd+bwd"]
                rows.append(dict(case=name, n=n, d=d, c=c, threads=th, time=found[name],
                                 ratio=found[name] / anchor if anchor and
                                 name.startswith("fastnl") else None,
                                 memory=memory[name], logits=logits))
            _print_linear(rows[-len(cases):], print_)
    return rows


def _print_linear(rows, print_):
    r0 = rows[0]
    print_(f"fastnl {fastnl.__version__}, linear_cross_entropy float32 N={r0['n']} "
           f"in_features={r0['d']} C={r0['c']}, {r0['threads']} thread(s)"
           + (f", torch {sys.modules['torch'].__version__}" if "torch" in sys.modules else ""))
    print_(f"ratio: fastnl / torch's faster path (reference or chunked), below 1 fastnl is "
           f"faster; memory: peak beyond the results, vs the (N, C) float32 logits "
           f"({r0['logits'] / 2**20:.0f} MiB)")
    header = f"{'case':<26}{'median':>10}{'ratio':>8}{'peak extra':>13}{'/ logits':>10}"
    print_(header)
    print_("-" * len(header))
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else "-"
        print_(f"{r['case']:<26}{_fmt(r['time']):>10}{ratio:>8}"
               f"{r['memory'] / 2**20:>9.1f} MiB{r['memory'] / r['logits']:>10.1%}")
    print_()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastnl.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", nargs="+", choices=[c.name for c in cases()],
                        help="activations (default: all)")
    parser.add_argument("--passes", nargs="+", default=list(PASSES), choices=PASSES)
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=DTYPES)
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--threads", type=int, nargs="+", default=list(THREADS),
                        help="threads for fastnl and torch, one table per value")
    parser.add_argument("--out", action="store_true",
                        help="fastnl writes into out= (default: allocating calls)")
    parser.add_argument("--no-torch", action="store_true", help="skip torch even if installed")
    parser.add_argument("--rowwise", action="store_true",
                        help="only the row-wise table (softmax family, cross_entropy)")
    parser.add_argument("--linear", action="store_true",
                        help="only linear_cross_entropy against torch's, per size and thread "
                             "count (minutes)")
    args = parser.parse_args(argv)
    if args.linear:
        run_linear(args.threads, use_torch=not args.no_torch)
        return
    if not args.rowwise:
        for threads in args.threads:
            run(args.ops, args.dtypes, args.sizes, threads, args.out, not args.no_torch,
                passes=args.passes)
    # the row-wise table has no op list nor out= mode: it comes with the full matrix
    if args.rowwise or not (args.ops or args.out or args.passes != list(PASSES)):
        for threads in args.threads:
            run_rowwise(threads, not args.no_torch)


if __name__ == "__main__":
    main()
