"""Losses, with the names, arguments and numbers of torch.nn.functional.

``reduction`` is ``'mean'`` (default), ``'sum'`` or ``'none'`` (and
``'batchmean'`` for :func:`kl_div`). A reduced loss is a NumPy scalar of the
input's float dtype; sums are accumulated in float64 over fixed blocks (or per
row) and combined in a fixed order, so the bits do not depend on the thread
count. ``'mean'`` over nothing is NaN, as in torch.

The class losses (:func:`nll_loss`, :func:`cross_entropy`) read the input in
place through an (N, C, inner) view and keep O(N) memory: cross-entropy
computes each row's log-sum-exp and picks the target in one compiled pass,
never materialising the N x C log-probabilities.

Every loss has ``<name>_backward(input, target, <same parameters>,
grad_output=1.0, out=None)``, the gradient with respect to the input (see
the "gradients" section at the end); forward and backward share their
argument checks (``_prepare``, ``_class_problem``).
"""

import math
import operator
import warnings

import numpy as np

from fastnl._config import _kernel_threads
from fastnl._kernels import _losses as _kl
from fastnl._kernels import _rowwise as _kr
from fastnl._kernels._pool import empty
from fastnl._validate import (as_float_array, check_out, check_reduction, deliver, lazy, real,
                              resolve_dtype)

__all__ = [
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
    "kl_div", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "mse_loss_backward", "l1_loss_backward", "smooth_l1_loss_backward", "huber_loss_backward",
    "nll_loss_backward", "cross_entropy_backward", "kl_div_backward",
    "binary_cross_entropy_backward", "binary_cross_entropy_with_logits_backward",
]


def _scalar(value, dtype):
    """A float64 value as the 0-d NumPy scalar of the result dtype."""
    return dtype.type(value)


def _ratio(num, den):
    """num / den in float64 with IEEE semantics: 0/0 is nan (mean over nothing)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.float64(num) / np.float64(den)


# ---------------------------------------------------------------- pointwise losses

def _as_like(value, name, dtype):
    """`value` as an array of the compute `dtype` (TypeError for complex, str, ...)."""
    value = np.asarray(value)
    resolve_dtype(value.dtype)  # rejects non-real dtypes, naming them
    if value.dtype != dtype:
        value = value.astype(dtype)
    return value


def _flat(a, shape):
    """`a` broadcast to `shape`, as a contiguous 1-d buffer (no copy when possible)."""
    if a.shape != shape:
        a = np.broadcast_to(a, shape)
    return np.ascontiguousarray(a).reshape(-1)


def _broadcast(shape_a, shape_b, what):
    try:
        return np.broadcast_shapes(shape_a, shape_b)
    except ValueError:
        raise ValueError(f"{what}: shapes {shape_a} and {shape_b} cannot be broadcast "
                         "together") from None


def _loss_shape(x_shape, t_shape, arrays, sizes):
    """The shape a pointwise loss is computed at, after the shape checks (shared
    by the in-memory and the Dask paths: shapes only, no data read).

    sizes: what a target shape different from the input's does: 'warn'
    (broadcast with torch's UserWarning), 'silent' (broadcast) or 'strict'
    (ValueError). `arrays` are (name, shape or None) of per-element weights,
    which must broadcast to the loss's shape.
    """
    shape = x_shape
    if t_shape != x_shape:
        if sizes == "strict":
            raise ValueError(f"target shape {t_shape} must be the same as input shape "
                             f"{x_shape}")
        if sizes == "warn":  # torch warns first, then fails if they do not broadcast
            warnings.warn(f"Using a target size {t_shape} that is different to the input "
                          f"size {x_shape}. This will likely lead to incorrect results "
                          "due to broadcasting. Please ensure they have the same size.",
                          UserWarning, stacklevel=5)
        shape = _broadcast(x_shape, t_shape, "input and target")
    for name, a_shape in arrays:
        if a_shape is not None and (not _broadcastable(a_shape, shape)
                                    or np.broadcast_shapes(a_shape, shape) != shape):
            raise ValueError(f"{name} of shape {a_shape} cannot be broadcast to the "
                             f"input's shape {shape}")
    return shape


def _prepare(input, target, arrays=(), sizes="warn", unit_interval=False):
    """Convert and check the operands of a pointwise loss (shared by forward
    and backward): returns (x, result dtype, shape the loss is computed at,
    flat input, flat target, flat weight buffers).

    `arrays` are (name, array or None) per-element weights, broadcast to the
    loss's shape (an absent one is an empty buffer); sizes as in _loss_shape.
    unit_interval: input and target must lie in [0, 1] (binary_cross_entropy).
    """
    x, result = as_float_array(input, "input")
    t = _as_like(target, "target", x.dtype)
    arrays = [(name, None if a is None else _as_like(a, name, x.dtype)) for name, a in arrays]
    shape = _loss_shape(x.shape, t.shape, [(name, None if a is None else a.shape)
                                           for name, a in arrays], sizes)
    if unit_interval:
        _check_unit_interval(x, "input")
        _check_unit_interval(t, "target")
    buffers = [np.empty(0, x.dtype) if a is None else _flat(a, shape) for _, a in arrays]
    return x, result, shape, _flat(x, shape), _flat(t, shape), buffers


def _denominator(reduction, shape):
    """What a reduced pointwise loss divides its sum by."""
    if reduction == "mean":
        return math.prod(shape)
    if reduction == "batchmean":
        return shape[0] if len(shape) else 1
    return 1


def _pointwise_sum(kernel, x, shape, xf, tf, buffers, params):
    """The loss summed over every element, in float64."""
    return kernel(xf, tf, *buffers, *params, np.empty(0, x.dtype), True, _kernel_threads())


def _pointwise(kernel, input, target, reduction, params=(), arrays=(), *,
               sizes="warn", allowed=("mean", "sum", "none"), unit_interval=False):
    """Run a pointwise loss kernel and reduce (see _prepare for the arguments)."""
    reduction = check_reduction(reduction, allowed)
    if lazy(input, target, *[a for _, a in arrays]):
        from fastnl import _dask
        return _dask.pointwise(kernel, input, target, reduction, params, arrays, sizes,
                               unit_interval)
    x, result, shape, xf, tf, buffers = _prepare(input, target, arrays, sizes, unit_interval)
    if reduction == "none":
        out = empty(shape, x.dtype)
        kernel(xf, tf, *buffers, *params, out.reshape(-1), False, _kernel_threads())
        if out.dtype != result:
            out = out.astype(result)
        return out if out.ndim else out[()]
    total = _pointwise_sum(kernel, x, shape, xf, tf, buffers, params)
    return _scalar(_ratio(total, _denominator(reduction, shape)), result)


def _check_upstream(g, reduction, loss_shape):
    """A reduced loss takes a scalar grad_output, reduction='none' an array of
    the loss's shape (shapes only: the Dask path checks its arrays too)."""
    resolve_dtype(g.dtype)  # rejects non-real dtypes, naming them
    if reduction == "none" and g.shape != loss_shape:
        raise ValueError(f"grad_output has shape {g.shape}, but the loss (reduction='none') "
                         f"has shape {loss_shape}; they must be the same")
    if reduction != "none" and g.ndim != 0:
        raise ValueError(f"grad_output of a reduced loss must be a scalar, got shape {g.shape}")


def _upstream(grad_output, reduction, loss_shape, dtype, denominator):
    """The upstream gradient: (per-element array of the compute dtype, flat, or
    empty; scalar scale): grad_output per element for reduction='none', else
    one scale, grad_output over the mean's `denominator`."""
    g = np.asarray(grad_output)
    _check_upstream(g, reduction, loss_shape)
    if reduction == "none":
        return np.ascontiguousarray(g, dtype=dtype).reshape(-1), 1.0
    # rounded to the data's dtype first, as torch holds it
    value = float(g.astype(dtype))
    return np.empty(0, dtype), float(_ratio(value, denominator))


def _gradient_buffer(out, shape, dtype, reads, zero=False):
    """Where a gradient kernel writes: `out` itself when it is C-contiguous,
    of the gradient's shape and compute dtype, and overlaps none of the
    arrays the kernel `reads`; else a new array. zero: zero-filled (for
    kernels that write only some elements)."""
    if (out is not None and out.shape == shape and out.dtype == dtype
            and out.flags.c_contiguous and not any(np.may_share_memory(out, a) for a in reads)):
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
        grad = grad.sum(axis=_broadcast_axes(grad.shape, x_shape), dtype=np.float64) \
            .reshape(x_shape).astype(grad.dtype)
    return deliver(grad, out, result)


def _broadcast_axes(shape, x_shape):
    """The axes of `shape` along which an array of `x_shape` was broadcast to it."""
    lead = len(shape) - len(x_shape)
    return tuple(range(lead)) + tuple(lead + i for i, n in enumerate(x_shape)
                                      if n == 1 and shape[lead + i] != 1)


def _check_loss_out(out, input, result):
    if out is not None:
        check_out(out, np.shape(input), result)


def _pointwise_backward(kernel, input, target, reduction, grad_output, out, params=(),
                        arrays=(), *, sizes="warn", allowed=("mean", "sum", "none"),
                        unit_interval=False, denominator=None):
    """Gradient of a pointwise loss with respect to `input` (see _pointwise).
    `denominator` overrides the mean's (the Dask path runs this per block)."""
    reduction = check_reduction(reduction, allowed)
    sizes = "silent" if sizes == "warn" else sizes  # the forward has warned already
    if lazy(input, target, grad_output, *[a for _, a in arrays]):
        from fastnl import _dask
        return _dask.pointwise_backward(kernel, input, target, reduction, grad_output, out,
                                        params, arrays, sizes, unit_interval)
    x, result, shape, xf, tf, buffers = _prepare(input, target, arrays, sizes, unit_interval)
    _check_loss_out(out, x, result)
    if denominator is None:
        denominator = _denominator(reduction, shape)
    g, scale = _upstream(grad_output, reduction, shape, x.dtype, denominator)
    grad = _gradient_buffer(out, shape, x.dtype, [xf, tf, g, *buffers])
    kernel(xf, tf, *buffers, *params, g, scale, grad.reshape(-1), _kernel_threads())
    return _finish(grad, x.shape, result, out)


def _broadcastable(shape, target_shape):
    try:
        np.broadcast_shapes(shape, target_shape)
    except ValueError:
        return False
    return True


def _smooth_l1_args(beta):
    beta = real("beta", beta)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss does not support negative values for beta, got {beta}")
    return (beta,)


def _huber_args(delta):
    delta = real("delta", delta)
    if not delta > 0:
        raise ValueError(f"huber_loss does not support non-positive values for delta, got {delta}")
    return (delta,)


def mse_loss(input, target, reduction="mean"):
    r"""Mean squared error, :math:`(x - y)^2`; mirrors ``torch.nn.functional.mse_loss``.

    Parameters
    ----------
    input, target : array_like
        Predictions and targets. A target of another shape is broadcast
        against the input, with a ``UserWarning``, as torch does.
    reduction : {'mean', 'sum', 'none'}
        Mean or sum of the elementwise losses (a scalar of the input's float
        dtype), or the elementwise losses.

    Raises
    ------
    ValueError
        If the shapes cannot be broadcast together, or `reduction` is unknown.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.mse_loss([1.0, 2.0, 4.0], [1.0, 1.0, 1.0])
    np.float64(3.3333333333333335)
    >>> fastnl.mse_loss([1.0, 2.0, 4.0], [1.0, 1.0, 1.0], reduction="none")
    array([0., 1., 9.])
    """
    return _pointwise(_kl.mse, input, target, reduction)


def l1_loss(input, target, reduction="mean"):
    r"""Mean absolute error, :math:`|x - y|`; mirrors ``torch.nn.functional.l1_loss``.

    Same arguments as :func:`mse_loss`.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.l1_loss([1.0, 2.0, 4.0], [1.0, 1.0, 1.0], reduction="sum")
    np.float64(4.0)
    """
    return _pointwise(_kl.l1, input, target, reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    r"""Smooth L1 loss; mirrors ``torch.nn.functional.smooth_l1_loss``.

    .. math:: \ell = 0.5 d^2 / \beta \text{ if } d < \beta \text{ else } d - 0.5 \beta,
              \quad d = |x - y|

    ``beta = 0`` is the L1 loss. Other arguments as :func:`mse_loss`.

    Raises
    ------
    ValueError
        If ``beta < 0``.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.smooth_l1_loss([0.5, 3.0], [0.0, 0.0], reduction="none")
    array([0.125, 2.5  ])
    """
    return _pointwise(_kl.smooth_l1, input, target, reduction, _smooth_l1_args(beta))


def huber_loss(input, target, reduction="mean", delta=1.0):
    r"""Huber loss; mirrors ``torch.nn.functional.huber_loss``.

    .. math:: \ell = 0.5 d^2 \text{ if } d < \delta \text{ else } \delta (d - 0.5 \delta),
              \quad d = |x - y|

    Equal to ``delta * smooth_l1_loss(..., beta=delta)``. Other arguments as
    :func:`mse_loss`.

    Raises
    ------
    ValueError
        If ``delta <= 0``.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.huber_loss([0.5, 3.0], [0.0, 0.0], reduction="none", delta=2.0)
    array([0.125, 4.   ])
    """
    return _pointwise(_kl.huber, input, target, reduction, _huber_args(delta))


_KL_REDUCTIONS = ("mean", "sum", "none", "batchmean")


def kl_div(input, target, reduction="mean", log_target=False):
    r"""Kullback-Leibler divergence; mirrors ``torch.nn.functional.kl_div``.

    `input` holds log-probabilities :math:`\log p`; `target` holds
    probabilities :math:`q` (or :math:`\log q` with ``log_target=True``):

    .. math:: \ell = q (\log q - \log p), \text{ with } 0 \log 0 = 0

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none', 'batchmean'}
        ``'batchmean'`` divides the sum by the batch size ``input.shape[0]``
        and is the mathematical KL divergence per sample; ``'mean'`` divides
        by the number of elements (torch warns about it, and so does fastnl).
    log_target : bool
        Whether `target` holds log-probabilities.

    Target and input are broadcast together (silently, as torch does). A zero
    target (``-inf`` with `log_target`) contributes exactly 0, the limit of
    :math:`q \log(q / p)`, even where ``input`` is ``-inf``; torch gives NaN
    there (``0 * inf``).

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> p, q = np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])
    >>> float(fastnl.kl_div(np.log(p), q, reduction="batchmean"))  # doctest: +ELLIPSIS
    0.1308...
    """
    reduction = check_reduction(reduction, _KL_REDUCTIONS)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and "
                      "the support size. 'batchmean' divides only by the batch size, and "
                      "aligns with the KL div math definition.", UserWarning, stacklevel=2)
    kernel = _kl.kl_div_log if log_target else _kl.kl_div
    return _pointwise(kernel, input, target, reduction, sizes="silent", allowed=_KL_REDUCTIONS)


def _check_unit_interval(a, name):
    """ValueError unless every element of `a` is in [0, 1] (NaN is not, as in torch)."""
    if a.size and not (a.min() >= 0 and a.max() <= 1):
        raise ValueError(f"all elements of {name} should be between 0 and 1")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    r"""Binary cross-entropy of probabilities; mirrors ``torch.nn.functional.binary_cross_entropy``.

    .. math:: \ell = -w \, [\, y \max(\log x, -100) + (1 - y) \max(\log(1 - x), -100) \,]

    Both logs are clamped at -100, as torch does, so that ``x = 0`` or ``1``
    gives a finite loss.

    Parameters
    ----------
    input : array_like
        Probabilities in [0, 1].
    target : array_like
        Targets in [0, 1], of the input's shape.
    weight : array_like, optional
        Per-element rescaling, broadcast to the input's shape. ``'mean'`` is
        the plain mean of the weighted losses (not divided by the weights).

    Raises
    ------
    ValueError
        If input or target has an element outside [0, 1] (or NaN), the shapes
        differ, or `weight` cannot be broadcast to the input's shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.binary_cross_entropy([0.0, 0.5], [1.0, 1.0], reduction="none")
    array([100.        ,   0.69314718])
    """
    return _pointwise(_kl.bce, input, target, reduction, arrays=[("weight", weight)],
                      sizes="strict", unit_interval=True)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    r"""Binary cross-entropy of logits; mirrors ``torch.nn.functional.binary_cross_entropy_with_logits``.

    .. math:: \ell = w \, [\, (1 - y)\, x + (1 + (p_w - 1)\, y) \log(1 + e^{-x}) \,]

    which is :math:`-w [p_w y \log \sigma(x) + (1 - y) \log(1 - \sigma(x))]`
    evaluated without overflow: ``log(1 + exp(-x))`` is computed as
    ``max(-x, 0) + log1p(exp(-|x|))``, exact for logits of +-1e4.

    Parameters
    ----------
    input : array_like
        Logits.
    target : array_like
        Targets, of the input's shape.
    weight : array_like, optional
        Per-element rescaling, broadcast to the input's shape.
    pos_weight : array_like, optional
        Weight of the positive term, broadcast to the input's shape (usually
        one per class, along the last axis).

    Examples
    --------
    >>> import fastnl
    >>> fastnl.binary_cross_entropy_with_logits([1e4, -1e4], [1.0, 1.0], reduction="none")
    array([    0., 10000.])
    """
    return _pointwise(_kl.bce_logits, input, target, reduction,
                      arrays=[("weight", weight), ("pos_weight", pos_weight)], sizes="strict")


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
    if any(s < 0 or s % item for s in v.strides):
        v = np.ascontiguousarray(v)
    strides = tuple(s // item for s in v.strides)
    if v.size == 0:
        return np.empty(0, v.dtype), strides
    span = 1 + sum((n - 1) * s for n, s in zip(v.shape, strides))
    flat = np.lib.stride_tricks.as_strided(v, shape=(span,), strides=(item,), writeable=False)
    return flat, strides


def _class_weight(weight, dtype):
    """The class weights as float64 (rounded to the input's dtype first, as
    torch keeps them in it), or an empty array for None."""
    if weight is None:
        return np.empty(0, np.float64)
    return np.ascontiguousarray(_as_like(weight, "weight", dtype), dtype=np.float64)


def _class_indices(t, n_classes, ignore_index):
    """Class indices as flat int64, after the range check (the only check
    that reads the target's values)."""
    if t.dtype == np.uint64 and t.size and t.max() > np.iinfo(np.int64).max:
        raise IndexError(f"Target {t.max()} is out of bounds: expected a class index "
                         f"in [0, {n_classes})")
    t = np.ascontiguousarray(t, dtype=np.int64).reshape(-1)
    if t.size and not (t.min() >= 0 and t.max() < n_classes):
        bad = t[((t < 0) | (t >= n_classes)) & (t != ignore_index)]
        if bad.size:
            raise IndexError(f"Target {bad[0]} is out of bounds: expected a class index "
                             f"in [0, {n_classes}) or ignore_index={ignore_index}")
    return t


def _reduce_rows(loss, row_weight, p):
    """A class loss from its float64 per-row losses: 'mean' divides by the
    summed row weights (class indices) or the number of rows (probabilities)."""
    if p.reduction == "none":
        out = loss.reshape(p.expected).astype(p.result)
        return out if out.ndim else out[()]
    total = _kr.ordered_sum(loss)
    if p.reduction == "sum":
        return _scalar(total, p.result)
    denominator = _prob_rows(p) if p.probabilities else _kr.ordered_sum(row_weight)
    return _scalar(_ratio(total, denominator), p.result)


class _ClassProblem:
    """The checked operands of a class loss (shared by forward and backward)."""
    __slots__ = ("name", "x", "result", "view", "expected", "n_classes", "w", "weight_sum",
                 "t", "t_view", "probabilities", "ignore_index", "eps", "reduction")


def _class_checks(name, x, t, weight, ignore_index, reduction, label_smoothing):
    """The checks of a class loss that need only shapes and dtypes (so the Dask
    path runs them too, before reading anything): a _ClassProblem holding
    the parameters, result dtype, number of classes, the per-row loss's
    shape, and whether the target holds class probabilities."""
    p = _ClassProblem()
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
    p.probabilities = name == "cross_entropy" and t.dtype.kind == "f"
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


def _class_problem(name, input, target, weight, ignore_index, reduction, label_smoothing=0.0):
    """Validate and convert: the input's (N, C, inner) view, the class
    weights (float64), and the target as flat int64 class indices, or
    (cross_entropy only) as an (N, C, inner) view of class probabilities of
    the input's dtype."""
    x, t = np.asarray(input), np.asarray(target)
    p = _class_checks(name, x, t, None if weight is None else np.asarray(weight),
                      ignore_index, reduction, label_smoothing)
    p.x = x = as_float_array(x)[0]
    p.view, _ = _class_view(x)
    p.w = _class_weight(weight, x.dtype)
    p.weight_sum = float(p.w.sum()) if p.w.size else float(p.n_classes)
    p.t = p.t_view = None
    if p.probabilities:
        t, _ = as_float_array(t, "target")
        p.t_view, _ = _class_view(t.astype(x.dtype, copy=False))
    else:
        p.t = _class_indices(t, p.n_classes, p.ignore_index)
    return p


def _prob_rows(p):
    """The denominator of 'mean' with class probabilities: torch's mean over
    rows, NaN for an empty input (even with rows)."""
    return math.prod(p.expected) if p.n_classes and math.prod(p.expected) else 0


def _row_weights(t, w, ignore_index):
    """Each class-index target's weight in the mean's denominator, float64:
    w[t] (1 without class weights), 0 where t is ignore_index."""
    counted = t != ignore_index
    if not w.size:
        return counted.astype(np.float64)
    return np.where(counted, np.take(w, np.where(counted, t, 0), mode="clip"), 0.0)


def _counted_weight(p):
    """The denominator of 'mean' with class indices: the summed weights of the
    counted targets, in row order (the forward's bits)."""
    return _kr.ordered_sum(np.ascontiguousarray(_row_weights(p.t, p.w, p.ignore_index)))


def _class_rows(p):
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


def _class_loss(name, input, target, weight, ignore_index, reduction, label_smoothing=0.0):
    """nll_loss and cross_entropy: checks, the per-row kernel, the reduction."""
    if lazy(input, target, weight):
        from fastnl import _dask
        return _dask.class_loss(name, input, target, weight, ignore_index, reduction,
                                label_smoothing)
    p = _class_problem(name, input, target, weight, ignore_index, reduction, label_smoothing)
    return _reduce_rows(*_class_rows(p), p)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    r"""Negative log-likelihood; mirrors ``torch.nn.functional.nll_loss``.

    .. math:: \ell_n = -w_{y_n} x_{n, y_n}, \qquad
              \text{mean} = \sum_n \ell_n \Big/ \sum_{n:\, y_n \ne \text{ignore}} w_{y_n}

    Parameters
    ----------
    input : array_like
        Log-probabilities of shape (C,), (N, C) or (N, C, d1, ..., dk).
    target : array_like of int
        Class indices of shape (), (N,) or (N, d1, ..., dk).
    weight : array_like, optional
        One weight per class.
    ignore_index : int
        Targets equal to it contribute neither to the loss nor to the mean's
        denominator.
    reduction : {'mean', 'sum', 'none'}
        ``'mean'`` divides by the summed weights of the counted targets (NaN
        when there are none).

    Notes
    -----
    A zero class weight at an infinite log-probability contributes 0 (torch:
    ``-0 * -inf``, NaN), as :func:`cross_entropy` treats a zero coefficient:
    ``nll_loss(log_softmax(x), t)`` is ``cross_entropy(x, t)`` for every ``x``.

    Raises
    ------
    TypeError
        If `target` is not an integer array.
    IndexError
        If a target is outside [0, C) and not `ignore_index`.
    ValueError
        If the shapes do not match or `weight` has the wrong length.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> logp = np.log([[0.5, 0.5], [0.25, 0.75]])
    >>> fastnl.nll_loss(logp, [0, 1], reduction="none")
    array([0.69314718, 0.28768207])
    """
    return _class_loss("nll_loss", input, target, weight, ignore_index, reduction)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    r"""Cross-entropy of logits; mirrors ``torch.nn.functional.cross_entropy``.

    With class indices :math:`y_n` and smoothing :math:`\varepsilon`, each
    counted row's loss is :math:`-\sum_c w_c q_c \log p_c` where
    :math:`p = \mathrm{softmax}(x_n)` and
    :math:`q = (1 - \varepsilon)\, \mathrm{onehot}(y_n) + \varepsilon / C`;
    ``'mean'`` divides by :math:`\sum_n w_{y_n}` over the counted rows (as
    torch, also for the smoothing term). With class probabilities the target
    replaces the one-hot vector, `ignore_index` does not apply and ``'mean'``
    divides by the number of rows.

    Parameters
    ----------
    input : array_like
        Logits of shape (C,), (N, C) or (N, C, d1, ..., dk): classes on axis 1
        (axis 0 when 1-d).
    target : array_like
        Class indices (integers, the input's shape without the class axis) or
        class probabilities (floats, the input's shape).
    weight : array_like, optional
        One weight per class.
    ignore_index : int
        With class indices: targets equal to it are not counted. Must be
        negative (e.g. the default) with probabilities, as in torch.
    reduction : {'mean', 'sum', 'none'}
    label_smoothing : float in [0, 1]

    Notes
    -----
    With class indices nothing of size N x C is allocated: one compiled pass
    per row (in parallel over rows) computes the row's log-sum-exp
    :math:`m + \log \sum_c e^{x_c - m}`, the target's term and the smoothing
    term. Extra memory is O(N).

    Beyond torch: infinite logits take softmax's limit (with k logits at
    +inf, :math:`p` is 1/k on them and 0 elsewhere), and a term whose
    coefficient :math:`w_c q_c` is 0 contributes 0 even where :math:`p_c = 0`;
    so ``cross_entropy(x, t)`` is ``nll_loss(log_softmax(x), t)`` for every
    ``x``, and ``cross_entropy([[inf, 0, 0]], [0])`` is 0 where torch gives
    NaN. A row holding a NaN, or only -inf logits, gives NaN.

    Raises
    ------
    IndexError
        If a class index is outside [0, C) and not `ignore_index`.
    ValueError
        If the shapes do not match, `weight` has the wrong length,
        `label_smoothing` is outside [0, 1], or `ignore_index >= 0` is given
        with probabilities.
    TypeError
        If the target is neither integer indices nor floating probabilities.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> logits = np.array([[0.0, 0.0], [0.0, np.log(3.0)]])
    >>> fastnl.cross_entropy(logits, [0, 1], reduction="none")   # -log 0.5, -log 0.75
    array([0.69314718, 0.28768207])
    >>> fastnl.cross_entropy(logits, np.array([[1.0, 0.0], [0.0, 1.0]]), reduction="none")
    array([0.69314718, 0.28768207])
    """
    return _class_loss("cross_entropy", input, target, weight, ignore_index, reduction,
                       label_smoothing)


# ---------------------------------------------------------------- gradients
#
# <loss>_backward(input, target, <the forward's parameters>, grad_output=1.0,
# out=None): the gradient of the loss with respect to `input`, of the input's
# shape and result dtype. grad_output is a scalar for a reduced loss and an
# array of the loss's shape for reduction='none'; 'mean' divides it by the
# forward's denominator. Computed in compiled kernels in the input's compute
# dtype, as torch's backward kernels do.

_GRAD_DOC = """
    Parameters
    ----------
    input, target, {params} :
        As given to :func:`{name}`.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss, an array of the loss's shape for ``reduction='none'``.
    out : ndarray, optional
        Where to write the gradient: the input's shape and result dtype.

    Returns
    -------
    ndarray
        The gradient with respect to `input`, of its shape and result dtype
        (a target that broadcast the input to a larger shape has the
        gradient summed back over the broadcast axes).

    Raises
    ------
    ValueError
        As :func:`{name}`, and if `grad_output` has the wrong shape.

"""


def _grad_doc(name, params):
    def decorate(f):
        f.__doc__ = f.__doc__.replace("    {parameters}\n",
                                      _GRAD_DOC.format(name=name, params=params))
        return f
    return decorate


@_grad_doc("mse_loss", "reduction")
def mse_loss_backward(input, target, reduction="mean", grad_output=1.0, out=None):
    r"""Gradient of :func:`mse_loss` with respect to the input, :math:`2 (x - y)` per element.

    {parameters}
    Examples
    --------
    >>> import fastnl
    >>> fastnl.mse_loss_backward([1.0, 2.0, 4.0], [1.0, 1.0, 1.0])    # 2 (x - y) / 3
    array([0.        , 0.66666667, 2.        ])
    """
    return _pointwise_backward(_kl.mse_backward, input, target, reduction, grad_output, out)


@_grad_doc("l1_loss", "reduction")
def l1_loss_backward(input, target, reduction="mean", grad_output=1.0, out=None):
    r"""Gradient of :func:`l1_loss` with respect to the input: :math:`\mathrm{sign}(x - y)`,
    0 where ``x == y`` (torch's sub-gradient). A NaN input gives NaN (torch: 0).

    {parameters}
    Examples
    --------
    >>> import fastnl
    >>> fastnl.l1_loss_backward([1.0, 2.0, 0.0], [1.0, 1.0, 1.0], reduction="sum")
    array([ 0.,  1., -1.])
    """
    return _pointwise_backward(_kl.l1_backward, input, target, reduction, grad_output, out)


@_grad_doc("smooth_l1_loss", "reduction, beta")
def smooth_l1_loss_backward(input, target, reduction="mean", beta=1.0, grad_output=1.0,
                            out=None):
    r"""Gradient of :func:`smooth_l1_loss` with respect to the input:
    :math:`(x - y) / \beta` where :math:`|x - y| < \beta`, else :math:`\mathrm{sign}(x - y)`;
    ``beta = 0`` is :func:`l1_loss_backward`.

    {parameters}
    Examples
    --------
    >>> import fastnl
    >>> fastnl.smooth_l1_loss_backward([0.5, 3.0], [0.0, 0.0], reduction="none",
    ...                                grad_output=[1.0, 1.0])
    array([0.5, 1. ])
    """
    return _pointwise_backward(_kl.smooth_l1_backward, input, target, reduction, grad_output,
                               out, _smooth_l1_args(beta))


@_grad_doc("huber_loss", "reduction, delta")
def huber_loss_backward(input, target, reduction="mean", delta=1.0, grad_output=1.0, out=None):
    r"""Gradient of :func:`huber_loss` with respect to the input: :math:`x - y`
    clipped to :math:`[-\delta, \delta]`.

    {parameters}
    Examples
    --------
    >>> import fastnl
    >>> fastnl.huber_loss_backward([0.5, 3.0], [0.0, 0.0], reduction="sum", delta=2.0)
    array([0.5, 2. ])
    """
    return _pointwise_backward(_kl.huber_backward, input, target, reduction, grad_output,
                               out, _huber_args(delta))


@_grad_doc("kl_div", "reduction, log_target")
def kl_div_backward(input, target, reduction="mean", log_target=False, grad_output=1.0,
                    out=None):
    r"""Gradient of :func:`kl_div` with respect to the input (the log-probabilities):
    :math:`-q` per element (:math:`-e^{t}` with `log_target`). ``'batchmean'``
    divides by ``input.shape[0]``; no warning for ``'mean'`` (the forward gives it).

    {parameters}
    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.kl_div_backward(np.log([[0.5, 0.5]]), [[0.25, 0.75]], reduction="batchmean")
    array([[-0.25, -0.75]])
    """
    kernel = _kl.kl_div_log_backward if log_target else _kl.kl_div_backward
    return _pointwise_backward(kernel, input, target, reduction, grad_output, out,
                               sizes="silent", allowed=_KL_REDUCTIONS)


@_grad_doc("binary_cross_entropy", "weight, reduction")
def binary_cross_entropy_backward(input, target, weight=None, reduction="mean",
                                  grad_output=1.0, out=None):
    r"""Gradient of :func:`binary_cross_entropy` with respect to the input:
    :math:`w (x - y) / \max((1 - x) x, 10^{-12})`, torch's formula (finite at
    ``x = 0`` and ``1``, where the clamped forward is flat).

    {parameters}
    Examples
    --------
    >>> import fastnl
    >>> fastnl.binary_cross_entropy_backward([0.5, 0.8], [1.0, 0.0], reduction="sum")
    array([-2.,  5.])
    """
    return _pointwise_backward(_kl.bce_backward, input, target, reduction, grad_output, out,
                               arrays=[("weight", weight)], sizes="strict", unit_interval=True)


@_grad_doc("binary_cross_entropy_with_logits", "weight, reduction, pos_weight")
def binary_cross_entropy_with_logits_backward(input, target, weight=None, reduction="mean",
                                              pos_weight=None, grad_output=1.0, out=None):
    r"""Gradient of :func:`binary_cross_entropy_with_logits` with respect to the logits:
    :math:`w [(1 + (p_w - 1) y) \sigma(x) - p_w y]`, i.e. :math:`w (\sigma(x) - y)`
    without `pos_weight`.

    {parameters}
    Examples
    --------
    >>> import fastnl
    >>> fastnl.binary_cross_entropy_with_logits_backward([0.0, 1e4], [1.0, 1.0],
    ...                                                  reduction="sum")
    array([-0.5,  0. ])
    """
    return _pointwise_backward(_kl.bce_logits_backward, input, target, reduction, grad_output,
                               out, arrays=[("weight", weight), ("pos_weight", pos_weight)],
                               sizes="strict")


def _class_gradient(p, grad_output, out, denominator=None):
    """The gradient of nll_loss or cross_entropy for checked operands `p`.
    `denominator` overrides the mean's (the Dask path runs this per block)."""
    if denominator is None:
        if p.reduction != "mean":
            denominator = 1
        else:
            denominator = _prob_rows(p) if p.probabilities else _counted_weight(p)
    g, scale = _upstream(grad_output, p.reduction, p.expected, p.x.dtype, denominator)
    g = g.astype(np.float64)
    _check_loss_out(out, p.x, p.result)
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


def _class_loss_backward(name, input, target, weight, ignore_index, reduction, grad_output,
                         out, label_smoothing=0.0):
    if lazy(input, target, weight, grad_output):
        from fastnl import _dask
        return _dask.class_loss_backward(name, input, target, weight, ignore_index, reduction,
                                         grad_output, out, label_smoothing)
    p = _class_problem(name, input, target, weight, ignore_index, reduction, label_smoothing)
    return _class_gradient(p, grad_output, out)


@_grad_doc("nll_loss", "weight, ignore_index, reduction")
def nll_loss_backward(input, target, weight=None, ignore_index=-100, reduction="mean",
                      grad_output=1.0, out=None):
    r"""Gradient of :func:`nll_loss` with respect to the input:
    :math:`-w_{y_n} g_n` at each counted row's target class, 0 elsewhere.

    {parameters}
    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.nll_loss_backward(np.log([[0.5, 0.5], [0.25, 0.75]]), [0, 1])
    array([[-0.5,  0. ],
           [ 0. , -0.5]])
    """
    return _class_loss_backward("nll_loss", input, target, weight, ignore_index, reduction,
                                grad_output, out)


@_grad_doc("cross_entropy", "weight, ignore_index, reduction, label_smoothing")
def cross_entropy_backward(input, target, weight=None, ignore_index=-100, reduction="mean",
                           label_smoothing=0.0, grad_output=1.0, out=None):
    r"""Gradient of :func:`cross_entropy` with respect to the logits.

    With class indices :math:`t`, smoothing :math:`\varepsilon` and weights
    :math:`w`, per counted row (ignored rows get 0):

    .. math:: \frac{\partial \ell}{\partial x_j} = p_j \Big[(1 - \varepsilon) w_t
              + \frac{\varepsilon}{C} \sum_c w_c\Big] - (1 - \varepsilon) w_t [j = t]
              - \frac{\varepsilon}{C} w_j, \qquad p = \mathrm{softmax}(x)

    i.e. :math:`p_j \sum_c a_c - a_j` with :math:`a_c = w_c q_c` the weighted
    smoothed target, which is also the formula for class probabilities.
    ``'mean'`` divides by the forward's denominator.

    With class indices: one compiled pass per row (in parallel over rows)
    for the row's maximum and sum of exponentials, then one that writes the
    row's gradient; nothing but the gradient is allocated.

    Infinite logits take softmax's limit, as in :func:`cross_entropy`: the
    gradient of ``[[inf, 0, 0]]`` with target 1 is ``[[1, -1, 0]]``. NaN in
    a counted row's logits makes that row's gradient NaN, as in torch. Beyond torch: a row whose target is `ignore_index` gets a zero
    gradient even when its logits hold NaN (the loss does not read that
    row; torch multiplies the row's NaN softmax by the row's zero weight).

    {parameters}
    Examples
    --------
    >>> import numpy as np, fastnl
    >>> logits = np.array([[0.0, 0.0], [0.0, np.log(3.0)]])
    >>> fastnl.cross_entropy_backward(logits, [0, 1], reduction="sum")   # softmax - onehot
    array([[-0.5 ,  0.5 ],
           [ 0.25, -0.25]])
    """
    return _class_loss_backward("cross_entropy", input, target, weight, ignore_index, reduction,
                                grad_output, out, label_smoothing)
