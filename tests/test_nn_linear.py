"""nn.Linear and nn.Sequential against torch.nn's: a torch MLP's state_dict
loads into the fastnl one, and forward, loss, backward and an SGD update give
torch's numbers; Linear's init, layout and gradients; the container's
parameters, modes, state_dict and repr."""

import inspect
from collections import OrderedDict

import numpy as np
import pytest

import fastnl
from fastnl import nn
from test_gradients_axis_losses import _assert_gradient


def _numpy_state(torch_module):
    return {k: v.detach().numpy().copy() for k, v in torch_module.state_dict().items()}


def _close(got, expected, dtype, rtol_eps=16):
    """float32 MLP steps: the matrix products of NumPy's BLAS and torch's
    (MKL / OpenBLAS) add in different orders, so a few float32 roundings per
    product apart: 16 eps relative to the largest value of the array
    (absolute), as a sum's error scales with it."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == dtype and got.shape == expected.shape
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got, expected, rtol=0,
                               atol=rtol_eps * eps * np.max(np.abs(expected), initial=1))


def _mlp_pair(torch, hidden=(32, 16), n_in=20, n_out=7, dtype=np.float32):
    """A torch MLP (Linear, GELU, Linear, Tanh, Linear) and the fastnl one
    holding its parameters."""
    torch.manual_seed(0)
    layers, ours = [], []
    sizes = (n_in, *hidden, n_out)
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        ours.append(nn.Linear(a, b, rng=i, dtype=dtype))
        if i < len(hidden):
            activation = "GELU" if i % 2 == 0 else "Tanh"
            layers.append(getattr(torch.nn, activation)())
            ours.append(getattr(nn, activation)())
    theirs = torch.nn.Sequential(*layers)
    if dtype == np.float64:
        theirs = theirs.double()
    model = nn.Sequential(*ours)
    model.load_state_dict(_numpy_state(theirs))
    return theirs, model


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_training_step_gives_torchs_numbers(dtype, rng, torch):
    """The acceptance test of issue #15: torch's state_dict loads, and a
    training step (forward, cross-entropy, backward, SGD update of every
    parameter) gives torch's loss, gradients and new parameters; then a
    second step from the updated parameters, with the gradients zeroed."""
    theirs, model = _mlp_pair(torch, dtype=dtype)
    assert list(model.state_dict()) == list(theirs.state_dict())
    loss_fn, their_loss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for step in range(2):
        x = rng.standard_normal((64, 20)).astype(dtype)
        target = rng.integers(0, 7, 64)
        # torch
        optimizer.zero_grad()
        xt = torch.from_numpy(x).requires_grad_(True)
        their_loss = their_loss_fn(theirs(xt), torch.from_numpy(target))
        their_loss.backward()
        their_grads = {name: p.grad.numpy().copy() for name, p in theirs.named_parameters()}
        optimizer.step()
        # fastnl, line by line
        model.zero_grad()
        loss = loss_fn(model(x), target)
        grad_x = model.backward(loss_fn.backward())
        for name, parameter, grad in model.named_parameters():
            parameter -= 0.1 * grad
        _close(loss, their_loss.item(), dtype)
        _close(grad_x, xt.grad.numpy(), dtype)
        for name, _, grad in model.named_parameters():
            _close(grad, their_grads[name], dtype)
        for name, value in model.state_dict().items():
            _close(value, theirs.state_dict()[name].numpy(), dtype)


def test_parameters_and_gradients_as_torch_names_them(torch):
    theirs, model = _mlp_pair(torch)
    assert [n for n, _, _ in model.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert all(g is None for _, _, g in model.named_parameters())
    assert len(model.parameters()) == len(list(theirs.parameters()))
    assert model.parameters()[0] is model[0].weight  # the module's own arrays
    # gradients accumulate over backward calls until zero_grad, as torch's .grad
    x = np.ones((3, 20), np.float32)
    model(x)
    model.backward()
    first = {n: g.copy() for n, _, g in model.named_parameters()}
    model(x)
    model.backward()
    for name, _, grad in model.named_parameters():
        np.testing.assert_allclose(grad, 2 * first[name], rtol=1e-6)
    model.zero_grad()
    assert all(g is None for _, _, g in model.named_parameters())


def test_repr_len_index_and_iteration(torch):
    theirs, model = _mlp_pair(torch)
    assert repr(model) == repr(theirs)
    assert len(model) == len(theirs) == 5
    assert isinstance(model[1], nn.GELU) and isinstance(model[-1], nn.Linear)
    assert [type(m).__name__ for m in model] == [type(m).__name__ for m in theirs]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is model[0]
    named = nn.Sequential(OrderedDict([("hidden", nn.Linear(2, 3, rng=0)),
                                       ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["hidden.weight", "hidden.bias"]
    assert repr(named) == repr(torch.nn.Sequential(OrderedDict(
        [("hidden", torch.nn.Linear(2, 3)), ("act", torch.nn.ReLU())])))
    assert repr(nn.Sequential()) == repr(torch.nn.Sequential())
    with pytest.raises(TypeError, match="not a fastnl.nn.Module"):
        nn.Sequential(lambda x: x)
    grown = nn.Sequential(nn.Linear(2, 3, rng=0)).append(nn.ReLU()).append(nn.Linear(3, 1))
    assert [n for n, _, _ in grown.named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                           "2.bias"]
    with pytest.raises(TypeError, match="not a fastnl.nn.Module"):
        grown.append(np.ones(2))


def test_train_and_eval_reach_every_module():
    """RReLU's slopes are random in training only: eval() passes down."""
    model = nn.Sequential(nn.Linear(4, 4, rng=0), nn.RReLU(rng=0), nn.Linear(4, 2, rng=1))
    assert all(m.training for m in model)
    x = -np.abs(np.random.default_rng(1).standard_normal((8, 4))).astype(np.float32)
    model.eval()
    assert not model.training and not any(m.training for m in model)
    assert np.array_equal(model(x), model(x))
    model.train()
    assert model.training and all(m.training for m in model)


def test_load_state_dict_checks_keys_and_shapes(torch):
    theirs, model = _mlp_pair(torch)
    state = _numpy_state(theirs)
    del state["2.bias"]
    with pytest.raises(KeyError, match=r"missing \['2.bias'\]"):
        model.load_state_dict(state)
    state = _numpy_state(theirs)
    state["9.weight"] = state.pop("4.weight")
    with pytest.raises(KeyError, match=r"missing \['4.weight'\], unexpected \['9.weight'\]"):
        model.load_state_dict(state)
    state = _numpy_state(theirs)
    state["0.weight"] = state["0.weight"][:, :3]
    with pytest.raises(ValueError, match=r"weight: shape \(32, 3\) in state_dict"):
        model.load_state_dict(state)
    # loading copies: changing the source later does not reach the model
    state = _numpy_state(theirs)
    model.load_state_dict(state)
    state["0.bias"][:] = 7
    assert not np.any(model[0].bias == 7)


# ---------------------------------------------------------------- Linear

def test_linear_signature_layout_and_init(torch):
    ours = inspect.signature(nn.Linear).parameters
    theirs = inspect.signature(torch.nn.Linear).parameters
    for name in ("in_features", "out_features", "bias"):
        assert ours[name].default == theirs[name].default
    layer, twin = nn.Linear(300, 40, rng=0), torch.nn.Linear(300, 40)
    assert repr(layer) == repr(twin)
    assert layer.weight.shape == tuple(twin.weight.shape) and layer.weight.dtype == np.float32
    assert list(layer.state_dict()) == list(twin.state_dict())
    # torch's U(-1/sqrt(300), 1/sqrt(300)) for both: the bound is reached within
    # 1% over 12000 draws and never passed; the mean is near 0
    bound = 1 / np.sqrt(300)
    for p in (layer.weight, layer.bias):
        assert np.max(np.abs(p)) <= bound
    assert np.max(np.abs(layer.weight)) > 0.99 * bound
    assert abs(layer.weight.mean()) < 0.1 * bound  # its standard error: 0.005 bound
    assert np.array_equal(nn.Linear(300, 40, rng=0).weight, layer.weight)  # seeded
    assert nn.Linear(3, 2, bias=False, rng=0).state_dict().keys() == {"weight"}
    assert nn.Linear(3, 2, rng=0, dtype=np.float64).weight.dtype == np.float64


@pytest.mark.parametrize("shape", [(5, 6), (2, 3, 6), (6,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_against_torch(shape, bias, rng, torch):
    twin = torch.nn.Linear(6, 4, bias=bias)
    layer = nn.Linear(6, 4, bias=bias, rng=0)
    layer.load_state_dict(_numpy_state(twin))
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape[:-1] + (4,)).astype(np.float32)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = twin(xt)
    yt.backward(torch.from_numpy(g))
    _close(layer(x), yt.detach().numpy(), np.float32)
    _close(layer.backward(g), xt.grad.numpy(), np.float32)
    _close(layer.weight_grad, twin.weight.grad.numpy(), np.float32)
    if bias:
        _close(layer.bias_grad, twin.bias.grad.numpy(), np.float32)
    else:
        assert layer.bias is None and layer.bias_grad is None


def test_linear_against_finite_differences(rng):
    """float64, L = sum(g * layer(x)) is linear in x, W and b: central
    differences are exact up to rounding (|L| < 100: 1e-7 absolute)."""
    layer = nn.Linear(5, 3, rng=0, dtype=np.float64)
    x, g = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    W, b = layer.weight.copy(), layer.bias.copy()
    layer(x)
    grad_x = layer.backward(g)
    _assert_gradient(grad_x, lambda z: np.sum(g * (z @ W.T + b)), x, rng, 1e-7)
    _assert_gradient(layer.weight_grad, lambda w: np.sum(g * (x @ w.T + b)), W, rng, 1e-7)
    _assert_gradient(layer.bias_grad, lambda c: np.sum(g * (x @ W.T + c)), b, rng, 1e-7)


def test_linear_backward_uses_the_forwards_parameters(rng):
    """An SGD update between forward and backward does not change the
    gradient (torch would refuse the in-place change; the module kept them)."""
    layer = nn.Linear(3, 2, rng=0, dtype=np.float64)
    x = rng.standard_normal((4, 3))
    layer(x)
    expected = np.ones((4, 2)) @ layer.weight
    layer.weight = layer.weight * 2  # a new array, as load_state_dict makes
    np.testing.assert_array_equal(layer.backward(), expected)


def test_linear_errors_and_dtypes(rng, bf16):
    layer = nn.Linear(3, 2, rng=0)
    with pytest.raises(ValueError, match=r"input of shape \(4, 5\) does not end with "
                                         r"in_features = 3"):
        layer(np.ones((4, 5)))
    with pytest.raises(ValueError, match="does not end"):
        layer(np.float32(1))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Linear(3, 2).backward()
    layer(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad_output has shape \(4, 3\)"):
        layer.backward(np.ones((4, 3)))
    with pytest.raises(ValueError, match="in_features must be >= 0, got -1"):
        nn.Linear(-1, 2)
    for bad in (2.5, "3"):
        with pytest.raises(TypeError, match="out_features must be an integer"):
            nn.Linear(2, bad)
    # float64 input promotes with the float32 weight, as NumPy's matmul would;
    # float16 and bfloat16 compute in float32, as LinearCrossEntropy's
    assert layer(np.ones((1, 3))).dtype == np.float64
    for half in (np.float16, bf16):
        y = layer(np.ones((2, 3), half))
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, layer(np.ones((2, 3), np.float32)))
        assert layer.backward().dtype == np.float32


def test_linear_refuses_dask_arrays():
    da = pytest.importorskip("dask.array")
    with pytest.raises(NotImplementedError, match="weight_grad"):
        nn.Linear(3, 2, rng=0)(da.ones((4, 3), chunks=2))


def test_sequential_of_bfloat16_activations(bf16):
    """bfloat16 through a chain: GLU and GELU keep it, Linear computes in
    float32; back through the chain the gradient is float32 until glu's,
    which has its input's dtype (as torch's gradients have)."""
    model = nn.Sequential(nn.GLU(), nn.GELU(), nn.Linear(2, 3, rng=0))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(bf16)
    h = fastnl.gelu(fastnl.glu(x))
    assert h.dtype == bf16
    np.testing.assert_array_equal(model(x), model[2](h))
    assert model.backward().dtype == bf16
    assert model[1].backward(np.ones((5, 2), np.float32)).dtype == np.float32
