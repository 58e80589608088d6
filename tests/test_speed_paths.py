"""The code paths of the fast elementwise kernels (issue 5), none timed:
vector body against remainder and thread chunks (every element's result
depends on its value only), the small-call C-API path against the general
path for every layout it declines, and the rare-input fix-up blocks."""

import numpy as np
import pytest

import fastnl
from fastnl import _ops, _reference as reference
from fastnl._kernels import _elementwise as _k

CASES = [(name, params) for name, params in reference.CASES if name not in ("prelu", "rrelu")]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]
DTYPES = [np.float32, np.float64]


def forward(name, params, x, **kw):
    return getattr(fastnl, name)(x, **params, **kw)


def backward(name, params, g, x, **kw):
    return getattr(fastnl, f"{name}_backward")(g, x, **params, **kw)


def values(dtype, n, seed=0):
    """Every kind of input mixed: normal, wide, tiny, subnormal, specials."""
    rng = np.random.default_rng(seed)
    info = np.finfo(dtype)
    pool = np.concatenate([rng.standard_normal(n) * 4, rng.standard_normal(n) * 300,
                           [0.0, -0.0, np.inf, -np.inf, np.nan, float(info.smallest_subnormal),
                            -float(info.smallest_subnormal), float(info.max), -float(info.max),
                            -100.0, -800.0, 20.0, 3.0, -3.0, 0.5, -0.5]])
    return rng.choice(pool, n).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_each_element_alone_equals_in_a_vector(name, params, dtype):
    """Results are the same bitwise whether an element sits in the vector
    body, the remainder, or is computed alone (n = 1), at every offset."""
    x = values(dtype, 301)
    g = values(dtype, 301, seed=1)
    whole = forward(name, params, x)
    whole_b = backward(name, params, g, x)
    alone = np.array([forward(name, params, x[i:i + 1])[0] for i in range(x.size)])
    alone_b = np.array([backward(name, params, g[i:i + 1], x[i:i + 1])[0] for i in range(x.size)])
    assert whole.tobytes() == alone.astype(dtype).tobytes()
    assert whole_b.tobytes() == alone_b.astype(dtype).tobytes()
    for start in (1, 3, 7, 13):  # misaligned starts, odd lengths
        for stop in (x.size, x.size - 5):
            part = forward(name, params, x[start:stop])
            assert part.tobytes() == whole[start:stop].tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_thread_counts_and_chunks(name, params, dtype):
    """Sizes around the grains and thread chunks, 1 to 3 threads: bitwise equal."""
    for n in (16383, 32769, 65537, 100_003):
        x = values(dtype, n, seed=n)
        with fastnl.num_threads(1):
            one, one_b = forward(name, params, x), backward(name, params, x, x)
        for threads in (2, 3):
            with fastnl.num_threads(threads):
                assert forward(name, params, x).tobytes() == one.tobytes()
                assert backward(name, params, x, x).tobytes() == one_b.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_path_equals_general_path(dtype):
    """Layouts the C-API path declines (views, Fortran order, byte-swapped,
    read-only, mixed dtypes, overlapping out, 0-d) give the same values."""
    x = values(dtype, 60).reshape(6, 10)
    ref = fastnl.silu(x)
    assert fastnl.silu(np.asfortranarray(x)).tolist() == ref.tolist()
    assert fastnl.silu(x[:, ::-1])[:, ::-1].tolist() == ref.tolist()
    swapped = x.astype(x.dtype.newbyteorder())
    assert fastnl.silu(swapped).tolist() == ref.tolist()
    ro = x.copy()
    ro.flags.writeable = False
    assert fastnl.silu(ro).tolist() == ref.tolist()
    out = np.full_like(x, np.nan)  # not np.empty: it may hold a freed result's values
    assert fastnl.silu(x, out=out) is out and out.tolist() == ref.tolist()
    inplace = x.copy()
    assert fastnl.silu(inplace, out=inplace) is inplace and inplace.tolist() == ref.tolist()
    buf = np.concatenate([x.ravel(), x.ravel()])  # out overlapping the input, shifted
    fastnl.silu(buf[:60].reshape(6, 10), out=buf[5:65].reshape(6, 10))
    assert buf[5:65].tolist() == ref.ravel().tolist()
    y0 = fastnl.silu(x[0, 3])  # 0-d: a NumPy scalar, as ufuncs return
    assert np.ndim(y0) == 0 and y0 == ref[0, 3]
    g = np.random.default_rng(3).standard_normal((6, 10)).astype(dtype)
    other = np.float64 if dtype == np.float32 else np.float32
    mixed = fastnl.silu_backward(g.astype(other), x)
    assert mixed.dtype == np.float64
    inplace_g = g.copy()
    want = fastnl.silu_backward(g, x)
    assert fastnl.silu_backward(inplace_g, x, out=inplace_g) is inplace_g
    assert inplace_g.tobytes() == want.tobytes()


@pytest.mark.parametrize("name, derivative", [(k.name, p == "backward") for k in _ops.KERNELS
                                               for p in k.pieces])
def test_pieces_at_their_edges_and_without_them(name, derivative):
    """The float32 forms by pieces (AVX-512, Kernel.pieces) within the
    tolerance at every piece's edge (8 float32 either side, both signs), and
    the clones' form, which the other CPUs run, there too."""
    edges = [5 / 64, 16.0] + [2.0 ** e * (1 + q / 4) for e in range(-4, 4) for q in range(4)]
    x = np.array(edges, np.float32)
    x = np.concatenate([x, -x])
    for _ in range(8):
        x = np.unique(np.concatenate([x, np.nextafter(x, np.float32(np.inf)),
                                      np.nextafter(x, np.float32(-np.inf))]))
    exact = reference.exact(name, x, {}, derivative)
    allowed = reference.tolerance(np.float32, name, {}, derivative)[0]
    was = _k.avx512_pieces()
    try:
        for on in (True, False):
            _k.avx512_pieces(on)
            got = (backward(name, {}, np.ones_like(x), x) if derivative else forward(name, {}, x))
            assert reference.ulp_error(got, exact).max() <= allowed
    finally:
        _k.avx512_pieces(was)


def test_remainder_has_the_vector_bits():
    """An element's bits do not depend on whether it falls in the vector body
    or the scalar remainder: float64 sigmoid' at x = 203.975... differed by
    an ulp in the remainder, where GCC fused the other product of a sum of
    two (fnl_math.h writes those with an explicit fma)."""
    x, g = 203.9752286205872, -2.616416399967216
    results = {fastnl.sigmoid_backward(np.full(n, g), np.full(n, x)).tobytes()[:8]
               for n in range(1, 20)}
    assert len(results) == 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_rows_apart_read_in_place(name, params, dtype):
    """Arrays of contiguous rows that lie apart (slices, reversed rows, a
    broadcast row, a 3-d slice whose leading axes collapse, a slice of the
    second axis whose rows span the axes after it) are read where they are,
    by the small-call path and by Kernel.rows, with the same bits as a
    contiguous copy, for one and two threads; g and x may have different
    row layouts."""
    base = values(dtype, 260 * 300, seed=5).reshape(260, 300)
    gbase = values(dtype, 260 * 300, seed=6).reshape(260, 300)
    views = [base[:, 7:], base[::-3, 1:201], np.broadcast_to(base[0, :50], (9, 50)),
             base.reshape(13, 20, 300)[:, ::2, 100:], base.reshape(26, 10, 300)[:, 3:8]]
    for x in views:
        g = gbase[:x.shape[-2] if x.ndim == 2 else None, :x.shape[-1]]
        g = g if x.ndim == 2 else gbase[:x.size // x.shape[-1], :x.shape[-1]].reshape(x.shape)
        want = forward(name, params, np.ascontiguousarray(x))
        want_b = backward(name, params, np.ascontiguousarray(g), np.ascontiguousarray(x))
        for threads in (1, 2):
            with fastnl.num_threads(threads):
                assert forward(name, params, x).tobytes() == want.tobytes()
                assert backward(name, params, g, x).tobytes() == want_b.tobytes()
                contiguous_g = backward(name, params, np.ascontiguousarray(g), x)
                assert contiguous_g.tobytes() == want_b.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_strided_inputs_read_in_place(name, params, dtype):
    """Inputs of other strides (a step along the row, reversed steps, axes
    permuted, a broadcast column) are gathered a chunk at a time by
    Kernel.strided, with the same bits as a contiguous copy, for one and two
    threads; g and x may have different layouts, one of them contiguous."""
    base = values(dtype, 260 * 600, seed=5).reshape(260, 600)
    gbase = values(dtype, 260 * 600, seed=6).reshape(260, 600)
    views = [base[:, ::2], base[::-1, ::-3], base.reshape(13, 20, 600)[..., ::3].transpose(1, 2, 0),
             np.broadcast_to(base[:, :1], (260, 301)),
             base.reshape(13, 20, 600).transpose(1, 2, 0)]  # permuted axes: in memory order
    for x in views:
        g = gbase.ravel()[:x.size].reshape(x.shape)
        want = forward(name, params, np.ascontiguousarray(x))
        want_b = backward(name, params, g, np.ascontiguousarray(x))
        for threads in (1, 2):
            with fastnl.num_threads(threads):
                assert forward(name, params, x).tobytes() == want.tobytes()
                assert backward(name, params, g, x).tobytes() == want_b.tobytes()
                g_strided = np.zeros(x.shape + (2,), dtype)[..., 0]  # g's values, strided
                g_strided[...] = g
                assert backward(name, params, g_strided, x).tobytes() == want_b.tobytes()


def test_strided_paths():
    """Kernel.strided checks its arrays; out= with strided inputs."""
    x = values(np.float32, 40 * 30, seed=2).reshape(40, 30)
    want = fastnl.silu(np.ascontiguousarray(x[:, ::2]))
    out = np.empty((40, 15), np.float32)
    assert fastnl.silu(x[:, ::2], out=out) is out and out.tobytes() == want.tobytes()
    mixed = fastnl.silu_backward(x[:, ::2].astype(np.float64), x[:, 1::2])  # float64
    assert mixed.tobytes() == fastnl.silu_backward(np.ascontiguousarray(x[:, ::2], np.float64),
                                                   np.ascontiguousarray(x[:, 1::2], np.float64)
                                                   ).tobytes()
    x4 = values(np.float64, 2 * 3 * 4 * 50, seed=4).reshape(2, 3, 4, 50)
    nhwc = x4.transpose(0, 2, 3, 1)  # permuted axes: the result laid out as the input
    y = fastnl.silu(nhwc)
    assert np.argsort(y.strides).tolist() == np.argsort(nhwc.strides).tolist()
    assert y.tobytes("K") == fastnl.silu(x4).transpose(0, 2, 3, 1).tobytes("K")
    out4 = np.empty_like(nhwc)
    assert fastnl.silu(nhwc, out=out4) is out4 and out4.tobytes() == y.tobytes()
    out4 = np.empty(nhwc.shape)  # another layout: written through
    assert fastnl.silu(nhwc, out=out4) is out4 and out4.tobytes() == y.tobytes()
    gb = fastnl.silu_backward(nhwc, nhwc)
    assert gb.tobytes() == fastnl.silu_backward(np.ascontiguousarray(nhwc),
                                                np.ascontiguousarray(nhwc)).tobytes()
    _k.silu.strided(x[:, ::2], o := np.empty((40, 15), np.float32), 1)
    assert o.tobytes() == want.tobytes()
    with pytest.raises(ValueError, match="C-contiguous"):
        _k.silu.strided(x[:, ::2], np.empty((15, 40), np.float32).T, 1)
    with pytest.raises(ValueError, match="shape"):
        _k.silu.strided(x[:, ::2], np.empty((40, 14), np.float32), 1)
    with pytest.raises(ValueError, match="dtype"):
        _k.silu.strided(x[:, ::2], np.empty((40, 15), np.float64), 1)
    with pytest.raises(ValueError, match="overlaps"):
        _k.silu.strided(x[:, ::2], x.reshape(-1)[:600].reshape(40, 15), 1)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        _k.silu.strided([1.0], np.empty(1, np.float32), 1)


def test_rows_apart_paths():
    """The small-call path takes rows apart itself (no copy); Kernel.rows
    checks its arrays; out= with rows apart, in place, and mixed dtypes."""
    x = values(np.float32, 40 * 30, seed=2).reshape(40, 30)
    g = values(np.float32, 40 * 30, seed=3).reshape(40, 30)
    assert _k.fast(_k.relu, None, x[:, 1:], None, ()) is not None
    assert _k.fast(_k.relu_backward, g[:, 2:], x[:, 1:-1], None, ()) is not None
    assert _k.fast(_k.relu, None, x[:, ::2], None, ()) is None  # a step along the row: copied
    assert _k.fast(_k.relu, None, x[:, :7], None, ()) is None  # rows below MIN_ROW: copied
    x4 = x.reshape(4, 10, 3, 10)  # a slice of axis 1: rows of 4 x 3 x 10 elements, 300 apart
    assert _k.longest_rows(x4[:, 2:6]) == 120 and _k.longest_rows(x4[..., ::2]) == 0
    assert _k.fast(_k.relu, None, x4[:, 2:6], None, ()) is not None
    out4 = np.full((4, 10, 3, 10), np.nan, np.float32)
    want4 = fastnl.silu(np.ascontiguousarray(x4[:, 2:6]))
    assert fastnl.silu(x4[:, 2:6], out=out4[:, 5:9]) is not None  # written directly
    assert out4[:, 5:9].tobytes() == want4.tobytes() and np.isnan(out4[:, :5]).all()
    want = fastnl.silu(np.ascontiguousarray(x[:, 1:]))
    out = np.full((40, 40), np.nan, np.float32)[:, 5:34]  # out= with rows apart: written directly
    assert fastnl.silu(x[:, 1:], out=out) is out and out.tobytes() == want.tobytes()
    inplace = x.copy()
    assert fastnl.silu(inplace[:, 1:], out=inplace[:, 1:]) is not None
    assert inplace[:, 1:].tobytes() == want.tobytes()
    assert inplace[:, 0].tobytes() == x[:, 0].tobytes()
    mixed = fastnl.silu_backward(g[:, 1:].astype(np.float64)[::2], x[::2, 1:])
    assert mixed.dtype == np.float64
    want_mixed = fastnl.silu_backward(np.ascontiguousarray(g[::2, 1:], np.float64),
                                      np.ascontiguousarray(x[::2, 1:], np.float64))
    assert mixed.tobytes() == want_mixed.tobytes()
    big = np.zeros((40, 60), np.float32)  # a contiguous out inside a row slice's span
    big[:, :30] = x
    overlapping = big.ravel()[1200:1200 + 40 * 29].reshape(40, 29)  # past its first 1160 elements
    assert fastnl.silu(big[:, 1:30], out=overlapping) is overlapping
    assert overlapping.tobytes() == want.tobytes()
    xh = (np.arange(1200, dtype=np.float32).reshape(40, 30) / 100 - 6).astype(np.float16)
    half = fastnl.silu(xh[::2, 1:])  # float16: the general path's rows
    assert half.dtype == np.float16
    assert half.tobytes() == fastnl.silu(np.ascontiguousarray(xh[::2, 1:])).tobytes()
    o = np.empty((40, 29), np.float32)
    _k.silu.rows(x[:, 1:], o, 1)
    assert o.tobytes() == want.tobytes()
    with pytest.raises(ValueError, match="contiguous rows"):
        _k.silu.rows(x[:, ::2], np.empty((40, 15), np.float32), 1)
    with pytest.raises(ValueError, match="2-d"):
        _k.silu.rows(x.ravel(), np.empty(1200, np.float32), 1)
    read_only = np.empty((40, 30), np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _k.silu.rows(x, read_only, 1)
    with pytest.raises(ValueError, match="overlap"):
        buf = np.empty(2000, np.float32)
        _k.silu.rows(x, np.lib.stride_tricks.as_strided(buf, (40, 30), (40, 4)), 1)
    with pytest.raises(ValueError, match="shape"):
        _k.silu.rows(x, np.empty((40, 29), np.float32), 1)


def test_fortran_order_small_call_path():
    """Fortran-ordered arrays (x.T of a C array) take the small-call path, into
    a Fortran-ordered result as the general path's, with its bits; out= of
    that order is written directly, and in place."""
    x = values(np.float32, 40 * 30, seed=7).reshape(40, 30)
    g = values(np.float32, 40 * 30, seed=8).reshape(40, 30)
    assert _k.fast(_k.silu, None, x.T, None, ()) is not None
    assert _k.fast(_k.silu_backward, g.T, x.T, None, ()) is not None
    want = fastnl.silu(np.ascontiguousarray(x.T))
    got = fastnl.silu(x.T)
    assert got.flags.f_contiguous and got.tobytes() == want.tobytes()
    want_b = fastnl.silu_backward(np.ascontiguousarray(g.T), np.ascontiguousarray(x.T))
    assert fastnl.silu_backward(g.T, x.T).tobytes() == want_b.tobytes()
    out = np.empty((30, 40), np.float32, order="F")
    assert fastnl.silu(x.T, out=out) is out and out.tobytes() == want.tobytes()
    inplace = x.copy().T
    assert fastnl.silu(inplace, out=inplace) is inplace and inplace.tobytes() == want.tobytes()


def test_fast_path_declines_and_general_path_raises():
    x = np.ones(10, np.float32)
    assert _k.fast(_k.relu, None, x, np.empty(10, np.float64)) is None
    assert _k.fast(_k.relu, None, x, np.empty(11, np.float32)) is None
    assert _k.fast(_k.relu, None, x.reshape(2, 5), np.empty(10, np.float32)) is None
    assert _k.fast(_k.relu, None, x[::2], None) is None
    assert _k.fast(_k.relu, None, np.float32(1.0), None) is None
    with pytest.raises(TypeError):
        fastnl.relu(x, out=np.empty(10, np.float64))
    with pytest.raises(ValueError):
        fastnl.relu(x, out=np.empty(11, np.float32))
    ro = np.empty(10, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        fastnl.relu(x, out=ro)
    with pytest.raises(ValueError):
        fastnl.relu_backward(np.ones(9, np.float32), x)


def test_unaligned_input():
    raw = np.zeros(4 * 1001 + 1, np.uint8)
    x = raw[1:].view(np.float32)  # not 4-byte aligned
    assert not x.flags.aligned
    x[:] = np.linspace(-5, 5, 1001, dtype=np.float32)
    assert fastnl.sigmoid(x).tobytes() == fastnl.sigmoid(x.copy()).tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_rare_block_in_place(dtype):
    """silu/mish send blocks holding x below exp's normal range (float32
    silu: -87; mish, computed in float64: -708), float64 gelu those below
    -8, through their scalar fix-ups; in place, the block's inputs must be
    read before they are overwritten, and both sides of a cut must agree
    with the reference."""
    x = np.linspace(-30, 30, 5000).astype(dtype)
    x[::97] = -1000.0
    x[1:7] = _around(dtype, _silu_cut(dtype)) + _around(dtype, -8.0)
    for name in ("silu", "mish", "gelu"):
        want = forward(name, {}, x)
        y = x.copy()
        assert forward(name, {}, y, out=y) is y
        assert y.tobytes() == want.tobytes()
        err = reference.ulp_error(want, reference.exact(name, x))
        assert err.max() <= reference.tolerance(dtype, name)[0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_rare_backward_block_in_place(dtype):
    """silu's derivative sends the same blocks through its scalar tail (and
    -inf to 0); written over g or over x, the block's inputs must be read
    before they are overwritten."""
    x = np.linspace(-30, 30, 5000).astype(dtype)
    x[::97] = -1000.0
    x[5] = -np.inf
    x[6:9] = _around(dtype, _silu_cut(dtype))
    g = np.linspace(0.5, 2.0, 5000).astype(dtype)
    want = backward("silu", {}, g, x)
    assert want[5] == 0.0
    for into in ("g", "x"):
        gg, xx = g.copy(), x.copy()
        out = gg if into == "g" else xx
        assert backward("silu", {}, gg, xx, out=out) is out
        assert out.tobytes() == want.tobytes(), into
    # the derivative's own error, with g = 1: times g, the result may sit
    # elsewhere in its binade than the derivative, and the same relative
    # error count up to twice the ulp there
    finite = np.isfinite(x)
    slope = backward("silu", {}, np.ones_like(x), x)
    err = reference.ulp_error(slope[finite], reference.exact("silu", x[finite], derivative=True))
    assert err.max() <= reference.tolerance(dtype, "silu", derivative=True)[0]


def test_sigmoid_pair_cut_in_place():
    """float32's sigmoid (and glu and silu) covers |z| <= 80 with its vector
    pair form, the softplus and logsigmoid derivatives with exp(-|z|) alone,
    and all send larger |z|, infinities and NaN through the float64 fix-up:
    both sides of the cut, in place or not, within the function's tolerance
    of the exact value (1 ulp; the derivatives, from exp(-|z|) alone, 1.5)."""
    x = np.linspace(-120, 120, 5000).astype(np.float32)
    x[::89] = np.float32(-1000.0)
    x[1::89] = np.float32(1000.0)
    x[2:8] = _around(np.float32, -80.0) + _around(np.float32, 80.0)
    x[8:12] = [np.inf, -np.inf, 86.95296, -86.95296]
    x[12] = np.nan
    finite = np.isfinite(x)
    g = np.linspace(0.5, 2.0, 5000).astype(np.float32)
    cases = [("sigmoid", {}, False), ("silu", {}, False), ("logsigmoid", {}, True),
             ("softplus", {}, True), ("softplus", {"beta": 0.5, "threshold": 1000.0}, True)]
    for name, params, derivative in cases:
        if derivative:
            want = backward(name, params, g, x)
            for into in ("g", "x"):
                gg, xx = g.copy(), x.copy()
                out = gg if into == "g" else xx
                assert backward(name, params, gg, xx, out=out) is out
                assert out.tobytes() == want.tobytes(), (name, into)
            ones = np.ones_like(g)  # the accuracy of the derivative itself
            got = backward(name, params, ones, x)
            exact = reference.exact(name, x[finite], params, derivative=True)
        else:
            want = forward(name, params, x)
            y = x.copy()
            assert forward(name, params, y, out=y) is y
            assert y.tobytes() == want.tobytes(), name
            got = want
            exact = reference.exact(name, x[finite], params)
        assert np.isnan(want[12]), name
        err = reference.ulp_error(got[finite], exact)
        allowed = reference.tolerance(np.float32, name, params, derivative)[0]
        assert err.max() <= allowed, (name, params, err.max(), x[finite][err.argmax()])
    # glu = a sigmoid(b), and its gradient, from the same pair
    xa = np.stack([g, x]).astype(np.float32)  # a = g, b = x along axis 0
    s = reference.exact("sigmoid", x[finite])
    y = fastnl.glu(np.stack([np.ones_like(g), x]), axis=0)[0]
    assert np.isnan(y[12])
    assert reference.ulp_error(y[finite], s).max() <= 1.0
    gx = fastnl.glu_backward(xa, axis=0, grad_output=np.ones((1, g.size), np.float32))
    assert reference.ulp_error(gx[0][finite], s).max() <= 1.0


def _silu_cut(dtype):
    """Where silu's vector forms hand over to the scalar fix-up."""
    return _ops.EXP_NORMAL_MIN["f" if dtype == np.float32 else "d"]


def _around(dtype, cut):
    """cut and its two neighbours in dtype: the values either side of a
    rare fix-up's condition."""
    c = dtype(cut)
    return [np.nextafter(c, dtype(-np.inf)), c, np.nextafter(c, dtype(np.inf))]


@pytest.mark.parametrize("dtype", DTYPES)
def test_celu_negative_alpha_takes_libm_path(dtype):
    x = np.linspace(-5, 5, 1001).astype(dtype)
    got = fastnl.celu(x, alpha=-2.0)
    err = reference.ulp_error(got, reference.exact("celu", x, {"alpha": -2.0}))
    assert err.max() <= reference.tolerance(dtype, "celu")[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_streamed_outputs(dtype, n_threads):
    """Outputs of 16 MiB and more are written with streaming stores through
    a buffer in L1: the same bits as smaller calls (which write directly),
    forward, backward and in place, into an output at any element offset
    (the unaligned head and tail of the streamed range)."""
    n = (16 << 20) // np.dtype(dtype).itemsize + 37  # just above the threshold
    x = values(dtype, n, seed=5)
    g = values(dtype, n, seed=6)
    pieces = range(0, n, 1 << 20)  # 4-8 MiB calls: not streamed
    with fastnl.num_threads(n_threads):
        for name, params in [("relu", {}), ("hardtanh", {"min_val": -0.5}), ("softshrink", {}),
                             ("gelu", {})]:  # the memory-bound ops stream, gelu does not
            expected = np.concatenate([forward(name, params, x[i:i + (1 << 20)]) for i in pieces])
            np.testing.assert_array_equal(forward(name, params, x), expected)
            for offset in (1, 3):
                buffer = np.full(n + offset, np.nan, dtype)  # np.empty may hold `expected`
                out = buffer[offset:]
                forward(name, params, x, out=out)
                np.testing.assert_array_equal(out, expected)
            y = x.copy()
            forward(name, params, y, out=y)
            np.testing.assert_array_equal(y, expected)
            expected = np.concatenate([backward(name, params, g[i:i + (1 << 20)],
                                                x[i:i + (1 << 20)]) for i in pieces])
            np.testing.assert_array_equal(backward(name, params, g, x), expected)
