"""fastnl.nn's softmax-family and loss classes against torch.nn's: constructor
defaults, forward, backward, the legacy implicit dim, and the module contract."""

import inspect
import warnings

import numpy as np
import pytest

from fastnl.nn import along_axis as nn_axis
from fastnl.nn import loss as nn_loss

AXIS_CLASSES = ["Softmax", "LogSoftmax", "Softmin"]
LOSS_CLASSES = ["MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "NLLLoss",
                "CrossEntropyLoss", "KLDivLoss", "BCELoss", "BCEWithLogitsLoss"]


def _module(name):
    return getattr(nn_axis if name in AXIS_CLASSES else nn_loss, name)


def _close(got, expected, dtype):
    # the functional forms are checked in detail elsewhere; here the wiring:
    # same dtype as torch, a few roundings apart (16 eps relative, and 16 eps
    # of the largest value absolute for results near 0)
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == dtype and got.shape == expected.shape
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got, expected, rtol=16 * eps,
                               atol=16 * eps * np.max(np.abs(expected), initial=1))


@pytest.mark.parametrize("name", AXIS_CLASSES + LOSS_CLASSES)
def test_constructor_defaults_as_torch(name, torch):
    ours = inspect.signature(_module(name).__init__).parameters
    theirs = inspect.signature(getattr(torch.nn, name).__init__).parameters
    legacy = {"self", "size_average", "reduce"}  # torch's legacy arguments: not needed
    assert set(ours) - {"self"} == set(theirs) - legacy
    for arg in set(ours) - {"self"}:
        assert ours[arg].default == theirs[arg].default, arg


@pytest.mark.parametrize("name", AXIS_CLASSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, dim", [((5,), 0), ((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -2),
                                        ((2, 3, 4, 70), 1)])
def test_axis_modules_against_torch(name, dtype, shape, dim, rng, torch):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    ours, theirs = _module(name)(dim=dim), getattr(torch.nn, name)(dim=dim)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.from_numpy(g))
    _close(ours(x), yt.detach().numpy(), dtype)
    _close(ours.backward(g), xt.grad.numpy(), dtype)
    xt.grad = None
    theirs(xt).backward(torch.ones(shape, dtype=xt.dtype))
    _close(ours.backward(), xt.grad.numpy(), dtype)  # default grad_output: ones
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("name", AXIS_CLASSES)
@pytest.mark.parametrize("ndim", [0, 1, 2, 3, 4])
def test_axis_modules_implicit_dim_as_torch(name, ndim, rng, torch):
    """dim=None: torch's legacy choice (0 for 0-, 1- and 3-d input, else 1),
    with its UserWarning, pointing at the caller."""
    x = rng.standard_normal((3, 4, 2, 5)[:ndim])
    g = rng.standard_normal(x.shape)
    xt = torch.tensor(x, requires_grad=True)
    with pytest.warns(UserWarning, match="Implicit dimension choice") as record:
        yt = getattr(torch.nn, name)()(xt)
    yt.backward(torch.from_numpy(g))
    ours = _module(name)()
    with pytest.warns(UserWarning, match="Implicit dimension choice") as ours_record:
        y = ours(x)
    assert str(ours_record[0].message) == str(record[0].message)
    assert ours_record[0].filename == __file__
    _close(y, yt.detach().numpy(), np.float64)
    _close(ours.backward(g), xt.grad.numpy(), np.float64)


def _loss_problem(name, rng, dtype):
    """(constructor arguments, input, target, loss shape for 'none') per class."""
    if name in ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"):
        y = rng.standard_normal((4, 5))
        x = y + rng.uniform(0.05, 2, (4, 5)) * rng.choice([-1, 1], (4, 5))  # off the kinks
        args = {"SmoothL1Loss": {"beta": 0.5}, "HuberLoss": {"delta": 0.7}}.get(name, {})
    elif name == "KLDivLoss":
        x, y = np.log(rng.uniform(0.05, 1, (4, 5))), rng.uniform(0, 1, (4, 5))
        args = {"log_target": False}
    elif name == "BCELoss":
        x, y = rng.uniform(0.05, 0.95, (4, 5)), rng.uniform(0, 1, (4, 5))
        args = {"weight": rng.uniform(0.2, 2, 5).astype(dtype)}
    elif name == "BCEWithLogitsLoss":
        x, y = rng.standard_normal((4, 5)) * 3, rng.uniform(0, 1, (4, 5))
        args = {"weight": rng.uniform(0.2, 2, (4, 1)).astype(dtype),
                "pos_weight": rng.uniform(0.5, 3, 5).astype(dtype)}
    else:  # NLLLoss, CrossEntropyLoss: (N, C, d) with an ignored row
        x = rng.standard_normal((4, 5, 3)) * 2
        y = rng.integers(0, 5, (4, 3))
        y[0, 1] = 2
        args = {"weight": rng.uniform(0.2, 2, 5).astype(dtype), "ignore_index": 2}
        if name == "CrossEntropyLoss":
            args["label_smoothing"] = 0.2
    return args, x.astype(dtype), (y.astype(dtype) if y.dtype.kind == "f" else y)


@pytest.mark.parametrize("name", LOSS_CLASSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_against_torch(name, dtype, reduction, rng, torch):
    args, x, y = _loss_problem(name, rng, dtype)
    ours = _module(name)(reduction=reduction, **args)
    theirs = getattr(torch.nn, name)(
        reduction=reduction,
        **{k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in args.items()})
    xt = torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KLDivLoss 'mean', both libraries
        lt = theirs(xt, torch.from_numpy(y))
        loss = ours(x, y)
    _close(loss, lt.detach().numpy(), dtype)
    g = rng.standard_normal(lt.shape).astype(dtype) if reduction == "none" else np.asarray(
        1.5, dtype)
    lt.backward(torch.from_numpy(g))
    _close(ours.backward(g), xt.grad.numpy(), dtype)
    # default grad_output: 1 (ones for 'none'), as torch's backward of sum(loss)
    xt.grad = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs(xt, torch.from_numpy(y)).sum().backward()
    _close(ours.backward(), xt.grad.numpy(), dtype)


def test_loss_module_batchmean_and_kl_warning(rng, torch):
    x, y = np.log(rng.uniform(0.05, 1, (4, 5))), rng.uniform(0, 1, (4, 5))
    m = nn_loss.KLDivLoss(reduction="batchmean")
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.KLDivLoss(reduction="batchmean")(xt, torch.from_numpy(y)).backward()
    m(x, y)
    _close(m.backward(), xt.grad.numpy(), np.float64)
    with pytest.warns(UserWarning, match="batchmean"):
        nn_loss.KLDivLoss()(x, y)


def test_module_contract(rng):
    for name in AXIS_CLASSES + LOSS_CLASSES:
        m = _module(name)(dim=0) if name in AXIS_CLASSES else _module(name)()
        with pytest.raises(RuntimeError, match="before forward"):
            m.backward()
    # forward and backward leave the input as it was
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    before = x.copy()
    m = nn_loss.MSELoss()
    m(x, y)
    m.backward()
    np.testing.assert_array_equal(x, before)
    # a bad grad_output shape is refused with both shapes
    m = nn_loss.MSELoss(reduction="none")
    m(x, y)
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(3, 4\)"):
        m.backward(np.ones((4, 3)))
    s = nn_axis.Softmax(dim=1)
    s(x)
    with pytest.raises(ValueError, match="shape"):
        s.backward(np.ones((4, 3)))
    # legacy positional arguments are refused rather than misread: torch's
    # second positional argument is size_average
    with pytest.raises(TypeError):
        nn_loss.CrossEntropyLoss(None, "sum")
    assert nn_loss.HuberLoss("sum", 2.0).delta == 2.0  # torch's HuberLoss has no legacy args
