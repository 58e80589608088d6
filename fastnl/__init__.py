"""fastnl: PyTorch's activations and losses on NumPy arrays, in compiled kernels."""

from fastnl._version import __version__

try:
    from fastnl._kernels import _build  # noqa: F401  (the compiled kernels)
except ImportError as error:  # a source checkout that was never built, or another Python's build
    raise ImportError(
        "fastnl's compiled kernels (fastnl/_kernels/*.so) are missing or were built for "
        "another Python. From a source checkout, build them in place with "
        "`python setup.py build_ext --inplace` (needs Cython, NumPy and a C compiler), "
        f"or install with `pip install .`. ({error})") from error
from fastnl._config import get_num_threads, set_num_threads, num_threads, show_config
from fastnl._output_cache import (
    set_output_cache_limit, get_output_cache_limit, release_output_cache,
)
from fastnl.activations import *  # noqa: F403  (the activations and their _backward)
from fastnl import activations as _activations
from fastnl import nn, sampling, ufunc  # noqa: F401  (fastnl.nn.ReLU, fastnl.ufunc.gelu, ...)
from fastnl.along_axis import (
    softmax, log_softmax, softmin, softmax_backward, log_softmax_backward, softmin_backward,
    logsumexp, logsumexp_backward, glu, glu_backward, gumbel_softmax, gumbel_softmax_backward,
    one_hot,
)
from fastnl.losses import (
    mse_loss, l1_loss, smooth_l1_loss, huber_loss, nll_loss, cross_entropy, kl_div,
    binary_cross_entropy, binary_cross_entropy_with_logits,
    mse_loss_backward, l1_loss_backward, smooth_l1_loss_backward, huber_loss_backward,
    nll_loss_backward, cross_entropy_backward, kl_div_backward, binary_cross_entropy_backward,
    binary_cross_entropy_with_logits_backward, linear_cross_entropy,
    linear_cross_entropy_backward, ctc_loss, ctc_loss_backward,
)
from fastnl.losses import (  # the likelihood and margin losses (issue 15)
    poisson_nll_loss, gaussian_nll_loss, soft_margin_loss, margin_ranking_loss,
    hinge_embedding_loss, poisson_nll_loss_backward, gaussian_nll_loss_backward,
    soft_margin_loss_backward, margin_ranking_loss_backward, hinge_embedding_loss_backward,
    multilabel_soft_margin_loss, multilabel_soft_margin_loss_backward,
    cosine_embedding_loss, cosine_embedding_loss_backward, triplet_margin_loss,
    triplet_margin_loss_backward, multi_margin_loss, multi_margin_loss_backward,
    multilabel_margin_loss, multilabel_margin_loss_backward,
)

__all__ = [
    "__version__", "get_num_threads", "set_num_threads", "num_threads", "show_config",
    "set_output_cache_limit", "get_output_cache_limit", "release_output_cache",
    *_activations.__all__,
    "softmax", "log_softmax", "softmin",
    "softmax_backward", "log_softmax_backward", "softmin_backward",
    "logsumexp", "logsumexp_backward", "glu", "glu_backward",
    "gumbel_softmax", "gumbel_softmax_backward", "one_hot",
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
    "kl_div", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "mse_loss_backward", "l1_loss_backward", "smooth_l1_loss_backward", "huber_loss_backward",
    "nll_loss_backward", "cross_entropy_backward", "kl_div_backward",
    "binary_cross_entropy_backward", "binary_cross_entropy_with_logits_backward",
    "linear_cross_entropy", "linear_cross_entropy_backward", "ctc_loss", "ctc_loss_backward",
    "poisson_nll_loss", "gaussian_nll_loss", "soft_margin_loss", "margin_ranking_loss",
    "hinge_embedding_loss", "poisson_nll_loss_backward", "gaussian_nll_loss_backward",
    "soft_margin_loss_backward", "margin_ranking_loss_backward",
    "hinge_embedding_loss_backward", "multilabel_soft_margin_loss",
    "multilabel_soft_margin_loss_backward", "cosine_embedding_loss",
    "cosine_embedding_loss_backward", "triplet_margin_loss", "triplet_margin_loss_backward",
    "multi_margin_loss", "multi_margin_loss_backward", "multilabel_margin_loss",
    "multilabel_margin_loss_backward",
]
