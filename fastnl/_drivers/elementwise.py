"""The elementwise kernels over arrays of any layout, and the in-memory prelu
and rrelu (which need a weight array and random slopes on top of them)."""

import math

import numpy as np

from fastnl._config import _kernel_threads
from fastnl._kernels import _elementwise as _k
from fastnl._kernels._pool import empty
from fastnl._validate import (as_float_array, check_out, deliver, dense_axes, inverse_axes,
                              resolve_dtype, rng_from, transposed_out, writes_into)

_Kernel, _fast = _k.Kernel, _k.fast


def run(kernel, x, out, *args, grad_output=None, c_order=False):
    """Run `kernel(x_flat, out_flat, *args, n_threads)` over `x` of any layout,
    or `kernel(grad_flat, x_flat, out_flat, *args, n_threads)` when
    `grad_output` (of x's shape) is given, for a backward pass.

    C-contiguous inputs are read in place, and so are Fortran-ordered ones and
    arrays of permuted axes (dense_axes), and, when `kernel` is a Kernel,
    contiguous rows that lie apart (row_view: x[:, a:b]) and any other
    strides (Kernel.strided, a chunk at a time); other kernels' other
    layouts go through one contiguous copy (`c_order` forces C order, for
    kernels that need the logical element order). Inputs of different
    dtypes are computed in their promoted dtype. `out` is written directly when its
    layout and dtype match, and through a temporary otherwise (including when
    it overlaps an input without being that input itself). Arrays of other libraries never get
    here: the public functions hand them to a ufunc (or to fastnl._dask).
    """
    if type(kernel) is _Kernel:  # the small-call path: plain float arrays, no copies
        y = _fast(kernel, grad_output, x, out, args)
        if y is not None:
            return y
    sources = (x,) if grad_output is None else (grad_output, x)
    converted = [as_float_array(a) for a in sources]
    arrays = [a for a, _ in converted]
    if len(arrays) == 2:
        if arrays[0].shape != arrays[1].shape:
            raise ValueError(f"grad_output has shape {arrays[0].shape} but input has shape "
                             f"{arrays[1].shape}; they must be the same")
        compute = np.promote_types(arrays[0].dtype, arrays[1].dtype)
        arrays = [a.astype(compute, copy=False) for a in arrays]
    result = np.result_type(*[r for _, r in converted])
    compute, shape = arrays[0].dtype, arrays[0].shape
    if out is not None:
        check_out(out, shape, result)
    axes = None  # C order
    if not all(a.flags.c_contiguous for a in arrays):
        axes = None if c_order else dense_axes(arrays)
        # one block of memory in another axis order (Fortran order,
        # x.transpose(0, 2, 3, 1) of a C-ordered array) is computed in memory
        # order, into a result of that layout, as NumPy's ufuncs and torch lay
        # theirs out (gathered into C order, 64 x 32 x 32 float32 took twice
        # the time)
        if axes is None:
            cols = min(_k.longest_rows(a) for a in arrays) if type(kernel) is _Kernel else 0
            rows = [row_view(a, cols) for a in arrays] if cols else [None]
            if all(v is not None for v in rows):
                return _run_rows(kernel, arrays, rows, out, args, result)
            if type(kernel) is _Kernel and all(a.flags.aligned for a in arrays):
                return _run_strided(kernel, arrays, out, args, result)
            arrays = [np.ascontiguousarray(a) for a in arrays]
    views, view = arrays, out
    if axes is not None:  # C-ordered transposes
        views = [a.transpose(axes) for a in arrays]
        view = transposed_out(out, arrays, views, axes)
    direct = writes_into(view, views[0].shape, compute, "C", views)
    target = view if direct else empty(views[0].shape, compute)
    kernel(*[v.reshape(-1) for v in views], target.reshape(-1), *args, _kernel_threads())
    if direct:
        return out
    return deliver(target if axes is None else target.transpose(inverse_axes(axes)), out, result)


def row_view(a, cols):
    """`a` as a 2-d view (rows, cols) with contiguous rows, where its trailing
    axes are rows of `cols` contiguous elements and its other axes collapse
    into one (x[:, a:b], x[..., 1:] of a C-ordered array, a broadcast row,
    negative row steps, x[:, a:b] of (N, C, H, W) as rows of (b - a) H W;
    the small-call path's test, _k.rows_apart); else None."""
    return a.reshape(-1, cols) if _k.rows_apart(a, cols) else None


def _run_rows(kernel, arrays, rows, out, args, result):
    """`run` for inputs whose rows lie apart (row_view): the kernel reads them
    in place, into `out` directly when it has such rows too and the inputs'
    dtype, and overlaps no input except by being it (writes_into's rule);
    else into a new C-ordered array."""
    shape, compute = arrays[0].shape, arrays[0].dtype
    target = None
    if (out is not None and out.shape == shape and out.dtype == compute
            and all(a is out or not np.may_share_memory(out, a) for a in arrays)):
        target = row_view(out, rows[0].shape[1])  # (check_out has seen that it is writeable)
        if target is not None and abs(target.strides[0]) < target.shape[1] * target.itemsize:
            target = None  # rows that overlap one another
    direct = target is not None
    if not direct:
        new = empty(shape, compute)
        target = new.reshape(rows[0].shape)
    kernel.rows(*rows, target, *args, _kernel_threads())
    return out if direct else deliver(new, out, result)


def _run_strided(kernel, arrays, out, args, result):
    """`run` for inputs of any other strides (x[:, ::2], a slice's axes
    permuted): the kernel gathers them a chunk at a time in its threads (Kernel.strided),
    into `out` where writes_into allows, else into a new C-ordered array."""
    shape, compute = arrays[0].shape, arrays[0].dtype
    direct = writes_into(out, shape, compute, "C", arrays) and all(a is not out for a in arrays)
    target = out if direct else empty(shape, compute)
    kernel.strided(*arrays, target, *args, _kernel_threads())
    return out if direct else deliver(target, out, result)


# at most this many tasks (of whole periods) sum prelu's weight gradients
_PRELU_MAX_TASKS = 64


def prelu_weight(x, weight):
    """`weight` checked against `x` and converted to x's compute dtype, 1-d and
    contiguous; the number of elements per channel block in C order
    (_k.prelu's `inner`); and how many times each weight is repeated in that
    array (1, or the blocks' length where they are short and 1 is returned
    for it)."""
    shape = x.shape
    compute, _ = resolve_dtype(x.dtype)
    weight, _ = as_float_array(weight, "weight")
    if weight.ndim > 1:
        raise ValueError(f"weight must be 1-d, got shape {weight.shape}")
    weight = np.ascontiguousarray(weight.reshape(-1), dtype=compute)
    channels = shape[1] if len(shape) >= 2 else (shape[0] if len(shape) == 1 else 1)
    if weight.size not in (1, channels):
        raise ValueError(f"weight has {weight.size} elements; expected 1 or the number of "
                         f"channels, {channels}, of input of shape {shape}")
    if weight.size == 1:
        return weight, x.size, 1
    inner = math.prod(shape[2:])
    if 1 < inner < _k.PRELU_SHORT_BLOCK_SIZE:  # one weight per element: runs of weights
        return np.repeat(weight, inner), 1, inner
    return weight, inner, 1


def prelu(x, weight, out):
    if out is None:
        y = _k.prelu_fast(x, weight, False)  # the fast path: plain arrays, one call
        if y is not None:
            return y
    x = np.asarray(x)
    weight, inner, _ = prelu_weight(x, weight)
    if weight.size == 1:
        return run(_k.leaky_relu, x, out, float(weight[0]))
    return run(_k.prelu, x, out, weight, inner, c_order=True)


def prelu_backward(grad_output, x, weight, out):
    x = np.asarray(x)
    weight_shape = np.shape(weight)
    weight, inner, repeats = prelu_weight(x, weight)
    if weight.size == 1:
        inner = 8192  # blocks of one weight, summed in a fixed order
    if inner == 1:  # tasks of whole periods of the weights, one row of sums each
        periods = x.size // weight.size
        per_task = max(-(-_k.PRELU_CHUNK_SIZE // weight.size), -(-periods // _PRELU_MAX_TASKS))
        n_sums = -(-periods // per_task) * weight.size
    else:
        n_sums = -(-x.size // inner) if inner else 0
    sums = np.zeros(n_sums, np.float64)
    grad_x = run(_k.prelu_backward, x, out, weight, sums, inner, grad_output=grad_output,
                 c_order=True)
    if weight.size == 1:
        grad_weight = sums.sum(keepdims=True)
    else:  # the channels' sums: over the rows (tasks or blocks), then each channel's repeats
        grad_weight = sums.reshape(-1, weight.size // repeats, repeats).sum(axis=(0, 2))
    result = np.asarray(grad_x).dtype
    return grad_x, grad_weight.astype(result).reshape(weight_shape)


def rrelu(x, lower, upper, training, rng, out, return_noise):
    """rrelu with checked bounds `lower <= upper`."""
    x = np.asarray(x)
    compute, result = resolve_dtype(x.dtype)
    if training:
        slopes = rng_from(rng).uniform(lower, upper, size=x.size).astype(compute, copy=False)
    else:
        slopes = np.asarray((lower + upper) / 2, dtype=compute)
    # As torch: the slope where x <= 0, 1 elsewhere (NaN included). Taken before
    # the kernel runs, since `out` may be `x`.
    noise = np.where(x <= 0, slopes.reshape(x.shape) if training else slopes, 1).astype(result) \
        if return_noise else None
    if training:
        y = _k.prelu_fast(x, slopes, True) if out is None else None
        if y is None:
            y = run(_k.prelu, x, out, slopes, 1, c_order=True)
    else:
        y = run(_k.leaky_relu, x, out, float(slopes))
    return (y, noise) if return_noise else y


def rrelu_backward(grad_output, x, noise, out):
    """rrelu's gradient in training: grad_output times the forward's `noise`
    (torch's rrelu_with_noise_backward), in the dtype the kernels compute
    grad_output and x in."""
    x = np.asarray(x)
    noise, _ = as_float_array(noise, "noise")
    if noise.shape != x.shape:
        raise ValueError(f"noise has shape {noise.shape} but input has shape {x.shape}")
    g, g_result = as_float_array(grad_output, "grad_output")
    if g.shape != x.shape:
        raise ValueError(f"grad_output has shape {g.shape} but input has shape {x.shape}; "
                         "they must be the same")
    compute = np.promote_types(g.dtype, resolve_dtype(x.dtype)[0])
    result = np.result_type(g_result, resolve_dtype(x.dtype)[1])
    if out is not None:
        check_out(out, x.shape, result)
    return deliver(np.multiply(g, noise, dtype=compute), out, result)
