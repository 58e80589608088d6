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
Each table ends with its worst ``fastnl/torch`` ratio and its case, the
number of cases slower than torch, and how many of those also take more than
1.1 times the copy (the target: no slower than torch or, where torch is at
memory speed, than 1.1 copies).

    python -m fastnl.bench                      # the whole matrix, allocating calls
    python -m fastnl.bench --out                # fastnl writes into out= (torch allocates)
    python -m fastnl.bench --ops relu gelu_tanh --dtypes float32 --sizes 1000 100000
    python -m fastnl.bench --threads 1 --passes backward --no-torch
    python -m fastnl.bench --rowwise            # only the row-wise table, per thread count
    python -m fastnl.bench --rowwise --dtypes float64 --threads 1 --shapes 64x1000
    python -m fastnl.bench --ops softmax cross_entropy+backward --shapes 512x32000
    python -m fastnl.bench --linear             # linear_cross_entropy against torch's (minutes)
    python -m fastnl.bench --losses --sizes 1000000 --threads 2   # the other losses
    python -m fastnl.bench --ctc                # ctc_loss (and its backward) against torch's
    python -m fastnl.bench --rowwise --paired --threads 2 --shapes 1000x1000   # alternating rounds

By default every table times all of fastnl's cases first and torch's after
(once torch has started its thread pool, its idle OpenMP threads spin on the
cores). On a shared machine a load that comes and goes between the two
phases moves a ratio near 1 by +-50% from run to run; ``--paired`` times
each case's two sides in alternating rounds instead, pausing after each for
the idle threads to sleep, and keeps each side's fastest round
(elementwise, row-wise and losses tables): slower, but it decides whether a
memory-bound case is faster or slower than torch's. The default tables time
their cases slower than torch that way too, after torch's phase, and print
those figures with a ``p`` after the ratio, so that a table's worst line
names a case that is slower, not a phase of the machine.

The torch side is what torch runs: ``torch.nn.functional.<name>`` forward,
and for the backward its own kernel (``aten.gelu_backward``, ...) or, for
the functions torch composes of several ops, the ops its autograd evaluates
(the ``torch_backward`` expressions of ``fastnl._ops``). Where that reads
a tensor torch's forward saved (``torch_saved``: ``tanh(x)`` for tanhshrink,
``exp(-|x|)`` for logsigmoid, ``|x| + 1`` for softsign), which fastnl's
``<name>_backward(grad_output, x)`` computes again from x, the row is
starred and the backward table also gives its worst ratio without them.

After the elementwise tables (or alone, with ``--rowwise``) comes the
row-wise table, one per thread count: softmax, log_softmax and softmin along
the last axis and axis 0 and their backward (``softmax_backward``, ... against
torch's ``_softmax_backward_data`` / ``_log_softmax_backward_data``, softmin's
followed by the negation, as autograd runs them), cross_entropy with class
indices, nll_loss (of log-probabilities), and cross_entropy forward + backward
(``cross_entropy`` + ``cross_entropy_backward`` against torch autograd's
forward + ``loss.backward()``); logsumexp along both axes, glu and
gumbel_softmax along the rows, their backward (against ``aten.glu_backward``,
the softmax backward kernel and the expression torch's autograd evaluates for
logsumexp) and one_hot of the class indices; on 64 x 1000, 4096 x 1000 and 512 x 32000 (a
language model's vocabulary), float32 and float64. Its ratios are the same
``fastnl / other``: ``fastnl/numpy`` against the plain NumPy formula (forward
only), ``fastnl/copy`` against a parallel copy of the logits. ``--ops`` takes
the names of both tables (a table none of whose ops is named is skipped),
``--passes backward`` keeps the backward rows and cross_entropy+backward;
``--sizes`` alone selects only the elementwise tables, ``--shapes`` (rows x
classes) alone only the row-wise one; ``--dtypes``, ``--threads``, ``--out``
and ``--no-torch`` apply to both. Before its worst case, the row-wise table
prints the 1-minute load average at its start and end: other processes on
the cores make every ratio meaningless (a 2-thread OpenMP loop waits for a
thread the system has descheduled).

Then (or alone, with ``--losses``; not with ``--rowwise``, ``--sizes``, ``--shapes`` or
``--out``) comes the table of the losses beyond those: each
forward (``'mean'``) and forward + backward (fastnl's loss and
``<name>_backward`` against torch autograd's forward and ``loss.backward()``)
on inputs of 1e5 and 1e6 elements (alone: ``--sizes``); ``--ops`` names them
(``poisson_nll_loss``, ``poisson_nll_loss+backward``, ...).

Last (or alone, with ``--ctc``; not with ``--rowwise``, ``--sizes`` or
``--shapes``) comes the CTC table, one per thread count: ``ctc_loss``
(reduction 'mean') and ``ctc_loss`` + ``ctc_loss_backward`` against torch
autograd's forward + ``loss.backward()``, at batch 16, 200 time steps, 30
classes and targets of 50, float32 and float64; ``--ops ctc_loss
ctc_loss+backward`` selects its rows.
"""

import argparse
import inspect
import os
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


def _torch_on(threads):
    """torch with `threads` threads of its own, or None where it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    # torch 2.13's float64 gelu takes 4x its time until the process has run
    # some other op (measured: 2.2 ms against 0.61 ms for 10^5 elements on one
    # thread, whatever the op), so a table of gelu alone would flatter fastnl
    torch.relu(torch.zeros(8))
    return torch


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


PAUSE = 0.2  # s: longer than torch's (and fastnl's) idle OpenMP threads spin
PAIRED_ROUNDS = 5


def paired_times(fastnl_call, torch_call, max_repeat=50, rounds=PAIRED_ROUNDS):
    """(fastnl, torch): each side's fastest of `rounds` alternating rounds,
    each round a median_time, with a pause after each so that neither
    library's idle threads spin into the other's round. Both sides are timed
    within seconds of each other, and the fastest round drops the rounds a
    neighbour on the machine slowed (noise only adds time): on this shared
    2-core VM the same call's round medians spread over 2x, in runs of
    rounds, where timing every fastnl case first and every torch case after
    swung a ratio near 1 by +-50% from run to run."""
    times = []
    for _ in range(rounds):
        for call in (fastnl_call, torch_call):
            times.append(median_time(call, min_time=0.05, max_repeat=max_repeat))
            time.sleep(PAUSE)
    return min(times[0::2]), min(times[1::2])


def _timed(fastnl_call, torch_call, max_repeat=50):
    """(fastnl, torch) as paired_times where there is a torch call (the
    paired tables), else (fastnl's median_time, None): torch is timed after."""
    if torch_call is None:
        return median_time(fastnl_call, max_repeat=max_repeat), None
    return paired_times(fastnl_call, torch_call, max_repeat)


def _retime_if_slower(row, make_fastnl_call, torch_call, threads, max_repeat=50):
    """In a table timed fastnl first and torch after: where fastnl came out
    slower, both sides again in alternating rounds (paired_times, fastnl's
    call from `make_fastnl_call()` on `threads`), whose figures replace the
    row's (marked ``p``). A load that came or went between the two phases
    made such rows; a case slower in alternating rounds too stays slower."""
    if not (row["torch"] and row["fastnl"] > row["torch"]):
        return
    with fastnl.num_threads(threads):
        row["fastnl"], row["torch"] = paired_times(make_fastnl_call(), torch_call, max_repeat)
    row["retimed"] = True


def _torch_ratio(r):
    """fastnl/torch as printed: ``p`` where the row was timed again (_retime_if_slower)."""
    return _ratio(r["fastnl"], r["torch"]) + ("p" if r.get("retimed") else "")


RETIMED_NOTE = ("p: slower than torch when timed fastnl first and torch after, so both timed "
                f"again in alternating rounds (the fastest of {PAIRED_ROUNDS} each): the figures "
                "shown")


def _print_retimed_note(rows, print_):
    if any(r.get("retimed") for r in rows):
        print_(RETIMED_NOTE)


def parallel_copy(x, out, n_threads):
    """A copy through fastnl's own loop machinery (the same C path as every
    activation, so small sizes pay the same call overhead): the bandwidth floor."""
    if fastnl.get_num_threads() != n_threads:  # entering num_threads costs more than
        with fastnl.num_threads(n_threads):    # a small copy: only when needed
            return parallel_copy(x, out, n_threads)
    if _k.fast(_k.identity, None, x, out) is None:
        _k.identity(x.reshape(-1), out.reshape(-1), _kernel_threads())


def _torch_call(case, direction, xt, gt, torch):
    """torch's call of an elementwise case, None where torch has no twin
    (fastnl's own squareplus)."""
    if case.activation.torch is None:
        return None
    forward = torch_forward(case.activation, case.params, torch)
    if direction == "forward":
        return lambda: forward(xt)
    backward = torch_backward(case.activation, case.params, torch, xt)
    yt = forward(xt)
    return lambda: backward(gt, xt, yt)


def run(ops=None, dtypes=DTYPES, sizes=SIZES, threads=None, out=False, use_torch=True,
        print_=print, passes=PASSES, paired=False):
    """Measure and print one table per pass (forward, backward) on `threads`
    threads; returns the rows as dicts of times in seconds (None: not
    measured). With `out`, fastnl writes into out= (torch, which has no out=
    in these functions, still allocates; NumPy always allocates). With
    `paired`, each case's fastnl and torch calls run in alternating rounds
    (`paired_times`)."""
    chosen = [c for c in cases() if not ops or c.name in ops]
    threads = threads or fastnl.get_num_threads()
    if "torch" in sys.modules:  # a previous run's torch threads may still spin
        time.sleep(1.5)
    inputs = [(dtype, size, (np.random.default_rng(0).standard_normal(size) * 3).astype(dtype))
              for dtype in dtypes for size in sizes]
    rows = []
    # fastnl, NumPy and the copy first, torch after (imported only then): once
    # torch has started its thread pool, its idle OpenMP threads spin and take
    # the cores from fastnl's, so the two libraries are never timed together
    # (paired: never without a pause between them).
    torch = _torch_on(threads) if use_torch and paired else None
    with fastnl.num_threads(threads):
        for dtype, size, x in inputs:
            buffer = np.empty_like(x)
            g = np.random.default_rng(1).standard_normal(size).astype(dtype)
            if torch is not None:
                xt, gt = torch.from_numpy(x), torch.from_numpy(g)
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
                    t_fastnl, t_torch = _timed(call, _torch_call(case, direction, xt, gt, torch)
                                               if torch is not None else None)
                    rows.append(dict(op=case.name, direction=direction, dtype=dtype, size=size,
                                     threads=threads, fastnl=t_fastnl, numpy=t_numpy,
                                     torch=t_torch, copy=t_copy,
                                     torch_saved=direction == "backward"
                                     and case.activation.torch_saved))
    if use_torch and not paired:
        torch = _torch_on(threads)
        row = iter(rows)
        for dtype, size, x in inputs if torch is not None else ():
            xt = torch.from_numpy(x)
            gt = torch.from_numpy(np.random.default_rng(1).standard_normal(size).astype(dtype))
            g, buffer = gt.numpy(), np.empty_like(x)
            for direction in passes:
                for case in chosen:
                    call = _torch_call(case, direction, xt, gt, torch)
                    r = next(row)
                    r["torch"] = median_time(call) if call is not None else None
                    _retime_if_slower(r, lambda: _fastnl_call(case, direction, x, g,
                                                              buffer if out else None),
                                      call, threads)
    order = {c.name: i for i, c in enumerate(chosen)}  # printed op by op, timed size by size
    for direction in passes:
        print_(_header(direction, out, torch, use_torch, threads, paired))
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
    saving = sorted({f"{r['op']}: {r['torch_saved']}" for r in rows
                     if r["torch_saved"] and r["torch"]})
    for r in rows:
        op = r["op"] + ("*" if r["torch_saved"] and r["torch"] else "")
        print_(f"{op:<12}{r['dtype']:<9}{r['size']:>10}{_fmt(r['fastnl']):>11}"
               f"{_torch_ratio(r):>14}{_ratio(r['fastnl'], r['numpy']):>14}"
               f"{_ratio(r['fastnl'], r['copy']):>13}")
    _print_retimed_note(rows, print_)
    _print_worst(rows, _size_label, print_, end="" if saving else "\n")
    if saving:
        # the same worst without them: where both sides compute the derivative from x
        print_("* torch's backward reads a tensor its forward saved, which fastnl's "
               "<name>_backward(grad_output, x) computes again: " + "; ".join(saving))
        _print_worst([r for r in rows if not r["torch_saved"]], _size_label, print_,
                     prefix="without the * rows, worst fastnl/torch")


def _size_label(r):
    """A row of a table by size (elementwise, losses, ctc) as its worst line names it."""
    return f"{r['op']} {r['dtype']} {r['size']}"


# The speed target: no slower than torch or, where torch is at memory speed,
# than this multiple of a plain copy of the input (the copy column)
COPY_ALLOWANCE = 1.1


def _misses_target(r):
    """Slower than torch and beyond COPY_ALLOWANCE times the copy (or no copy timed)."""
    return r["fastnl"] > r["torch"] and not (r.get("copy") and
                                             r["fastnl"] <= COPY_ALLOWANCE * r["copy"])


def _print_worst(rows, label, print_, prefix="worst fastnl/torch", end="\n"):
    """The table's last line: its largest fastnl/torch ratio and where, how
    many cases are slower than torch, and how many of those also take more
    than COPY_ALLOWANCE times the copy (the target's misses)."""
    compared = [r for r in rows if r["torch"]]
    if not compared:
        print_(f"{prefix}: - (torch not timed){end}")
        return
    worst = max(compared, key=lambda r: r["fastnl"] / r["torch"])
    slower = sum(r["fastnl"] > r["torch"] for r in compared)
    missed = sum(map(_misses_target, compared))
    print_(f"{prefix}: {worst['fastnl'] / worst['torch']:.2f} ({label(worst)}); "
           f"fastnl slower in {slower} of {len(compared)}, "
           f"{missed} of them beyond {COPY_ALLOWANCE}x the copy too{end}")


ROWWISE_SHAPES = ("64x1000", "4096x1000", "512x32000")
SOFTMAX_FAMILY = ("softmax", "log_softmax", "softmin")
ROWWISE_RATIOS = ("fastnl / other, below 1 fastnl is faster; numpy: the plain NumPy formula "
                  "(forward only); copy: a parallel copy of the logits on the same threads, the "
                  "bandwidth floor")


class RowwiseCase(NamedTuple):
    name: str       # softmax, softmax_backward, ..., cross_entropy, nll_loss, cross_entropy+backward
    direction: str  # forward, backward or forward+backward
    axis: int       # the softmax axis; the classes' (-1) for the losses
    fastnl: object  # fastnl(inputs, out) -> a call without arguments
    torch: object   # torch(torch, inputs) -> a call without arguments
    numpy: object = None  # numpy(inputs) -> a call without arguments (forward only)
    out: bool = True      # fastnl's call writes into out= (those without one allocate)


class RowwiseInputs:
    """The arrays of one dtype and shape ("rows x classes"): the logits x,
    a grad_output g, class indices, and (on first use) each forward's
    output, the backward's input. Seeded: the torch phase remakes them."""

    def __init__(self, dtype, shape):
        rows, classes = shape = _shape(shape)
        self.x = (np.random.default_rng(0).standard_normal(shape) * 3).astype(dtype)
        self.g = np.random.default_rng(1).standard_normal(shape).astype(dtype)
        self.target = np.random.default_rng(2).integers(0, classes, rows)
        self._outputs = {}

    def output(self, name, axis):
        if (name, axis) not in self._outputs:
            self._outputs[name, axis] = getattr(fastnl, name)(self.x, axis=axis)
        return self._outputs[name, axis]


def _shape(text):
    return tuple(int(n) for n in text.split("x"))


def _along_axis(name, axis):
    def fastnl_call(inp, out):
        f, x = getattr(fastnl, name), inp.x
        return lambda: f(x, axis=axis, out=out)

    def torch_call(torch, inp):
        # softmin is softmax(-x) in torch: a negation and a softmax
        f = torch.nn.functional.softmin if name == "softmin" else getattr(torch, name)
        xt = torch.from_numpy(inp.x)
        return lambda: f(xt, axis)

    def numpy_call(inp):
        x = inp.x

        def call():
            z = -x if name == "softmin" else x
            z = z - z.max(axis, keepdims=True)
            if name == "log_softmax":
                return z - np.log(np.exp(z).sum(axis, keepdims=True))
            e = np.exp(z)
            return e / e.sum(axis, keepdims=True)
        return call
    return RowwiseCase(name, "forward", axis, fastnl_call, torch_call, numpy_call)


def _along_axis_backward(name, axis):
    def fastnl_call(inp, out):
        f, g, y = getattr(fastnl, f"{name}_backward"), inp.g, inp.output(name, axis)
        return lambda: f(g, y, axis=axis, out=out)

    def torch_call(torch, inp):
        # torch's own backward kernels, as its autograd runs them (softmin:
        # softmax's, then the negation's)
        aten = torch.ops.aten
        gt, yt = torch.from_numpy(inp.g), torch.from_numpy(inp.output(name, axis))
        if name == "log_softmax":
            return lambda: aten._log_softmax_backward_data(gt, yt, axis, gt.dtype)
        if name == "softmin":
            return lambda: torch.neg(aten._softmax_backward_data(gt, yt, axis, gt.dtype))
        return lambda: aten._softmax_backward_data(gt, yt, axis, gt.dtype)
    return RowwiseCase(f"{name}_backward", "backward", axis, fastnl_call, torch_call)


def _rows(x):
    return np.arange(x.shape[0])


def _cross_entropy():
    def fastnl_call(inp, out):
        x, t = inp.x, inp.target
        return lambda: fastnl.cross_entropy(x, t)

    def torch_call(torch, inp):
        xt, tt = torch.from_numpy(inp.x), torch.from_numpy(inp.target)
        return lambda: torch.nn.functional.cross_entropy(xt, tt)

    def numpy_call(inp):
        x, t, rows = inp.x, inp.target, _rows(inp.x)

        def call():
            z = x - x.max(1, keepdims=True)
            return np.mean(np.log(np.exp(z).sum(1)) - z[rows, t])
        return call
    return RowwiseCase("cross_entropy", "forward", -1, fastnl_call, torch_call, numpy_call)


def _nll_loss():
    def fastnl_call(inp, out):
        logp, t = inp.output("log_softmax", -1), inp.target
        return lambda: fastnl.nll_loss(logp, t)

    def torch_call(torch, inp):
        logp, tt = torch.from_numpy(inp.output("log_softmax", -1)), torch.from_numpy(inp.target)
        return lambda: torch.nn.functional.nll_loss(logp, tt)

    def numpy_call(inp):
        logp, t, rows = inp.output("log_softmax", -1), inp.target, _rows(inp.x)
        return lambda: -np.mean(logp[rows, t])
    return RowwiseCase("nll_loss", "forward", -1, fastnl_call, torch_call, numpy_call)


def _cross_entropy_both():
    """A training step's loss: cross_entropy + cross_entropy_backward against
    torch autograd's forward + loss.backward(); both calls return the gradient."""
    def fastnl_call(inp, out):
        x, t = inp.x, inp.target

        def call():
            fastnl.cross_entropy(x, t)
            return fastnl.cross_entropy_backward(x, t, out=out)
        return call

    def torch_call(torch, inp):
        leaf = torch.from_numpy(inp.x.copy()).requires_grad_(True)
        tt = torch.from_numpy(inp.target)

        def call():
            leaf.grad = None
            torch.nn.functional.cross_entropy(leaf, tt).backward()
            return leaf.grad
        return call
    return RowwiseCase("cross_entropy+backward", "forward+backward", -1, fastnl_call, torch_call)


def _logsumexp(axis):
    def fastnl_call(inp, out):
        x = inp.x
        return lambda: fastnl.logsumexp(x, axis)

    def torch_call(torch, inp):
        xt = torch.from_numpy(inp.x)
        return lambda: torch.logsumexp(xt, axis)

    def numpy_call(inp):
        x = inp.x

        def call():
            m = x.max(axis, keepdims=True)
            return np.log(np.exp(x - m).sum(axis)) + np.squeeze(m, axis)
        return call
    return RowwiseCase("logsumexp", "forward", axis, fastnl_call, torch_call, numpy_call,
                       out=False)


def _logsumexp_backward():
    """g softmax(x) along the rows; torch's side is the expression its
    autograd evaluates, grad * exp(x - result)."""
    def fastnl_call(inp, out):
        x, g = inp.x, np.ascontiguousarray(inp.g[:, 0])
        return lambda: fastnl.logsumexp_backward(x, -1, grad_output=g)

    def torch_call(torch, inp):
        xt, gt = torch.from_numpy(inp.x), torch.from_numpy(np.ascontiguousarray(inp.g[:, 0]))
        rt = torch.logsumexp(xt, -1)
        return lambda: gt.unsqueeze(-1) * (xt - rt.unsqueeze(-1)).exp()
    return RowwiseCase("logsumexp_backward", "backward", -1, fastnl_call, torch_call, out=False)


def _even(inp):
    """The logits, C-contiguous, without the last class when there is an odd
    number (glu halves the rows)."""
    return np.ascontiguousarray(inp.x[:, :inp.x.shape[1] // 2 * 2])


def _glu():
    def fastnl_call(inp, out):
        x = _even(inp)
        return lambda: fastnl.glu(x)

    def torch_call(torch, inp):
        xt = torch.from_numpy(_even(inp))
        return lambda: torch.nn.functional.glu(xt)

    def numpy_call(inp):
        x = _even(inp)

        def call():
            a, b = np.split(x, 2, axis=-1)
            return a / (1 + np.exp(-b))
        return call
    return RowwiseCase("glu", "forward", -1, fastnl_call, torch_call, numpy_call, out=False)


def _half_gradient(inp):
    """A grad_output of glu's output shape (half the rows' length), C-contiguous."""
    return np.ascontiguousarray(inp.g[:, :inp.x.shape[1] // 2])


def _glu_backward():
    def fastnl_call(inp, out):
        x, g = _even(inp), _half_gradient(inp)
        return lambda: fastnl.glu_backward(x, grad_output=g)

    def torch_call(torch, inp):
        xt, gt = torch.from_numpy(_even(inp)), torch.from_numpy(_half_gradient(inp))
        return lambda: torch.ops.aten.glu_backward(gt, xt, -1)
    return RowwiseCase("glu_backward", "backward", -1, fastnl_call, torch_call, out=False)


def _gumbel_softmax():
    """A sample each call (the noise drawn too), tau = 1: a random result,
    compared by its distribution, not its values."""
    def fastnl_call(inp, out):
        x, rng = inp.x, np.random.default_rng(3)
        return lambda: fastnl.gumbel_softmax(x, rng=rng)

    def torch_call(torch, inp):
        xt = torch.from_numpy(inp.x)
        return lambda: torch.nn.functional.gumbel_softmax(xt)

    def numpy_call(inp):
        x, rng = inp.x, np.random.default_rng(3)

        def call():
            z = x - np.log(rng.standard_exponential(x.shape, dtype=x.dtype))
            e = np.exp(z - z.max(-1, keepdims=True))
            return e / e.sum(-1, keepdims=True)
        return call
    return RowwiseCase("gumbel_softmax", "forward", -1, fastnl_call, torch_call, numpy_call,
                       out=False)


def _gumbel_softmax_backward():
    """From the soft sample (softmax's of the logits here: the arithmetic is
    the same), against torch's softmax backward kernel, which its autograd
    runs for tau = 1."""
    def fastnl_call(inp, out):
        x, g, y = inp.x, inp.g, inp.output("softmax", -1)
        return lambda: fastnl.gumbel_softmax_backward(x, grad_output=g, sample=y)

    def torch_call(torch, inp):
        gt, yt = torch.from_numpy(inp.g), torch.from_numpy(inp.output("softmax", -1))
        return lambda: torch.ops.aten._softmax_backward_data(gt, yt, -1, gt.dtype)
    return RowwiseCase("gumbel_softmax_backward", "backward", -1, fastnl_call, torch_call,
                       out=False)


def _one_hot():
    def fastnl_call(inp, out):
        t, classes = inp.target, inp.x.shape[1]
        return lambda: fastnl.one_hot(t, classes)

    def torch_call(torch, inp):
        tt, classes = torch.from_numpy(inp.target), inp.x.shape[1]
        return lambda: torch.nn.functional.one_hot(tt, classes)

    def numpy_call(inp):
        t, classes = inp.target, inp.x.shape[1]
        return lambda: (t[:, None] == np.arange(classes)).astype(np.int64)
    return RowwiseCase("one_hot", "forward", -1, fastnl_call, torch_call, numpy_call, out=False)


def rowwise_cases():
    """The row-wise table's cases, in its order: softmax, log_softmax and
    softmin along the last axis and axis 0, their backward, cross_entropy
    with class indices, nll_loss, cross_entropy forward + backward; then
    logsumexp along both axes, glu, gumbel_softmax, their backward along
    the rows, and one_hot of the class indices."""
    return ([_along_axis(n, axis) for n in SOFTMAX_FAMILY for axis in (-1, 0)]
            + [_along_axis_backward(n, axis) for n in SOFTMAX_FAMILY for axis in (-1, 0)]
            + [_cross_entropy(), _nll_loss(), _cross_entropy_both()]
            + [_logsumexp(-1), _logsumexp(0), _logsumexp_backward(), _glu(), _glu_backward(),
               _gumbel_softmax(), _gumbel_softmax_backward(), _one_hot()])


def _rowwise_selected(ops, passes):
    # --passes backward keeps the backward rows and the forward + backward one
    return [c for c in rowwise_cases() if (not ops or c.name in ops)
            and any(p in c.direction.split("+") for p in passes)]


def _header(table, out, torch, use_torch, threads, paired=False):
    fastnl_mode = "writing into out=" if out else "allocating"
    torch_text = (f"torch {torch.__version__} allocating (no out= in torch.nn.functional)"
                  if torch is not None else "no torch" if use_torch else "torch skipped")
    if torch is not None and paired:
        torch_text += f", the fastest of {PAIRED_ROUNDS} rounds alternating with fastnl's"
    return (f"fastnl {fastnl.__version__}, {table}, {fastnl_mode}; {torch_text}; "
            f"NumPy {np.__version__}; {threads} thread(s)")


def run_rowwise(threads=None, use_torch=True, print_=print, ops=None, dtypes=DTYPES,
                shapes=ROWWISE_SHAPES, passes=PASSES, out=False, paired=False):
    """Measure and print the row-wise table on `threads` threads (fastnl,
    NumPy and the copy first, torch after, as in `run`; with `paired`, each
    case's fastnl and torch calls in alternating rounds, `paired_times`);
    returns its rows as dicts of times in seconds (None: not measured). With
    `out`, fastnl writes into out= where it has one (the losses' scalar
    forwards have none)."""
    chosen = _rowwise_selected(ops, passes)
    threads = threads or fastnl.get_num_threads()
    load = [_load()]
    if "torch" in sys.modules:  # a previous run's torch threads may still spin
        time.sleep(1.5)
    grid = [(dtype, shape) for dtype in dtypes for shape in shapes]
    rows = []
    torch = _torch_on(threads) if use_torch and paired else None
    with fastnl.num_threads(threads):
        for dtype, shape in grid:
            inp = RowwiseInputs(dtype, shape)
            buffer = np.empty_like(inp.x)
            big = inp.x.size >= 1_000_000  # fewer repeats; the floor re-measured by each op
            repeat = 11 if big else 50
            if not big:
                t_copy = median_time(lambda: parallel_copy(inp.x, buffer, threads))
            for case in chosen:
                if big:
                    t_copy = median_time(lambda: parallel_copy(inp.x, buffer, threads),
                                         max_repeat=repeat)
                t_numpy = None
                if case.numpy is not None:
                    with np.errstate(all="ignore"):
                        t_numpy = median_time(case.numpy(inp), max_repeat=7)
                call = case.fastnl(inp, buffer if out else None)
                t_fastnl, t_torch = _timed(call, case.torch(torch, inp)
                                           if torch is not None else None, repeat)
                rows.append(dict(op=case.name, direction=case.direction, dtype=dtype,
                                 shape=shape, axis=case.axis, threads=threads,
                                 fastnl=t_fastnl, numpy=t_numpy, torch=t_torch, copy=t_copy))
            del inp, buffer
    if use_torch and not paired:
        torch = _torch_on(threads)
    if torch is not None and not paired:
        row = iter(rows)
        for dtype, shape in grid:
            inp = RowwiseInputs(dtype, shape)
            repeat = 11 if inp.x.size >= 1_000_000 else 50
            with fastnl.num_threads(1):  # the backward's inputs: no fastnl threads left spinning
                calls = [case.torch(torch, inp) for case in chosen]
            for case, call in zip(chosen, calls):
                r = next(row)
                r["torch"] = median_time(call, max_repeat=repeat)
                _retime_if_slower(r, lambda: case.fastnl(inp, np.empty_like(inp.x) if out
                                                         else None), call, threads, repeat)
            del inp, calls
    print_(_header("row-wise", out, torch, use_torch, threads, paired))
    order = {(c.name, c.axis): i for i, c in enumerate(chosen)}  # printed op by op
    rows_sorted = sorted(rows, key=lambda r: order[r["op"], r["axis"]])
    print_(f"ratios: {ROWWISE_RATIOS}")
    header = (f"{'op':<24}{'dtype':<9}{'shape':>11}{'axis':>6}{'fastnl':>11}"
              f"{'fastnl/torch':>14}{'fastnl/numpy':>14}{'fastnl/copy':>13}")
    print_(header)
    print_("-" * len(header))
    for r in rows_sorted:
        print_(f"{r['op']:<24}{r['dtype']:<9}{r['shape']:>11}{r['axis']:>6}"
               f"{_fmt(r['fastnl']):>11}{_torch_ratio(r):>14}"
               f"{_ratio(r['fastnl'], r['numpy']):>14}{_ratio(r['fastnl'], r['copy']):>13}")
    _print_retimed_note(rows, print_)
    load.append(_load())
    if None not in load:  # other processes on the cores make the ratios meaningless
        print_(f"load average (1 min) at start, end: {load[0]:.2f}, {load[1]:.2f}")
    _print_worst(rows, lambda r: f"{r['op']} {r['dtype']} {r['shape']} axis {r['axis']}",
                 print_)
    return rows


CTC_SIZES = ("16x200x30x50",)  # batch x time steps x classes x target length (issue 15)
CTC_OPS = ("ctc_loss", "ctc_loss+backward")


def _ctc_problem(size, dtype):
    """log_probs (T, N, C) as a log_softmax of seeded logits, padded targets
    (N, S) of non-blank classes, every sample of full input and target
    length."""
    n, t, c, s = _shape(size)
    x = np.random.default_rng(0).standard_normal((t, n, c)) * 3
    log_probs = (x - np.logaddexp.reduce(x, axis=2, keepdims=True)).astype(dtype)
    targets = np.random.default_rng(1).integers(1, c, (n, s))
    return log_probs, targets, np.full(n, t), np.full(n, s)


def _ctc_fastnl(op, lp, targets, il, tl):
    if op == "ctc_loss":
        return lambda: fastnl.ctc_loss(lp, targets, il, tl)

    def both():
        fastnl.ctc_loss(lp, targets, il, tl)
        return fastnl.ctc_loss_backward(lp, targets, il, tl)
    return both


def _ctc_torch(torch, op, lp, targets, il, tl):
    F = torch.nn.functional
    lpt, tt, ilt, tlt = (torch.from_numpy(a) for a in (lp, targets, il, tl))
    if op == "ctc_loss":
        return lambda: F.ctc_loss(lpt, tt, ilt, tlt)
    leaf = lpt.clone().requires_grad_(True)

    def both():  # autograd's forward + loss.backward(), as a training step runs them
        leaf.grad = None
        F.ctc_loss(leaf, tt, ilt, tlt).backward()
        return leaf.grad
    return both


def run_ctc(threads=None, use_torch=True, print_=print, ops=None, dtypes=DTYPES,
            sizes=CTC_SIZES):
    """Measure and print the CTC table on `threads` threads: ctc_loss
    ('mean') and ctc_loss + ctc_loss_backward against torch autograd's
    forward + backward, per dtype and size ("NxTxCxS"); fastnl first, torch
    after, as in `run`. Returns the rows as dicts of times in seconds."""
    chosen = [op for op in CTC_OPS if not ops or op in ops]
    threads = threads or fastnl.get_num_threads()
    load = [_load()]
    if "torch" in sys.modules:  # a previous run's torch threads may still spin
        time.sleep(1.5)
    grid = [(dtype, size) for dtype in dtypes for size in sizes]
    rows = []
    with fastnl.num_threads(threads):
        for dtype, size in grid:
            problem = _ctc_problem(size, dtype)
            for op in chosen:
                rows.append(dict(op=op, dtype=dtype, size=size, threads=threads, torch=None,
                                 fastnl=median_time(_ctc_fastnl(op, *problem), max_repeat=21)))
    torch = _torch_on(threads) if use_torch else None
    if torch is not None:
        row = iter(rows)
        for dtype, size in grid:
            problem = _ctc_problem(size, dtype)
            for op in chosen:
                next(row)["torch"] = median_time(_ctc_torch(torch, op, *problem), max_repeat=21)
    print_(_header("CTC loss (reduction 'mean')", False, torch, use_torch, threads))
    print_("ratios: fastnl / torch, below 1 fastnl is faster; size: batch x time steps x "
           "classes x target length")
    header = f"{'op':<20}{'dtype':<9}{'size':>14}{'fastnl':>11}{'fastnl/torch':>14}"
    print_(header)
    print_("-" * len(header))
    for r in rows:
        print_(f"{r['op']:<20}{r['dtype']:<9}{r['size']:>14}{_fmt(r['fastnl']):>11}"
               f"{_ratio(r['fastnl'], r['torch']):>14}")
    load.append(_load())
    if None not in load:
        print_(f"load average (1 min) at start, end: {load[0]:.2f}, {load[1]:.2f}")
    _print_worst(rows, _size_label, print_)
    return rows


def _load():
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return None


def _fmt(seconds):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _shape_arg(text):
    try:
        rows, classes = _shape(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not rows x classes, e.g. 64x1000") from None
    return f"{rows}x{classes}"


# ---------------------------------------------------------------- the other losses
#
# python -m fastnl.bench --losses: the losses of torch.nn.functional beyond
# mse / cross-entropy, each forward ('mean') and forward + backward (fastnl's
# loss and <name>_backward against torch autograd's forward and
# loss.backward(), which returns every float input's gradient), on inputs of
# LOSS_SIZES elements.

LOSS_SIZES = (100_000, 1_000_000)


def _signs(rng, shape):
    return rng.choice(np.array([-1.0, 1.0]), shape)


# name -> (parameters, operands(rng, n) in float64, indices of the float inputs)
LOSSES = {
    "poisson_nll_loss": ({"full": True}, lambda rng, n: [
        rng.standard_normal(n), rng.integers(0, 7, n).astype(float)], (0,)),
    "gaussian_nll_loss": ({}, lambda rng, n: [
        rng.standard_normal(n), rng.standard_normal(n), rng.uniform(0.5, 2, n)], (0, 2)),
    "soft_margin_loss": ({}, lambda rng, n: [rng.standard_normal(n) * 3, _signs(rng, n)],
                         (0,)),
    "margin_ranking_loss": ({"margin": 0.5}, lambda rng, n: [
        rng.standard_normal(n), rng.standard_normal(n), _signs(rng, n)], (0, 1)),
    "hinge_embedding_loss": ({}, lambda rng, n: [rng.uniform(0, 2, n), _signs(rng, n)], (0,)),
    # rows of 100 classes or features
    "multilabel_soft_margin_loss": ({}, lambda rng, n: [
        rng.standard_normal((n // 100, 100)) * 3,
        (rng.random((n // 100, 100)) < 0.5).astype(float)], (0,)),
    "cosine_embedding_loss": ({"margin": 0.2}, lambda rng, n: [
        rng.standard_normal((n // 100, 100)), rng.standard_normal((n // 100, 100)),
        _signs(rng, n // 100)], (0, 1)),
    "triplet_margin_loss": ({}, lambda rng, n: [
        rng.standard_normal((n // 100, 100)) for _ in range(3)], (0, 1, 2)),
    "multi_margin_loss": ({}, lambda rng, n: [
        rng.standard_normal((n // 100, 100)), rng.integers(0, 100, n // 100)], (0,)),
    # 5 target classes per row of 100
    "multilabel_margin_loss": ({}, lambda rng, n: [
        rng.standard_normal((n // 100, 100)),
        np.tile(np.r_[np.arange(5) * 20, -1, np.zeros(94, int)], (n // 100, 1))], (0,)),
}


class LossCase(NamedTuple):
    name: str       # the loss, or "<loss>+backward"
    direction: str  # forward or forward+backward
    fastnl: object  # fastnl(operands) -> a call without arguments
    torch: object   # torch(torch, operands) -> a call without arguments


def _loss_forward(name):
    params = LOSSES[name][0]

    def fastnl_call(ops):
        f = getattr(fastnl, name)
        return lambda: f(*ops, **params)

    def torch_call(torch, ops):
        f, tops = getattr(torch.nn.functional, name), [torch.from_numpy(a) for a in ops]
        return lambda: f(*tops, **params)
    return LossCase(name, "forward", fastnl_call, torch_call)


def _loss_both(name):
    params, _, wrt = LOSSES[name]

    def fastnl_call(ops):
        f, b = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")

        def call():
            f(*ops, **params)
            return b(*ops, **params)
        return call

    def torch_call(torch, ops):
        f = getattr(torch.nn.functional, name)
        tops = [torch.from_numpy(a.copy()).requires_grad_(k in wrt) for k, a in enumerate(ops)]
        leaves = [tops[k] for k in wrt]

        def call():
            for leaf in leaves:
                leaf.grad = None
            f(*tops, **params).backward()
            return [leaf.grad for leaf in leaves]
        return call
    return LossCase(f"{name}+backward", "forward+backward", fastnl_call, torch_call)


def loss_cases():
    """The losses table's cases: each loss forward, then forward + backward."""
    return [_loss_forward(n) for n in LOSSES] + [_loss_both(n) for n in LOSSES]


def loss_operands(name, dtype, n):
    """The operands of one loss, `n` elements each (rows of 100 for the
    row losses), in `dtype` (seeded)."""
    return [a.astype(dtype) if a.dtype.kind == "f" else a
            for a in LOSSES[name][1](np.random.default_rng(0), n)]


def _loss_of(case):
    return case.name.removesuffix("+backward")


def run_losses(threads=None, use_torch=True, print_=print, ops=None, dtypes=DTYPES,
               sizes=LOSS_SIZES, passes=PASSES, paired=False):
    """Measure and print the losses table on `threads` threads (fastnl first,
    torch after, as in `run`, or with `paired` in alternating rounds,
    `paired_times`); returns its rows as dicts of times in seconds."""
    chosen = [c for c in loss_cases() if (not ops or c.name in ops)
              and any(p in c.direction.split("+") for p in passes)]
    threads = threads or fastnl.get_num_threads()
    load = [_load()]
    if "torch" in sys.modules:  # a previous run's torch threads may still spin
        time.sleep(1.5)
    grid = [(case, dtype, n) for case in chosen for dtype in dtypes for n in sizes]
    rows = []
    torch = _torch_on(threads) if use_torch and paired else None
    with fastnl.num_threads(threads):
        for case, dtype, n in grid:
            operands = loss_operands(_loss_of(case), dtype, n)
            call = case.fastnl(operands)
            t_fastnl, t_torch = _timed(call, case.torch(torch, operands)
                                       if torch is not None else None, 21)
            rows.append(dict(op=case.name, direction=case.direction, dtype=dtype, size=n,
                             threads=threads, fastnl=t_fastnl, torch=t_torch))
    if use_torch and not paired:
        torch = _torch_on(threads)
        if torch is not None:
            for row, (case, dtype, n) in zip(rows, grid):
                operands = loss_operands(_loss_of(case), dtype, n)
                call = case.torch(torch, operands)
                row["torch"] = median_time(call, max_repeat=21)
                _retime_if_slower(row, lambda: case.fastnl(operands), call, threads, 21)
    print_(_header("losses", False, torch, use_torch, threads, paired))
    print_("ratios: fastnl / torch, below 1 fastnl is faster")
    header = f"{'op':<38}{'dtype':<9}{'size':>10}{'fastnl':>11}{'fastnl/torch':>14}"
    print_(header)
    print_("-" * len(header))
    for r in rows:
        print_(f"{r['op']:<38}{r['dtype']:<9}{r['size']:>10}{_fmt(r['fastnl']):>11}"
               f"{_torch_ratio(r):>14}")
    _print_retimed_note(rows, print_)
    load.append(_load())
    if None not in load:
        print_(f"load average (1 min) at start, end: {load[0]:.2f}, {load[1]:.2f}")
    _print_worst(rows, _size_label, print_)
    return rows


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

    def functional(keep):
        """The two functions, the forward's row statistics handed over (keep) or not."""
        loss, stats = fastnl.linear_cross_entropy(x, W, t, linear_bias=b, return_stats=True)
        return loss, fastnl.linear_cross_entropy_backward(x, W, t, linear_bias=b,
                                                          stats=stats if keep else None)

    cases = {
        "fastnl forward": (lambda: fastnl.linear_cross_entropy(x, W, t, linear_bias=b), 0),
        "fastnl fwd+bwd": (lambda: functional(True), grads),
        "fastnl fwd+bwd, no stats": (lambda: functional(False), grads),
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
    elementwise = [c.name for c in cases()]
    rowwise = list(dict.fromkeys(c.name for c in rowwise_cases()))
    ctc = list(CTC_OPS)
    other_losses = list(LOSSES) + [c.name for c in loss_cases() if c.name not in LOSSES]
    parser.add_argument("--ops", nargs="+", choices=elementwise + rowwise + ctc + other_losses,
                        metavar="OP",
                        help="activations, row-wise ops, CTC and the other losses (default: "
                             "all but the losses table); a table none of whose ops is named "
                             "is skipped. Choices: "
                             + ", ".join(elementwise + rowwise + ctc + other_losses))
    parser.add_argument("--passes", nargs="+", default=list(PASSES), choices=PASSES,
                        help="backward includes cross_entropy+backward")
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=DTYPES)
    parser.add_argument("--sizes", nargs="+", type=int,
                        help=f"elementwise sizes (default: {' '.join(map(str, SIZES))}); "
                             "without --shapes, only the elementwise tables")
    parser.add_argument("--shapes", nargs="+", type=_shape_arg,
                        help=f"row-wise shapes, rows x classes (default: "
                             f"{' '.join(ROWWISE_SHAPES)}); without --sizes, only the "
                             "row-wise table")
    parser.add_argument("--threads", type=int, nargs="+", default=list(THREADS),
                        help="threads for fastnl and torch, one table per value")
    parser.add_argument("--out", action="store_true",
                        help="fastnl writes into out= (default: allocating calls)")
    parser.add_argument("--no-torch", action="store_true", help="skip torch even if installed")
    parser.add_argument("--paired", action="store_true",
                        help="time each case's fastnl and torch calls in alternating rounds "
                             f"({PAIRED_ROUNDS}, a {PAUSE} s pause after each; each side's fastest "
                             "round) instead of every fastnl case first: decides ratios near 1 "
                             "on a noisy machine "
                             "(elementwise, row-wise and losses tables; slower)")
    parser.add_argument("--rowwise", action="store_true",
                        help="only the row-wise table (softmax family, cross_entropy, nll_loss)")
    parser.add_argument("--losses", action="store_true",
                        help="only the losses table (poisson_nll_loss, ..., forward and "
                             "forward + backward)")
    parser.add_argument("--ctc", action="store_true",
                        help="only the CTC table (ctc_loss, and with its backward, at "
                             f"{' '.join(CTC_SIZES)}, batch x time x classes x target length)")
    parser.add_argument("--linear", action="store_true",
                        help="only linear_cross_entropy against torch's, per size and thread "
                             "count (minutes)")
    args = parser.parse_args(argv)
    if args.linear:
        run_linear(args.threads, use_torch=not args.no_torch)
        return
    ops = args.ops or []
    elementwise_ops = [o for o in ops if o in elementwise]
    rowwise_ops = [o for o in ops if o in rowwise]
    loss_ops = [o for o in ops if o in other_losses]
    ctc_ops = [o for o in ops if o in ctc]
    if args.losses or (loss_ops and not (elementwise_ops or rowwise_ops or ctc_ops)):
        for threads in args.threads:
            run_losses(threads, not args.no_torch, ops=loss_ops, dtypes=args.dtypes,
                       sizes=args.sizes or LOSS_SIZES, passes=args.passes, paired=args.paired)
        return
    if args.ctc:
        for threads in args.threads:
            run_ctc(threads, not args.no_torch, ops=ctc_ops, dtypes=args.dtypes)
        return
    if not (args.rowwise or (args.shapes and not args.sizes)) and (elementwise_ops or not ops):
        for threads in args.threads:
            run(elementwise_ops, args.dtypes, args.sizes or SIZES, threads, args.out,
                not args.no_torch, passes=args.passes, paired=args.paired)
    if not (args.sizes and not args.shapes) and (rowwise_ops or not ops):
        for threads in args.threads:
            run_rowwise(threads, not args.no_torch, ops=rowwise_ops, dtypes=args.dtypes,
                        shapes=args.shapes or ROWWISE_SHAPES, passes=args.passes, out=args.out,
                        paired=args.paired)
    if not (args.rowwise or args.sizes or args.shapes or args.out) and (loss_ops or not ops):
        for threads in args.threads:
            run_losses(threads, not args.no_torch, ops=loss_ops, dtypes=args.dtypes,
                       passes=args.passes, paired=args.paired)
    if not (args.rowwise or args.sizes or args.shapes) and (ctc_ops or not ops):
        for threads in args.threads:
            run_ctc(threads, not args.no_torch, ops=ctc_ops, dtypes=args.dtypes)


if __name__ == "__main__":
    main()
