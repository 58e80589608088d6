"""ml_dtypes' bfloat16 (docs: API conventions, "Arrays and dtypes").

Every function takes bfloat16 arrays, computes in float32 and returns
bfloat16, as it does float16. Since the float32 path is tested everywhere
else, the bfloat16 path is tested against it: ``f(x)`` for a bfloat16 ``x``
has the bits of ``f(x.astype(float32)).astype(bfloat16)`` (bfloat16 to
float32 is exact; ml_dtypes' cast rounds to nearest even), for every
activation and derivative, the softmax family, logsumexp, glu,
gumbel_softmax (one_hot refuses it: indices are integers), every loss, the nn classes,
NumPy's ufunc protocol and Dask. A reduced loss is its float64 sum rounded
once to bfloat16, as to float16: the same bits, but for a tie created by the
intermediate float32 rounding, which these inputs do not hold. Then against
torch's own bfloat16 kernels on the CPU.

ml_dtypes is in the test extra: missing, these tests are skipped, but in CI
(CI=true) that is an error (the `bf16` fixture of conftest.py).
"""

import warnings

import dask.array as da
import numpy as np
import pytest

import fastnl
from fastnl import _ops, _reference as reference, ufunc
from test_activations import _torch_call

CASES = reference.CASES
CASE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]
POINTWISE_LOSSES = {"mse_loss": {}, "l1_loss": {}, "smooth_l1_loss": {"beta": 0.5},
                    "huber_loss": {"delta": 0.5}, "kl_div": {"log_target": True},
                    "binary_cross_entropy": {}, "binary_cross_entropy_with_logits": {}}
REDUCTIONS = ["mean", "sum", "none"]
# kl_div's 'mean' warns, as torch's
KL_DIV_MEAN = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")


def data(bf16, shape=(37, 41), seed=0, special=True):
    """bfloat16 values over several binades, with infinities, NaN, signed
    zeros and the smallest subnormal among them."""
    x = np.random.default_rng(seed).standard_normal(shape) * 4
    if special:
        x.flat[:7] = [np.inf, -np.inf, np.nan, 0.0, -0.0, 9.2e-41, 3e38]
    return x.astype(bf16)


def f32(a):
    return np.asarray(a).astype(np.float32)


def assert_rounded(got, want32, bf16):
    """`got` is bfloat16 (a NumPy scalar for a 0-d result) with the bits of
    the float32 result `want32` rounded to bfloat16."""
    want = np.asarray(want32).astype(bf16)
    assert np.ndim(got) == want.ndim
    if want.ndim == 0:
        assert type(got) is bf16.type
    got = np.asarray(got)
    assert got.dtype == bf16 and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


def _ulps(ours, theirs):
    """Distance in bfloat16 steps (the same NaN counts as equal)."""
    def ordered(a):
        i = np.asarray(a).view(np.int16).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFF), i)  # -0.0 and 0.0 are both 0
    nan = np.isnan(f32(ours)) & np.isnan(f32(theirs))
    return np.where(nan, 0, np.abs(ordered(ours) - ordered(theirs)))


# ---------------------------------------------------------------- the policy

def test_not_imported_and_nothing_changes_without_it(fresh_python):
    """fastnl never imports ml_dtypes (it looks bfloat16 up in sys.modules),
    and without it a two-byte void dtype is refused as before."""
    code = (
        "import sys, numpy as np, fastnl\n"
        "fastnl.gelu(np.ones(3)); fastnl.gelu_backward(np.ones(3), np.ones(3))\n"
        "fastnl.softmax(np.ones((2, 3)), dtype=np.float16)\n"
        "fastnl.cross_entropy(np.zeros((2, 3)), [0, 1])\n"
        "fastnl.cross_entropy(np.zeros((2, 3)), np.full((2, 3), 1 / 3))\n"
        "fastnl.linear_cross_entropy(np.ones((2, 3)), np.ones((4, 3)), [0, 1])\n"
        "assert 'ml_dtypes' not in sys.modules\n"
        "try:\n"
        "    fastnl.relu(np.zeros(3, 'V2'))\n"
        "except TypeError as e:\n"
        "    assert 'dtype |V2' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('V2 accepted')\n"
    )
    fresh_python(code)


def test_errors_name_bfloat16(bf16):
    x = data(bf16, (3,))
    with pytest.raises(TypeError, match="dtype float32, expected bfloat16"):
        fastnl.relu(x, out=np.empty(3, np.float32))
    # as a float16 out for a float32 input: the result dtype only
    with pytest.raises(TypeError, match="dtype bfloat16, expected float32"):
        fastnl.relu(f32(x), out=np.empty(3, bf16))
    with pytest.raises(TypeError, match="dtype bfloat16, expected float32"):
        fastnl.softmax(f32(x), out=np.empty(3, bf16))
    # ml_dtypes' other types are refused by name, never as 'void'
    import ml_dtypes
    for other in (ml_dtypes.float8_e4m3fn, ml_dtypes.int4):
        with pytest.raises(TypeError, match=f"dtype {np.dtype(other).name}:"):
            fastnl.relu(np.zeros(3, other))
    with pytest.raises(TypeError, match="floating dtype, got float8_e4m3fn"):
        fastnl.softmax(f32(x), dtype=ml_dtypes.float8_e4m3fn)
    with pytest.raises(TypeError, match=r"dtype \|V2:"):  # a plain void is not bfloat16
        fastnl.relu(np.zeros(3, "V2"))
    # a bfloat16 target is a float one: class probabilities, not indices, as float16
    with pytest.raises(TypeError, match="integer class indices as target, got dtype bfloat16"):
        fastnl.nll_loss(np.zeros((2, 3)), np.zeros(2, bf16))


def _mixed_calls(x, g):
    """Calls with two array operands of x's and g's dtypes."""
    return [fastnl.gelu_backward(g, x), fastnl.softmax_backward(g, x),
            fastnl.linear_cross_entropy(g, x, [0, 1, 2, 3])]


@pytest.mark.parametrize("other", [np.float32, np.float64, np.int32, np.int8, np.bool_])
def test_mixed_operands_promote_as_float16_does(bf16, other):
    """bfloat16 with another dtype gives the dtype that float16 with it gives
    (bfloat16 where that is float16), with the values of the float32 copy."""
    x = data(bf16, (4, 5), special=False)
    g = (np.random.default_rng(1).standard_normal((4, 5)) * 3).astype(other)
    for got, half, want in zip(_mixed_calls(x, g), _mixed_calls(x.astype(np.float16), g),
                               _mixed_calls(f32(x), g)):
        result = bf16 if np.asarray(half).dtype == np.float16 else np.asarray(half).dtype
        assert np.asarray(got).dtype == result
        assert np.asarray(got).tobytes() == np.asarray(want).astype(result).tobytes()


def test_with_float16_promotes_to_float32(bf16):
    """NumPy promotes bfloat16 with float16 to float32, which holds both."""
    x = data(bf16, (4, 5), special=False)
    g = (np.random.default_rng(1).standard_normal((4, 5)) * 3).astype(np.float16)
    for got, want in zip(_mixed_calls(x, g), _mixed_calls(f32(x), f32(g))):
        assert np.asarray(got).dtype == np.float32
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()


# ---------------------------------------------------------------- activations

@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_activations_and_derivatives(bf16, name, params):
    x = data(bf16)
    g = data(bf16, seed=1)
    forward, backward = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rounding NaN or inf to bfloat16 warns nothing
        assert_rounded(forward(x, **params), forward(f32(x), **params), bf16)
        got, want = backward(g, x, **params), backward(f32(g), f32(x), **params)
    for got, want in zip(*(r if isinstance(r, tuple) else (r,) for r in (got, want))):
        assert_rounded(got, want, bf16)  # prelu's weight gradient too
    # 0-d in, a bfloat16 scalar out; any layout; in place
    assert_rounded(forward(x[3, 3], **params), forward(f32(x[3, 3]), **params), bf16)
    assert_rounded(forward(np.asfortranarray(x)[::2, 1:], **params),
                   forward(f32(x)[::2, 1:], **params), bf16)
    expected, y = forward(x, **params), x.copy()
    assert forward(y, **params, out=y) is y
    assert y.tobytes() == expected.tobytes()


def test_derivative_from_the_output(bf16):
    x, g = data(bf16), data(bf16, seed=1)
    for name in ("sigmoid", "tanh"):
        forward, backward = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
        y = forward(x)
        assert_rounded(backward(g, output=y), backward(f32(g), output=f32(y)), bf16)


def test_rrelu_training_and_its_noise(bf16):
    x = data(bf16)
    y, noise = fastnl.rrelu(x, training=True, rng=3, return_noise=True)
    y32, noise32 = fastnl.rrelu(f32(x), training=True, rng=3, return_noise=True)
    assert_rounded(y, y32, bf16)
    assert_rounded(noise, noise32, bf16)
    g = data(bf16, seed=1)
    assert_rounded(fastnl.rrelu_backward(g, x, training=True, noise=noise),
                   fastnl.rrelu_backward(f32(g), f32(x), training=True, noise=f32(noise)), bf16)


def test_large_array_on_two_threads(bf16):
    x = data(bf16, (300, 1000))
    with fastnl.num_threads(2):
        assert_rounded(fastnl.silu(x), fastnl.silu(f32(x)), bf16)
        assert_rounded(fastnl.gelu_backward(x, x), fastnl.gelu_backward(f32(x), f32(x)), bf16)


def _ufunc_name(name, params):
    option = params.get("approximate")
    return name if option in (None, "none") else f"{name}_{option}"


UFUNC_CASES = [(i, c) for i, c in zip(CASE_IDS, CASES) if c[0] not in ("prelu", "rrelu")]


@pytest.mark.parametrize("name, params", [c for _, c in UFUNC_CASES],
                         ids=[i for i, _ in UFUNC_CASES])
def test_ufuncs_take_numpys_cast_to_float32(bf16, name, params):
    """The ufuncs have no bfloat16 loop: NumPy casts bfloat16 to their float32
    loop and returns float32, the functions' result before its rounding; with
    a bfloat16 out= NumPy rounds it into out, the functions' bits."""
    row = next(a for a in _ops.ACTIVATIONS if a.name == name)
    num = [params.get(p.name, p.default) for p in row.params if p.options is None]
    forward = getattr(ufunc, _ufunc_name(name, params))
    backward = getattr(ufunc, _ufunc_name(name, params) + "_backward")
    x, g = data(bf16), data(bf16, seed=1)
    want = getattr(fastnl, name)(f32(x), **params)
    want_b = getattr(fastnl, f"{name}_backward")(f32(g), f32(x), **params)
    got = forward(x, *num)
    assert got.dtype == np.float32 and got.tobytes() == want.tobytes()
    assert backward(g, x, *num).tobytes() == want_b.tobytes()
    out = np.empty(x.shape, bf16)
    assert forward(x, *num, out=out) is out
    assert_rounded(out, want, bf16)
    assert_rounded(backward(g, x, *num, out=out), want_b, bf16)


def test_xarray_through_the_ufuncs_stays_bfloat16(bf16):
    xr = pytest.importorskip("xarray")
    x = data(bf16, (3, 4))
    got = fastnl.gelu(xr.DataArray(x, dims=("batch", "feature")))
    assert isinstance(got, xr.DataArray) and got.dims == ("batch", "feature")
    assert_rounded(got.values, fastnl.gelu(f32(x)), bf16)
    got = fastnl.gelu_backward(xr.DataArray(x), xr.DataArray(f32(x)))
    assert got.dtype == np.float32  # bfloat16 with float32: float32


# ---------------------------------------------------------------- softmax family

@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
def test_softmax_family_and_backward(bf16, name):
    forward, backward = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
    x, g = data(bf16, (6, 40, 9)), data(bf16, (6, 40, 9), seed=1, special=False)
    for axis in (0, 1, -1):
        y = forward(x, axis=axis, temperature=0.7)
        assert_rounded(y, forward(f32(x), axis=axis, temperature=0.7), bf16)
        assert_rounded(backward(g, y, axis=axis, temperature=0.7),
                       backward(f32(g), f32(y), axis=axis, temperature=0.7), bf16)
    out = np.empty(x.shape, bf16)
    assert forward(x, out=out) is out
    assert_rounded(out, forward(f32(x)), bf16)
    # dtype=bfloat16 casts first, as torch's dtype=
    x64 = np.random.default_rng(2).standard_normal((5, 7))
    for dtype in (bf16, "bfloat16"):
        assert_rounded(forward(x64, dtype=dtype), forward(f32(x64.astype(bf16))), bf16)


def test_logsumexp_glu_gumbel_softmax_and_backward(bf16):
    """logsumexp, glu and gumbel_softmax (its noise drawn in float32 from the
    same seed) and their backward passes: the float32 results rounded once."""
    x, g = data(bf16, (6, 40, 8)), data(bf16, (6, 40, 8), seed=1, special=False)
    for dim in (0, 1, -1, (0, 2)):
        assert_rounded(fastnl.logsumexp(x, dim), fastnl.logsumexp(f32(x), dim), bf16)
        gl = data(bf16, np.shape(fastnl.logsumexp(x, dim)), seed=2, special=False)
        assert_rounded(fastnl.logsumexp_backward(x, dim, grad_output=gl),
                       fastnl.logsumexp_backward(f32(x), dim, grad_output=f32(gl)), bf16)
    for dim in (0, 1, 2):
        y = fastnl.glu(x, dim)
        assert_rounded(y, fastnl.glu(f32(x), dim), bf16)
        gy = data(bf16, y.shape, seed=3, special=False)
        assert_rounded(fastnl.glu_backward(x, dim, grad_output=gy),
                       fastnl.glu_backward(f32(x), dim, grad_output=f32(gy)), bf16)
    x = data(bf16, (6, 40, 8), special=False)
    for hard in (False, True):
        y, soft = fastnl.gumbel_softmax(x, 0.5, hard, dim=1, rng=4, return_soft=True)
        y32, soft32 = fastnl.gumbel_softmax(f32(x), 0.5, hard, dim=1, rng=4, return_soft=True)
        assert_rounded(y, y32, bf16)
        assert_rounded(soft, soft32, bf16)
        assert_rounded(fastnl.gumbel_softmax_backward(x, 0.5, hard, dim=1, grad_output=g,
                                                      sample=soft),
                       fastnl.gumbel_softmax_backward(x, 0.5, hard, dim=1, grad_output=f32(g),
                                                      sample=f32(soft)), bf16)


def test_one_hot_refuses_bfloat16(bf16):
    # class indices must be integers, as torch's one_hot takes int64 only
    with pytest.raises(TypeError, match="integer class indices, got dtype bfloat16"):
        fastnl.one_hot(np.array([1, 2], bf16))


def test_glu_module(bf16):
    x = data(bf16, (5, 8), special=False)
    m = fastnl.nn.GLU()
    assert_rounded(m(x), fastnl.glu(f32(x)), bf16)
    assert_rounded(m.backward(), fastnl.glu_backward(f32(x)), bf16)


# ---------------------------------------------------------------- losses

def _loss_operands(name, bf16):
    """Input and target of a pointwise loss, and its per-element arrays."""
    rng = np.random.default_rng(3)
    x, t = (rng.standard_normal((2, 3, 20)) * 3 for _ in range(2))
    if name == "binary_cross_entropy":
        x, t = fastnl.sigmoid(x), fastnl.sigmoid(t)
    kw = {}
    if name.startswith("binary"):
        kw["weight"] = rng.uniform(0.5, 2, (3, 20)).astype(bf16)
    if name == "binary_cross_entropy_with_logits":
        kw["pos_weight"] = rng.uniform(0.5, 2, 20).astype(bf16)
    return x.astype(bf16), t.astype(bf16), kw


@KL_DIV_MEAN
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", POINTWISE_LOSSES)
def test_pointwise_losses_and_backward(bf16, name, reduction):
    x, t, kw = _loss_operands(name, bf16)
    kw.update(POINTWISE_LOSSES[name], reduction=reduction)
    kw32 = {k: f32(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    loss, backward = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
    assert_rounded(loss(x, t, **kw), loss(f32(x), f32(t), **kw32), bf16)
    g = data(bf16, x.shape, special=False) if reduction == "none" else bf16.type(1.5)
    assert_rounded(backward(x, t, **kw, grad_output=g),
                   backward(f32(x), f32(t), **kw32, grad_output=f32(g)), bf16)
    # a float32 target: the input's dtype decides, as for float16
    assert np.asarray(loss(x, f32(t), **kw32)).dtype == bf16


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, target", [("cross_entropy", "indices"),
                                          ("cross_entropy", "probabilities"),
                                          ("nll_loss", "indices")])
def test_class_losses_and_backward(bf16, name, target, reduction):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((6, 5, 3)) * 3).astype(bf16)
    if target == "indices":
        t = rng.integers(0, 5, (6, 3))
        t[::4, 1] = -100  # ignored rows
    else:
        t = fastnl.softmax(rng.standard_normal((6, 5, 3)), axis=1).astype(bf16)
    t32 = t if target == "indices" else f32(t)
    w = rng.uniform(0.2, 2, 5).astype(bf16)  # class weights of the input's dtype
    kw = dict(weight=w, reduction=reduction)
    if name == "cross_entropy":
        kw["label_smoothing"] = 0.1
    kw32 = dict(kw, weight=f32(w))
    loss, backward = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
    assert_rounded(loss(x, t, **kw), loss(f32(x), t32, **kw32), bf16)
    g = (rng.standard_normal((6, 3))).astype(bf16) if reduction == "none" else 2.0
    assert_rounded(backward(x, t, **kw, grad_output=g),
                   backward(f32(x), t32, **kw32, grad_output=f32(g)), bf16)
    out = np.empty(x.shape, bf16)
    assert backward(x, t, **kw, grad_output=g, out=out) is out
    assert_rounded(out, backward(f32(x), t32, **kw32, grad_output=f32(g)), bf16)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_linear_cross_entropy_and_backward(bf16, reduction):
    rng = np.random.default_rng(5)
    x, W, b = (rng.standard_normal(s).astype(bf16) for s in ((9, 16), (700, 16), (700,)))
    for t in (rng.integers(0, 700, 9), fastnl.softmax(rng.standard_normal((9, 700))).astype(bf16)):
        t32 = t if t.dtype.kind == "i" else f32(t)
        kw = dict(linear_bias=b, reduction=reduction, label_smoothing=0.1, chunk_size=256)
        kw32 = dict(kw, linear_bias=f32(b))
        assert_rounded(fastnl.linear_cross_entropy(x, W, t, **kw),
                       fastnl.linear_cross_entropy(f32(x), f32(W), t32, **kw32), bf16)
        g = rng.standard_normal(9).astype(bf16) if reduction == "none" else 1.0
        got = fastnl.linear_cross_entropy_backward(x, W, t, grad_output=g, **kw)
        want = fastnl.linear_cross_entropy_backward(f32(x), f32(W), t32, grad_output=f32(g),
                                                    **kw32)
        for a, b32 in zip(got, want):
            assert_rounded(a, b32, bf16)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_loss_and_backward(bf16, reduction):
    rng = np.random.default_rng(6)
    lp = fastnl.log_softmax(rng.standard_normal((12, 3, 5)) * 2).astype(bf16)
    targets, il, tl = rng.integers(1, 5, (3, 4)), np.array([12, 9, 6]), np.array([4, 2, 0])
    kw = dict(reduction=reduction, zero_infinity=True)
    assert_rounded(fastnl.ctc_loss(lp, targets, il, tl, **kw),
                   fastnl.ctc_loss(f32(lp), targets, il, tl, **kw), bf16)
    g = rng.standard_normal(3).astype(bf16) if reduction == "none" else 2.0
    assert_rounded(fastnl.ctc_loss_backward(lp, targets, il, tl, **kw, grad_output=g),
                   fastnl.ctc_loss_backward(f32(lp), targets, il, tl, **kw, grad_output=f32(g)),
                   bf16)
    module = fastnl.nn.CTCLoss(reduction=reduction)
    assert_rounded(module(lp, targets, il, tl), fastnl.ctc_loss(f32(lp), targets, il, tl,
                                                               reduction=reduction), bf16)
    assert module.backward().dtype == bf16


# ---------------------------------------------------------------- nn classes

@pytest.mark.parametrize("a", _ops.ACTIVATIONS, ids=lambda a: a.module)
def test_activation_modules(bf16, a):
    params = dict(reference.CASES[[n for n, _ in CASES].index(a.name)][1])
    if a.name == "prelu":
        params = {}
    module, module32 = (getattr(fastnl.nn, a.module)(**params) for _ in range(2))
    if a.name == "rrelu":
        module, module32 = fastnl.nn.RReLU(rng=0), fastnl.nn.RReLU(rng=0)
    x = data(bf16, (8, 5), special=False)
    assert_rounded(module(x), module32(f32(x)), bf16)
    assert_rounded(module.backward(), module32.backward(), bf16)
    if a.name == "prelu":  # a float32 weight: its gradient, in the input's dtype, added in
        assert module.weight_grad.dtype == np.float32
        assert module.weight_grad.tobytes() == f32(module32.weight_grad.astype(bf16)).tobytes()


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax", "Softmin"])
def test_along_axis_modules(bf16, name):
    module, module32 = getattr(fastnl.nn, name)(dim=1), getattr(fastnl.nn, name)(dim=1)
    x = data(bf16, (8, 5), special=False)
    y = module(x)
    assert_rounded(y, module32(f32(x)), bf16)
    # from the output it returned, as torch
    backward = getattr(fastnl, f"{name.lower().replace('logs', 'log_s')}_backward")
    assert_rounded(module.backward(), backward(np.ones(y.shape, np.float32), f32(y), axis=1), bf16)


@KL_DIV_MEAN
@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss",
                                  "BCELoss", "BCEWithLogitsLoss", "NLLLoss",
                                  "CrossEntropyLoss"])
def test_loss_modules(bf16, name):
    rng = np.random.default_rng(6)
    x = data(bf16, (8, 5), special=False)
    if name in ("NLLLoss", "CrossEntropyLoss"):
        t = t32 = rng.integers(0, 5, 8)
    else:
        t = data(bf16, (8, 5), seed=1, special=False)
        if name == "BCELoss":
            x, t = fastnl.sigmoid(x), fastnl.sigmoid(t)
        t32 = f32(t)
    for reduction in REDUCTIONS:
        module, module32 = (getattr(fastnl.nn, name)(reduction=reduction) for _ in range(2))
        assert_rounded(module(x, t), module32(f32(x), t32), bf16)
        assert_rounded(module.backward(), module32.backward(), bf16)


def test_modules_with_float32_weights_as_float16(bf16):
    """LinearCrossEntropy and AdaptiveLogSoftmaxWithLoss keep float32 weights:
    a bfloat16 input promotes with them, as a float16 one does."""
    x, t = data(bf16, (6, 16), special=False), np.array([0, 5, 12, 40, 60, 99])
    lce = fastnl.nn.LinearCrossEntropy(16, 100, rng=0)
    for half in (np.float16, bf16):
        assert np.asarray(lce(x.astype(half), t)).dtype == np.float32
        assert lce.backward().dtype == np.float32
    asm = fastnl.nn.AdaptiveLogSoftmaxWithLoss(16, 100, cutoffs=[10, 50], rng=0)
    output, loss = asm(x, t)
    output32, loss32 = fastnl.nn.AdaptiveLogSoftmaxWithLoss(16, 100, cutoffs=[10, 50],
                                                            rng=0)(f32(x), t)
    assert output.tobytes() == output32.tobytes() and loss == loss32
    # bfloat16 weights, as dtype=float16 ones: the float32 input decides
    asm = fastnl.nn.AdaptiveLogSoftmaxWithLoss(16, 100, cutoffs=[10, 50], rng=0, dtype=bf16)
    assert asm.head.weight.dtype == bf16
    assert asm(x, t).output.dtype == np.float32
    assert asm.backward().dtype == np.float32


def test_balanced_batch_sampler_labels(bf16):
    sampler = fastnl.sampling.BalancedBatchSampler(np.array([0, 1, 0, 1, 2, 2], bf16), 3, rng=0)
    assert sampler.classes.dtype == bf16 and len(sampler) == 2
    with pytest.raises(ValueError, match="NaN"):
        fastnl.sampling.BalancedBatchSampler(np.array([0, 1, np.nan], bf16), 2)


# ---------------------------------------------------------------- Dask

def _lazy_equal(got, want, ulps=0):
    """A lazy Dask result of the in-memory dtype, with its bits (or at most
    `ulps` bfloat16 steps from them)."""
    want = np.asarray(want)
    assert isinstance(got, da.Array) and got.dtype == want.dtype
    value = np.asarray(got.compute())
    assert value.dtype == want.dtype and value.shape == want.shape
    if ulps:
        assert np.max(_ulps(value, want), initial=0) <= ulps
    else:
        assert value.tobytes() == want.tobytes()


def test_dask(bf16):
    rng = np.random.default_rng(7)
    x, g = data(bf16, (8, 6)), data(bf16, (8, 6), seed=1, special=False)
    dx, dg = da.from_array(x, chunks=(3, 4)), da.from_array(g, chunks=(4, 3))
    _lazy_equal(fastnl.gelu(dx), fastnl.gelu(x))
    _lazy_equal(fastnl.softplus_backward(dg, dx, beta=2.0),
                fastnl.softplus_backward(g, x, beta=2.0))
    _lazy_equal(fastnl.prelu(dx, [0.1] * 6), fastnl.prelu(x, [0.1] * 6))
    _lazy_equal(fastnl.rrelu(dx), fastnl.rrelu(x))
    y = fastnl.log_softmax(x, axis=1)
    _lazy_equal(fastnl.log_softmax(da.from_array(x, chunks=(3, 6)), axis=1), y)
    x64 = f32(x).astype(np.float64)
    _lazy_equal(fastnl.softmax(da.from_array(x64, chunks=(8, 3)), axis=0, dtype=bf16),
                fastnl.softmax(x64, axis=0, dtype=bf16))
    _lazy_equal(fastnl.log_softmax_backward(da.from_array(g, chunks=(3, 6)), y, axis=1),
                fastnl.log_softmax_backward(g, y, axis=1))
    x, g = data(bf16, (8, 6), special=False), data(bf16, (8, 6), seed=1, special=False)
    dx, dg = da.from_array(x, chunks=(3, 4)), da.from_array(g, chunks=(4, 3))
    # a split axis and the reductions add float64 partial sums in another
    # order (tests/test_dask.py): one rounding to bfloat16 may differ by a step
    _lazy_equal(fastnl.softmax(dx, axis=0), fastnl.softmax(x, axis=0), ulps=1)
    _lazy_equal(fastnl.mse_loss(dx, dg), fastnl.mse_loss(x, g), ulps=1)
    _lazy_equal(fastnl.mse_loss(dx, dg, reduction="none"),
                fastnl.mse_loss(x, g, reduction="none"))
    _lazy_equal(fastnl.huber_loss_backward(dx, dg), fastnl.huber_loss_backward(x, g))
    t = rng.integers(0, 6, 8)
    dt = da.from_array(t, chunks=3)
    _lazy_equal(fastnl.cross_entropy(dx, dt, reduction="none"),  # the class axis split
                fastnl.cross_entropy(x, t, reduction="none"), ulps=1)
    w = rng.uniform(0.5, 2, 6).astype(bf16)
    _lazy_equal(fastnl.nll_loss(dx, dt, weight=w), fastnl.nll_loss(x, t, weight=w), ulps=1)
    _lazy_equal(fastnl.cross_entropy_backward(da.from_array(x, chunks=(3, 6)), dt),
                fastnl.cross_entropy_backward(x, t))
    W = data(bf16, (6, 6), seed=2, special=False)
    _lazy_equal(fastnl.linear_cross_entropy(da.from_array(x, chunks=(3, 6)), W, dt,
                                            reduction="none"),
                fastnl.linear_cross_entropy(x, W, t, reduction="none"))
    module, lazy_module = fastnl.nn.GELU(), fastnl.nn.GELU()
    module(x), lazy_module(dx)
    _lazy_equal(lazy_module.backward(), module.backward())
    dx1 = da.from_array(x, chunks=(3, 6))
    _lazy_equal(fastnl.logsumexp(dx, 1), fastnl.logsumexp(x, 1), ulps=1)  # split: a tree sum
    _lazy_equal(fastnl.logsumexp(dx1, 1), fastnl.logsumexp(x, 1))
    _lazy_equal(fastnl.glu(dx, 1), fastnl.glu(x, 1))
    _lazy_equal(fastnl.glu_backward(dx, 1, grad_output=g[:, :3]),
                fastnl.glu_backward(x, 1, grad_output=g[:, :3]))
    soft = fastnl.softmax(x, axis=1)
    _lazy_equal(fastnl.gumbel_softmax_backward(None, 0.5, grad_output=dg,
                                               sample=da.from_array(soft, chunks=(3, 6))),
                fastnl.gumbel_softmax_backward(None, 0.5, grad_output=g, sample=soft))
    lazy_sample = fastnl.gumbel_softmax(dx, rng=0).compute()
    assert lazy_sample.dtype == bf16 and np.allclose(f32(lazy_sample).sum(axis=1), 1, atol=0.05)


# ---------------------------------------------------------------- torch

def _to_torch(torch, a, dtype):
    return torch.from_numpy(f32(a)).to(dtype)


# torch's bfloat16 kernels on the CPU compute in float32 and round once, as
# fastnl does: at most 1 bfloat16 ulp apart (the two float32 results may fall
# either side of a rounding boundary, or torch rounds a step on the way).
# These round an intermediate to bfloat16 first (tanhshrink's tanh(x) before
# the subtraction; the derivatives of sigmoid, tanh and softsign from the
# output held in bfloat16) and lose more: they are compared with torch's
# float32 result, rounded once.
TORCH_BF16_INTERMEDIATE = {("tanhshrink", False), ("tanhshrink", True), ("sigmoid", True),
                           ("tanh", True), ("softsign", True)}


def _torch_accurate(name, derivative, x):
    """Where torch's float32 formula is accurate (test_activations.py allows
    for the rest): not gelu's left tail, where 1 + erf(x / sqrt 2) (or its
    tanh form) cancels and then underflows, nor tanh' = 1 - tanh(x)^2 beyond
    |x| = 6, which cancels."""
    if name == "gelu":
        return x >= -4
    if name == "tanh" and derivative:
        return np.abs(x) <= 6
    return np.ones(x.shape, bool)


@pytest.mark.parametrize("name, params", reference.TORCH_CASES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(reference.TORCH_CASES)])
def test_activations_match_torch(bf16, torch, name, params):
    x = np.linspace(-10, 10, 2001).astype(bf16)
    ours = getattr(fastnl, name)(x, **params)
    ours_b = getattr(fastnl, f"{name}_backward")(np.ones_like(x), x, **params)
    ours_b = ours_b[0] if isinstance(ours_b, tuple) else ours_b
    theirs = {}
    for dtype in (torch.bfloat16, torch.float32):
        xt = _to_torch(torch, x, dtype).requires_grad_()
        y = _torch_call(torch, name, xt, params)
        y.backward(torch.ones_like(y))
        theirs[dtype] = (y.detach().float().numpy().astype(bf16),
                         xt.grad.float().numpy().astype(bf16))
    for derivative, got in ((False, ours), (True, ours_b)):
        dtype = torch.float32 if (name, derivative) in TORCH_BF16_INTERMEDIATE else torch.bfloat16
        want = theirs[dtype][derivative]
        where = _torch_accurate(name, derivative, f32(x))
        err = _ulps(got[where], want[where])
        i = int(np.argmax(err))
        assert err[i] <= 1, (f"{name}{'_backward' if derivative else ''}{params} at "
                             f"x={x[where][i]}: ours {got[where][i]}, torch {want[where][i]}")


def _assert_within_ulp_of_largest(ours, theirs, what):
    """|ours - theirs| at most 1 bfloat16 ulp of the largest |theirs|: torch's
    bfloat16 kernels round some steps to bfloat16 on the way (the output
    before softmax's backward, x - y in the regression losses), which moves
    a result that is a difference by an ulp of what was subtracted."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    largest = np.max(np.abs(theirs))
    ulp = 2.0 ** (np.floor(np.log2(largest)) - 7)
    err = np.max(np.abs(ours - theirs)) / ulp
    assert err <= 1, f"{what}: {err:.3g} ulp of the largest value"


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
def test_softmax_family_matches_torch(bf16, torch, name):
    rng = np.random.default_rng(8)
    x, g = (rng.standard_normal((64, 50)) * 3).astype(bf16), data(bf16, (64, 50), special=False)
    for axis in (0, 1):
        xt = _to_torch(torch, x, torch.bfloat16).requires_grad_()
        y = getattr(torch.nn.functional, name)(xt, dim=axis)
        y.backward(_to_torch(torch, g, torch.bfloat16))
        ours = getattr(fastnl, name)(x, axis=axis)
        _assert_within_ulp_of_largest(ours, y.detach().float().numpy(), f"{name} axis {axis}")
        _assert_within_ulp_of_largest(getattr(fastnl, f"{name}_backward")(g, ours, axis=axis),
                                      xt.grad.float().numpy(), f"{name}_backward axis {axis}")


@KL_DIV_MEAN
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_losses_match_torch(bf16, torch, reduction):
    F = torch.nn.functional
    rng = np.random.default_rng(9)
    x, y = (rng.standard_normal((64, 50)) * 3).astype(bf16), data(bf16, (64, 50), special=False)
    t = rng.integers(0, 50, 64)
    p, q = fastnl.sigmoid(x), fastnl.sigmoid(y)
    log_p, log_q = fastnl.log_softmax(x), fastnl.log_softmax(y)
    cases = [(name, x, y, {}) for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")]
    cases += [("kl_div", log_p, log_q, {"log_target": True}), ("binary_cross_entropy", p, q, {}),
              ("binary_cross_entropy_with_logits", x, q, {}),
              ("cross_entropy", x, t, {"label_smoothing": 0.1}),
              ("cross_entropy", x, fastnl.softmax(y), {}), ("nll_loss", log_p, t, {})]
    for name, a, b, kw in cases:
        at = _to_torch(torch, a, torch.bfloat16).requires_grad_()
        bt = torch.from_numpy(b) if b.dtype.kind == "i" else _to_torch(torch, b, torch.bfloat16)
        loss = getattr(F, name)(at, bt, reduction=reduction, **kw)
        loss.backward(torch.ones_like(loss))
        ours = getattr(fastnl, name)(a, b, reduction=reduction, **kw)
        _assert_within_ulp_of_largest(ours, loss.detach().float().numpy(), f"{name} {reduction}")
        _assert_within_ulp_of_largest(
            getattr(fastnl, f"{name}_backward")(a, b, reduction=reduction, **kw),
            at.grad.float().numpy(), f"{name}_backward {reduction}")
