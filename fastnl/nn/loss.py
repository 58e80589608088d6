"""torch.nn-style loss classes.

Each is a thin shell over the functional form in :mod:`fastnl.losses`: the
constructor takes torch's arguments and defaults (without the legacy
``size_average`` / ``reduce``), the call ``loss(input, target)`` runs the
function and keeps references to both operands, and ``backward`` runs
``<name>_backward`` on them and returns the gradient with respect to the
input. Apart from HuberLoss (whose torch signature starts with them), the
arguments after ``weight`` are keyword-only: in torch the second positional
argument of most losses is the legacy ``size_average``, so a positional
``reduction`` would mean something else there.
"""

import numpy as np

from fastnl import losses as F
from fastnl._dispatch import lazy
from fastnl._drivers import ctc as _ctc
from fastnl._drivers import linear_losses as _linear
from fastnl._validate import rng_from
from fastnl.nn._module import Module, ones, operand
from fastnl.nn.linear import linear_parameters

__all__ = [
    "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "NLLLoss", "CrossEntropyLoss",
    "KLDivLoss", "BCELoss", "BCEWithLogitsLoss", "LinearCrossEntropy", "CTCLoss",
    "PoissonNLLLoss", "GaussianNLLLoss", "SoftMarginLoss", "MarginRankingLoss",
    "HingeEmbeddingLoss", "MultiLabelSoftMarginLoss", "CosineEmbeddingLoss",
    "TripletMarginLoss", "MultiMarginLoss", "MultiLabelMarginLoss",
]


class _Loss(Module):
    """A loss whose functional form is ``fastnl.<_function>(*operands, **args)``
    with the constructor attributes named in ``_args``; the operands are
    ``(input, target)`` unless a subclass's forward names others."""

    _function = None

    def forward(self, input, target):
        return self._forward(input, target)

    def _forward(self, *operands):
        operands = [operand(a) for a in operands]
        loss = getattr(F, self._function)(*operands, **self._kwargs())
        self._save(operands=operands, loss_shape=np.shape(loss))
        return loss

    def backward(self, grad_output=None):
        """Gradient with respect to the last input (a tuple where the loss has
        several float inputs); ``grad_output`` defaults to 1 (ones of the
        loss's shape for ``reduction='none'``)."""
        saved = self._saved_tensors()
        if grad_output is None:
            grad_output = ones(saved["loss_shape"], saved["operands"][0])
        return getattr(F, f"{self._function}_backward")(
            *saved["operands"], **self._kwargs(), grad_output=grad_output)


class MSELoss(_Loss):
    """``torch.nn.MSELoss``: :func:`fastnl.mse_loss` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.MSELoss()
    >>> loss(np.array([1.0, 2.0, 4.0]), np.array([1.0, 1.0, 1.0]))
    np.float64(3.3333333333333335)
    >>> loss.backward()
    array([0.        , 0.66666667, 2.        ])
    """
    _function, _args = "mse_loss", ("reduction",)

    def __init__(self, *, reduction="mean"):
        super().__init__()
        self.reduction = reduction


class L1Loss(_Loss):
    """``torch.nn.L1Loss``: :func:`fastnl.l1_loss` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.L1Loss(reduction="none")
    >>> loss(np.array([1.0, 2.0, 0.0]), np.array([1.0, 1.0, 1.0]))
    array([0., 1., 1.])
    >>> loss.backward(np.array([1.0, 2.0, 3.0]))
    array([ 0.,  2., -3.])
    """
    _function, _args = "l1_loss", ("reduction",)

    def __init__(self, *, reduction="mean"):
        super().__init__()
        self.reduction = reduction


class SmoothL1Loss(_Loss):
    """``torch.nn.SmoothL1Loss``: :func:`fastnl.smooth_l1_loss` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.SmoothL1Loss(reduction="sum", beta=1.0)
    >>> loss(np.array([0.5, 3.0]), np.array([0.0, 0.0]))
    np.float64(2.625)
    >>> loss.backward()
    array([0.5, 1. ])
    """
    _function, _args = "smooth_l1_loss", ("reduction", "beta")

    def __init__(self, *, reduction="mean", beta=1.0):
        super().__init__()
        self.reduction, self.beta = reduction, beta


class HuberLoss(_Loss):
    """``torch.nn.HuberLoss``: :func:`fastnl.huber_loss` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.HuberLoss("sum", delta=2.0)
    >>> loss(np.array([0.5, 3.0]), np.array([0.0, 0.0]))
    np.float64(4.125)
    >>> loss.backward()
    array([0.5, 2. ])
    """
    _function, _args = "huber_loss", ("reduction", "delta")

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__()
        self.reduction, self.delta = reduction, delta


class NLLLoss(_Loss):
    """``torch.nn.NLLLoss``: :func:`fastnl.nll_loss` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.NLLLoss(np.array([1.0, 3.0]))
    >>> logp = np.log([[0.5, 0.5], [0.25, 0.75]])
    >>> float(loss(logp, np.array([0, 1])))  # (log 2 - 3 log 0.75) / 4  # doctest: +ELLIPSIS
    0.3890...
    >>> loss.backward()
    array([[-0.25,  0.  ],
           [ 0.  , -0.75]])
    """
    _function, _args = "nll_loss", ("weight", "ignore_index", "reduction")

    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean"):
        super().__init__()
        self.weight = None if weight is None else np.asarray(weight)
        self.ignore_index, self.reduction = ignore_index, reduction


class CrossEntropyLoss(_Loss):
    """``torch.nn.CrossEntropyLoss``: :func:`fastnl.cross_entropy` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.CrossEntropyLoss(reduction="sum")
    >>> logits = np.array([[0.0, 0.0], [0.0, np.log(3.0)]])
    >>> loss(logits, np.array([0, 1]))            # -log 0.5 - log 0.75
    np.float64(0.9808292530117262)
    >>> loss.backward()                           # softmax - onehot
    array([[-0.5 ,  0.5 ],
           [ 0.25, -0.25]])
    """
    _function, _args = "cross_entropy", ("weight", "ignore_index", "reduction",
                                         "label_smoothing")

    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean",
                 label_smoothing=0.0):
        super().__init__()
        self.weight = None if weight is None else np.asarray(weight)
        self.ignore_index, self.reduction = ignore_index, reduction
        self.label_smoothing = label_smoothing


class KLDivLoss(_Loss):
    """``torch.nn.KLDivLoss``: :func:`fastnl.kl_div` as a module (input: log-probabilities).

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.KLDivLoss(reduction="batchmean")
    >>> float(loss(np.log([[0.5, 0.5]]), np.array([[0.25, 0.75]])))  # doctest: +ELLIPSIS
    0.1308...
    >>> loss.backward()
    array([[-0.25, -0.75]])
    """
    _function, _args = "kl_div", ("reduction", "log_target")

    def __init__(self, *, reduction="mean", log_target=False):
        super().__init__()
        self.reduction, self.log_target = reduction, log_target


class BCELoss(_Loss):
    """``torch.nn.BCELoss``: :func:`fastnl.binary_cross_entropy` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.BCELoss(reduction="sum")
    >>> float(loss(np.array([0.5, 0.8]), np.array([1.0, 0.0])))   # log 2 + log 5 = log 10
    2.302585092994046
    >>> loss.backward()
    array([-2.,  5.])
    """
    _function, _args = "binary_cross_entropy", ("weight", "reduction")

    def __init__(self, weight=None, *, reduction="mean"):
        super().__init__()
        self.weight = None if weight is None else np.asarray(weight)
        self.reduction = reduction


class BCEWithLogitsLoss(_Loss):
    """``torch.nn.BCEWithLogitsLoss``: :func:`fastnl.binary_cross_entropy_with_logits`
    as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.BCEWithLogitsLoss(reduction="sum")
    >>> float(loss(np.array([0.0, 0.0]), np.array([1.0, 0.0])))   # 2 log 2
    1.3862943611198906
    >>> loss.backward()                                           # sigmoid(x) - y
    array([-0.5,  0.5])
    """
    _function, _args = "binary_cross_entropy_with_logits", ("weight", "reduction",
                                                            "pos_weight")

    def __init__(self, weight=None, *, reduction="mean", pos_weight=None):
        super().__init__()
        self.weight = None if weight is None else np.asarray(weight)
        self.pos_weight = None if pos_weight is None else np.asarray(pos_weight)
        self.reduction = reduction


class PoissonNLLLoss(_Loss):
    """``torch.nn.PoissonNLLLoss``: :func:`fastnl.poisson_nll_loss` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.PoissonNLLLoss(reduction="sum")
    >>> float(loss(np.array([0.0, 1.0]), np.array([1.0, 3.0])))   # e^x - y x  # doctest: +ELLIPSIS
    0.718281828459...
    >>> loss.backward()                                        # e^x - y
    array([ 0.        , -0.28171817])
    """
    _function, _args = "poisson_nll_loss", ("log_input", "full", "eps", "reduction")

    def __init__(self, log_input=True, full=False, *, eps=1e-8, reduction="mean"):
        super().__init__()
        self.log_input, self.full, self.eps, self.reduction = log_input, full, eps, reduction


class GaussianNLLLoss(_Loss):
    """``torch.nn.GaussianNLLLoss``: :func:`fastnl.gaussian_nll_loss` as a module,
    called as ``loss(input, target, var)``; ``backward`` returns the
    gradients with respect to input and var.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.GaussianNLLLoss(reduction="sum")
    >>> loss(np.array([1.0, 2.0]), np.array([1.0, 0.0]), np.array([1.0, 2.0]))
    np.float64(1.3465735902799727)
    >>> loss.backward()
    (array([0., 1.]), array([ 0.5 , -0.25]))
    """
    _function, _args = "gaussian_nll_loss", ("full", "eps", "reduction")

    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        super().__init__()
        self.full, self.eps, self.reduction = full, eps, reduction

    def forward(self, input, target, var):
        return self._forward(input, target, var)


class SoftMarginLoss(_Loss):
    """``torch.nn.SoftMarginLoss``: :func:`fastnl.soft_margin_loss` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.SoftMarginLoss(reduction="sum")
    >>> loss(np.array([0.0, 0.0]), np.array([1.0, -1.0]))      # 2 log 2
    np.float64(1.3862943611198906)
    >>> loss.backward()                                        # -y sigmoid(-y x)
    array([-0.5,  0.5])
    """
    _function, _args = "soft_margin_loss", ("reduction",)

    def __init__(self, *, reduction="mean"):
        super().__init__()
        self.reduction = reduction


class MarginRankingLoss(_Loss):
    """``torch.nn.MarginRankingLoss``: :func:`fastnl.margin_ranking_loss` as a
    module, called as ``loss(input1, input2, target)``; ``backward`` returns
    the gradients with respect to input1 and input2.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.MarginRankingLoss(0.5, reduction="none")
    >>> loss(np.array([1.0, 1.0]), np.array([0.0, 0.0]), np.array([1.0, -1.0]))
    array([0. , 1.5])
    >>> loss.backward()
    (array([-0.,  1.]), array([ 0., -1.]))
    """
    _function, _args = "margin_ranking_loss", ("margin", "reduction")

    def __init__(self, margin=0.0, *, reduction="mean"):
        super().__init__()
        self.margin, self.reduction = margin, reduction

    def forward(self, input1, input2, target):
        return self._forward(input1, input2, target)


class HingeEmbeddingLoss(_Loss):
    """``torch.nn.HingeEmbeddingLoss``: :func:`fastnl.hinge_embedding_loss` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.HingeEmbeddingLoss(1.0, reduction="none")
    >>> loss(np.array([0.3, 0.3, 2.0]), np.array([1.0, -1.0, -1.0]))
    array([0.3, 0.7, 0. ])
    >>> loss.backward()
    array([ 1., -1.,  0.])
    """
    _function, _args = "hinge_embedding_loss", ("margin", "reduction")

    def __init__(self, margin=1.0, *, reduction="mean"):
        super().__init__()
        self.margin, self.reduction = margin, reduction


class MultiLabelSoftMarginLoss(_Loss):
    """``torch.nn.MultiLabelSoftMarginLoss``: :func:`fastnl.multilabel_soft_margin_loss`
    as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.MultiLabelSoftMarginLoss()
    >>> float(loss(np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]])))    # log 2
    0.6931471805599453
    >>> loss.backward()
    array([[-0.25,  0.25]])
    """
    _function, _args = "multilabel_soft_margin_loss", ("weight", "reduction")

    def __init__(self, weight=None, *, reduction="mean"):
        super().__init__()
        self.weight = None if weight is None else np.asarray(weight)
        self.reduction = reduction


class CosineEmbeddingLoss(_Loss):
    """``torch.nn.CosineEmbeddingLoss``: :func:`fastnl.cosine_embedding_loss` as a
    module, called as ``loss(input1, input2, target)``; ``backward`` returns
    the gradients with respect to input1 and input2.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.CosineEmbeddingLoss()
    >>> round(float(loss(np.array([[3.0, 4.0]]), np.array([[4.0, 3.0]]), np.array([1.0]))), 12)
    0.04
    >>> loss.backward()
    (array([[-0.0448,  0.0336]]), array([[ 0.0336, -0.0448]]))
    """
    _function, _args = "cosine_embedding_loss", ("margin", "reduction")

    def __init__(self, margin=0.0, *, reduction="mean"):
        super().__init__()
        self.margin, self.reduction = margin, reduction

    def forward(self, input1, input2, target):
        return self._forward(input1, input2, target)


class TripletMarginLoss(_Loss):
    """``torch.nn.TripletMarginLoss``: :func:`fastnl.triplet_margin_loss` as a
    module, called as ``loss(anchor, positive, negative)``; ``backward``
    returns the gradients with respect to all three.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.TripletMarginLoss(eps=0.0)
    >>> loss(np.array([[0.0, 0.0]]), np.array([[6.0, 8.0]]), np.array([[3.0, 4.0]]))
    np.float64(6.0)
    >>> [g.tolist() for g in loss.backward()]
    [[[0.0, 0.0]], [[0.6, 0.8]], [[-0.6, -0.8]]]
    """
    _function, _args = "triplet_margin_loss", ("margin", "p", "eps", "swap", "reduction")

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, *, reduction="mean"):
        super().__init__()
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap
        self.reduction = reduction

    def forward(self, anchor, positive, negative):
        return self._forward(anchor, positive, negative)


class MultiMarginLoss(_Loss):
    """``torch.nn.MultiMarginLoss``: :func:`fastnl.multi_margin_loss` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.MultiMarginLoss()
    >>> float(loss(np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([3])))   # doctest: +ELLIPSIS
    0.32499...
    >>> loss.backward()
    array([[ 0.25,  0.25,  0.25, -0.75]])
    """
    _function, _args = "multi_margin_loss", ("p", "margin", "weight", "reduction")

    def __init__(self, p=1, margin=1.0, weight=None, *, reduction="mean"):
        super().__init__()
        self.p, self.margin = p, margin
        self.weight = None if weight is None else np.asarray(weight)
        self.reduction = reduction


class MultiLabelMarginLoss(_Loss):
    """``torch.nn.MultiLabelMarginLoss``: :func:`fastnl.multilabel_margin_loss` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.MultiLabelMarginLoss()
    >>> float(loss(np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([[3, 0, -1, 1]])))
    0.85
    >>> loss.backward()
    array([[-0.5,  0.5,  0.5, -0.5]])
    """
    _function, _args = "multilabel_margin_loss", ("reduction",)

    def __init__(self, *, reduction="mean"):
        super().__init__()
        self.reduction = reduction


class LinearCrossEntropy(Module):
    """A linear layer and cross-entropy in one: :func:`fastnl.linear_cross_entropy`
    as a module, holding the layer's ``weight`` (num_classes, in_features)
    and ``bias`` (num_classes,).

    The parameters are float32, laid out and initialised as
    ``torch.nn.Linear(in_features, num_classes, bias)`` does:
    U(-1/sqrt(in_features), 1/sqrt(in_features)) for both; ``state_dict()``
    has torch.nn.Linear's keys (``weight``, ``bias``). :meth:`backward`
    returns the gradient of the input and adds those of the parameters into
    ``weight_grad`` and ``bias_grad``, as torch accumulates ``.grad``. The
    forward keeps each row's maximum and sum of exponentials for the
    backward, which then makes the logits once more, not twice: a step is
    four (N x C x in_features) products against five for the two
    functions. Dask arrays are refused (use the functions).

    Parameters
    ----------
    in_features, num_classes : int
        The linear layer's sizes.
    bias : bool, default True
        Whether the layer has a bias.
    weight, ignore_index, reduction, label_smoothing
        As given to :func:`fastnl.linear_cross_entropy` (``weight`` is the
        class weights, not the layer's).
    rng : None, int or numpy.random.Generator
        For the initial parameters.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> lce = fastnl.nn.LinearCrossEntropy(4, 10, rng=0)
    >>> x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    >>> loss = lce(x, np.array([1, 5, 9]))
    >>> loss.dtype, lce.backward().shape, lce.weight_grad.shape, lce.bias_grad.shape
    (dtype('float32'), (3, 4), (10, 4), (10,))
    >>> sorted(lce.state_dict())
    ['bias', 'weight']
    """
    _args = ("ignore_index", "reduction", "label_smoothing")

    def __init__(self, in_features, num_classes, bias=True, weight=None, ignore_index=-100,
                 reduction="mean", label_smoothing=0.0, rng=None):
        super().__init__()
        self.in_features, self.num_classes = int(in_features), int(num_classes)
        if self.in_features < 0 or self.num_classes < 0:
            raise ValueError(f"in_features and num_classes must be >= 0, got "
                             f"{in_features} and {num_classes}")
        self.weight, self.bias = linear_parameters(self.in_features, self.num_classes, bias,
                                                   rng_from(rng), np.float32)
        self._parameters = ("weight", "bias") if bias else ("weight",)
        self.class_weight = None if weight is None else np.asarray(weight)
        self.ignore_index, self.reduction = ignore_index, reduction
        self.label_smoothing = label_smoothing
        self.weight_grad = self.bias_grad = None

    def _arguments(self, bias):
        # the driver's positional arguments after the target (what fastnl.linear_cross_entropy
        # passes it), ignore_index=None meaning -100 as there
        ignore_index = -100 if self.ignore_index is None else self.ignore_index
        return (bias, self.class_weight, ignore_index, self.reduction, self.label_smoothing,
                None)

    def forward(self, input, target):
        if lazy(input, target):  # not computed behind the caller's back
            raise NotImplementedError(
                "LinearCrossEntropy does not take Dask arrays: its backward adds into the "
                "NumPy arrays weight_grad and bias_grad. fastnl.linear_cross_entropy and "
                "fastnl.linear_cross_entropy_backward take them, lazily (with "
                "self.weight, self.bias as linear_weight, linear_bias)")
        input, target = np.asarray(input), np.asarray(target)
        # straight to the driver, keeping each row's log-sum-exp: the backward
        # then skips one of its two walks over the classes (a matmul of N x C)
        loss, stats = _linear.linear_cross_entropy(input, self.weight, target,
                                                   *self._arguments(self.bias), None,
                                                   keep_stats=True)
        # the parameters as they were: backward differentiates this forward
        self._save(input=input, target=target, weight=self.weight, bias=self.bias,
                   stats=stats, loss_shape=np.shape(loss))
        return loss

    def backward(self, grad_output=None):
        """Gradient with respect to the last input; ``grad_output`` defaults to
        1 (ones of the loss's shape for ``reduction='none'``). Adds the
        parameters' gradients into ``weight_grad`` and ``bias_grad``."""
        saved = self._saved_tensors()
        if grad_output is None:
            grad_output = ones(saved["loss_shape"], saved["input"])
        grad_input, grad_weight, grad_bias = _linear.linear_cross_entropy_backward(
            saved["input"], saved["weight"], saved["target"], *self._arguments(saved["bias"]),
            grad_output, stats=saved["stats"])
        self._accumulate("weight", grad_weight)
        if grad_bias is not None:
            self._accumulate("bias", grad_bias)
        return grad_input

    def extra_repr(self):
        return (f"in_features={self.in_features}, num_classes={self.num_classes}, "
                f"bias={self.bias is not None}")


class CTCLoss(Module):
    """``torch.nn.CTCLoss``: :func:`fastnl.ctc_loss` as a module.

    ``loss(log_probs, targets, input_lengths, target_lengths)`` runs the
    function; :meth:`backward` returns the gradient with respect to
    `log_probs`, :func:`fastnl.ctc_loss_backward`'s (bit for bit). As torch,
    the forward keeps its alpha recursion (N x T x (2 max(S) + 4) float64
    values), so that the backward runs only the beta recursion: a training
    step costs two recursions, not three as the two functions do. With Dask
    arrays the module calls the functions, lazily.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> loss = fastnl.nn.CTCLoss(reduction="sum")
    >>> lp = np.log(np.full((2, 1, 2), 0.5))
    >>> float(loss(lp, np.array([[1]]), [2], [1]))    # -log(3/4)
    0.2876820724517809
    >>> loss.backward()[:, 0]
    array([[ 0.16666667, -0.16666667],
           [ 0.16666667, -0.16666667]])
    """
    _args = ("blank", "reduction", "zero_infinity")

    def __init__(self, blank=0, reduction="mean", zero_infinity=False):
        super().__init__()
        self.blank, self.reduction, self.zero_infinity = blank, reduction, zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        operands = [operand(a) for a in (log_probs, targets, input_lengths, target_lengths)]
        if lazy(*operands):
            loss = F.ctc_loss(*operands, **self._kwargs())
            self._save(operands=operands, loss_shape=loss.shape, problem=None)
            return loss
        p = _ctc.ctc_problem(*operands, **self._kwargs())
        losses, saved = _ctc.sample_losses(p, keep=True)
        loss = _ctc.reduce_losses(losses, p.target_lengths, p.reduction, p.result, p.loss_shape)
        self._save(operands=operands, loss_shape=np.shape(loss), problem=p, alpha=saved)
        return loss

    def backward(self, grad_output=None):
        """Gradient with respect to the last `log_probs`; ``grad_output``
        defaults to 1 (ones of the loss's shape for ``reduction='none'``)."""
        saved = self._saved_tensors()
        if grad_output is None:
            grad_output = ones(saved["loss_shape"], saved["operands"][0])
        p = saved["problem"]
        if p is None or lazy(grad_output):
            return F.ctc_loss_backward(*saved["operands"], **self._kwargs(),
                                       grad_output=grad_output)
        gr = _ctc.sample_scales(p, grad_output, p.view.shape[1])
        return _ctc.gradient(p, gr, None, saved["alpha"])
