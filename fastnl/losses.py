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
the "gradients" section at the end). The arrays are checked and computed by
the drivers of :mod:`fastnl._drivers.losses`, which forward and backward share.
"""

import warnings

from fastnl._dispatch import foreign, lazy
from fastnl._drivers import ctc as _ctc
from fastnl._drivers import linear_losses as _linear
from fastnl._drivers import losses as _driver
from fastnl._kernels import _losses as _kl
from fastnl._validate import check_reduction, real

__all__ = [
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
    "kl_div", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "mse_loss_backward", "l1_loss_backward", "smooth_l1_loss_backward", "huber_loss_backward",
    "nll_loss_backward", "cross_entropy_backward", "kl_div_backward",
    "binary_cross_entropy_backward", "binary_cross_entropy_with_logits_backward",
    "linear_cross_entropy", "linear_cross_entropy_backward",
    "ctc_loss", "ctc_loss_backward",
]


# ---------------------------------------------------------------- dispatch
#
# Each loss checks its scalar parameters and the reduction, then hands its
# operands to the in-memory driver (fastnl._drivers.losses), or to the Dask
# implementation when one of them is a Dask array.

def _pointwise(kernel, input, target, reduction, params=(), arrays=(), *,
               sizes="warn", allowed=("mean", "sum", "none"), unit_interval=False):
    reduction = check_reduction(reduction, allowed)
    if lazy(input, target, *[a for _, a in arrays]):
        return foreign("pointwise_loss")(kernel, input, target, reduction, params, arrays,
                                         sizes, unit_interval)
    return _driver.pointwise(kernel, input, target, reduction, params, arrays, sizes,
                             unit_interval)


def _pointwise_backward(kernel, input, target, reduction, grad_output, out, params=(),
                        arrays=(), *, sizes="warn", allowed=("mean", "sum", "none"),
                        unit_interval=False):
    reduction = check_reduction(reduction, allowed)
    sizes = "silent" if sizes == "warn" else sizes  # the forward has warned already
    if lazy(input, target, grad_output, *[a for _, a in arrays]):
        return foreign("pointwise_loss_backward")(kernel, input, target, reduction,
                                                  grad_output, out, params, arrays, sizes,
                                                  unit_interval)
    return _driver.pointwise_backward(kernel, input, target, reduction, grad_output, out,
                                      params, arrays, sizes, unit_interval)


def _class_loss(name, input, target, weight, ignore_index, reduction, label_smoothing=0.0):
    if lazy(input, target, weight):
        return foreign("class_loss")(name, input, target, weight, ignore_index, reduction,
                                     label_smoothing)
    return _driver.class_loss(name, input, target, weight, ignore_index, reduction,
                              label_smoothing)


def _class_loss_backward(name, input, target, weight, ignore_index, reduction, grad_output,
                         out, label_smoothing=0.0):
    if lazy(input, target, weight, grad_output):
        return foreign("class_loss_backward")(name, input, target, weight, ignore_index,
                                              reduction, grad_output, out, label_smoothing)
    return _driver.class_loss_backward(name, input, target, weight, ignore_index, reduction,
                                       grad_output, out, label_smoothing)


# ---------------------------------------------------------------- pointwise losses

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
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the elementwise losses (a scalar of the input's float
        dtype), or the elementwise losses.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the input's float dtype, or
        for ``reduction='none'`` the elementwise losses, of the input's and
        target's broadcast shape.

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

    Parameters
    ----------
    input, target : array_like
        Predictions and targets. A target of another shape is broadcast
        against the input, with a ``UserWarning``, as torch does.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the elementwise losses (a scalar of the input's float
        dtype), or the elementwise losses.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the input's float dtype, or
        for ``reduction='none'`` the elementwise losses, of the input's and
        target's broadcast shape.

    Raises
    ------
    ValueError
        If the shapes cannot be broadcast together, or `reduction` is unknown.

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

    ``beta = 0`` is the L1 loss.

    Parameters
    ----------
    input, target : array_like
        Predictions and targets. A target of another shape is broadcast
        against the input, with a ``UserWarning``, as torch does.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the elementwise losses (a scalar of the input's float
        dtype), or the elementwise losses.
    beta : float, default 1.0
        Where the loss turns from quadratic to linear, ``>= 0``.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the input's float dtype, or
        for ``reduction='none'`` the elementwise losses, of the input's and
        target's broadcast shape.

    Raises
    ------
    ValueError
        If ``beta < 0``, the shapes cannot be broadcast together, or
        `reduction` is unknown.

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

    Equal to ``delta * smooth_l1_loss(..., beta=delta)``.

    Parameters
    ----------
    input, target : array_like
        Predictions and targets. A target of another shape is broadcast
        against the input, with a ``UserWarning``, as torch does.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the elementwise losses (a scalar of the input's float
        dtype), or the elementwise losses.
    delta : float, default 1.0
        Where the loss turns from quadratic to linear, ``> 0``.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the input's float dtype, or
        for ``reduction='none'`` the elementwise losses, of the input's and
        target's broadcast shape.

    Raises
    ------
    ValueError
        If ``delta <= 0``, the shapes cannot be broadcast together, or
        `reduction` is unknown.

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
    input : array_like
        Log-probabilities :math:`\log p`.
    target : array_like
        Probabilities :math:`q`, or :math:`\log q` with `log_target`;
        broadcast against the input.
    reduction : {'mean', 'sum', 'none', 'batchmean'}, default 'mean'
        ``'batchmean'`` divides the sum by the batch size ``input.shape[0]``
        and is the mathematical KL divergence per sample; ``'mean'`` divides
        by the number of elements (torch warns about it, and so does fastnl).
    log_target : bool, default False
        Whether `target` holds log-probabilities.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the input's float dtype, or
        for ``reduction='none'`` the elementwise losses, of the input's and
        target's broadcast shape.

    Raises
    ------
    ValueError
        If the shapes cannot be broadcast together, or `reduction` is unknown.

    Notes
    -----
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
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the elementwise losses, or the elementwise losses.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the input's float dtype, or
        for ``reduction='none'`` the elementwise losses, of the input's shape.

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
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the elementwise losses, or the elementwise losses.
    pos_weight : array_like, optional
        Weight of the positive term, broadcast to the input's shape (usually
        one per class, along the last axis).

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the input's float dtype, or
        for ``reduction='none'`` the elementwise losses, of the input's shape.

    Raises
    ------
    ValueError
        If the shapes differ, `weight` or `pos_weight` cannot be broadcast to
        the input's shape, or `reduction` is unknown.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.binary_cross_entropy_with_logits([1e4, -1e4], [1.0, 1.0], reduction="none")
    array([    0., 10000.])
    """
    return _pointwise(_kl.bce_logits, input, target, reduction,
                      arrays=[("weight", weight), ("pos_weight", pos_weight)], sizes="strict")


# ---------------------------------------------------------------- class losses

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
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        ``'mean'`` divides by the summed weights of the counted targets (NaN
        when there are none).

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the input's float dtype, or
        for ``reduction='none'`` one loss per row, of the target's shape
        (the input's without the class axis).

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
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        ``'mean'`` divides as described above.
    label_smoothing : float in [0, 1], default 0.0
        :math:`\varepsilon`, the mass moved from the target to all classes.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the input's float dtype, or
        for ``reduction='none'`` one loss per row, of the input's shape
        without the class axis.

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
# array of the loss's shape (or a scalar, broadcast to it) for
# reduction='none'; 'mean' divides it by the forward's denominator. Computed
# in compiled kernels in the input's compute dtype, as torch's backward
# kernels do.

def mse_loss_backward(input, target, reduction="mean", grad_output=1.0, out=None):
    r"""Gradient of :func:`mse_loss` with respect to the input, :math:`2 (x - y)` per element.

    Parameters
    ----------
    input, target : array_like
        As given to :func:`mse_loss`.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As given to :func:`mse_loss`: ``'mean'`` divides the gradient by the
        number of elements.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape,
        or a scalar that stands for every element.
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
        If the shapes cannot be broadcast together, `reduction` is unknown,
        or `grad_output` has the wrong shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.mse_loss_backward([1.0, 2.0, 4.0], [1.0, 1.0, 1.0])    # 2 (x - y) / 3
    array([0.        , 0.66666667, 2.        ])
    >>> fastnl.mse_loss_backward([1.0, 2.0, 4.0], [1.0, 1.0, 1.0], reduction="none")
    array([0., 2., 6.])
    """
    return _pointwise_backward(_kl.mse_backward, input, target, reduction, grad_output, out)


def l1_loss_backward(input, target, reduction="mean", grad_output=1.0, out=None):
    r"""Gradient of :func:`l1_loss` with respect to the input: :math:`\mathrm{sign}(x - y)`,
    0 where ``x == y`` (torch's sub-gradient). A NaN input gives NaN (torch: 0).

    Parameters
    ----------
    input, target : array_like
        As given to :func:`l1_loss`.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As given to :func:`l1_loss`: ``'mean'`` divides the gradient by the
        number of elements.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape,
        or a scalar that stands for every element.
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
        If the shapes cannot be broadcast together, `reduction` is unknown,
        or `grad_output` has the wrong shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.l1_loss_backward([1.0, 2.0, 0.0], [1.0, 1.0, 1.0], reduction="sum")
    array([ 0.,  1., -1.])
    """
    return _pointwise_backward(_kl.l1_backward, input, target, reduction, grad_output, out)


def smooth_l1_loss_backward(input, target, reduction="mean", beta=1.0, grad_output=1.0,
                            out=None):
    r"""Gradient of :func:`smooth_l1_loss` with respect to the input:
    :math:`(x - y) / \beta` where :math:`|x - y| < \beta`, else :math:`\mathrm{sign}(x - y)`;
    ``beta = 0`` is :func:`l1_loss_backward`.

    Parameters
    ----------
    input, target : array_like
        As given to :func:`smooth_l1_loss`.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As given to :func:`smooth_l1_loss`: ``'mean'`` divides the gradient
        by the number of elements.
    beta : float, default 1.0
        As given to :func:`smooth_l1_loss`, ``>= 0``.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape,
        or a scalar that stands for every element.
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
        If ``beta < 0``, the shapes cannot be broadcast together, `reduction`
        is unknown, or `grad_output` has the wrong shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.smooth_l1_loss_backward([0.5, 3.0], [0.0, 0.0], reduction="none",
    ...                                grad_output=[1.0, 1.0])
    array([0.5, 1. ])
    """
    return _pointwise_backward(_kl.smooth_l1_backward, input, target, reduction, grad_output,
                               out, _smooth_l1_args(beta))


def huber_loss_backward(input, target, reduction="mean", delta=1.0, grad_output=1.0, out=None):
    r"""Gradient of :func:`huber_loss` with respect to the input: :math:`x - y`
    clipped to :math:`[-\delta, \delta]`.

    Parameters
    ----------
    input, target : array_like
        As given to :func:`huber_loss`.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As given to :func:`huber_loss`: ``'mean'`` divides the gradient by the
        number of elements.
    delta : float, default 1.0
        As given to :func:`huber_loss`, ``> 0``.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape,
        or a scalar that stands for every element.
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
        If ``delta <= 0``, the shapes cannot be broadcast together,
        `reduction` is unknown, or `grad_output` has the wrong shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.huber_loss_backward([0.5, 3.0], [0.0, 0.0], reduction="sum", delta=2.0)
    array([0.5, 2. ])
    """
    return _pointwise_backward(_kl.huber_backward, input, target, reduction, grad_output,
                               out, _huber_args(delta))


def kl_div_backward(input, target, reduction="mean", log_target=False, grad_output=1.0,
                    out=None):
    r"""Gradient of :func:`kl_div` with respect to the input (the log-probabilities):
    :math:`-q` per element (:math:`-e^{t}` with `log_target`). ``'batchmean'``
    divides by ``input.shape[0]``; no warning for ``'mean'`` (the forward gives it).

    Parameters
    ----------
    input, target : array_like
        As given to :func:`kl_div`: log-probabilities, and probabilities (or
        log-probabilities with `log_target`), broadcast together.
    reduction : {'mean', 'sum', 'none', 'batchmean'}, default 'mean'
        As given to :func:`kl_div`: ``'batchmean'`` divides the gradient by
        ``input.shape[0]``, ``'mean'`` by the number of elements.
    log_target : bool, default False
        Whether `target` holds log-probabilities.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape,
        or a scalar that stands for every element.
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
        If the shapes cannot be broadcast together, `reduction` is unknown,
        or `grad_output` has the wrong shape.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.kl_div_backward(np.log([[0.5, 0.5]]), [[0.25, 0.75]], reduction="batchmean")
    array([[-0.25, -0.75]])
    """
    kernel = _kl.kl_div_log_backward if log_target else _kl.kl_div_backward
    return _pointwise_backward(kernel, input, target, reduction, grad_output, out,
                               sizes="silent", allowed=_KL_REDUCTIONS)


def binary_cross_entropy_backward(input, target, weight=None, reduction="mean",
                                  grad_output=1.0, out=None):
    r"""Gradient of :func:`binary_cross_entropy` with respect to the input:
    :math:`w (x - y) / \max((1 - x) x, 10^{-12})`, torch's formula (finite at
    ``x = 0`` and ``1``, where the clamped forward is flat).

    Parameters
    ----------
    input, target : array_like
        As given to :func:`binary_cross_entropy`: probabilities in [0, 1], of
        one shape.
    weight : array_like, optional
        Per-element rescaling, broadcast to the input's shape.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As given to :func:`binary_cross_entropy`: ``'mean'`` divides the
        gradient by the number of elements.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape,
        or a scalar that stands for every element.
    out : ndarray, optional
        Where to write the gradient: the input's shape and result dtype.

    Returns
    -------
    ndarray
        The gradient with respect to `input`, of its shape and result dtype.

    Raises
    ------
    ValueError
        If input or target has an element outside [0, 1] (or NaN), the
        shapes differ, `weight` cannot be broadcast to the input's shape, or
        `grad_output` has the wrong shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.binary_cross_entropy_backward([0.5, 0.8], [1.0, 0.0], reduction="sum")
    array([-2.,  5.])
    """
    return _pointwise_backward(_kl.bce_backward, input, target, reduction, grad_output, out,
                               arrays=[("weight", weight)], sizes="strict", unit_interval=True)


def binary_cross_entropy_with_logits_backward(input, target, weight=None, reduction="mean",
                                              pos_weight=None, grad_output=1.0, out=None):
    r"""Gradient of :func:`binary_cross_entropy_with_logits` with respect to the logits:
    :math:`w [(1 + (p_w - 1) y) \sigma(x) - p_w y]`, i.e. :math:`w (\sigma(x) - y)`
    without `pos_weight`.

    Parameters
    ----------
    input, target : array_like
        As given to :func:`binary_cross_entropy_with_logits`: logits and
        targets, of one shape.
    weight : array_like, optional
        Per-element rescaling, broadcast to the input's shape.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As given to :func:`binary_cross_entropy_with_logits`: ``'mean'``
        divides the gradient by the number of elements.
    pos_weight : array_like, optional
        Weight of the positive term, broadcast to the input's shape.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape,
        or a scalar that stands for every element.
    out : ndarray, optional
        Where to write the gradient: the input's shape and result dtype.

    Returns
    -------
    ndarray
        The gradient with respect to `input`, of its shape and result dtype.

    Raises
    ------
    ValueError
        If the shapes differ, `weight` or `pos_weight` cannot be broadcast to
        the input's shape, or `grad_output` has the wrong shape.

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


def nll_loss_backward(input, target, weight=None, ignore_index=-100, reduction="mean",
                      grad_output=1.0, out=None):
    r"""Gradient of :func:`nll_loss` with respect to the input:
    :math:`-w_{y_n} g_n` at each counted row's target class, 0 elsewhere.

    Parameters
    ----------
    input : array_like
        Log-probabilities of shape (C,), (N, C) or (N, C, d1, ..., dk).
    target : array_like of int
        Class indices of shape (), (N,) or (N, d1, ..., dk).
    weight : array_like, optional
        One weight per class.
    ignore_index : int, default -100
        Targets equal to it get a zero gradient and leave the mean's
        denominator.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As given to :func:`nll_loss`: ``'mean'`` divides the gradient by the
        summed weights of the counted targets.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape,
        or a scalar that stands for every element.
    out : ndarray, optional
        Where to write the gradient: the input's shape and result dtype.

    Returns
    -------
    ndarray
        The gradient with respect to `input`, of its shape and result dtype.

    Raises
    ------
    TypeError
        If `target` is not an integer array.
    IndexError
        If a target is outside [0, C) and not `ignore_index`.
    ValueError
        If the shapes do not match, `weight` has the wrong length, or
        `grad_output` has the wrong shape.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.nll_loss_backward(np.log([[0.5, 0.5], [0.25, 0.75]]), [0, 1])
    array([[-0.5,  0. ],
           [ 0. , -0.5]])
    """
    return _class_loss_backward("nll_loss", input, target, weight, ignore_index, reduction,
                                grad_output, out)


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
    a counted row's logits makes that row's gradient NaN, as in torch.
    Beyond torch: a row whose target is `ignore_index` gets a zero gradient
    even when its logits hold NaN (the loss does not read that row; torch
    multiplies the row's NaN softmax by the row's zero weight).

    Parameters
    ----------
    input : array_like
        Logits of shape (C,), (N, C) or (N, C, d1, ..., dk).
    target : array_like
        Class indices (integers) or class probabilities (floats, the input's
        shape), as given to :func:`cross_entropy`.
    weight : array_like, optional
        One weight per class.
    ignore_index : int, default -100
        With class indices: rows whose target equals it get a zero gradient
        and leave the mean's denominator.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As given to :func:`cross_entropy`: ``'mean'`` divides the gradient by
        the forward's denominator.
    label_smoothing : float in [0, 1], default 0.0
        As given to :func:`cross_entropy`.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape,
        or a scalar that stands for every element.
    out : ndarray, optional
        Where to write the gradient: the input's shape and result dtype.

    Returns
    -------
    ndarray
        The gradient with respect to `input`, of its shape and result dtype.

    Raises
    ------
    TypeError
        If the target is neither integer indices nor floating probabilities.
    IndexError
        If a class index is outside [0, C) and not `ignore_index`.
    ValueError
        If the shapes do not match, `weight` has the wrong length,
        `label_smoothing` is outside [0, 1], ``ignore_index >= 0`` is given
        with probabilities, or `grad_output` has the wrong shape.

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


# ---------------------------------------------------------------- fused linear cross-entropy

def _linear_args(ignore_index):
    # torch's linear_cross_entropy defaults ignore_index to None: no index ignored,
    # which -100 (never a class) also means
    return -100 if ignore_index is None else ignore_index


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None,
                         reduction="mean", ignore_index=-100, label_smoothing=0.0,
                         chunk_size=None, out=None):
    r"""Cross-entropy of a linear layer's logits, without holding the logits;
    mirrors ``torch.nn.functional.linear_cross_entropy``.

    The same numbers as ``cross_entropy(input @ linear_weight.T + linear_bias,
    target, ...)``, but the (N, C) logits are never held: the classes are
    walked in blocks of `chunk_size`, each block's logits made by one BLAS
    matmul, and each row keeps its maximum and sum of exponentials in
    float64 and picks up its target's logit on the way (with probabilities,
    the target-weighted sum). Extra memory is one N x `chunk_size` block per
    thread: by default about 1.25% of the logits per thread.

    The blocks run on fastnl's threads (:func:`fastnl.set_num_threads`),
    each BLAS call on one thread (set through threadpoolctl and restored
    after), so the result has the same bits on any number of threads.
    Without threadpoolctl, or from a thread that threadpoolctl does not let
    set OpenBLAS's threads, BLAS is left as it is and the blocks run on one
    thread (see the guide on large vocabularies).
    Dask arrays of rows (input, target) give a lazy result: each chunk of
    rows through the same blocks, a reduced loss summed by a tree.

    Parameters
    ----------
    input : array_like
        Features, (N, in_features) or (in_features,).
    linear_weight : array_like
        (C, in_features), as ``torch.nn.Linear`` stores its weight; or, as
        torch's K-dimensional loss, (C, d1, ..., dK, in_features): logits
        (N, C, d1, ..., dK), each position (d1, ..., dK) walked as a problem
        of its own (NumPy arrays only; the input must then be (N, in_features)).
    target : array_like
        Class indices (integers), (N,) or () for a 1-d input ((N, d1, ...,
        dK) in the K-dimensional form); or class probabilities (floats) of
        the logits' shape, (N, C) or (C,) ((N, C, d1, ..., dK)).
    linear_bias : array_like, optional
        (C,), the linear layer's bias ((C, d1, ..., dK) in the K-dimensional form).
    weight : array_like, optional
        One weight per class, as in :func:`cross_entropy`.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As in :func:`cross_entropy`: ``'mean'`` divides by the summed weights
        of the counted targets.
    ignore_index : int, default -100
        Rows whose target equals it get loss 0 and leave the mean's
        denominator. ``None`` (torch's default here) ignores nothing.
    label_smoothing : float in [0, 1], default 0.0
        As in :func:`cross_entropy`.
    chunk_size : int, optional
        Classes per block; by default C / 80 (a multiple of 64), at least
        512. It fixes the order of the sums: results do not depend on the
        thread count, but may differ in the last bits between block sizes.
    out : ndarray, optional
        Where to write the loss: shape (N,) (``'none'``) or () and the result
        dtype.

    Returns
    -------
    numpy scalar or ndarray
        The loss, in the inputs' float dtype (float16 and bfloat16 compute in
        float32).

    Raises
    ------
    ValueError
        If in_features, C or the target's length do not match (the message
        names the shapes), or as :func:`cross_entropy` for the parameters.
    IndexError
        If a class index is outside [0, C) and not `ignore_index`.

    Notes
    -----
    Non-finite logits follow :func:`cross_entropy`'s rules: a row whose
    fast result is NaN (an infinite or NaN logit) is recomputed by
    cross_entropy's kernel on that row's full logits.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> x = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> fastnl.linear_cross_entropy(x, W, [0, 2], reduction="none")
    array([0.8619948 , 0.75862368])
    >>> bool(np.isclose(fastnl.linear_cross_entropy(x, W, [0, 2], chunk_size=2),
    ...                 fastnl.cross_entropy(x @ W.T, [0, 2])))
    True
    """
    if lazy(input, linear_weight, target, linear_bias, weight):
        return foreign("linear_class_loss")(input, linear_weight, target, linear_bias, weight,
                                            _linear_args(ignore_index), reduction,
                                            label_smoothing, chunk_size, out)
    return _linear.linear_cross_entropy(input, linear_weight, target, linear_bias, weight,
                                        _linear_args(ignore_index), reduction,
                                        label_smoothing, chunk_size, out)


def linear_cross_entropy_backward(input, linear_weight, target, *, linear_bias=None,
                                  weight=None, reduction="mean", ignore_index=-100,
                                  label_smoothing=0.0, chunk_size=None, grad_output=1.0):
    r"""Gradients of :func:`linear_cross_entropy` with respect to the input,
    the linear weight and the linear bias.

    With :math:`G = \partial \ell / \partial z` the gradient with respect to
    the logits (:func:`cross_entropy_backward`'s), these are
    :math:`G W`, :math:`G^T x` and the column sums of :math:`G`. A first
    pass over the class blocks finds each row's maximum and sum of
    exponentials; a second recomputes each block's logits, turns them into
    that block of :math:`G` in place and multiplies it out (BLAS), so the
    (N, C) logits are never held. That first pass is the forward's own: a
    training step of the two functions makes the logits three times, against
    twice for :class:`fastnl.nn.LinearCrossEntropy`, which keeps the row
    statistics of its forward for its backward.

    With Dask arrays of rows, ``grad_input`` comes in the input's row chunks
    and ``grad_weight`` and ``grad_bias`` as the tree sum of the chunks'
    (lazy, one-chunk Dask arrays).

    Parameters
    ----------
    input, linear_weight, target : array_like
        As given to :func:`linear_cross_entropy`.
    linear_bias, weight, reduction, ignore_index, label_smoothing, chunk_size
        As given to :func:`linear_cross_entropy`.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape,
        or a scalar that stands for every element.

    Returns
    -------
    tuple of ndarray
        ``(grad_input, grad_weight, grad_bias)`` of the shapes of input,
        linear_weight and linear_bias; ``grad_bias`` is None without a bias.

    Raises
    ------
    ValueError, IndexError
        As :func:`linear_cross_entropy`; ValueError also for a `grad_output`
        of the wrong shape.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> x = np.array([[0.0, 0.0]])
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> gx, gW, gb = fastnl.linear_cross_entropy_backward(x, W, [0], linear_bias=np.zeros(2))
    >>> gb                       # softmax - onehot of equal logits
    array([-0.5,  0.5])
    >>> gx
    array([[-0.5,  0.5]])
    """
    if lazy(input, linear_weight, target, linear_bias, weight, grad_output):
        return foreign("linear_class_loss_backward")(
            input, linear_weight, target, linear_bias, weight, _linear_args(ignore_index),
            reduction, label_smoothing, chunk_size, grad_output)
    return _linear.linear_cross_entropy_backward(input, linear_weight, target, linear_bias,
                                                 weight, _linear_args(ignore_index), reduction,
                                                 label_smoothing, chunk_size, grad_output)


# ---------------------------------------------------------------- CTC

def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    r"""Connectionist temporal classification loss; mirrors ``torch.nn.functional.ctc_loss``.

    The negative log-likelihood of each sample's target sequence, summed over
    every alignment of it to the input's time steps (Graves et al., 2006):
    a path emits one class per time step, and collapsing its repeats and
    then dropping its blanks must give the target. With the target extended
    by blanks, :math:`l' = (b, l_1, b, l_2, \dots, l_S, b)`, the forward
    variables follow

    .. math:: \alpha_t(s) = \log\!\sum_{k} e^{\alpha_{t-1}(s - k)} + \log p_t(l'_s),
              \qquad k \in \{0, 1\} \text{, and } 2 \text{ where } l'_s \ne b, l'_{s-2},

    and the loss is :math:`-\log(e^{\alpha_{T-1}(2S)} + e^{\alpha_{T-1}(2S-1)})`,
    :math:`T` the sample's input length.
    The recursions run in log space and float64 in a compiled kernel (each
    time step one vectorised loop over the states), one sample per thread.

    Parameters
    ----------
    log_probs : array_like
        Log-probabilities (usually a ``log_softmax`` over the classes), of
        shape (T, N, C): time steps, batch, classes; or (T, C) unbatched.
    targets : array_like of int
        Class indices, padded (N, S), sample n's labels in the first
        ``target_lengths[n]`` entries of row n (the rest is not read); or
        concatenated, 1-d, the samples' labels one after the other,
        ``sum(target_lengths)`` entries. Unbatched: (S,) or (1, S).
    input_lengths, target_lengths : array_like of int
        Each sample's number of time steps (at most T) and of labels; one per
        sample (an int, or one entry, unbatched).
    blank : int, default 0
        The blank's class index.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        ``'mean'`` divides each sample's loss by its target length (at least
        1) and averages over the batch; ``'sum'`` sums the losses; ``'none'``
        returns them, shape (N,) (or a scalar, unbatched).
    zero_infinity : bool, default False
        Whether an infinite loss (a target no alignment fits in the input's
        length) counts as 0, with a zero gradient.

    Returns
    -------
    numpy scalar or ndarray
        The loss, in the log-probabilities' float dtype (float16 and
        bfloat16 compute in float32).

    Raises
    ------
    TypeError
        If the targets or lengths are not integers.
    ValueError
        If a shape does not fit (the message names the shapes), a length is
        negative or an input length longer than T, a padded row is shorter
        than its target length, `blank` is not in [0, C), or `reduction` is
        unknown.
    IndexError
        If a label (within its sample's length) is not in [0, C).

    Notes
    -----
    Sums run in float64 within the kernel, so float32 losses are correctly
    rounded to within a few float32 ulps, and the bits do not depend on the
    thread count. A target longer than its input allows (each label needs a
    step, and a label repeated back to back one more step between them) has
    probability 0: the loss is ``inf`` (0 with `zero_infinity`). Dask arrays
    give a lazy result, computed by blocks of samples (the chunks of the
    batch axis; one block with concatenated targets).

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> lp = np.log(np.full((2, 1, 2), 0.5))      # T = 2, N = 1, C = 2 (blank 0)
    >>> float(fastnl.ctc_loss(lp, [[1]], [2], [1], reduction="sum"))  # 3 paths of 1/4
    0.2876820724517809
    >>> fastnl.ctc_loss(lp, [[1, 1]], [2], [2], reduction="none")     # needs 3 steps
    array([inf])
    """
    if lazy(log_probs, targets, input_lengths, target_lengths):
        return foreign("ctc_loss")(log_probs, targets, input_lengths, target_lengths, blank,
                                   reduction, zero_infinity)
    return _ctc.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                         zero_infinity)


def ctc_loss_backward(log_probs, targets, input_lengths, target_lengths, blank=0,
                      reduction="mean", zero_infinity=False, grad_output=1.0, out=None):
    r"""Gradient of :func:`ctc_loss` with respect to `log_probs`, as torch computes it.

    At each time step :math:`t` of sample :math:`n` within its input length,

    .. math:: \frac{\partial \ell}{\partial \log p_t(c)} = g_n \Big(p_t(c)
              - \frac{1}{P} \sum_{s:\, l'_s = c} e^{\alpha_t(s) + \beta_t(s)
              - \log p_t(c)}\Big)

    where :math:`P` is the target's probability, :math:`\beta` the backward
    variables, and :math:`g_n` the upstream gradient of the sample's loss
    (divided by ``N * max(target_length, 1)`` for ``'mean'``); 0 past the
    input length. The second term is the class's posterior (the free
    inputs' gradient); the first, :math:`p_t(c) = e^{\log p_t(c)}`, is
    torch's: it makes this the gradient of the logits when `log_probs` is
    their ``log_softmax`` (the softmax's backward then leaves it unchanged).
    An infeasible target (infinite loss) gives NaN, as in torch, or 0 with
    `zero_infinity`.

    Parameters
    ----------
    log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity
        As given to :func:`ctc_loss`.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape,
        or a scalar that stands for every element.
    out : ndarray, optional
        Where to write the gradient: the shape of `log_probs` and the result
        dtype.

    Returns
    -------
    ndarray
        The gradient with respect to `log_probs`, of its shape and result dtype.

    Raises
    ------
    TypeError, ValueError, IndexError
        As :func:`ctc_loss`; ValueError also for a `grad_output` of the wrong
        shape.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> lp = np.log(np.full((2, 1, 2), 0.5))
    >>> fastnl.ctc_loss_backward(lp, [[1]], [2], [1], reduction="sum")[:, 0]  # 1/2 - 2/3
    array([[ 0.16666667, -0.16666667],
           [ 0.16666667, -0.16666667]])
    """
    if lazy(log_probs, targets, input_lengths, target_lengths, grad_output):
        return foreign("ctc_loss_backward")(log_probs, targets, input_lengths, target_lengths,
                                            blank, reduction, zero_infinity, grad_output, out)
    return _ctc.ctc_loss_backward(log_probs, targets, input_lengths, target_lengths, blank,
                                  reduction, zero_infinity, grad_output, out)
