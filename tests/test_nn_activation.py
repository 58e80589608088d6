"""fastnl.nn activation modules against torch.nn: constructor defaults,
forward, backward, parameter gradients, modes."""

import numpy as np
import pytest

import fastnl
from fastnl import nn

# (class name, constructor arguments) covering every class and its parameters.
MODULES = [
    ("ReLU", {}), ("ReLU6", {}), ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}),
    ("ELU", {"alpha": 0.5}), ("CELU", {"alpha": 2.0}), ("SELU", {}),
    ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("Softplus", {"beta": 2.0, "threshold": 5.0}),
    ("Sigmoid", {}), ("Tanh", {}), ("Softsign", {}), ("Hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("Threshold", {"threshold": 0.1, "value": 20.0}), ("Tanhshrink", {}),
    ("Softshrink", {"lambd": 0.3}), ("Hardshrink", {}), ("LogSigmoid", {}), ("SiLU", {}),
    ("Mish", {}), ("Hardsigmoid", {}), ("Hardswish", {}), ("RReLU", {"lower": 0.1, "upper": 0.3}),
]


@pytest.mark.parametrize("name, kwargs", MODULES, ids=[m[0] for m in MODULES])
def test_module_matches_torch(name, kwargs, torch, rng):
    """Wiring: the module gives exactly the functional form's numbers, and
    torch.nn's to 1e-6 (the functional forms' own parity with torch is tested
    to a few ulp in test_activations/test_activation_gradients; a wrong
    default or argument moves results by far more than 1e-6)."""
    x = rng.standard_normal((4, 5, 6)) * 3
    g = rng.standard_normal(x.shape)
    ours = getattr(nn, name)(**kwargs).eval()
    theirs = getattr(torch.nn, name)(**kwargs).eval()
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = theirs(xt)
    yt.backward(torch.from_numpy(g))
    y, grad_x = ours(x), ours.backward(g)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-6, atol=1e-9)
    function = ours._function if name != "RReLU" else "rrelu"
    kw = {} if name == "RReLU" else ours._kwargs()
    np.testing.assert_array_equal(y, getattr(fastnl, function)(x, **kwargs if name == "RReLU" else kw))
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
