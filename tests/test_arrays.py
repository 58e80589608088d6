"""The arrays contract (docs: API conventions), on every activation:
dtype policy, shapes, layouts, byte order, read-only inputs, out= and in place,
and that the input is never modified."""

import numpy as np
import pytest

import fastnl
from fastnl import _reference as reference

CASES = reference.CASES
CASE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


def call(name, params, x, **kwargs):
    return getattr(fastnl, name)(x, **params, **kwargs)


def data(shape=(37, 41), dtype=np.float64, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 4).astype(dtype)


# ---------------------------------------------------------------- dtypes

@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_float16_computed_in_float32(name, params):
    x = data(dtype=np.float16)
    got = call(name, params, x)
    assert got.dtype == np.float16
    expected = call(name, params, x.astype(np.float32)).astype(np.float16)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint16, np.int32, np.int64, np.uint64])
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_bool_and_integers_computed_in_float64(name, params, dtype):
    x = np.array([0, 1, 2, 3, 7], dtype=dtype) if dtype is not np.bool_ else np.array([0, 1], bool)
    got = call(name, params, x)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, call(name, params, x.astype(np.float64)))


@pytest.mark.parametrize("value, dtype_name", [
    (np.ones(3, complex), "complex128"),
    (np.ones(3, np.complex64), "complex64"),
    (np.array([1.0, None], dtype=object), "object"),
    (np.array(["a", "b"]), "<U1"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64"),
    (np.array([1], dtype="timedelta64[s]"), "timedelta64"),
    (np.ones(3, np.longdouble), str(np.dtype(np.longdouble))),
])
@pytest.mark.parametrize("name, params", CASES[::4], ids=CASE_IDS[::4])
def test_unsupported_dtypes_raise_type_error(name, params, value, dtype_name):
    if value.dtype == np.float64:  # longdouble is float64 on some platforms
        pytest.skip("longdouble is float64 here")
    with pytest.raises(TypeError, match=dtype_name):
        call(name, params, value)


@pytest.mark.parametrize("value", [None, {"a": 1}, [1.0, None]], ids=["None", "dict", "list"])
def test_objects_say_what_is_expected(value):
    # not only "dtype object": what fastnl takes, and what made the object array
    expected = (r"dtype object: expected an array of real numbers \(floating, integer or "
                r"bool\) or a nested list of numbers; None, dicts")
    calls = [fastnl.gelu, fastnl.softmax, lambda v: fastnl.mse_loss(v, np.zeros(2)),
             lambda v: fastnl.cross_entropy(v, [0]), lambda v: fastnl.gelu_backward(v, v)]
    for call in calls:
        with pytest.raises(TypeError, match=expected):
            call(value)


@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_non_native_byte_order(name, params):
    x = data()
    swapped = x.astype(x.dtype.newbyteorder())
    got = call(name, params, swapped)
    assert got.dtype == np.float64 and got.dtype.isnative
    np.testing.assert_array_equal(got, call(name, params, x))


def test_python_scalars_and_lists():
    assert fastnl.relu(-3) == 0.0 and isinstance(fastnl.relu(-3), np.float64)
    np.testing.assert_array_equal(fastnl.relu([[-1, 2]]), [[0.0, 2.0]])


# ---------------------------------------------------------------- shapes, layouts

def layouts():
    base = data((6, 40, 9))
    return {
        "C": base,
        "F": np.asfortranarray(base),
        "transposed": base.transpose(2, 0, 1),
        "negative-strides": base[::-1, :, ::-1],
        "strided-slice": base[:, ::3, 1:],
        "scalar-0d": np.array(1.5),
        "empty": np.empty((0, 3)),
        "empty-1d": np.empty(0),
        "broadcast-view": np.broadcast_to(np.arange(-3.0, 3.0), (5, 6)),
        "large-F": np.asfortranarray(data((300, 250))),  # crosses the parallel grain
        # contiguous rows apart, read in place (Kernel.rows)
        "row-slice": base[:, :, 1:],
        "row-slice-reversed": data((50, 60))[::-1, 3:],
        "broadcast-rows": np.broadcast_to(np.linspace(-5.0, 5.0, 40), (30, 40)),
        "large-row-slice": data((300, 260))[:, 5:255],  # crosses the parallel grain
    }


@pytest.mark.parametrize("layout", list(layouts()))
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_any_layout(name, params, layout, n_threads):
    x = layouts()[layout]
    got = call(name, params, x)
    expected = call(name, params, np.array(x, order="C"))
    assert np.shape(got) == x.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_zero_d_returns_numpy_scalar(name, params):
    got = call(name, params, np.float32(-0.5))
    assert isinstance(got, np.float32)


@pytest.mark.parametrize("layout", ["C", "F", "negative-strides", "strided-slice", "row-slice"])
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_input_never_modified_and_read_only_accepted(name, params, layout):
    x = layouts()[layout]
    x.flags.writeable = False
    before = x.copy()
    call(name, params, x)
    np.testing.assert_array_equal(x, before)


# ---------------------------------------------------------------- out=

@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("out_order", ["C", "F"])
def test_out_is_filled_and_returned(name, params, out_order):
    x = data()
    out = np.empty(x.shape, x.dtype, order=out_order)
    result = call(name, params, x, out=out)
    assert result is out
    np.testing.assert_array_equal(out, call(name, params, x))


@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("layout", ["C", "F", "negative-strides", "strided-slice", "large-F",
                                    "row-slice", "large-row-slice"])
def test_in_place(name, params, layout):
    x = layouts()[layout]
    expected = call(name, params, x)
    result = call(name, params, x, out=x)
    assert result is x
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("name, params", CASES[::3], ids=CASE_IDS[::3])
def test_out_overlapping_input(name, params):
    buf = data((50_001,))
    expected = call(name, params, buf[1:])
    result = call(name, params, buf[1:], out=buf[:-1])
    np.testing.assert_array_equal(result, expected)
    buf = data((50_001,))
    expected = call(name, params, buf[:-1])
    result = call(name, params, buf[:-1], out=buf[1:])
    np.testing.assert_array_equal(result, expected)


def test_out_float16_and_integer_input():
    x = data(dtype=np.float16)
    out = np.empty_like(x)
    assert fastnl.gelu(x, out=out) is out
    np.testing.assert_array_equal(out, fastnl.gelu(x))
    out64 = np.empty(3)
    fastnl.relu(np.array([-1, 0, 2]), out=out64)
    np.testing.assert_array_equal(out64, [0.0, 0.0, 2.0])


@pytest.mark.parametrize("out, error, match", [
    (np.empty((3, 5)), ValueError, r"shape \(3, 5\), expected \(5, 3\)"),
    (np.empty((5, 3), np.float32), TypeError, "dtype float32, expected float64"),
    (np.empty((5, 3), np.dtype(">f8")), TypeError, "expected float64"),
    ([[0.0] * 3] * 5, TypeError, "numpy.ndarray"),
])
@pytest.mark.parametrize("name, params", CASES[::5], ids=CASE_IDS[::5])
def test_wrong_out(name, params, out, error, match):
    with pytest.raises(error, match=match):
        call(name, params, np.ones((5, 3)), out=out)


def test_read_only_out():
    out = np.empty(3)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fastnl.relu(np.ones(3), out=out)


def test_float16_input_needs_float16_out():
    with pytest.raises(TypeError, match="expected float16"):
        fastnl.relu(np.ones(3, np.float16), out=np.empty(3, np.float32))


def test_one_rule_for_writing_into_out():
    """_validate.writes_into, the one rule every driver asks: out itself (in
    place) or disjoint memory, the kernel's shape, dtype and order."""
    from fastnl._validate import writes_into
    x = np.zeros((4, 6))
    out = np.empty((4, 6))
    assert writes_into(out, x.shape, x.dtype, "C", [x])
    assert writes_into(x, x.shape, x.dtype, "C", [x])  # in place
    assert not writes_into(None, x.shape, x.dtype, "C", [x])
    assert not writes_into(x, x.shape, x.dtype, "C", [x.reshape(-1)])  # a view of out
    shifted = np.zeros(30)
    assert not writes_into(shifted[:24].reshape(4, 6), x.shape, x.dtype, "C",
                           [shifted[6:].reshape(4, 6)])  # partial overlap
    assert not writes_into(out, x.shape, np.float32, "C", [x])
    assert not writes_into(out, (6, 4), x.dtype, "C", [x])
    assert not writes_into(out, x.shape, x.dtype, "F", [x])
    assert writes_into(np.asfortranarray(out), x.shape, x.dtype, "F", [np.asfortranarray(x)])
