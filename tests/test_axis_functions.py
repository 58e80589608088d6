"""logsumexp, glu, gumbel_softmax and one_hot (issue #15) and their backward
passes: against torch (the same dtype), against the float64 references of
fastnl/_reference.py and their finite differences, and the array contract
(aliases, layouts, threads, errors, the input left alone)."""

import os

import numpy as np
import pytest

import fastnl
from fastnl import _reference as ref
from test_gradients_axis_losses import _assert_gradient

DTYPES = [np.float32, np.float64]
# (shape, dim): the row kernel, the tile kernel below / at / above one tile of
# 64 lanes and with a partial last tile, rows longer than the 16-lane vectors,
# several axes, 0-d
LSE_CASES = [((7,), 0), ((3, 5), -1), ((3, 5), 0), ((4, 5, 6), 1), ((2, 9, 64), 1),
             ((3, 9, 70), 1), ((2, 1031, 5), 1), ((3, 1031), -1), ((4, 5, 6), (0, 2)),
             ((4, 5, 6), (2, 0, 1)), ((), 0)]
GLU_CASES = [((6,), 0), ((3, 4), -1), ((4, 3), 0), ((2, 6, 70), 1), ((3, 5, 2), 2),
             ((2, 2, 1031), 1)]


def _tol(dtype):
    return np.finfo(dtype).eps


# ---------------------------------------------------------------- logsumexp

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, dim", LSE_CASES)
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp_against_torch_and_reference(dtype, shape, dim, keepdim, rng, torch):
    """The float64 sum of exp(x - max) rounded once: within 2 eps of the
    float64 reference relative to max(1, |result|) (the exps are within an
    ulp, so log(sum) within eps absolute, then one rounding of m + log(sum));
    torch's float32 sums in float32, so 8 eps from torch."""
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    got = fastnl.logsumexp(x, dim, keepdim)
    expected = ref.logsumexp(x, dim, keepdim)
    theirs = torch.logsumexp(torch.from_numpy(np.asarray(x)), dim, keepdim).numpy()
    assert np.asarray(got).dtype == dtype and np.shape(got) == theirs.shape
    scale = np.maximum(1, np.abs(expected))
    assert np.all(np.abs(got - expected) <= 2 * _tol(dtype) * scale)
    assert np.all(np.abs(got - theirs) <= 8 * _tol(dtype) * scale)


def test_logsumexp_aliases_and_errors():
    x = np.arange(24.0).reshape(2, 3, 4)
    expected = fastnl.logsumexp(x, 1, True)
    assert np.array_equal(fastnl.logsumexp(x, axis=1, keepdims=True), expected)
    assert np.array_equal(fastnl.logsumexp(x, dim=[1], keepdim=True), expected)
    assert fastnl.logsumexp(x, -2).shape == (2, 4)
    with pytest.raises(TypeError, match="not both"):
        fastnl.logsumexp(x, 1, axis=1)
    with pytest.raises(TypeError, match="not both"):
        fastnl.logsumexp(x, 1, keepdim=True, keepdims=True)
    with pytest.raises(TypeError, match="missing required argument 'dim'"):
        fastnl.logsumexp(x)
    with pytest.raises(TypeError, match="axis must be an integer or a tuple"):
        fastnl.logsumexp(x, 1.5)
    with pytest.raises(np.exceptions.AxisError):
        fastnl.logsumexp(x, 3)
    with pytest.raises(ValueError, match=r"\(1, -2\) names an axis more than once"):
        fastnl.logsumexp(x, (1, -2))
    with pytest.raises(ValueError, match="at least one axis"):
        fastnl.logsumexp(x, ())
    with pytest.raises(TypeError, match="dtype object"):
        fastnl.logsumexp([None, 1.0], 0)


def test_logsumexp_stable_and_limits(torch):
    """Exact values where exp overflows or underflows; the limits where a
    lane holds infinities (torch's too); an empty axis is -inf."""
    inf, nan = np.inf, np.nan
    x = np.array([[1e30, 1e30], [-1e30, -1e30], [1000.0, 0.0], [-1000.0, -1000.0]], np.float32)
    got = fastnl.logsumexp(x, 1)
    np.testing.assert_array_equal(got, np.array([1e30, -1e30, 1000.0, -1000.0 + np.log(2)],
                                                np.float32))
    x = np.array([[inf, 1.0], [-inf, -inf], [inf, nan], [-inf, nan], [1.0, nan], [inf, -inf]])
    got = fastnl.logsumexp(x, 1)
    np.testing.assert_array_equal(got, [inf, -inf, nan, nan, nan, inf])
    np.testing.assert_array_equal(got, torch.logsumexp(torch.from_numpy(x), 1).numpy())
    # the same along a non-last axis (the tile kernel)
    np.testing.assert_array_equal(fastnl.logsumexp(np.ascontiguousarray(x.T), 0), got)
    assert np.array_equal(fastnl.logsumexp(np.empty((3, 0)), 1), np.full(3, -inf))
    for shape, dim in [((0, 5), 1), ((0, 5), 0), ((3, 0, 2), (0, 1)), ((2, 3, 0), 1)]:
        x = np.zeros(shape, np.float32)
        expected = torch.logsumexp(torch.from_numpy(x), dim).numpy()
        np.testing.assert_array_equal(fastnl.logsumexp(x, dim), expected)
        assert fastnl.logsumexp_backward(x, dim).shape == shape
    assert fastnl.logsumexp(np.array([1, 2]), 0).dtype == np.float64  # integers: float64


@pytest.mark.parametrize("layout", ["F", "strided", "readonly"])
def test_logsumexp_layouts(layout, rng):
    x = rng.standard_normal((6, 70, 5)).astype(np.float32)
    expected = [fastnl.logsumexp(x, d) for d in (0, 1, 2, (0, 2))]
    if layout == "F":
        y = np.asfortranarray(x)
    elif layout == "strided":
        y = np.repeat(x, 2, axis=1)[:, ::2]
    else:
        y = x.copy()
        y.flags.writeable = False
    before = y.copy()
    for d, e in zip((0, 1, 2, (0, 2)), expected):
        np.testing.assert_array_equal(fastnl.logsumexp(y, d), e)
    np.testing.assert_array_equal(y, before)  # never modified


def test_logsumexp_threads_do_not_change_the_bits(rng):
    x = rng.standard_normal((300, 500)).astype(np.float32)
    with fastnl.num_threads(1):
        one = [fastnl.logsumexp(x, d) for d in (0, 1)]
    with fastnl.num_threads(2):
        two = [fastnl.logsumexp(x, d) for d in (0, 1)]
    for a, b in zip(one, two):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("shape, dim", [c for c in LSE_CASES if c[0]])
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp_backward_against_finite_differences(shape, dim, keepdim, rng):
    """L(x) = sum(g * logsumexp(x)) of the reference, h = 1e-6: the quotient is
    off by about eps |L| / h (|L| < 1e4 here: < 2e-6) plus h^2 |L'''| / 6
    (tiny): 5e-6 absolute. A missing softmax or a misplaced g is off by 1e-2."""
    x = rng.standard_normal(shape) * 2
    g = rng.standard_normal(np.shape(ref.logsumexp(x, dim, keepdim)))
    got = fastnl.logsumexp_backward(x, dim, keepdim, grad_output=g)
    assert got.shape == shape and got.dtype == np.float64
    _assert_gradient(got, lambda z: np.sum(g * ref.logsumexp(z, dim, keepdim)), x, rng, 5e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, dim", LSE_CASES)
def test_logsumexp_backward_against_torch(dtype, shape, dim, rng, torch):
    """g * softmax(x): each a few roundings (4 eps relative, 4 eps of the
    largest absolute)."""
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    y = torch.logsumexp(xt, dim)
    g = rng.standard_normal(tuple(y.shape)).astype(dtype)
    y.backward(torch.from_numpy(np.asarray(g)))
    got = fastnl.logsumexp_backward(x, dim, grad_output=g)
    expected = xt.grad.numpy()
    assert np.asarray(got).dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=4 * _tol(dtype),
                               atol=4 * _tol(dtype) * np.max(np.abs(expected), initial=1))


@pytest.mark.parametrize("shape, dim", [c for c in LSE_CASES if c[0]])
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp_backward_scalar_grad_output_is_every_lanes(shape, dim, keepdim, rng):
    """A scalar grad_output gives the bits of that value in every lane (many
    lanes, reduced axes first, last, inner and several)."""
    x = rng.standard_normal(shape)
    full = np.full(np.shape(ref.logsumexp(x, dim, keepdim)), 2.5)
    np.testing.assert_array_equal(fastnl.logsumexp_backward(x, dim, keepdim, grad_output=2.5),
                                  fastnl.logsumexp_backward(x, dim, keepdim, grad_output=full))
    assert np.isfinite(fastnl.logsumexp_backward(x, dim, keepdim)).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp_backward_rows_as_the_lanes_for_any_thread_count(dtype, rng):
    """Along the last axis (g folded into each row's scaling) the same bits
    as along axis 0 of the transpose (the tile kernel's lanes, g folded in
    the same way), the limit rows (+inf, -inf, NaN) included; the bits the
    same on one thread and on two (37 rows of 1000: over the parallel grain)."""
    x = (rng.standard_normal((37, 1000)) * 3).astype(dtype)
    x[3, [5, 700]] = np.inf
    x[4] = -np.inf
    x[5, 9] = np.nan
    g = rng.standard_normal(37).astype(dtype)
    before = x.copy()
    with fastnl.num_threads(1):
        rows = fastnl.logsumexp_backward(x, 1, grad_output=g)
    with fastnl.num_threads(2):
        np.testing.assert_array_equal(fastnl.logsumexp_backward(x, 1, grad_output=g), rows)
    lanes = fastnl.logsumexp_backward(np.ascontiguousarray(x.T), 0, grad_output=g).T
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(rows, lanes)
    assert rows[3, 5] == rows[3, 700] == g[3] / 2 and np.isnan(rows[4:6]).all()
    with fastnl.num_threads(1):
        np.testing.assert_array_equal(
            fastnl.logsumexp_backward(np.ascontiguousarray(x.T), 0, grad_output=g).T, lanes)


def test_logsumexp_backward_limits_and_grad_output():
    """Beyond torch (NaN there): softmax's limit where a lane holds +inf;
    a scalar grad_output broadcasts, one of another shape is refused."""
    inf = np.inf
    x = np.array([[inf, 1.0, inf], [0.0, 0.0, 0.0], [-inf, -inf, -inf]])
    got = fastnl.logsumexp_backward(x, 1, grad_output=np.array([2.0, 3.0, 1.0]))
    np.testing.assert_array_equal(got[:2], [[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    assert np.isnan(got[2]).all()  # no limit: as torch
    np.testing.assert_allclose(fastnl.logsumexp_backward(x[1:2], 1, grad_output=3.0), [[1, 1, 1]])
    np.testing.assert_allclose(fastnl.logsumexp_backward(x[1:2], 1, True, np.array([[3.0]])),
                               [[1, 1, 1]])
    with pytest.raises(ValueError, match=r"grad_output has shape \(2,\)"):
        fastnl.logsumexp_backward(x, 1, grad_output=np.ones(2))
    with pytest.raises(ValueError, match=r"grad_output has shape \(3,\)"):
        fastnl.logsumexp_backward(x, 1, keepdim=True, grad_output=np.ones(3))
    # the input's dtype decides (grad_output is cast to it), as in the losses
    for g in (1.0, np.float64(2), np.ones((), np.float16)):
        assert fastnl.logsumexp_backward(np.ones(3, np.float32), 0,
                                         grad_output=g).dtype == np.float32
    assert fastnl.glu_backward(np.ones(4, np.float16), grad_output=np.ones(2)).dtype == \
        np.float16
    assert fastnl.gumbel_softmax_backward(None, sample=np.ones(3, np.float32) / 3,
                                          grad_output=np.ones(3)).dtype == np.float32


# ---------------------------------------------------------------- glu

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, dim", GLU_CASES)
def test_glu_against_torch_and_reference(dtype, shape, dim, rng, torch):
    """a * sigmoid(b) and its gradient: two roundings and sigmoid's ulp;
    torch's within 4 eps relative (and 4 eps of the largest absolute for
    the gradient's b-half, a difference of products)."""
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.glu(xt, dim)
    g = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    yt.backward(torch.from_numpy(g))
    y = fastnl.glu(x, dim)
    assert y.dtype == dtype and y.shape == tuple(yt.shape)
    eps = _tol(dtype)
    np.testing.assert_allclose(y, ref.glu(x, dim), rtol=3 * eps, atol=0)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=4 * eps, atol=0)
    gx = fastnl.glu_backward(x, dim, grad_output=g)
    assert gx.dtype == dtype and gx.shape == shape
    expected = xt.grad.numpy()
    np.testing.assert_allclose(gx, expected, rtol=4 * eps,
                               atol=4 * eps * np.max(np.abs(expected)))


@pytest.mark.parametrize("shape, dim", GLU_CASES)
def test_glu_backward_against_finite_differences(shape, dim, rng):
    """float64, h = 1e-6: 5e-6 absolute, as the softmax family's."""
    x = rng.standard_normal(shape) * 2
    g = rng.standard_normal(ref.glu(x, dim).shape)
    got = fastnl.glu_backward(x, dim, grad_output=g)
    _assert_gradient(got, lambda z: np.sum(g * ref.glu(z, dim)), x, rng, 5e-6)


def test_glu_large_gates_and_infinities():
    """sigmoid(b) sigmoid(-b) keeps the gradient's relative accuracy for
    large b, where torch's sigmoid(b) (1 - sigmoid(b)) cancels to 0."""
    b = np.array([20.0, 40.0, -40.0, np.inf, -np.inf])
    x = np.concatenate([np.ones(5), b])
    gx = fastnl.glu_backward(x)
    exact = 1 / (2 + np.exp(b) + np.exp(-b))  # sigmoid(b) sigmoid(-b)
    np.testing.assert_allclose(gx[5:], exact, rtol=4e-16, atol=0)
    # the gates correctly rounded (float64 sigmoid is within 1.5 ulp, and
    # these are): 1 / (1 + exp(-20)) in float64 arithmetic is 0.67 ulp off
    mp = pytest.importorskip("mpmath")
    with mp.workdps(40):
        rounded = [float(1 / (1 + mp.exp(-v))) for v in (20, 40, -40)]
    np.testing.assert_array_equal(fastnl.glu(x), rounded + [1, 0])


def test_glu_aliases_layouts_and_errors(rng):
    x = rng.standard_normal((6, 4, 8)).astype(np.float32)
    before = x.copy()
    assert np.array_equal(fastnl.glu(x, axis=0), fastnl.glu(x, 0))
    assert np.array_equal(fastnl.glu(np.asfortranarray(x), 1), fastnl.glu(x, 1))
    assert np.array_equal(fastnl.glu(x[:, :, ::2], 2), fastnl.glu(x[:, :, ::2].copy(), 2))
    g = rng.standard_normal((6, 4, 4)).astype(np.float32)
    assert np.array_equal(fastnl.glu_backward(np.asfortranarray(x), grad_output=g),
                          fastnl.glu_backward(x, grad_output=g))
    np.testing.assert_array_equal(x, before)
    view = x.transpose(1, 2, 0)  # permuted axes: read in memory order, the bits of a copy
    for axis in range(3):
        y = fastnl.glu(view, axis)
        assert y.tobytes() == fastnl.glu(view.copy(), axis).tobytes()
        assert y.transpose(2, 0, 1).flags.c_contiguous  # laid out as the input
        gy = rng.standard_normal(y.shape).astype(np.float32)
        assert (fastnl.glu_backward(view, axis, gy).tobytes()
                == fastnl.glu_backward(view.copy(), axis, gy).tobytes())
        assert (fastnl.logsumexp(view, axis).tobytes()
                == fastnl.logsumexp(view.copy(), axis).tobytes())
    assert fastnl.glu(np.array([1, 2])).dtype == np.float64
    with pytest.raises(TypeError, match="not both"):
        fastnl.glu(x, 0, axis=0)
    with pytest.raises(ValueError, match="dimension 1 is size 3"):
        fastnl.glu(np.ones((2, 3)))
    with pytest.raises(ValueError, match="scalars"):
        fastnl.glu(np.float64(1.0))
    with pytest.raises(np.exceptions.AxisError):
        fastnl.glu(x, 3)
    with pytest.raises(ValueError, match=r"grad_output has shape \(6, 4, 8\)"):
        fastnl.glu_backward(x, grad_output=x)


def test_glu_threads_do_not_change_the_bits(rng):
    x = rng.standard_normal((64, 2048)).astype(np.float32)
    g = rng.standard_normal((64, 1024)).astype(np.float32)
    with fastnl.num_threads(1):
        one = fastnl.glu(x), fastnl.glu_backward(x, grad_output=g)
    with fastnl.num_threads(2):
        two = fastnl.glu(x), fastnl.glu_backward(x, grad_output=g)
    for a, b in zip(one, two):
        assert a.tobytes() == b.tobytes()


def test_nn_glu_against_torch(rng, torch):
    import inspect
    ours = inspect.signature(fastnl.nn.GLU).parameters
    theirs = inspect.signature(torch.nn.GLU).parameters
    assert [(p.name, p.default) for p in ours.values()] == \
        [(p.name, p.default) for p in theirs.values()]
    x = rng.standard_normal((3, 4, 6)).astype(np.float32)
    ours, theirs = fastnl.nn.GLU(dim=1), torch.nn.GLU(dim=1)
    assert repr(ours) == repr(theirs)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.sum().backward()
    np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=4e-7)
    np.testing.assert_allclose(ours.backward(), xt.grad.numpy(), rtol=4e-7, atol=1e-7)


# ---------------------------------------------------------------- gumbel_softmax

def _exponential(seed, shape, dtype):
    """The Exp(1) draws gumbel_softmax makes from the seed: a fresh
    Generator's standard_exponential in the compute dtype."""
    return np.random.default_rng(seed).standard_exponential(shape, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, dim", [((5, 7), -1), ((5, 7), 0), ((2, 3, 70), 1), ((4,), 0)])
@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_gumbel_softmax_is_the_softmax_of_the_noisy_logits(dtype, shape, dim, tau, rng):
    """With the seed's own draws E: softmax((x - log E) / tau), within 4 eps
    of the float64 reference (one rounding of the noise, softmax's error)."""
    x = rng.standard_normal(shape).astype(dtype)
    y = fastnl.gumbel_softmax(x, tau, dim=dim, rng=11)
    assert y.dtype == dtype and y.shape == shape
    expected = ref.gumbel_softmax(x, _exponential(11, shape, dtype), tau, dim)
    np.testing.assert_allclose(y, expected, rtol=0, atol=8 * _tol(dtype))
    # the same seed, the same sample; a Generator continues its stream
    assert np.array_equal(fastnl.gumbel_softmax(x, tau, dim=dim, rng=11), y)
    generator = np.random.default_rng(11)
    assert np.array_equal(fastnl.gumbel_softmax(x, tau, dim=dim, rng=generator), y)
    assert not np.array_equal(fastnl.gumbel_softmax(x, tau, dim=dim, rng=generator), y)


def test_gumbel_softmax_samples_the_categorical_distribution():
    """The argmax of logits + Gumbel noise is a draw of softmax(logits): over
    20000 rows the frequencies are within 4 standard errors (about 0.013)."""
    p = np.array([0.1, 0.2, 0.3, 0.4])
    logits = np.tile(np.log(p), (20000, 1))
    hard = fastnl.gumbel_softmax(logits, tau=0.1, hard=True, rng=3)
    frequency = hard.mean(axis=0)
    assert np.all(np.abs(frequency - p) < 4 * np.sqrt(p * (1 - p) / 20000))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("dim", [-1, 0])
def test_gumbel_softmax_and_backward_against_torch(dtype, hard, dim, rng, torch):
    """torch's function with fastnl's noise put in place of its own draws
    (torch.Tensor.exponential_ patched to fill in the seed's E): the sample,
    and autograd's gradient of it, hard=True's straight-through estimator
    included. torch's hard sample is y_hard - y_soft + y_soft, an ulp away
    from fastnl's exact one-hot."""
    shape = (6, 9)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    draws = torch.from_numpy(_exponential(5, shape, dtype))
    original = torch.Tensor.exponential_
    torch.Tensor.exponential_ = lambda self, *a, **k: self.copy_(draws)
    try:
        xt = torch.tensor(x, requires_grad=True)
        yt = torch.nn.functional.gumbel_softmax(xt, tau=0.5, hard=hard, dim=dim)
    finally:
        torch.Tensor.exponential_ = original
    yt.backward(torch.from_numpy(g))
    y, soft = fastnl.gumbel_softmax(x, 0.5, hard, dim=dim, rng=5, return_soft=True)
    eps = _tol(dtype)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=8 * eps)
    if hard:
        assert set(np.unique(y)) == {0, 1} and np.all(y.sum(axis=dim) == 1)
        assert np.array_equal(np.argmax(y, axis=dim), np.argmax(soft, axis=dim))
    else:
        assert np.array_equal(soft, y)
    expected = xt.grad.numpy()
    tol = dict(rtol=8 * eps, atol=8 * eps * np.max(np.abs(expected)))
    by_sample = fastnl.gumbel_softmax_backward(x, 0.5, hard, dim=dim, grad_output=g,
                                               sample=soft)
    np.testing.assert_allclose(by_sample, expected, **tol)
    by_seed = fastnl.gumbel_softmax_backward(x, 0.5, hard, dim=dim, rng=5, grad_output=g)
    assert by_seed.dtype == dtype and np.array_equal(by_seed, by_sample)


def test_gumbel_softmax_backward_against_finite_differences(rng):
    """The soft sample's gradient for fixed draws, float64, h = 1e-6: 5e-6."""
    x = rng.standard_normal((4, 6))
    g = rng.standard_normal((4, 6))
    draws = _exponential(2, x.shape, np.float64)
    got = fastnl.gumbel_softmax_backward(x, 0.7, True, rng=2, grad_output=g)
    _assert_gradient(got, lambda z: np.sum(g * ref.gumbel_softmax(z, draws, 0.7)), x, rng, 5e-6)


def test_gumbel_softmax_errors_and_edges(rng):
    x = rng.standard_normal((3, 4))
    before = x.copy()
    for tau in (0.0, -1.0):
        with pytest.raises(ValueError, match="tau must be > 0"):
            fastnl.gumbel_softmax(x, tau)
    with pytest.raises(TypeError, match="rng must be None, an int seed"):
        fastnl.gumbel_softmax(x, rng="seed")
    with pytest.raises(TypeError, match="not both"):
        fastnl.gumbel_softmax(x, dim=0, axis=0)
    for rng_arg in (None, np.random.default_rng(0)):
        with pytest.raises(ValueError, match="needs the forward's soft sample"):
            fastnl.gumbel_softmax_backward(x, rng=rng_arg)
    with pytest.raises(ValueError, match=r"sample has shape \(3, 3\)"):
        fastnl.gumbel_softmax_backward(x, sample=np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"grad_output has shape \(4,\)"):
        fastnl.gumbel_softmax_backward(x, sample=np.ones((3, 4)), grad_output=np.ones(4))
    np.testing.assert_array_equal(x, before)
    assert fastnl.gumbel_softmax(np.float32(2.0), rng=0) == 1  # a single category
    assert fastnl.gumbel_softmax(np.zeros((0, 3)), hard=True, rng=0).shape == (0, 3)
    # float16 and integers compute as the other functions do
    assert fastnl.gumbel_softmax(x.astype(np.float16), rng=0).dtype == np.float16
    assert fastnl.gumbel_softmax(np.array([1, 2]), rng=0).dtype == np.float64


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork: POSIX only")
def test_gumbel_softmax_without_rng_draws_afresh_in_a_forked_child():
    # rng=None draws from one generator per process; a forked child must not
    # repeat the draws of its parent (or of its siblings), as it would with the
    # parent's state
    x = np.zeros((4, 50))
    first, second = fastnl.gumbel_softmax(x), fastnl.gumbel_softmax(x)
    assert not np.array_equal(first, second)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first draw, to the parent
        try:
            os.write(write, fastnl.gumbel_softmax(x).tobytes())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = np.frombuffer(pipe.read(), dtype=np.float64).reshape(x.shape)
    os.waitpid(pid, 0)
    assert not np.array_equal(child, fastnl.gumbel_softmax(x))


def test_nn_has_no_gumbel_softmax_or_one_hot_class(torch):
    # fastnl.nn has classes only where torch.nn has one
    for name in ("GumbelSoftmax", "OneHot", "LogSumExp"):
        assert not hasattr(torch.nn, name) and not hasattr(fastnl.nn, name)


# ---------------------------------------------------------------- one_hot

@pytest.mark.parametrize("shape", [(5,), (3, 4), (), (0,), (2, 0, 3)])
@pytest.mark.parametrize("num_classes", [-1, 7])
def test_one_hot_against_torch(shape, num_classes, rng, torch):
    t = rng.integers(0, 5, shape)
    if t.size == 0 and num_classes == -1:
        return  # refused, below
    got = fastnl.one_hot(t, num_classes)
    expected = torch.nn.functional.one_hot(torch.from_numpy(np.asarray(t)), num_classes).numpy()
    assert got.dtype == np.int64 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, ref.one_hot(t, got.shape[-1]))


def test_one_hot_errors(torch):
    """Refused where torch refuses, naming the offending value; any integer
    dtype is taken (torch takes int64 only)."""
    with pytest.raises(IndexError, match="non-negative, got -1"):
        fastnl.one_hot(np.array([1, -1]))
    with pytest.raises(IndexError, match=r"smaller than num_classes \(3\), got 3"):
        fastnl.one_hot(np.array([1, 3]), 3)
    for classes in (-1, 0):  # torch refuses 0 classes of no index as well
        with pytest.raises(ValueError, match="empty"):
            fastnl.one_hot(np.array([], np.int64), classes)
    with pytest.raises(IndexError, match=r"smaller than num_classes \(0\), got 0"):
        fastnl.one_hot(np.array([0]), 0)
    with pytest.raises(ValueError, match="-1 or >= 0"):
        fastnl.one_hot(np.array([1]), -2)
    with pytest.raises(TypeError, match="num_classes must be an integer"):
        fastnl.one_hot(np.array([1]), 2.5)
    for bad in (np.array([1.0]), np.array([True])):
        with pytest.raises(TypeError, match="integer class indices"):
            fastnl.one_hot(bad)
    for dtype in (np.int8, np.uint16, np.int32):
        np.testing.assert_array_equal(fastnl.one_hot(np.array([2, 0], dtype)),
                                      [[0, 0, 1], [1, 0, 0]])
    assert fastnl.one_hot([1, 0], 2).tolist() == [[0, 1], [1, 0]]  # a list too
    with pytest.raises(IndexError, match=f"got {2**63 + 1}"):  # not wrapped round to negative
        fastnl.one_hot(np.array([0, 2**63 + 1], np.uint64), 3)


def test_one_hot_strided_and_input_untouched(rng):
    """Indices read through strides (a view's), the input left as it was,
    and nothing half-written kept when an index is out of range."""
    t = rng.integers(0, 4, (3, 8))
    view, before = t[:, ::2], t.copy()
    np.testing.assert_array_equal(fastnl.one_hot(view, 4), ref.one_hot(view, 4))
    np.testing.assert_array_equal(t, before)
    with pytest.raises(IndexError, match="got 9"):
        fastnl.one_hot(np.array([0, 1, 9, 2]), 4)


# ---------------------------------------------------------------- out=

def test_out_where_the_result_has_the_inputs_shape(rng):
    """gumbel_softmax and the backward passes take out= (the conventions'
    rule), in place too; logsumexp, glu and one_hot change the shape."""
    x = rng.standard_normal((4, 6)).astype(np.float32)
    g = rng.standard_normal((4, 3)).astype(np.float32)
    soft = fastnl.softmax(x)
    calls = {
        "logsumexp_backward": lambda **k: fastnl.logsumexp_backward(x, 1, **k),
        "glu_backward": lambda **k: fastnl.glu_backward(x, grad_output=g, **k),
        "gumbel_softmax": lambda **k: fastnl.gumbel_softmax(x, 0.5, True, rng=1, **k),
        "gumbel_softmax_backward": lambda **k: fastnl.gumbel_softmax_backward(
            x, 0.5, grad_output=x, sample=soft, **k),
    }
    for name, call in calls.items():
        expected = call()
        out = np.full_like(x, np.nan)
        assert call(out=out) is out, name
        np.testing.assert_array_equal(out, expected)
        with pytest.raises(TypeError, match="out has dtype float64, expected float32"):
            call(out=np.empty(x.shape))
        with pytest.raises(ValueError, match=r"out has shape \(4, 3\)"):
            call(out=np.empty((4, 3), np.float32))
    y = x.copy()
    expected = fastnl.gumbel_softmax(x, rng=2)
    assert fastnl.gumbel_softmax(y, rng=2, out=y) is y  # in place
    np.testing.assert_array_equal(y, expected)
    da = pytest.importorskip("dask.array")
    with pytest.raises(TypeError, match="out= is not supported with Dask"):
        fastnl.gumbel_softmax(da.from_array(x), out=np.empty_like(x))
