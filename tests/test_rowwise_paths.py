"""The row-wise kernels' vector paths (fastnl/_kernels/_rowwise.pyx.tp): every
length, offset, stride and thread count takes the same per-element formula
and the same summation order, so results are bitwise equal whichever path
(vector body, ragged end, strided scalar loop, 64-lane tile) computed them."""

import numpy as np
import pytest

import fastnl
from fastnl._kernels import _rowwise

FUNCS = ["softmax", "log_softmax", "softmin"]
# around the kernels' blocks: 16 (partial sums), 64 (max lanes), and longer rows
LENGTHS = [1, 2, 15, 16, 17, 31, 33, 63, 64, 65, 79, 100, 129, 1000, 1031]


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("temperature", [1.0, 0.5, 0.3])
def test_row_tile_and_strided_rows_agree_bitwise(name, dtype, temperature, rng):
    f = getattr(fastnl, name)
    for n in LENGTHS:
        x = (rng.standard_normal((5, n)) * 4).astype(dtype)
        row = f(x, axis=1, temperature=temperature)
        tile = f(np.ascontiguousarray(x.T), axis=0, temperature=temperature).T
        np.testing.assert_array_equal(row, tile, err_msg=f"n={n}")
        # one lane per tile-kernel call when the lanes are a single column
        single = f(x[:1].T.copy(), axis=0, temperature=temperature).T
        np.testing.assert_array_equal(row[:1], single, err_msg=f"n={n}")


@pytest.mark.parametrize("name", FUNCS)
def test_offsets_do_not_change_bits(name, rng):
    # a row starting at any element offset (vector loads unaligned, peeling
    # differs) gives the same bits
    f = getattr(fastnl, name)
    base = (rng.standard_normal(1200) * 5).astype(np.float32)
    for n in (17, 100, 1000):
        expected = f(base[:n].copy())
        for k in range(1, 17):
            buf = np.empty(n + k, np.float32)[k:]
            buf[:] = base[:n]
            np.testing.assert_array_equal(f(buf), expected, err_msg=f"n={n} offset={k}")


@pytest.mark.parametrize("inner", [1, 3, 16, 40, 64, 65, 130])
def test_tile_widths(inner, rng):
    # full and partial 64-lane tiles, and axes shorter than the tile kernels'
    # prefetch distance
    for n in (1, 5, 16, 17, 40):
        x = (rng.standard_normal((2, n, inner)) * 3).astype(np.float32)
        for name in FUNCS:
            f = getattr(fastnl, name)
            got = f(x, axis=1)
            ref = np.moveaxis(f(np.ascontiguousarray(np.moveaxis(x, 1, 2)), axis=-1), 2, 1)
            np.testing.assert_array_equal(got, ref, err_msg=f"{name} n={n} inner={inner}")


def test_signed_zero_max_is_canonical():
    # the row's maximum is -0.0 or +0.0 depending on the lane that saw it
    # first; the kernels make it +0.0, so every layout gives the same bits
    for values in ([-0.0, 0.0], [0.0, -0.0], [-0.0, -0.0, -1.0], [-1.0, -0.0] * 20):
        x = np.array(values, np.float32)
        for name in FUNCS:
            f = getattr(fastnl, name)
            row = f(x)
            tile = f(x[:, None], axis=0)[:, 0]
            np.testing.assert_array_equal(np.signbit(row), np.signbit(tile))
            np.testing.assert_array_equal(row, tile)


@pytest.mark.parametrize("n", [15, 16, 17, 100, 1031])
def test_nan_and_inf_anywhere_in_the_row(n):
    # in the vector body, the ragged end and the max's scalar tail
    for pos in sorted({0, n // 2, n - 1}):
        x = np.linspace(-3, 3, n).astype(np.float32)
        x[pos] = np.nan
        assert np.isnan(fastnl.softmax(x)).all() and np.isnan(fastnl.log_softmax(x)).all()
        x[pos] = np.inf
        y = fastnl.softmax(x)
        assert y[pos] == 1 and np.count_nonzero(y) == 1
        x[pos] = -np.inf
        y = fastnl.softmax(x)
        assert y[pos] == 0 and abs(float(y.sum(dtype=np.float64)) - 1) < 1e-6


@pytest.mark.parametrize("temperature", [1.0, 0.5, 0.3])
def test_log_softmax_short_rows_in_groups(temperature, rng):
    # float32 rows of up to 256 elements go 16 at a time, their logs taken
    # together (frw_log_softmax_rows); a row with an infinite extreme stops
    # the group there, and it and the rows after it go one at a time. Each
    # row as the tile kernel computes it as a lane, in place and from a
    # slice of rows too, on one and two threads
    for rows, n in ((40, 1), (40, 3), (40, 15), (40, 16), (40, 17), (40, 64), (40, 100),
                    (40, 256), (40, 257), (200, 200)):
        x = (rng.standard_normal((rows, n)) * 3).astype(np.float32)
        x[5, min(3, n - 1)] = np.inf
        x[21] = -np.inf
        x[22, min(7, n - 1)] = np.nan
        x[33, 0] = -np.inf
        expected = fastnl.log_softmax(np.ascontiguousarray(x.T), axis=0, temperature=temperature).T
        wide = np.zeros((rows, n + 5), np.float32)
        wide[:, :n] = x
        for threads in (1, 2):
            with fastnl.num_threads(threads):
                np.testing.assert_array_equal(
                    fastnl.log_softmax(x, axis=1, temperature=temperature), expected, err_msg=n)
                np.testing.assert_array_equal(
                    fastnl.log_softmax(wide[:, :n], axis=1, temperature=temperature), expected)
                inplace = x.copy()
                fastnl.log_softmax(inplace, axis=1, temperature=temperature, out=inplace)
                np.testing.assert_array_equal(inplace, expected)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_row_and_tile_agree_bitwise(log, dtype, rng):
    f = fastnl.log_softmax_backward if log else fastnl.softmax_backward
    fwd = fastnl.log_softmax if log else fastnl.softmax
    for n in LENGTHS:
        x = (rng.standard_normal((4, n)) * 3).astype(dtype)
        g = rng.standard_normal((4, n)).astype(dtype)
        y = fwd(x, axis=1)
        row = f(g, y, axis=1)
        tile = f(np.ascontiguousarray(g.T), np.ascontiguousarray(y.T), axis=0).T
        np.testing.assert_array_equal(row, tile, err_msg=f"n={n}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_tile_copy_has_the_row_kernels_bits(dtype, rng):
    # steps along the axis 4 KiB apart, or 16 bytes more (with a ragged last
    # tile), share the L1 cache's sets: the tile kernel's write pass reads a
    # copy of g and y from its sum pass (frw_tile_stages) for axes of 8 to
    # 8 KiB / 256 bytes (float32: 32) or / 512 (float64: 16) steps; the
    # copy holds g and y the write pass reads, in place too
    size = np.dtype(dtype).itemsize
    bits = f"u{size}"
    for n in (7, 8, 15, 16, 17, 32, 33):
        for inner in (4096 // size, 4112 // size):
            x = (rng.standard_normal((2, n, inner)) * 3).astype(dtype)
            g = rng.standard_normal(x.shape).astype(dtype)
            y = fastnl.softmax(x, axis=1)
            rows = fastnl.softmax_backward(np.ascontiguousarray(np.swapaxes(g, 1, 2)),
                                           np.ascontiguousarray(np.swapaxes(y, 1, 2)), axis=2)
            expected = np.swapaxes(rows, 1, 2).view(bits)
            got = fastnl.softmax_backward(g, y, axis=1)
            np.testing.assert_array_equal(got.view(bits), expected, err_msg=f"{n} {inner}")
            for operand in (0, 1):
                gy = [g.copy(), y.copy()]
                fastnl.softmax_backward(*gy, axis=1, out=gy[operand])
                np.testing.assert_array_equal(gy[operand].view(bits), expected,
                                              err_msg=f"{n} {inner} in place")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_rows_fused_as_each_row_alone(dtype, rng):
    # softmax_backward along the last axis runs each thread's block of rows
    # with the next row's sum fused into this row's write (rows shorter than
    # 1 KiB or longer than 16 KiB; the others a sum pass and a write pass
    # each): every row must come out as it does alone (one row, nothing
    # fused), on any number of threads, in place over grad_output or output
    assert 40 * 1031 > _rowwise.GRAIN_SIZE  # the last four start threads
    for rows, n in ((3, 15), (9, 16), (40, 1031), (70, 1000), (400, 100), (20, 5000)):
        x = (rng.standard_normal((rows, n)) * 3).astype(dtype)
        g = rng.standard_normal((rows, n)).astype(dtype)
        y = fastnl.softmax(x, axis=-1)
        alone = np.stack([fastnl.softmax_backward(g[i], y[i]) for i in range(rows)])
        for threads in (1, 2):
            with fastnl.num_threads(threads):
                np.testing.assert_array_equal(fastnl.softmax_backward(g, y), alone)
                into_g, into_y = g.copy(), y.copy()
                fastnl.softmax_backward(into_g, y, out=into_g)
                fastnl.softmax_backward(g, into_y, out=into_y)
                np.testing.assert_array_equal(into_g, alone)
                np.testing.assert_array_equal(into_y, alone)


@pytest.mark.parametrize("name", FUNCS)
def test_threads_same_bits_last_axis_and_axis0(name, rng):
    f = getattr(fastnl, name)
    x = (rng.standard_normal((300, 333)) * 4).astype(np.float32)
    assert x.size > _rowwise.GRAIN_SIZE
    for axis in (-1, 0):
        with fastnl.num_threads(1):
            one = f(x, axis=axis)
        with fastnl.num_threads(2):
            two = f(x, axis=axis)
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_strided_rows_match_contiguous(dtype, rng):
    # the strided scalar loops keep the vector loops' lanes and order
    for C in (7, 16, 100, 1031):
        x = (rng.standard_normal((9, C)) * 3).astype(dtype)
        t = rng.integers(0, C, 9)
        contiguous = fastnl.cross_entropy(x, t, reduction="none")
        strided = fastnl.cross_entropy(np.asfortranarray(x), t, reduction="none")
        np.testing.assert_array_equal(contiguous, strided)
        gc = fastnl.cross_entropy_backward(x, t, reduction="sum")
        gs = fastnl.cross_entropy_backward(np.asfortranarray(x), t, reduction="sum")
        np.testing.assert_array_equal(gc, gs)
        # the class axis in the middle: (N, C, inner) rows C elements inner apart
        x3 = np.ascontiguousarray(np.broadcast_to(x[:, :, None], (9, C, 3)))
        t3 = np.repeat(t[:, None], 3, axis=1)
        per_row = fastnl.cross_entropy(x3, t3, reduction="none")
        np.testing.assert_array_equal(per_row, np.repeat(contiguous[:, None], 3, axis=1))


def test_cross_entropy_backward_threads_same_bits(rng):
    x = (rng.standard_normal((64, 3000)) * 3).astype(np.float32)
    assert x.size > _rowwise.GRAIN_SIZE
    t = rng.integers(0, 3000, 64)
    with fastnl.num_threads(1):
        one = fastnl.cross_entropy_backward(x, t, label_smoothing=0.1)
    with fastnl.num_threads(2):
        two = fastnl.cross_entropy_backward(x, t, label_smoothing=0.1)
    np.testing.assert_array_equal(one, two)
    p = fastnl.softmax(x.astype(np.float64))
    p[np.arange(64), t] -= 0.9
    p -= 0.1 / 3000
    np.testing.assert_allclose(one, p / 64, rtol=1e-5, atol=1e-10)


def test_fast_exp_vector_loop_dense_sample(rng):
    # the vector loop the kernels run (FMA where the CPU has it), on a random
    # sample of [-110, 0] weighted towards the subnormal results
    d = np.concatenate([rng.uniform(-110, 0, 1_000_000), rng.uniform(-104, -87, 500_000)])
    d = d.astype(np.float32)
    got = np.empty_like(d)
    _rowwise.exp_nonpos_f32(d, got)
    exact = np.exp(d.astype(np.float64))
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - exact) / ulp) <= 1.0
    # element by element (the scalar remainder) equals the vector body
    for k in (1, 3, 7, 15):
        part = np.empty(k, np.float32)
        _rowwise.exp_nonpos_f32(d[:k].copy(), part)
        np.testing.assert_array_equal(part, got[:k])


def test_import_keeps_subnormals():
    # the kernels are built without -ffast-math: importing them must not set
    # flush-to-zero / denormals-are-zero for the process
    import fastnl._kernels._rowwise  # noqa: F401
    tiny = np.float32(1e-38)
    assert tiny * np.float32(1e-3) != 0
    assert np.nextafter(np.float32(0), np.float32(1)) / np.float32(2) == 0  # rounds to even
    assert np.float64(5e-324) * 1 != 0


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_call_path_has_the_general_paths_bits(name, dtype, rng):
    # a plain C-contiguous float array goes to the kernel in one C call
    # (_rowwise.fast_softmax / fast_softmax_backward); any other layout, an
    # overlapping out or a dtype cast takes the general path: same bits
    f, backward = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
    x = (rng.standard_normal((6, 5, 33)) * 4).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    log_out, t = name == "log_softmax", -0.7 if name == "softmin" else 0.7
    for axis in (0, 1, 2, -1):
        assert _rowwise.fast_softmax(x, axis, t, log_out, None) is not None
        y = f(x, axis=axis, temperature=0.7)
        general = f(np.asfortranarray(x), axis=axis, temperature=0.7)  # not C-contiguous
        np.testing.assert_array_equal(y, general)
        assert y.flags.c_contiguous and y.dtype == dtype
        gx = backward(g, y, axis=axis, temperature=0.7)
        np.testing.assert_array_equal(
            gx, backward(np.asfortranarray(g), np.asfortranarray(y), axis=axis, temperature=0.7))
        # out=: a new array, the input itself (in place), and an overlapping
        # view (through a temporary on the general path)
        out = np.empty_like(x)
        assert f(x, axis=axis, temperature=0.7, out=out) is out
        np.testing.assert_array_equal(out, y)
        inplace = x.copy()
        assert f(inplace, axis=axis, temperature=0.7, out=inplace) is inplace
        np.testing.assert_array_equal(inplace, y)
        buffer = np.concatenate([x.ravel(), x.ravel()])
        view_in, view_out = buffer[:x.size].reshape(x.shape), buffer[1:x.size + 1].reshape(x.shape)
        assert _rowwise.fast_softmax(view_in, axis, t, log_out, view_out) is None
        f(view_in, axis=axis, temperature=0.7, out=view_out)
        np.testing.assert_array_equal(view_out, y)
        grad_in_place = g.copy()
        assert backward(grad_in_place, y, axis=axis, temperature=0.7,
                        out=grad_in_place) is grad_in_place
        np.testing.assert_array_equal(grad_in_place, gx)
    for axis in (3, -4, 1.0, True):
        assert _rowwise.fast_softmax(x, axis, t, log_out, None) is None
    assert _rowwise.fast_softmax(x.astype(">f8"), 0, t, log_out, None) is None
    assert _rowwise.fast_softmax_backward(g.astype(np.float16), x, 0, t, log_out, None) is None
    assert _rowwise.fast_softmax_backward(g[:, :, :3], x, 0, t, log_out, None) is None
    with pytest.raises(np.exceptions.AxisError):
        f(x, axis=3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_glu_small_call_path_has_the_general_paths_bits(dtype, rng):
    # a plain C-contiguous float array goes to the kernel in one C call
    # (_rowwise.fast_glu); another layout takes the general path: same bits;
    # an odd or empty axis, an axis out of range or a 0-d input take the
    # general path too, which raises or returns the empty result
    x = (rng.standard_normal((6, 4, 10)) * 4).astype(dtype)
    x[0, 0, :4] = [np.inf, -np.inf, np.nan, -0.0]
    before = x.copy()
    for axis in (0, 1, 2, -1, -3):
        y = _rowwise.fast_glu(x, axis)
        assert y is not None and y.flags.c_contiguous and y.dtype == dtype
        general = fastnl.glu(np.asfortranarray(x), dim=axis)
        np.testing.assert_array_equal(y, general)
        np.testing.assert_array_equal(fastnl.glu(x, dim=axis), general)
        a, b = np.split(x.astype(np.float64), 2, axis=axis)
        with np.errstate(over="ignore", invalid="ignore"):
            np.testing.assert_allclose(y, a / (1 + np.exp(-b)), rtol=4 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(x, before)  # the input is never written
    odd = x[:, :3]
    for axis in (3, -4, 1.0, True):
        assert _rowwise.fast_glu(x, axis) is None
    assert _rowwise.fast_glu(np.ascontiguousarray(odd), 1) is None
    assert _rowwise.fast_glu(np.ones((2, 0), dtype), 0) is None
    assert _rowwise.fast_glu(x.astype(">f8"), 0) is None
    with pytest.raises(ValueError, match="Halving dimension must be even"):
        fastnl.glu(np.ascontiguousarray(odd), dim=1)
    with pytest.raises(np.exceptions.AxisError):
        fastnl.glu(x, dim=3)
    assert fastnl.glu(np.ones((2, 0), dtype), dim=0).shape == (1, 0)


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_apart_read_in_place(name, dtype, rng):
    """Rows that lie apart along the last axis (x[:, a:b], reversed rows, a
    3-d slice whose leading axes collapse) are read where they are by the
    small-call paths, forward and backward (g, y or both such slices), with
    the bits of contiguous copies, on 1 and 2 threads; along another axis,
    or with out= a slice, the general path's copy gives the same."""
    f, b = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
    base = (rng.standard_normal((300, 260)) * 4).astype(dtype)
    gbase = rng.standard_normal((300, 260)).astype(dtype)
    cube, gcube = base.reshape(30, 10, 260), gbase.reshape(30, 10, 260)
    for x, g in [(base[:, 5:255], gbase[:, 10:]), (base[::-2, 3:], gbase[:150, 3:]),
                 (cube[:, ::2, 1:], gcube[:, 1::2, :259])]:
        assert _rowwise.fast_softmax(x, -1, 1.0, False, None) is not None
        want = f(np.ascontiguousarray(x), axis=-1)
        y = np.zeros(x.shape[:-1] + (x.shape[-1] + 7,), dtype)[..., 7:]  # y itself apart
        y[...] = want
        want_b = b(np.ascontiguousarray(g), want, axis=-1)
        for threads in (1, 2):
            with fastnl.num_threads(threads):
                assert f(x, axis=-1).tobytes() == want.tobytes()
                assert b(g, want, axis=-1).tobytes() == want_b.tobytes()
                assert b(np.ascontiguousarray(g), y, axis=-1).tobytes() == want_b.tobytes()
                assert b(g, y, axis=-1).tobytes() == want_b.tobytes()
    x = base[:, 5:255]
    np.testing.assert_array_equal(f(x, axis=0), f(np.ascontiguousarray(x), axis=0))
    copy = base.copy()
    want = f(np.ascontiguousarray(copy[:, 5:255]))
    assert f(copy[:, 5:255], out=copy[:, 5:255]) is not None  # in place: the general path
    assert copy[:, 5:255].tobytes() == want.tobytes()
    out = np.empty((300, 250), dtype)
    assert f(x, out=out) is out and out.tobytes() == want.tobytes()
