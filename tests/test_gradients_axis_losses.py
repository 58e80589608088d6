"""Backward passes of the softmax family and of every loss: against central
finite differences of the float64 reference (fastnl/_reference.py), against
torch autograd, and the array contract (dtypes, out=, layouts, threads, errors)."""

import itertools
import warnings

import numpy as np
import pytest

import fastnl
from fastnl import _reference as ref
from fastnl._kernels import _losses, _rowwise
from _class_problems import CLASS_SHAPES, class_problem

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]
AXIS_FUNCS = ["softmax", "log_softmax", "softmin"]
# The forward tests' (shape, axis) settings (tests/test_softmax.py): row
# kernel, tile kernel below / at / above one tile, 0-d, rows longer than the
# many 16-lane vectors, a partial last tile.
AXIS_SHAPES = [((7,), 0), ((3, 5), -1), ((3, 5), 0), ((4, 5, 6), 1), ((4, 5, 6), 0),
               ((2, 3, 40, 3), 2), ((2, 9, 17), 1), ((), -1),
               ((3, 1031), -1), ((2, 1031, 5), 1), ((3, 9, 70), 1)]
TEMPERATURES = [1.0, 0.3]


def _numeric_gradient(f, x, rng, max_size=400, n_directions=4, h=1e-6):
    """Central differences of the scalar function f at the float64 point x:
    every partial derivative when x is small, else the derivative along a few
    random unit directions. Returns (directions or None, estimates)."""
    if x.size <= max_size:
        grad = np.empty(x.size)
        for i in range(x.size):
            e = np.zeros(x.size)
            e[i] = h
            e = e.reshape(x.shape)
            grad[i] = (f(x + e) - f(x - e)) / (2 * h)
        return None, grad.reshape(x.shape)
    dirs = rng.standard_normal((n_directions,) + x.shape)
    dirs /= np.sqrt(np.sum(dirs ** 2, axis=tuple(range(1, dirs.ndim)), keepdims=True))
    return dirs, np.array([(f(x + h * d) - f(x - h * d)) / (2 * h) for d in dirs])


def _assert_gradient(got, f, x, rng, tol, **kwargs):
    """`got` against the central differences of f at x, each estimate within
    tol (absolute, as the difference quotient's error is)."""
    dirs, numeric = _numeric_gradient(f, x, rng, **kwargs)
    got = np.asarray(got, np.float64)
    if dirs is not None:
        got = np.array([np.sum(got * d) for d in dirs])
    np.testing.assert_allclose(got, numeric, rtol=0, atol=tol)


# ---------------------------------------------------------------- softmax family

@pytest.mark.parametrize("name", AXIS_FUNCS)
@pytest.mark.parametrize("shape, axis", AXIS_SHAPES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_axis_against_finite_differences(name, shape, axis, temperature, rng):
    """float64, L(x) = sum(g * f(x)) of the reference, h = 1e-6. The quotient
    is off by about eps |L| / h (rounding: |L| <= sum |g f| < 1e4 here, so
    < 2e-6) plus h^2 |L'''| / 6 (|L'''| <= sum|g| / T^3 ~ 1e5: < 1e-7); so
    5e-6 absolute. A wrong sign, a missing 1/T or a missing term is off by
    at least |g| y / T ~ 1e-2 somewhere."""
    x = rng.standard_normal(shape) * 2
    g = rng.standard_normal(shape)
    f = getattr(ref, name)
    y = getattr(fastnl, name)(x, axis=axis, temperature=temperature)
    got = getattr(fastnl, f"{name}_backward")(g, y, axis=axis, temperature=temperature)
    assert np.shape(got) == shape and np.asarray(got).dtype == np.float64
    if x.ndim == 0:  # the reference needs an axis: a 0-d softmax is the constant 1 (log: 0)
        assert got == 0
        return
    _assert_gradient(got, lambda z: np.sum(g * f(z, axis, temperature)), x, rng, 5e-6)


@pytest.mark.parametrize("name", AXIS_FUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis", AXIS_SHAPES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_axis_against_torch(name, dtype, shape, axis, temperature, rng, torch):
    """Same dtype as torch, from torch's own forward output (so that only the
    backward arithmetic differs). torch sums g y (or g) in the data's dtype,
    fastnl in float64: the difference is the error of torch's sum, at most
    about log2(n) eps sum|g y| for its blocked sums (16 eps covers n = 1031
    with room), times y / T, plus two roundings of the result."""
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    dim = axis if x.ndim else 0
    yt = getattr(torch.nn.functional, name)(xt / temperature, dim=dim)
    yt.backward(torch.from_numpy(g))
    y = yt.detach().numpy()
    got = getattr(fastnl, f"{name}_backward")(g, y, dim=axis, temperature=temperature)
    expected = xt.grad.numpy()
    assert np.asarray(got).dtype == dtype
    eps = np.finfo(dtype).eps
    g64, y64 = g.astype(np.float64), y.astype(np.float64)
    keep = dict(axis=axis, keepdims=True) if x.ndim else {}
    if name == "log_softmax":
        p = np.exp(y64)
        scale = np.abs(g64) + p * np.sum(np.abs(g64), **keep)
    else:
        scale = y64 * (np.abs(g64) + np.sum(np.abs(g64 * y64), **keep))
    bound = 16 * eps * (scale / temperature + np.abs(expected)) + np.finfo(dtype).tiny
    assert np.all(np.abs(np.asarray(got, np.float64) - expected) <= bound)


@pytest.mark.parametrize("name", AXIS_FUNCS)
def test_axis_formulas_and_softmin_sign(name, rng):
    """The documented formulas, in float64 NumPy (softmin: the sign flips)."""
    x, g = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    y = getattr(fastnl, name)(x, axis=1, temperature=0.5)
    got = getattr(fastnl, f"{name}_backward")(g, y, axis=1, temperature=0.5)
    if name == "log_softmax":
        expected = (g - np.exp(y) * g.sum(1, keepdims=True)) / 0.5
    else:
        expected = y * (g - np.sum(g * y, 1, keepdims=True)) / 0.5
        expected = -expected if name == "softmin" else expected
    # a few roundings of values of order 1 in float64
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", AXIS_FUNCS)
@pytest.mark.parametrize("shape, axis", [((300, 200), -1), ((40, 100, 20), 1),
                                         ((100, 400), 0)])
def test_axis_threads_give_same_bits(name, shape, axis, rng):
    # > 32768 elements: threads start; every row is one thread's, in a fixed order.
    g = rng.standard_normal(shape).astype(np.float32)
    assert g.size > _rowwise.GRAIN_SIZE
    y = getattr(fastnl, name)(rng.standard_normal(shape).astype(np.float32), axis=axis)
    f = getattr(fastnl, f"{name}_backward")
    with fastnl.num_threads(1):
        one = f(g, y, axis=axis)
    with fastnl.num_threads(2):
        two, again = f(g, y, axis=axis), f(g, y, axis=axis)
    assert one.tobytes() == two.tobytes() == again.tobytes()


@pytest.mark.parametrize("name", AXIS_FUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_axis_row_and_tile_kernels_agree_bitwise(name, dtype, rng):
    # The last axis runs the row kernel, any other the tile kernel; both sum in
    # the order of _sum, so the layout never changes the bits.
    g = rng.standard_normal((37, 1030)).astype(dtype)
    y = getattr(fastnl, name)(rng.standard_normal((37, 1030)).astype(dtype), axis=1)
    f = getattr(fastnl, f"{name}_backward")
    for t in (1.0, 0.3):
        np.testing.assert_array_equal(
            f(g, y, axis=1, temperature=t),
            f(np.ascontiguousarray(g.T), np.ascontiguousarray(y.T), axis=0, temperature=t).T)


def test_log_softmax_backward_positive_output():
    # Not a log_softmax output (y > 0): exp(y) must still be exp (libm path),
    # in the row and the tile kernel alike.
    y = np.array([[0.5, -1.0, 2.0], [-0.1, -0.2, -3.0]], np.float32)
    g = np.array([[1.0, 2.0, -1.0], [0.5, 0.5, 0.5]], np.float32)
    expected = g.astype(np.float64) - np.exp(y.astype(np.float64)) * g.sum(1, keepdims=True)
    for axis, gg, yy in [(1, g, y), (0, np.ascontiguousarray(g.T), np.ascontiguousarray(y.T))]:
        got = fastnl.log_softmax_backward(gg, yy, axis=axis)
        got = got if axis == 1 else got.T
        np.testing.assert_allclose(got, expected, rtol=4e-7)  # a few float32 roundings


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_backward_positive_output_in_long_rows(dtype, rng):
    # A row with some y > 0 takes libm's exp, however long: a positive y
    # (beyond the vector exp's range) in a 16-lane block or in the ragged
    # end, first or last, gives the libm values, the same bits apart and in
    # place (into g and into y), and leaves the other rows alone. At 100,
    # float32's exp overflows: -inf or +inf, as torch gives (it was NaN).
    for (n, pos), big in itertools.product([(16, 0), (40, 5), (40, 39), (1000, 517), (1000, 999)],
                                           [50.0, 100.0]):
        x = (rng.standard_normal((3, n)) * 3).astype(dtype)
        g = rng.standard_normal((3, n)).astype(dtype)
        y = fastnl.log_softmax(x, axis=1)
        clean = fastnl.log_softmax_backward(g, y, axis=1)
        y[1, pos] = big
        got = fastnl.log_softmax_backward(g, y, axis=1)
        g64 = g.astype(np.float64)
        with np.errstate(over="ignore"):
            expected = (g64 - np.exp(y.astype(np.float64)) * g64.sum(1, keepdims=True)).astype(dtype)
        # a few roundings in the data's type, relative to the row's scale
        tol = 1e-5 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(got[1], expected[1], rtol=tol, atol=tol)
        np.testing.assert_array_equal(got[[0, 2]], clean[[0, 2]])
        into_g, into_y = g.copy(), y.copy()
        fastnl.log_softmax_backward(into_g, y, axis=1, out=into_g)
        fastnl.log_softmax_backward(g, into_y, axis=1, out=into_y)
        np.testing.assert_array_equal(into_g, got)
        np.testing.assert_array_equal(into_y, got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_backward_nan_output(dtype):
    # A NaN in y (of either sign) gives NaN at its place only: the row's sum
    # is of g, and exp(NaN) is NaN; the row and the tile kernel give the
    # same bits, and the other places their usual values
    y = np.log(np.full((3, 5), 0.2, dtype))
    y[0, 1], y[2, 4] = np.nan, -np.nan
    g = np.arange(15, dtype=dtype).reshape(3, 5) / 7
    got = fastnl.log_softmax_backward(g, y, axis=1)
    tile = fastnl.log_softmax_backward(np.ascontiguousarray(g.T), np.ascontiguousarray(y.T),
                                       axis=0).T
    np.testing.assert_array_equal(got, tile)
    assert np.isnan(got[0, 1]) and np.isnan(got[2, 4]) and np.isfinite(got).sum() == 13
    clean = fastnl.log_softmax_backward(g, np.log(np.full((3, 5), 0.2, dtype)), axis=1)
    finite = np.isfinite(got)
    np.testing.assert_array_equal(got[finite], clean[finite])


@pytest.mark.parametrize("name", AXIS_FUNCS)
def test_axis_out_layouts_and_inputs_untouched(name, rng):
    f = getattr(fastnl, f"{name}_backward")
    g = rng.standard_normal((4, 6))
    y = getattr(fastnl, name)(rng.standard_normal((4, 6)), axis=0)
    before = g.copy(), y.copy()
    expected = f(g, y, axis=0)
    np.testing.assert_array_equal(g, before[0])
    np.testing.assert_array_equal(y, before[1])
    out = np.empty_like(g)
    assert f(g, y, axis=0, out=out) is out
    np.testing.assert_array_equal(out, expected)
    fout = np.empty_like(g, order="F")
    f(g, y, axis=0, out=fout)
    np.testing.assert_array_equal(fout, expected)
    # Fortran-ordered, strided and negative-stride inputs: same bits
    np.testing.assert_array_equal(f(np.asfortranarray(g), np.asfortranarray(y), axis=0), expected)
    np.testing.assert_array_equal(f(g[::-1], y[::-1], axis=0), expected[::-1])
    big_g, big_y = np.zeros((8, 6)), np.zeros((8, 6))
    big_g[::2], big_y[::2] = g, y
    np.testing.assert_array_equal(f(big_g[::2], big_y[::2], axis=0), expected)
    for which in (0, 1):  # in place, into either operand
        gg, yy = g.copy(), y.copy()
        target = (gg, yy)[which]
        assert f(gg, yy, axis=0, out=target) is target
        np.testing.assert_array_equal(target, expected)
    with pytest.raises(ValueError, match="shape"):
        f(g, y, out=np.empty((6, 4)))
    with pytest.raises(TypeError, match="dtype"):
        f(g, y, out=np.empty((4, 6), np.float32))


def test_axis_dtypes():
    g16 = np.array([[1.0, -2.0, 0.5]], np.float16)
    y16 = fastnl.softmax(np.array([[0.1, 0.2, 0.3]], np.float16))
    got = fastnl.softmax_backward(g16, y16)
    assert got.dtype == np.float16
    expected = fastnl.softmax_backward(g16.astype(np.float32), y16.astype(np.float32))
    np.testing.assert_array_equal(got, expected.astype(np.float16))  # computed in float32
    # promoted as NumPy does: float32 with float64 is float64; integers are float64
    assert fastnl.softmax_backward(g16.astype(np.float32), y16.astype(np.float64)).dtype == np.float64
    assert fastnl.log_softmax_backward(np.array([1, 2]), np.array([-1.0, -0.5])).dtype == np.float64
    assert fastnl.softmax_backward(np.float64(2.0), np.float64(1.0)) == 0  # 0-d: a NumPy scalar
    assert fastnl.softmax_backward(np.empty((0, 3)), np.empty((0, 3))).shape == (0, 3)


def test_axis_errors():
    g, y = np.ones((2, 3)), np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        fastnl.softmax_backward(np.ones((3, 2)), y)
    with pytest.raises(ValueError, match="temperature"):
        fastnl.softmin_backward(g, y, temperature=0)
    with pytest.raises(TypeError, match="not both"):
        fastnl.log_softmax_backward(g, y, axis=0, dim=0)
    with pytest.raises(ValueError, match="out of bounds"):
        fastnl.softmax_backward(g, y, axis=2)
    with pytest.raises(TypeError, match="complex"):
        fastnl.softmax_backward(g.astype(complex), y)
    # dim= is the alias of axis=
    np.testing.assert_array_equal(fastnl.softmax_backward(g, y, dim=0),
                                  fastnl.softmax_backward(g, y, axis=0))


# ---------------------------------------------------------------- pointwise losses

# (name, parameters, input sampler, target sampler): inputs kept away from the
# kinks (|x - y| near 0, beta or delta) by more than the finite-difference step.
def _regression(rng, shape):
    y = rng.standard_normal(shape)
    d = rng.uniform(0.05, 2.0, shape) * rng.choice([-1, 1], shape)
    return y + d, y


def _bce(rng, shape):
    return rng.uniform(0.05, 0.95, shape), rng.uniform(0, 1, shape)


def _kl(rng, shape):
    return np.log(rng.uniform(0.05, 1, shape)), rng.uniform(0, 1, shape)


def _kl_log(rng, shape):
    return np.log(rng.uniform(0.05, 1, shape)), np.log(rng.uniform(0.05, 1, shape))


def _logits(rng, shape):
    return rng.standard_normal(shape) * 4, rng.uniform(0, 1, shape)


POINTWISE = [
    ("mse_loss", {}, _regression), ("l1_loss", {}, _regression),
    ("smooth_l1_loss", {"beta": 1.0}, _regression), ("smooth_l1_loss", {"beta": 0.3}, _regression),
    ("smooth_l1_loss", {"beta": 0.0}, _regression),
    ("huber_loss", {"delta": 1.0}, _regression), ("huber_loss", {"delta": 0.4}, _regression),
    ("kl_div", {"log_target": False}, _kl), ("kl_div", {"log_target": True}, _kl_log),
    ("binary_cross_entropy", {}, _bce),
    ("binary_cross_entropy", {"weight": "w"}, _bce),
    ("binary_cross_entropy_with_logits", {}, _logits),
    ("binary_cross_entropy_with_logits", {"weight": "w"}, _logits),
    ("binary_cross_entropy_with_logits", {"pos_weight": "p"}, _logits),
    ("binary_cross_entropy_with_logits", {"weight": "w", "pos_weight": "p"}, _logits),
]
POINTWISE_IDS = [f"{n}-{i}" for i, (n, _, _) in enumerate(POINTWISE)]
POINTWISE_SHAPES = [(), (7,), (3, 4, 5)]


def _reductions(name):
    return REDUCTIONS + (["batchmean"] if name == "kl_div" else [])


def _params(params, rng, shape, dtype):
    """Concrete weight arrays: `weight` broadcast along the first axis
    (shape (n, 1, ...)), `pos_weight` one per element of the last axis."""
    out = dict(params)
    if "weight" in params:
        out["weight"] = rng.uniform(0.2, 2, shape[:1] + (1,) * (len(shape) - 1)).astype(dtype)
    if "pos_weight" in params:
        out["pos_weight"] = rng.uniform(0.5, 3, shape[-1:]).astype(dtype)
    return out


def _upstream(rng, loss_shape, reduction):
    if reduction == "none":
        return rng.standard_normal(loss_shape)
    return 1.7  # not 1, so that a dropped grad_output shows


def _quiet(f, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div 'mean' and broadcast warnings
        return f(*args, **kwargs)


@pytest.mark.parametrize("name, params, sample", POINTWISE, ids=POINTWISE_IDS)
@pytest.mark.parametrize("shape", POINTWISE_SHAPES)
def test_pointwise_against_finite_differences(name, params, sample, shape, rng):
    """float64, L(x) = sum(g * loss(x)) of the reference, h = 1e-6, every
    partial derivative. Away from the kinks the quotient is off by eps |loss|
    / h + h^2 |loss'''| ~ 1e-9 (BCE's 1/x^2 terms stay < 1e3 on [0.05, 0.95]);
    tolerance 1e-7 absolute, far below any scale or sign error."""
    for reduction in _reductions(name):
        x, y = sample(rng, shape)
        kw = _params(params, rng, shape, np.float64)
        loss_shape = shape
        g = _upstream(rng, loss_shape, reduction)
        got = _quiet(getattr(fastnl, f"{name}_backward"), x, y, reduction=reduction,
                     grad_output=g, **kw)
        assert np.shape(got) == shape
        f = getattr(ref, name)
        if reduction == "batchmean":  # the reference's kl_div knows it
            def objective(z):
                return g * f(z, y, reduction, **kw)
        else:
            def objective(z):
                return np.sum(g * f(z, y, reduction=reduction, **kw))
        _assert_gradient(got, objective, x, rng, 1e-7)


@pytest.mark.parametrize("name, params, sample", POINTWISE, ids=POINTWISE_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", POINTWISE_SHAPES)
def test_pointwise_against_torch(name, params, sample, dtype, shape, rng, torch):
    """torch evaluates the same per-element formula in the same dtype: a few
    roundings apart (the mean's 1/n is rounded at another point), so 8 eps
    relative to the element's size. The sampled points avoid the kinks, where
    a rounding could pick the other branch."""
    for reduction in _reductions(name):
        x, y = (np.asarray(a).astype(dtype) for a in sample(rng, shape))
        kw = _params(params, rng, shape, dtype)
        xt = torch.tensor(x, requires_grad=True)
        tkw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        loss = _quiet(getattr(torch.nn.functional, name), xt, torch.from_numpy(y),
                      reduction=reduction, **tkw)
        g = np.asarray(_upstream(rng, tuple(loss.shape), reduction), dtype)
        loss.backward(torch.from_numpy(g))
        got = _quiet(getattr(fastnl, f"{name}_backward"), x, y, reduction=reduction,
                     grad_output=g, **kw)
        assert np.asarray(got).dtype == dtype and np.shape(got) == shape
        expected = xt.grad.numpy()
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(got, expected, rtol=8 * eps, atol=8 * eps * np.max(
            np.abs(expected), initial=0))


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
                                  "kl_div"])
@pytest.mark.parametrize("shapes", [((1, 4), (3, 1)), ((4,), (3, 4)), ((), (2, 3))])
def test_pointwise_broadcast_target_sums_back(name, shapes, rng, torch):
    """A target that broadcasts the input to a larger shape: the gradient is
    summed back to the input's shape, as torch's autograd does (float64:
    sums of a few terms, 1e-12)."""
    x_shape, t_shape = shapes
    x, y = rng.standard_normal(x_shape), rng.standard_normal(t_shape)
    if name == "kl_div":
        x, y = -np.abs(x), np.abs(y)
    for reduction in REDUCTIONS:
        xt = torch.tensor(x, requires_grad=True)
        loss = _quiet(getattr(torch.nn.functional, name), xt, torch.from_numpy(y),
                      reduction=reduction)
        g = np.asarray(_upstream(rng, tuple(loss.shape), reduction))
        loss.backward(torch.from_numpy(g))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # only the forward warns about the broadcast
            got = getattr(fastnl, f"{name}_backward")(x, y, reduction=reduction, grad_output=g)
        assert np.shape(got) == x_shape
        np.testing.assert_allclose(got, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_pointwise_subgradients_at_kinks(torch):
    """At |x - y| = 0, beta or delta the sub-gradients are torch's (exact)."""
    x = np.array([0.0, 1.0, -1.0, 0.3, -0.3, 2.0])
    y = np.zeros(6)
    for name, params in [("l1_loss", {}), ("smooth_l1_loss", {"beta": 1.0}),
                         ("smooth_l1_loss", {"beta": 0.0}), ("smooth_l1_loss", {"beta": 0.3}),
                         ("huber_loss", {"delta": 1.0}), ("huber_loss", {"delta": 0.3})]:
        xt = torch.tensor(x, requires_grad=True)
        getattr(torch.nn.functional, name)(xt, torch.from_numpy(y), reduction="sum",
                                           **params).backward()
        got = getattr(fastnl, f"{name}_backward")(x, y, reduction="sum", **params)
        np.testing.assert_array_equal(got, xt.grad.numpy(), err_msg=f"{name} {params}")


def test_pointwise_edges():
    # l1's sign: NaN in gives NaN (torch's sign(NaN) gives 0; see the docstring)
    got = fastnl.l1_loss_backward([np.nan, 1.0], [0.0, 0.0], reduction="sum")
    assert np.isnan(got[0]) and got[1] == 1
    # BCE: torch's 1e-12 floor on (1 - x) x keeps x = 0 and x = 1 finite
    got = fastnl.binary_cross_entropy_backward([0.0, 1.0, 0.0], [1.0, 0.0, 0.0],
                                               reduction="sum")
    np.testing.assert_array_equal(got, [-1e12, 1e12, 0.0])
    # BCE with logits at +-1e4: sigmoid does not overflow
    got = fastnl.binary_cross_entropy_with_logits_backward([1e4, -1e4, 1e4], [1.0, 1.0, 0.0],
                                                           reduction="sum")
    np.testing.assert_array_equal(got, [0.0, -1.0, 1.0])
    # kl_div: -q, also where q = 0 and log p = -inf (the forward's limit is 0)
    np.testing.assert_array_equal(
        fastnl.kl_div_backward([-np.inf, -1.0], [0.0, 0.5], reduction="sum"), [0.0, -0.5])
    # empty input: an empty gradient
    assert fastnl.mse_loss_backward(np.empty((0, 3)), np.empty((0, 3))).shape == (0, 3)


def test_pointwise_dtypes_out_and_inputs_untouched(rng):
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    before = x.copy(), y.copy()
    expected = fastnl.mse_loss_backward(x, y)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])
    # 2 (x - y) times the rounded 1/12: two roundings apart from dividing
    np.testing.assert_allclose(expected, 2 * (x - y) / 12, rtol=4e-16, atol=0)
    out = np.empty((3, 4))
    assert fastnl.mse_loss_backward(x, y, out=out) is out
    np.testing.assert_array_equal(out, expected)
    xx = x.copy()
    assert fastnl.mse_loss_backward(xx, y, out=xx) is xx  # in place into the input
    np.testing.assert_array_equal(xx, expected)
    np.testing.assert_array_equal(fastnl.mse_loss_backward(np.asfortranarray(x), y[::1]),
                                  expected)
    # float16 is computed in float32, integers in float64
    h = fastnl.l1_loss_backward(x.astype(np.float16), y, reduction="sum")
    assert h.dtype == np.float16
    np.testing.assert_array_equal(h, np.sign(x.astype(np.float16) - y.astype(np.float16)))
    assert fastnl.mse_loss_backward(np.array([1, 2]), np.array([0, 0])).dtype == np.float64
    # a float64 grad_output does not change a float32 input's gradient dtype
    got = fastnl.mse_loss_backward(x.astype(np.float32), y.astype(np.float32),
                                   reduction="none", grad_output=np.ones((3, 4)))
    assert got.dtype == np.float32
    assert fastnl.mse_loss_backward(2.0, 1.0) == 2.0  # 0-d: a NumPy scalar
    with pytest.raises(ValueError, match="shape"):
        fastnl.mse_loss_backward(x, y, out=np.empty((4, 3)))
    with pytest.raises(TypeError, match="dtype"):
        fastnl.mse_loss_backward(x, y, out=np.empty((3, 4), np.float32))


def test_pointwise_errors():
    x, y = np.zeros((3, 4)), np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"scalar, got shape \(3, 4\)"):
        fastnl.mse_loss_backward(x, y, grad_output=np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(3, 4\)"):
        fastnl.mse_loss_backward(x, y, reduction="none", grad_output=np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2, 4\)"):
        fastnl.l1_loss_backward(x, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="batchmean"):
        fastnl.mse_loss_backward(x, y, reduction="batchmean")
    with pytest.raises(ValueError, match="beta"):
        fastnl.smooth_l1_loss_backward(x, y, beta=-1)
    with pytest.raises(ValueError, match="delta"):
        fastnl.huber_loss_backward(x, y, delta=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        fastnl.binary_cross_entropy_backward(x + 2, y)
    with pytest.raises(ValueError, match="must be the same"):
        fastnl.binary_cross_entropy_backward(x, np.zeros(4))
    with pytest.raises(ValueError, match="pos_weight"):
        fastnl.binary_cross_entropy_with_logits_backward(x, y, pos_weight=np.ones(5))
    with pytest.raises(TypeError, match="complex"):
        fastnl.mse_loss_backward(x, y, grad_output=1j)


@pytest.mark.parametrize("name, params, sample", POINTWISE, ids=POINTWISE_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", POINTWISE_SHAPES)
def test_pointwise_scalar_upstream_of_none_broadcasts(name, params, sample, dtype, shape, rng):
    """reduction='none' with a scalar grad_output (the default 1.0 included)
    is the gradient of an array full of it: the same bits, in float32 after
    the same rounding of the scalar."""
    x, y = (a.astype(dtype) for a in sample(rng, shape))
    kw = _params(params, rng, shape, dtype)
    backward = getattr(fastnl, f"{name}_backward")
    for g in (1.0, 0.1, -3):
        full = np.full(shape, g, np.float64)
        expected = backward(x, y, reduction="none", grad_output=full, **kw)
        got = backward(x, y, reduction="none", grad_output=g, **kw)
        assert got.dtype == expected.dtype == dtype
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(backward(x, y, reduction="none", **kw),
                                  backward(x, y, reduction="none", grad_output=1.0, **kw))
    with pytest.raises(ValueError, match="or grad_output a scalar"):
        backward(x, y, reduction="none", grad_output=np.ones((2,) + shape), **kw)


@pytest.mark.parametrize("name, args", [
    ("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5}),
    ("huber_loss", {"delta": 0.5}), ("kl_div", {}), ("kl_div", {"log_target": True}),
    ("binary_cross_entropy", {"weight": np.linspace(0.5, 2, 7)}),
    ("binary_cross_entropy_with_logits", {"pos_weight": np.linspace(0.5, 2, 7)}),
])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_threads_same_bits(name, args, reduction, rng):
    # 70000 elements, above the threading grain of the loss kernels:
    # elementwise, so 1 and 2 threads must give the same bits.
    x = rng.uniform(0, 1, (10000, 7)).astype(np.float32)  # probabilities, for BCE
    y = rng.uniform(0, 1, (10000, 7)).astype(np.float32)
    assert x.size > _losses.GRAIN_SIZE
    g = rng.standard_normal((10000, 7)).astype(np.float32) if reduction == "none" else 1.0
    f = getattr(fastnl, f"{name}_backward")
    with fastnl.num_threads(1):
        one = f(x, y, reduction=reduction, grad_output=g, **args)
    with fastnl.num_threads(2):
        two = f(x, y, reduction=reduction, grad_output=g, **args)
    assert one.tobytes() == two.tobytes()


# ---------------------------------------------------------------- class losses

def _probabilities(rng, shape, dtype):
    class_axis = 0 if len(shape) == 1 else 1
    p = rng.dirichlet(np.ones(shape[class_axis]),
                      size=shape[:class_axis] + shape[class_axis + 1:])
    return np.ascontiguousarray(np.moveaxis(p, -1, class_axis)).astype(dtype)


def _class_cases():
    """(name, target kind, with_weight, ignore_index, label_smoothing)."""
    cases = []
    for w in (False, True):
        for ii in (-100, 1):
            cases.append(("nll_loss", "index", w, ii, 0.0))
            for ls in (0.0, 0.3):
                cases.append(("cross_entropy", "index", w, ii, ls))
        for ls in (0.0, 0.25):
            cases.append(("cross_entropy", "prob", w, -100, ls))
    return cases


CLASS_CASES = _class_cases()
CLASS_IDS = ["-".join(map(str, c)) for c in CLASS_CASES]


def _class_args(case, rng, shape, dtype):
    name, kind, with_weight, ignore_index, ls = case
    x, t, w = class_problem(rng, shape, dtype, ignore_index)
    if kind == "prob":
        t = _probabilities(rng, shape, dtype)
    kw = {"weight": w if with_weight else None, "ignore_index": ignore_index}
    if name == "cross_entropy":
        kw["label_smoothing"] = ls
    return x, t, kw


@pytest.mark.parametrize("case", CLASS_CASES, ids=CLASS_IDS)
@pytest.mark.parametrize("shape", CLASS_SHAPES)
def test_class_against_finite_differences(case, shape, rng):
    """float64, L(x) = sum(g * loss(x)) of the reference, h = 1e-6: every
    partial derivative (directional derivatives for (3, 601)). The loss is
    smooth with |L''''| of order sum|g| w (< 1e2 here): the quotient is off
    by eps |L| / h + h^2 |L'''| < 1e-8; tolerance 1e-7 absolute."""
    name = case[0]
    for reduction in REDUCTIONS:
        x, t, kw = _class_args(case, rng, shape, np.float64)
        loss_shape = np.shape(getattr(ref, name)(x, t, reduction="none", **kw))
        g = _upstream(rng, loss_shape, reduction)
        got = getattr(fastnl, f"{name}_backward")(x, t, reduction=reduction, grad_output=g,
                                                  **kw)
        assert np.shape(got) == shape
        f = getattr(ref, name)
        _assert_gradient(got, lambda z: np.sum(g * f(z, t, reduction=reduction, **kw)),
                         x, rng, 1e-7, max_size=200)


@pytest.mark.parametrize("case", CLASS_CASES, ids=CLASS_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CLASS_SHAPES)
def test_class_against_torch(case, dtype, shape, rng, torch):
    """torch autograd in the same dtype. fastnl sums exp in float64 and rounds
    each element once; torch rounds p and its products in the dtype: a few
    eps of the row's scale |g| (sum_c a_c + max a_c). So 16 eps relative,
    plus 16 eps of 2 |g| w_max / (the mean's denominator), a bound on every
    row's scale, absolute (the cancellation in p_t - 1 is)."""
    name = case[0]
    for reduction in REDUCTIONS:
        x, t, kw = _class_args(case, rng, shape, dtype)
        xt = torch.tensor(x, requires_grad=True)
        tkw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        loss = getattr(torch.nn.functional, name)(xt, torch.from_numpy(t),
                                                  reduction=reduction, **tkw)
        g = np.asarray(_upstream(rng, tuple(loss.shape), reduction), dtype)
        loss.backward(torch.from_numpy(g))
        got = getattr(fastnl, f"{name}_backward")(x, t, reduction=reduction, grad_output=g,
                                                  **kw)
        assert np.asarray(got).dtype == dtype and np.shape(got) == shape
        expected = xt.grad.numpy()
        w = np.ones(x.shape[0 if x.ndim == 1 else 1]) if kw["weight"] is None else kw["weight"]
        # every row's gradient is gs (p sum_c a_c - a) with sum_c a_c, a_c <= max w
        scale = np.max(np.abs(g)) * 2 * w.max() / _mean_denominator(case, t, w, reduction)
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(got, expected, rtol=16 * eps, atol=16 * eps * scale)


def _mean_denominator(case, t, w, reduction):
    """The forward's 'mean' denominator (1 for other reductions): the rows
    with probabilities, else the summed weights of the counted targets."""
    if reduction != "mean":
        return 1.0
    if case[1] == "prob":
        return t.size // (t.shape[0] if t.ndim == 1 else t.shape[1])
    counted = t != case[3]
    return np.sum(w[np.where(counted, t, 0)][counted]) if counted.any() else 1.0


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("with_weight", [False, True])
def test_cross_entropy_gradient_formula(label_smoothing, with_weight, rng):
    """The closed form of the docstring (and the brief), in float64 NumPy:
    p_j [(1-eps) w_t + eps/C sum w] - (1-eps) w_t [j == t] - eps/C w_j,
    divided by the mean's denominator (summed weights of counted targets)."""
    x, t, w = class_problem(rng, (7, 5), np.float64, -100)
    w = w if with_weight else np.ones(5)
    eps, C = label_smoothing, 5
    got = fastnl.cross_entropy_backward(x, t, w if with_weight else None,
                                        label_smoothing=eps)
    p = np.exp(x - np.logaddexp.reduce(x, axis=1, keepdims=True))
    counted = t != -100
    ts = np.where(counted, t, 0)
    expected = (p * ((1 - eps) * w[ts] + eps / C * w.sum())[:, None]
                - (1 - eps) * w[ts][:, None] * (np.arange(C) == ts[:, None]) - eps / C * w)
    expected = np.where(counted[:, None], expected, 0) / np.sum(w[ts][counted])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_class_edges(torch):
    x = np.random.default_rng(0).standard_normal((4, 3))
    t = np.full(4, -100)
    # every row ignored: mean over nothing; the gradient is 0, as torch's
    for name in ("nll_loss", "cross_entropy"):
        got = getattr(fastnl, f"{name}_backward")(x, t)
        np.testing.assert_array_equal(got, np.zeros((4, 3)))
        xt = torch.tensor(x, requires_grad=True)
        getattr(torch.nn.functional, name)(xt, torch.from_numpy(t)).backward()
        np.testing.assert_array_equal(xt.grad.numpy(), got)
    # extreme logits: p = 1 and 0 exactly, no overflow (1e30 - max is formed first)
    got = fastnl.cross_entropy_backward(np.array([[1e30, 0.0, -1e30]]), [1], reduction="sum")
    np.testing.assert_array_equal(got, [[1.0, -1.0, 0.0]])
    got = fastnl.cross_entropy_backward(np.array([[1e4, 0.0]], np.float32), [0],
                                        reduction="sum")
    np.testing.assert_array_equal(got, [[0.0, 0.0]])
    # empty batch
    assert fastnl.cross_entropy_backward(np.empty((0, 3)), np.empty(0, int)).shape == (0, 3)
    assert fastnl.nll_loss_backward(np.empty((0, 3)), np.empty(0, int)).shape == (0, 3)


def test_class_layouts_out_dtypes_and_inputs_untouched(rng):
    x, t, w = class_problem(rng, (4, 5, 6), np.float64, -100)
    p = _probabilities(rng, (4, 5, 6), np.float64)
    for f, target in [(fastnl.cross_entropy_backward, t), (fastnl.nll_loss_backward, t),
                      (fastnl.cross_entropy_backward, p)]:
        before = x.copy(), target.copy()
        expected = f(x, target, w, label_smoothing=0.1) if f is not fastnl.nll_loss_backward \
            else f(x, target, w)
        kw = {} if f is fastnl.nll_loss_backward else {"label_smoothing": 0.1}
        np.testing.assert_array_equal(x, before[0])
        np.testing.assert_array_equal(target, before[1])
        # any input layout: the same bits (the kernels read strided rows)
        np.testing.assert_array_equal(f(np.asfortranarray(x), target, w, **kw), expected)
        xs = np.zeros((8, 5, 6))
        xs[::2] = x
        np.testing.assert_array_equal(f(xs[::2], target, w, **kw), expected)
        out = np.empty_like(x, order="F")
        assert f(x, target, w, out=out, **kw) is out
        np.testing.assert_array_equal(out, expected)
        xx = x.copy()
        assert f(xx, target, w, out=xx, **kw) is xx
        np.testing.assert_array_equal(xx, expected)
        h = f(x.astype(np.float16), target, w, **kw)
        assert h.dtype == np.float16
        # float16 is computed in float32; the float32 result rounded
        np.testing.assert_array_equal(
            h, f(x.astype(np.float16).astype(np.float32), target, w, **kw).astype(np.float16))
        with pytest.raises(ValueError, match="shape"):
            f(x, target, w, out=np.empty((4, 5)), **kw)


def test_class_errors():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"scalar, got shape \(3,\)"):
        fastnl.cross_entropy_backward(x, [0, 1, 2], grad_output=np.ones(3))
    with pytest.raises(ValueError, match=r"\(4,\).*\(3,\)"):
        fastnl.nll_loss_backward(x, [0, 1, 2], reduction="none", grad_output=np.ones(4))
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        fastnl.cross_entropy_backward(x, [0, 1])
    with pytest.raises(IndexError, match="7"):
        fastnl.cross_entropy_backward(x, [0, 7, 1])
    with pytest.raises(ValueError, match="label_smoothing"):
        fastnl.cross_entropy_backward(x, [0, 1, 2], label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight"):
        fastnl.nll_loss_backward(x, [0, 1, 2], weight=np.ones(3))
    with pytest.raises(ValueError, match="ignore_index"):
        fastnl.cross_entropy_backward(x, np.full((3, 4), 0.25), ignore_index=0)
    with pytest.raises(TypeError, match="integer"):
        fastnl.nll_loss_backward(x, np.zeros(3))


@pytest.mark.parametrize("case", CLASS_CASES, ids=CLASS_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CLASS_SHAPES)
def test_class_scalar_upstream_of_none_broadcasts(case, dtype, shape, rng):
    """As for the pointwise losses: a scalar grad_output of reduction='none'
    is one for every row (ignored rows still get 0)."""
    x, t, kw = _class_args(case, rng, shape, dtype)
    backward = getattr(fastnl, f"{case[0]}_backward")
    loss_shape = np.shape(getattr(fastnl, case[0])(x, t, reduction="none", **kw))
    for g in (1.0, 0.1):
        expected = backward(x, t, reduction="none", grad_output=np.full(loss_shape, g), **kw)
        got = backward(x, t, reduction="none", grad_output=g, **kw)
        assert got.dtype == expected.dtype == dtype
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(backward(x, t, reduction="none", **kw),
                                  backward(x, t, reduction="sum", **kw))


@pytest.mark.parametrize("kind", ["index", "smoothed", "prob", "nll"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_class_threads_same_bits(kind, reduction, rng):
    # 11000 x 3 = 33000 rows of 4 classes: above the grain of every class
    # kernel (nll_loss's threads start above GRAIN_SIZE rows, cross_entropy's
    # above GRAIN_SIZE elements), so the parallel branches run; each row is
    # one thread's.
    x = rng.standard_normal((11000, 4, 3)).astype(np.float32)
    t = rng.integers(0, 4, (11000, 3))
    assert t.size > _rowwise.GRAIN_SIZE
    g = rng.standard_normal((11000, 3)) if reduction == "none" else 1.0
    if kind == "prob":
        t = _probabilities(rng, x.shape, np.float32)
    f = fastnl.nll_loss_backward if kind == "nll" else fastnl.cross_entropy_backward
    kw = {"label_smoothing": 0.1} if kind == "smoothed" else {}
    with fastnl.num_threads(1):
        one = f(x, t, reduction=reduction, grad_output=g, **kw)
    with fastnl.num_threads(2):
        two, again = (f(x, t, reduction=reduction, grad_output=g, **kw) for _ in range(2))
    assert one.tobytes() == two.tobytes() == again.tobytes()


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_backward_allocates_only_the_gradient(reduction, rng):
    """With class indices nothing of size N x C but the gradient itself is
    allocated (NumPy reports its buffers to tracemalloc): the peak stays
    below the gradient's size plus 25% (the O(N) row arrays are 8 N bytes
    per array here, 1/125 of it each)."""
    import tracemalloc
    x = rng.standard_normal((2000, 500)).astype(np.float32)
    t = rng.integers(0, 500, 2000)
    g = rng.standard_normal(2000) if reduction == "none" else 1.0
    tracemalloc.start()
    try:
        grad = fastnl.cross_entropy_backward(x, t, label_smoothing=0.1, reduction=reduction,
                                             grad_output=g)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert grad.nbytes <= peak < 1.25 * grad.nbytes


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "mse_loss",
                                  "binary_cross_entropy_with_logits"])
def test_loss_gradient_written_into_out(name, rng):
    # A C-contiguous out of the gradient's dtype is written by the kernel
    # itself (no second array), with the bits of the allocating call; an out
    # that overlaps the input still gets the right values, through a copy.
    import tracemalloc
    backward = getattr(fastnl, f"{name}_backward")
    x = rng.standard_normal((512, 100))
    t = (rng.integers(0, 100, 512) if name in ("cross_entropy", "nll_loss")
         else rng.random((512, 100)))
    expected = backward(x, t)
    out = np.full_like(x, np.nan)
    tracemalloc.start()
    try:
        assert backward(x, t, out=out) is out
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 4  # no gradient-sized temporary
    np.testing.assert_array_equal(out, expected)
    x_copy = x.copy()
    assert backward(x_copy, t, out=x_copy) is x_copy
    np.testing.assert_array_equal(x_copy, expected)


# ---------------------------------------------------------------- NaN in a backward's input
#
# Each backward is given NaN in one element of its input (and, for the
# pointwise losses, of the target) and the NaN positions of the gradient are
# checked: against the rule written out here (no torch needed), and the rule
# against torch autograd. Where fastnl differs on purpose, the test says so.

NAN_POINTWISE = [("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {"beta": 1.0}),
                 ("smooth_l1_loss", {"beta": 0.0}), ("huber_loss", {"delta": 1.0}),
                 ("kl_div", {}), ("kl_div", {"log_target": True}),
                 ("binary_cross_entropy_with_logits", {}),
                 ("binary_cross_entropy_with_logits", {"pos_weight": np.full(4, 2.0)})]
NAN_POINTWISE_IDS = [f"{n}-{i}" for i, (n, _) in enumerate(NAN_POINTWISE)]


def _nan_pointwise_problem(rng, reduction):
    x = rng.uniform(0.1, 0.9, (3, 4))
    y = rng.uniform(0.1, 0.9, (3, 4))
    x[1, 2] = np.nan
    y[2, 0] = np.nan
    g = rng.standard_normal((3, 4)) if reduction == "none" else 1.0
    return x, y, g


def _nan_pointwise_rule(name, x, y):
    """Where the gradient is NaN: where the input or the target is (kl_div's
    gradient, -q or -exp(log q), reads only the target)."""
    return np.isnan(y) if name == "kl_div" else np.isnan(x) | np.isnan(y)


@pytest.mark.parametrize("name, params", NAN_POINTWISE, ids=NAN_POINTWISE_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_backward_nan_positions(name, params, reduction, rng):
    x, y, g = _nan_pointwise_problem(rng, reduction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div's 'mean' warning
        got = getattr(fastnl, f"{name}_backward")(x, y, reduction=reduction, grad_output=g,
                                                  **params)
    np.testing.assert_array_equal(np.isnan(got), _nan_pointwise_rule(name, x, y))


@pytest.mark.parametrize("name, params", NAN_POINTWISE, ids=NAN_POINTWISE_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_backward_nan_as_torch(name, params, reduction, rng, torch):
    x, y, g = _nan_pointwise_problem(rng, reduction)
    xt = torch.tensor(x, requires_grad=True)
    kw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = getattr(torch.nn.functional, name)(xt, torch.from_numpy(y), reduction=reduction,
                                                  **kw)
        got = getattr(fastnl, f"{name}_backward")(x, y, reduction=reduction, grad_output=g,
                                                  **params)
    loss.backward(torch.from_numpy(g) if reduction == "none" else None)
    theirs = xt.grad.numpy()
    rule = _nan_pointwise_rule(name, x, y)
    if name == "l1_loss" or (name == "smooth_l1_loss" and params["beta"] == 0):
        # on purpose (l1_loss_backward's docstring): sign(NaN) is NaN here,
        # torch's sign() makes it 0
        np.testing.assert_array_equal(theirs[rule], 0)
    else:
        np.testing.assert_array_equal(np.isnan(theirs), rule)
    np.testing.assert_allclose(got[~rule], theirs[~rule], rtol=1e-12, atol=1e-15)


def test_binary_cross_entropy_backward_refuses_nan():
    # torch's forward refuses a NaN probability, so autograd never gets there
    with pytest.raises(ValueError, match="between 0 and 1"):
        fastnl.binary_cross_entropy_backward([0.5, np.nan], [1.0, 0.0])


NAN_CLASS = [("cross_entropy", "index", {}), ("cross_entropy", "index", {"label_smoothing": 0.1}),
             ("cross_entropy", "index", {"weight": np.linspace(0.5, 2, 4)}),
             ("cross_entropy", "prob", {}), ("nll_loss", "index", {})]
NAN_CLASS_IDS = [f"{n}-{k}-{i}" for i, (n, k, _) in enumerate(NAN_CLASS)]


def _nan_class_problem(rng, kind, reduction):
    """Logits (4, 4) with NaN in row 1 (counted) and row 3 (ignored with
    class indices); the rule: cross_entropy's gradient is NaN over every
    counted row holding a NaN (the row's softmax), nll_loss's nowhere (its
    gradient does not read the input), an ignored row's gradient is 0."""
    x = rng.standard_normal((4, 4))
    x[1, 2] = x[3, 0] = np.nan
    t = (np.array([0, 1, 3, -100]) if kind == "index" else rng.dirichlet(np.ones(4), 4))
    g = rng.standard_normal(4) if reduction == "none" else 1.0
    return x, t, g


def _nan_class_rule(name, x):
    rule = np.zeros(x.shape, bool)
    if name == "cross_entropy":
        rule[1] = True
    return rule


@pytest.mark.parametrize("name, kind, params", NAN_CLASS, ids=NAN_CLASS_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_class_backward_nan_positions(name, kind, params, reduction, rng):
    x, t, g = _nan_class_problem(rng, kind, reduction)
    got = getattr(fastnl, f"{name}_backward")(x, t, reduction=reduction, grad_output=g, **params)
    rule = _nan_class_rule(name, x)
    if kind == "prob":  # no ignored rows: row 3 is counted too
        rule[3] = True
    np.testing.assert_array_equal(np.isnan(got), rule)
    if kind == "index":
        np.testing.assert_array_equal(got[3], 0)  # the ignored row


@pytest.mark.parametrize("name, kind, params", NAN_CLASS, ids=NAN_CLASS_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_class_backward_nan_as_torch(name, kind, params, reduction, rng, torch):
    x, t, g = _nan_class_problem(rng, kind, reduction)
    got = getattr(fastnl, f"{name}_backward")(x, t, reduction=reduction, grad_output=g, **params)
    xt = torch.tensor(x, requires_grad=True)
    kw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}
    loss = getattr(torch.nn.functional, name)(xt, torch.from_numpy(t), reduction=reduction, **kw)
    loss.backward(torch.from_numpy(g) if reduction == "none" else None)
    theirs = xt.grad.numpy()
    if name == "cross_entropy" and kind == "index":
        # on purpose (cross_entropy_backward's docstring): torch multiplies the
        # ignored row's NaN softmax by its zero weight; the loss does not read
        # that row, so its gradient here is 0
        assert np.isnan(theirs[3]).all()
        theirs = theirs.copy()
        theirs[3] = 0
    np.testing.assert_array_equal(np.isnan(got), np.isnan(theirs))
    finite = ~np.isnan(theirs)
    np.testing.assert_allclose(got[finite], theirs[finite], rtol=1e-12, atol=1e-15)


def _nan_axis_problem(rng, name, where):
    """grad_output and the forward's output with NaN in row 1 of one of
    them; the rule: that row's gradient is NaN (each of its elements reads
    the row's sum), nothing else."""
    x = rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    if where == "output":
        x[1, 2] = np.nan
    else:
        g[1, 2] = np.nan
    rule = np.zeros((3, 4), bool)
    rule[1] = True
    return x, g, getattr(fastnl, name)(x, axis=1), rule


@pytest.mark.parametrize("name", AXIS_FUNCS)
@pytest.mark.parametrize("where", ["grad_output", "output"])
def test_axis_backward_nan_positions(name, where, rng):
    x, g, y, rule = _nan_axis_problem(rng, name, where)
    got = getattr(fastnl, f"{name}_backward")(g, y, axis=1)
    np.testing.assert_array_equal(np.isnan(got), rule)


@pytest.mark.parametrize("name", AXIS_FUNCS)
@pytest.mark.parametrize("where", ["grad_output", "output"])
def test_axis_backward_nan_as_torch(name, where, rng, torch):
    x, g, y, rule = _nan_axis_problem(rng, name, where)
    got = getattr(fastnl, f"{name}_backward")(g, y, axis=1)
    xt = torch.tensor(x, requires_grad=True)
    getattr(torch.nn.functional, name)(xt, dim=1).backward(torch.from_numpy(g))
    theirs = xt.grad.numpy()
    np.testing.assert_array_equal(np.isnan(theirs), rule)
    np.testing.assert_allclose(got[~rule], theirs[~rule], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 5, 8, 11), (2, 16, 130), (4, 3, 64), (2, 7, 65)])
def test_cross_entropy_lanes_have_the_row_kernels_bits(shape, dtype, rng):
    # (N, C, d...) in C order: the rows are lanes of the class axis, read 64
    # at a time (whole cache lines; 130 and 65 leave a ragged tile). The same
    # array laid out channels last takes the row kernel, one row at a time:
    # the loss and its gradient must have its bits, a NaN, an infinite logit,
    # a row of -inf, ignored rows, class weights, smoothing and per-row
    # upstream gradients included
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    x[1, 2, 3], x[0, 1, 2], x[1, 0, 5], x[0, :, 7] = np.nan, -np.inf, np.inf, -np.inf
    t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    t.flat[::5] = -100
    rows = np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)
    assert not rows.flags.c_contiguous and np.array_equal(rows, x, equal_nan=True)
    for kw in ({}, {"weight": rng.random(shape[1])}, {"label_smoothing": 0.2},
               {"weight": rng.random(shape[1]), "label_smoothing": 0.3}):
        for reduction, g in (("mean", 1.0), ("sum", 0.5), ("none", rng.standard_normal(t.shape))):
            for f in (fastnl.cross_entropy, fastnl.cross_entropy_backward):
                args = {"reduction": reduction, **kw}
                if f is fastnl.cross_entropy_backward:
                    args["grad_output"] = g
                got, want = np.asarray(f(x, t, **args)), np.asarray(f(rows, t, **args))
                assert got.tobytes() == want.tobytes(), (f.__name__, kw, reduction)
