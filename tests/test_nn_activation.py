"""fastnl.nn activation modules against torch.nn: constructor defaults,
forward, backward, parameter gradients, modes."""

import inspect

import numpy as np
import pytest

import fastnl
import fastnl.nn.activation
from fastnl import nn

# (class name, constructor arguments, functional form, the functional form's
# arguments written out): every class, each with its constructor defaults
# (no arguments) and with other values. The written-out arguments are
# torch.nn's defaults where the constructor gets none, so a wrong default
# or a misrouted argument shows as a different result.
MODULES = [
    ("ReLU", {}, "relu", {}),
    ("ReLU6", {}, "relu6", {}),
    ("LeakyReLU", {}, "leaky_relu", {"negative_slope": 0.01}),
    ("LeakyReLU", {"negative_slope": 0.2}, "leaky_relu", {"negative_slope": 0.2}),
    ("ELU", {}, "elu", {"alpha": 1.0}),
    ("ELU", {"alpha": 0.5}, "elu", {"alpha": 0.5}),
    ("CELU", {}, "celu", {"alpha": 1.0}),
    ("CELU", {"alpha": 2.0}, "celu", {"alpha": 2.0}),
    ("SELU", {}, "selu", {}),
    ("GELU", {}, "gelu", {"approximate": "none"}),
    ("GELU", {"approximate": "tanh"}, "gelu", {"approximate": "tanh"}),
    ("Softplus", {}, "softplus", {"beta": 1.0, "threshold": 20.0}),
    ("Softplus", {"beta": 2.0, "threshold": 5.0}, "softplus", {"beta": 2.0, "threshold": 5.0}),
    ("Sigmoid", {}, "sigmoid", {}),
    ("Tanh", {}, "tanh", {}),
    ("Softsign", {}, "softsign", {}),
    ("Hardtanh", {}, "hardtanh", {"min_val": -1.0, "max_val": 1.0}),
    ("Hardtanh", {"min_val": -2.0, "max_val": 0.5}, "hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("Threshold", {"threshold": 0.1, "value": 20.0}, "threshold",
     {"threshold": 0.1, "value": 20.0}),
    ("Tanhshrink", {}, "tanhshrink", {}),
    ("Softshrink", {}, "softshrink", {"lambd": 0.5}),
    ("Softshrink", {"lambd": 0.3}, "softshrink", {"lambd": 0.3}),
    ("Hardshrink", {}, "hardshrink", {"lambd": 0.5}),
    ("Hardshrink", {"lambd": 1.5}, "hardshrink", {"lambd": 1.5}),
    ("LogSigmoid", {}, "logsigmoid", {}),
    ("SiLU", {}, "silu", {}),
    ("Mish", {}, "mish", {}),
    ("Hardsigmoid", {}, "hardsigmoid", {}),
    ("Hardswish", {}, "hardswish", {}),
    # evaluation mode (set by the tests): the slope (lower + upper) / 2
    ("RReLU", {}, "rrelu", {"lower": 1 / 8, "upper": 1 / 3, "training": False}),
    ("RReLU", {"lower": 0.1, "upper": 0.3}, "rrelu",
     {"lower": 0.1, "upper": 0.3, "training": False}),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(MODULES)]


def _sample(rng, dtype):
    """Random values and a grid over [-25, 25]: beyond every default cut-off
    (softplus's threshold 20, hardtanh's +-1, the shrinks' 0.5)."""
    x = np.concatenate([rng.standard_normal(60) * 3, np.linspace(-25, 25, 61)])
    return x.reshape(11, 11).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, kwargs, function, arguments", MODULES, ids=IDS)
def test_module_is_its_function(name, kwargs, function, arguments, dtype, rng):
    """Forward and backward are the functional form's, bit for bit, with the
    arguments written out (not the module's own view of them), in the
    input's dtype."""
    x, g = _sample(rng, dtype), rng.standard_normal((11, 11)).astype(dtype)
    module = getattr(nn, name)(**kwargs).eval()
    y, grad_x = module(x), module.backward(g)
    assert y.dtype == dtype and grad_x.dtype == dtype
    np.testing.assert_array_equal(y, getattr(fastnl, function)(x, **arguments))
    np.testing.assert_array_equal(grad_x, getattr(fastnl, f"{function}_backward")(g, x, **arguments))


def test_prelu_module_defaults_are_its_function(rng):
    x, g = _sample(rng, np.float32), rng.standard_normal((11, 11)).astype(np.float32)
    module = nn.PReLU()
    weight = np.array([0.25], np.float32)  # torch: one slope of 0.25, float32
    np.testing.assert_array_equal(module.weight, weight)
    assert module.weight.dtype == np.float32
    y, grad_x = module(x), module.backward(g)
    assert y.dtype == grad_x.dtype == np.float32
    np.testing.assert_array_equal(y, fastnl.prelu(x, weight))
    expected_x, expected_w = fastnl.prelu_backward(g, x, weight)
    np.testing.assert_array_equal(grad_x, expected_x)
    np.testing.assert_array_equal(module.weight_grad, expected_w)


# the classes with a torch.nn twin (the table says which)
TORCH_CLASSES = [a.module for a in fastnl._ops.ACTIVATIONS if a.torch]


@pytest.mark.parametrize("name", TORCH_CLASSES)
def test_constructor_signature_as_torch(name, torch):
    """The same constructor arguments and defaults as torch.nn, apart from
    the differences listed here (each with its reason)."""
    ours = inspect.signature(getattr(nn, name).__init__).parameters
    theirs = inspect.signature(getattr(torch.nn, name).__init__).parameters
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    # torch's classes without arguments inherit Module(*args, **kwargs);
    # Hardtanh's min_value/max_value are deprecated aliases; device means
    # nothing on NumPy arrays
    dropped = {"self", "min_value", "max_value", "device"}
    theirs = {k: p.default for k, p in theirs.items() if k not in dropped and p.kind not in variadic}
    ours = {k: p.default for k, p in ours.items() if k != "self"}
    extra = {"RReLU": {"rng"}}.get(name, set())  # where the random slopes come from
    assert set(ours) - extra == set(theirs)
    for arg in theirs:
        if name == "PReLU" and arg == "dtype":
            # torch's None is its default dtype, float32: ours says so
            assert theirs[arg] is None and ours[arg] == np.float32
            assert getattr(torch.nn, name)().weight.dtype == torch.float32
        else:
            assert ours[arg] == theirs[arg], arg


@pytest.mark.parametrize("name, kwargs, function, arguments", MODULES, ids=IDS)
def test_module_matches_torch(name, kwargs, function, arguments, torch, rng):
    """Wiring: torch.nn's numbers to 1e-6 (the functional forms' own parity
    with torch is tested to a few ulp in test_activations and
    test_activation_gradients; a wrong default or argument moves results by
    far more than 1e-6), in torch's dtype."""
    x = _sample(rng, np.float64)
    g = rng.standard_normal(x.shape)
    ours = getattr(nn, name)(**kwargs).eval()
    theirs = getattr(torch.nn, name)(**kwargs).eval()
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = theirs(xt)
    yt.backward(torch.from_numpy(g))
    y, grad_x = ours(x), ours.backward(g)
    assert y.dtype == grad_x.dtype == np.float64 and yt.dtype == torch.float64
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-6, atol=1e-9)
    assert repr(ours).startswith(f"{name}(")


@pytest.mark.parametrize("num_parameters", [1, 5])
def test_prelu_module_matches_torch(num_parameters, torch, rng):
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    ours, theirs = nn.PReLU(num_parameters, init=0.1), torch.nn.PReLU(num_parameters, init=0.1)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    for _ in range(2):  # gradients accumulate, as torch's .grad
        yt = theirs(xt)
        yt.backward(torch.from_numpy(g))
        y = ours(x)
        grad_x = ours.backward(g)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(grad_x, torch.from_numpy(g).numpy() * np.where(x > 0, 1, 0.1), rtol=1e-6)
    np.testing.assert_allclose(ours.weight_grad, theirs.weight.grad.numpy(), rtol=1e-5)
    assert ours.weight.dtype == np.float32 and ours.weight_grad.shape == (num_parameters,)
    ours.zero_grad()
    assert ours.weight_grad is None
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(ours.state_dict()["weight"], theirs.weight.detach().numpy())


def test_rrelu_module_training_uses_its_slopes():
    m = nn.RReLU(0.1, 0.3, rng=0)
    assert m.training
    x = np.array([-1.0, -2.0, 3.0])
    y = m(x)
    slopes = y / x
    assert np.all((slopes[:2] >= 0.1) & (slopes[:2] <= 0.3)) and slopes[2] == 1
    np.testing.assert_array_equal(m.backward(), slopes)
    m.eval()
    np.testing.assert_allclose(m(x), [-0.2, -0.4, 3.0])
    np.testing.assert_allclose(m.backward(), [0.2, 0.2, 1.0])


def test_inplace_overwrites_input_and_still_has_the_gradient():
    x = np.array([-1.0, 2.0])
    m = nn.ReLU(inplace=True)
    y = m(x)
    assert y is x and x.tolist() == [0.0, 2.0]
    np.testing.assert_array_equal(m.backward(np.array([5.0, 5.0])), [0.0, 5.0])
    assert repr(m) == "ReLU(inplace=True)"


def test_backward_before_forward_and_modes():
    m = nn.Tanh()
    with pytest.raises(RuntimeError, match="before forward"):
        m.backward()
    assert m.eval() is m and not m.training and m.train().training


def test_invalid_parameters_surface_at_call():
    with pytest.raises(ValueError):
        nn.Softshrink(-1.0)(np.ones(2))
    with pytest.raises(ValueError):
        nn.PReLU(0)
