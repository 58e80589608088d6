"""fastnl's functions on Dask arrays: the same calls, lazy, chunk by chunk.

Imported only when a caller passes a ``dask.array.Array``: the public
functions test for one with ``fastnl._dispatch.lazy`` and ask
``fastnl._dispatch.foreign`` for the implementation, which imports this
module on first use and takes its ``IMPLEMENTATIONS``; so Dask stays an
optional dependency. The blocks run the in-memory drivers of
``fastnl._drivers``, never the public functions, so that the layers point
one way. Every function here checks shapes,
dtypes and parameters at once, with the in-memory messages, and returns a
Dask array (0-d for a reduced loss); nothing is read before ``.compute()``.
Checks that need the data (a class index out of range, a probability outside
[0, 1]) run inside the blocks, so they raise when the result is computed.

How each family is split:

- elementwise activations and their gradients: not here; they are NumPy
  ufuncs (fastnl.ufunc), which Dask maps over the blocks itself through
  ``__array_ufunc__`` (bitwise the in-memory result); prelu's weight and
  rrelu's random slopes are here;
- the softmax family along an axis in one chunk: each block through the
  in-memory function (bitwise); along a split axis, two passes: every block
  gives each lane's max and float64 sum of exp (the softmax kernel's own
  passes), a tree reduction combines them, and the kernel's write pass
  normalises each block with the combined values (exact up to rounding);
- pointwise losses: 'none' block by block; reduced losses as per-block
  float64 sums combined by a tree reduction, then divided once;
- nll_loss / cross_entropy with the class axis in one chunk: the in-memory
  row kernels per block of rows; with the class axis split, per-block lane
  statistics (max, sum of exp, the target's logit, smoothing terms) combined
  across class chunks by a tree reduction, the two-pass log-sum-exp;
- logsumexp: the softmax's per-lane (max, sum of exp) over the reduced axes,
  combined by the same tree reduction, then max + log(sum); its gradient one
  blockwise expression from those; glu: its two halves sliced lazily and
  chunked alike, each pair of blocks through the in-memory kernel (bitwise);
  gumbel_softmax: block-seeded noise, then the softmax above; one_hot
  blockwise (num_classes required: inferring it would read the data);
- linear_cross_entropy: the input and target by blocks of rows, each through
  the in-memory driver with the linear layer whole; the reduced loss and
  the parameters' gradients summed over the blocks by a tree reduction;
- ctc_loss: by blocks of samples (the batch axis's chunks), each through the
  in-memory driver; a reduced loss from all samples' losses in one task.

Inside a block the kernels use fastnl's thread setting, as any call does;
with Dask's own threads on every core, ``fastnl.set_num_threads(1)`` avoids
running more threads than cores.
"""

import functools
import math

import dask.array as da
import numpy as np

from fastnl._config import _kernel_threads
from fastnl._drivers import along_axis as axis_driver, ctc, elementwise, losses
from fastnl._drivers import linear_losses as linear
from fastnl._kernels import _rowwise as _kr
from fastnl._validate import (as_float_array, normalize_axis, normalize_axes,
                              resolve_dtype, rng_from)

_F64 = np.dtype(np.float64)


# ---------------------------------------------------------------- helpers

def _no_out(out):
    if out is not None:
        raise TypeError("out= is not supported with Dask arrays: the result is a lazy Dask "
                        "array (write it with dask.array.store, or call .compute())")


def _dask(a):
    """`a` as a Dask array (a NumPy operand as one chunk), its dtype checked."""
    if not isinstance(a, da.Array):
        a = da.from_array(np.asarray(a), chunks=-1)
    resolve_dtype(a.dtype)  # TypeError naming an unsupported dtype
    return a


def _meta(ndim, dtype):
    return np.empty((0,) * ndim, dtype)


def _blocks(func, *arrays, dtype, ndim, **kwargs):
    """func(*blocks, **kwargs) on the Dask `arrays`, aligned as NumPy broadcasts
    them and given common chunks (map_blocks alone would hand a one-chunk
    operand whole to every block), each block's result an array of `dtype`."""
    if len(arrays) > 1:
        last = max(a.ndim for a in arrays)
        arrays = da.core.unify_chunks(
            *[v for a in arrays for v in (a, tuple(range(last - a.ndim, last)))])[1]
    return da.map_blocks(func, *arrays, dtype=dtype, meta=_meta(ndim, dtype),
                         token=f"fastnl-{func.__name__}", **kwargs)


# ---------------------------------------------------------------- prelu, rrelu

def _with_gradient(grad_output, x, name="input"):
    """grad_output as a Dask array after the in-memory shape check against
    the Dask array x (the input, or the forward's output), and the result
    dtype (the promoted one)."""
    g = _dask(grad_output)
    if g.shape != x.shape:
        raise ValueError(f"grad_output has shape {g.shape} but {name} has shape {x.shape}; "
                         "they must be the same")
    return g, np.result_type(resolve_dtype(g.dtype)[1], resolve_dtype(x.dtype)[1])


def _prelu_operands(x, weight):
    """x and the weight reshaped to broadcast along x's channel axis, so that
    each block of x meets the weights of its own channels."""
    x, w = _dask(x), _dask(weight)
    if w.ndim > 1:
        raise ValueError(f"weight must be 1-d, got shape {w.shape}")
    w = w.reshape(-1)
    axis = 1 if x.ndim >= 2 else 0
    channels = x.shape[axis] if x.ndim else 1
    if w.size not in (1, channels):
        raise ValueError(f"weight has {w.size} elements; expected 1 or the number of "
                         f"channels, {channels}, of input of shape {x.shape}")
    shape = [1] * x.ndim
    if w.size > 1:  # chunked as x's channels: x's chunks decide
        shape[axis] = w.size
        w = w.rechunk((x.chunks[axis],))
    return x, w.reshape(shape), axis


def _prelu_block(x, w):
    return np.asarray(elementwise.prelu(x, w.reshape(-1), None))


def prelu(x, weight, out):
    _no_out(out)
    x, w, _ = _prelu_operands(x, weight)
    return _blocks(_prelu_block, x, w, dtype=resolve_dtype(x.dtype)[1], ndim=x.ndim)


def _prelu_grad_x_block(g, x, w):
    return np.asarray(elementwise.prelu_backward(g, x, w.reshape(-1), None)[0])


def _prelu_grad_w_block(g, x, w, *, per_channel, axis):
    """This block's share of the weight gradient, float64, with the block's
    axes kept (length 1, or its channels along the channel axis)."""
    summed = tuple(a for a in range(x.ndim) if not (per_channel and a == axis))
    with np.errstate(invalid="ignore", over="ignore"):
        terms = np.where(x > 0, 0.0, g.astype(np.float64) * x)  # NaN x counts, as in memory
    return terms.sum(axis=summed, keepdims=True)


def prelu_backward(grad_output, x, weight, out):
    _no_out(out)
    weight_shape = weight.shape if isinstance(weight, da.Array) else np.shape(weight)
    x, w, axis = _prelu_operands(x, weight)
    g, dtype = _with_gradient(grad_output, x)
    grad_x = _blocks(_prelu_grad_x_block, g, x, w, dtype=dtype, ndim=x.ndim)
    per_channel = w.size > 1
    g = g.rechunk(x.chunks)  # the partial sums' chunks follow x's
    chunks = tuple(c if per_channel and a == axis else (1,) * len(c)
                   for a, c in enumerate(x.chunks))
    partial = _blocks(_prelu_grad_w_block, g, x, w, dtype=_F64, ndim=x.ndim, chunks=chunks,
                      per_channel=per_channel, axis=axis)
    other = tuple(a for a in range(x.ndim) if not (per_channel and a == axis))
    grad_w = partial.sum(axis=other).reshape(weight_shape).astype(dtype)
    return grad_x, grad_w


def _rrelu_block(x, *, lower, upper, training, seed, noise, block_id=None):
    # training: the block's own generator, from the call's seed and the
    # block's position, so that the forward result and its noise agree
    rng = np.random.default_rng([seed, *block_id]) if training else None
    y = elementwise.rrelu(x, lower, upper, training, rng, None, noise)
    return np.asarray(y[1] if noise else y)


def rrelu(x, lower, upper, training, rng, out, return_noise):
    """rrelu block by block. In training every block draws its slopes from a
    generator seeded by one draw from `rng` and the block's index: the same
    seed and chunks give the same result (not the in-memory draws)."""
    _no_out(out)
    x = _dask(x)
    seed = int(rng_from(rng).integers(2**63)) if training else 0
    kw = dict(dtype=resolve_dtype(x.dtype)[1], ndim=x.ndim, lower=lower, upper=upper,
              training=training, seed=seed)
    y = _blocks(_rrelu_block, x, noise=False, **kw)
    return (y, _blocks(_rrelu_block, x, noise=True, **kw)) if return_noise else y


def _rrelu_backward_block(g, x, noise, *, lower, upper):
    return np.asarray(elementwise.rrelu_backward(g, x, noise, None))


def rrelu_backward(grad_output, x, lower, upper, noise, out):
    _no_out(out)
    x, noise = _dask(x), _dask(noise)
    if noise.shape != x.shape:
        raise ValueError(f"noise has shape {noise.shape} but input has shape {x.shape}")
    g, dtype = _with_gradient(grad_output, x)
    return _blocks(_rrelu_backward_block, g, x, noise, dtype=dtype, ndim=x.ndim,
                   lower=lower, upper=upper)


# ---------------------------------------------------------------- along an axis
#
# A split axis takes two passes. Per lane, m is the extreme of x where
# z = x / t is largest (the max; the min for softmin, t < 0) and
# s = sum exp((x - m) / t) in float64: per block by the softmax kernel's own
# passes (_rowwise.lane_stats), then merged across the axis's blocks by a tree
# reduction (m the extreme of the blocks' m, s the blocks' s rescaled by
# exp((m_block - m) / t)); the write pass is the kernel's, from the merged
# values (_rowwise.lane_apply). A block whose extreme is infinite counts its
# entries equal to it instead of summing exp(nan): the limit, which keeps a
# lane of -inf logits (a mask) from spoiling the others and gives the
# in-memory results for infinite logits.

_LANE = np.dtype([("m", "f8"), ("s", "f8")])


def _lane_view(x, axis):
    """A block as a C-contiguous array of its compute dtype, and the (outer,
    n, inner) sizes of the kernels' view along `axis`."""
    x = np.ascontiguousarray(as_float_array(x)[0])
    return x, math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:])


def _lane_stats(x, axis, keepdims=True, *, t):
    """One block's (m, s) per lane of `axis` (a 1-tuple, dask's convention)."""
    axis = axis[0]
    x, outer, n, inner = _lane_view(x, axis)
    shape = x.shape[:axis] + (1,) + x.shape[axis + 1:]
    m = np.full(shape, -np.inf if t > 0 else np.inf, x.dtype)
    s = np.zeros(shape)
    _kr.lane_stats(x.reshape(-1), outer, n, inner, t, m.reshape(-1), s.reshape(-1),
                   _kernel_threads())
    infinite = np.isinf(m)
    if infinite.any():  # the limit of the sum, NaN if the lane has a NaN
        with np.errstate(invalid="ignore"):
            count = np.where(np.isnan(x).any(axis=axis, keepdims=True), np.nan,
                             (x == m).sum(axis=axis, keepdims=True))
        s = np.where(infinite, count, s)
    stats = np.empty(shape, _LANE)
    stats["m"], stats["s"] = m, s
    return stats


def _extreme(a, t, axis):
    return (np.max if t > 0 else np.min)(a, axis=axis, keepdims=True)


def _rescale(m_block, m, t):
    """exp((m_block - m) / t), and 1 where they are equal (infinite included)."""
    with np.errstate(invalid="ignore"):
        return np.where(m_block == m, 1.0, np.exp((m_block - m) / t))


def _merge_lanes(stats, axis, keepdims=True, *, t):
    m = _extreme(stats["m"], t, axis)
    merged = np.empty(m.shape, stats.dtype)
    merged["m"] = m
    merged["s"] = (stats["s"] * _rescale(stats["m"], m, t)).sum(axis=axis, keepdims=True)
    return merged


def _lanes(x, axis, t):
    """The merged (m, s) of every lane along `axis`, that axis kept with length 1."""
    return da.reduction(x, functools.partial(_lane_stats, t=t),
                        functools.partial(_merge_lanes, t=t),
                        combine=functools.partial(_merge_lanes, t=t), axis=axis,
                        keepdims=True, dtype=_LANE, meta=_meta(x.ndim, _LANE),
                        name="fastnl-lane-stats")


def _apply_lanes(x, lanes, axis, t, log_out):
    """The softmax (or log_softmax) of a block from its lanes' merged (m, s),
    in the block's compute dtype."""
    x, outer, n, inner = _lane_view(x, axis)
    m, s = lanes["m"], lanes["s"]
    y = np.empty_like(x)
    _kr.lane_apply(x.reshape(-1), y.reshape(-1), outer, n, inner, t, log_out,
                   np.ascontiguousarray(m, x.dtype).reshape(-1),
                   np.ascontiguousarray(s).reshape(-1), _kernel_threads())
    top = m == (np.inf if t > 0 else -np.inf)
    if top.any():  # the largest logit is infinite: its entries share the mass
        with np.errstate(divide="ignore"):
            share = 0.0 - np.log(s) if log_out else 1 / s  # 0 - log(1) is +0
        limit = np.where(x == m, share, -np.inf if log_out else 0.0)
        y = np.where(top, np.where(np.isnan(s), np.nan, limit), y).astype(x.dtype)
    return y


def _normalise_block(x, lanes, *, axis, t, log_out, result):
    return _apply_lanes(x, lanes, axis, t, log_out).astype(result, copy=False)


def _softmax_block(x, *, axis, temperature, softmin, log_out):
    return np.asarray(axis_driver.softmax(x, axis, temperature, None, None, softmin, log_out))


def along_axis(x, axis, temperature, dtype, out, softmin, log_out):
    """The softmax family: each block alone when `axis` is in one chunk (the
    in-memory result, bitwise), else the two passes above."""
    _no_out(out)
    x = axis_driver.cast(x, dtype)
    _, result = resolve_dtype(x.dtype)
    axis = normalize_axis(axis, x.ndim)
    if x.ndim == 0 or x.numblocks[axis] == 1:
        return _blocks(_softmax_block, x, dtype=result, ndim=x.ndim, axis=axis,
                       temperature=temperature, softmin=softmin, log_out=log_out)
    t = -temperature if softmin else temperature
    return _blocks(_normalise_block, x, _lanes(x, axis, t), dtype=result, ndim=x.ndim,
                   axis=axis, t=t, log_out=log_out, result=result)


def _softmax_backward_block(g, y, *, axis, temperature, softmin, log_out):
    return np.asarray(axis_driver.softmax_backward(g, y, axis, temperature, None, softmin,
                                                   log_out))


def along_axis_backward(grad_output, output, axis, temperature, out, softmin, log_out):
    """The softmax family's gradients: blockwise along an unsplit axis, else
    the row sums as tree reductions (float64) and one blockwise expression."""
    _no_out(out)
    y = _dask(output)
    g, result = _with_gradient(grad_output, y, "output")
    axis = normalize_axis(axis, y.ndim)
    g = g.rechunk(y.chunks)
    if y.ndim == 0 or y.numblocks[axis] == 1:
        return _blocks(_softmax_backward_block, g, y, dtype=result, ndim=y.ndim, axis=axis,
                       temperature=temperature, softmin=softmin, log_out=log_out)
    r = 1 / (-temperature if softmin else temperature)
    g, y = g.astype(np.float64), y.astype(np.float64)
    if log_out:
        gx = (g - da.exp(y) * g.sum(axis=axis, keepdims=True)) * r
    else:
        gx = y * (g - (g * y).sum(axis=axis, keepdims=True)) * r
    return gx.astype(result)


# ---------------------------------------------------------------- logsumexp
#
# The lanes' (m, s) of the softmax's split-axis passes, over one axis or
# several (merged inside each block), combined by the same tree reduction;
# then m + log(s). Infinite lanes come out as the limits: +inf with s the
# count of +inf entries, -inf + log(count) = -inf, NaN where s is NaN.

def _lse_stats(x, axis, keepdims=True):
    """One block's (m, s) over the reduced axes (dask's tuple), kept at length 1."""
    x = as_float_array(x)[0]
    merged, ax, kept = axis_driver.merged_axes(x, tuple(sorted(axis)))
    return _lane_stats(merged, (ax,), t=1.0).reshape(kept)


def _lse_stats_lazy(x, axes):
    return da.reduction(x, _lse_stats, functools.partial(_merge_lanes, t=1.0),
                        combine=functools.partial(_merge_lanes, t=1.0), axis=axes,
                        keepdims=True, dtype=_LANE, meta=_meta(x.ndim, _LANE),
                        name="fastnl-logsumexp-stats")


def _lse_block(stats, *, result):
    with np.errstate(divide="ignore", invalid="ignore"):
        return (stats["m"] + np.log(stats["s"])).astype(result)


def _lse_whole_block(x, *, axes, keepdim):
    return np.asarray(axis_driver.logsumexp(x, axes, keepdim))


def logsumexp(x, axes, keepdim):
    x = _dask(x)
    _, result = resolve_dtype(x.dtype)
    axes = normalize_axes(axes, x.ndim)
    if x.ndim == 0:
        return _blocks(_lse_whole_block, x, dtype=result, ndim=0, axes=axes, keepdim=keepdim)
    y = _lse_stats_lazy(x, axes).map_blocks(_lse_block, result=result, dtype=result,
                                            meta=_meta(x.ndim, result))
    return y if keepdim else y.squeeze(axis=axes)


def _lse_grad_block(x, stats, g, *, compute, result):
    """g softmax(x) from the lanes' (m, s): exp(x - m) / s, and softmax's
    limit 1 / s (s their count) at the entries equal to a +inf max (a lane
    of -inf stays NaN, as in memory)."""
    x = as_float_array(x)[0]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        p = np.exp(x - stats["m"]) / stats["s"]
        p = np.where((x == stats["m"]) & (x == np.inf), 1 / stats["s"], p)
    return (p.astype(compute) * g.astype(compute)).astype(result)


def logsumexp_backward(x, axes, keepdim, grad_output, out):
    _no_out(out)
    x, g = _dask(x), _dask(grad_output)
    compute, result = resolve_dtype(x.dtype)  # the input's dtype decides, as in memory
    axes = normalize_axes(axes, x.ndim)
    if x.ndim == 0:
        return _blocks(_lse_grad_whole_block, x, g, dtype=result, ndim=0, axes=axes,
                       keepdim=keepdim)
    kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    axis_driver.check_gradient(
        g, kept if keepdim else tuple(n for i, n in enumerate(x.shape) if i not in axes))
    if g.ndim:
        g = g.reshape(kept).rechunk(tuple(c if i not in axes else (1,)
                                          for i, c in enumerate(x.chunks)))
    return _blocks(_lse_grad_block, x, _lse_stats_lazy(x, axes), g, dtype=result,
                   ndim=x.ndim, compute=compute, result=result)


def _lse_grad_whole_block(x, g, *, axes, keepdim):
    return np.asarray(axis_driver.logsumexp_backward(x, axes, keepdim, g, None))


# ---------------------------------------------------------------- glu
#
# Elementwise once the halves meet: the halves a and b are sliced lazily,
# chunked alike, and each pair of blocks goes through the in-memory kernel
# (bitwise the in-memory result).

def _glu_halves(x, axis):
    x = _dask(x)
    axis, shape = axis_driver.glu_halves(x.shape, axis)
    half = shape[axis]
    a = x[(slice(None),) * axis + (slice(0, half),)]
    b = x[(slice(None),) * axis + (slice(half, 2 * half),)]
    return x, a, b.rechunk(a.chunks), axis


def _glu_block(a, b, *, axis):
    return np.asarray(axis_driver.glu(np.concatenate([a, b], axis=axis), axis))


def glu(x, axis):
    x, a, b, axis = _glu_halves(x, axis)
    return _blocks(_glu_block, a, b, dtype=resolve_dtype(x.dtype)[1], ndim=x.ndim, axis=axis)


def _glu_grad_block(a, b, g, *, axis, second):
    gx = np.asarray(axis_driver.glu_backward(np.concatenate([a, b], axis=axis), axis, g, None))
    return np.split(gx, 2, axis=axis)[1 if second else 0]


def glu_backward(x, axis, grad_output, out):
    _no_out(out)
    x, a, b, axis = _glu_halves(x, axis)
    g = _dask(grad_output)
    axis_driver.check_gradient(g, a.shape)
    if g.ndim:
        g = g.rechunk(a.chunks)
    dtype = resolve_dtype(x.dtype)[1]  # the input's dtype decides, as in memory
    halves = [_blocks(_glu_grad_block, a, b, g, dtype=dtype, ndim=x.ndim, axis=axis,
                      second=second) for second in (False, True)]
    return da.concatenate(halves, axis=axis)


# ---------------------------------------------------------------- gumbel_softmax
#
# The noise block by block, each block's generator seeded by one draw from
# the caller's rng and the block's index (as rrelu's slopes: the same seed
# and chunks give the same sample, not the in-memory one); then the softmax
# along the axis by the functions above, the hard one-hot from a lazy argmax.

def _gumbel_block(x, *, seed, block_id=None):
    x = as_float_array(x)[0]
    z = np.random.default_rng([seed, *block_id]).standard_exponential(x.shape, dtype=x.dtype)
    with np.errstate(divide="ignore"):
        np.log(z, out=z)
    return np.subtract(x, z, out=z)


def gumbel_softmax(logits, tau, hard, axis, rng, out):
    _no_out(out)
    x = _dask(logits)
    compute, result = resolve_dtype(x.dtype)
    axis = normalize_axis(axis, x.ndim)
    if x.ndim == 0:  # a single category: the sample is 1
        one = da.ones((), dtype=result)
        return one, one
    z = _blocks(_gumbel_block, x, dtype=compute, ndim=x.ndim,
                seed=int(rng.integers(2**63)))
    soft = along_axis(z, axis, tau, None, None, False, False)
    if hard:
        index = da.argmax(soft, axis=axis, keepdims=True)
        shape = [1] * x.ndim
        shape[axis] = x.shape[axis]
        positions = da.arange(x.shape[axis], chunks=(x.chunks[axis],)).reshape(shape)
        y = (positions == index).astype(result)
    else:
        y = soft.astype(result)
    return y, soft.astype(result)


def gumbel_softmax_backward(sample, tau, axis, grad_output, out):
    _no_out(out)
    y, g = _dask(sample), _dask(grad_output)
    axis_driver.check_gradient(g, y.shape, "sample")
    compute, result = resolve_dtype(y.dtype)  # the sample's dtype decides, as in memory
    g = da.broadcast_to(g.astype(compute), y.shape).rechunk(y.chunks)
    return along_axis_backward(g, y, axis, tau, None, False, False).astype(result)


# ---------------------------------------------------------------- one_hot

def _one_hot_block(t, *, num_classes):
    return axis_driver.one_hot(t, num_classes)


def one_hot(tensor, num_classes):
    t = tensor if isinstance(tensor, da.Array) else da.from_array(np.asarray(tensor), chunks=-1)
    if t.dtype.kind not in "iu":
        raise TypeError("one_hot is only applicable to an array of integer class indices, "
                        f"got dtype {t.dtype}")
    if num_classes == -1:
        raise ValueError("one_hot of a Dask array needs num_classes: inferring it would read "
                         "the data")
    return da.map_blocks(_one_hot_block, t, num_classes=num_classes, new_axis=t.ndim,
                         chunks=t.chunks + ((num_classes,),), dtype=np.int64,
                         meta=_meta(t.ndim + 1, np.int64), token="fastnl-one_hot")


# ---------------------------------------------------------------- losses

def _aligned(arrays, shape):
    """`arrays` broadcast to `shape`, with common chunks (known before the
    blocks run, for the chunks of per-block results)."""
    arrays = [da.broadcast_to(a, shape) for a in arrays]
    index = tuple(range(len(shape)))
    return list(da.core.unify_chunks(*[v for a in arrays for v in (a, index)])[1])


def _ratio_block(total, denominator, *, result):
    return np.asarray(losses.ratio(total, denominator)).astype(result)


def _reduced(total, denominator, dtype):
    """A float64 0-d total over `denominator` (a number or a 0-d Dask array),
    as a 0-d Dask array of `dtype` (NaN for 0 / 0, as in memory)."""
    return _blocks(_ratio_block, total, da.asarray(denominator), dtype=dtype, ndim=0,
                   result=dtype)


def _pointwise_operands(input, target, arrays, sizes):
    """The operands of a pointwise loss as Dask arrays of the loss's shape,
    with common chunks; the shape checks are the in-memory ones."""
    x, t = _dask(input), _dask(target)
    named = [(name, None if a is None else _dask(a)) for name, a in arrays]
    shape = losses.loss_shape(x.shape, t.shape,
                               [(name, None if a is None else a.shape) for name, a in named],
                               sizes)
    operands = _aligned([x, t] + [a for _, a in named if a is not None], shape)
    layout = tuple((name, a is not None) for name, a in named)
    return x, shape, operands, layout


def _named(layout, weights):
    """(name, block or None) pairs from a layout and the blocks present."""
    weights = iter(weights)
    return [(name, next(weights) if present else None) for name, present in layout]


def _pointwise_block(x, t, *weights, kernel, params, layout, checks, total):
    arrays = _named(layout, weights)
    if not total:
        return np.asarray(losses.pointwise(kernel, x, t, "none", params, arrays, "silent",
                                           checks))
    prepared = losses.prepare(x, t, arrays, "silent", checks)
    value = losses.pointwise_sum(kernel, prepared[0], prepared[2], *prepared[3:], params)
    return np.full((1,) * x.ndim, value)


def pointwise(kernel, input, target, reduction, params, arrays, sizes, checks):
    """A pointwise loss: 'none' block by block, else per-block float64 sums
    added by a tree reduction and divided once."""
    x, shape, operands, layout = _pointwise_operands(input, target, arrays, sizes)
    result = resolve_dtype(x.dtype)[1]
    kw = dict(kernel=kernel, params=params, layout=layout, checks=checks)
    if reduction == "none":
        return _blocks(_pointwise_block, *operands, dtype=result, ndim=len(shape),
                       total=False, **kw)
    sums = _blocks(_pointwise_block, *operands, dtype=_F64, ndim=len(shape), total=True,
                   chunks=tuple((1,) * len(c) for c in operands[0].chunks), **kw)
    return _reduced(sums.sum(), losses.mean_denominator(reduction, shape), result)


def _pointwise_grad_block(x, t, *rest, kernel, params, layout, checks, reduction,
                          denominator):
    # rest: the weights present, then grad_output (a block, or a 0-d scalar)
    *weights, g = rest
    prepared = losses.prepare(x, t, _named(layout, weights), "silent", checks)
    # the mean's denominator is the whole loss's, not the block's
    g, scale = losses.pointwise_upstream(g, reduction, prepared[2], prepared[0].dtype,
                                         denominator)
    return np.asarray(losses.pointwise_gradient(kernel, prepared, params, g, scale, None))


def pointwise_backward(kernel, input, target, reduction, grad_output, out, params, arrays,
                       sizes, checks):
    """A pointwise loss's gradient, block by block at the loss's shape (the
    mean's denominator is known from the shapes), then summed back over the
    axes a target broadcast the input along."""
    _no_out(out)
    x, shape, operands, layout = _pointwise_operands(input, target, arrays, sizes)
    compute, result = resolve_dtype(x.dtype)
    g = _dask(grad_output)
    losses.check_upstream(g, reduction, shape)
    # per element for reduction='none' with an array; else one 0-d scale per block
    operands = _aligned(operands + [g], shape) if reduction == "none" and g.ndim \
        else operands + [g]
    broadcast = shape != x.shape
    if broadcast:  # blocks in the compute dtype, summed back in float64 below
        operands[0] = operands[0].astype(compute)
    grad = _blocks(_pointwise_grad_block, *operands, dtype=compute if broadcast else result,
                   ndim=len(shape), kernel=kernel, params=params, layout=layout,
                   checks=checks, reduction=reduction,
                   denominator=losses.mean_denominator(reduction, shape))
    if not broadcast:
        return grad
    return grad.sum(axis=losses.broadcast_axes(shape, x.shape), dtype=np.float64) \
        .reshape(x.shape).astype(compute).astype(result)


# ---------------------------------------------------------------- class losses
#
# Input (N, C, d1, ...) with classes on axis 1 (a 1-d input is one row: it is
# given a leading axis of length 1 here and the result loses it again). With
# the class axis in one chunk, every block of rows runs the in-memory row
# kernels. With the class axis split, every block gives per row: m and s as
# along an axis (t = 1), the target's logit where the target falls in the
# block, and the smoothing terms sum_c a_c (m - x_c) and sum_c a_c (a_c = w_c,
# or w_c q_c for class probabilities); the blocks of a row are merged by a
# tree reduction, then each row's loss is the in-memory formula.

_ROW = np.dtype([("m", "f8"), ("s", "f8"), ("xt", "f8"), ("spread", "f8"), ("mass", "f8")])


def _class_operands(name, input, target, weight, ignore_index, reduction, label_smoothing):
    """The in-memory checks, then (p, x, t, w) with x at least 2-d, and the
    target and weight (if any) chunked as x: the input's chunks decide (left
    to blockwise, a common refinement could split a class axis held whole)."""
    x, t = _dask(input), _dask(target)
    w = None if weight is None else _dask(weight)
    p = losses.class_checks(name, x, t, w, ignore_index, reduction, label_smoothing)
    if x.ndim == 1:
        x, t = x[None], t[None]
    t = t.rechunk(x.chunks if p.probabilities else _row_chunks(x))
    if w is not None:
        w = w.rechunk((x.chunks[1],))
    return p, x, t, w


def _row_chunks(x):
    """The chunks of a per-row array of the (N, C, d1, ...) input x."""
    return x.chunks[:1] + x.chunks[2:]


def _indices(x, t, probabilities):
    """blockwise indices: n = 0, c = 1, spatial axes 2, 3, ...; the target's
    without c for class indices."""
    x_ind = tuple(range(x.ndim))
    return x_ind, (x_ind if probabilities else (0,) + x_ind[2:])


def _weight_arg(w, index=1):
    """The class weights as a blockwise argument: index 1 is the class axis
    (a block of rows gets the whole weight when the output has no class
    axis); a fresh index gives every block the whole weight."""
    return (w, (index,)) if w is not None else (None, None)


def _rows_block(x, t, w, *, loss, ignore_index, eps):
    p = losses.class_problem(loss, x, t, w, ignore_index, "none", eps)
    return np.expand_dims(losses.class_rows(p)[0].reshape(p.expected), 1)


def _row_weight_block(t, w, *, ignore_index, compute):
    w = losses.class_weight(w, compute)
    return losses.row_weights(t, w, ignore_index)


def _counted_weight(p, t, w, compute):
    """The mean's denominator with class indices: the summed weights of the
    counted targets (a 0-d Dask array)."""
    t_ind = (0,) + tuple(range(2, t.ndim + 1))  # as _indices: the weight's is 1
    return da.blockwise(_row_weight_block, t_ind, t, t_ind, *_weight_arg(w), dtype=_F64,
                        meta=_meta(t.ndim, _F64), concatenate=True,
                        ignore_index=p.ignore_index, compute=compute).sum()


def _class_stats_block(x, t, classes, w, *, probabilities, eps, n_classes, compute, nll):
    """A block's per-row statistics (_ROW), the class axis kept with length 1."""
    stats = np.zeros(x.shape[:1] + (1,) + x.shape[2:], _ROW)
    if not probabilities:  # the target's logit, where the target is in this block
        local, inside = _in_block(t, classes)
        stats["xt"] = np.where(inside, np.take_along_axis(x, local, axis=1), 0.0)
    if nll:
        return stats
    lanes = _lane_stats(x, (1,), t=1.0)  # the in-memory kernel's passes
    stats["m"], stats["s"] = lanes["m"], lanes["s"]
    classes = classes.reshape((1, -1) + (1,) * (x.ndim - 2))
    a = None if w is None else losses.class_weight(w, compute).reshape(classes.shape)
    if probabilities:
        q = (1 - eps) * t.astype(compute).astype(np.float64) + eps / n_classes
        a = q if a is None else q * a
    elif eps == 0:
        return stats
    if a is None:
        a = np.ones(classes.shape)
    a = np.broadcast_to(a, x.shape)
    stats["spread"] = _weighted_gaps(a, stats["m"], x.astype(np.float64)).sum(axis=1,
                                                                            keepdims=True)
    stats["mass"] = a.sum(axis=1, keepdims=True)
    return stats


def _gap(m, x):
    """m - x, 0 where x == m (a +inf logit at a +inf max included): the
    in-memory kernels' _gap."""
    with np.errstate(invalid="ignore"):
        return np.where(x == m, 0.0, m - x)


def _weighted_gaps(a, m, x):
    """a (m - x) with a term of coefficient 0 contributing 0, even against an
    infinite gap (the in-memory kernels' limit of a loss term)."""
    with np.errstate(invalid="ignore"):
        return np.where(a == 0, 0.0, a * _gap(m, x))


def _in_block(t, classes):
    """Where each row's target falls among a block's classes: its index in the
    block (clipped into range, the class axis inserted with length 1) and
    whether it is in the block at all."""
    local = np.expand_dims(t, 1) - classes[0] if classes.size else np.expand_dims(t, 1)
    inside = (local >= 0) & (local < classes.size)
    return np.clip(local, 0, max(classes.size - 1, 0)), inside


def _merge_rows(stats, axis, keepdims=True):
    lanes = _merge_lanes(stats, axis, t=1.0)
    merged = np.empty(lanes.shape, _ROW)
    merged["m"], merged["s"] = lanes["m"], lanes["s"]
    merged["xt"] = stats["xt"].sum(axis=axis, keepdims=True)
    # each block's spread moved from its max to the row's
    merged["spread"] = (stats["spread"] + _weighted_gaps(stats["mass"], lanes["m"],
                                                         stats["m"])).sum(axis=axis,
                                                                          keepdims=True)
    merged["mass"] = stats["mass"].sum(axis=axis, keepdims=True)
    return merged


def _rows_identity(stats, axis, keepdims=True):
    return stats


def _row_stats(p, x, t, w, compute, nll=False):
    """The merged _ROW statistics of every row (class axis kept, length 1)."""
    x_ind, t_ind = _indices(x, t, p.probabilities)
    classes = da.arange(p.n_classes, chunks=(x.chunks[1],))
    stats = da.blockwise(_class_stats_block, x_ind, x, x_ind, t, t_ind, classes, (1,),
                         *_weight_arg(w), dtype=_ROW, meta=_meta(x.ndim, _ROW),
                         adjust_chunks={1: 1}, probabilities=p.probabilities, eps=p.eps,
                         n_classes=p.n_classes, compute=compute, nll=nll)
    return da.reduction(stats, _rows_identity, _merge_rows, combine=_merge_rows, axis=1,
                        keepdims=True, dtype=_ROW, meta=_meta(x.ndim, _ROW),
                        name="fastnl-row-stats")


def _lse(stats):
    """log sum exp of each row as the in-memory kernels take it: with k logits
    at +inf, s is k and this log k (softmax's limit); NaN for a row of -inf
    logits only (no limit) and, through s, for a row holding a NaN."""
    with np.errstate(divide="ignore"):
        return np.where(stats["m"] == -np.inf, np.nan, np.log(stats["s"]))


def _split_rows_block(stats, t, w, *, loss, probabilities, ignore_index, eps, n_classes,
                      compute):
    """Per-row losses (float64) from the merged statistics: the in-memory formulas."""
    stats = stats[:, 0]
    if probabilities:
        return stats["spread"] + stats["mass"] * _lse(stats)
    t = losses.class_indices(t, n_classes, ignore_index).reshape(t.shape)
    w = losses.class_weight(w, compute)
    w_t = losses.row_weights(t, w, ignore_index)
    if loss == "nll_loss":
        with np.errstate(invalid="ignore"):
            row = -w_t * stats["xt"]
        # a zero weight at an infinite x contributes 0 (0 * inf), as in memory
        row = np.where(np.isnan(row) & ~np.isnan(stats["xt"]), 0.0, row)
        return np.where(t != ignore_index, row, 0.0)
    lse = _lse(stats)
    with np.errstate(invalid="ignore"):
        row = np.where(w_t == 0, 0.0 * lse, w_t * (_gap(stats["m"], stats["xt"]) + lse))
        if eps > 0:
            weight_sum = float(w.sum()) if w.size else float(n_classes)
            row = ((1 - eps) * row if eps != 1 else 0.0) + eps / n_classes * (
                stats["spread"] + weight_sum * lse)
    return np.where(t != ignore_index, row, 0.0)


def _row_losses(p, x, t, w, compute):
    """Every row's loss, float64, as a Dask array of the target's rows."""
    x_ind, t_ind = _indices(x, t, p.probabilities)
    out_ind = (0,) + x_ind[2:]
    kw = dict(dtype=_F64, concatenate=True, loss=p.name, ignore_index=p.ignore_index,
              eps=p.eps)
    if x.numblocks[1] == 1:
        # the class axis kept (length 1) in the output, so that no block is
        # concatenated (which would copy it), then dropped
        return da.blockwise(_rows_block, x_ind, x, x_ind, t, t_ind, *_weight_arg(w),
                            adjust_chunks={1: 1}, meta=_meta(x.ndim, _F64), **kw)[:, 0]
    stats = _row_stats(p, x, t, w, compute, nll=p.name == "nll_loss")
    return da.blockwise(_split_rows_block, out_ind, stats, x_ind, t, t_ind, *_weight_arg(w),
                        meta=_meta(len(out_ind), _F64), probabilities=p.probabilities,
                        n_classes=p.n_classes, compute=compute, **kw)


def _reduce_rows(p, rows, t, w, compute):
    """A class loss from its lazy float64 per-row losses: 'none' reshaped, else
    a tree sum over the mean's denominator (summed counted weights, or the
    number of rows), as losses.reduce_rows does in memory."""
    if p.reduction == "none":
        return rows.reshape(p.expected).astype(p.result)
    return _reduced(rows.sum(), _denominator(p, t, w, compute), p.result)


def _denominator(p, t, w, compute):
    """What a reduced class loss divides by, lazily: the summed weights of the
    counted targets or the number of rows for 'mean' (as in memory), else 1."""
    if p.reduction != "mean":
        return da.asarray(1.0)
    if p.probabilities:
        return da.asarray(float(losses.prob_rows(p)))
    return _counted_weight(p, t, w, compute)


def class_loss(name, input, target, weight, ignore_index, reduction, label_smoothing):
    """nll_loss / cross_entropy: per-row losses, then 'none' or a tree sum over
    the mean's denominator (summed counted weights, or the number of rows)."""
    p, x, t, w = _class_operands(name, input, target, weight, ignore_index, reduction,
                                 label_smoothing)
    compute = resolve_dtype(x.dtype)[0]
    rows = _row_losses(p, x, t, w, compute)
    return _reduce_rows(p, rows, t, w, compute)


def _grad_block(x, t, w, g, denominator, *, loss, ignore_index, reduction, eps):
    p = losses.class_problem(loss, x, t, w, ignore_index, reduction, eps)
    # the mean's denominator is the whole loss's, not the block's
    g, scale = losses.upstream(g, p.reduction, p.expected, p.x.dtype, float(denominator))
    return np.asarray(losses.class_gradient(p, g, scale, None))


def _split_grad_block(x, stats, t, classes, w, g, denominator, *, loss, probabilities,
                      ignore_index, reduction, eps, n_classes, compute, result):
    """The gradient of a block of a split class axis from its rows' merged
    statistics: the in-memory kernels' formulas, in float64."""
    def rows(a):  # a per-row value against the block's classes
        return np.expand_dims(a, 1)

    # as the in-memory upstream: rounded to the input's dtype, then per row
    gs = np.asarray(g).astype(compute).astype(np.float64)
    if gs.ndim == 0:  # a reduced loss, or a scalar for every row of reduction='none'
        gs = np.full(x.shape[:1] + x.shape[2:], losses.ratio(gs, float(denominator)))
    w = losses.class_weight(w, compute)  # all classes; this block's are w[classes]
    w_c = w[classes].reshape((1, -1) + (1,) * (x.ndim - 2)) if w.size else 1.0
    if not probabilities:
        t = losses.class_indices(t, n_classes, ignore_index).reshape(t.shape)
        counted = t != ignore_index
        gs = np.where(counted, gs, 0.0)  # ignored rows: a gradient of 0
        w_t = losses.row_weights(t, w, ignore_index)
        local, inside = _in_block(t, classes)
        inside &= rows(counted)
    if loss == "nll_loss":
        grad = np.zeros(x.shape)
        np.put_along_axis(grad, local, np.where(inside, rows(-gs * w_t), 0.0), axis=1)
        return grad.astype(result)
    lanes = np.empty(rows(stats).shape, _LANE)  # the softmax of the rows: p
    lanes["m"] = rows(stats["m"])
    lanes["s"] = rows(stats["s"])  # k for k logits at +inf: softmax's limit, as in memory
    grad = _apply_lanes(x, lanes, 1, 1.0, False).astype(np.float64)  # p, then in place
    if probabilities:
        q = (1 - eps) * t.astype(compute).astype(np.float64) + eps / n_classes
        grad *= rows(stats["mass"])
        grad -= q * w_c
        grad *= rows(gs)
        return grad.astype(result)
    # p a - b w_c, and at the target p a - (1 - eps + eps / C) gs w_t
    weight_sum = float(w.sum()) if w.size else float(n_classes)
    a = rows(gs * ((1 - eps) * w_t + eps / n_classes * weight_sum))
    p_t = np.take_along_axis(grad, local, axis=1)
    grad *= a
    if eps > 0:
        grad -= rows(gs * eps / n_classes) * w_c
    target = np.where(inside, p_t * a - rows(gs * ((1 - eps) + eps / n_classes) * w_t),
                      np.take_along_axis(grad, local, axis=1))
    np.put_along_axis(grad, local, target, axis=1)
    if not counted.all():  # exactly 0, also where the logits are NaN
        grad = np.where(rows(counted), grad, 0.0)
    return grad.astype(result)


def class_loss_backward(name, input, target, weight, ignore_index, reduction, grad_output,
                        out, label_smoothing):
    """The gradient of nll_loss / cross_entropy: the mean's denominator as a
    tree sum, then block by block (the in-memory kernels when the class axis
    is in one chunk, else from the rows' merged statistics)."""
    _no_out(out)
    one_row = np.ndim(input) == 1
    p, x, t, w = _class_operands(name, input, target, weight, ignore_index, reduction,
                                 label_smoothing)
    compute = resolve_dtype(x.dtype)[0]
    x_ind, t_ind = _indices(x, t, p.probabilities)
    rows_ind = (0,) + x_ind[2:]
    g = _dask(grad_output)
    losses.check_upstream(g, p.reduction, p.expected)
    if p.reduction == "none" and g.ndim:
        g, g_ind = (g[None] if one_row else g).rechunk(_row_chunks(x)), rows_ind
    else:
        g_ind = ()
    denominator = _denominator(p, t, w, compute)
    kw = dict(dtype=p.result, meta=_meta(x.ndim, p.result), concatenate=True, loss=p.name,
              ignore_index=p.ignore_index, reduction=p.reduction, eps=p.eps)
    if x.numblocks[1] == 1:
        grad = da.blockwise(_grad_block, x_ind, x, x_ind, t, t_ind, *_weight_arg(w), g, g_ind,
                            denominator, (), **kw)
    else:
        # nll_loss's gradient needs only the targets, cross_entropy's the rows' m and s
        stats = (None, None) if p.name == "nll_loss" else \
            (_row_stats(p, x, t, w, compute)[:, 0], rows_ind)
        classes = da.arange(p.n_classes, chunks=(x.chunks[1],))
        grad = da.blockwise(_split_grad_block, x_ind, x, x_ind, *stats, t, t_ind,
                            classes, (1,), *_weight_arg(w, x.ndim), g, g_ind, denominator, (),
                            probabilities=p.probabilities, n_classes=p.n_classes,
                            compute=compute, result=p.result, **kw)
    return grad[0] if one_row else grad


# ---------------------------------------------------------------- fused linear cross-entropy
#
# The input (N, in_features) and the target by blocks of rows (a split
# in_features axis, or class axis of probability targets, is joined first:
# a row needs all of it); the linear layer's weight and bias and the class
# weights go whole (one chunk) to every block. Each block runs the in-memory
# driver on its rows, so the (N, C) logits are never held, not even per
# block: 'none' gives the rows' losses as they are; 'mean' and 'sum' add the
# blocks' float64 row losses by a tree reduction and divide once, 'mean'
# with class indices by the tree sum of the counted targets' weights. The
# backward gives grad_input block by block (each block with the whole loss's
# denominator) and sums the blocks' grad_weight and grad_bias by a tree.

def _linear_operands(input, linear_weight, target, linear_bias, weight, ignore_index,
                     reduction, label_smoothing):
    """The in-memory checks on the shapes, then (p, compute, x, t, W, b, w):
    x 2-d and chunked along rows only, the target chunked as its rows, the
    parameters as one chunk each (None stays None)."""
    x, t = _dask(input), _dask(target)
    W, b, w = (None if a is None else _dask(a).rechunk(-1)
               for a in (linear_weight, linear_bias, weight))
    p, compute = linear.check_linear(x, W, b, t, w, ignore_index, reduction, label_smoothing)
    if x.ndim == 1:
        x, t = x[None], t[None]
    x = x.rechunk({1: -1})
    t = t.rechunk(x.chunks[:1] + ((t.shape[1],) if p.probabilities else ()))
    return p, compute, x, t, W, b, w


def _optional(a, index):
    return (a, index) if a is not None else (None, None)


def _linear_rows_block(x, t, W, b, w, *, ignore_index, eps, chunk_size):
    q = linear.linear_problem(x, W, t, b, w, ignore_index, "none", eps, chunk_size)
    return linear.row_losses(q)[0]


def linear_class_loss(input, linear_weight, target, linear_bias, weight, ignore_index,
                      reduction, label_smoothing, chunk_size, out):
    """linear_cross_entropy by blocks of rows: 'none' lazily per block, else
    a tree sum of the rows' float64 losses over the mean's denominator."""
    _no_out(out)
    p, compute, x, t, W, b, w = _linear_operands(input, linear_weight, target, linear_bias,
                                                 weight, ignore_index, reduction,
                                                 label_smoothing)
    rows = da.blockwise(_linear_rows_block, "n", x, "nd", t, "nc" if p.probabilities else "n",
                        W, "cd", *_optional(b, "c"), *_optional(w, "c"), dtype=_F64,
                        meta=_meta(1, _F64), concatenate=True, ignore_index=p.ignore_index,
                        eps=p.eps, chunk_size=chunk_size)
    return _reduce_rows(p, rows, t, w, compute)


def _linear_grads_block(x, t, W, b, w, g, denominator, *, ignore_index, reduction, eps,
                        chunk_size, result):
    """A block's (grad_input rows, its share of grad_weight, of grad_bias
    (float64) or None)."""
    q = linear.linear_problem(x, W, t, b, w, ignore_index, reduction, eps, chunk_size)
    # the mean's denominator is the whole loss's, not the block's
    gs = linear.row_scales(q, g, float(denominator))
    gx, gW, gb = linear.gradients(q, gs)
    return gx.astype(result, copy=False), gW, gb


def _add(a, b):
    return None if a is None else a + b


def _tree_sum(parts):
    """The sum of delayed values, added pairwise (a fixed tree: the same
    order on every run)."""
    import dask
    add = dask.delayed(_add, pure=True)
    while len(parts) > 1:
        parts = [add(*parts[i:i + 2]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0]


def _astype(a, dtype):
    return a.astype(dtype)


def linear_class_loss_backward(input, linear_weight, target, linear_bias, weight,
                               ignore_index, reduction, label_smoothing, chunk_size,
                               grad_output):
    """The gradients of linear_cross_entropy by blocks of rows: grad_input
    as a Dask array of the input's row chunks, grad_weight and grad_bias as
    one-chunk Dask arrays, the blocks' shares summed by a tree (grad_weight
    in the compute dtype, as BLAS sums each block's rows; grad_bias in
    float64)."""
    import dask
    one_row = np.ndim(input) == 1
    p, compute, x, t, W, b, w = _linear_operands(input, linear_weight, target, linear_bias,
                                                 weight, ignore_index, reduction,
                                                 label_smoothing)
    g = _dask(grad_output)
    losses.check_upstream(g, p.reduction, p.expected)
    per_row = p.reduction == "none" and g.ndim
    if per_row:
        g = (g[None] if one_row else g).rechunk(x.chunks[:1])
    denominator = _denominator(p, t, w, compute)

    def whole(a):  # the one block of a one-chunk Dask array, as a delayed value
        return None if a is None else a.to_delayed().reshape(-1)[0]

    block = dask.delayed(_linear_grads_block, nout=3, pure=True)
    xs, ts = x.to_delayed().reshape(-1), t.to_delayed().reshape(-1)
    gs = g.to_delayed().reshape(-1) if per_row else [whole(g)] * len(xs)
    params = [whole(a) for a in (W, b, w)]
    parts = [block(xb, tb, *params, gb, whole(denominator), ignore_index=p.ignore_index,
                   reduction=p.reduction, eps=p.eps, chunk_size=chunk_size, result=p.result)
             for xb, tb, gb in zip(xs, ts, gs)]
    D, C = x.shape[1], W.shape[0]
    grad_x = da.concatenate([da.from_delayed(part[0], (rows, D), dtype=p.result,
                                             meta=_meta(2, p.result))
                             for part, rows in zip(parts, x.chunks[0])], axis=0)
    cast = dask.delayed(_astype, pure=True)
    grad_W = da.from_delayed(cast(_tree_sum([part[1] for part in parts]), p.result), (C, D),
                             dtype=p.result, meta=_meta(2, p.result))
    grad_b = None if b is None else da.from_delayed(
        cast(_tree_sum([part[2] for part in parts]), p.result), (C,), dtype=p.result,
        meta=_meta(1, p.result))
    return (grad_x[0] if one_row else grad_x), grad_W, grad_b


# ---------------------------------------------------------------- CTC loss
#
# By blocks of samples: log_probs in its chunks along the batch axis (time
# and classes taken whole), padded targets and the lengths chunked alike,
# each block through the in-memory driver; a reduced loss from the samples'
# float64 losses in one last task, the in-memory reduction (the same bits).
# Concatenated targets make one block: where each sample's labels start
# depends on the target lengths' values.

def _ctc_operands(log_probs, targets, input_lengths, target_lengths, blank, reduction):
    """The in-memory checks of shapes and dtypes, then the operands batched
    ((T, N, C), lengths (N,)) and chunked by blocks of samples."""
    x, t, il, tl = (_dask(a) for a in (log_probs, targets, input_lengths, target_lengths))
    _, loss_shape, result, blank = ctc.ctc_checks(x, t, il, tl, blank, reduction)
    if x.ndim == 2:
        x = x[:, None, :]
    rows = x.chunks[1] if t.ndim == 2 else (x.shape[1],)
    x = x.rechunk({0: -1, 1: rows, 2: -1})
    il, tl = il.reshape(-1).rechunk((rows,)), tl.reshape(-1).rechunk((rows,))
    # the targets with their blockwise index: padded rows follow the samples
    t = (t.rechunk((rows, -1)), "ns") if t.ndim == 2 else (t.rechunk(-1), "k")
    return x, t, il, tl, loss_shape, result, blank


def _ctc_losses_block(x, t, il, tl, *, blank, zero_infinity):
    return ctc.sample_losses(ctc.ctc_problem(x, t, il, tl, blank, "none", zero_infinity))[0]


def _ctc_reduce_block(nll, tl, *, reduction, result):
    tl = np.asarray(tl).astype(np.int64)
    return np.asarray(ctc.reduce_losses(nll, tl, reduction, result, ()))


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction,
             zero_infinity):
    """ctc_loss by blocks of samples: their float64 losses, then 'none' cast
    to the result dtype, or the in-memory reduction of all of them."""
    x, (t, t_index), il, tl, loss_shape, result, blank = _ctc_operands(
        log_probs, targets, input_lengths, target_lengths, blank, reduction)
    nll = da.blockwise(_ctc_losses_block, "n", x, "tnc", t, t_index, il, "n", tl, "n",
                       dtype=_F64, meta=_meta(1, _F64), concatenate=True, blank=blank,
                       zero_infinity=bool(zero_infinity))
    if reduction == "none":
        nll = nll.astype(result)
        return nll if loss_shape else nll.reshape(())
    return da.blockwise(_ctc_reduce_block, "", nll, "n", tl, "n", dtype=result,
                        meta=_meta(0, result), concatenate=True, reduction=reduction,
                        result=result)


def _ctc_grad_block(x, t, il, tl, g, *, blank, reduction, zero_infinity, n_total):
    p = ctc.ctc_problem(x, t, il, tl, blank, reduction, zero_infinity)
    # the mean's batch size is the whole batch's, not the block's
    return ctc.gradient(p, ctc.sample_scales(p, g, n_total), None)


def ctc_loss_backward(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                      zero_infinity, grad_output, out):
    """The gradient of ctc_loss by the same blocks of samples."""
    _no_out(out)
    x, (t, t_index), il, tl, loss_shape, result, blank = _ctc_operands(
        log_probs, targets, input_lengths, target_lengths, blank, reduction)
    g = _dask(grad_output)
    losses.check_upstream(g, reduction, loss_shape)
    g = (g.rechunk((il.chunks[0],)), "n") if g.ndim else (g, ())
    grad = da.blockwise(_ctc_grad_block, "tnc", x, "tnc", t, t_index, il, "n", tl, "n", *g,
                        dtype=result, meta=_meta(3, result), concatenate=True, blank=blank,
                        reduction=reduction, zero_infinity=bool(zero_infinity),
                        n_total=x.shape[1])
    return grad if loss_shape else grad[:, 0, :]


# what fastnl._dispatch.foreign hands out, by the name the public modules ask for
# ---------------------------------------------------------------- row losses over the last axis
#
# cosine_embedding_loss, triplet_margin_loss: the operands broadcast to (N, D),
# the last axis in one chunk, each block of rows through the in-memory driver
# (its float64 per-row losses, its gradients); reduced losses summed by a tree
# and divided once, gradients summed back over the axes an operand was
# broadcast along.

# name -> (the driver's problem, per-row losses, gradients, shape check)
_ROW_LOSSES = {
    "cosine": (losses.cosine_problem, losses.cosine_rows, losses.cosine_gradients,
               losses.cosine_shape),
    "triplet": (losses.triplet_problem, losses.triplet_rows, losses.triplet_gradients,
                losses.triplet_shape),
}


def _row_operands(loss, inputs, target):
    """The in-memory shape checks, then the float inputs as (N, D) with the
    last axis whole and the target (N,) (or None) in their row chunks; the
    inputs' own shapes, the broadcast shape and the per-row losses' shape."""
    xs = [_dask(a) for a in inputs]
    t = None if target is None else _dask(target)
    shape, rows = _ROW_LOSSES[loss][3](*[x.shape for x in xs],
                                       *([] if t is None else [t.shape]))
    flat = (math.prod(rows), shape[-1])  # the leading axes as rows
    first = da.broadcast_to(xs[0], shape).reshape(flat).rechunk({1: -1})
    blocks = [first] + [da.broadcast_to(x, shape).reshape(flat).rechunk(first.chunks)
                        for x in xs[1:]]
    args = [v for b in blocks for v in (b, "ij")]
    if t is not None:
        args += [da.broadcast_to(t, rows).reshape(flat[:1]).rechunk(first.chunks[:1]), "i"]
    return first, args, tuple(x.shape for x in xs), shape, rows


def _row_loss_block(*blocks, loss, params):
    problem, rows = _ROW_LOSSES[loss][:2]
    return rows(problem(*blocks), *params)


def row_loss(loss, inputs, target, params, reduction):
    first, args, _, _, rows = _row_operands(loss, inputs, target)
    result = resolve_dtype(first.dtype)[1]
    per_row = da.blockwise(_row_loss_block, "i", *args, dtype=_F64, concatenate=True,
                           loss=loss, params=params)
    if reduction == "none":
        return per_row.astype(result).reshape(rows)
    return _reduced(per_row.sum(), losses.mean_denominator(reduction, per_row.shape), result)


def _row_grad_block(*blocks, loss, params, reduction, denominator, which):
    problem, _, gradients, _ = _ROW_LOSSES[loss]
    *blocks, g = blocks
    p = problem(*blocks)
    g, scale = losses.upstream(g, reduction, p.rows, p.xs[0].dtype, denominator)
    return gradients(p, *params, g, scale)[which]


def row_loss_backward(loss, inputs, target, params, reduction, grad_output):
    """Every gradient block by block of rows at the broadcast shape, then
    summed back over the axes its operand was broadcast along."""
    first, args, shapes, shape, rows = _row_operands(loss, inputs, target)
    compute, result = resolve_dtype(first.dtype)
    g = _dask(grad_output)
    losses.check_upstream(g, reduction, rows)
    if reduction == "none" and g.ndim:
        args += [g.reshape(first.shape[:1]).rechunk(first.chunks[:1]), "i"]
    else:
        args += [g, ()]
    kw = dict(loss=loss, params=params, reduction=reduction,
              denominator=losses.mean_denominator(reduction, first.shape[:1]))
    grads = []
    for which, x_shape in enumerate(shapes):
        grad = da.blockwise(_row_grad_block, "ij", *args, dtype=compute, concatenate=True,
                            which=which, **kw).reshape(shape)
        if x_shape != shape:
            grad = grad.sum(axis=losses.broadcast_axes(shape, x_shape), dtype=np.float64) \
                .reshape(x_shape).astype(compute)
        grads.append(grad.astype(result))
    return tuple(grads)


# multi_margin_loss: (N, C) by blocks of rows, the classes whole, the class
# weights whole in every block.

def _multi_margin_operands(input, target, weight):
    x, t = _dask(input), _dask(target)
    w = None if weight is None else _dask(weight)
    if t.dtype.kind not in "iu":
        raise TypeError(f"multi_margin_loss expects integer class indices as target, got "
                        f"dtype {t.dtype}")
    N, C, rows = losses.multi_margin_shape(x.shape, t.shape, None if w is None else w.shape)
    x2 = x.reshape(N, C).rechunk({1: -1})
    args = [x2, "ij", t.reshape(N).rechunk(x2.chunks[:1]), "i"]
    args += [w.rechunk(-1), "k"] if w is not None else [None, None]
    return x, x2, args, rows


def _multi_margin_block(x, t, w, *, p, margin, g=None, reduction=None, denominator=None):
    x, t, w, rows, _ = losses.multi_margin_problem(x, t, w)
    if reduction is None:
        return losses.multi_margin_rows(x, t, w, p, margin)
    g, scale = losses.upstream(g, reduction, rows, x.dtype, denominator)
    return losses.multi_margin_gradient(x, t, w, p, margin, g, scale)


def multi_margin(input, target, p, margin, weight, reduction):
    x, x2, args, rows = _multi_margin_operands(input, target, weight)
    result = resolve_dtype(x.dtype)[1]
    loss = da.blockwise(_multi_margin_block, "i", *args, dtype=_F64, concatenate=True,
                        p=p, margin=margin)
    if reduction == "none":
        return loss.astype(result).reshape(rows)
    return _reduced(loss.sum(), losses.mean_denominator(reduction, loss.shape), result)


def _multi_margin_grad_block(x, t, w, g, **kw):
    return _multi_margin_block(x, t, w, g=g, **kw)


def multi_margin_backward(input, target, p, margin, weight, reduction, grad_output):
    x, x2, args, rows = _multi_margin_operands(input, target, weight)
    compute, result = resolve_dtype(x.dtype)
    g = _dask(grad_output)
    losses.check_upstream(g, reduction, rows)
    args += ([g.reshape(x2.shape[:1]).rechunk(x2.chunks[:1]), "i"]
             if reduction == "none" and g.ndim else [g, ()])
    grad = da.blockwise(_multi_margin_grad_block, "ij", *args, dtype=compute,
                        concatenate=True, p=p, margin=margin, reduction=reduction,
                        denominator=losses.mean_denominator(reduction, x2.shape[:1]))
    return grad.reshape(x.shape).astype(result)


# multilabel_margin_loss: input and target (N, C) by blocks of rows, the
# classes whole.

def _multilabel_margin_operands(input, target):
    x, t = _dask(input), _dask(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"multilabel_margin_loss expects integer class indices as target, "
                        f"got dtype {t.dtype}")
    N, C, rows = losses.multilabel_margin_shape(x.shape, t.shape)
    x2 = x.reshape(N, C).rechunk({1: -1})
    return x, x2, [x2, "ij", t.reshape(N, C).rechunk(x2.chunks), "ij"], rows


def _multilabel_margin_block(x, t, g=None, *, reduction=None, denominator=None):
    x, t, rows, _ = losses.multilabel_margin_problem(x, t)
    if reduction is None:
        return losses.multilabel_margin_rows(x, t)
    g, scale = losses.upstream(g, reduction, rows, x.dtype, denominator)
    return losses.multilabel_margin_gradient(x, t, g, scale)


def multilabel_margin(input, target, reduction):
    x, x2, args, rows = _multilabel_margin_operands(input, target)
    result = resolve_dtype(x.dtype)[1]
    loss = da.blockwise(_multilabel_margin_block, "i", *args, dtype=_F64, concatenate=True)
    if reduction == "none":
        return loss.astype(result).reshape(rows)
    return _reduced(loss.sum(), losses.mean_denominator(reduction, loss.shape), result)


def multilabel_margin_backward(input, target, reduction, grad_output):
    x, x2, args, rows = _multilabel_margin_operands(input, target)
    compute, result = resolve_dtype(x.dtype)
    g = _dask(grad_output)
    losses.check_upstream(g, reduction, rows)
    args += ([g.reshape(x2.shape[:1]).rechunk(x2.chunks[:1]), "i"]
             if reduction == "none" and g.ndim else [g, ()])
    grad = da.blockwise(_multilabel_margin_block, "ij", *args, dtype=compute,
                        concatenate=True, reduction=reduction,
                        denominator=losses.mean_denominator(reduction, x2.shape[:1]))
    return grad.reshape(x.shape).astype(result)


IMPLEMENTATIONS = {
    "prelu": prelu, "prelu_backward": prelu_backward,
    "rrelu": rrelu, "rrelu_backward": rrelu_backward,
    "along_axis": along_axis, "along_axis_backward": along_axis_backward,
    "logsumexp": logsumexp, "logsumexp_backward": logsumexp_backward,
    "glu": glu, "glu_backward": glu_backward,
    "gumbel_softmax": gumbel_softmax, "gumbel_softmax_backward": gumbel_softmax_backward,
    "one_hot": one_hot,
    "pointwise_loss": pointwise, "pointwise_loss_backward": pointwise_backward,
    "class_loss": class_loss, "class_loss_backward": class_loss_backward,
    "linear_class_loss": linear_class_loss,
    "linear_class_loss_backward": linear_class_loss_backward,
    "row_loss": row_loss, "row_loss_backward": row_loss_backward,
    "multi_margin_loss": multi_margin, "multi_margin_loss_backward": multi_margin_backward,
    "multilabel_margin_loss": multilabel_margin,
    "multilabel_margin_loss_backward": multilabel_margin_backward,
    "ctc_loss": ctc_loss, "ctc_loss_backward": ctc_loss_backward,
}
