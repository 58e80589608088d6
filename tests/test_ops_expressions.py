"""The baselines of the benchmarks, declared in fastnl/_ops.py, compute what
they claim: each row's ``numpy`` formula gives fastnl's forward in x's dtype,
and its ``torch_backward`` expression gives fastnl's ``<name>_backward`` and
what torch's autograd computes. (fastnl.bench times these expressions: a wrong
one would make its ratios compare fastnl with something else.)"""

import numpy as np
import pytest

import fastnl
from fastnl import _ops, bench

ROWS = [pytest.param(a, params, id=f"{a.name}-{i}")
        for a in _ops.ACTIVATIONS for i, params in enumerate(a.cases)]
TORCH_ROWS = [pytest.param(a, params, id=f"{a.name}-{i}")
              for a in _ops.ACTIVATIONS if a.torch for i, params in enumerate(a.cases)]
# both sides of 0, the kinks of every case (0.5, 1, 1.5, 3, 6, ...) and the tails
X = np.concatenate([np.linspace(-12, 12, 97), [-0.0, 1e-3, -1e-3]])


def _fastnl_kwargs(params):
    return {k: np.asarray(v) if isinstance(v, tuple) else v for k, v in params.items()}


def test_every_row_has_its_baselines():
    missing = [a.name for a in _ops.ACTIVATIONS
               if not (a.numpy and (a.torch_backward or a.torch is None))]
    assert not missing


def test_bench_cases_are_the_ufuncs():
    """One benchmark case per ufunc, with a setting that picks its kernel."""
    found = {c.name: c.params for c in bench.cases()}
    assert list(found) == [u.name for u in _ops.UFUNCS]
    assert found["gelu"] == {} and found["gelu_tanh"] == {"approximate": "tanh"}
    assert found["threshold"] == {"threshold": 0.5, "value": -3.0}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a, params", ROWS)
def test_numpy_formula(a, params, dtype):
    x = X.astype(dtype)
    with np.errstate(all="ignore"):
        got = bench.numpy_formula(a, params, x.dtype)(x)
    assert got.dtype == x.dtype
    expected = getattr(fastnl, a.name)(x, **_fastnl_kwargs(params))
    rtol, atol = (1e-5, 1e-6) if dtype == np.float32 else (1e-10, 1e-12)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a, params", TORCH_ROWS)
def test_torch_backward(torch, a, params, dtype):
    x = X.astype(dtype)
    g = np.random.default_rng(0).uniform(0.5, 2.0, x.size).astype(dtype)
    xt, gt = torch.from_numpy(x), torch.from_numpy(g)
    forward = bench.torch_forward(a, params, torch)
    got = bench.torch_backward(a, params, torch, xt)(gt, xt, forward(xt))
    assert got.dtype == xt.dtype
    # fastnl's gradient...
    expected = getattr(fastnl, f"{a.name}_backward")(g, x, **_fastnl_kwargs(params))
    if isinstance(expected, tuple):  # prelu: (grad_x, grad_weight)
        expected = expected[0]
    # the same function, not the same accuracy: torch's float64 hardsigmoid_backward
    # uses the float32 constant 1.0f / 6.0f, its float32 tanh_backward computes
    # 1 - y**2 where y rounds to 1 (g is about 1: atol is a few ulp of it)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=8 * np.finfo(dtype).eps)
    # ...and torch's own: the expression is what autograd runs
    leaf = xt.clone().requires_grad_(True)
    (autograd,) = torch.autograd.grad(forward(leaf), leaf, gt)
    np.testing.assert_allclose(got.numpy(), autograd.numpy(), rtol=4 * np.finfo(dtype).eps,
                               atol=0)


# the row-wise table's cases (fastnl.bench.rowwise_cases): on a small shape,
# fastnl's call, the NumPy formula and torch's call compute the same thing
ROWWISE = [pytest.param(c, id=f"{c.name}-axis{c.axis}") for c in bench.rowwise_cases()]
ROWWISE_NUMPY = [p for p in ROWWISE if p.values[0].numpy is not None]  # forward only


def test_rowwise_cases_are_the_matrix():
    """softmax, log_softmax, softmin along both axes, forward and backward,
    cross_entropy, nll_loss, cross_entropy forward + backward; names not
    shared with the elementwise cases (--ops takes both)."""
    found = [(c.name, c.axis) for c in bench.rowwise_cases()]
    family = [(f"{n}{s}", axis) for s in ("", "_backward") for n in bench.SOFTMAX_FAMILY
              for axis in (-1, 0)]
    assert found == family + [("cross_entropy", -1), ("nll_loss", -1),
                              ("cross_entropy+backward", -1), ("logsumexp", -1),
                              ("logsumexp", 0), ("logsumexp_backward", -1), ("glu", -1),
                              ("glu_backward", -1), ("gumbel_softmax", -1),
                              ("gumbel_softmax_backward", -1), ("one_hot", -1)]
    assert not {c.name for c in bench.rowwise_cases()} & {c.name for c in bench.cases()}


def _result(value):
    return np.asarray(value.detach().numpy() if hasattr(value, "detach") else value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ROWWISE_NUMPY)
def test_rowwise_numpy_formula(case, dtype):
    inp = bench.RowwiseInputs(dtype, "6x40")
    got, expected = case.numpy(inp)(), case.fastnl(inp, None)()
    if case.name == "one_hot":  # int64 as torch's, whatever the logits' dtype
        assert got.dtype == expected.dtype == np.int64 and np.array_equal(got, expected)
        return
    assert np.asarray(got).dtype == dtype
    if case.name == "gumbel_softmax":  # the same seed and recipe: the same draws
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 if dtype == np.float32
                                   else 1e-12)
        return
    np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ROWWISE)
def test_rowwise_torch_call(torch, case, dtype):
    inp = bench.RowwiseInputs(dtype, "6x40")
    expected = case.fastnl(inp, None)()
    got = _result(case.torch(torch, inp)())
    if case.name == "one_hot":
        assert got.dtype == np.int64 and np.array_equal(got, expected)
        return
    assert got.dtype == dtype
    if case.name == "gumbel_softmax":  # two random samples: distributions along the rows
        for sample in (got, expected):
            assert sample.shape == inp.x.shape and np.all(sample >= 0)
            np.testing.assert_allclose(sample.sum(axis=-1), 1, rtol=1e-5)
        return
    np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=8 * np.finfo(dtype).eps)
    # with out=, fastnl's call writes into it (and returns it)
    out = np.empty_like(inp.x)
    written = case.fastnl(inp, out)()
    if case.out and np.ndim(written):
        assert written is out
    name = case.name.removesuffix("_backward").removesuffix("+backward")
    if not case.name.endswith("backward") or name not in (*bench.SOFTMAX_FAMILY,
                                                          "cross_entropy"):
        return  # glu's, gumbel_softmax's, logsumexp's: autograd's own kernel or expression
    # torch's side is what its autograd runs for that backward
    leaf = torch.from_numpy(inp.x.copy()).requires_grad_(True)
    if name == "cross_entropy":
        torch.nn.functional.cross_entropy(leaf, torch.from_numpy(inp.target)).backward()
        autograd = leaf.grad
    else:
        f = torch.nn.functional.softmin if name == "softmin" else getattr(torch, name)
        (autograd,) = torch.autograd.grad(f(leaf, case.axis), leaf, torch.from_numpy(inp.g))
    np.testing.assert_allclose(got, autograd.numpy(), rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=8 * np.finfo(dtype).eps)
