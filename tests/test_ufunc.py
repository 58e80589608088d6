"""fastnl.ufunc: every activation and derivative of the table as a NumPy ufunc.

The ufuncs run the same kernels as the functions of fastnl, so the expected
values here are the functions' own results, bit for bit: for every layout
(contiguous, strided), every dtype (float16 through float32), parameters given
once or per element, and NumPy's keywords. Arrays of other libraries (xarray)
keep their type through ``__array_ufunc__``.
"""

import pickle
import warnings

import numpy as np
import pytest

import fastnl
from fastnl import _ops, ufunc

ROWS = [a for a in _ops.ACTIVATIONS if not a.custom]
CASES = [(a, params) for a in ROWS for params in a.cases]
IDS = [f"{a.name}-{i}" for i, (a, _) in enumerate(CASES)]


def _ufunc_name(a, params):
    option = params.get("approximate")
    return a.name if option in (None, "none") else f"{a.name}_{option}"


def _numeric(a, params):
    return [params.get(p.name, p.default) for p in a.params if p.options is None]


def _inputs(dtype, n=70_001):
    """Above every kernel's parallel grain, with the special values first."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(n) * 20).astype(dtype)
    x[:6] = [np.inf, -np.inf, np.nan, 0.0, -0.0, np.finfo(dtype).smallest_subnormal]
    return x, rng.standard_normal(n).astype(dtype)


def _bits(a):
    return np.ascontiguousarray(a).tobytes()


def test_every_table_row_has_its_ufuncs():
    names = {u.name for u in _ops.UFUNCS}
    assert {a.name for a in ROWS} <= names
    assert set(ufunc.__all__) == names | {f"{n}_backward" for n in names}
    for name in ufunc.__all__:
        assert isinstance(getattr(ufunc, name), np.ufunc)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("a, params", CASES, ids=IDS)
def test_bitwise_the_functions(a, params, dtype, n_threads):
    forward = getattr(ufunc, _ufunc_name(a, params))
    backward = getattr(ufunc, _ufunc_name(a, params) + "_backward")
    num = _numeric(a, params)
    x, g = _inputs(dtype)
    want = getattr(fastnl, a.name)(x, **params)
    want_b = getattr(fastnl, f"{a.name}_backward")(g, x, **params)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")  # the kernels' internal FP flags never reach NumPy
        for sl in (slice(None), slice(None, None, 3)):
            got = forward(x[sl], *num)
            assert got.dtype == want.dtype
            assert _bits(got) == _bits(want[sl])
            assert _bits(backward(g[sl], x[sl], *num)) == _bits(want_b[sl])
            if num:  # one value per element: the element-at-a-time path
                per_element = [np.full(x[sl].shape, v) for v in num]
                assert _bits(forward(x[sl], *per_element)) == _bits(want[sl])
                assert _bits(backward(g[sl], x[sl], *per_element)) == _bits(want_b[sl])


def test_parameters_broadcast_and_domain_gives_nan():
    x = np.array([-1.0, 0.5, 3.0])
    got = ufunc.leaky_relu(x, np.array([[0.1], [0.2]]))
    np.testing.assert_array_equal(got, [fastnl.leaky_relu(x, 0.1), fastnl.leaky_relu(x, 0.2)])
    # celu's alpha = 0, softplus's beta = 0, a NaN slope, lambd < 0, min_val > max_val
    assert np.isnan(ufunc.celu(x, 0.0)).all()
    assert np.isnan(ufunc.softplus(x, 0.0, 20.0)).all()
    assert np.isnan(ufunc.leaky_relu(x, np.nan)).all()
    assert np.isnan(ufunc.softshrink(x, -1.0)).all()
    assert np.isnan(ufunc.hardtanh(x, 1.0, -1.0)).all()
    mixed = ufunc.celu(x, np.array([1.0, 0.0, 2.0]))
    assert np.isnan(mixed[1]) and mixed[0] == fastnl.celu(x, 1.0)[0]
    # the functions check and raise instead
    with pytest.raises(ValueError, match="alpha"):
        fastnl.celu(x, 0.0)


def test_numpy_keywords():
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    out = np.full(7, np.nan, np.float32)
    assert ufunc.gelu(x, out=out) is out
    np.testing.assert_array_equal(out, fastnl.gelu(x))
    out[:] = 7.0
    ufunc.relu(x, out=out, where=x > 0)
    np.testing.assert_array_equal(out, np.where(x > 0, x, 7.0))
    assert ufunc.sigmoid(x, dtype=np.float64).dtype == np.float64
    assert ufunc.sigmoid(np.arange(3)).dtype == np.float64  # integers: float64
    assert ufunc.tanh(2.0) == fastnl.tanh(2.0)
    y = x.copy()
    ufunc.silu.at(y, [0, 2])
    np.testing.assert_array_equal(y[[0, 2]], fastnl.silu(x[[0, 2]]))
    np.testing.assert_array_equal(y[[1, 3]], x[[1, 3]])


def test_pickled_by_name_as_fastnl_ufuncs():
    # NumPy pickles a ufunc by its name: tanh must not come back as numpy.tanh
    for name in ("tanh", "gelu", "softplus_backward"):
        u = getattr(ufunc, name)
        assert pickle.loads(pickle.dumps(u)) is u


@pytest.mark.parametrize("a", ROWS, ids=lambda a: a.name)  # prelu, rrelu: NumPy arrays only
def test_xarray_keeps_dims_coords_and_attrs(a):
    xr = pytest.importorskip("xarray")
    data = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    x = xr.DataArray(data, dims=("batch", "feature"),
                     coords={"batch": [10, 20, 30], "feature": list("abcd")},
                     attrs={"units": "logit"})
    params = dict(a.cases[-1])
    got = getattr(fastnl, a.name)(x, **params)
    assert isinstance(got, xr.DataArray)
    assert got.dims == x.dims and got.attrs == x.attrs
    assert got.coords.equals(x.coords)
    np.testing.assert_array_equal(got.values, getattr(fastnl, a.name)(data, **params))
    grad = getattr(fastnl, f"{a.name}_backward")(xr.ones_like(x), x, **params)
    assert isinstance(grad, xr.DataArray) and grad.dims == x.dims
    np.testing.assert_array_equal(
        grad.values, getattr(fastnl, f"{a.name}_backward")(np.ones_like(data), data, **params))


def test_foreign_arrays_are_checked_like_numpy_ones():
    xr = pytest.importorskip("xarray")
    x = xr.DataArray(np.zeros(3))
    with pytest.raises(ValueError, match="alpha"):
        fastnl.celu(x, alpha=0.0)
    with pytest.raises(ValueError, match="shape"):
        fastnl.relu_backward(xr.DataArray(np.ones(2)), x)
    with pytest.raises(TypeError):
        fastnl.relu(xr.DataArray(np.zeros(3, complex)))
    assert fastnl.sigmoid(xr.DataArray(np.array([True, False]))).dtype == np.float64
