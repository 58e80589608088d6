"""ctc_loss and its gradient: against the float64 reference (the plain alpha
recursion of fastnl._reference), torch, finite differences, and the
contract (layouts, dtypes, errors, threads, edge cases)."""

import numpy as np
import pytest

import fastnl
from fastnl import _reference as ref
from fastnl._kernels import _ctc

REDUCTIONS = ["mean", "sum", "none"]
DTYPES = [np.float32, np.float64]


def _rtol(dtype):
    # The recursions run in float64: a float32 loss is the float64 one
    # rounded once (half an ulp), which 2 float32 eps covers with room for
    # the float64 errors (each of T steps adds about an eps of float64,
    # relative, to the running sum). float64: T steps of a few roundings,
    # 1e-12 relative for T of a few hundred.
    return 2 * np.finfo(np.float32).eps if dtype == np.float32 else 1e-12


def _log_softmax(x):
    return x - np.logaddexp.reduce(x, axis=-1, keepdims=True)


def ctc_problem(rng, dtype=np.float64, T=30, N=5, C=6, S=8):
    """log_probs (T, N, C), padded targets (N, S) with repeated labels (they
    need a blank between them), and lengths that cover the edge cases: a
    full-length sample, shorter inputs and targets, an empty target, a
    target that needs every time step, and one no alignment fits."""
    lp = _log_softmax(rng.standard_normal((T, N, C)) * 2).astype(dtype)
    targets = rng.integers(1, C, (N, S))
    targets[0, :4] = [2, 2, 2, 3]      # repeats
    targets[3, :3] = [1, 2, 2]         # 4 steps at least, and it has 4: one path
    il = np.array([T, T - 5, 10, 4, 4] + [T] * (N - 5))[:N]
    tl = np.array([S, 5, 0, 3, 3] + [S] * (N - 5))[:N]
    if N > 4:
        targets[4, :3] = [4, 4, 4]  # sample 4: three repeats need 5 steps, it has 4: inf
    return lp, targets, il, tl


def _concatenated(targets, tl):
    return np.concatenate([row[:n] for row, n in zip(targets, tl)])


def _check(got, expected, dtype, reduction):
    got = np.asarray(got)
    assert got.dtype == dtype
    if reduction != "none":
        assert got.ndim == 0
    np.testing.assert_allclose(got.astype(np.float64), expected, rtol=_rtol(dtype), atol=0)


# ---------------------------------------------------------------- forward

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
def test_against_reference(dtype, reduction, zero_infinity, layout, rng):
    lp, targets, il, tl = ctc_problem(rng, dtype)
    t = targets if layout == "padded" else _concatenated(targets, tl)
    before = lp.copy(), t.copy(), il.copy(), tl.copy()
    got = fastnl.ctc_loss(lp, t, il, tl, reduction=reduction, zero_infinity=zero_infinity)
    expected = ref.ctc_loss(lp, targets, il, tl, reduction=reduction,
                            zero_infinity=zero_infinity)
    if zero_infinity or reduction == "none":
        _check(got, expected, dtype, reduction)
    else:  # sample 4's loss is inf, and so is the reduced loss
        assert got == np.inf and expected == np.inf and np.asarray(got).dtype == dtype
    for a, b in zip((lp, t, il, tl), before):
        np.testing.assert_array_equal(a, b)  # the operands are not modified


def test_edge_samples_against_reference(rng):
    lp, targets, il, tl = ctc_problem(rng)
    got = fastnl.ctc_loss(lp, targets, il, tl, reduction="none")
    assert np.isfinite(got[:4]).all() and got[4] == np.inf
    np.testing.assert_allclose(got, ref.ctc_loss(lp, targets, il, tl, reduction="none"),
                               rtol=1e-12)
    # sample 3's one path, 1 2 blank 2: the sum of its log-probabilities
    one_path = lp[0, 3, 1] + lp[1, 3, 2] + lp[2, 3, 0] + lp[3, 3, 2]
    np.testing.assert_allclose(got[3], -one_path, rtol=1e-14)
    # an empty target over T steps: the blank at every step
    np.testing.assert_allclose(got[2], -lp[:10, 2, 0].sum(), rtol=1e-12)


def test_forced_alignment_is_the_sum_of_its_log_probabilities(rng):
    # target 1 1 in 3 steps: the only path is 1 b 1
    lp = _log_softmax(rng.standard_normal((3, 1, 4)))
    got = fastnl.ctc_loss(lp, [[1, 1]], [3], [2], reduction="sum")
    np.testing.assert_allclose(got, -(lp[0, 0, 1] + lp[1, 0, 0] + lp[2, 0, 1]), rtol=1e-14)


def test_no_time_steps():
    lp = np.log(np.full((4, 2, 3), 1 / 3))
    got = fastnl.ctc_loss(lp, [[1], [1]], [0, 0], [0, 1], reduction="none")
    # an empty target in no steps has probability 1 (torch: -0.0), any other 0
    assert got[0] == 0 and np.signbit(got[0]) and got[1] == np.inf


@pytest.mark.parametrize("blank", [0, 3, 5])
def test_blank_anywhere_and_in_the_target(blank, rng):
    lp, targets, il, tl = ctc_problem(rng)
    targets = np.where(targets == blank, 0, targets)  # labels other than the blank
    targets[1, 0] = blank                               # torch takes a blank label too
    got = fastnl.ctc_loss(lp, targets, il, tl, blank=blank, reduction="none")
    expected = ref.ctc_loss(lp, targets, il, tl, blank=blank, reduction="none")
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_unbatched(rng):
    lp, targets, il, tl = ctc_problem(rng)
    for n in range(4):
        one = fastnl.ctc_loss(lp[:, n], targets[n, :tl[n]], il[n], tl[n], reduction="none")
        assert np.ndim(one) == 0
        batched = fastnl.ctc_loss(lp[:, n:n + 1], targets[n:n + 1], il[n:n + 1], tl[n:n + 1],
                                  reduction="none")
        assert one == batched[0]
        # (1, S) padded, lengths as 1-element arrays
        assert fastnl.ctc_loss(lp[:, n], targets[n:n + 1], [il[n]], [tl[n]],
                               reduction="none") == one
        mean = fastnl.ctc_loss(lp[:, n], targets[n, :tl[n]], il[n], tl[n])
        np.testing.assert_allclose(mean, one / max(tl[n], 1), rtol=1e-15)
    g = fastnl.ctc_loss_backward(lp[:, 0], targets[0], il[0], tl[0], reduction="none",
                                 grad_output=2.0)
    assert g.shape == lp[:, 0].shape
    np.testing.assert_array_equal(g, fastnl.ctc_loss_backward(
        lp[:, :1], targets[:1], il[:1], tl[:1], reduction="none", grad_output=2.0)[:, 0])


def test_extreme_log_probabilities():
    # log-probabilities of -800: exp underflows, the log-space recursions do not
    lp = np.full((6, 1, 3), -800.0)
    lp[:, 0, 0] = 0.0
    got = fastnl.ctc_loss(lp, [[1, 2]], [6], [2], reduction="none")
    np.testing.assert_allclose(got, ref.ctc_loss(lp, [[1, 2]], [6], [2], reduction="none"),
                               rtol=1e-14)
    assert 1600 - np.log(100) < got[0] < 1600  # two emissions of -800 on each of a few paths
    g = fastnl.ctc_loss_backward(lp, [[1, 2]], [6], [2], reduction="sum")
    assert np.isfinite(g).all()
    # each step's posteriors sum to 1: sum_c grad = sum_c p - 1 = 0 (normalised rows)
    np.testing.assert_allclose(g.sum(axis=-1), 0, atol=1e-12)


# ---------------------------------------------------------------- against torch

def _torch_ctc(torch, lp, targets, il, tl, grad_output=None, **kw):
    """torch's loss and, through autograd, its gradient of log_probs."""
    lpt = torch.from_numpy(lp).requires_grad_()
    loss = torch.nn.functional.ctc_loss(lpt, torch.from_numpy(np.asarray(targets)),
                                        torch.from_numpy(np.asarray(il)),
                                        torch.from_numpy(np.asarray(tl)), **kw)
    g = torch.ones_like(loss) if grad_output is None else torch.as_tensor(grad_output)
    loss.backward(g.to(loss.dtype))
    return loss.detach().numpy(), lpt.grad.numpy()


def _torch_tolerance(dtype):
    # torch runs the recursions in float32 for float32: T steps of float32
    # roundings on values of tens (1e-5 relative), and gradients of order 1
    # from exp of differences of those (1e-5 absolute); float64 as float64
    return (1e-5, 1e-5) if dtype == np.float32 else (1e-12, 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
def test_against_torch(dtype, reduction, zero_infinity, layout, rng, torch):
    lp, targets, il, tl = ctc_problem(rng, dtype)
    if layout == "concatenated":
        targets = _concatenated(targets, tl)
    kw = dict(reduction=reduction, zero_infinity=zero_infinity)
    g = rng.standard_normal(5) if reduction == "none" else 1.5
    want, want_grad = _torch_ctc(torch, lp, targets, il, tl, grad_output=g, **kw)
    got = fastnl.ctc_loss(lp, targets, il, tl, **kw)
    grad = fastnl.ctc_loss_backward(lp, targets, il, tl, **kw, grad_output=g)
    rtol, atol = _torch_tolerance(dtype)
    assert np.asarray(got).dtype == dtype and grad.dtype == dtype and grad.shape == lp.shape
    np.testing.assert_allclose(got, want, rtol=rtol)
    # NaN where torch has NaN: the rows of an infinite loss without zero_infinity
    assert np.array_equal(np.isnan(grad), np.isnan(want_grad))
    assert np.isnan(grad).any() != zero_infinity
    np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=atol)


@pytest.mark.parametrize("target_dtype", [np.int32, np.int64, np.uint8, np.int16])
@pytest.mark.parametrize("length_dtype", [np.int32, np.int64])
def test_integer_dtypes_as_torch(target_dtype, length_dtype, rng, torch):
    lp, targets, il, tl = ctc_problem(rng)
    want, _ = _torch_ctc(torch, lp, targets.astype(target_dtype), il.astype(length_dtype),
                         tl.astype(length_dtype), reduction="none")
    got = fastnl.ctc_loss(lp, targets.astype(target_dtype), il.astype(length_dtype),
                          tl.astype(length_dtype), reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # Python lists of lengths, as torch's tuples
    np.testing.assert_array_equal(
        fastnl.ctc_loss(lp, targets, list(il), tuple(tl), reduction="none"), got)


def test_special_values_as_torch(rng, torch):
    lp, targets, il, tl = ctc_problem(rng, N=4)
    # class 5 is in no target: a NaN there leaves the loss, torch's gradient
    # is NaN at that element only; -inf there: NaN too (exp(-inf + nll + inf))
    lp[3, 0, 5] = np.nan
    lp[4, 1, 5] = -np.inf
    targets[:, :] = np.where(targets == 5, 1, targets)
    got = fastnl.ctc_loss(lp, targets, il, tl, reduction="none")
    grad = fastnl.ctc_loss_backward(lp, targets, il, tl, reduction="none")
    want, want_grad = _torch_ctc(torch, lp, targets, il, tl, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.isnan(grad[3, 0, 5]) and np.isnan(grad[4, 1, 5])
    assert np.array_equal(np.isnan(grad), np.isnan(want_grad))
    np.testing.assert_allclose(grad, want_grad, rtol=1e-12, atol=1e-12)
    # NaN at a class the target reads: NaN loss, as torch
    lp[2, 0, targets[0, 0]] = np.nan
    assert np.isnan(fastnl.ctc_loss(lp, targets, il, tl, reduction="none")[0])
    assert np.isnan(_torch_ctc(torch, lp, targets, il, tl, reduction="none")[0][0])


# ---------------------------------------------------------------- gradient

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradient_against_finite_differences(reduction, rng):
    # torch's gradient is exp(lp) - posterior; the free inputs' gradient is
    # -posterior (the exp(lp) term vanishes through a log_softmax). Central
    # differences of the reference loss, h = 1e-5: error ~h^2 (1e-10) plus
    # rounding ~eps |loss| / h (1e-10).
    lp = _log_softmax(rng.standard_normal((8, 3, 4)))
    targets = np.array([[1, 2, 2], [3, 1, 0], [0, 0, 0]])
    il, tl = np.array([8, 6, 7]), np.array([3, 2, 0])
    g = np.array([0.5, -1.0, 2.0]) if reduction == "none" else 0.7
    grad = fastnl.ctc_loss_backward(lp, targets, il, tl, reduction=reduction, grad_output=g)
    upstream = np.broadcast_to(g, 3) if reduction == "none" else np.full(3, g)
    if reduction == "mean":
        upstream = upstream / (3 * np.maximum(tl, 1))
    within = np.arange(8)[:, None] < il[None, :]
    free = grad - np.where(within[..., None], np.exp(lp) * upstream[:, None], 0.0)

    def objective(x):
        loss = ref.ctc_loss(x, targets, il, tl, reduction=reduction)
        return np.sum(loss * g)

    h = 1e-5
    numeric = np.zeros_like(lp)
    for i in np.ndindex(lp.shape):
        e = np.zeros_like(lp)
        e[i] = h
        numeric[i] = (objective(lp + e) - objective(lp - e)) / (2 * h)
    np.testing.assert_allclose(free, numeric, atol=1e-8)
    assert np.all(grad[~within] == 0)  # past each input length


def test_gradient_through_log_softmax_is_the_logits_gradient(rng):
    # with lp = log_softmax(z): d loss / dz = grad (the softmax's backward,
    # g - softmax * sum(g), leaves it unchanged: each row of grad sums to 0)
    z = rng.standard_normal((10, 2, 5))
    lp = fastnl.log_softmax(z)
    grad = fastnl.ctc_loss_backward(lp, [[1, 2, 3], [4, 4, 0]], [10, 9], [3, 2],
                                    reduction="sum")
    through = fastnl.log_softmax_backward(grad, lp)
    np.testing.assert_allclose(through, grad, atol=1e-13)
    np.testing.assert_allclose(grad.sum(axis=-1), 0, atol=1e-13)


def test_zero_infinity_gradient_is_zero():
    lp = np.log(np.full((3, 2, 3), 1 / 3))
    grad = fastnl.ctc_loss_backward(lp, [[1, 1, 1], [1, 2, 0]], [3, 3], [3, 2],
                                    zero_infinity=True, reduction="sum")
    assert np.all(grad[:, 0] == 0) and np.all(np.isfinite(grad))
    assert not np.all(grad[:, 1] == 0)
    nan = fastnl.ctc_loss_backward(lp, [[1, 1, 1], [1, 2, 0]], [3, 3], [3, 2], reduction="sum")
    assert np.isnan(nan[:, 0]).all() and np.array_equal(nan[:, 1], grad[:, 1])


def test_grad_output_and_out(rng):
    lp, targets, il, tl = ctc_problem(rng, N=4)
    kw = dict(reduction="none")
    ones = fastnl.ctc_loss_backward(lp, targets, il, tl, **kw)
    # a scalar grad_output of 'none' stands for every element
    np.testing.assert_array_equal(fastnl.ctc_loss_backward(lp, targets, il, tl, **kw,
                                                           grad_output=np.ones(4)), ones)
    g = np.array([1.0, 0.0, -2.0, 0.5])
    scaled = fastnl.ctc_loss_backward(lp, targets, il, tl, **kw, grad_output=g)
    np.testing.assert_array_equal(scaled, ones * g[:, None])
    with pytest.raises(ValueError, match=r"grad_output has shape \(3,\).*\(4,\)"):
        fastnl.ctc_loss_backward(lp, targets, il, tl, **kw, grad_output=np.ones(3))
    with pytest.raises(ValueError, match="scalar"):
        fastnl.ctc_loss_backward(lp, targets, il, tl, grad_output=np.ones(4))
    out = np.full(lp.shape, np.nan)
    assert fastnl.ctc_loss_backward(lp, targets, il, tl, **kw, out=out) is out
    np.testing.assert_array_equal(out, ones)
    with pytest.raises(ValueError, match="shape"):
        fastnl.ctc_loss_backward(lp, targets, il, tl, out=np.empty((2, 2)))
    # 'sum' is 'none' with ones; 'mean' each sample over its target length and N
    total = fastnl.ctc_loss_backward(lp, targets, il, tl, reduction="sum")
    np.testing.assert_array_equal(total, ones)
    mean = fastnl.ctc_loss_backward(lp, targets, il, tl, reduction="mean")
    np.testing.assert_allclose(mean, ones / (4 * np.maximum(tl, 1))[:, None], rtol=1e-15)


# ---------------------------------------------------------------- layouts, dtypes, threads

def test_layouts_are_read_in_place_with_the_same_bits(rng):
    lp, targets, il, tl = ctc_problem(rng)
    want = fastnl.ctc_loss(lp, targets, il, tl, reduction="none")
    want_grad = fastnl.ctc_loss_backward(lp, targets, il, tl, reduction="none")
    wide = np.zeros((lp.shape[0], 2 * lp.shape[1], lp.shape[2] + 3))
    wide[:, ::2, 1:-2] = lp
    for view in (np.asfortranarray(lp), wide[:, ::2, 1:-2], lp[::-1].copy()[::-1],
                 np.ascontiguousarray(lp.transpose(1, 0, 2)).transpose(1, 0, 2),
                 lp.astype(lp.dtype.newbyteorder())):
        np.testing.assert_array_equal(fastnl.ctc_loss(view, targets, il, tl, reduction="none"),
                                      want)
        np.testing.assert_array_equal(
            fastnl.ctc_loss_backward(view, targets, il, tl, reduction="none"), want_grad)
    # targets and lengths of any integer layout
    np.testing.assert_array_equal(
        fastnl.ctc_loss(lp, np.asfortranarray(targets), il[::-1].copy()[::-1], tl,
                        reduction="none"), want)


def test_dtype_policy(rng):
    lp, targets, il, tl = ctc_problem(rng)
    half = fastnl.ctc_loss(lp.astype(np.float16), targets, il, tl)
    assert half.dtype == np.float16  # computed in float32, returned in float16
    assert half == np.float16(fastnl.ctc_loss(lp.astype(np.float16).astype(np.float32),
                                              targets, il, tl, zero_infinity=False))
    g = fastnl.ctc_loss_backward(lp.astype(np.float16), targets, il, tl)
    assert g.dtype == np.float16
    assert fastnl.ctc_loss(np.zeros((3, 2), int), [1], 3, 1).dtype == np.float64
    with pytest.raises(TypeError, match="complex"):
        fastnl.ctc_loss(lp.astype(complex), targets, il, tl)


def test_threads_same_bits(rng):
    # 16 samples of 100 steps and 2 x 20 + 1 states: above the kernel's grain
    lp, targets, il, tl = ctc_problem(rng, np.float32, T=100, N=16, C=12, S=20)
    il, tl = rng.integers(60, 101, 16), rng.integers(10, 21, 16)
    assert np.sum(il * (2 * tl + 1)) > _ctc.GRAIN_SIZE
    results = []
    for n in (1, 2, 2):
        with fastnl.num_threads(n):
            results.append((fastnl.ctc_loss(lp, targets, il, tl, reduction="none"),
                            fastnl.ctc_loss(lp, targets, il, tl),
                            fastnl.ctc_loss_backward(lp, targets, il, tl)))
    for a, b in zip(results[0], results[1]):
        assert a.tobytes() == b.tobytes()
    for a, b in zip(results[0], results[2]):
        assert a.tobytes() == b.tobytes()
    np.testing.assert_allclose(results[0][0], ref.ctc_loss(lp, targets, il, tl, reduction="none"),
                               rtol=_rtol(np.float32))


# ---------------------------------------------------------------- errors

def test_errors_name_the_offending_values(rng):
    lp, targets, il, tl = ctc_problem(rng, N=4)
    il, tl = il[:4], tl[:4]
    f = fastnl.ctc_loss
    with pytest.raises(ValueError, match=r"\(T, N, C\).*\(30,\)"):
        f(lp[:, 0, 0], targets, il, tl)
    with pytest.raises(ValueError, match=r"\(30, 4, 6, 1\)"):
        f(lp[..., None], targets, il, tl)
    with pytest.raises(ValueError, match="empty"):
        f(lp[:0], targets, np.zeros(4, int), tl)
    with pytest.raises(ValueError, match=r"blank must be a class index in \[0, 6\), got 6"):
        f(lp, targets, il, tl, blank=6)
    with pytest.raises(ValueError, match=r"got -1"):
        f(lp, targets, il, tl, blank=-1)
    with pytest.raises(ValueError, match=r"input_lengths\[1\] = 31 is longer than the input "
                                         r"\(T = 30"):
        f(lp, targets, [30, 31, 5, 5], tl)
    with pytest.raises(ValueError, match=r"input_lengths\[2\] = -1 is negative"):
        f(lp, targets, [30, 3, -1, 5], tl)
    with pytest.raises(ValueError, match=r"target_lengths\[0\] = -2 is negative"):
        f(lp, targets, il, [-2, 1, 1, 1])
    with pytest.raises(ValueError, match=r"input_lengths must have 4 entries.*\(3,\)"):
        f(lp, targets, il[:3], tl)
    with pytest.raises(ValueError, match=r"target_lengths must have 4 entries.*\(5,\)"):
        f(lp, targets, il, np.ones(5, int))
    with pytest.raises(TypeError, match="input_lengths must be integers, got dtype float64"):
        f(lp, targets, il.astype(float), tl)
    with pytest.raises(TypeError, match="target_lengths must be integers, got dtype bool"):
        f(lp, targets, il, tl > 0)
    with pytest.raises(TypeError, match="integer targets.*float64"):
        f(lp, targets.astype(float), il, tl)
    with pytest.raises(ValueError, match=r"one row per sample \(4\).*\(3, 8\)"):
        f(lp, targets[:3], il, tl)
    with pytest.raises(ValueError, match=r"target_lengths\[0\] = 9 is longer than the padded "
                                         r"targets' rows \(8 entries\)"):
        f(lp, targets, il, [9, 1, 1, 1])
    flat = _concatenated(targets, tl)
    with pytest.raises(ValueError, match=r"sum\(target_lengths\) = 16 entries, got 15"):
        f(lp, flat[:-1], il, tl)
    with pytest.raises(ValueError, match=r"padded \(N, S\) or concatenated.*\(4, 8, 1\)"):
        f(lp, targets[..., None], il, tl)
    bad = targets.copy()
    bad[1, 2] = 6
    with pytest.raises(IndexError, match=r"label 6 of sample 1 \(position 2\) is out of "
                                         r"bounds: expected a class index in \[0, 6\)"):
        f(lp, bad, il, tl)
    bad[1, 2] = -1
    with pytest.raises(IndexError, match=r"label -1 of sample 1 \(position 2\)"):
        f(lp, _concatenated(bad, tl), il, tl)
    with pytest.raises(ValueError, match="reduction"):
        f(lp, targets, il, tl, reduction="batchmean")
    for g in (fastnl.ctc_loss_backward,):  # the backward shares the checks
        with pytest.raises(IndexError, match="label 6"):
            bad[1, 2] = 6
            g(lp, bad, il, tl)
        with pytest.raises(ValueError, match="longer than the input"):
            g(lp, targets, [30, 31, 5, 5], tl)


def test_padding_beyond_the_lengths_is_not_read(rng, torch):
    lp, targets, il, tl = ctc_problem(rng, N=4)
    padded = targets.copy()
    for n in range(4):
        padded[n, tl[n]:] = [-1, 99, 2 ** 40, 7][n]  # anything, as torch
    want = fastnl.ctc_loss(lp, targets, il, tl, reduction="none")
    np.testing.assert_array_equal(fastnl.ctc_loss(lp, padded, il, tl, reduction="none"), want)
    np.testing.assert_allclose(_torch_ctc(torch, lp, padded, il, tl, reduction="none")[0], want,
                               rtol=1e-12)


# ---------------------------------------------------------------- nn.CTCLoss, Dask

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_module_as_torch(reduction, rng, torch):
    lp, targets, il, tl = ctc_problem(rng, N=4)
    module = fastnl.nn.CTCLoss(blank=0, reduction=reduction, zero_infinity=True)
    assert repr(module) == "CTCLoss()" == repr(torch.nn.CTCLoss())
    loss = module(lp, targets, il, tl)
    np.testing.assert_array_equal(loss, fastnl.ctc_loss(lp, targets, il, tl, reduction=reduction,
                                                        zero_infinity=True))
    lpt = torch.from_numpy(lp).requires_grad_()
    want = torch.nn.CTCLoss(blank=0, reduction=reduction, zero_infinity=True)(
        lpt, torch.from_numpy(targets), torch.from_numpy(il), torch.from_numpy(tl))
    want.backward(torch.ones_like(want))
    np.testing.assert_allclose(loss, want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(module.backward(), lpt.grad.numpy(), rtol=1e-12, atol=1e-12)
    with pytest.raises(RuntimeError, match="before forward"):
        fastnl.nn.CTCLoss().backward()


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_module_reuses_its_forward_with_the_functions_bits(zero_infinity, dtype, n_threads,
                                                           rng):
    # the module keeps the forward's alpha rows for its backward: the same
    # numbers as the functions, which run the recursion again; 24 samples of
    # up to 100 steps: above the threading grain
    lp, targets, il, tl = ctc_problem(rng, dtype, T=100, N=24, C=7, S=16)
    il[5:] = rng.integers(70, 101, 19)
    tl[5:] = rng.integers(5, 17, 19)
    assert np.sum(il * (2 * tl + 1)) > _ctc.GRAIN_SIZE
    for reduction in REDUCTIONS:
        kw = dict(reduction=reduction, zero_infinity=zero_infinity)
        module = fastnl.nn.CTCLoss(**kw)
        loss = module(lp, targets, il, tl)
        assert np.asarray(loss).tobytes() == np.asarray(
            fastnl.ctc_loss(lp, targets, il, tl, **kw)).tobytes()
        g = rng.standard_normal(24) if reduction == "none" else 0.25
        for grad_output in (None, g):
            want = fastnl.ctc_loss_backward(lp, targets, il, tl, **kw,
                                            grad_output=1.0 if grad_output is None else g)
            got = module.backward(grad_output)
            assert got.dtype == dtype and got.tobytes() == want.tobytes()


def test_module_with_dask_operands(rng):
    da = pytest.importorskip("dask.array")
    lp, targets, il, tl = ctc_problem(rng)
    module = fastnl.nn.CTCLoss(reduction="sum", zero_infinity=True)
    loss = module(da.from_array(lp, chunks=(10, 2, 6)), targets, il, tl)
    assert isinstance(loss, da.Array)
    assert loss.compute() == fastnl.ctc_loss(lp, targets, il, tl, reduction="sum",
                                             zero_infinity=True)
    np.testing.assert_array_equal(module.backward().compute(), fastnl.ctc_loss_backward(
        lp, targets, il, tl, reduction="sum", zero_infinity=True))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_dask_by_blocks_of_samples(reduction, rng):
    da = pytest.importorskip("dask.array")
    lp, targets, il, tl = ctc_problem(rng, N=7)
    kw = dict(reduction=reduction, zero_infinity=True)
    g = rng.standard_normal(7) if reduction == "none" else 0.5
    flat = _concatenated(targets, tl)
    for t in (targets, flat):  # padded: blocks of samples; concatenated: one block
        lazy = [da.from_array(lp, chunks=(10, 3, 4)), da.from_array(t, chunks=3),
                da.from_array(il, chunks=2), da.from_array(tl, chunks=4)]
        got = fastnl.ctc_loss(*lazy, **kw)
        assert isinstance(got, da.Array)
        # the in-memory reduction of the samples' losses: the same bits
        np.testing.assert_array_equal(got.compute(), fastnl.ctc_loss(lp, t, il, tl, **kw))
        grad = fastnl.ctc_loss_backward(*lazy, **kw, grad_output=g)
        assert isinstance(grad, da.Array) and grad.dtype == lp.dtype
        np.testing.assert_array_equal(
            grad.compute(), fastnl.ctc_loss_backward(lp, t, il, tl, **kw, grad_output=g))
    # unbatched
    one = fastnl.ctc_loss(da.from_array(lp[:, 0], chunks=7), targets[0], il[0], tl[0], **kw)
    assert one.shape == () and one.compute() == fastnl.ctc_loss(lp[:, 0], targets[0], il[0],
                                                                tl[0], **kw)
    grad = fastnl.ctc_loss_backward(da.from_array(lp[:, 0], chunks=7), targets[0], il[0], tl[0],
                                    **kw)
    np.testing.assert_array_equal(grad.compute(), fastnl.ctc_loss_backward(
        lp[:, 0], targets[0], il[0], tl[0], **kw))


def test_dask_checks_before_reading_and_in_the_blocks(rng):
    da = pytest.importorskip("dask.array")
    lp, targets, il, tl = ctc_problem(rng)
    x = da.from_array(lp, chunks=(10, 2, 6))
    with pytest.raises(ValueError, match="blank must be"):  # shapes: at once
        fastnl.ctc_loss(x, targets, il, tl, blank=6)
    with pytest.raises(TypeError, match="integer targets"):
        fastnl.ctc_loss(x, targets.astype(float), il, tl)
    with pytest.raises(ValueError, match=r"grad_output has shape \(4,\)"):
        fastnl.ctc_loss_backward(x, targets, il, tl, reduction="none", grad_output=np.ones(4))
    with pytest.raises(TypeError, match="out="):
        fastnl.ctc_loss_backward(x, targets, il, tl, out=np.empty(lp.shape))
    bad = targets.copy()
    bad[1, 0] = 9
    lazy = fastnl.ctc_loss(x, bad, il, tl)  # values: when computed
    with pytest.raises(IndexError, match="label 9"):
        lazy.compute()
