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
the "gradients" section at the end); a loss of several float inputs
(gaussian_nll_loss's input and var, margin_ranking_loss's and
cosine_embedding_loss's two, triplet_margin_loss's three) returns a tuple of
their gradients, in argument order, and has no ``out``. The arrays are
checked and computed by the drivers of :mod:`fastnl._drivers.losses`, which
forward and backward share.
"""

import math
import warnings

import numpy as np

from fastnl._dispatch import foreign, lazy
from fastnl._drivers import ctc as _ctc
from fastnl._drivers import linear_losses as _linear
from fastnl._drivers import losses as _driver
from fastnl._kernels import _losses as _kl
from fastnl._validate import check_reduction, real, resolve_dtype

__all__ = [
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
    "kl_div", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "mse_loss_backward", "l1_loss_backward", "smooth_l1_loss_backward", "huber_loss_backward",
    "nll_loss_backward", "cross_entropy_backward", "kl_div_backward",
    "binary_cross_entropy_backward", "binary_cross_entropy_with_logits_backward",
    "linear_cross_entropy", "linear_cross_entropy_backward",
    "poisson_nll_loss", "gaussian_nll_loss", "soft_margin_loss", "margin_ranking_loss",
    "hinge_embedding_loss",
    "poisson_nll_loss_backward", "gaussian_nll_loss_backward", "soft_margin_loss_backward",
    "margin_ranking_loss_backward", "hinge_embedding_loss_backward",
    "multilabel_soft_margin_loss", "multilabel_soft_margin_loss_backward",
    "cosine_embedding_loss", "cosine_embedding_loss_backward",
    "triplet_margin_loss", "triplet_margin_loss_backward",
    "multi_margin_loss", "multi_margin_loss_backward",
    "multilabel_margin_loss", "multilabel_margin_loss_backward",
    "ctc_loss", "ctc_loss_backward",
]


# ---------------------------------------------------------------- dispatch
#
# Each loss checks its scalar parameters and the reduction, then hands its
# operands to the in-memory driver (fastnl._drivers.losses), or to the Dask
# implementation when one of them is a Dask array.

# binary_cross_entropy's value checks (see fastnl._drivers.losses.prepare)
_UNIT_INTERVAL = (("input", "input", "unit_interval"), ("target", "target", "unit_interval"))


def _pointwise(kernel, input, target, reduction, params=(), arrays=(), *,
               sizes="warn", allowed=("mean", "sum", "none"), checks=()):
    reduction = check_reduction(reduction, allowed)
    if lazy(input, target, *[a for _, a in arrays]):
        return foreign("pointwise_loss")(kernel, input, target, reduction, params, arrays,
                                         sizes, checks)
    return _driver.pointwise(kernel, input, target, reduction, params, arrays, sizes,
                             checks)


def _pointwise_backward(kernel, input, target, reduction, grad_output, out, params=(),
                        arrays=(), *, sizes="warn", allowed=("mean", "sum", "none"),
                        checks=()):
    reduction = check_reduction(reduction, allowed)
    sizes = "silent" if sizes == "warn" else sizes  # the forward has warned already
    if lazy(input, target, grad_output, *[a for _, a in arrays]):
        return foreign("pointwise_loss_backward")(kernel, input, target, reduction,
                                                  grad_output, out, params, arrays, sizes,
                                                  checks)
    return _driver.pointwise_backward(kernel, input, target, reduction, grad_output, out,
                                      params, arrays, sizes, checks)


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
                      sizes="strict", checks=_UNIT_INTERVAL)


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


# ---------------------------------------------------------------- likelihood and margin losses
#
# The elementwise ones (poisson_nll_loss to hinge_embedding_loss) run the
# pointwise kernels and drivers: a third operand (gaussian_nll_loss's var,
# margin_ranking_loss's target) is one of the driver's per-element arrays.
# The row ones reduce over the last axis: multilabel_soft_margin_loss through
# binary_cross_entropy_with_logits's kernel, the others through the row
# kernels of fastnl._kernels._rowlosses (fastnl._drivers.losses, "row losses").

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _poisson_args(log_input, full, eps):
    """(kernel name, parameters) of poisson_nll_loss: the loss's kernel is
    <name>_full with Stirling's term (its gradient is <name>_backward's)."""
    if log_input:
        return "poisson_nll_log", ()
    return "poisson_nll", (real("eps", eps),)


def _margin(margin):
    return (real("margin", margin),)


def _gaussian_args(input, var, full, eps):
    """The var of gaussian_nll_loss reshaped as torch does (one axis short of
    the input gains a last axis of 1) after torch's shape check, and the
    kernel's parameters."""
    eps = real("eps", eps)
    x_shape, v_shape = np.shape(input), np.shape(var)
    if v_shape != x_shape and v_shape != ():
        if v_shape == x_shape[:-1]:
            var = np.reshape(var, v_shape + (1,))
        elif not (len(v_shape) == len(x_shape)
                  and sum(v for i, v in zip(x_shape, v_shape) if i != v) == 1):
            raise ValueError(f"var of shape {v_shape} does not fit the input's shape "
                             f"{x_shape}: expected that shape, the shape without its last "
                             "axis, or one of its axes of length 1 (homoscedastic)")
    return var, (eps, _HALF_LOG_2PI if full else 0.0)


_VAR_NONNEGATIVE = (("var", "var", "nonnegative"),)


def _margin_ranking_shapes(input1, input2, target):
    shapes = np.shape(input1), np.shape(input2), np.shape(target)
    if not len(shapes[0]) == len(shapes[1]) == len(shapes[2]):
        raise ValueError("margin_ranking_loss: all input arrays should have the same number "
                         f"of dimensions, got shapes input1 {shapes[0]}, input2 {shapes[1]}, "
                         f"target {shapes[2]}")


def poisson_nll_loss(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    r"""Negative log-likelihood of a Poisson target; mirrors
    ``torch.nn.functional.poisson_nll_loss``.

    .. math:: \ell = e^x - y x \;\; (\text{log\_input}), \qquad
              \ell = x - y \log(x + \varepsilon) \;\; (\text{otherwise})

    With `full`, the Stirling approximation of :math:`\log y!`,
    :math:`y \log y - y + \tfrac12 \log(2 \pi y)`, is added where
    :math:`y > 1` (0 elsewhere), as torch does.

    Parameters
    ----------
    input : array_like
        The log of the rate (`log_input`) or the rate.
    target : array_like
        Counts, broadcast against the input (silently, as torch).
    log_input : bool, default True
        Whether `input` holds the log of the rate.
    full : bool, default False
        Whether to add the Stirling term.
    eps : float, default 1e-8
        Added to the rate inside the log when not `log_input`.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the elementwise losses, or the elementwise losses.

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
    >>> fastnl.poisson_nll_loss([0.0, 1.0], [1.0, 3.0], reduction="none")  # e^x - y x
    array([ 1.        , -0.28171817])
    >>> fastnl.poisson_nll_loss([1.0, 2.0], [1.0, 3.0], log_input=False, full=True,
    ...                         reduction="none")      # Stirling's term for y = 3 only
    array([0.99999999, 1.68463999])
    """
    kernel, params = _poisson_args(log_input, full, eps)
    kernel = getattr(_kl, f"{kernel}_full" if full else kernel)
    return _pointwise(kernel, input, target, reduction, params, sizes="silent")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    r"""Negative log-likelihood of a Gaussian target; mirrors
    ``torch.nn.functional.gaussian_nll_loss``.

    .. math:: \ell = \tfrac12 \left(\log v + \frac{(x - y)^2}{v}\right)
              \;[+\, \tfrac12 \log 2\pi], \qquad v = \max(\mathrm{var}, \varepsilon)

    Parameters
    ----------
    input : array_like
        The predicted means.
    target : array_like
        Samples, broadcast against the input (silently, as torch).
    var : array_like or float
        The predicted variances, ``>= 0``: of the input's shape, of its shape
        without the last axis (one variance per row), or of its shape with
        one axis of length 1 (homoscedastic along it), as torch accepts; a
        scalar stands for every element (torch takes a Python float, but no
        0-d tensor, there).
    full : bool, default False
        Whether to add the constant :math:`\tfrac12 \log 2\pi`.
    eps : float, default 1e-6
        The variances are clamped at it from below (the gradient with respect
        to var is taken at the clamped value, as torch's).
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the elementwise losses, or the elementwise losses.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the input's float dtype, or
        for ``reduction='none'`` the elementwise losses, of the operands'
        broadcast shape.

    Raises
    ------
    ValueError
        If `var` has a negative entry (named, with its index), its shape does
        not fit the input's, the shapes cannot be broadcast together, or
        `reduction` is unknown.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.gaussian_nll_loss([1.0, 2.0], [1.0, 0.0], [1.0, 2.0], reduction="none")
    array([0.        , 1.34657359])
    """
    var, params = _gaussian_args(input, var, full, eps)
    return _pointwise(_kl.gaussian_nll, input, target, reduction, params, [("var", var)],
                      sizes="silent", checks=_VAR_NONNEGATIVE)


def soft_margin_loss(input, target, reduction="mean"):
    r"""Two-class logistic loss; mirrors ``torch.nn.functional.soft_margin_loss``.

    .. math:: \ell = \log(1 + e^{-y x})

    computed as ``softplus(-y x)``, without overflow.

    Parameters
    ----------
    input : array_like
        Scores.
    target : array_like
        Labels, usually -1 or 1 (not checked, as in torch), broadcast to the
        input's shape.
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
        If the target cannot be broadcast to the input's shape (as torch), or
        `reduction` is unknown.

    Notes
    -----
    Beyond torch: torch evaluates ``log1p(exp(-y x))``, which is inf once
    the exponential overflows (:math:`-y x > 88.7` in float32) and makes the
    gradient NaN there; fastnl's loss is :math:`-y x` there, and the
    gradient :math:`-y`.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.soft_margin_loss([0.0, 20.0, -200.0], [1.0, 1.0, 1.0], reduction="none")
    array([6.93147181e-01, 2.06115362e-09, 2.00000000e+02])
    """
    return _pointwise(_kl.soft_margin, input, target, reduction, sizes="input")


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    r"""Ranking hinge loss; mirrors ``torch.nn.functional.margin_ranking_loss``.

    .. math:: \ell = \max(0, -y (x_1 - x_2) + \text{margin})

    Parameters
    ----------
    input1, input2 : array_like
        The scores of the two items of each pair.
    target : array_like
        1 where `input1` should rank higher, -1 where `input2` should
        (other values are used as they are, as in torch).
    margin : float, default 0.0
        The margin.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the elementwise losses, or the elementwise losses.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of input1's float dtype, or for
        ``reduction='none'`` the elementwise losses, of the three operands'
        broadcast shape.

    Raises
    ------
    ValueError
        If the operands differ in their number of dimensions (as torch) or
        cannot be broadcast together, or `reduction` is unknown.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.margin_ranking_loss([1.0, 1.0], [0.0, 0.0], [1.0, -1.0], margin=0.5,
    ...                            reduction="none")
    array([0. , 1.5])
    """
    _margin_ranking_shapes(input1, input2, target)
    return _pointwise(_kl.margin_ranking, input1, input2, reduction, _margin(margin),
                      [("target", target)], sizes="all")


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    r"""Hinge embedding loss; mirrors ``torch.nn.functional.hinge_embedding_loss``.

    .. math:: \ell = x \text{ where } y = 1, \qquad
              \ell = \max(0, \text{margin} - x) \text{ where } y = -1

    A target other than 1 and -1 takes both terms, as in torch.

    Parameters
    ----------
    input : array_like
        Usually distances (e.g. an L1 distance between two embeddings).
    target : array_like
        1 (similar) or -1 (dissimilar), broadcast against the input.
    margin : float, default 1.0
        The margin.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the elementwise losses, or the elementwise losses.

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
    >>> fastnl.hinge_embedding_loss([0.3, 0.3, 2.0], [1.0, -1.0, -1.0], reduction="none")
    array([0.3, 0.7, 0. ])
    """
    return _pointwise(_kl.hinge_embedding, input, target, reduction, _margin(margin),
                      sizes="silent")


def _class_count(input, name):
    """The number of classes of a row-wise loss: the length of the last axis."""
    shape = np.shape(input)
    if not shape:
        raise ValueError(f"{name}: input must have a class axis (its last), got a 0-d array")
    return shape[-1]


def _row_sums(losses, n_classes, reduction, result):
    """A row-wise loss from its elementwise losses (classes on the last axis,
    in the compute dtype): each row's float64 sum over C, then the
    reduction over the rows, in the `result` dtype."""
    rows = losses.sum(axis=-1, dtype=np.float64) / n_classes
    if reduction == "none":
        return rows.astype(result) if rows.ndim else result.type(rows)
    if reduction == "sum":
        total = rows.sum()
    elif rows.size == 0:  # torch's mean of no rows, without NumPy's "Mean of empty slice"
        total = np.float64(np.nan)
    else:
        total = rows.mean()
    return total.astype(result) if hasattr(total, "compute") else result.type(total)


def multilabel_soft_margin_loss(input, target, weight=None, reduction="mean"):
    r"""Multi-label one-versus-all logistic loss; mirrors
    ``torch.nn.functional.multilabel_soft_margin_loss``.

    .. math:: \ell_n = -\frac1C \sum_c w_c \left[y_{nc} \log \sigma(x_{nc})
              + (1 - y_{nc}) \log \sigma(-x_{nc})\right]

    the mean over the classes (the last axis) of
    :func:`binary_cross_entropy_with_logits`'s elementwise losses, computed
    by its kernel (stable for logits of any size).

    Parameters
    ----------
    input : array_like
        Logits, (C,), (N, C) or (..., C): classes on the last axis.
    target : array_like
        Labels in {0, 1} (any value is used as it is), broadcast against
        the input.
    weight : array_like, optional
        Per-class (or per-element) rescaling, broadcast to the input's shape.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the per-row losses, or the per-row losses.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the input's float dtype, or for
        ``reduction='none'`` one loss per row: the shape without the last axis.

    Raises
    ------
    ValueError
        If the input is 0-d, the shapes cannot be broadcast together,
        `weight` cannot be broadcast to the input's shape, or `reduction` is
        unknown.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.multilabel_soft_margin_loss([[0.0, 0.0], [10.0, -10.0]],
    ...                                    [[1.0, 0.0], [1.0, 0.0]], reduction="none")
    array([6.93147181e-01, 4.53988992e-05])
    """
    reduction = check_reduction(reduction)
    n_classes = _class_count(input, "multilabel_soft_margin_loss")
    x, result = _in_compute_dtype(input, input)
    losses = _pointwise(_kl.bce_logits, x, target, "none",
                        arrays=[("weight", weight), ("pos_weight", None)], sizes="silent")
    return _row_sums(losses, n_classes, reduction, result)


def multilabel_soft_margin_loss_backward(input, target, weight=None, reduction="mean",
                                         grad_output=1.0, out=None):
    r"""Gradient of :func:`multilabel_soft_margin_loss` with respect to the input:
    :math:`w_c (\sigma(x_{nc}) - y_{nc}) / C` times the row's upstream gradient.

    Parameters
    ----------
    input, target, weight, reduction
        As given to :func:`multilabel_soft_margin_loss`; ``'mean'`` divides
        the gradient by the number of rows.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape
        (one per row), or a scalar that stands for every row.
    out : ndarray, optional
        Where to write the gradient: the input's shape and result dtype.

    Returns
    -------
    ndarray
        The gradient with respect to `input`, of its shape and result dtype.

    Raises
    ------
    ValueError
        As :func:`multilabel_soft_margin_loss`, and for a `grad_output` of
        the wrong shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.multilabel_soft_margin_loss_backward([[0.0, 0.0]], [[1.0, 0.0]])
    array([[-0.25,  0.25]])
    """
    reduction = check_reduction(reduction)
    shape = np.shape(input)
    n_classes = _class_count(input, "multilabel_soft_margin_loss")
    rows = math.prod(shape[:-1])
    g = grad_output if hasattr(grad_output, "ndim") else np.asarray(grad_output)
    _driver.check_upstream(g, reduction, shape[:-1])
    if reduction == "none" and g.ndim:  # each row's upstream to its elements
        upstream = np.broadcast_to((g.astype(np.float64) / n_classes)[..., None], shape)
    else:  # one scalar: 'mean' over the rows, then over the classes
        upstream = _driver.ratio(float(g) / n_classes, rows if reduction == "mean" else 1)
    return _pointwise_backward(_kl.bce_logits_backward, input, target, "none", upstream, out,
                               arrays=[("weight", weight), ("pos_weight", None)],
                               sizes="silent")


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    r"""Cosine embedding loss; mirrors ``torch.nn.functional.cosine_embedding_loss``.

    With :math:`\cos_n = x_{1n} \cdot x_{2n} / \sqrt{(|x_{1n}|^2 + \epsilon)
    (|x_{2n}|^2 + \epsilon)}` over the last axis, :math:`\epsilon` torch's
    :math:`10^{-12}` as a float32 (so a zero vector's cosine is 0, not NaN):

    .. math:: \ell_n = 1 - \cos_n \text{ where } y_n = 1, \qquad
              \ell_n = \max(0, \cos_n - \text{margin}) \text{ where } y_n = -1

    and 0 for any other target value, as in torch. One compiled pass per row
    (rows in parallel), its sums in float64.

    Parameters
    ----------
    input1, input2 : array_like
        Embeddings, (N, D) with a target of shape (N,), or (D,) with a 0-d
        target; broadcast against each other.
    target : array_like
        1 (similar) or -1 (dissimilar) per row.
    margin : float, default 0.0
        The margin of the dissimilar rows, usually in [-1, 1].
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the per-row losses, or the per-row losses.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of input1's float dtype, or for
        ``reduction='none'`` one loss per row.

    Raises
    ------
    ValueError
        If the target is not 0-d or 1-d, the inputs do not have one more
        dimension than it, the shapes cannot be broadcast together or the
        target does not match the rows, or `reduction` is unknown.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.cosine_embedding_loss([[1.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]],
    ...                              [1.0, -1.0], reduction="none")   # 1 - 0, cos(pi / 4)
    array([1.        , 0.70710678])
    """
    reduction, margin = check_reduction(reduction), real("margin", margin)
    if lazy(input1, input2, target):
        return foreign("row_loss")("cosine", (input1, input2), target, (margin,), reduction)
    return _driver.cosine_embedding(input1, input2, target, margin, reduction)


def cosine_embedding_loss_backward(input1, input2, target, margin=0.0, reduction="mean",
                                   grad_output=1.0):
    r"""Gradients of :func:`cosine_embedding_loss` with respect to input1 and input2.

    With :math:`c_n` the derivative of the row's loss with respect to its
    cosine (-1 where :math:`y_n = 1`; 1 where :math:`y_n = -1` and
    :math:`\cos_n \ge \text{margin}`, torch's sub-gradient at the kink; else
    0), times the row's upstream gradient:

    .. math:: \frac{\partial \ell_n}{\partial x_{1n}} = c_n \left(
              \frac{x_{2n}}{\sqrt{m_1 m_2}} - \cos_n \frac{x_{1n}}{m_1}\right),
              \qquad m_i = |x_{in}|^2 + \epsilon

    and the same with the operands swapped.

    Parameters
    ----------
    input1, input2, target, margin, reduction
        As given to :func:`cosine_embedding_loss`; ``'mean'`` divides the
        gradients by the number of rows.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape
        (one per row), or a scalar that stands for every row.

    Returns
    -------
    tuple of ndarray
        ``(grad_input1, grad_input2)``, each of its operand's shape (summed
        over the axes it was broadcast along) in input1's result dtype.

    Raises
    ------
    ValueError
        As :func:`cosine_embedding_loss`, and for a `grad_output` of the
        wrong shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.cosine_embedding_loss_backward([[3.0, 4.0]], [[4.0, 3.0]], [-1.0])
    (array([[ 0.0448, -0.0336]]), array([[-0.0336,  0.0448]]))
    """
    reduction, margin = check_reduction(reduction), real("margin", margin)
    if lazy(input1, input2, target, grad_output):
        return foreign("row_loss_backward")("cosine", (input1, input2), target, (margin,),
                                            reduction, grad_output)
    return _driver.cosine_embedding_backward(input1, input2, target, margin, reduction,
                                             grad_output)


def _triplet_args(margin, p, eps, swap):
    margin, p, eps = real("margin", margin), real("p", p), real("eps", eps)
    if not margin > 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not p > 0:
        raise ValueError(f"triplet_margin_loss: p must be a positive number, got {p}")
    return margin, p, eps, bool(swap)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        reduction="mean"):
    r"""Triplet loss; mirrors ``torch.nn.functional.triplet_margin_loss``.

    .. math:: \ell_n = \max(0, \text{margin} + d(a_n, p_n) - d(a_n, n_n)),
              \qquad d(u, v) = \lVert u - v + \epsilon \rVert_p

    over the last axis (torch's ``pairwise_distance``). With `swap`,
    :math:`d(a_n, n_n)` is replaced by :math:`d(p_n, n_n)` where that is
    smaller. One compiled pass per row (rows in parallel), the norms in
    float64.

    Parameters
    ----------
    anchor, positive, negative : array_like
        Embeddings, (N, D) or (D,) (any leading axes are rows), of one
        number of dimensions, broadcast together.
    margin : float, default 1.0
        ``> 0``, as torch requires.
    p : float, default 2
        The norm's degree, ``> 0`` (finite: torch also takes ``inf``).
    eps : float, default 1e-6
        Added to each difference, as torch does.
    swap : bool, default False
        The distance swap of Balntas et al.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the per-row losses, or the per-row losses.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the anchor's float dtype, or
        for ``reduction='none'`` one loss per row.

    Raises
    ------
    ValueError
        If ``margin <= 0``, ``p <= 0``, the inputs differ in their number of
        dimensions or are 0-d, the shapes cannot be broadcast together, or
        `reduction` is unknown.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.triplet_margin_loss([[0.0, 0.0]], [[3.0, 4.0]], [[6.0, 8.0]], eps=0.0)
    np.float64(0.0)
    >>> fastnl.triplet_margin_loss([[0.0, 0.0]], [[6.0, 8.0]], [[3.0, 4.0]], eps=0.0)
    np.float64(6.0)
    """
    reduction, args = check_reduction(reduction), _triplet_args(margin, p, eps, swap)
    if lazy(anchor, positive, negative):
        return foreign("row_loss")("triplet", (anchor, positive, negative), None, args,
                                   reduction)
    return _driver.triplet_margin(anchor, positive, negative, *args, reduction)


def triplet_margin_loss_backward(anchor, positive, negative, margin=1.0, p=2, eps=1e-6,
                                 swap=False, reduction="mean", grad_output=1.0):
    r"""Gradients of :func:`triplet_margin_loss` with respect to anchor, positive
    and negative.

    Where the hinge passes (:math:`\text{margin} + d_+ - d_- \ge 0`, torch's
    sub-gradient at the kink), with :math:`w(u, v) = \partial d(u, v) /
    \partial u = \mathrm{sign}(\delta) |\delta|^{p-1} / d^{p-1}` (0 where
    :math:`d = 0`), :math:`\delta = u - v + \epsilon`: the anchor gets
    :math:`w(a, p) - w(a, n)`, the positive :math:`-w(a, p)`, the negative
    :math:`w(a, n)`; with a swap chosen, :math:`w(p, n)` replaces
    :math:`w(a, n)` (on the positive and the negative), and at a tie of the
    two distances each gets half, as torch's minimum does.

    Parameters
    ----------
    anchor, positive, negative, margin, p, eps, swap, reduction
        As given to :func:`triplet_margin_loss`; ``'mean'`` divides the
        gradients by the number of rows.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape
        (one per row), or a scalar that stands for every row.

    Returns
    -------
    tuple of ndarray
        ``(grad_anchor, grad_positive, grad_negative)``, each of its
        operand's shape (summed over the axes it was broadcast along) in the
        anchor's result dtype.

    Raises
    ------
    ValueError
        As :func:`triplet_margin_loss`, and for a `grad_output` of the wrong
        shape.

    Examples
    --------
    >>> import fastnl
    >>> ga, gp, gn = fastnl.triplet_margin_loss_backward([[0.0, 0.0]], [[6.0, 8.0]],
    ...                                                  [[3.0, 4.0]], eps=0.0)
    >>> ga, gp, gn       # w(a, p) - w(a, n) = (-0.6, -0.8) - (-0.6, -0.8)
    (array([[0., 0.]]), array([[0.6, 0.8]]), array([[-0.6, -0.8]]))
    """
    reduction, args = check_reduction(reduction), _triplet_args(margin, p, eps, swap)
    if lazy(anchor, positive, negative, grad_output):
        return foreign("row_loss_backward")("triplet", (anchor, positive, negative), None,
                                            args, reduction, grad_output)
    return _driver.triplet_margin_backward(anchor, positive, negative, *args, reduction,
                                           grad_output)


def _multi_margin_args(p, margin):
    if p not in (1, 2) or isinstance(p, bool):
        raise ValueError(f"multi_margin_loss: only p == 1 and p == 2 are supported, got {p!r}")
    return int(p), real("margin", margin)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    r"""Multi-class hinge loss; mirrors ``torch.nn.functional.multi_margin_loss``.

    .. math:: \ell_n = \frac1C \sum_{i \ne y_n} w_{y_n}
              \max(0, \text{margin} - x_{n y_n} + x_{ni})^p

    One compiled pass per row (rows in parallel), its sum in float64.

    Parameters
    ----------
    input : array_like
        Scores, (N, C) or (C,).
    target : array_like of int
        Class indices in [0, C): (N,), or 0-d (or (1,)) for a 1-d input.
    p : {1, 2}, default 1
        The hinge's power.
    margin : float, default 1.0
        The margin.
    weight : array_like, optional
        One weight per class, applied by each row's target class.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the per-row losses, or the per-row losses.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the input's float dtype, or
        for ``reduction='none'`` one loss per row ((N,) for a 1-d target, 0-d
        for a 0-d one).

    Raises
    ------
    ValueError
        If `p` is not 1 or 2, the input is not a non-empty vector or matrix,
        the target's size is not the number of rows, `weight` is not one per
        class, or `reduction` is unknown (each with torch's reason).
    IndexError
        If a class index is outside [0, C) (the first one is named).
    TypeError
        If the target is not an integer array.

    Notes
    -----
    As in torch, a NaN score makes no hinge pass (``z > 0`` is false): it
    contributes nothing to the loss or its gradient.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.multi_margin_loss([[0.1, 0.2, 0.4, 0.8]], [3])   # torch's example
    np.float64(0.32499999999999996)
    """
    p, margin = _multi_margin_args(p, margin)
    reduction = check_reduction(reduction)
    if lazy(input, target, weight):
        return foreign("multi_margin_loss")(input, target, p, margin, weight, reduction)
    return _driver.multi_margin(input, target, p, margin, weight, reduction)


def multi_margin_loss_backward(input, target, p=1, margin=1.0, weight=None, reduction="mean",
                               grad_output=1.0):
    r"""Gradient of :func:`multi_margin_loss` with respect to the input.

    Each class :math:`i \ne y_n` whose hinge passes (:math:`z = \text{margin}
    - x_{n y_n} + x_{ni} > 0`, torch's kernel) gets :math:`g_n w_{y_n}
    p z^{p-1} / C`, and the target class minus their sum.

    Parameters
    ----------
    input, target, p, margin, weight, reduction
        As given to :func:`multi_margin_loss`; ``'mean'`` divides the
        gradient by the number of rows.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape
        (one per row), or a scalar that stands for every row.

    Returns
    -------
    ndarray
        The gradient with respect to `input`, of its shape and result dtype.

    Raises
    ------
    ValueError, IndexError, TypeError
        As :func:`multi_margin_loss`; ValueError also for a `grad_output` of
        the wrong shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.multi_margin_loss_backward([[0.1, 0.2, 0.4, 0.8]], [3])
    array([[ 0.25,  0.25,  0.25, -0.75]])
    """
    p, margin = _multi_margin_args(p, margin)
    reduction = check_reduction(reduction)
    if lazy(input, target, weight, grad_output):
        return foreign("multi_margin_loss_backward")(input, target, p, margin, weight,
                                                     reduction, grad_output)
    return _driver.multi_margin_backward(input, target, p, margin, weight, reduction,
                                         grad_output)


def multilabel_margin_loss(input, target, reduction="mean"):
    r"""Multi-label hinge loss; mirrors ``torch.nn.functional.multilabel_margin_loss``.

    .. math:: \ell_n = \frac1C \sum_{j \in Y_n} \sum_{i \notin Y_n}
              \max(0, 1 - (x_{nj} - x_{ni}))

    where :math:`Y_n` holds the class indices of row :math:`n`'s target
    before its first -1 (torch's terminator). One compiled pass per row, its
    sum in float64.

    Parameters
    ----------
    input : array_like
        Scores, (N, C) or (C,).
    target : array_like of int
        Of the input's shape: each row's target classes, then -1; every
        entry in [-1, C), those after the -1 too (torch checks them all,
        and uses none of them).
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Mean or sum of the per-row losses, or the per-row losses.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss as a NumPy scalar of the input's float dtype, or
        for ``reduction='none'`` one loss per row ((N,), or 0-d for a 1-d
        input).

    Raises
    ------
    ValueError
        If the input is not a non-empty vector or matrix, the target's shape
        is not the input's, or `reduction` is unknown.
    IndexError
        If a target entry is outside [-1, C) (the first one is named).
    TypeError
        If the target is not an integer array.

    Examples
    --------
    >>> import fastnl
    >>> # torch's example: the targets are classes 3 and 0, then -1
    >>> fastnl.multilabel_margin_loss([[0.1, 0.2, 0.4, 0.8]], [[3, 0, -1, 1]])
    np.float64(0.85)
    """
    reduction = check_reduction(reduction)
    if lazy(input, target):
        return foreign("multilabel_margin_loss")(input, target, reduction)
    return _driver.multilabel_margin(input, target, reduction)


def multilabel_margin_loss_backward(input, target, reduction="mean", grad_output=1.0):
    r"""Gradient of :func:`multilabel_margin_loss` with respect to the input.

    For each target :math:`j` and non-target :math:`i` whose hinge passes
    (:math:`1 - x_{nj} + x_{ni} > 0`, torch's kernel), :math:`g_n / C` is
    added at :math:`i` and subtracted at :math:`j`.

    Parameters
    ----------
    input, target, reduction
        As given to :func:`multilabel_margin_loss`; ``'mean'`` divides the
        gradient by the number of rows.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape
        (one per row), or a scalar that stands for every row.

    Returns
    -------
    ndarray
        The gradient with respect to `input`, of its shape and result dtype.

    Raises
    ------
    ValueError, IndexError, TypeError
        As :func:`multilabel_margin_loss`; ValueError also for a
        `grad_output` of the wrong shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.multilabel_margin_loss_backward([[0.1, 0.2, 0.4, 0.8]], [[3, 0, -1, 1]])
    array([[-0.5,  0.5,  0.5, -0.5]])
    """
    reduction = check_reduction(reduction)
    if lazy(input, target, grad_output):
        return foreign("multilabel_margin_loss_backward")(input, target, reduction,
                                                          grad_output)
    return _driver.multilabel_margin_backward(input, target, reduction, grad_output)


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
                               arrays=[("weight", weight)], sizes="strict",
                               checks=_UNIT_INTERVAL)


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


def _in_compute_dtype(a, first):
    """`a` in the dtype the loss computes in (the first operand's), for a
    gradient computed with `a` in the first operand's place; and the result
    dtype of the first operand, which the gradient is returned in."""
    dtype = first.dtype if hasattr(first, "dtype") else np.asarray(first).dtype
    compute, result = resolve_dtype(dtype)
    if not hasattr(a, "astype"):
        a = np.asarray(a)
    return (a if a.dtype == compute else a.astype(compute)), result


def _as_operand(grad, shape, result):
    """A gradient computed at `shape` up to axes of length 1, of `shape` and
    the `result` dtype."""
    if np.shape(grad) != shape:
        grad = np.reshape(grad, shape)
    return grad if grad.dtype == result else grad.astype(result)


def poisson_nll_loss_backward(input, target, log_input=True, full=False, eps=1e-8,
                              reduction="mean", grad_output=1.0, out=None):
    r"""Gradient of :func:`poisson_nll_loss` with respect to the input:
    :math:`e^x - y` (`log_input`) or :math:`1 - y / (x + \varepsilon)`.

    Parameters
    ----------
    input, target : array_like
        As given to :func:`poisson_nll_loss`.
    log_input, full, eps, reduction
        As given to :func:`poisson_nll_loss` (the Stirling term does not
        depend on the input); ``'mean'`` divides the gradient by the number
        of elements.
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
        If the shapes cannot be broadcast together, or `grad_output` has the
        wrong shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.poisson_nll_loss_backward([0.0, 1.0], [1.0, 3.0], reduction="sum")
    array([ 0.        , -0.28171817])
    """
    kernel, params = _poisson_args(log_input, full, eps)
    return _pointwise_backward(getattr(_kl, f"{kernel}_backward"), input, target, reduction,
                               grad_output, out, params, sizes="silent")


def gaussian_nll_loss_backward(input, target, var, full=False, eps=1e-6, reduction="mean",
                               grad_output=1.0):
    r"""Gradients of :func:`gaussian_nll_loss` with respect to the input and var.

    .. math:: \frac{\partial \ell}{\partial x} = \frac{x - y}{v}, \qquad
              \frac{\partial \ell}{\partial \mathrm{var}} =
              \frac12 \left(\frac1v - \frac{(x - y)^2}{v^2}\right),
              \qquad v = \max(\mathrm{var}, \varepsilon)

    Both at the clamped :math:`v`, as torch's autograd gives them (it clamps
    without recording the clamp). The gradient of a broadcast var is summed
    over the elements that share it.

    Parameters
    ----------
    input, target, var, full, eps, reduction
        As given to :func:`gaussian_nll_loss`; ``'mean'`` divides the
        gradients by the number of elements.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape,
        or a scalar that stands for every element.

    Returns
    -------
    tuple of ndarray
        ``(grad_input, grad_var)``, of the shapes of input and var, in the
        input's result dtype.

    Raises
    ------
    ValueError
        As :func:`gaussian_nll_loss`, and for a `grad_output` of the wrong
        shape.

    Examples
    --------
    >>> import fastnl
    >>> gx, gv = fastnl.gaussian_nll_loss_backward([1.0, 2.0], [1.0, 0.0], [1.0, 2.0],
    ...                                            reduction="sum")
    >>> gx, gv
    (array([0., 1.]), array([ 0.5 , -0.25]))
    """
    var_shape = np.shape(var)
    var, params = _gaussian_args(input, var, full, eps)
    grad_input = _pointwise_backward(_kl.gaussian_nll_backward, input, target, reduction,
                                     grad_output, None, params, [("var", var)],
                                     sizes="silent", checks=_VAR_NONNEGATIVE)
    var, result = _in_compute_dtype(var, input)
    grad_var = _pointwise_backward(_kl.gaussian_nll_var_backward, var, input, reduction,
                                   grad_output, None, params, [("target", target)],
                                   sizes="all", checks=(("input", "var", "nonnegative"),))
    return grad_input, _as_operand(grad_var, var_shape, result)


def soft_margin_loss_backward(input, target, reduction="mean", grad_output=1.0, out=None):
    r"""Gradient of :func:`soft_margin_loss` with respect to the input:
    :math:`-y\, \sigma(-y x)`.

    Parameters
    ----------
    input, target, reduction
        As given to :func:`soft_margin_loss`; ``'mean'`` divides the
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
        If the target cannot be broadcast to the input's shape, or
        `grad_output` has the wrong shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.soft_margin_loss_backward([0.0, -200.0], [1.0, 1.0], reduction="sum")
    array([-0.5, -1. ])
    """
    return _pointwise_backward(_kl.soft_margin_backward, input, target, reduction, grad_output,
                               out, sizes="input")


def margin_ranking_loss_backward(input1, input2, target, margin=0.0, reduction="mean",
                                 grad_output=1.0):
    r"""Gradients of :func:`margin_ranking_loss` with respect to input1 and input2:
    :math:`\mp y` where :math:`-y (x_1 - x_2) + \text{margin} \ge 0`, else 0.

    At the kink (exactly 0) the sub-gradient is torch's, the one of the
    linear side. Where the hinge's argument is NaN the gradient is NaN: torch's
    mask gives 0 there, which would hide the NaN.

    Parameters
    ----------
    input1, input2, target, margin, reduction
        As given to :func:`margin_ranking_loss`; ``'mean'`` divides the
        gradients by the number of elements.
    grad_output : float or array_like, default 1.0
        The gradient of the objective with respect to the loss: a scalar for
        a reduced loss; for ``reduction='none'`` an array of the loss's shape,
        or a scalar that stands for every element.

    Returns
    -------
    tuple of ndarray
        ``(grad_input1, grad_input2)``, each of its operand's shape, summed
        over the axes it was broadcast along, in input1's result dtype.

    Raises
    ------
    ValueError
        As :func:`margin_ranking_loss`, and for a `grad_output` of the wrong
        shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.margin_ranking_loss_backward([1.0, 1.0], [0.0, 0.0], [1.0, -1.0], margin=0.5,
    ...                                     reduction="sum")
    (array([-0.,  1.]), array([ 0., -1.]))
    """
    _margin_ranking_shapes(input1, input2, target)
    params = _margin(margin)
    grad1 = _pointwise_backward(_kl.margin_ranking_backward, input1, input2, reduction,
                                grad_output, None, params, [("target", target)], sizes="all")
    input2, result = _in_compute_dtype(input2, input1)
    grad2 = _pointwise_backward(_kl.margin_ranking_swapped_backward, input2, input1,
                                reduction, grad_output, None, params, [("target", target)],
                                sizes="all")
    return grad1, _as_operand(grad2, np.shape(input2), result)


def hinge_embedding_loss_backward(input, target, margin=1.0, reduction="mean",
                                  grad_output=1.0, out=None):
    r"""Gradient of :func:`hinge_embedding_loss` with respect to the input:
    1 where :math:`y \ne -1`, plus -1 where :math:`y \ne 1` and
    :math:`x \le \text{margin}` (torch's sub-gradient at the kink). Where
    that hinge term applies to a NaN input the gradient is NaN: torch's mask
    gives 0 there, which would hide the NaN.

    Parameters
    ----------
    input, target, margin, reduction
        As given to :func:`hinge_embedding_loss`; ``'mean'`` divides the
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
        If the shapes cannot be broadcast together, or `grad_output` has the
        wrong shape.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.hinge_embedding_loss_backward([0.3, 0.3, 2.0], [1.0, -1.0, -1.0],
    ...                                      reduction="sum")
    array([ 1., -1.,  0.])
    """
    return _pointwise_backward(_kl.hinge_embedding_backward, input, target, reduction,
                               grad_output, out, _margin(margin), sizes="silent")


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
                         chunk_size=None, out=None, return_stats=False):
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
    return_stats : bool, default False
        Also return the rows' statistics (each row's maximum logit and sum of
        exponentials, float64, O(N) memory), which
        :func:`linear_cross_entropy_backward` takes as `stats` and then
        skips its own walk over the classes for them: a training step makes
        the logits twice, as :class:`fastnl.nn.LinearCrossEntropy` does and
        as torch's autograd keeps its forward, instead of three times.
        NumPy arrays and a 2-d `linear_weight` only.

    Returns
    -------
    numpy scalar or ndarray
        The loss, in the inputs' float dtype (float16 and bfloat16 compute in
        float32); with `return_stats`, ``(loss, stats)``.

    Raises
    ------
    ValueError
        If in_features, C or the target's length do not match (the message
        names the shapes), or as :func:`cross_entropy` for the parameters;
        `return_stats` with Dask arrays or a K-dimensional `linear_weight`.
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
    >>> loss, stats = fastnl.linear_cross_entropy(x, W, [0, 2], return_stats=True)
    >>> gx, gW, gb = fastnl.linear_cross_entropy_backward(x, W, [0, 2], stats=stats)
    """
    return_stats = bool(return_stats)
    if return_stats:
        _stats_usable("return_stats", linear_weight, input, linear_weight, target,
                      linear_bias, weight)
    if lazy(input, linear_weight, target, linear_bias, weight):
        return foreign("linear_class_loss")(input, linear_weight, target, linear_bias, weight,
                                            _linear_args(ignore_index), reduction,
                                            label_smoothing, chunk_size, out)
    return _linear.linear_cross_entropy(input, linear_weight, target, linear_bias, weight,
                                        _linear_args(ignore_index), reduction,
                                        label_smoothing, chunk_size, out, return_stats)


def _stats_usable(name, linear_weight, *arrays):
    """The ValueError of row statistics asked for or given where they cannot be."""
    if lazy(*arrays):
        raise ValueError(f"{name} takes NumPy arrays: a Dask graph's chunks keep no "
                         "statistics of their own")
    if np.ndim(linear_weight) > 2:
        raise ValueError(f"{name} needs a 2-d linear_weight (num_classes, in_features), "
                         f"got shape {np.shape(linear_weight)}")


def linear_cross_entropy_backward(input, linear_weight, target, *, linear_bias=None,
                                  weight=None, reduction="mean", ignore_index=-100,
                                  label_smoothing=0.0, chunk_size=None, grad_output=1.0,
                                  stats=None):
    r"""Gradients of :func:`linear_cross_entropy` with respect to the input,
    the linear weight and the linear bias.

    With :math:`G = \partial \ell / \partial z` the gradient with respect to
    the logits (:func:`cross_entropy_backward`'s), these are
    :math:`G W`, :math:`G^T x` and the column sums of :math:`G`. A first
    pass over the class blocks finds each row's maximum and sum of
    exponentials; a second recomputes each block's logits, turns them into
    that block of :math:`G` in place and multiplies it out (BLAS), so the
    (N, C) logits are never held. That first pass is the forward's own: pass
    the forward's statistics as `stats` (``linear_cross_entropy(...,
    return_stats=True)``) and it is skipped, so that a training step makes the
    logits twice, as :class:`fastnl.nn.LinearCrossEntropy` does, instead of
    three times.

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
    stats : optional
        The statistics ``linear_cross_entropy(..., return_stats=True)``
        returned for these same operands and options (their values are not
        compared: statistics of other values give wrong gradients).

    Returns
    -------
    tuple of ndarray
        ``(grad_input, grad_weight, grad_bias)`` of the shapes of input,
        linear_weight and linear_bias; ``grad_bias`` is None without a bias.

    Raises
    ------
    ValueError, IndexError
        As :func:`linear_cross_entropy`; ValueError also for a `grad_output`
        of the wrong shape, or `stats` of another shape or options.
    TypeError
        If `stats` is not what ``return_stats=True`` returned.

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
    if stats is not None:
        if not isinstance(stats, _linear.RowStatistics):
            raise TypeError("stats must be what linear_cross_entropy(..., return_stats=True) "
                            f"returned second, got {type(stats).__name__}")
        _stats_usable("stats", linear_weight, input, linear_weight, target, linear_bias,
                      weight, grad_output)
    if lazy(input, linear_weight, target, linear_bias, weight, grad_output):
        return foreign("linear_class_loss_backward")(
            input, linear_weight, target, linear_bias, weight, _linear_args(ignore_index),
            reduction, label_smoothing, chunk_size, grad_output)
    return _linear.linear_cross_entropy_backward(input, linear_weight, target, linear_bias,
                                                 weight, _linear_args(ignore_index), reduction,
                                                 label_smoothing, chunk_size, grad_output, stats)


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
