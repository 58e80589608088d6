"""linear_cross_entropy and its backward: the numbers of cross_entropy on the
explicit logits (and of torch), for every option and block size, the errors,
and the memory that the class blocks save."""

import tracemalloc

import numpy as np
import pytest

import fastnl

N, D, C = 29, 12, 41
TOL = {np.float32: 2e-5, np.float64: 1e-12}


def _traced_peak(call):
    """tracemalloc's peak bytes of call(), after a first call (imports, caches)."""
    call()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def problem(dtype, seed=0, n=N, bias=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, D)).astype(dtype)
    W = rng.standard_normal((C, D)).astype(dtype)
    b = rng.standard_normal(C).astype(dtype) if bias else None
    t = rng.integers(0, C, n)
    t[::5] = -100 if n > 5 else t[::5]  # some ignored rows
    w = rng.random(C).astype(dtype)
    return x, W, b, t, w


def logits(x, W, b):
    z = x @ W.T
    return z if b is None else z + b


OPTIONS = [dict(), dict(weight=True), dict(label_smoothing=0.2),
           dict(weight=True, label_smoothing=0.7), dict(ignore_index=3),
           dict(label_smoothing=1.0)]


def keywords(option, w, reduction):
    kw = dict(option, reduction=reduction)
    if kw.pop("weight", False):
        kw["weight"] = w
    return kw


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("chunk_size", [None, 1, 7, C, 64])  # 7 does not divide C
def test_equals_cross_entropy_on_the_logits(dtype, reduction, option, chunk_size):
    x, W, b, t, w = problem(dtype)
    if "ignore_index" in option:
        t[t == -100] = 3  # the rows to ignore now carry that index
    kw = keywords(option, w, reduction)
    got = fastnl.linear_cross_entropy(x, W, t, linear_bias=b, chunk_size=chunk_size, **kw)
    z = logits(x, W, b)
    want = fastnl.cross_entropy(z, t, **kw)
    assert np.asarray(got).dtype == dtype
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])

    g = np.linspace(-1, 2, N).astype(dtype) if reduction == "none" else 1.7
    gx, gW, gb = fastnl.linear_cross_entropy_backward(
        x, W, t, linear_bias=b, chunk_size=chunk_size, grad_output=g, **kw)
    gz = fastnl.cross_entropy_backward(z, t, grad_output=g, **kw).astype(np.float64)
    tol = 10 * TOL[dtype]
    for got, want in ((gx, gz @ W), (gW, gz.T @ x), (gb, gz.sum(axis=0))):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_without_bias_and_one_dimensional_input(dtype):
    x, W, _, t, w = problem(dtype, bias=False)
    got = fastnl.linear_cross_entropy(x, W, t, chunk_size=5, reduction="none")
    np.testing.assert_allclose(got, fastnl.cross_entropy(x @ W.T, t, reduction="none"),
                               rtol=TOL[dtype])
    gx, gW, gb = fastnl.linear_cross_entropy_backward(x, W, t, chunk_size=5)
    assert gb is None
    # a 1-d input is one sample with a scalar target
    loss = fastnl.linear_cross_entropy(x[2], W, t[2], weight=w, label_smoothing=0.1,
                                       chunk_size=6)
    assert np.ndim(loss) == 0
    np.testing.assert_allclose(loss, fastnl.cross_entropy(W @ x[2], t[2], weight=w,
                                                          label_smoothing=0.1),
                               rtol=TOL[dtype])
    gx, gW, _ = fastnl.linear_cross_entropy_backward(x[2], W, t[2], chunk_size=6)
    gz = fastnl.cross_entropy_backward(W @ x[2], t[2])
    assert gx.shape == (D,) and gW.shape == (C, D)
    np.testing.assert_allclose(gx, gz @ W, rtol=10 * TOL[dtype], atol=10 * TOL[dtype])
    np.testing.assert_allclose(gW, np.outer(gz, x[2]), rtol=10 * TOL[dtype],
                               atol=10 * TOL[dtype])


def test_float16_computes_in_float32_and_returns_float16():
    x, W, b, t, _ = problem(np.float16)
    loss = fastnl.linear_cross_entropy(x, W, t, linear_bias=b)
    assert loss.dtype == np.float16
    want = fastnl.cross_entropy(logits(*(a.astype(np.float32) for a in (x, W, b))), t)
    np.testing.assert_allclose(float(loss), float(want), rtol=1e-3)
    assert all(g.dtype == np.float16 for g in
               fastnl.linear_cross_entropy_backward(x, W, t, linear_bias=b))


def test_out_and_torch_default_ignore_index():
    x, W, b, t, _ = problem(np.float64)
    t[t < 0] = 0
    out = np.empty(N)
    res = fastnl.linear_cross_entropy(x, W, t, linear_bias=b, reduction="none", out=out)
    assert res is out
    np.testing.assert_allclose(out, fastnl.cross_entropy(logits(x, W, b), t,
                                                         reduction="none"), rtol=1e-12)
    assert fastnl.linear_cross_entropy(x, W, t, ignore_index=None) == \
        fastnl.linear_cross_entropy(x, W, t)


@pytest.mark.parametrize("chunk_size", [1, 3, None])
def test_non_finite_logits_follow_cross_entropy(chunk_size):
    x, W, b, t, w = problem(np.float64, n=6)
    t[:] = [2, 1, 0, 4, 2, 5]
    b[2] = np.inf        # every row: a +inf logit at class 2
    x[3, 0] = np.nan     # row 3: NaN logits
    z = logits(x, W, b)
    for kw in (dict(), dict(label_smoothing=0.3, weight=w)):
        got = fastnl.linear_cross_entropy(x, W, t, linear_bias=b, reduction="none",
                                          chunk_size=chunk_size, **kw)
        want = fastnl.cross_entropy(z, t, reduction="none", **kw)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-12)
        gx, gW, gb = fastnl.linear_cross_entropy_backward(
            x, W, t, linear_bias=b, reduction="none", chunk_size=chunk_size, **kw)
        gz = fastnl.cross_entropy_backward(z, t, reduction="none", **kw)
        np.testing.assert_allclose(gb, gz.sum(axis=0), rtol=1e-12)


def test_against_torch(torch):
    F = torch.nn.functional
    for dtype in (np.float32, np.float64):
        x, W, b, t, w = problem(dtype, seed=3)
        for kw in (dict(), dict(weight=w, label_smoothing=0.1, reduction="sum"),
                   dict(reduction="none", ignore_index=-100)):
            tkw = {k: torch.tensor(v) if k == "weight" else v for k, v in kw.items()}
            xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
            want = F.linear_cross_entropy(xt, Wt, torch.tensor(t), linear_bias=bt,
                                          ignore_index=-100, **{k: v for k, v in tkw.items()
                                                                if k != "ignore_index"})
            got = fastnl.linear_cross_entropy(x, W, t, linear_bias=b, chunk_size=16, **kw)
            tol = 10 * TOL[dtype]
            np.testing.assert_allclose(got, want.detach().numpy(), rtol=tol, atol=tol)
            g = np.linspace(0.5, 1.5, N).astype(dtype) if want.ndim else np.asarray(1.0, dtype)
            want.backward(torch.tensor(g))
            grads = fastnl.linear_cross_entropy_backward(x, W, t, linear_bias=b, chunk_size=16,
                                                         grad_output=g, **kw)
            for got, ref in zip(grads, (xt.grad, Wt.grad, bt.grad)):
                np.testing.assert_allclose(got, ref.numpy(), rtol=tol, atol=tol)


def test_errors_name_the_shapes():
    x, W, b, t, w = problem(np.float64)
    with pytest.raises(ValueError, match=r"\(41, 5\).*|in_features=12"):
        fastnl.linear_cross_entropy(x, W[:, :5], t)
    with pytest.raises(ValueError, match=r"\(40,\)"):
        fastnl.linear_cross_entropy(x, W, t, linear_bias=b[:-1])
    with pytest.raises(ValueError, match=r"target shape \(28,\).*\(29, 12\)"):
        fastnl.linear_cross_entropy(x, W, t[:-1])
    with pytest.raises(ValueError, match="weight"):
        fastnl.linear_cross_entropy(x, W, t, weight=w[:3])
    with pytest.raises(ValueError, match="input must be"):
        fastnl.linear_cross_entropy(x[None], W, t)
    bad = t.copy()
    bad[4] = C
    with pytest.raises(IndexError, match=f"Target {C} is out of bounds"):
        fastnl.linear_cross_entropy(x, W, bad)
    with pytest.raises(IndexError, match=f"Target {C}"):
        fastnl.linear_cross_entropy_backward(x, W, bad)
    with pytest.raises(ValueError, match="label_smoothing"):
        fastnl.linear_cross_entropy(x, W, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction"):
        fastnl.linear_cross_entropy(x, W, t, reduction="max")
    with pytest.raises(ValueError, match="chunk_size"):
        fastnl.linear_cross_entropy(x, W, t, chunk_size=0)
    with pytest.raises(ValueError, match="grad_output"):
        fastnl.linear_cross_entropy_backward(x, W, t, grad_output=np.ones(3))
    # as cross_entropy: a float target of the rows' shape is not read as indices
    with pytest.raises(ValueError, match="integer array"):
        fastnl.linear_cross_entropy(x, W, t.astype(np.float64))


def test_extra_memory_is_far_below_the_logits():
    n, d, c = 256, 32, 8192
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d), dtype=np.float32)
    W = rng.standard_normal((c, d), dtype=np.float32)
    t = rng.integers(0, c, n)
    logits_bytes = n * c * 4
    for call in (lambda: fastnl.linear_cross_entropy(x, W, t, chunk_size=256,
                                                     label_smoothing=0.1),
                 lambda: fastnl.linear_cross_entropy_backward(x, W, t, chunk_size=256)):
        peak = _traced_peak(call)
        # the backward returns grad_weight (c x d); beyond it, blocks of n x 256
        assert peak - c * d * 4 < logits_bytes / 4, (peak, logits_bytes)



def probabilities(dtype, n=N, seed=7):
    q = np.random.default_rng(seed).random((n, C)).astype(dtype)
    return q / q.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("option", [o for o in OPTIONS if "ignore_index" not in o])
@pytest.mark.parametrize("chunk_size", [None, 1, 7, 64])
def test_probability_targets_equal_cross_entropy(dtype, reduction, option, chunk_size):
    x, W, b, _, w = problem(dtype)
    target = probabilities(dtype)
    kw = keywords(option, w, reduction)
    z = logits(x, W, b)
    got = fastnl.linear_cross_entropy(x, W, target, linear_bias=b, chunk_size=chunk_size,
                                      **kw)
    np.testing.assert_allclose(got, fastnl.cross_entropy(z, target, **kw),
                               rtol=TOL[dtype], atol=TOL[dtype])
    g = np.linspace(-1, 2, N).astype(dtype) if reduction == "none" else 0.6
    grads = fastnl.linear_cross_entropy_backward(x, W, target, linear_bias=b,
                                                 chunk_size=chunk_size, grad_output=g, **kw)
    gz = fastnl.cross_entropy_backward(z, target, grad_output=g, **kw).astype(np.float64)
    tol = 10 * TOL[dtype]
    for got, want in zip(grads, (gz @ W, gz.T @ x, gz.sum(axis=0))):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_probability_targets_one_dimensional_non_finite_and_errors():
    x, W, b, _, _ = problem(np.float64, n=4)
    target = probabilities(np.float64, n=4)
    np.testing.assert_allclose(fastnl.linear_cross_entropy(x[1], W, target[1], chunk_size=5),
                               fastnl.cross_entropy(W @ x[1], target[1]), rtol=1e-12)
    b[7] = np.inf
    z = logits(x, W, b)
    np.testing.assert_allclose(
        fastnl.linear_cross_entropy(x, W, target, linear_bias=b, reduction="none",
                                    chunk_size=6),
        fastnl.cross_entropy(z, target, reduction="none"), rtol=1e-12)
    np.testing.assert_allclose(
        fastnl.linear_cross_entropy_backward(x, W, target, linear_bias=b, chunk_size=6)[2],
        fastnl.cross_entropy_backward(z, target).sum(axis=0), rtol=1e-12)
    with pytest.raises(ValueError, match="ignore_index"):
        fastnl.linear_cross_entropy(x, W, target, ignore_index=0)
    with pytest.raises(ValueError, match=r"target shape \(4, 40\)"):
        fastnl.linear_cross_entropy(x, W, target[:, 1:])


def test_probability_targets_against_torch(torch):
    x, W, b, _, w = problem(np.float32, seed=8)
    target = probabilities(np.float32)
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    want = torch.nn.functional.linear_cross_entropy(
        xt, Wt, torch.tensor(target), linear_bias=bt, weight=torch.tensor(w),
        label_smoothing=0.2)
    want.backward()
    got = fastnl.linear_cross_entropy(x, W, target, linear_bias=b, weight=w,
                                      label_smoothing=0.2, chunk_size=10)
    np.testing.assert_allclose(got, want.item(), rtol=1e-5)
    grads = fastnl.linear_cross_entropy_backward(x, W, target, linear_bias=b, weight=w,
                                                 label_smoothing=0.2, chunk_size=10)
    for got, ref in zip(grads, (xt.grad, Wt.grad, bt.grad)):
        np.testing.assert_allclose(got, ref.numpy(), rtol=1e-4, atol=1e-6)

# ---------------------------------------------------------------- nn.LinearCrossEntropy

def test_module_initialises_as_torch_linear():
    lce = fastnl.nn.LinearCrossEntropy(64, 300, rng=0)
    bound = 1 / np.sqrt(64)
    assert lce.weight.shape == (300, 64) and lce.bias.shape == (300,)
    assert lce.weight.dtype == lce.bias.dtype == np.float32
    for p in (lce.weight, lce.bias):
        assert np.all(np.abs(p) <= bound)
        assert np.abs(p).max() > 0.9 * bound  # uniform over the whole interval
    assert abs(lce.weight.std() - bound / np.sqrt(3)) < 0.01 * bound
    same = fastnl.nn.LinearCrossEntropy(64, 300, rng=0)
    np.testing.assert_array_equal(same.weight, lce.weight)
    no_bias = fastnl.nn.LinearCrossEntropy(64, 300, bias=False, rng=0)
    assert no_bias.bias is None and list(no_bias.state_dict()) == ["weight"]


def test_module_state_dict_round_trip_with_torch_linear(torch):
    linear = torch.nn.Linear(12, C)
    lce = fastnl.nn.LinearCrossEntropy(12, C, rng=1)
    lce.load_state_dict({k: v.detach().numpy() for k, v in linear.state_dict().items()})
    state = lce.state_dict()
    assert sorted(state) == sorted(linear.state_dict()) == ["bias", "weight"]
    back = torch.nn.Linear(12, C)
    back.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    for k, v in back.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), linear.state_dict()[k].numpy())
    state["weight"][:] = 0  # state_dict() hands out copies
    assert lce.weight.any()
    with pytest.raises(KeyError):
        fastnl.nn.LinearCrossEntropy(12, C, bias=False).load_state_dict(state)


def test_module_forward_backward_against_torch(torch):
    x, _, _, t, w = problem(np.float32, seed=5)
    linear = torch.nn.Linear(D, C)
    lce = fastnl.nn.LinearCrossEntropy(D, C, weight=w, label_smoothing=0.1, reduction="sum")
    lce.load_state_dict({k: v.detach().numpy() for k, v in linear.state_dict().items()})
    xt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(linear(xt), torch.tensor(t), weight=torch.tensor(w),
                                            label_smoothing=0.1, reduction="sum")
    ref.backward()
    loss = lce(x, t)
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss, ref.item(), rtol=1e-5)
    grad_x = lce.backward()
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(lce.weight_grad, linear.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(lce.bias_grad, linear.bias.grad.numpy(), rtol=1e-4, atol=1e-5)
    # a second backward adds, as torch's .grad does; zero_grad forgets
    lce.backward(np.float32(2.0))
    np.testing.assert_allclose(lce.bias_grad, 3 * linear.bias.grad.numpy(), rtol=1e-4,
                               atol=1e-5)
    lce.zero_grad()
    assert lce.weight_grad is None and lce.bias_grad is None


def test_module_reduction_none_and_backward_before_forward():
    lce = fastnl.nn.LinearCrossEntropy(D, C, reduction="none", rng=2)
    with pytest.raises(RuntimeError, match="before forward"):
        lce.backward()
    x, _, _, t, _ = problem(np.float32, seed=6)
    loss = lce(x, t)
    assert loss.shape == (N,)
    gx = lce.backward()
    want = fastnl.linear_cross_entropy_backward(x, lce.weight, t, linear_bias=lce.bias,
                                                reduction="none", grad_output=np.ones(N))
    np.testing.assert_array_equal(gx, want[0])
    assert "in_features=12, num_classes=41, bias=True" in repr(lce)


@pytest.mark.parametrize("target_kind", ["indices", "probabilities"])
def test_module_reuses_the_forward_statistics_with_the_functional_bits(target_kind):
    # the module hands the forward's log-sum-exp to the backward: same bits as
    # the functional form, which computes it again
    lce = fastnl.nn.LinearCrossEntropy(D, C, label_smoothing=0.3, ignore_index=None, rng=4)
    x, _, _, t, _ = problem(np.float32, seed=9)
    t[t < 0] = 1
    target = t if target_kind == "indices" else probabilities(np.float32)
    lce.bias[5] = np.inf  # a non-finite logit in every row: the rare path too
    loss = lce(x, target)
    kw = dict(linear_bias=lce.bias, label_smoothing=0.3)
    np.testing.assert_array_equal(loss, fastnl.linear_cross_entropy(x, lce.weight, target, **kw))
    gx = lce.backward()
    want = fastnl.linear_cross_entropy_backward(x, lce.weight, target, **kw)
    np.testing.assert_array_equal(gx, want[0])
    np.testing.assert_array_equal(lce.weight_grad, want[1])
    np.testing.assert_array_equal(lce.bias_grad, want[2])


@pytest.mark.parametrize("target_kind", ["indices", "probabilities"])
@pytest.mark.parametrize("option", OPTIONS)
def test_return_stats_gives_the_backward_the_same_bits(target_kind, option):
    """The forward's row statistics handed to the backward (return_stats,
    stats=) give the bits of the backward that computes them again; the
    loss is the one without return_stats."""
    if target_kind == "probabilities" and "ignore_index" in option:
        return  # probabilities ignore no row
    x, W, b, t, w = problem(np.float64, seed=3)
    if "ignore_index" in option:
        t[t == -100] = 3  # the rows to ignore now carry that index
    target = t if target_kind == "indices" else probabilities(np.float64)
    kw = dict(keywords(option, w, "sum"), linear_bias=b, chunk_size=7)
    b[2] = -np.inf  # a non-finite logit in every row: the rare path too
    loss, stats = fastnl.linear_cross_entropy(x, W, target, **kw, return_stats=True)
    np.testing.assert_array_equal(loss, fastnl.linear_cross_entropy(x, W, target, **kw))
    got = fastnl.linear_cross_entropy_backward(x, W, target, **kw, grad_output=0.5,
                                               stats=stats)
    want = fastnl.linear_cross_entropy_backward(x, W, target, **kw, grad_output=0.5)
    for a, e in zip(got, want):
        np.testing.assert_array_equal(a, e)
    assert "29 rows, 41 classes" in repr(stats)
    # they are used, not computed again: another forward's give other gradients
    _, other = fastnl.linear_cross_entropy(2 * x, W, target, **kw, return_stats=True)
    wrong = fastnl.linear_cross_entropy_backward(x, W, target, **kw, grad_output=0.5,
                                                 stats=other)
    assert not np.allclose(wrong[0], want[0])


def test_return_stats_errors(monkeypatch):
    x, W, b, t, _ = problem(np.float32)
    _, stats = fastnl.linear_cross_entropy(x, W, t, return_stats=True)
    with pytest.raises(ValueError, match="another problem .29 rows, 41 classes"):
        fastnl.linear_cross_entropy_backward(x[:5], W, t[:5], stats=stats)
    with pytest.raises(ValueError, match="another problem"):  # options count too
        fastnl.linear_cross_entropy_backward(x, W, t, label_smoothing=0.1, stats=stats)
    with pytest.raises(ValueError, match="another problem"):
        fastnl.linear_cross_entropy_backward(x, W, t, linear_bias=b, stats=stats)
    with pytest.raises(TypeError, match="return_stats=True"):
        fastnl.linear_cross_entropy_backward(x, W, t, stats=(np.zeros(N), np.ones(N)))
    Wk = np.zeros((C, 2, D), np.float32)
    with pytest.raises(ValueError, match="2-d linear_weight"):
        fastnl.linear_cross_entropy(x, Wk, np.zeros((N, 2), np.int64), return_stats=True)
    with pytest.raises(ValueError, match="2-d linear_weight"):
        fastnl.linear_cross_entropy_backward(x, Wk, np.zeros((N, 2), np.int64), stats=stats)
    da = pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match="NumPy arrays"):
        fastnl.linear_cross_entropy(da.from_array(x), W, t, return_stats=True)
    with pytest.raises(ValueError, match="NumPy arrays"):
        fastnl.linear_cross_entropy_backward(da.from_array(x), W, t, stats=stats)


def test_empty_batch_and_no_classes_as_cross_entropy():
    x, W = np.zeros((0, 4)), np.ones((5, 4))
    t = np.zeros(0, int)
    assert np.isnan(fastnl.linear_cross_entropy(x, W, t))
    assert [g.shape for g in fastnl.linear_cross_entropy_backward(x, W, t)[:2]] == [(0, 4), (5, 4)]
    x, W = np.ones((2, 4)), np.ones((0, 4))
    for target in (np.ones((2, 0)), np.full(2, -100)):
        for reduction in ("none", "sum", "mean"):
            np.testing.assert_array_equal(
                fastnl.linear_cross_entropy(x, W, target, reduction=reduction),
                fastnl.cross_entropy(np.ones((2, 0)), target, reduction=reduction))


# ---------------------------------------------------------------- blocks on threads

def _big_problem(dtype=np.float32, n=300, d=24, c=1500, seed=11):
    """N x C above the size that walks the class blocks on several threads,
    with several blocks of the default size (C / 80, at least 512)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(dtype)
    W = (rng.standard_normal((c, d)) / np.sqrt(d)).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    t = rng.integers(0, c, n)
    t[::9] = -100
    w = rng.random(c).astype(dtype)
    return x, W, b, t, w


@pytest.mark.parametrize("target_kind", ["indices", "probabilities"])
@pytest.mark.parametrize("chunk_size", [None, 100])
def test_bitwise_identical_on_one_and_two_threads(target_kind, chunk_size):
    # the blocks are fixed by C (never by the thread count), every BLAS call
    # is single-threaded, the blocks' statistics are merged and grad_input
    # added in block order: the same bits on any number of threads
    x, W, b, t, w = _big_problem()
    target = t if target_kind == "indices" else \
        np.random.default_rng(2).dirichlet(np.ones(W.shape[0]), x.shape[0]).astype(np.float32)
    kw = dict(linear_bias=b, weight=w, label_smoothing=0.1, chunk_size=chunk_size)
    results = []
    for threads in (1, 2):
        with fastnl.num_threads(threads):
            results.append([fastnl.linear_cross_entropy(x, W, target, reduction="none", **kw),
                            fastnl.linear_cross_entropy(x, W, target, **kw),
                            *fastnl.linear_cross_entropy_backward(x, W, target, **kw)])
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("option", OPTIONS)
def test_default_blocks_equal_cross_entropy_on_the_logits(threads, option):
    # float64: the block path against cross_entropy's kernels on the whole
    # logits, to float64 rounding (sums of 1500 terms in other orders)
    x, W, b, t, w = _big_problem(np.float64)
    if "ignore_index" in option:
        t[t == -100] = 3
    kw = keywords(option, w, "mean")
    z = logits(x, W, b)
    g = 1.3
    with fastnl.num_threads(threads):
        got = fastnl.linear_cross_entropy(x, W, t, linear_bias=b, **kw)
        grads = fastnl.linear_cross_entropy_backward(x, W, t, linear_bias=b, grad_output=g, **kw)
    np.testing.assert_allclose(got, fastnl.cross_entropy(z, t, **kw), rtol=1e-12)
    gz = fastnl.cross_entropy_backward(z, t, grad_output=g, **kw)
    for got, want in zip(grads, (gz @ W, gz.T @ x, gz.sum(axis=0))):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def test_default_blocks_against_torch_autograd(torch):
    # float32 against torch's reference path (its logits materialised),
    # loss.backward() w.r.t. input, weight and bias: both sum 300 rows or
    # 1500 classes in float32 (BLAS) in other orders; the largest difference
    # seen is 1.3e-6 of the gradient's largest entry, so 1e-5 of it, in
    # absolute terms (small entries lose their relative accuracy to those sums)
    x, W, b, t, w = _big_problem()
    F = torch.nn.functional
    for kw in (dict(), dict(weight=w, label_smoothing=0.2, reduction="sum")):
        leaves = [torch.tensor(a, requires_grad=True) for a in (x, W, b)]
        tkw = {k: torch.tensor(v) if k == "weight" else v for k, v in kw.items()}
        want = F.linear_cross_entropy(leaves[0], leaves[1], torch.tensor(t),
                                      linear_bias=leaves[2], ignore_index=-100, **tkw)
        want.backward()
        with fastnl.num_threads(2):
            got = fastnl.linear_cross_entropy(x, W, t, linear_bias=b, **kw)
            grads = fastnl.linear_cross_entropy_backward(x, W, t, linear_bias=b, **kw)
        np.testing.assert_allclose(got, want.item(), rtol=1e-5)
        for got, ref in zip(grads, leaves):
            ref = ref.grad.numpy()
            np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_masked_classes_stay_on_the_fast_path():
    # a bias of -inf on padded classes (a padded vocabulary): whole blocks of
    # -inf logits add nothing, the rows stay finite and equal cross_entropy's
    x, W, b, t, w = _big_problem(np.float64)
    b[1000:] = -np.inf
    t[t >= 1000] = 7
    z = logits(x, W, b)
    np.testing.assert_allclose(
        fastnl.linear_cross_entropy(x, W, t, linear_bias=b, reduction="none"),
        fastnl.cross_entropy(z, t, reduction="none"), rtol=1e-12)
    gx, gW, gb = fastnl.linear_cross_entropy_backward(x, W, t, linear_bias=b)
    gz = fastnl.cross_entropy_backward(z, t)
    np.testing.assert_allclose(gb, gz.sum(axis=0), rtol=1e-10, atol=1e-15)
    assert not gb[1000:].any()


def test_blas_threads_are_restored():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x, W, b, t, _ = _big_problem()
    before = [(i["filepath"], i["num_threads"]) for i in threadpoolctl.threadpool_info()
              if i["user_api"] == "blas"]
    fastnl.linear_cross_entropy_backward(x, W, t, linear_bias=b)
    after = [(i["filepath"], i["num_threads"]) for i in threadpoolctl.threadpool_info()
             if i["user_api"] == "blas"]
    assert before == after


def test_concurrent_calls_share_the_blas_limit():
    # calls running at once (as Dask's threads run blocks) share the one
    # process-wide BLAS limit, which the last to leave restores. threadpoolctl
    # lets one thread (the first to set an OpenBLAS limit) change it: a call
    # from another thread that finds BLAS on more threads leaves it so and
    # walks its blocks on one thread; its products may then round otherwise
    # (float32 sums of 1500 terms in another order: 1e-6 relative)
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import concurrent.futures
    x, W, b, t, _ = _big_problem()
    alone = fastnl.linear_cross_entropy_backward(x, W, t, linear_bias=b)
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info()
              if i["user_api"] == "blas"]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(
            lambda _: fastnl.linear_cross_entropy_backward(x, W, t, linear_bias=b), range(8)))
    for grads in results:
        for got, want in zip(grads, alone):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * np.abs(want).max())
    assert [i["num_threads"] for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"] == before
    # from the calling thread with BLAS on one thread, the bits of a call alone
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results = list(pool.map(
                lambda _: fastnl.linear_cross_entropy_backward(x, W, t, linear_bias=b),
                range(4)))
    for grads in results:
        for got, want in zip(grads, alone):
            np.testing.assert_array_equal(got, want)


def test_default_blocks_hold_a_few_percent_of_the_logits():
    # the memory target: beyond the results, < 5% of the (N, C) float32 logits
    # with the default blocks (C / 80 classes per block and thread)
    n, d, c = 512, 32, 40000
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d), dtype=np.float32)
    W = rng.standard_normal((c, d), dtype=np.float32)
    b = rng.standard_normal(c, dtype=np.float32)
    t = rng.integers(0, c, n)
    logits_bytes = n * c * 4
    results = (x.size + W.size + b.size) * 4
    for threads in (1, 2):
        with fastnl.num_threads(threads):
            for call, kept in ((lambda: fastnl.linear_cross_entropy(
                                    x, W, t, linear_bias=b, label_smoothing=0.1), 0),
                               (lambda: fastnl.linear_cross_entropy_backward(
                                    x, W, t, linear_bias=b, label_smoothing=0.1), results)):
                peak = _traced_peak(call)
                assert peak - kept < 0.05 * logits_bytes, (threads, peak - kept, logits_bytes)


# ---------------------------------------------------------------- Dask

@pytest.fixture
def da():
    return pytest.importorskip("dask.array")


# The Dask blocks run the in-memory driver on their rows: per-row results
# (reduction='none', grad_input) are those of the same rows in memory, up to
# BLAS's rounding on a block of rows instead of all of them (none seen here);
# reduced losses and grad_weight / grad_bias add the blocks' sums in a tree,
# another order: float64 rounding, 1e-12 relative.
DASK_TOL = 1e-12


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("chunks", [(7, D), (10, 5), (N, D)])  # rows; rows and features
def test_dask_is_lazy_and_equals_memory(da, reduction, option, chunks):
    x, W, b, t, w = problem(np.float64)
    if "ignore_index" in option:
        t[t == -100] = 3
    kw = keywords(option, w, reduction)
    xd, td = da.from_array(x, chunks=chunks), da.from_array(t, chunks=chunks[0] + 2)
    got = fastnl.linear_cross_entropy(xd, W, td, linear_bias=b, chunk_size=9, **kw)
    assert isinstance(got, da.Array)
    want = fastnl.linear_cross_entropy(x, W, t, linear_bias=b, chunk_size=9, **kw)
    assert got.shape == np.shape(want) and got.dtype == want.dtype
    np.testing.assert_allclose(got.compute(), want, rtol=DASK_TOL, atol=DASK_TOL)
    if reduction == "none":
        g = da.from_array(np.linspace(-1, 2, N), chunks=5)
    else:
        g = 0.8
    grads = fastnl.linear_cross_entropy_backward(xd, W, td, linear_bias=b, chunk_size=9,
                                                 grad_output=g, **kw)
    assert all(isinstance(a, da.Array) for a in grads)
    assert grads[0].chunks[0] == xd.chunks[0]
    wants = fastnl.linear_cross_entropy_backward(
        x, W, t, linear_bias=b, chunk_size=9, grad_output=np.asarray(g), **kw)
    for got, want in zip(grads, wants):
        np.testing.assert_allclose(got.compute(), want, rtol=DASK_TOL, atol=DASK_TOL)


def test_dask_float32_probabilities_one_row_and_lazy_parameters(da):
    x, W, b, _, w = problem(np.float32)
    q = probabilities(np.float32)
    xd, qd = da.from_array(x, chunks=(8, 5)), da.from_array(q, chunks=(8, 10))
    Wd, bd = da.from_array(W, chunks=(10, 5)), da.from_array(b, chunks=10)
    kw = dict(weight=w, label_smoothing=0.1)
    got = fastnl.linear_cross_entropy(xd, Wd, qd, linear_bias=bd, **kw)
    want = fastnl.linear_cross_entropy(x, W, q, linear_bias=b, **kw)
    assert got.dtype == np.float32
    # float32 rows added in float64 in a tree: within float32's rounding
    np.testing.assert_allclose(got.compute(), want, rtol=1e-6)
    for got, want in zip(fastnl.linear_cross_entropy_backward(xd, Wd, qd, linear_bias=bd, **kw),
                         fastnl.linear_cross_entropy_backward(x, W, q, linear_bias=b, **kw)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.compute(), want, rtol=1e-5, atol=1e-6)
    # a 1-d input is one row
    one = fastnl.linear_cross_entropy(xd[4], W, 3, reduction="none")
    np.testing.assert_allclose(one.compute(), fastnl.linear_cross_entropy(x[4], W, 3),
                               rtol=1e-6)
    gx, gW, gb = fastnl.linear_cross_entropy_backward(xd[4], W, 3)
    assert gx.shape == (D,) and gb is None
    np.testing.assert_allclose(gx.compute(), fastnl.linear_cross_entropy_backward(x[4], W, 3)[0],
                               rtol=1e-6)


def test_dask_errors_at_once_or_at_compute(da):
    x, W, b, t, _ = problem(np.float64)
    xd = da.from_array(x, chunks=7)
    with pytest.raises(ValueError, match="in_features=12"):
        fastnl.linear_cross_entropy(xd, W[:, :5], t)
    with pytest.raises(ValueError, match=r"target shape \(28,\)"):
        fastnl.linear_cross_entropy(xd, W, t[:-1])
    with pytest.raises(TypeError, match="out="):
        fastnl.linear_cross_entropy(xd, W, t, out=np.empty(()))
    bad = t.copy()
    bad[4] = C
    lazy_loss = fastnl.linear_cross_entropy(xd, W, da.from_array(bad, chunks=7))
    with pytest.raises(IndexError, match=f"Target {C}"):  # the values are read in the blocks
        lazy_loss.compute()


K_OPTIONS = [{}, {"weight": "w"}, {"label_smoothing": 0.1}, {"ignore_index": 1}]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("targets, option", [("indices", o) for o in K_OPTIONS]
                         + [("probabilities", o) for o in K_OPTIONS if "ignore_index" not in o])
def test_k_dimensional_form_against_torch(reduction, option, targets, torch):
    """torch's K-dimensional loss, linear_weight (C, d1, d2, in_features):
    loss and the three gradients as torch's autograd gives them."""
    rng = np.random.default_rng(7)
    n, c, dims = 5, 4, (2, 3)
    x = rng.standard_normal((n, D))
    W = rng.standard_normal((c,) + dims + (D,))
    b = rng.standard_normal((c,) + dims)
    if targets == "indices":
        t = rng.integers(0, c, (n,) + dims)
        t[0, 0, 0] = 1  # one ignored where ignore_index=1
    else:
        t = rng.random((n, c) + dims)
        t /= t.sum(axis=1, keepdims=True)
    kwargs = {k: (rng.random(c) if v == "w" else v) for k, v in option.items()}
    X, Wt, B = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    want = torch.nn.functional.linear_cross_entropy(
        X, Wt, torch.tensor(t), linear_bias=B, reduction=reduction,
        **{k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()})
    g = rng.standard_normal(tuple(want.shape))
    want.backward(torch.tensor(g))
    got = fastnl.linear_cross_entropy(x, W, t, linear_bias=b, reduction=reduction, **kwargs)
    gx, gW, gb = fastnl.linear_cross_entropy_backward(x, W, t, linear_bias=b, reduction=reduction,
                                                      grad_output=g, **kwargs)
    for a, w in [(got, want), (gx, X.grad), (gW, Wt.grad), (gb, B.grad)]:
        np.testing.assert_allclose(a, w.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_k_dimensional_form_errors():
    x, W = np.ones((3, 4)), np.ones((5, 2, 4))
    with pytest.raises(ValueError, match=r"needs an input of rows, \(N, 4\)"):
        fastnl.linear_cross_entropy(np.ones(4), W, np.zeros(2, int))
    with pytest.raises(ValueError, match=r"linear_bias must have shape \(5, 2\)"):
        fastnl.linear_cross_entropy(x, W, np.zeros((3, 2), int), linear_bias=np.ones(5))
    with pytest.raises(ValueError, match="target"):
        fastnl.linear_cross_entropy(x, W, np.zeros(3, int))
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        fastnl.linear_cross_entropy(x, W, np.full((3, 2), 5))
