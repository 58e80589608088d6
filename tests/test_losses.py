"""Losses: against the float64 reference, torch, and the contract (errors, edge cases, threads)."""

import re
import warnings

import numpy as np
import pytest

import fastnl
from fastnl import _reference as ref
from fastnl._kernels import _losses, _rowwise
from _class_problems import CLASS_SHAPES, class_problem

REDUCTIONS = ["mean", "sum", "none"]
DTYPES = [np.float32, np.float64]


def _rtol(dtype):
    # Per-element losses are computed in the data's precision (a few roundings,
    # each eps relative), sums in float64: 64 eps covers the per-element error
    # plus the conditioning of differences like x - y, and is still ~1e-5 for
    # float32, far below any formula error. float64: 1e-12 for the same reason.
    return 64 * np.finfo(dtype).eps if dtype == np.float32 else 1e-12


def _check(got, expected, dtype, reduction):
    if reduction != "none":
        assert np.ndim(got) == 0 and np.asarray(got).dtype == dtype
    else:
        assert np.asarray(got).dtype == dtype
    tol = _rtol(dtype)
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=tol, atol=tol)


# ---------------------------------------------------------------- pointwise losses

POINTWISE = [
    ("mse_loss", {}), ("l1_loss", {}),
    ("smooth_l1_loss", {"beta": 1.0}), ("smooth_l1_loss", {"beta": 0.3}),
    ("smooth_l1_loss", {"beta": 0.0}),
    ("huber_loss", {"delta": 1.0}), ("huber_loss", {"delta": 0.4}),
]


@pytest.mark.parametrize("name, params", POINTWISE)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (7,), (3, 4, 5)])
def test_regression_against_reference(name, params, dtype, reduction, shape, rng):
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    before = x.copy(), y.copy()
    got = getattr(fastnl, name)(x, y, reduction=reduction, **params)
    _check(got, getattr(ref, name)(x, y, reduction, **params), dtype, reduction)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])


@pytest.mark.parametrize("name, params", POINTWISE)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_against_torch(name, params, reduction, rng, torch):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    y = rng.standard_normal((4, 6)).astype(np.float32)
    got = getattr(fastnl, name)(x, y, reduction=reduction, **params)
    expected = getattr(torch.nn.functional, name)(torch.from_numpy(x), torch.from_numpy(y),
                                                  reduction=reduction, **params)
    _check(got, expected.numpy(), np.float32, reduction)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_regression_broadcast_warns_as_torch(name, rng, torch):
    x, y = rng.standard_normal((3, 4)), rng.standard_normal(4)
    with pytest.warns(UserWarning, match="target size"):
        got = getattr(fastnl, name)(x, y, reduction="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = getattr(torch.nn.functional, name)(torch.from_numpy(x), torch.from_numpy(y),
                                                      reduction="none").numpy()
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same shapes: no warning
        getattr(fastnl, name)(x, x)
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5,\)"), pytest.warns(UserWarning):
        getattr(fastnl, name)(x, np.zeros(5))


def _kl_inputs(rng, dtype, log_target):
    """Log-probabilities and a target (probabilities with one exact 0, or log-probabilities)."""
    logp = np.log(rng.dirichlet(np.ones(5), size=4)).astype(dtype)
    q = rng.dirichlet(np.ones(5), size=4)
    if not log_target:
        q[0, 1] = 0.0  # 0 log 0 = 0
    return logp, (np.log(q) if log_target else q).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_against_reference(dtype, reduction, log_target, rng):
    logp, q = _kl_inputs(rng, dtype, log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'mean' warns, as torch
        got = fastnl.kl_div(logp, q, reduction=reduction, log_target=log_target)
    _check(got, ref.kl_div(logp, q, reduction, log_target), dtype, reduction)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_against_torch(dtype, reduction, log_target, rng, torch):
    logp, q = _kl_inputs(rng, dtype, log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'mean' warns, as torch
        got = fastnl.kl_div(logp, q, reduction=reduction, log_target=log_target)
        expected = torch.nn.functional.kl_div(torch.from_numpy(logp), torch.from_numpy(q),
                                              reduction=reduction, log_target=log_target)
    _check(got, expected.numpy(), dtype, reduction)


def test_kl_div_mean_warns_and_edges():
    with pytest.warns(UserWarning, match="batchmean"):
        fastnl.kl_div(np.zeros(3), np.ones(3) / 3)
    assert np.isnan(fastnl.kl_div(np.zeros((0, 3)), np.zeros((0, 3)), reduction="batchmean"))
    # 0-d: batchmean is the sum (no batch axis), as torch
    assert fastnl.kl_div(0.5, 0.3, reduction="batchmean") == fastnl.kl_div(0.5, 0.3, reduction="sum")
    assert np.isnan(fastnl.kl_div([0.0], [-1.0], reduction="none")[0])  # log of a negative target
    # q = 0 contributes 0 (the limit), even against p = 0; torch: 0 * inf = NaN
    inf = np.inf
    np.testing.assert_array_equal(fastnl.kl_div([-inf, 0.0, np.nan], [0.0, 0.0, 0.0], reduction="none"),
                                  [0.0, 0.0, np.nan])
    np.testing.assert_array_equal(
        fastnl.kl_div([-inf, 0.0], [-inf, -inf], reduction="none", log_target=True), [0.0, 0.0])
    np.testing.assert_array_equal(ref.kl_div([-inf, 0.0], [0.0, 0.0], "none"), [0.0, 0.0])


def _bce_inputs(rng, dtype, with_weight):
    """Probabilities (with 0, 1 and a tiny one, where the log is clamped at -100),
    targets (with exact 1 and 0), and optional per-column weights."""
    x = rng.uniform(0, 1, (4, 5)).astype(dtype)
    x[0, :3] = [0.0, 1.0, 1e-30 if dtype == np.float64 else 1e-20]  # clamp of the log at -100
    y = rng.uniform(0, 1, (4, 5)).astype(dtype)
    y[0, :2] = [1.0, 0.0]
    w = rng.uniform(0, 2, 5).astype(dtype) if with_weight else None
    return x, y, w


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_weight", [False, True])
def test_binary_cross_entropy_against_reference(dtype, reduction, with_weight, rng):
    x, y, w = _bce_inputs(rng, dtype, with_weight)
    got = fastnl.binary_cross_entropy(x, y, w, reduction)
    _check(got, ref.binary_cross_entropy(x, y, w, reduction), dtype, reduction)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_weight", [False, True])
def test_binary_cross_entropy_against_torch(dtype, reduction, with_weight, rng, torch):
    x, y, w = _bce_inputs(rng, dtype, with_weight)
    got = fastnl.binary_cross_entropy(x, y, w, reduction)
    expected = torch.nn.functional.binary_cross_entropy(
        torch.from_numpy(x), torch.from_numpy(y), None if w is None else torch.from_numpy(w),
        reduction=reduction)
    _check(got, expected.numpy(), dtype, reduction)


def _bce_logits_inputs(rng, dtype, weights):
    """Logits (with +-1e4, where a naive formula overflows), targets, and the
    weights named by `weights`: 'none', 'weight', 'pos_weight' or 'both'."""
    x = (rng.standard_normal((4, 5)) * 5).astype(dtype)
    x[0, :4] = [1e4, -1e4, 1e4, -1e4]  # stable: exact answers 0, 1e4, 1e4 (w/o pos_weight), 0
    y = rng.uniform(0, 1, (4, 5)).astype(dtype)
    y[0, :4] = [1.0, 1.0, 0.0, 0.0]
    w = rng.uniform(0, 2, (4, 1)).astype(dtype) if weights in ("weight", "both") else None
    pw = rng.uniform(0.5, 3, 5).astype(dtype) if weights in ("pos_weight", "both") else None
    return x, y, w, pw


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", ["none", "weight", "pos_weight", "both"])
def test_binary_cross_entropy_with_logits_against_reference(dtype, reduction, weights, rng):
    x, y, w, pw = _bce_logits_inputs(rng, dtype, weights)
    got = fastnl.binary_cross_entropy_with_logits(x, y, w, reduction, pw)
    _check(got, ref.binary_cross_entropy_with_logits(x, y, w, reduction, pw), dtype, reduction)
    if reduction == "none":
        assert np.all(np.isfinite(got))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", ["none", "weight", "pos_weight", "both"])
def test_binary_cross_entropy_with_logits_against_torch(dtype, reduction, weights, rng, torch):
    x, y, w, pw = _bce_logits_inputs(rng, dtype, weights)
    got = fastnl.binary_cross_entropy_with_logits(x, y, w, reduction, pw)
    tt = lambda a: None if a is None else torch.from_numpy(a)  # noqa: E731
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        tt(x), tt(y), tt(w), reduction=reduction, pos_weight=tt(pw))
    _check(got, expected.numpy(), dtype, reduction)


def test_binary_cross_entropy_errors():
    with pytest.raises(ValueError, match="input should be between 0 and 1"):
        fastnl.binary_cross_entropy([1.5], [1.0])
    with pytest.raises(ValueError, match="input should be between 0 and 1"):
        fastnl.binary_cross_entropy([np.nan], [1.0])  # torch refuses NaN too
    with pytest.raises(ValueError, match="target should be between 0 and 1"):
        fastnl.binary_cross_entropy([0.5], [-0.5])
    with pytest.raises(ValueError, match=r"\(4,\).*\(3, 4\)"):
        fastnl.binary_cross_entropy(np.full((3, 4), 0.5), np.ones(4))
    with pytest.raises(ValueError, match=r"\(4,\).*\(3, 4\)"):
        fastnl.binary_cross_entropy_with_logits(np.zeros((3, 4)), np.ones(4))
    with pytest.raises(ValueError, match="weight"):
        fastnl.binary_cross_entropy(np.full((3, 4), 0.5), np.ones((3, 4)), weight=np.ones(3))
    with pytest.raises(ValueError, match="pos_weight"):
        fastnl.binary_cross_entropy_with_logits(np.zeros((3, 4)), np.ones((3, 4)),
                                                pos_weight=np.ones(2))


def test_pointwise_errors_and_dtypes():
    x = np.zeros(3)
    for name in ["mse_loss", "l1_loss", "kl_div", "binary_cross_entropy",
                 "binary_cross_entropy_with_logits"]:
        with pytest.raises(ValueError, match="reduction"):
            getattr(fastnl, name)(x, x, reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        fastnl.mse_loss(x, x, reduction="batchmean")  # kl_div only, as torch
    with pytest.raises(ValueError, match="beta"):
        fastnl.smooth_l1_loss(x, x, beta=-1.0)
    for delta in (0.0, -1.0):
        with pytest.raises(ValueError, match="delta"):
            fastnl.huber_loss(x, x, delta=delta)
    with pytest.raises(TypeError, match="complex"):
        fastnl.mse_loss(x, x.astype(complex))
    # float16 in: computed in float32, result float16; integers: float64
    h = fastnl.mse_loss(np.ones(3, np.float16), np.zeros(3))
    assert h.dtype == np.float16 and h == 1
    assert fastnl.l1_loss([1, 2], [0, 0]).dtype == np.float64
    assert fastnl.binary_cross_entropy(np.full(2, 0.5, np.float16), np.ones(2)).dtype == np.float16


def test_pointwise_empty():
    e = np.zeros((0, 3))
    assert np.isnan(fastnl.mse_loss(e, e))
    assert fastnl.mse_loss(e, e, reduction="sum") == 0
    assert fastnl.l1_loss(e, e, reduction="none").shape == (0, 3)


@pytest.mark.parametrize("name, args", [
    ("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5}),
    ("huber_loss", {"delta": 0.5}), ("kl_div", {"reduction": "sum"}),
    ("kl_div", {"reduction": "sum", "log_target": True}),
    ("binary_cross_entropy", {"weight": np.linspace(0.5, 2, 7)}),
    ("binary_cross_entropy_with_logits", {"pos_weight": np.linspace(0.5, 2, 7)}),
])
def test_pointwise_threads_same_bits(name, args, rng):
    # 70000 elements: above the loss kernels' threading grain; block sums in
    # a fixed order must give the same bits on 1 and 2 threads and call to call.
    x = rng.uniform(0, 1, (10000, 7)).astype(np.float32)  # probabilities, for BCE
    y = rng.uniform(0, 1, (10000, 7)).astype(np.float32)
    assert x.size > _losses.GRAIN_SIZE
    f = getattr(fastnl, name)
    with fastnl.num_threads(1):
        one = f(x, y, **args)
    with fastnl.num_threads(2):
        two, again = f(x, y, **args), f(x, y, **args)
    assert one.tobytes() == two.tobytes() == again.tobytes()
    # float32 per element, float64 sums of 70000 terms: 1e-5 relative
    np.testing.assert_allclose(one, getattr(ref, name)(x, y, **args), rtol=1e-5)


LENGTH_CASES = [
    ("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5}),
    ("huber_loss", {"delta": 0.5}), ("kl_div", {}), ("kl_div", {"log_target": True}),
    ("binary_cross_entropy", {}), ("binary_cross_entropy_with_logits", {}),
    ("binary_cross_entropy_with_logits", {"pos_weight": 1.7}),
    ("poisson_nll_loss", {"full": True, "log_input": False}), ("soft_margin_loss", {}),
    ("hinge_embedding_loss", {"margin": 0.5}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, args", LENGTH_CASES, ids=[
    f"{n}-{i}" for i, (n, _) in enumerate(LENGTH_CASES)])
def test_pointwise_same_bits_for_any_length(name, args, dtype, rng):
    """An element's loss and gradient do not depend on the call's length: a
    short call runs a vector loop's scalar remainder, a long one its vector
    body. (Written a b + c d, GCC fused a different product in each, for
    binary_cross_entropy_with_logits with AVX-512: 1 ulp apart in a third
    of the elements, which split a Dask array's bits from NumPy's.)"""
    n = 300
    x = rng.standard_normal(n) * 3
    y = {"binary_cross_entropy": rng.uniform(0.01, 0.99, n),
         "poisson_nll_loss": np.abs(rng.standard_normal(n)) * 3,
         "soft_margin_loss": rng.choice([-1.0, 1.0], n),
         "hinge_embedding_loss": rng.choice([-1.0, 1.0], n)}.get(name, rng.uniform(0, 1, n))
    if name in ("binary_cross_entropy", "poisson_nll_loss"):
        x = rng.uniform(0.01, 0.99, n) if name == "binary_cross_entropy" else np.abs(x)
    x, y = x.astype(dtype), y.astype(dtype)
    kw = dict(args, reduction="none")
    if "pos_weight" in kw:
        kw["pos_weight"] = np.array([kw["pos_weight"]], dtype)
    for f in (getattr(fastnl, name), getattr(fastnl, name + "_backward")):
        long = f(x, y, **kw)
        for start in range(0, 120):
            k = 1 + start % 17
            short = f(x[start:start + k].copy(), y[start:start + k].copy(), **kw)
            assert short.tobytes() == long[start:start + k].tobytes(), (f.__name__, start, k)


# ---------------------------------------------------------------- class losses

def _tensor(torch, a):
    return None if a is None else torch.from_numpy(np.asarray(a))


@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_cross_entropy_indices_against_reference(shape, dtype, reduction, with_weight,
                                                 ignore_index, label_smoothing, rng):
    x, t, w = class_problem(rng, shape, dtype, ignore_index)
    w = w if with_weight else None
    got = fastnl.cross_entropy(x, t, w, ignore_index, reduction, label_smoothing)
    expected = ref.cross_entropy(x, t, w, ignore_index, reduction, label_smoothing)
    _check(got, expected, dtype, reduction)
    if label_smoothing == 0:
        # nll_loss of log_softmax is cross_entropy, on the same inputs
        nll = fastnl.nll_loss(fastnl.log_softmax(x, axis=0 if x.ndim == 1 else 1), t, w,
                              ignore_index, reduction)
        _check(nll, expected, dtype, reduction)


@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_cross_entropy_indices_against_torch(shape, dtype, reduction, with_weight, ignore_index,
                                             label_smoothing, rng, torch):
    x, t, w = class_problem(rng, shape, dtype, ignore_index)
    w = w if with_weight else None
    got = fastnl.cross_entropy(x, t, w, ignore_index, reduction, label_smoothing)
    expected = torch.nn.functional.cross_entropy(
        _tensor(torch, x), _tensor(torch, t), _tensor(torch, w),
        ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
    _check(got, expected.numpy(), dtype, reduction)


@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_nll_loss_against_reference(shape, dtype, reduction, with_weight, ignore_index, rng):
    x, t, w = class_problem(rng, shape, dtype, ignore_index)
    w = w if with_weight else None
    got = fastnl.nll_loss(x, t, w, ignore_index, reduction)
    _check(got, ref.nll_loss(x, t, w, ignore_index, reduction), dtype, reduction)


@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_nll_loss_against_torch(shape, dtype, reduction, with_weight, ignore_index, rng, torch):
    x, t, w = class_problem(rng, shape, dtype, ignore_index)
    w = w if with_weight else None
    got = fastnl.nll_loss(x, t, w, ignore_index, reduction)
    expected = torch.nn.functional.nll_loss(
        _tensor(torch, x), _tensor(torch, t), _tensor(torch, w),
        ignore_index=ignore_index, reduction=reduction)
    _check(got, expected.numpy(), dtype, reduction)


def _probability_problem(rng, shape, dtype):
    """Logits, probability targets of the same shape (classes on axis 1, axis 0
    for 1-d) and class weights."""
    x, _, w = class_problem(rng, shape, dtype, -100)
    class_axis = 0 if len(shape) == 1 else 1
    p = rng.dirichlet(np.ones(shape[class_axis]), size=shape[:class_axis] + shape[class_axis + 1:])
    return x, np.moveaxis(p, -1, class_axis).astype(dtype), w


@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_cross_entropy_probabilities_against_reference(shape, dtype, reduction, with_weight,
                                                       label_smoothing, rng):
    x, p, w = _probability_problem(rng, shape, dtype)
    w = w if with_weight else None
    got = fastnl.cross_entropy(x, p, w, reduction=reduction, label_smoothing=label_smoothing)
    _check(got, ref.cross_entropy(x, p, w, -100, reduction, label_smoothing), dtype, reduction)


@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_cross_entropy_probabilities_against_torch(shape, dtype, reduction, with_weight,
                                                   label_smoothing, rng, torch):
    x, p, w = _probability_problem(rng, shape, dtype)
    w = w if with_weight else None
    got = fastnl.cross_entropy(x, p, w, reduction=reduction, label_smoothing=label_smoothing)
    expected = torch.nn.functional.cross_entropy(
        _tensor(torch, x), _tensor(torch, p), _tensor(torch, w),
        reduction=reduction, label_smoothing=label_smoothing)
    _check(got, expected.numpy(), dtype, reduction)


def test_cross_entropy_layouts(rng):
    # Strided inputs are read in place through an (N, C, inner) view.
    x = rng.standard_normal((8, 6, 5))
    t = rng.integers(0, 6, (8, 5))
    expected = fastnl.cross_entropy(x, t, reduction="none")
    for view in (np.asfortranarray(x), x.astype(x.dtype.newbyteorder())):
        np.testing.assert_array_equal(fastnl.cross_entropy(view, t, reduction="none"), expected)
    sliced = x[::-1, ::2, 1:]  # 3 classes
    t3 = rng.integers(0, 3, (8, 4))
    np.testing.assert_array_equal(fastnl.cross_entropy(sliced, t3, reduction="none"),
                                  fastnl.cross_entropy(sliced.copy(), t3, reduction="none"))
    # zero strides (a broadcast input) are read in place too
    b = np.broadcast_to(rng.standard_normal(6), (8, 6))
    np.testing.assert_array_equal(fastnl.cross_entropy(b, t[:, 0], reduction="none"),
                                  fastnl.cross_entropy(b.copy(), t[:, 0], reduction="none"))
    p = rng.dirichlet(np.ones(6), 8)
    np.testing.assert_array_equal(fastnl.cross_entropy(x[:, :, 0].T.copy().T, p.T.copy().T),
                                  fastnl.cross_entropy(x[:, :, 0].copy(), p))
    x2 = rng.standard_normal((7, 9))
    np.testing.assert_array_equal(fastnl.cross_entropy(x2.T.copy().T, [1] * 7),
                                  fastnl.cross_entropy(x2, [1] * 7))


def test_nll_loss_tasks_start_inside_a_sample(rng):
    # 5 x 3 x 1001: 5005 rows in nll's tasks of 4096, the second starting in
    # the fifth sample (d1 = 92); each row's loss is -w x at its target
    x, t, w = class_problem(rng, (5, 3, 1001), np.float64, 1)
    expected = -np.take_along_axis(x, t[:, None], 1)[:, 0] * w[t]
    expected[t == 1] = 0
    for n in (1, 2):
        with fastnl.num_threads(n):
            got = fastnl.nll_loss(x, t, w, 1, "none")
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("kind", ["index", "smoothed", "prob", "nll"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_class_threads_same_bits(kind, reduction, rng):
    # 33000 rows of 4 classes: above the grain of every class kernel
    # (nll_loss's threads start above GRAIN_SIZE rows, cross_entropy's above
    # GRAIN_SIZE elements). Each row is one thread's and the per-row losses
    # are summed in row order, so the bits are the same on 1 and 2 threads.
    x = (rng.standard_normal((33000, 4)) * 4).astype(np.float32)
    t = rng.integers(0, 4, 33000)
    assert t.size > _rowwise.GRAIN_SIZE
    w = rng.uniform(0.5, 2, 4).astype(np.float32)
    kw = {"weight": w, "reduction": reduction}
    if kind == "prob":
        t = rng.dirichlet(np.ones(4), 33000).astype(np.float32)
    if kind == "smoothed":
        kw["label_smoothing"] = 0.1
    f = fastnl.nll_loss if kind == "nll" else fastnl.cross_entropy
    results = []
    for n in (1, 2, 2):
        with fastnl.num_threads(n):
            results.append(f(x, t, **kw))
    assert results[0].tobytes() == results[1].tobytes() == results[2].tobytes()
    expected = getattr(ref, f.__name__)(x, t, **kw)
    # float32 per row, float64 sums: 1e-5 relative
    np.testing.assert_allclose(results[0], expected, rtol=1e-5)


_EXTREME = np.array([[1e4, -1e4], [-1e4, 1e4], [3e38, -3e38]], dtype=np.float32)


def test_cross_entropy_extreme_logits():
    got = fastnl.cross_entropy(_EXTREME, [0, 0, 0], reduction="none")
    # exact: log(1 + exp(-2e4)) rounds to 0, and 2e4; no overflow anywhere
    np.testing.assert_array_equal(got, [0.0, 2e4, 0.0])
    smoothed = fastnl.cross_entropy(_EXTREME[:2], [0, 0], label_smoothing=0.5, reduction="none")
    # 0.5 * nll + 0.25 * (nll_0 + nll_1): row 0 = 0.25 * 2e4, row 1 = 0.5 * 2e4 + 0.25 * 2e4
    np.testing.assert_allclose(smoothed, [5e3, 1.5e4], rtol=1e-6)


def test_cross_entropy_extreme_logits_as_torch(torch):
    t = np.array([0, 0])
    got = fastnl.cross_entropy(_EXTREME[:2], t, reduction="none")
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(_EXTREME[:2]),
                                                 torch.from_numpy(t), reduction="none")
    np.testing.assert_array_equal(got, expected.numpy())


@pytest.mark.parametrize("name, kind, kw", [
    ("cross_entropy", "index", {}),
    ("cross_entropy", "index", {"label_smoothing": 0.1, "weighted": True, "reduction": "none"}),
    ("cross_entropy", "prob", {"weighted": True}),
    ("nll_loss", "index", {"weighted": True}),
])
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "backward"])
def test_class_losses_extra_memory_is_linear_in_rows(name, kind, kw, backward, rng):
    """The documented O(N) extra memory: forward and backward on (N, C)
    logits never allocate anything of size N x C but the gradient itself.
    NumPy reports its buffers to tracemalloc; the bound allows 8 float64
    arrays of N (per-row losses, weights, int64 targets), 2 of C (the class
    weights in float64) and 16 KiB of Python objects: 144 KB here, against
    16 MB for a single N x C float32 temporary."""
    import tracemalloc
    N, C = 1000, 4000
    x = rng.standard_normal((N, C)).astype(np.float32)
    t = (rng.integers(0, C, N) if kind == "index"
         else rng.dirichlet(np.ones(C), N).astype(np.float32))
    kw = dict(kw)
    w = rng.uniform(0.5, 2, C).astype(np.float32) if kw.pop("weighted", False) else None
    f = getattr(fastnl, f"{name}_backward" if backward else name)
    if backward and kw.get("reduction") == "none":
        kw["grad_output"] = rng.standard_normal(N)
    f(x, t, weight=w, **kw)  # first-call imports and caches are not the call's memory
    tracemalloc.start()
    try:
        result = f(x, t, weight=w, **kw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    own = result.nbytes if backward else 0  # the gradient is the result, N x C
    assert peak - own <= 8 * 8 * N + 2 * 8 * C + 16384


def test_class_losses_empty_and_all_ignored():
    for f in (fastnl.cross_entropy, fastnl.nll_loss):
        x, t = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
        assert np.isnan(f(x, t)) and np.asarray(f(x, t)).dtype == np.float32
        assert f(x, t, reduction="sum") == 0
        assert f(x, t, reduction="none").shape == (0,)
        x, t = np.ones((3, 4)), np.full(3, -100)
        assert np.isnan(f(x, t))
        assert f(x, t, reduction="sum") == 0
        np.testing.assert_array_equal(f(x, t, reduction="none"), 0)
        # zero weights on every counted target: 0 / 0 as well
        assert np.isnan(f(x, np.array([0, 0, 1]), weight=[0.0, 0.0, 1.0, 1.0]))
    assert np.isnan(fastnl.cross_entropy(np.zeros((0, 3)), np.zeros((0, 3))))
    assert np.isnan(fastnl.cross_entropy(np.zeros((3, 4)), np.full(3, -100), label_smoothing=0.2))


def test_class_losses_zero_d_results():
    x = np.log(np.array([0.25, 0.75]))
    got = fastnl.cross_entropy(x, 1, reduction="none")
    assert np.ndim(got) == 0
    np.testing.assert_allclose(got, -np.log(0.75), rtol=1e-14)
    np.testing.assert_allclose(fastnl.nll_loss(x, np.int64(0)), -np.log(0.25), rtol=1e-14)


def test_class_loss_errors():
    x = np.zeros((3, 4))
    with pytest.raises(IndexError, match="Target 4"):
        fastnl.cross_entropy(x, [0, 4, 1])
    with pytest.raises(IndexError, match="Target -1"):
        fastnl.nll_loss(x, [0, -1, 1])
    with pytest.raises(IndexError, match="Target 7"):
        fastnl.cross_entropy(np.zeros((2, 4, 3)), [[0, 1, 2], [3, 7, -100]])
    np.testing.assert_array_equal(fastnl.nll_loss(x, [0, 9, 1], ignore_index=9, reduction="none"), 0)
    with pytest.raises(IndexError, match="Target 18446744073709551615"):
        fastnl.nll_loss(x, np.array([0, 2**64 - 1, 1], np.uint64))
    with pytest.raises(TypeError, match="integer"):
        fastnl.nll_loss(x, [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="integer"):
        fastnl.nll_loss(x, np.array([True, False, True]))
    with pytest.raises(TypeError, match="integer"):
        fastnl.cross_entropy(x, np.array([True, False, True]))
    with pytest.raises(ValueError, match=r"\(2,\).*\(3, 4\)"):
        fastnl.cross_entropy(x, [0, 1])
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(3, 4\).*integer array$"):
        fastnl.cross_entropy(x, np.zeros((3, 2)))  # probabilities of the wrong shape
    # float class labels: said to be read as probabilities, and that indices are integers
    with pytest.raises(ValueError, match=r"probabilities.*\(3,\).*\(3, 4\).*class indices "
                                         r"must be an integer array \(cast with "
                                         r"target.astype\(int\)\)"):
        fastnl.cross_entropy(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"\(3, 1\).*\(3, 4, 2\)"):
        fastnl.nll_loss(np.zeros((3, 4, 2)), np.zeros((3, 1), int))
    with pytest.raises(ValueError, match="0-d"):
        fastnl.cross_entropy(np.float64(1.0), 0)
    with pytest.raises(ValueError, match="weight"):
        fastnl.cross_entropy(x, [0, 1, 2], weight=np.ones(3))
    with pytest.raises(ValueError, match="weight"):
        fastnl.nll_loss(x, [0, 1, 2], weight=np.ones((4, 1)))
    for eps in (-0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match="label_smoothing"):
            fastnl.cross_entropy(x, [0, 1, 2], label_smoothing=eps)
    with pytest.raises(ValueError, match="ignore_index"):
        fastnl.cross_entropy(x, np.full((3, 4), 0.25), ignore_index=1)
    for f in (fastnl.cross_entropy, fastnl.nll_loss):
        with pytest.raises(ValueError, match="reduction"):
            f(x, [0, 1, 2], reduction="batchmean")


def test_class_losses_accept_any_integer_targets():
    # torch takes int64 (and uint8 for nll); NumPy users often hold int32.
    x = np.random.default_rng(1).standard_normal((4, 3))
    t = np.array([0, 2, 1, 1])
    expected = fastnl.cross_entropy(x, t)
    for dtype in (np.int32, np.uint8, np.int16):
        assert fastnl.cross_entropy(x, t.astype(dtype)) == expected


def test_class_losses_dtype_policy(rng):
    x = rng.standard_normal((4, 3))
    t = np.array([0, 1, 2, 0])
    for f in (fastnl.cross_entropy, fastnl.nll_loss):
        half = f(x.astype(np.float16), t)
        assert half.dtype == np.float16  # computed in float32, returned as float16
        np.testing.assert_allclose(half, f(x.astype(np.float16).astype(np.float32), t), rtol=1e-3)
        assert f(np.arange(12).reshape(4, 3), t).dtype == np.float64  # integers: float64
        assert f(x.astype(np.float32), t).dtype == np.float32
        with pytest.raises(TypeError, match="complex"):
            f(x.astype(complex), t)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name, label_smoothing", [("nll_loss", 0.0), ("cross_entropy", 0.0),
                                                   ("cross_entropy", 0.25)])
def test_class_loss_small_call_path_has_the_general_paths_bits(dtype, reduction, name,
                                                               label_smoothing):
    # nll_loss and cross_entropy of a C-contiguous (N, C) array with int64
    # targets and no class weights are one kernel call
    # (_drivers.losses._small_call); the general path (class_problem,
    # class_rows, reduce_rows) is the reference
    from fastnl._drivers import losses as driver
    f = getattr(fastnl, name)
    smoothing = {"label_smoothing": label_smoothing} if name == "cross_entropy" else {}
    rng = np.random.default_rng(7)
    x = rng.standard_normal((257, 13)).astype(dtype)
    x[3, 2], x[4, 5], x[9, 1] = np.inf, -np.inf, np.nan
    for ignore_index in (-100, 4):
        for t in (rng.integers(0, 13, 257), np.where(rng.random(257) < 0.3, ignore_index, 7),
                  np.full(257, 5), np.full(257, ignore_index), np.arange(257) % 13):
            t = t.astype(np.int64)
            got = f(x, t, ignore_index=ignore_index, reduction=reduction, **smoothing)
            assert driver._small_call(name, x, t, None, ignore_index, reduction,
                                      label_smoothing) is not None
            p = driver.class_problem(name, x, t, None, ignore_index, reduction, label_smoothing)
            want = driver.reduce_rows(*driver.class_rows(p), p)
            assert type(got) is type(want)
            np.testing.assert_array_equal(got, want)
    empty = f(np.empty((0, 3), dtype), np.empty(0, np.int64), reduction=reduction)
    assert (np.isnan(empty) if reduction == "mean" else empty == 0) and empty.dtype == dtype


@pytest.mark.parametrize("name", ["nll_loss", "cross_entropy"])
def test_class_loss_small_call_path_leaves_errors_and_other_calls_to_the_general_path(name):
    from fastnl._drivers import losses as driver
    f = getattr(fastnl, name)
    x = np.zeros((4, 3))
    with pytest.raises(IndexError, match="Target 3 is out of bounds"):
        f(x, np.array([0, 1, 3, 2]))
    with pytest.raises(IndexError, match="Target -1 is out of bounds"):
        f(x, np.array([0, -1, 2, 2]))
    t = np.array([0, 1, 2, 2])
    for args in ((x, t, np.ones(3), -100, "mean", 0.0), (x, t, None, -100, "none", 0.0),
                 (x.T.copy().T, t, None, -100, "mean", 0.0),
                 (x, t.astype(np.int32), None, -100, "sum", 0.0),
                 (x[:, :, None], t[:, None], None, -100, "mean", 0.0),
                 (x.tolist(), t, None, -100, "sum", 0.0), (x, t, None, -100, "mean", 1.5),
                 (x, t, None, -100, "mean", np.nan), (x, t, None, np.int64(-100), "mean", 0.0),
                 # the kernel's own checks: byte order, layout, rank and length
                 (x.astype(">f8"), t, None, -100, "mean", 0.0),
                 (x, t.astype(">i8"), None, -100, "mean", 0.0),
                 (x[::2], t[:2], None, -100, "mean", 0.0), (x, t[::2].copy(), None, -100, "sum", 0.0),
                 (x[0], t[:1], None, -100, "mean", 0.0), (x, t[None], None, -100, "mean", 0.0),
                 (x.astype(np.float16), t, None, -100, "mean", 0.0)):
        assert driver._small_call(name, *args) is None
    if name == "cross_entropy":
        with pytest.raises(ValueError, match="label_smoothing"):
            f(x, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction"):
        f(x, t, reduction="avg")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_losses_read_fortran_operands_in_place(dtype, rng):
    # all operands x.T of C arrays: computed on the C-ordered transposes
    # (read in place): each element's loss and gradient the same bits, the
    # sums those of the transposes (memory order), 'none' Fortran-ordered;
    # a broadcast operand or a check that names an index: the general path
    x = rng.standard_normal((300, 140)).astype(dtype)
    t = rng.standard_normal((300, 140)).astype(dtype)
    p, w = rng.random((300, 140)).astype(dtype), rng.random((300, 140)).astype(dtype)
    cases = [(fastnl.mse_loss, (x, t), {}), (fastnl.l1_loss, (x, t), {}),
             (fastnl.huber_loss, (x, t), {"delta": 0.5}),
             (fastnl.binary_cross_entropy, (p, (t > 0).astype(dtype)), {"weight": w}),
             (fastnl.binary_cross_entropy_with_logits, (x, p), {"pos_weight": w}),
             (fastnl.poisson_nll_loss, (x, np.abs(t)), {"full": True})]
    for f, (a, b), kw in cases:
        backward = getattr(fastnl, f.__name__ + "_backward")
        fa, fb = a.T.copy().T, b.T.copy().T
        fkw = {k: v.T.copy().T for k, v in kw.items() if isinstance(v, np.ndarray)}
        fkw.update({k: v for k, v in kw.items() if not isinstance(v, np.ndarray)})
        tkw = {k: (np.ascontiguousarray(v.T) if isinstance(v, np.ndarray) else v)
               for k, v in kw.items()}
        ta, tb = np.ascontiguousarray(a.T), np.ascontiguousarray(b.T)
        for reduction in ("mean", "sum", "none"):
            got = f(fa, fb, reduction=reduction, **fkw)
            want = f(ta, tb, reduction=reduction, **tkw)
            if reduction == "none":
                same = got.T.tobytes() == want.tobytes()  # (not a diff of the bytes on failure)
                assert got.flags.f_contiguous and same, f.__name__
                np.testing.assert_array_equal(got, f(a, b, reduction="none", **kw))
            else:
                assert type(got) is type(want) and got == want, (f.__name__, reduction)
            grad = backward(fa, fb, reduction=reduction, **fkw)
            np.testing.assert_array_equal(grad, backward(ta, tb, reduction=reduction, **tkw).T)
            out = np.empty_like(fa)
            assert backward(fa, fb, reduction=reduction, out=out, **fkw) is out
            np.testing.assert_array_equal(out, grad)
    # a target broadcast along a row, or a check that names an index
    # (gaussian_nll's variance): the general path, the same elementwise losses
    with pytest.warns(UserWarning, match="target size"):
        np.testing.assert_array_equal(fastnl.mse_loss(x.T.copy().T, t[0], reduction="none"),
                                      fastnl.mse_loss(x, t[0], reduction="none"))
    np.testing.assert_array_equal(
        fastnl.gaussian_nll_loss(x.T.copy().T, t.T.copy().T, w.T.copy().T, reduction="none"),
        fastnl.gaussian_nll_loss(x, t, w, reduction="none"))
    bad = np.asfortranarray(np.abs(w))
    bad[5, 2] = -1
    with pytest.raises(ValueError, match=r"at index \(5, 2\)"):
        fastnl.gaussian_nll_loss(x.T.copy().T, t.T.copy().T, bad)


def _strided_layouts(rng, dtype):
    """(name, input, target, other operands) with operands that are not
    contiguous, each paired below with its C-ordered copies. Rows of 64 or
    more with one operand contiguous along them are read a row at a time
    (for the losses that call libm, rows of whole vectors: 96, 320), others
    (45, x[:, ::2], 100 for those losses) gathered a block of 4096 elements
    at a time: both, ending inside a block and beyond one thread's grain
    (32768 elements)."""
    def data(*shape):
        return rng.standard_normal(shape).astype(dtype)
    wide, short = data(700, 2 * 96), data(900, 2 * 45)
    cube = data(40, 4, 160)
    return [
        ("every other column, rows of 96", wide[:, ::2], data(700, 96), {}),
        ("every other column, rows of 45", short[:, ::2], short[:, 1::2], {}),
        ("a slice of 100 columns", data(700, 150)[:, 20:120], data(700, 100), {}),
        ("a broadcast row of 96", data(700, 96), np.broadcast_to(data(96), (700, 96)), {}),
        ("a broadcast row of 45", data(900, 45), np.broadcast_to(data(45), (900, 45)), {}),
        ("a broadcast column", data(700, 96), np.broadcast_to(data(700, 1), (700, 96)), {}),
        ("reversed axes", wide[::-1, ::-3], data(700, 64)[:, ::-1], {}),
        ("a slice of a middle axis", cube[:, 1:3], cube[:, 2:4], {}),
        ("axes swapped", data(40, 300, 6).transpose(0, 2, 1), data(6, 40, 300).transpose(1, 0, 2),
         {}),
        ("weights broadcast, rows of 96", data(700, 96), data(700, 96),
         {"weight": np.broadcast_to(data(96), (700, 96)),
          "pos_weight": np.broadcast_to(data(96), (700, 96))}),
        ("weights broadcast, rows of 100", data(500, 100), data(500, 100),
         {"weight": np.broadcast_to(data(100), (500, 100)),
          "pos_weight": np.broadcast_to(data(100), (500, 100))}),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_losses_read_permuted_axes_in_memory_order(dtype, rng):
    # operands whose axes are permuted alike from C-ordered arrays (NHWC
    # views of NCHW data) are computed on those arrays: the sums in their
    # memory order, 'none' and the gradients laid out as the input
    axes = (0, 2, 3, 1)
    x, t = (rng.standard_normal((8, 6, 16, 20)).astype(dtype) for _ in range(2))
    w = rng.random((8, 6, 16, 20)).astype(dtype)
    for f, kw in ((fastnl.mse_loss, {}), (fastnl.binary_cross_entropy_with_logits,
                                         {"pos_weight": w})):
        backward = getattr(fastnl, f.__name__ + "_backward")
        kw_t = {k: v.transpose(axes) for k, v in kw.items()}
        for reduction in ("mean", "sum", "none"):
            got = f(x.transpose(axes), t.transpose(axes), reduction=reduction, **kw_t)
            want = f(x, t, reduction=reduction, **kw)
            if reduction == "none":
                assert got.shape == (8, 16, 20, 6) and got.transpose(0, 3, 1, 2).flags.c_contiguous
                assert got.transpose(0, 3, 1, 2).tobytes() == want.tobytes()
            else:
                assert got == want, (f.__name__, reduction)
            grad = backward(x.transpose(axes), t.transpose(axes), reduction=reduction, **kw_t)
            want_grad = backward(x, t, reduction=reduction, **kw)
            assert grad.transpose(0, 3, 1, 2).tobytes() == want_grad.tobytes()
            out = np.empty((8, 16, 20, 6), dtype)
            assert backward(x.transpose(axes), t.transpose(axes), reduction=reduction, out=out,
                            **kw_t) is out
            assert out.transpose(0, 3, 1, 2).tobytes() == want_grad.tobytes()


def _bytes(grads):
    """The bits of a gradient, or of each of a tuple of them."""
    return [np.asarray(g).tobytes() for g in (grads if isinstance(grads, tuple) else (grads,))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_losses_read_strided_operands_in_place(dtype, rng):
    # a strided or broadcast operand is read in place (a run along its last
    # axis at a time, or gathered a block at a time): each element's loss
    # and gradient, and the sums, the bits of its C-ordered copy, on one
    # thread and on two
    for name, x, t, extra in _strided_layouts(rng, dtype):
        p = 1 / (1 + np.exp(-np.asarray(x)))
        cases = [(fastnl.mse_loss, (x, t), {}), (fastnl.smooth_l1_loss, (x, t), {"beta": 0.5}),
                 (fastnl.gaussian_nll_loss, (x, t, np.abs(t) + 0.5), {}),
                 (fastnl.margin_ranking_loss, (x, t, np.sign(t)), {})]
        if extra:
            cases = [(fastnl.binary_cross_entropy_with_logits, (x, np.abs(np.sign(t))),
                      {"weight": extra["weight"], "pos_weight": extra["pos_weight"]}),
                     (fastnl.binary_cross_entropy, (p, np.abs(np.sign(t))),
                      {"weight": extra["weight"]})]
        for f, operands, kw in cases:
            backward = getattr(fastnl, f.__name__ + "_backward")
            copies = [np.ascontiguousarray(a) for a in operands]
            kw_copies = {k: np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v
                         for k, v in kw.items()}
            assert not all(a.flags.c_contiguous for a in (*operands, *kw.values())
                           if isinstance(a, np.ndarray)), name
            for reduction in ("mean", "sum", "none"):
                want = f(*copies, reduction=reduction, **kw_copies)
                grad_want = backward(*copies, reduction=reduction, **kw_copies)
                g = np.ascontiguousarray(t)  # a strided upstream gradient too
                upstream = {"grad_output": t} if reduction == "none" else {}
                upstream_copy = {"grad_output": g} if reduction == "none" else {}
                grad_g_want = backward(*copies, reduction=reduction, **upstream_copy,
                                       **kw_copies)
                for threads in (1, 2):
                    with fastnl.num_threads(threads):
                        got = f(*operands, reduction=reduction, **kw)
                        grad = backward(*operands, reduction=reduction, **kw)
                        grad_g = backward(*operands, reduction=reduction, **upstream, **kw)
                    where = (name, f.__name__, reduction, threads)
                    if reduction == "none":
                        assert got.tobytes() == want.tobytes(), where
                    else:
                        assert got == want, where
                    assert _bytes(grad) == _bytes(grad_want), where
                    assert _bytes(grad_g) == _bytes(grad_g_want), where


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("at", [0, 1023, 1024, 2999])
def test_value_checks_find_the_first_bad_element(dtype, at):
    # one compiled pass over plain arrays (blocks of 1024), NumPy over any
    # other layout: both name the first bad element, wherever it falls
    from fastnl._drivers import losses as driver
    rng = np.random.default_rng(at)
    plain = rng.random((3, 1000)).astype(dtype)
    first = lambda flags: np.flatnonzero(flags)[0] if flags.any() else -1  # noqa: E731
    for bad in (1.5, -0.25, np.nan, np.inf, -np.inf):
        a = plain.copy()
        a.flat[at] = bad
        a.flat[at + 1:] = np.where(rng.random(a.size - at - 1) < 0.5, -1.0, 2.0)
        strided = np.zeros((3, 2000), dtype)[:, ::2]  # the same values, not contiguous
        strided[...] = a
        for layout in (a, strided):
            assert driver.first_invalid(layout, True) == at  # NaN is outside [0, 1]
            assert driver.first_invalid(layout, False) == first(a.reshape(-1) < 0)
        assert driver.first_invalid(plain, True) == driver.first_invalid(plain, False) == -1
    a = plain.copy()
    a.flat[at] = -0.5
    where = np.unravel_index(at, a.shape)
    with pytest.raises(ValueError, match=re.escape(f"var has negative entries: -0.5 at index "
                                                   f"{tuple(map(int, where))}")):
        fastnl.gaussian_nll_loss(plain, plain, a)
    with pytest.raises(ValueError, match="input should be between 0 and 1"):
        fastnl.binary_cross_entropy(np.where(np.arange(3000) == at, 1.0 + 1e-6, 0.5)
                                    .astype(dtype), np.full(3000, 0.5, dtype))


@pytest.mark.parametrize("at", [0, 1023, 1024, 2999])
def test_class_index_checks_name_the_first_index_out_of_range(at):
    from fastnl._drivers import losses as driver
    t = np.random.default_rng(at).integers(0, 5, 3000)
    t[at] = 5
    t[at + 1:] = -7  # later bad ones are not the first
    for layout in (t, np.repeat(t, 2)[::2]):
        assert driver.first_outside(layout, 0, 5) == at
        assert driver.first_outside(layout, 0, 6, -7) == -1
        assert driver.first_outside(layout, -7, 6) == -1
    t[:at] = -100  # ignore_index, skipped before it
    x = np.zeros((3000, 5))
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        fastnl.cross_entropy(x, t, weight=np.ones(5), ignore_index=-100)
    with pytest.raises(IndexError, match="Target -100 is out of bounds" if at else
                       "Target 5 is out of bounds"):
        fastnl.cross_entropy(x, t, weight=np.ones(5), ignore_index=-1)
    assert driver.first_outside(t, 0, 5, 2**70) == 0  # no int64 is 2^70: nothing skipped
