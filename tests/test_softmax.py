"""softmax, log_softmax, softmin: against the float64 reference, torch, and the contract."""

import numpy as np
import pytest

import fastnl
from fastnl import _reference as ref
from fastnl._kernels import _rowwise

FUNCS = ["softmax", "log_softmax", "softmin"]
DTYPES = [np.float32, np.float64]
# (shape, axis): last axis (row kernel), middle and first axes (strided tile
# kernel, with inner sizes below, at and above the 16-lane tile), 1-d and 0-d.
SHAPES = [((7,), 0), ((3, 5), -1), ((3, 5), 0), ((4, 5, 6), 1), ((4, 5, 6), 0),
          ((2, 3, 40, 3), 2), ((2, 9, 17), 1), ((), -1),
          # long rows (many 16-lane vectors) with a ragged end
          ((3, 1031), -1), ((2, 1031, 5), 1),
          # more lanes than one 64-lane tile, with a partial last tile
          ((3, 9, 70), 1)]


def _close(name, got, x, axis, temperature):
    """Assert `got` matches the float64 reference of the (already rounded) input.

    Error budget, in units of the dtype's eps: the kernel rounds
    d = (x - max) / T once or twice (relative error, so an absolute error of
    about eps * |d| on the exponent, and |d| <= |log p| + log n), exp adds one
    rounding and the final division/subtraction another; sums are float64.
    The condition of the problem adds eps * max|x| / T: rounding the logits
    by one ulp (as x / T does, in the reference as well) moves log p by that
    much. So |error of log p| <= k eps (1 + |log p| + log n + max|x| / T), and
    softmax's relative error is the same bound. k = 8 leaves margin without
    hiding a real bug (a wrong formula is off by far more than 8 eps).
    """
    xr = np.asarray(x, dtype=np.float64)
    logp = (ref.log_softmax(-xr if name == "softmin" else xr, axis, temperature)
            if xr.ndim else np.float64(0.0))
    eps = np.finfo(got.dtype).eps
    n = xr.shape[axis] if xr.ndim else 1
    scale = np.max(np.abs(xr), axis=axis, keepdims=True) / temperature if xr.ndim else 0
    bound = 8 * eps * (1 + np.abs(logp) + np.log(n) + scale)
    got = np.asarray(got, dtype=np.float64)
    if name == "log_softmax":
        np.testing.assert_array_less(np.abs(got - logp), bound + 0)
    else:
        p = np.exp(logp)
        # below the smallest normal the relative bound no longer holds: absolute tiny
        np.testing.assert_array_less(np.abs(got - p), bound * p + np.finfo(np.asarray(x).dtype).tiny)


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis", SHAPES)
@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_against_reference(name, dtype, shape, axis, temperature, rng):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    before = x.copy()
    got = getattr(fastnl, name)(x, axis=axis, temperature=temperature)
    assert got.dtype == dtype and np.shape(got) == shape
    _close(name, got, x, axis, temperature)
    np.testing.assert_array_equal(x, before)  # input untouched


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("shape, axis", [((300, 200), -1), ((40, 100, 20), 1), ((100, 400), 0)])
def test_threads_give_same_bits(name, shape, axis, rng):
    # Large enough to start threads (> 32768 elements); rows are independent,
    # so 1 and 2 threads must agree bit for bit, and so must two calls.
    x = rng.standard_normal(shape).astype(np.float32) * 10
    assert x.size > _rowwise.GRAIN_SIZE
    f = getattr(fastnl, name)
    with fastnl.num_threads(1):
        one = f(x, axis=axis)
    with fastnl.num_threads(2):
        two = f(x, axis=axis)
        again = f(x, axis=axis)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(two, again)
    _close(name, two, x, axis, 1.0)


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis", [((5, 7), 1), ((5, 7), 0), ((3, 4, 5), 1), ((3, 4, 50), -2)])
def test_against_torch(name, dtype, shape, axis, rng, torch, n_threads):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    for temperature in (1.0, 2.5):
        got = getattr(fastnl, name)(x, dim=axis, temperature=temperature)
        expected = getattr(torch.nn.functional, name)(torch.from_numpy(x) / temperature,
                                                      dim=axis).numpy()
        # torch computes in the same precision with a vectorised exp (~1 ulp)
        # and float32 sums; a few ulps of the result apart, plus eps on log p.
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(got, expected, rtol=16 * eps, atol=16 * eps)


def test_dtype_casts_first_as_torch(torch):
    x = np.array([[1.0, 2.0, 3.5], [0.1, 0.2, 0.3]])
    got = fastnl.softmax(x, dtype=np.float32)
    assert got.dtype == np.float32
    expected = torch.softmax(torch.from_numpy(x), dim=-1, dtype=torch.float32).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    half = fastnl.log_softmax(x, dtype=np.float16)
    assert half.dtype == np.float16
    # float16 input computed in float32: within float16 rounding of the reference
    np.testing.assert_allclose(half, ref.log_softmax(x.astype(np.float16)), rtol=1e-3, atol=1e-3)
    assert fastnl.softmax(np.array([1, 2, 3])).dtype == np.float64  # integers: float64
    with pytest.raises(TypeError, match="int"):
        fastnl.softmax(x, dtype=np.int32)


def test_extreme_inputs_stay_finite():
    x32 = np.array([1e30, 0.0, -1e30], dtype=np.float32)
    np.testing.assert_array_equal(fastnl.softmax(x32), [1.0, 0.0, 0.0])
    assert fastnl.log_softmax(x32)[0] == 0 and fastnl.log_softmax(x32)[1] == np.float32(-1e30)
    # log(softmax) underflows to -inf at -200 in float32; log_softmax must not.
    np.testing.assert_array_equal(fastnl.log_softmax(np.array([0, -200], np.float32)), [0, -200])
    # a tiny temperature must not overflow x / T
    np.testing.assert_array_equal(fastnl.softmax(np.array([1.0, 0.5]), temperature=1e-308), [1, 0])
    np.testing.assert_array_equal(fastnl.softmin(np.array([1.0, 0.5]), temperature=1e-308), [0, 1])
    # x / T overflows, but the log-probabilities are finite: they must stay so
    got = fastnl.log_softmax(np.array([1e300, 0.0, 1e300]), temperature=1e-7)
    np.testing.assert_allclose(got, [-np.log(2), -1e307, -np.log(2)], rtol=1e-15)


@pytest.mark.parametrize("name", FUNCS)
def test_shift_invariance(name, rng):
    # softmax(x + c) == softmax(x) mathematically; c = 1e3 would overflow a naive exp.
    x = rng.standard_normal((4, 6))
    np.testing.assert_allclose(getattr(fastnl, name)(x + 1e3), getattr(fastnl, name)(x),
                               rtol=1e-10, atol=1e-10)


def test_infinities_and_nan():
    inf, nan = np.inf, np.nan
    # +inf logits share the mass (the limit); torch gives NaN here.
    np.testing.assert_array_equal(fastnl.softmax([inf, 0.0, inf]), [0.5, 0.0, 0.5])
    np.testing.assert_array_equal(fastnl.log_softmax([inf, 0.0]), [0.0, -inf])
    np.testing.assert_array_equal(fastnl.softmin([-inf, 3.0]), [1.0, 0.0])
    np.testing.assert_array_equal(fastnl.softmax([-inf, 0.0]), [0.0, 1.0])
    np.testing.assert_array_equal(fastnl.log_softmax([-inf, 0.0]), [-inf, 0.0])
    assert np.isnan(fastnl.softmax([1.0, nan, inf])).all()
    # the same on a non-last axis (tile kernel), with the other lanes unaffected
    x = np.zeros((3, 20))
    x[0, 4], x[1, 7] = inf, nan
    got = fastnl.softmax(x, axis=0)
    np.testing.assert_array_equal(got[:, 4], [1, 0, 0])
    assert np.isnan(got[:, 7]).all()
    np.testing.assert_allclose(got[:, 0], [1 / 3] * 3)


@pytest.mark.parametrize("name", FUNCS)
def test_layouts_match_contiguous(name, rng):
    base = rng.standard_normal((6, 8, 5))
    f = getattr(fastnl, name)
    for view in (np.asfortranarray(base), base[:, ::-1, :], base[::2, :, 1:4],
                 base.astype(base.dtype.newbyteorder())):
        for axis in (0, 1, 2):
            np.testing.assert_array_equal(f(view, axis=axis), f(np.ascontiguousarray(view), axis=axis))
    ro = base.copy()
    ro.flags.writeable = False
    np.testing.assert_array_equal(f(ro), f(base))


@pytest.mark.parametrize("name", FUNCS)
def test_permuted_axes_read_in_memory_order(name, rng):
    # x.transpose(0, 2, 3, 1) of a C-ordered array (NHWC views of NCHW
    # data): read in place in memory order, the result laid out as the
    # input, the bits of a contiguous copy's; the backward pass alike, also
    # in place and into a permuted out=
    base = rng.standard_normal((3, 70, 4, 5)).astype(np.float32)
    f, backward = getattr(fastnl, name), getattr(fastnl, name + "_backward")
    view = base.transpose(0, 2, 3, 1)
    g = rng.standard_normal(base.shape).astype(np.float32).transpose(0, 2, 3, 1)
    for axis in range(4):
        y = f(view, axis=axis)
        assert y.transpose(0, 3, 1, 2).flags.c_contiguous
        assert y.tobytes() == f(np.ascontiguousarray(view), axis=axis).tobytes()
        gx = backward(g, y, axis=axis)
        want = backward(np.ascontiguousarray(g), np.ascontiguousarray(y), axis=axis)
        assert gx.tobytes() == want.tobytes()
        out = np.empty(base.shape, np.float32).transpose(0, 2, 3, 1)
        assert backward(g, y, axis=axis, out=out) is out and out.tobytes() == want.tobytes()
        inplace = y.copy(order="K")
        assert backward(g, inplace, axis=axis, out=inplace) is inplace
        assert inplace.tobytes() == want.tobytes()


def test_in_place_writes_directly(rng, monkeypatch):
    # out= the input itself, in C order, Fortran order or permuted axes: the
    # kernels write into it, no temporary (_run's `empty`, the drivers' pool)
    from fastnl._drivers import along_axis, elementwise

    def no_temporary(*args, **kwargs):
        raise AssertionError("a temporary was allocated")

    base = rng.standard_normal((3, 40, 4, 5))
    for layout in (base, np.asfortranarray(base), base.transpose(0, 2, 3, 1)):
        want_softmax = fastnl.softmax(layout.copy(), axis=1)
        want_silu = fastnl.silu(layout.copy())
        with monkeypatch.context() as m:
            m.setattr(along_axis, "empty", no_temporary)
            m.setattr(elementwise, "empty", no_temporary)
            x = layout.copy(order="K")
            assert fastnl.softmax(x, axis=1, out=x) is x
            np.testing.assert_array_equal(x, want_softmax)
            x = layout.copy(order="K")
            assert fastnl.silu(x, out=x) is x
            np.testing.assert_array_equal(x, want_silu)


@pytest.mark.parametrize("name", FUNCS)
def test_out(name, rng):
    f = getattr(fastnl, name)
    x = rng.standard_normal((4, 6))
    expected = f(x, axis=0)
    out = np.empty_like(x)
    assert f(x, axis=0, out=out) is out
    np.testing.assert_array_equal(out, expected)
    fout = np.empty_like(x, order="F")
    f(x, axis=0, out=fout)
    np.testing.assert_array_equal(fout, expected)
    y = x.copy()
    assert f(y, axis=0, out=y) is y  # in place
    np.testing.assert_array_equal(y, expected)
    z = np.asfortranarray(x)
    f(z, axis=0, out=z)  # in place, Fortran order
    np.testing.assert_array_equal(z, expected)
    with pytest.raises(ValueError):
        f(x, out=np.empty((6, 4)))
    with pytest.raises(TypeError):
        f(x, out=np.empty((4, 6), np.float32))
    ro = np.empty_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        f(x, out=ro)


def test_zero_d_and_empty():
    assert fastnl.softmax(3.0) == 1.0 and np.ndim(fastnl.softmax(3.0)) == 0
    assert fastnl.log_softmax(np.float32(3.0)) == 0 and fastnl.log_softmax(np.float32(3)).dtype == np.float32
    for shape in [(0,), (0, 3), (3, 0), (2, 0, 4)]:
        for axis in range(len(shape)):
            assert fastnl.softmax(np.zeros(shape), axis=axis).shape == shape


def test_errors():
    x = np.zeros((2, 3))
    with pytest.raises(TypeError, match="not both"):
        fastnl.softmax(x, axis=0, dim=0)
    with pytest.raises(TypeError, match="not both"):
        fastnl.softmax(x, axis=-1, dim=0)
    np.testing.assert_array_equal(fastnl.softmax(x, dim=0), fastnl.softmax(x, axis=0))
    for t in (0.0, -1.0):
        with pytest.raises(ValueError, match="temperature"):
            fastnl.softmin(x, temperature=t)
    with pytest.raises(ValueError):
        fastnl.softmax(x, temperature=np.nan)
    with pytest.raises(ValueError, match="out of bounds"):
        fastnl.log_softmax(x, axis=2)
    with pytest.raises(TypeError):
        fastnl.softmax(x, axis=1.5)
    with pytest.raises(TypeError, match="complex"):
        fastnl.softmax(np.zeros(3, complex))


@pytest.mark.parametrize("name", FUNCS)
def test_bad_axis_is_numpy_axis_error(name):
    """Out of bounds, forward, backward, dim= and the nn classes raise NumPy's
    AxisError (a ValueError and an IndexError), as NumPy's own functions."""
    from fastnl import nn
    x = np.zeros((2, 3))
    calls = [lambda: getattr(fastnl, name)(x, axis=2), lambda: getattr(fastnl, name)(x, dim=-3),
             lambda: getattr(fastnl, f"{name}_backward")(x, x, axis=2),
             lambda: getattr(nn, {"softmax": "Softmax", "log_softmax": "LogSoftmax",
                                  "softmin": "Softmin"}[name])(dim=5)(x)]
    for call in calls:
        with pytest.raises(np.exceptions.AxisError, match="out of bounds for array of dimension 2"):
            call()
    with pytest.raises(np.exceptions.AxisError):  # NumPy's own, for comparison
        np.sum(x, axis=2)


def test_bad_axis_on_dask_is_numpy_axis_error():
    da = pytest.importorskip("dask.array")
    x = da.zeros((2, 3), chunks=1)
    with pytest.raises(np.exceptions.AxisError):
        fastnl.softmax(x, axis=2)
    with pytest.raises(np.exceptions.AxisError):
        fastnl.log_softmax_backward(x, x, axis=-3)


def test_fast_exp():
    """The float32 exp used for exp(x - max) <= 1 (_fastexp.pxd): within 1 ulp
    of the exact value on a dense sweep of [-110, 0], the subnormal range
    included (where an ulp is the smallest subnormal), and exact special cases."""
    d = np.concatenate([-np.linspace(0, 110, 2_000_003, dtype=np.float32),
                        -np.geomspace(1e-30, 1, 100_001).astype(np.float32)])
    got = np.empty_like(d)
    _rowwise.exp_nonpos_f32(d, got)
    exact = np.exp(d.astype(np.float64))
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - exact) / ulp) <= 1.0
    special = np.array([-np.inf, -1e30, -111.0, 0.0, -0.0, np.nan], np.float32)
    got = np.empty_like(special)
    _rowwise.exp_nonpos_f32(special, got)
    np.testing.assert_array_equal(got, [0, 0, 0, 1, 1, np.nan])


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_row_and_tile_kernels_agree_bitwise(name, dtype, rng):
    # The last axis runs the row kernel, any other the tile kernel; both sum
    # in the same order, so the layout never changes the bits.
    x = (rng.standard_normal((37, 1030)) * 5).astype(dtype)
    f = getattr(fastnl, name)
    np.testing.assert_array_equal(f(x, axis=1), f(np.ascontiguousarray(x.T), axis=0).T)
    np.testing.assert_array_equal(f(x, axis=1, temperature=0.3),
                                  f(np.ascontiguousarray(x.T), axis=0, temperature=0.3).T)


def test_in_place_special_rows_and_half_out():
    # +inf and NaN rows in place, on both kernels: resolved before any write.
    for axis in (0, 1):
        x = np.zeros((3, 70))
        x[1, 5], x[0, 9] = np.inf, np.nan  # a lane / row with each, for either axis
        expected = fastnl.softmax(x.copy(), axis=axis)
        fastnl.softmax(x, axis=axis, out=x)
        np.testing.assert_array_equal(x, expected)
    h = np.array([[1.0, 2.0], [3.0, 5.0]], np.float16)
    out = np.empty_like(h)
    fastnl.log_softmax(h, out=out)
    np.testing.assert_array_equal(out, fastnl.log_softmax(h))
    assert out.dtype == np.float16
