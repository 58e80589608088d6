"""The losses' in-memory drivers: argument conversion and shape checks, the
loss kernels, the reductions and the gradients.

The public functions (fastnl.losses) check their scalar parameters and the
reduction; fastnl._dask runs these same drivers on every block, so that the
checks, messages and bits are the in-memory ones. Forward and backward share
their operand checks (``prepare``, ``class_problem``).
"""

import math
import operator
import warnings

import numpy as np

from fastnl._config import _kernel_threads
from fastnl._kernels import _losses as _kl
from fastnl._kernels import _rowlosses as _krl
from fastnl._kernels import _rowwise as _kr
from fastnl._kernels._pool import empty
from fastnl._validate import (as_float_array, check_out, check_reduction, deliver, dense_axes,
                              inverse_axes, is_float, real, resolve_dtype, transposed_out,
                              writes_into)


# ---------------------------------------------------------------- pointwise losses

def _scalar(value, dtype):
    """A float64 value as the 0-d NumPy scalar of the result dtype."""
    return dtype.type(value)


def ratio(num, den):
    """num / den in float64 with IEEE semantics: 0/0 is nan (mean over nothing)."""
    num, den = float(num), float(den)
    if den != 0:
        return num / den  # C's division: no errstate needed (1.7 us a call)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.float64(num) / np.float64(den)


def _as_like(value, name, dtype):
    """`value` as an array of the compute `dtype` (TypeError for complex, str, ...)."""
    value = np.asarray(value)
    resolve_dtype(value.dtype)  # rejects non-real dtypes, naming them
    if value.dtype != dtype:
        value = value.astype(dtype)
    return value


def _operand(a, shape):
    """`a` broadcast to `shape`, as the pointwise kernels read it: in place,
    whatever its strides (they gather a strided operand block by block),
    but for unaligned data, which they take as a C-ordered copy."""
    if a.shape != shape:
        a = np.broadcast_to(a, shape)
    return a if a.flags.aligned else np.ascontiguousarray(a)


def _broadcast(shape_a, shape_b, what):
    try:
        return np.broadcast_shapes(shape_a, shape_b)
    except ValueError:
        raise ValueError(f"{what}: shapes {shape_a} and {shape_b} cannot be broadcast "
                         "together") from None


def _broadcastable(shape, target_shape):
    try:
        np.broadcast_shapes(shape, target_shape)
    except ValueError:
        return False
    return True


def loss_shape(x_shape, t_shape, arrays, sizes):
    """The shape a pointwise loss is computed at, after the shape checks (shared
    by the in-memory and the Dask paths: shapes only, no data read).

    sizes: what a target shape different from the input's does: 'warn'
    (broadcast with torch's UserWarning), 'silent' (broadcast), 'input'
    (broadcast to the input's shape, which it may not enlarge), 'strict'
    (ValueError), or 'all' (every operand, the arrays too, broadcast together
    silently). `arrays` are (name, shape or None) of per-element operands,
    which must broadcast to the loss's shape (but with 'all').
    """
    shape = x_shape
    if t_shape != x_shape:
        if sizes == "strict":
            raise ValueError(f"target shape {t_shape} must be the same as input shape "
                             f"{x_shape}")
        if sizes == "warn":  # torch warns first, then fails if they do not broadcast;
            # stacklevel: the user's call, through public function, dispatch and driver
            warnings.warn(f"Using a target size {t_shape} that is different to the input "
                          f"size {x_shape}. This will likely lead to incorrect results "
                          "due to broadcasting. Please ensure they have the same size.",
                          UserWarning, stacklevel=6)
        shape = _broadcast(x_shape, t_shape, "input and target")
        if sizes == "input" and shape != x_shape:
            raise ValueError(f"target of shape {t_shape} cannot be broadcast to the input's "
                             f"shape {x_shape}")
    if sizes == "all":
        for name, a_shape in arrays:
            if a_shape is not None:
                shape = _broadcast(shape, a_shape, f"the operands and {name}")
        return shape
    for name, a_shape in arrays:
        if a_shape is not None and (not _broadcastable(a_shape, shape)
                                    or np.broadcast_shapes(a_shape, shape) != shape):
            raise ValueError(f"{name} of shape {a_shape} cannot be broadcast to the "
                             f"input's shape {shape}")
    return shape


def prepare(input, target, arrays=(), sizes="warn", checks=()):
    """Convert and check the operands of a pointwise loss (shared by forward
    and backward): returns (x, result dtype, shape the loss is computed at,
    and the input, the target and the weight buffers as the kernels read
    them, each of that shape).

    `arrays` are (name, array or None) per-element operands, broadcast to the
    loss's shape (an absent one is an empty buffer); sizes as in loss_shape.
    checks: (operand, name, rule) of the checks that read values: operand
    'input', 'target' or an array's name, shown as `name` in the message;
    rule 'unit_interval' (in [0, 1], binary_cross_entropy) or 'nonnegative'.
    """
    x, result = as_float_array(input, "input")
    t = _as_like(target, "target", x.dtype)
    arrays = [(name, None if a is None else _as_like(a, name, x.dtype)) for name, a in arrays]
    shape = loss_shape(x.shape, t.shape, [(name, None if a is None else a.shape)
                                           for name, a in arrays], sizes)
    operands = dict(arrays, input=x, target=t)
    for operand, name, rule in checks:
        _VALUE_CHECKS[rule](operands[operand], name)
    buffers = [np.empty(0, x.dtype) if a is None else _operand(a, shape) for _, a in arrays]
    return x, result, shape, _operand(x, shape), _operand(t, shape), buffers


def _first(found, a, flags):
    """`found`, a compiled scan's flat index of the first bad element of `a`
    (-1 for none), or, where the scan does not take `a` (None: not a plain
    array), the first True of NumPy's flags(a), or -1."""
    if found is not None:
        return found
    bad = flags(a)
    return int(np.argmax(bad)) if bad.any() else -1


def first_invalid(a, unit):
    """The flat index of the first element of `a` outside [0, 1] (`unit`;
    NaN is) or negative (NaN is not), or -1."""
    return _first(_kl.first_invalid(a, unit), a,
                  (lambda v: ~((v >= 0) & (v <= 1))) if unit else (lambda v: v < 0))


def _check_unit_interval(a, name):
    """ValueError unless every element of `a` is in [0, 1] (NaN is not, as in torch)."""
    if first_invalid(a, True) >= 0:
        raise ValueError(f"all elements of {name} should be between 0 and 1")


def _check_nonnegative(a, name):
    """ValueError naming the first negative element of `a`, if any (NaN passes,
    as in torch)."""
    first = first_invalid(a, False)
    if first >= 0:
        where = np.unravel_index(first, a.shape)
        raise ValueError(f"{name} has negative entries: {a[where]} at index "
                         f"{tuple(map(int, where))}")


_VALUE_CHECKS = {"unit_interval": _check_unit_interval, "nonnegative": _check_nonnegative}


def mean_denominator(reduction, shape):
    """What a reduced pointwise loss divides its sum by."""
    if reduction == "mean":
        return math.prod(shape)
    if reduction == "batchmean":
        return shape[0] if len(shape) else 1
    return 1


def pointwise_sum(kernel, x, shape, xv, tv, buffers, params):
    """The loss summed over every element, in float64."""
    return kernel(xv, tv, *buffers, *params, np.empty(0, x.dtype), True, _kernel_threads())


def _transposed(input, target, arrays, checks):
    """(axes, and the operands transposed by them), where a pointwise loss
    reads them in place that way: all ndarrays of one shape and strides,
    one C-contiguous block in another axis order (dense_axes: x.T,
    x.transpose(0, 2, 3, 1) of C-ordered arrays), and no check that names
    an element's index. Each element's loss is the same; a sum adds them in
    memory order, as for the C-ordered transposes. Else None (x.T of 4096 x
    256 float32 was copied into C order: 5.4 ms for l1_loss against torch's
    0.5)."""
    # the input first: every other call (C-ordered, a list) stops there (the
    # whole test first took 1 us of a 5 us small call)
    if type(input) is not np.ndarray or input.ndim < 2 or input.flags.c_contiguous:
        return None
    operands = [input, target, *(a for _, a in arrays if a is not None)]
    if (any(type(a) is not np.ndarray or a.shape != input.shape for a in operands)
            or any(rule != "unit_interval" for _, _, rule in checks)):
        return None
    axes = dense_axes(operands)
    if axes is None:
        return None
    return (axes, input.transpose(axes), target.transpose(axes),
            [(name, None if a is None else a.transpose(axes)) for name, a in arrays])


def pointwise(kernel, input, target, reduction, params=(), arrays=(), sizes="warn",
              checks=()):
    """Run a pointwise loss kernel and reduce (`reduction` checked by the
    caller; see prepare for the other arguments)."""
    transposed = _transposed(input, target, arrays, checks)
    if transposed is not None:
        axes, x, t, arrays = transposed
        loss = pointwise(kernel, x, t, reduction, params, arrays, sizes, checks)
        return loss.transpose(inverse_axes(axes)) if reduction == "none" else loss
    x, result, shape, xv, tv, buffers = prepare(input, target, arrays, sizes, checks)
    if reduction == "none":
        out = empty(shape, x.dtype)
        kernel(xv, tv, *buffers, *params, out.reshape(-1), False, _kernel_threads())
        if out.dtype != result:
            out = out.astype(result)
        return out if out.ndim else out[()]
    total = pointwise_sum(kernel, x, shape, xv, tv, buffers, params)
    return _scalar(ratio(total, mean_denominator(reduction, shape)), result)


def check_upstream(g, reduction, loss_shape):
    """A reduced loss takes a scalar grad_output; reduction='none' an array of
    the loss's shape, or a scalar that stands for every element (shapes only:
    the Dask path checks its arrays too)."""
    resolve_dtype(g.dtype)  # rejects non-real dtypes, naming them
    if reduction == "none" and g.ndim and g.shape != loss_shape:
        raise ValueError(f"grad_output has shape {g.shape}, but the loss (reduction='none') "
                         f"has shape {loss_shape}; they must be the same (or grad_output a "
                         "scalar)")
    if reduction != "none" and g.ndim != 0:
        raise ValueError(f"grad_output of a reduced loss must be a scalar, got shape {g.shape}")


def upstream(grad_output, reduction, loss_shape, dtype, denominator):
    """The upstream gradient: (per-element array of the compute dtype, flat, or
    empty; scalar scale): grad_output per element for reduction='none' with
    an array, else one scale, grad_output over the mean's `denominator` (1
    unless 'mean'). The kernels use the scale wherever the array is empty,
    so a scalar grad_output of reduction='none' broadcasts to every element
    at no cost, with the bits of an array full of it."""
    g, scale = pointwise_upstream(grad_output, reduction, loss_shape, dtype, denominator)
    return np.ascontiguousarray(g).reshape(-1), scale


def pointwise_upstream(grad_output, reduction, loss_shape, dtype, denominator):
    """upstream's (array, scale), the array of the loss's shape as the
    pointwise kernels read it (_operand: any strides, no copy)."""
    g = np.asarray(grad_output)
    check_upstream(g, reduction, loss_shape)
    if reduction == "none" and g.ndim:
        return _operand(g.astype(dtype, copy=False), loss_shape), 1.0
    # rounded to the data's dtype first, as torch holds it
    value = float(g.astype(dtype))
    return np.empty(0, dtype), float(ratio(value, denominator))


def _gradient_buffer(out, shape, dtype, reads, zero=False):
    """Where a gradient kernel writes: `out` itself when writes_into allows
    (in place where `out` is one of the operands in `reads`: each element is
    read before it is written), else a new array. zero: zero-filled (for kernels that write only some
    elements)."""
    if writes_into(out, shape, dtype, "C", reads):
        if zero:
            out.fill(0)
        return out
    return np.zeros(shape, dtype) if zero else empty(shape, dtype)


def _finish(grad, x_shape, result, out):
    """Sum a gradient computed at a broadcast shape back to the input's shape
    (in float64, in NumPy's fixed order), and deliver it in the result dtype
    (into `out` when given, unless the kernel wrote there)."""
    if grad is out:
        return out
    if grad.shape != x_shape:
        grad = grad.sum(axis=broadcast_axes(grad.shape, x_shape), dtype=np.float64) \
            .reshape(x_shape).astype(grad.dtype)
    return deliver(grad, out, result)


def broadcast_axes(shape, x_shape):
    """The axes of `shape` along which an array of `x_shape` was broadcast to it."""
    lead = len(shape) - len(x_shape)
    return tuple(range(lead)) + tuple(lead + i for i, n in enumerate(x_shape)
                                      if n == 1 and shape[lead + i] != 1)


def _check_loss_out(out, input, result):
    if out is not None:
        check_out(out, np.shape(input), result)


def pointwise_gradient(kernel, prepared, params, g, scale, out):
    """Gradient of a pointwise loss with respect to the input, from the
    operands `prepare` returned and the upstream (g, scale) `upstream` returned."""
    x, result, shape, xv, tv, buffers = prepared
    grad = _gradient_buffer(out, shape, x.dtype, [xv, tv, g, *buffers])
    kernel(xv, tv, *buffers, *params, g, scale, grad.reshape(-1), _kernel_threads())
    return _finish(grad, x.shape, result, out)


def pointwise_backward(kernel, input, target, reduction, grad_output, out, params=(),
                       arrays=(), sizes="silent", checks=()):
    """Gradient of a pointwise loss with respect to `input` (see pointwise)."""
    transposed = _transposed(input, target, arrays, checks)
    if transposed is not None:
        axes, x, t, arrays = transposed
        grad = pointwise_backward(kernel, x, t, reduction,
                                  transposed_out(np.asarray(grad_output), [], [], axes),
                                  transposed_out(out, [], [], axes), params, arrays, sizes,
                                  checks)
        return out if out is not None else grad.transpose(inverse_axes(axes))
    prepared = prepare(input, target, arrays, sizes, checks)
    x, result, shape = prepared[:3]
    _check_loss_out(out, x, result)
    g, scale = pointwise_upstream(grad_output, reduction, shape, x.dtype,
                                  mean_denominator(reduction, shape))
    return pointwise_gradient(kernel, prepared, params, g, scale, out)


# ---------------------------------------------------------------- class losses

def _class_view(x):
    """(N, C, inner) view of an input with classes on axis 1 (axis 0 when 1-d),
    and the shape of its class-index target. Merging the trailing axes copies
    only when their strides do not allow a view (e.g. a Fortran-ordered input
    with two or more spatial axes)."""
    if x.ndim == 1:
        return x.reshape(1, x.shape[0], 1), ()
    if x.ndim == 2:
        return x[:, :, None], x.shape[:1]
    return x.reshape(x.shape[0], x.shape[1], -1), x.shape[:1] + x.shape[2:]


def _flat_strided(v):
    """A 3-d array as (flat buffer, strides in elements) for the row kernels.

    The buffer spans the array's memory from its first element, so the array
    is read in place (any order, slices, zero strides); only negative or
    misaligned strides cost a C-ordered copy.
    """
    item = v.itemsize
    if v.flags.c_contiguous:  # the common case, without as_strided's cost (5 us)
        n, c, k = v.shape
        return v.reshape(-1), (c * k, k, 1)
    if any(s < 0 or s % item for s in v.strides):
        v = np.ascontiguousarray(v)
    strides = tuple(s // item for s in v.strides)
    if v.size == 0:
        return np.empty(0, v.dtype), strides
    span = 1 + sum((n - 1) * s for n, s in zip(v.shape, strides))
    flat = np.lib.stride_tricks.as_strided(v, shape=(span,), strides=(item,), writeable=False)
    return flat, strides


def class_weight(weight, dtype):
    """The class weights as float64 (rounded to the input's dtype first, as
    torch keeps them in it), or an empty array for None."""
    if weight is None:
        return np.empty(0, np.float64)
    return np.ascontiguousarray(_as_like(weight, "weight", dtype), dtype=np.float64)


def class_indices(t, n_classes, ignore_index):
    """Class indices as flat int64, after the range check (the only check
    that reads the target's values)."""
    if t.dtype == np.uint64 and t.size and t.max() > np.iinfo(np.int64).max:
        raise IndexError(f"Target {t.max()} is out of bounds: expected a class index "
                         f"in [0, {n_classes})")
    t = np.ascontiguousarray(t, dtype=np.int64).reshape(-1)
    bad = first_outside(t, 0, n_classes, ignore_index)
    if bad >= 0:
        ignored = "" if ignore_index is None else f" or ignore_index={ignore_index}"
        raise IndexError(f"Target {t[bad]} is out of bounds: expected a class index "
                         f"in [0, {n_classes}){ignored}")
    return t


def first_outside(t, lo, hi, skip=None):
    """The flat index of the first element of the int64 array `t` outside
    [lo, hi) and not `skip` (an ignore_index, or None), or -1."""
    if skip is None or not -2**63 <= skip < 2**63:  # no int64 equals it
        skip = lo
    return _first(_kl.first_outside(t, lo, hi, skip), t,
                  lambda v: ((v < lo) | (v >= hi)) & (v != skip))


def reduce_row_losses(loss, reduction, shape, result, denominator=None):
    """A loss from its flat float64 per-row losses: of `shape` in the
    `result` dtype for 'none', else their sum in a fixed order (ordered_sum),
    for 'mean' divided by `denominator()` (called only then; default: the
    row count)."""
    if reduction == "none":
        out = loss.reshape(shape).astype(result)
        return out if out.ndim else out[()]
    total = _kr.ordered_sum(loss)
    if reduction == "sum":
        return _scalar(total, result)
    return _scalar(ratio(total, loss.shape[0] if denominator is None else denominator()),
                   result)


def reduce_rows(loss, row_weight, p):
    """A class loss from its float64 per-row losses: 'mean' divides by the
    summed row weights (class indices) or the number of rows (probabilities)."""
    return reduce_row_losses(loss, p.reduction, p.expected, p.result,
                             lambda: prob_rows(p) if p.probabilities
                             else _kr.ordered_sum(row_weight))


class ClassProblem:
    """The checked operands of a class loss (shared by forward and backward)."""
    __slots__ = ("name", "x", "result", "view", "expected", "n_classes", "w", "weight_sum",
                 "t", "t_view", "probabilities", "ignore_index", "eps", "reduction")


def class_checks(name, x, t, weight, ignore_index, reduction, label_smoothing):
    """The checks of a class loss that need only shapes and dtypes (so the Dask
    path runs them too, before reading anything): a ClassProblem holding
    the parameters, result dtype, number of classes, the per-row loss's
    shape, and whether the target holds class probabilities."""
    p = ClassProblem()
    p.name = name
    p.reduction = check_reduction(reduction)
    p.ignore_index = operator.index(ignore_index)
    p.eps = real("label_smoothing", label_smoothing)
    if not 0 <= p.eps <= 1:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {p.eps}")
    _, p.result = resolve_dtype(x.dtype)
    if x.ndim == 0:
        raise ValueError("input must have a class axis: got a 0-d array")
    p.n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    p.expected = () if x.ndim == 1 else x.shape[:1] + x.shape[2:]
    if weight is not None:
        resolve_dtype(weight.dtype)  # rejects non-real dtypes, naming them
        if weight.ndim != 1 or weight.shape[0] != p.n_classes:
            raise ValueError(f"weight should have one element per class ({p.n_classes} "
                             f"classes), got shape {weight.shape}")
    p.probabilities = name == "cross_entropy" and is_float(t.dtype)
    if p.probabilities:
        if t.shape != x.shape:
            hint = " (cast with target.astype(int))" if t.shape == p.expected else ""
            raise ValueError(f"a float target is read as class probabilities of the "
                             f"input's shape: target shape {t.shape}, input shape {x.shape}; "
                             f"class indices must be an integer array{hint}")
        if p.ignore_index >= 0:
            raise ValueError("ignore_index is not supported for class-probability targets")
    elif t.dtype.kind not in "iu":
        raise TypeError(f"{name} expects integer class indices as target, got dtype {t.dtype}")
    elif t.shape != p.expected:
        raise ValueError(f"target shape {t.shape} does not match input shape {x.shape}: "
                         f"expected target shape {p.expected}")
    return p


def class_problem(name, input, target, weight, ignore_index, reduction, label_smoothing=0.0):
    """Validate and convert: the input's (N, C, inner) view, the class
    weights (float64), and the target as flat int64 class indices, or
    (cross_entropy only) as an (N, C, inner) view of class probabilities of
    the input's dtype."""
    x, t = np.asarray(input), np.asarray(target)
    p = class_checks(name, x, t, None if weight is None else np.asarray(weight),
                      ignore_index, reduction, label_smoothing)
    p.x = x = as_float_array(x)[0]
    p.view, _ = _class_view(x)
    p.w = class_weight(weight, x.dtype)
    p.weight_sum = float(p.w.sum()) if p.w.size else float(p.n_classes)
    p.t = p.t_view = None
    if p.probabilities:
        t, _ = as_float_array(t, "target")
        p.t_view, _ = _class_view(t.astype(x.dtype, copy=False))
    else:
        p.t = class_indices(t, p.n_classes, p.ignore_index)
    return p


def prob_rows(p):
    """The denominator of 'mean' with class probabilities: torch's mean over
    rows, NaN for an empty input (even with rows)."""
    return math.prod(p.expected) if p.n_classes and math.prod(p.expected) else 0


def row_weights(t, w, ignore_index):
    """Each class-index target's weight in the mean's denominator, float64:
    w[t] (1 without class weights), 0 where t is ignore_index."""
    counted = t != ignore_index
    if not w.size:
        return counted.astype(np.float64)
    return np.where(counted, np.take(w, np.where(counted, t, 0), mode="clip"), 0.0)


def counted_weight(p):
    """The denominator of 'mean' with class indices: the summed weights of the
    counted targets, in ordered_sum's order (the forward's bits)."""
    return _kr.ordered_sum(np.ascontiguousarray(row_weights(p.t, p.w, p.ignore_index)))


def class_rows(p):
    """The per-row losses of nll_loss or cross_entropy, float64 and flat, and
    (class indices) each row's weight in the mean's denominator, else None."""
    rows = math.prod(p.expected)
    loss = np.empty(rows)
    row_weight = None if p.probabilities else np.empty(rows)
    flat, (sN, sC, sK) = _flat_strided(p.view)
    n_threads = _kernel_threads()
    if p.name == "nll_loss":
        _kr.nll(flat, sN, sC, sK, p.view.shape[0], p.view.shape[2], p.t, p.w, p.ignore_index,
                loss, row_weight, n_threads)
    elif p.probabilities:
        t_flat, (tN, tC, tK) = _flat_strided(p.t_view)
        _kr.cross_entropy_prob(flat, t_flat, sN, sC, sK, tN, tC, tK, *p.view.shape, p.w,
                               p.eps, loss, n_threads)
    else:
        _kr.cross_entropy_index(flat, sN, sC, sK, *p.view.shape, p.t, p.w, p.weight_sum,
                                p.ignore_index, p.eps, loss, row_weight, n_threads)
    return loss, row_weight


def class_denominator(p):
    """What a reduced class loss divides its per-row sum by: the summed
    weights of the counted targets (class indices) or the number of rows
    (probabilities) for 'mean', else 1."""
    if p.reduction != "mean":
        return 1
    return prob_rows(p) if p.probabilities else counted_weight(p)


def _small_call(name, input, target, weight, ignore_index, reduction, label_smoothing):
    """nll_loss or cross_entropy reduced over a plain (N, C) float32/float64
    ndarray with int64 class indices and no class weights, in one kernel call
    (the bits of the general path), or None for any other call or a bad
    target (the general path then runs, with its checks and errors). The
    kernel checks the arrays (_rowwise.class_loss_reduced)."""
    if not (weight is None and (reduction == "mean" or reduction == "sum")
            and type(ignore_index) is int
            and type(label_smoothing) in (float, int) and 0 <= label_smoothing <= 1):
        return None
    sums = _kr.class_loss_reduced(input, target, ignore_index, label_smoothing,
                                  name == "nll_loss")
    if sums is None:
        return None
    total, counted = sums
    return input.dtype.type(total if reduction == "sum" else ratio(total, counted))


def class_loss(name, input, target, weight, ignore_index, reduction, label_smoothing=0.0):
    """nll_loss and cross_entropy: checks, the per-row kernel, the reduction."""
    result = _small_call(name, input, target, weight, ignore_index, reduction, label_smoothing)
    if result is not None:
        return result
    p = class_problem(name, input, target, weight, ignore_index, reduction, label_smoothing)
    return reduce_rows(*class_rows(p), p)


def class_gradient(p, g, scale, out):
    """The gradient of nll_loss or cross_entropy for checked operands `p` and
    the upstream (g, scale) that `upstream` returned."""
    g = g.astype(np.float64)
    N, C, inner = p.view.shape
    n_threads = _kernel_threads()
    flat, (sN, sC, sK) = _flat_strided(p.view)
    reads = [flat]
    if p.probabilities:
        t_flat, (tN, tC, tK) = _flat_strided(p.t_view)
        reads.append(t_flat)
    # the kernel writes only the targets' elements of nll_loss's gradient
    grad = _gradient_buffer(out, p.x.shape, p.x.dtype, reads, zero=p.name == "nll_loss")
    if p.name == "nll_loss":
        _kr.nll_backward(N, C, inner, p.t, p.w, p.ignore_index, g, scale, grad.reshape(-1),
                         n_threads)
    elif p.probabilities:
        _kr.cross_entropy_prob_backward(flat, t_flat, sN, sC, sK, tN, tC, tK, N, C, inner,
                                        p.w, p.eps, g, scale, grad.reshape(-1), n_threads)
    else:
        _kr.cross_entropy_index_backward(flat, sN, sC, sK, N, C, inner, p.t, p.w,
                                         p.weight_sum, p.ignore_index, p.eps, g, scale,
                                         grad.reshape(-1), n_threads)
    return _finish(grad, p.x.shape, p.result, out)


def class_loss_backward(name, input, target, weight, ignore_index, reduction, grad_output,
                        out, label_smoothing=0.0):
    p = class_problem(name, input, target, weight, ignore_index, reduction, label_smoothing)
    g, scale = upstream(grad_output, p.reduction, p.expected, p.x.dtype, class_denominator(p))
    _check_loss_out(out, p.x, p.result)
    return class_gradient(p, g, scale, out)


# ---------------------------------------------------------------- row losses over the last axis

def cosine_shape(x1_shape, x2_shape, t_shape):
    """cosine_embedding_loss's shape checks (torch's): (the inputs' broadcast
    shape, the shape of the per-row losses)."""
    if len(t_shape) > 1:
        raise ValueError(f"cosine_embedding_loss: 0-d or 1-d target expected (multi-target "
                         f"is not supported), got shape {t_shape}")
    ndim = len(t_shape) + 1
    if len(x1_shape) != ndim or len(x2_shape) != ndim:
        raise ValueError(f"cosine_embedding_loss: a {len(t_shape)}-d target expects "
                         f"{ndim}-d inputs, got input1 {x1_shape} and input2 {x2_shape}")
    shape = _broadcast(x1_shape, x2_shape, "input1 and input2")
    rows = shape[:-1]
    if not _broadcastable(t_shape, rows) or np.broadcast_shapes(t_shape, rows) != rows:
        raise ValueError(f"cosine_embedding_loss: target of shape {t_shape} does not match "
                         f"the {rows[0] if rows else 1} rows of the inputs {shape}")
    return shape, rows


class RowProblem:
    """The checked operands of a row loss over the last axis (forward and
    backward): the float inputs broadcast together and viewed as (N, D),
    C-contiguous; their own shapes; the broadcast shape and the per-row
    losses' shape; the target (N,) or None; the result dtype."""
    __slots__ = ("xs", "shapes", "shape", "rows", "t", "result")


def row_problem(inputs, names, shapes_check, target=None):
    """Convert the float `inputs` (the first decides the dtype) and a float
    target, check their shapes with shapes_check(*shapes) -> (shape, rows),
    and broadcast them."""
    x, result = as_float_array(inputs[0], names[0])
    xs = [x] + [_as_like(a, name, x.dtype) for a, name in zip(inputs[1:], names[1:])]
    t = None if target is None else _as_like(target, "target", x.dtype)
    p = RowProblem()
    p.shapes, p.result = tuple(a.shape for a in xs), result
    p.shape, p.rows = shapes_check(*p.shapes, *([] if t is None else [t.shape]))
    p.xs = [_contiguous_as(a, p.shape).reshape(-1, p.shape[-1]) for a in xs]
    p.t = None if t is None else _contiguous_as(t, p.rows).reshape(-1)
    return p


def _contiguous_as(a, shape):
    """`a` broadcast to `shape`, C-contiguous: `a` itself when it already is."""
    if a.shape == shape and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(np.broadcast_to(a, shape))


def cosine_problem(input1, input2, target):
    return row_problem((input1, input2), ("input1", "input2"), cosine_shape, target)


def cosine_rows(p, margin):
    """The float64 per-row losses of cosine_embedding_loss."""
    loss = np.empty(p.xs[0].shape[0])
    _krl.cosine_embedding(*p.xs, p.t, margin, loss, _kernel_threads())
    return loss


def cosine_embedding(input1, input2, target, margin, reduction):
    p = cosine_problem(input1, input2, target)
    return reduce_row_losses(cosine_rows(p, margin), reduction, p.rows, p.result)


def cosine_gradients(p, margin, g, scale):
    """The gradients of cosine_embedding_loss at the (N, D) operands of `p`,
    in the compute dtype, for the upstream (g, scale) that `upstream` returned."""
    grads = [empty(x.shape, x.dtype) for x in p.xs]
    _krl.cosine_embedding_backward(*p.xs, p.t, margin, g, scale, *grads, _kernel_threads())
    return grads


def cosine_embedding_backward(input1, input2, target, margin, reduction, grad_output):
    """The gradients with respect to input1 and input2, each summed back to
    its operand's shape."""
    p = cosine_problem(input1, input2, target)
    g, scale = row_upstream(p, grad_output, reduction)
    return finish_rows(p, cosine_gradients(p, margin, g, scale))


def row_upstream(p, grad_output, reduction):
    """The upstream (g, scale) of a row loss: 'mean' divides by the rows."""
    return upstream(grad_output, reduction, p.rows, p.xs[0].dtype,
                    mean_denominator(reduction, p.xs[0].shape[:1]))


def finish_rows(p, grads):
    """Each (N, D) gradient summed back to its operand's shape, in the result dtype."""
    return tuple(_finish(grad.reshape(p.shape), shape, p.result, None)
                 for grad, shape in zip(grads, p.shapes))


def triplet_shape(a_shape, p_shape, n_shape):
    """triplet_margin_loss's shape checks (torch's): (the broadcast shape, the
    shape of the per-row losses)."""
    if not len(a_shape) == len(p_shape) == len(n_shape):
        raise ValueError("triplet_margin_loss: the anchor, positive and negative arrays are "
                         "expected to have the same number of dimensions, got shapes anchor "
                         f"{a_shape}, positive {p_shape} and negative {n_shape}")
    if not a_shape:
        raise ValueError("triplet_margin_loss: the inputs must have a feature axis (their "
                         "last), got 0-d arrays")
    shape = _broadcast(_broadcast(a_shape, p_shape, "anchor and positive"), n_shape,
                       "anchor, positive and negative")
    return shape, shape[:-1]


def triplet_problem(anchor, positive, negative):
    return row_problem((anchor, positive, negative), ("anchor", "positive", "negative"),
                       triplet_shape)


def triplet_rows(p, margin, norm, eps, swap):
    """The float64 per-row losses of triplet_margin_loss."""
    loss = np.empty(p.xs[0].shape[0])
    _krl.triplet_margin(*p.xs, margin, norm, eps, swap, loss, _kernel_threads())
    return loss


def triplet_gradients(p, margin, norm, eps, swap, g, scale):
    grads = [empty(x.shape, x.dtype) for x in p.xs]
    _krl.triplet_margin_backward(*p.xs, margin, norm, eps, swap, g, scale, *grads,
                                 _kernel_threads())
    return grads


def triplet_margin(anchor, positive, negative, margin, norm, eps, swap, reduction):
    p = triplet_problem(anchor, positive, negative)
    return reduce_row_losses(triplet_rows(p, margin, norm, eps, swap), reduction, p.rows,
                             p.result)


def triplet_margin_backward(anchor, positive, negative, margin, norm, eps, swap, reduction,
                            grad_output):
    p = triplet_problem(anchor, positive, negative)
    g, scale = row_upstream(p, grad_output, reduction)
    return finish_rows(p, triplet_gradients(p, margin, norm, eps, swap, g, scale))


def multi_margin_shape(x_shape, t_shape, w_shape):
    """multi_margin_loss's shape checks (torch's): (rows N, classes C, the
    per-row losses' shape)."""
    if len(x_shape) > 2 or (x_shape and x_shape[-1] == 0):
        raise ValueError("multi_margin_loss: expected a non-empty vector or matrix (N, C) "
                         f"with an optional 0-d batch size, got input of shape {x_shape}")
    C = x_shape[-1] if x_shape else 1
    N = x_shape[0] if len(x_shape) == 2 else 1
    if len(t_shape) > 1 or math.prod(t_shape) != N:
        raise ValueError(f"multi_margin_loss: inconsistent target size, expected {N} but got "
                         f"{t_shape}")
    if w_shape is not None and w_shape != (C,):
        raise ValueError(f"multi_margin_loss: weight must be one-dimensional with {C} "
                         f"elements, got shape {w_shape}")
    # torch: one loss per frame for a 1-d target, a 0-d loss for a 0-d one
    return N, C, (N,) if t_shape else ()


def multi_margin_problem(input, target, weight):
    """The checks, then the input as (N, C) C-contiguous, the class indices
    (N,) int64, the class weights (float64, or empty), the per-row losses'
    shape and the result dtype."""
    x, result = as_float_array(input, "input")
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"multi_margin_loss expects integer class indices as target, got "
                        f"dtype {t.dtype}")
    N, C, rows = multi_margin_shape(x.shape, t.shape,
                                    None if weight is None else np.shape(weight))
    w = class_weight(weight, x.dtype)
    return (np.ascontiguousarray(x).reshape(N, C), class_indices(t, C, None), w, rows,
            result)


def multi_margin_rows(x, t, w, p, margin):
    """The float64 per-row losses of multi_margin_loss of checked operands."""
    loss = np.empty(x.shape[0])
    _krl.multi_margin(x, t, w, p, margin, loss, _kernel_threads())
    return loss


def multi_margin_gradient(x, t, w, p, margin, g, scale):
    grad = empty(x.shape, x.dtype)
    _krl.multi_margin_backward(x, t, w, p, margin, g, scale, grad, _kernel_threads())
    return grad


def _reduced_small_call(total, x, reduction):
    """A row loss's 'sum' or 'mean' from the small-call path's summed row
    losses over the N rows of `x` (its bits: reduce_row_losses's)."""
    return _scalar(total if reduction == "sum" else ratio(total, x.shape[0]), x.dtype)


def multi_margin(input, target, p, margin, weight, reduction):
    if weight is None and reduction != "none":
        total = _krl.multi_margin_reduced(input, target, p, margin)
        if total is not None:
            return _reduced_small_call(total, input, reduction)
    x, t, w, rows, result = multi_margin_problem(input, target, weight)
    return reduce_row_losses(multi_margin_rows(x, t, w, p, margin), reduction, rows, result)


def multi_margin_backward(input, target, p, margin, weight, reduction, grad_output):
    x, t, w, rows, result = multi_margin_problem(input, target, weight)
    g, scale = upstream(grad_output, reduction, rows, x.dtype,
                        mean_denominator(reduction, x.shape[:1]))
    grad = multi_margin_gradient(x, t, w, p, margin, g, scale)
    return deliver(grad.reshape(np.shape(input)), None, result)


def multilabel_margin_shape(x_shape, t_shape):
    """multilabel_margin_loss's shape checks (torch's): (rows N, classes C,
    the per-row losses' shape)."""
    if len(x_shape) > 2 or (x_shape and x_shape[-1] == 0):
        raise ValueError("multilabel_margin_loss: expected a non-empty vector or matrix "
                         f"(N, C) with an optional 0-d batch size, got input of shape "
                         f"{x_shape}")
    C = x_shape[-1] if x_shape else 1
    N = x_shape[0] if len(x_shape) == 2 else 1
    if (t_shape != x_shape if len(x_shape) == 2 else
            (len(t_shape) > 1 or math.prod(t_shape) != C)):
        raise ValueError(f"multilabel_margin_loss: inconsistent target size {t_shape} for "
                         f"input of shape {x_shape}")
    return N, C, x_shape[:1] if len(x_shape) == 2 else ()


def multilabel_margin_problem(input, target):
    """The checks, then the input and target as (N, C) C-contiguous (int64
    target), the per-row losses' shape and the result dtype."""
    x, result = as_float_array(input, "input")
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"multilabel_margin_loss expects integer class indices as target, "
                        f"got dtype {t.dtype}")
    N, C, rows = multilabel_margin_shape(x.shape, t.shape)
    if t.dtype == np.uint64 and t.size and t.max() > np.iinfo(np.int64).max:
        raise IndexError(f"Target {t.max()} is out of bounds: expected class indices in "
                         f"[0, {C}) or -1")
    t = np.ascontiguousarray(t, dtype=np.int64).reshape(N, C)
    # each row's targets end at its first -1; torch checks every entry, those
    # after it too
    bad = first_outside(t.reshape(-1), -1, C)
    if bad >= 0:
        raise IndexError(f"Target {t.reshape(-1)[bad]} is out of bounds: expected class "
                         f"indices in [0, {C}) or -1")
    return np.ascontiguousarray(x).reshape(N, C), t, rows, result


def _label_scratch(C):
    """Per thread, a row's class mask and its gradient's counts."""
    return np.empty((_kernel_threads(), 2 * C))


def multilabel_margin_rows(x, t):
    loss = np.empty(x.shape[0])
    _krl.multilabel_margin(x, t, _label_scratch(x.shape[1]), loss, _kernel_threads())
    return loss


def multilabel_margin_gradient(x, t, g, scale):
    grad = empty(x.shape, x.dtype)
    _krl.multilabel_margin_backward(x, t, _label_scratch(x.shape[1]), g, scale, grad,
                                    _kernel_threads())
    return grad


def multilabel_margin(input, target, reduction):
    if reduction != "none":
        total = _krl.multilabel_margin_reduced(input, target)
        if total is not None:
            return _reduced_small_call(total, input, reduction)
    x, t, rows, result = multilabel_margin_problem(input, target)
    return reduce_row_losses(multilabel_margin_rows(x, t), reduction, rows, result)


def multilabel_margin_backward(input, target, reduction, grad_output):
    x, t, rows, result = multilabel_margin_problem(input, target)
    g, scale = upstream(grad_output, reduction, rows, x.dtype,
                        mean_denominator(reduction, x.shape[:1]))
    return deliver(multilabel_margin_gradient(x, t, g, scale).reshape(np.shape(input)), None,
                   result)
