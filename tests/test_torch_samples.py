"""torch's own sample inputs through fastnl.

torch's test suite describes every operator by an ``OpInfo`` whose sample
inputs (0-d, empty, batched and K-dimensional arrays, and the combinations of
arguments its own tests exercise) its tests run on. Every fastnl function that
torch has an OpInfo for runs here on each float32 and float64 sample (int64 for
one_hot), and must
give torch's result, shape and dtype; the elementwise activations' gradients
are compared with torch's autograd on the same samples. The few places where
fastnl deliberately differs are listed in `_translate`, each with its reason.
"""

import numpy as np
import pytest

import fastnl

# torch's warning on its samples that pass `options` where its chunked path does
# not apply, and kl_div's on reduction='mean' (torch's and fastnl's)
pytestmark = [pytest.mark.filterwarnings("ignore:linear_cross_entropy. ``options`` ignored"),
              pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")]

# OpInfo name (variant after a dot) -> fastnl's function
OPS = {
    **{f"nn.functional.{name}": name for name in [
        "relu", "relu6", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus",
        "softsign", "tanhshrink", "softshrink", "hardshrink", "hardtanh", "hardsigmoid",
        "hardswish", "leaky_relu", "logsigmoid", "prelu", "rrelu", "threshold",
        "softmin", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss",
        "cross_entropy", "kl_div", "binary_cross_entropy", "binary_cross_entropy_with_logits",
        "linear_cross_entropy", "glu", "one_hot", "ctc_loss", "poisson_nll_loss",
        "gaussian_nll_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
        "multi_margin_loss", "multilabel_margin_loss", "margin_ranking_loss",
        "hinge_embedding_loss", "cosine_embedding_loss", "triplet_margin_loss"]},
    "nn.functional.softmin.with_dtype": "softmin",
    "nn.functional.linear_cross_entropy.chunked": "linear_cross_entropy",
    "nn.functional.linear_cross_entropy.chunked_none": "linear_cross_entropy",
    "sigmoid": "sigmoid", "tanh": "tanh", "logsumexp": "logsumexp",
    "softmax": "softmax", "softmax.with_dtype": "softmax",
    "log_softmax": "log_softmax", "log_softmax.with_dtype": "log_softmax",
}
# ops whose samples are integer (torch's one_hot takes int64 only)
INTEGER_OPS = {"nn.functional.one_hot"}
CASES = [(name, dtype) for name in sorted(OPS)
         for dtype in (["int64"] if name in INTEGER_OPS else ["float32", "float64"])]
# the elementwise activations: their gradients against autograd too
ELEMENTWISE = {"relu", "relu6", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus",
               "softsign", "tanhshrink", "softshrink", "hardshrink", "hardtanh", "hardsigmoid",
               "hardswish", "leaky_relu", "logsigmoid", "threshold", "sigmoid", "tanh"}


@pytest.fixture(scope="module")
def op_db(torch):
    # torch.testing._internal needs expecttest (in the test extra)
    from torch.testing._internal.common_methods_invocations import op_db
    return {op.name + (f".{op.variant_test_name}" if op.variant_test_name else ""): op
            for op in op_db}


def test_every_op_is_in_torch(op_db):
    """The table names OpInfos that exist (a rename in torch would silently
    drop its samples otherwise) and fastnl functions that exist."""
    assert sorted(set(OPS) - set(op_db)) == []
    assert [name for name in OPS.values() if not callable(getattr(fastnl, name, None))] == []


def _numpy(value, torch):
    """A sample's argument as fastnl takes it: tensors as arrays, torch dtypes
    as NumPy's, containers element by element."""
    if isinstance(value, torch.Tensor):
        return value.detach().numpy().copy()
    if isinstance(value, torch.dtype):
        return torch.empty((), dtype=value).numpy().dtype
    if isinstance(value, (list, tuple)):
        return type(value)(_numpy(v, torch) for v in value)
    if isinstance(value, dict):
        return {k: _numpy(v, torch) for k, v in value.items()}
    return value


def _translate(name, args, kwargs):
    """fastnl's call for a torch sample, or the exception fastnl raises by
    design. Returns (args, kwargs, expected exception or None)."""
    if name == "linear_cross_entropy":
        # torch's `options` chunks the batch; fastnl always walks class blocks,
        # sized by chunk_size, so the option has no twin (same numbers)
        kwargs.pop("options", None)
    if name == "hardshrink" and kwargs.get("lambd", 0.5) < 0:
        # a negative lambd makes torch's zero band empty (the identity); fastnl
        # refuses it as an invalid parameter, as softshrink's
        return args, kwargs, ValueError
    return args, kwargs, None


def _samples(op, dtype, torch, requires_grad=False):
    return list(op.sample_inputs("cpu", getattr(torch, dtype), requires_grad=requires_grad))


def _assert_like(got, want, torch):
    got = np.asarray(got)
    assert got.shape == tuple(want.shape)
    assert got.dtype == want.detach().numpy().dtype
    torch.testing.assert_close(torch.from_numpy(got.copy()), want.detach(), equal_nan=True)


@pytest.mark.parametrize("opname, dtype", CASES)
def test_forward_on_torch_samples(opname, dtype, op_db, torch):
    op, name = op_db[opname], OPS[opname]
    samples = _samples(op, dtype, torch)
    assert samples, f"no {dtype} samples of {opname}"
    for sample in samples:
        torch.manual_seed(0)
        want = op(sample.input, *sample.args, **sample.kwargs)
        args, kwargs, refused = _translate(name, _numpy(list(sample.args), torch),
                                           _numpy(dict(sample.kwargs), torch))
        x = _numpy(sample.input, torch)
        if refused:
            with pytest.raises(refused):
                getattr(fastnl, name)(x, *args, **kwargs)
            continue
        got = getattr(fastnl, name)(x, *args, **kwargs)
        if name == "rrelu" and kwargs.get("training"):
            # random slopes: x where x >= 0, else x times a slope in [lower, upper]
            lower, upper = kwargs.get("lower", 1 / 8), kwargs.get("upper", 1 / 3)
            neg = x < 0
            np.testing.assert_array_equal(got[~neg], x[~neg])
            slope = got[neg] / x[neg]
            assert np.all((slope >= np.float32(lower)) & (slope <= np.float32(upper)))
            continue
        _assert_like(got, want, torch)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opname", sorted(o for o, n in OPS.items() if n in ELEMENTWISE))
def test_gradient_on_torch_samples(opname, dtype, op_db, torch):
    op, name = op_db[opname], OPS[opname]
    for sample in _samples(op, dtype, torch, requires_grad=True):
        args, kwargs, refused = _translate(name, _numpy(list(sample.args), torch),
                                           _numpy(dict(sample.kwargs), torch))
        if refused or kwargs.pop("inplace", False):
            continue
        out = op(sample.input, *sample.args, **sample.kwargs)
        g = torch.linspace(-2, 3, out.numel(), dtype=out.dtype).reshape(out.shape)
        out.backward(g)
        got = getattr(fastnl, f"{name}_backward")(g.numpy(), _numpy(sample.input, torch),
                                                  *args, **kwargs)
        _assert_like(got, sample.input.grad, torch)
