"""The softmax family along one axis of an array of any shape and layout.

The work is done on a C-ordered (outer, n, inner) view of the input: the last
axis is read row by row, any other axis lane by lane with stride ``inner``, so
no transposed copy is ever made (a Fortran-ordered input is read as the
C-ordered transpose; only other non-contiguous layouts are copied once).
"""

import math

import numpy as np

from fastnl._config import _kernel_threads
from fastnl._kernels import _rowwise as _k
from fastnl._kernels._pool import empty
from fastnl._validate import (as_float_array, check_out, deliver, is_float, normalize_axis,
                              writes_into)


def lanes(arrays, axis):
    """Arrays of one shape as flat buffers of C-ordered (outer, n, inner) views.

    Returns (arrays, order, outer, n, inner): all C-contiguous arrays are read
    as they are; all Fortran-contiguous ones as their C-ordered transposes
    (order 'F', the axis counted from the other end); anything else is copied
    once into C order.
    """
    arrays = [a.reshape(1) if a.ndim == 0 else a for a in arrays]
    if all(a.flags.c_contiguous for a in arrays):
        order = "C"
    elif all(a.flags.f_contiguous for a in arrays):
        order = "F"  # its transpose is C-ordered: reverse the axes
    else:
        arrays, order = [np.ascontiguousarray(a) for a in arrays], "C"
    ndim = arrays[0].ndim
    ax = axis if order == "C" else ndim - 1 - axis
    shape = arrays[0].shape if order == "C" else arrays[0].shape[::-1]
    outer, n, inner = math.prod(shape[:ax]), shape[ax], math.prod(shape[ax + 1:])
    return arrays, order, outer, n, inner


def _run(kernel, arrays, order, out, shape, result, args):
    """`kernel(*flat arrays, flat target, *args, n_threads)` into `out` when its
    dtype and layout allow (it may be one of the `arrays`, for in place),
    else into a new array; then the result dtype and a scalar for 0-d (whose
    arrays `lanes` made 1-d, so a 0-d `out` is written through a copy)."""
    compute = arrays[0].dtype
    direct = writes_into(out, arrays[0].shape, compute, order, arrays)
    target = out if direct else empty(arrays[0].shape, compute, order=order)
    flat = [(a if order == "C" else a.T).reshape(-1) for a in (*arrays, target)]
    kernel(*flat, *args, _kernel_threads())
    return out if direct else deliver(target.reshape(shape), out, result)


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
    arrays, order, outer, n, inner = lanes([x], axis)
    return _run(_k.softmax, arrays, order, out, x.shape, result, (outer, n, inner, t, log_out))


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
    arrays, order, outer, n, inner = lanes([g, y], axis)
    return _run(_k.softmax_backward, arrays, order, out, y.shape, result,
                (outer, n, inner, t, log_out))
