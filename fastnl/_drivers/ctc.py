"""The CTC loss's in-memory driver: the operand checks (shared by forward and
backward), the kernel of fastnl._kernels._ctc, the reductions and the
gradient's upstream scale.

torch's rules: log_probs (T, N, C) or unbatched (T, C); targets padded
(N, S) or concatenated (sum of the target lengths,), integers; one input and
one target length per sample. Targets are read only within each sample's
length, so padding may hold anything; within it they must be class indices
(torch does not check, and reads out of bounds).
"""

import math
import operator

import numpy as np

from fastnl._config import _kernel_threads
from fastnl._drivers.losses import (_flat_strided, _gradient_buffer, _finish, _check_loss_out,
                                    first_outside, ratio, upstream)
from fastnl._kernels import _ctc
from fastnl._kernels import _rowwise as _kr
from fastnl._validate import as_float_array, check_reduction, resolve_dtype


class CTCProblem:
    """The checked operands of a CTC loss."""
    __slots__ = ("x", "result", "view", "flat", "strides", "input_lengths", "target_lengths",
                 "targets", "start", "blank", "reduction", "zero_infinity", "loss_shape")


def ctc_checks(x, targets, input_lengths, target_lengths, blank, reduction):
    """The checks that need only shapes and dtypes, of arrays or Dask arrays
    (so the Dask path runs them before reading anything): returns
    (T, N, C), the loss's shape, the result dtype and the blank as an int."""
    check_reduction(reduction)
    result = resolve_dtype(x.dtype)[1]
    if x.ndim not in (2, 3):
        raise ValueError(f"log_probs must be (T, N, C), or (T, C) unbatched, got shape "
                         f"{x.shape}")
    if math.prod(x.shape) == 0:
        raise ValueError(f"log_probs must not be empty, got shape {x.shape}")
    batched = x.ndim == 3
    T, N, C = x.shape if batched else (x.shape[0], 1, x.shape[1])
    blank = operator.index(blank)
    if not 0 <= blank < C:
        raise ValueError(f"blank must be a class index in [0, {C}), got {blank}")
    for name, a in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
        if a.dtype.kind not in "iu":
            raise TypeError(f"{name} must be integers, got dtype {a.dtype}")
        if math.prod(a.shape) != N or (not batched and a.ndim > 1):
            what = "one per sample" if batched else "one for the unbatched input"
            raise ValueError(f"{name} must have {N} entries ({what}), got shape {a.shape}")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss expects integer targets (class indices), got dtype "
                        f"{targets.dtype}")
    if targets.ndim == 2 and targets.shape[0] != N:
        raise ValueError(f"padded targets must have one row per sample ({N}), got shape "
                         f"{targets.shape}")
    if targets.ndim not in (1, 2):
        raise ValueError(f"targets must be padded (N, S) or concatenated (sum of the target "
                         f"lengths,), got shape {targets.shape}")
    return (T, N, C), (N,) if batched else (), result, blank


def _lengths(a, name, most):
    """One length per sample as flat int64, each checked to be in [0, most]."""
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} has value {a.max()}, too large")
    a = np.ascontiguousarray(a, dtype=np.int64).reshape(-1)
    if a.size and a.min() < 0:
        n = _first(a < 0)
        raise ValueError(f"{name}[{n}] = {a[n]} is negative")
    if most is not None and a.size and a.max() > most:
        n = _first(a > most)
        raise ValueError(f"{name}[{n}] = {a[n]} is longer than the input (T = {most} time "
                         f"steps)")
    return a


def _first(mask):
    """The index of the first True in a 1-d mask."""
    return int(np.flatnonzero(mask)[0])


def ctc_problem(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                zero_infinity):
    """Validate and convert the operands (the errors name the offending values)."""
    x, t = np.asarray(log_probs), np.asarray(targets)
    il, tl = np.asarray(input_lengths), np.asarray(target_lengths)
    p = CTCProblem()
    (T, N, C), p.loss_shape, p.result, p.blank = ctc_checks(x, t, il, tl, blank, reduction)
    p.reduction, p.zero_infinity = reduction, bool(zero_infinity)
    p.x = x = as_float_array(x, "log_probs")[0]
    p.view = x if x.ndim == 3 else x[:, None, :]
    p.flat, p.strides = _flat_strided(p.view)  # read in place, any layout
    p.input_lengths = _lengths(il, "input_lengths", T)
    p.target_lengths = _lengths(tl, "target_lengths", None)
    p.targets, p.start = _targets(t, p.target_lengths, C)
    return p


def _targets(t, tl, C):
    """The targets as one flat int64 buffer and each sample's start in it,
    after the checks of their lengths and labels."""
    if t.ndim == 1:  # concatenated: every entry is a label
        total = int(tl.sum())
        if t.shape[0] != total:
            raise ValueError(f"concatenated targets must have sum(target_lengths) = {total} "
                             f"entries, got {t.shape[0]}")
        start = np.concatenate(([0], np.cumsum(tl)[:-1])).astype(np.int64)
        labels = t
    else:  # padded: (N, S), row n's first tl[n] entries are labels
        if tl.size and tl.max() > t.shape[1]:
            n = _first(tl > t.shape[1])
            raise ValueError(f"target_lengths[{n}] = {tl[n]} is longer than the padded "
                             f"targets' rows ({t.shape[1]} entries)")
        start = np.arange(tl.size, dtype=np.int64) * t.shape[1]
        labels = t[np.arange(t.shape[1]) < tl[:, None]]
    k = first_outside(labels, 0, C)
    if k >= 0:
        n = int(np.searchsorted(np.cumsum(tl), k, side="right"))
        j = k - int(tl[:n].sum())
        raise IndexError(f"targets: label {labels[k]} of sample {n} (position {j}) is out "
                         f"of bounds: expected a class index in [0, {C})")
    if t.dtype == np.uint64:  # the labels are below 2^63; padding (never read) may not be
        t = np.where(t > np.iinfo(np.int64).max, 0, t)
    return np.ascontiguousarray(t, dtype=np.int64).reshape(-1), start


def _run(p, gr=None, grad=None, saved=None, nll=None):
    """The kernel: each sample's negative log-likelihood (float64), and with
    `grad` its gradient, sample n scaled by gr[n]. `saved`: the alpha rows
    (sample_losses' buffer), written by a forward, read by a backward, which
    then takes the losses `nll` as they are."""
    T, N, C = p.view.shape
    nll = np.empty(N) if nll is None else nll
    if grad is None:
        gr, grad_flat = np.empty(0), np.empty(0, p.x.dtype)
    else:
        grad_flat = grad.reshape(-1)
    _ctc.ctc(p.flat, *p.strides, T, N, C, p.targets, p.start, p.target_lengths, p.input_lengths,
             p.blank, nll, gr, p.zero_infinity, grad_flat,
             np.empty(0) if saved is None else saved, _kernel_threads())
    return nll


def sample_losses(p, keep=False):
    """Each sample's loss, float64 (N,), an infinite one 0 with zero_infinity;
    and with `keep` what `gradient` can reuse (else None): every sample's
    alpha rows, float64 (as torch keeps its log_alpha for its backward,
    N x T x (2 max(S) + 4) values here), and the losses before zero_infinity."""
    saved = None
    if keep:
        T, N, _ = p.view.shape
        S_max = int(p.target_lengths.max()) if N else 0
        saved = (np.empty(N * T * (2 * S_max + 4)), np.empty(N))
    nll = _run(p, saved=None if saved is None else saved[0],
               nll=None if saved is None else saved[1])
    if p.zero_infinity:
        nll = np.where(nll == np.inf, 0.0, nll)
    return nll, saved


def reduce_losses(nll, target_lengths, reduction, result, loss_shape):
    """The loss from the samples' float64 losses: 'mean' divides each by its
    target length (at least 1) and averages them, summed in sample order."""
    if reduction == "none":
        return nll.astype(result).reshape(loss_shape)[()]
    if reduction == "mean":
        nll = nll / np.maximum(target_lengths, 1)
    total = _kr.ordered_sum(nll)
    return result.type(total if reduction == "sum" else ratio(total, nll.shape[0]))


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    p = ctc_problem(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                    zero_infinity)
    return reduce_losses(sample_losses(p)[0], p.target_lengths, p.reduction, p.result,
                         p.loss_shape)


def sample_scales(p, grad_output, n_total):
    """Each sample's factor of the gradient, float64 (N,): grad_output
    (rounded to the data's dtype, as torch holds it), and for 'mean' over
    `n_total` (the batch size: a Dask block's samples are part of a larger
    batch) and the sample's target length (at least 1)."""
    g, scale = upstream(grad_output, p.reduction, p.loss_shape, p.x.dtype,
                        n_total if p.reduction == "mean" else 1)
    gr = g.astype(np.float64) if g.size else np.full(p.view.shape[1], scale)
    if p.reduction == "mean":
        gr /= np.maximum(p.target_lengths, 1)
    return gr


def gradient(p, gr, out, saved=None):
    """The gradient with respect to log_probs, sample n's scaled by gr[n];
    `saved`: what sample_losses kept, for not running alpha again."""
    grad = _gradient_buffer(out, p.x.shape, p.x.dtype, [p.flat])
    if saved is None:
        _run(p, gr, grad)
    else:
        _run(p, gr, grad, *saved)
    return _finish(grad, p.x.shape, p.result, out)


def ctc_loss_backward(log_probs, targets, input_lengths, target_lengths, blank=0,
                      reduction="mean", zero_infinity=False, grad_output=1.0, out=None):
    p = ctc_problem(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                    zero_infinity)
    _check_loss_out(out, p.x, p.result)
    return gradient(p, sample_scales(p, grad_output, p.view.shape[1]), out)
