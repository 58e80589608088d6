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
"""

import math
import operator
import warnings

import numpy as np

from fastnl._config import get_num_threads
from fastnl._kernels import _losses as _kl
from fastnl._kernels import _rowwise as _kr
from fastnl._validate import as_float_array, check_reduction, real, resolve_dtype

__all__ = [
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
    "kl_div", "binary_cross_entropy", "binary_cross_entropy_with_logits",
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


def _pointwise(kernel, input, target, reduction, params=(), arrays=(), *,
               sizes="warn", allowed=("mean", "sum", "none")):
    """Run a pointwise loss kernel and reduce.

    sizes: what a target shape different from the input's does: 'warn'
    (broadcast with torch's UserWarning), 'silent' (broadcast) or 'strict'
    (ValueError). `arrays` are (name, array or None) per-element weights,
    broadcast to the result's shape.
    """
    reduction = check_reduction(reduction, allowed)
    x, result = as_float_array(input, "input")
    t = _as_like(target, "target", x.dtype)
    shape = x.shape
    if t.shape != x.shape:
        if sizes == "strict":
            raise ValueError(f"target shape {t.shape} must be the same as input shape "
                             f"{x.shape}")
        if sizes == "warn":  # torch warns first, then fails if they do not broadcast
            warnings.warn(f"Using a target size {t.shape} that is different to the input "
                          f"size {x.shape}. This will likely lead to incorrect results "
                          "due to broadcasting. Please ensure they have the same size.",
                          UserWarning, stacklevel=3)
        shape = _broadcast(x.shape, t.shape, "input and target")
    buffers = []
    for name, a in arrays:
        if a is None:
            buffers.append(np.empty(0, x.dtype))
            continue
        a = _as_like(a, name, x.dtype)
        if not _broadcastable(a.shape, shape) or np.broadcast_shapes(a.shape, shape) != shape:
            raise ValueError(f"{name} of shape {a.shape} cannot be broadcast to the "
                             f"input's shape {shape}")
        buffers.append(_flat(a, shape))
    xf, tf = _flat(x, shape), _flat(t, shape)
    n_threads = get_num_threads()
    if reduction == "none":
        out = np.empty(shape, x.dtype)
        kernel(xf, tf, *buffers, *params, out.reshape(-1), False, n_threads)
        if out.dtype != result:
            out = out.astype(result)
        return out if out.ndim else out[()]
    total = kernel(xf, tf, *buffers, *params, np.empty(0, x.dtype), True, n_threads)
    size = math.prod(shape)
    if reduction == "sum":
        return _scalar(total, result)
    if reduction == "batchmean":
        return _scalar(_ratio(total, shape[0]) if len(shape) else total, result)
    return _scalar(_ratio(total, size), result)


def _broadcastable(shape, target_shape):
    try:
        np.broadcast_shapes(shape, target_shape)
    except ValueError:
        return False
    return True


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
    beta = real("beta", beta)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss does not support negative values for beta, got {beta}")
    return _pointwise(_kl.smooth_l1, input, target, reduction, (beta,))


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
    delta = real("delta", delta)
    if not delta > 0:
        raise ValueError(f"huber_loss does not support non-positive values for delta, got {delta}")
    return _pointwise(_kl.huber, input, target, reduction, (delta,))


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
    reduction = check_reduction(reduction, ("mean", "sum", "none", "batchmean"))
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and "
                      "the support size. 'batchmean' divides only by the batch size, and "
                      "aligns with the KL div math definition.", UserWarning, stacklevel=2)
    kernel = _kl.kl_div_log if log_target else _kl.kl_div
    return _pointwise(kernel, input, target, reduction, sizes="silent",
                      allowed=("mean", "sum", "none", "batchmean"))


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
    reduction = check_reduction(reduction)
    x, _ = as_float_array(input, "input")
    t = _as_like(target, "target", x.dtype)
    if t.shape != x.shape:
        raise ValueError(f"Using a target size {t.shape} that is different to the input size "
                         f"{x.shape} is not supported: they must be the same")
    _check_unit_interval(x, "input")
    _check_unit_interval(t, "target")
    # The original input: _pointwise converts it again and keeps its result dtype.
    return _pointwise(_kl.bce, input, t, reduction, arrays=[("weight", weight)],
                      sizes="strict")


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
    reduction = check_reduction(reduction)
    return _pointwise(_kl.bce_logits, input, target, reduction,
                      arrays=[("weight", weight), ("pos_weight", pos_weight)], sizes="strict")


# ---------------------------------------------------------------- class losses

def _class_view(x):
    """(N, C, inner) view of an input with classes on axis 1 (axis 0 when 1-d),
    and the shape of its class-index target. Merging the trailing axes copies
    only when their strides do not allow a view (e.g. a Fortran-ordered input
    with two or more spatial axes)."""
    if x.ndim == 0:
        raise ValueError("input must have a class axis: got a 0-d array")
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


def _class_weight(weight, n_classes, dtype):
    """The class weights as float64 (rounded to the input's dtype first, as
    torch keeps them in it), or an empty array for None."""
    if weight is None:
        return np.empty(0, np.float64)
    w = _as_like(weight, "weight", dtype)
    if w.ndim != 1 or w.shape[0] != n_classes:
        raise ValueError(f"weight should have one element per class ({n_classes} classes), "
                         f"got shape {w.shape}")
    return np.ascontiguousarray(w, dtype=np.float64)


def _class_indices(t, expected, input_shape, n_classes, ignore_index):
    """Validated int64 class indices of shape `expected`, flattened."""
    if t.shape != expected:
        raise ValueError(f"target shape {t.shape} does not match input shape {input_shape}: "
                         f"expected target shape {expected}")
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


def _reduce_rows(loss, row_weight, reduction, target_shape, result):
    if reduction == "none":
        out = loss.reshape(target_shape).astype(result)
        return out if out.ndim else out[()]
    total = _kr.ordered_sum(loss)
    if reduction == "sum":
        return _scalar(total, result)
    return _scalar(_ratio(total, _kr.ordered_sum(row_weight)), result)


def _index_target(target, name):
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name} expects integer class indices as target, got dtype {t.dtype}")
    return t


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
    reduction = check_reduction(reduction)
    ignore_index = operator.index(ignore_index)
    x, result = as_float_array(input, "input")
    t = _index_target(target, "nll_loss")
    view, expected = _class_view(x)
    n_classes = view.shape[1]
    w = _class_weight(weight, n_classes, x.dtype)
    t = _class_indices(t, expected, x.shape, n_classes, ignore_index)
    loss, row_weight = np.empty(t.size), np.empty(t.size)
    flat, (sN, sC, sK) = _flat_strided(view)
    _kr.nll(flat, sN, sC, sK, view.shape[0], view.shape[2], t, w, ignore_index, loss,
            row_weight, get_num_threads())
    return _reduce_rows(loss, row_weight, reduction, expected, result)


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
    reduction = check_reduction(reduction)
    ignore_index = operator.index(ignore_index)
    eps = real("label_smoothing", label_smoothing)
    if not 0 <= eps <= 1:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {eps}")
    x, result = as_float_array(input, "input")
    view, expected = _class_view(x)
    n_classes = view.shape[1]
    w = _class_weight(weight, n_classes, x.dtype)
    t = np.asarray(target)
    n_threads = get_num_threads()
    if t.dtype.kind == "f":
        if t.shape != x.shape:
            raise ValueError(f"target of class probabilities must have the input's shape: "
                             f"target shape {t.shape}, input shape {x.shape}")
        if ignore_index >= 0:
            raise ValueError("ignore_index is not supported for class-probability targets")
        t, _ = as_float_array(t, "target")
        if t.dtype != x.dtype:
            t = t.astype(x.dtype)
        t_view, _ = _class_view(t)
        loss = np.empty(math.prod(expected))
        flat, (sN, sC, sK) = _flat_strided(view)
        t_flat, (tN, tC, tK) = _flat_strided(t_view)
        _kr.cross_entropy_prob(flat, t_flat, sN, sC, sK, tN, tC, tK, *view.shape, w, eps,
                               loss, n_threads)
        if reduction == "none":
            return _reduce_rows(loss, None, reduction, expected, result)
        total = _kr.ordered_sum(loss)
        if reduction == "sum":
            return _scalar(total, result)
        # torch: the mean over rows, NaN for an empty input (even with rows).
        return _scalar(_ratio(total, loss.size) if x.size else np.nan, result)
    t = _index_target(target, "cross_entropy")
    t = _class_indices(t, expected, x.shape, n_classes, ignore_index)
    loss, row_weight = np.empty(t.size), np.empty(t.size)
    weight_sum = float(w.sum()) if w.size else float(n_classes)
    flat, (sN, sC, sK) = _flat_strided(view)
    _kr.cross_entropy_index(flat, sN, sC, sK, *view.shape, t, w, weight_sum, ignore_index,
                            eps, loss, row_weight, n_threads)
    return _reduce_rows(loss, row_weight, reduction, expected, result)
