"""The CTC loss's in-memory driver: the operand checks (shared by forward and
backward), the kernel of fastnl._kernels._ctc, the reductions and the
gradient's upstream scale.

torch's rules: log_probs (T, N, C) or unbatched (T, C); targets padded
(N, S) or concatenated (sum of the target lengths,), integers; one input and
one target length per sample. Targets are read only within each sample's
length, so padding may hold anything; within it they must be class indices
(torch does not check, and reads out of bounds).
"""

import operator

import numpy as np

from fastnl._config import _kernel_threads
from fastnl._drivers.losses import (_flat_strided, _gradient_buffer, _finish, _check_loss_out,
                                    ratio, upstream)
from fastnl._kernels import _ctc
from fastnl._kernels import _rowwise as _kr
from fastnl._validate import as_float_array, check_reduction


class CTCProblem:
    """The checked operands of a CTC loss."""
    __slots__ = ("x", "result", "view", "flat", "strides", "input_lengths", "target_lengths", "targets", "start",
                 "blank", "reduction", "zero_infinity", "loss_shape")


def _lengths(value, name, n, batched):
    """One length per sample as int64 (N,): integers only, as torch (a list,
    tuple or array of any shape with N entries; an int for an unbatched input)."""
    a = np.asarray(value)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {a.dtype}")
    if a.size != n or (not batched and a.ndim > 1):
        what = "one per sample" if batched else "one for the unbatched input"
        raise ValueError(f"{name} must have {n} entries ({what}), got shape {a.shape}")
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} has value {a.max()}, too large")
    return np.ascontiguousarray(a, dtype=np.int64).reshape(-1)


def _first(mask):
    """The index of the first True in a 1-d mask."""
    return int(np.flatnonzero(mask)[0])


def ctc_problem(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                zero_infinity):
    """Validate and convert the operands (the errors name the offending values)."""
    p = CTCProblem()
    p.reduction = check_reduction(reduction)
    p.zero_infinity = bool(zero_infinity)
    x, p.result = as_float_array(log_probs, "log_probs")
    if x.ndim not in (2, 3):
        raise ValueError(f"log_probs must be (T, N, C), or (T, C) unbatched, got shape "
                         f"{x.shape}")
    if x.size == 0:
        raise ValueError(f"log_probs must not be empty, got shape {x.shape}")
    batched = x.ndim == 3
    p.x = x
    p.view = x if batched else x[:, None, :]
    T, N, C = p.view.shape
    p.loss_shape = (N,) if batched else ()
    p.flat, p.strides = _flat_strided(p.view)  # read in place, any layout
    p.blank = operator.index(blank)
    if not 0 <= p.blank < C:
        raise ValueError(f"blank must be a class index in [0, {C}), got {p.blank}")
    il = _lengths(input_lengths, "input_lengths", N, batched)
    tl = _lengths(target_lengths, "target_lengths", N, batched)
    for name, lengths, most in (("input_lengths", il, T), ("target_lengths", tl, None)):
        if lengths.size and lengths.min() < 0:
            n = _first(lengths < 0)
            raise ValueError(f"{name}[{n}] = {lengths[n]} is negative")
        if most is not None and lengths.size and lengths.max() > most:
            n = _first(lengths > most)
            raise ValueError(f"input_lengths[{n}] = {lengths[n]} is longer than the input "
                             f"(T = {T} time steps)")
    p.input_lengths, p.target_lengths = il, tl
    p.targets, p.start = _targets(targets, tl, N, C)
    return p


def _targets(targets, tl, N, C):
    """The targets as one flat int64 buffer and each sample's start in it,
    after the shape and range checks."""
    t = np.asarray(targets)
    if t.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss expects integer targets (class indices), got dtype "
                        f"{t.dtype}")
    total = int(tl.sum())
    if t.ndim == 1:  # concatenated: every entry is a label
        if t.shape[0] != total:
            raise ValueError(f"concatenated targets must have sum(target_lengths) = {total} "
                             f"entries, got {t.shape[0]}")
        start = np.concatenate(([0], np.cumsum(tl)[:-1])).astype(np.int64)
        used = None
    elif t.ndim == 2:  # padded: (N, S), row n's first tl[n] entries are labels
        if t.shape[0] != N:
            raise ValueError(f"padded targets must have one row per sample ({N}), got shape "
                             f"{t.shape}")
        if N and tl.max() > t.shape[1]:
            n = _first(tl > t.shape[1])
            raise ValueError(f"target_lengths[{n}] = {tl[n]} is longer than the padded "
                             f"targets' rows ({t.shape[1]} entries)")
        start = np.arange(N, dtype=np.int64) * t.shape[1]
        used = np.arange(t.shape[1]) < tl[:, None]
    else:
        raise ValueError(f"targets must be padded (N, S) or concatenated (sum of the target "
                         f"lengths,), got shape {t.shape}")
    labels = t if used is None else t[used]
    if labels.size and not (labels.min() >= 0 and labels.max() < C):
        k = _first((labels < 0) | (labels >= C))
        n = int(np.searchsorted(np.cumsum(tl), k, side="right"))
        j = k - (int(tl[:n].sum()))
        raise IndexError(f"targets: label {labels[k]} of sample {n} (position {j}) is out "
                         f"of bounds: expected a class index in [0, {C})")
    if t.dtype == np.uint64:  # checked below 2^63 by now where read; padding may not be
        t = np.where(t > np.iinfo(np.int64).max, 0, t)
    return np.ascontiguousarray(t, dtype=np.int64).reshape(-1), start


def _run(p, gr=None, grad=None):
    """The kernel: each sample's negative log-likelihood (float64), and with
    `grad` its gradient, sample n scaled by gr[n]."""
    T, N, C = p.view.shape
    nll = np.empty(N)
    if grad is None:
        gr, grad_flat = np.empty(0), np.empty(0, p.x.dtype)
    else:
        grad_flat = grad.reshape(-1)
    _ctc.ctc(p.flat, *p.strides, T, N, C, p.targets, p.start, p.target_lengths, p.input_lengths,
             p.blank, nll, gr, p.zero_infinity, grad_flat, _kernel_threads())
    return nll


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    p = ctc_problem(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                    zero_infinity)
    nll = _run(p)
    if p.zero_infinity:
        nll[nll == np.inf] = 0.0
    if p.reduction == "none":
        return nll.astype(p.result).reshape(p.loss_shape)[()]
    if p.reduction == "mean":  # each sample over its target length, then over the batch
        nll /= np.maximum(p.target_lengths, 1)
    total = _kr.ordered_sum(nll)
    return p.result.type(total if p.reduction == "sum" else ratio(total, nll.shape[0]))


def ctc_loss_backward(log_probs, targets, input_lengths, target_lengths, blank=0,
                      reduction="mean", zero_infinity=False, grad_output=1.0, out=None):
    p = ctc_problem(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                    zero_infinity)
    N = p.view.shape[1]
    _check_loss_out(out, p.x, p.result)
    g, scale = upstream(grad_output, p.reduction, p.loss_shape, p.x.dtype,
                        N if p.reduction == "mean" else 1)
    gr = g.astype(np.float64) if g.size else np.full(N, scale)
    if p.reduction == "mean":
        gr /= np.maximum(p.target_lengths, 1)
    grad = _gradient_buffer(out, p.x.shape, p.x.dtype, [p.flat])
    _run(p, gr, grad)
    return _finish(grad, p.x.shape, p.result, out)
