"""The softmax family along one axis of an array of any shape and layout.

The work is done on a C-ordered (outer, n, inner) view of the input: the last
axis is read row by row, any other axis lane by lane with stride ``inner``, so
no transposed copy is ever made (a Fortran-ordered or permuted input is read
in memory order, as a C-ordered transpose; only other non-contiguous layouts
are copied once, but for the softmax family's small-call paths, which read
rows that lie apart along the last axis in place: _rowwise.fast_softmax).
"""

import math

import numpy as np

from fastnl._config import _kernel_threads
from fastnl._kernels import _rowwise as _k
from fastnl._kernels._pool import empty
from fastnl._validate import (as_float_array, check_out, deliver, dense_axes, inverse_axes,
                              is_float, normalize_axis, normalize_axes, resolve_dtype,
                              transposed_out, writes_into)


def lanes(arrays, axis):
    """Arrays of one shape as C-ordered (outer, n, inner) views.

    Returns (views, axes, outer, n, inner): arrays that are one block of
    memory alike are read in place in their memory order, transposed by
    `axes` into C order (C-ordered ones as they are, axes the identity;
    Fortran-ordered or permuted ones, x.transpose(0, 2, 3, 1) of a
    C-ordered array: dense_axes); anything else is copied once into C order.
    """
    arrays = [a.reshape(1) if a.ndim == 0 else a for a in arrays]
    axes = tuple(range(arrays[0].ndim))
    if not all(a.flags.c_contiguous for a in arrays):
        permuted = dense_axes(arrays)
        if permuted is None:
            arrays = [np.ascontiguousarray(a) for a in arrays]
        else:
            arrays, axes = [a.transpose(permuted) for a in arrays], permuted
    shape, ax = arrays[0].shape, axes.index(axis)
    outer, n, inner = math.prod(shape[:ax]), shape[ax], math.prod(shape[ax + 1:])
    return arrays, axes, outer, n, inner


def _run(kernel, inputs, arrays, axes, out, shape, result, args):
    """`kernel(*flat arrays, flat target, *args, n_threads)` over the C-ordered
    views `lanes` made of `inputs`, into `out` when its dtype and layout
    allow (it may be one of the inputs, for in place), else into a new
    array of the inputs' layout; then the result dtype and a scalar for 0-d
    (whose arrays `lanes` made 1-d, so a 0-d `out` is written through a
    copy)."""
    compute = arrays[0].dtype
    view = transposed_out(out, inputs, arrays, axes)
    direct = type(view) is np.ndarray and writes_into(view, arrays[0].shape, compute, "C",
                                                      arrays)
    target = view if direct else empty(arrays[0].shape, compute)
    kernel(*[a.reshape(-1) for a in (*arrays, target)], *args, _kernel_threads())
    return out if direct else deliver(target.transpose(inverse_axes(axes)).reshape(shape), out,
                                      result)


def cast(x, dtype):
    """`x` (a NumPy or Dask array) cast to the floating `dtype` first, as
    torch's dtype= does; unchanged for None."""
    if dtype is None:
        return x
    dtype = np.dtype(dtype)
    if not is_float(dtype):
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    return x.astype(dtype, copy=False)


def softmax(x, axis, temperature, dtype, out, softmin, log_out):
    """softmax, log_softmax (log_out) or softmin along the integer `axis`,
    with a checked `temperature`."""
    t = -temperature if softmin else temperature
    if dtype is None:  # the small-call path: a plain float array, in one C call
        y = _k.fast_softmax(x, axis, t, log_out, out)
        if y is not None:
            return y
    x, result = as_float_array(cast(np.asarray(x), dtype))
    axis = normalize_axis(axis, x.ndim)
    if out is not None:
        check_out(out, x.shape, result)
    arrays, axes, outer, n, inner = lanes([x], axis)
    return _run(_k.softmax, [x], arrays, axes, out, x.shape, result,
                (outer, n, inner, t, log_out))


def softmax_backward(grad_output, output, axis, temperature, out, softmin, log_out):
    """The backward passes, from the forward's output: the inputs are promoted
    to one compute dtype (as the activations' backward passes do)."""
    t = -temperature if softmin else temperature
    gx = _k.fast_softmax_backward(grad_output, output, axis, t, log_out, out)
    if gx is not None:  # the small-call path: plain float arrays of one dtype
        return gx
    (g, g_result), (y, y_result) = as_float_array(grad_output, "grad_output"), \
        as_float_array(output, "output")
    if g.shape != y.shape:
        raise ValueError(f"grad_output has shape {g.shape} but output has shape {y.shape}; "
                         "they must be the same")
    compute = np.promote_types(g.dtype, y.dtype)
    g, y = g.astype(compute, copy=False), y.astype(compute, copy=False)
    result = np.result_type(g_result, y_result)
    axis = normalize_axis(axis, y.ndim)
    if out is not None:
        check_out(out, y.shape, result)
    arrays, axes, outer, n, inner = lanes([g, y], axis)
    return _run(_k.softmax_backward, [g, y], arrays, axes, out, y.shape, result,
                (outer, n, inner, t, log_out))


# ---------------------------------------------------------------- logsumexp

def merged_axes(x, axes):
    """`x` with the `axes` (sorted) merged into one: (array, axis, the shape
    of the result with those axes kept at length 1). One axis is read in
    place (through `lanes`); several are moved last and copied once."""
    kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    if len(axes) == 1:
        return x, axes[0], kept
    rest = [i for i in range(x.ndim) if i not in axes]
    merged = np.transpose(x, rest + list(axes)).reshape(
        [x.shape[i] for i in rest] + [math.prod(x.shape[i] for i in axes)])
    return merged, merged.ndim - 1, kept


def _lse(x, axis):
    """logsumexp of the float array `x` along `axis`, in its dtype, with that
    axis kept at length 1."""
    (xa,), axes, outer, n, inner = lanes([x], axis)
    kept = list(xa.shape)
    kept[axes.index(axis)] = 1
    out = empty((outer * inner,), x.dtype)
    if n == 0:
        out.fill(-np.inf)  # the sum of no terms is 0
    else:
        _k.logsumexp(xa.reshape(-1), out, outer, n, inner, _kernel_threads())
    # out holds the lanes in the memory order `lanes` read
    return out.reshape(kept).transpose(inverse_axes(axes))


def logsumexp(x, axes, keepdim):
    """log(sum(exp(x))) over the `axes` (an int or a tuple), stable and in the
    limit for infinite lanes."""
    y = _k.fast_logsumexp(x, axes, keepdim)  # the small-call path: a plain float array, one axis
    if y is not None:
        return y
    x, result = as_float_array(x)
    axes = normalize_axes(axes, x.ndim)
    merged, axis, kept = merged_axes(x, axes)
    y = _lse(merged, axis).reshape(kept if x.ndim else ())
    if not keepdim:
        y = y.reshape([n for i, n in enumerate(x.shape) if i not in axes])
    return deliver(y, None, result)


def _checked_out(out, shape, result):
    """Check `out`: None, or an ndarray of `shape` and the `result` dtype
    (which `deliver` then writes)."""
    if out is not None:
        check_out(out, tuple(shape), result)


def check_gradient(g, shape, name="output"):
    """A ValueError unless grad_output `g` (a NumPy or Dask array) is a scalar
    or of the forward's result `shape`; a TypeError names an unsupported dtype."""
    resolve_dtype(g.dtype)
    if g.ndim and g.shape != tuple(shape):
        raise ValueError(f"grad_output has shape {g.shape} but the {name} has shape "
                         f"{tuple(shape)}; they must be the same (or grad_output a scalar)")


def _gradient(grad_output, shape, compute, name="output"):
    """grad_output as an array of the input's `compute` dtype, checked against
    the forward's result `shape` (a scalar broadcasts): the input's dtype
    decides, as in the losses' backward passes, so the default 1.0 keeps a
    float32 gradient float32."""
    g = np.asarray(grad_output)
    check_gradient(g, shape, name)
    return g.astype(compute, copy=False)


def logsumexp_backward(x, axes, keepdim, grad_output, out):
    """d/dx = grad_output * softmax(x) over the axes (softmax's limit for
    +inf entries)."""
    if out is None:  # the small-call path: a plain float array along its last axis
        p = _k.fast_logsumexp_backward(x, axes, keepdim, grad_output)
        if p is not None:
            return p
    x, result = as_float_array(x)
    axes = normalize_axes(axes, x.ndim)
    merged, axis, kept = merged_axes(x, axes)
    reduced = kept if keepdim else tuple(n for i, n in enumerate(x.shape) if i not in axes)
    g = _gradient(grad_output, reduced if x.ndim else (), x.dtype)
    _checked_out(out, x.shape, result)
    if merged.ndim and merged.size:
        # g folded into each lane's softmax scaling (one pass and one rounding
        # less than a softmax and then a product); a strided input copied
        merged = np.ascontiguousarray(merged)
        outer, inner = math.prod(merged.shape[:axis]), math.prod(merged.shape[axis + 1:])
        p = empty(merged.shape, x.dtype)
        # one factor per lane: g is a scalar (stride 0) or of the reduced shape (_gradient)
        _k.logsumexp_backward(merged.reshape(-1), np.ascontiguousarray(g).reshape(-1),
                              1 if g.ndim else 0, p.reshape(-1), outer, merged.shape[axis],
                              inner, _kernel_threads())
    else:
        p = softmax(merged, axis, 1.0, None, None, False, False)
        p = np.multiply(p, g.reshape(kept) if g.ndim else g, dtype=x.dtype)
    if len(axes) > 1:  # back from the merged layout
        rest = [i for i in range(x.ndim) if i not in axes]
        p = np.transpose(p.reshape([x.shape[i] for i in rest + list(axes)]),
                         np.argsort(rest + list(axes)))
    return deliver(p.reshape(x.shape), out, result)


# ---------------------------------------------------------------- glu

def glu_halves(shape, axis):
    """glu's checks on an input of `shape` (a ValueError as torch's): the
    axis in [0, ndim) and the output's shape."""
    if not shape:
        raise ValueError("glu does not support scalars because halving size must be even")
    axis = normalize_axis(axis, len(shape))
    n = shape[axis]
    if n % 2:
        raise ValueError(f"Halving dimension must be even, but dimension {axis} is size {n}")
    return axis, shape[:axis] + (n // 2,) + shape[axis + 1:]


def _halves(x, axis):
    """The C-ordered (outer, 2m) view of glu's input and its checks: the
    flat buffer, the axes `lanes` read it in, outer, m and the output's
    shape."""
    axis, shape = glu_halves(x.shape, axis)
    (xa,), axes, outer, n, inner = lanes([x], axis)
    return xa.reshape(-1), axes, outer, n // 2 * inner, shape


def glu(x, axis):
    """a * sigmoid(b), a and b the halves of `x` along `axis`."""
    y = _k.fast_glu(x, axis)  # the small-call path: a plain float array, in one C call
    if y is not None:
        return y
    x, result = as_float_array(x)
    flat, axes, outer, m, shape = _halves(x, axis)
    y = empty(tuple(shape[a] for a in axes), x.dtype)  # in the input's memory order
    _k.glu(flat, y.reshape(-1), outer, m, _kernel_threads())
    return deliver(y.transpose(inverse_axes(axes)), None, result)


def glu_backward(x, axis, grad_output, out):
    """The gradient of glu with respect to its input: the halves' gradients
    side by side along `axis`."""
    if out is None:  # the small-call path: plain float arrays, in one C call
        gx = _k.fast_glu_backward(x, axis, grad_output)
        if gx is not None:
            return gx
    x, result = as_float_array(x)
    flat, axes, outer, m, shape = _halves(x, axis)
    g = _gradient(grad_output, shape, x.dtype)
    _checked_out(out, x.shape, result)
    g = np.ascontiguousarray(np.broadcast_to(g, shape).transpose(axes))
    gx = empty(tuple(x.shape[a] for a in axes), x.dtype)  # in the input's memory order
    _k.glu_backward(g.reshape(-1), flat, gx.reshape(-1), outer, m, _kernel_threads())
    return deliver(gx.transpose(inverse_axes(axes)), out, result)


# ---------------------------------------------------------------- gumbel_softmax

def gumbel_softmax(logits, tau, hard, axis, rng, out):
    """(the sample, the soft sample): softmax((logits + g) / tau) along
    `axis`, g = -log(E) standard Gumbel noise from E ~ Exp(1) drawn by `rng`
    in the compute dtype; with `hard`, the one-hot of the soft sample's
    argmax (the first one)."""
    x, result = as_float_array(logits)
    axis = normalize_axis(axis, x.ndim)
    _checked_out(out, x.shape, result)
    z = rng.standard_exponential(x.shape, dtype=x.dtype)
    with np.errstate(divide="ignore"):  # a draw of 0 gives +inf noise: softmax's limit
        np.log(z, out=z)
    np.subtract(x, z, out=z)
    soft = softmax(z, axis, tau, None, z if z.ndim else None, False, False)
    soft = np.asarray(soft)
    if not hard:
        y = soft
    else:
        y = np.zeros_like(soft)
        if soft.ndim and soft.size:
            index = np.expand_dims(np.argmax(soft, axis=axis), axis)
            np.put_along_axis(y, index, 1, axis=axis)
        elif soft.ndim == 0:
            y = np.ones_like(soft)
    return deliver(y, out, result), deliver(soft, None, result)


def gumbel_softmax_backward(sample, tau, axis, grad_output, out):
    """The gradient with respect to the logits, from the soft sample: softmax's
    backward at temperature tau (straight through the hard one-hot)."""
    gx = _k.fast_softmax_backward(grad_output, sample, axis, tau, False, out)
    if gx is not None:  # the small-call path: plain float arrays of one dtype
        return gx
    y, result = as_float_array(sample, "sample")
    g = _gradient(grad_output, y.shape, y.dtype, "sample")
    _checked_out(out, y.shape, result)
    g = np.ascontiguousarray(np.broadcast_to(g, y.shape))
    gx = softmax_backward(g, y, axis, tau, None, False, False)
    return deliver(np.asarray(gx), out, result)


# ---------------------------------------------------------------- one_hot

def one_hot(tensor, num_classes):
    """int64 one-hot of the class indices `tensor` along a new last axis."""
    t = np.asarray(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError("one_hot is only applicable to an array of integer class indices, "
                        f"got dtype {t.dtype}")
    if t.size == 0 and num_classes <= 0:  # torch's rule: 0 classes of no index is refused too
        raise ValueError("Can not infer total number of classes from empty tensor: "
                         "pass num_classes >= 1")
    if num_classes == -1:
        num_classes = int(t.max()) + 1
    flat = t.reshape(-1)
    if flat.dtype == np.uint64 and flat.size and flat.max() > np.iinfo(np.int64).max:
        _class_range(flat, num_classes)  # would wrap round in int64
    y = empty(t.shape + (num_classes,), np.int64)
    # one pass that writes and checks; the error's message from the whole array
    if _k.one_hot_into(np.ascontiguousarray(flat, np.int64), y.reshape(flat.size, num_classes),
                       _kernel_threads()):
        _class_range(flat, num_classes)
    return y


def _class_range(t, num_classes):
    """The IndexError of the class indices `t` outside [0, num_classes)."""
    low, high = t.min(), t.max()
    if low < 0:
        raise IndexError(f"Class values must be non-negative, got {low}")
    if high >= num_classes:
        raise IndexError(f"Class values must be smaller than num_classes "
                         f"({num_classes}), got {high}")
