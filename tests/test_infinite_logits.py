"""Infinite logits: one semantics, softmax's limit, for the softmax family,
cross_entropy (class indices and probabilities, label smoothing, weights),
nll_loss, their gradients and the Dask path.

With k logits at +inf, softmax gives each 1/k and every other class 0
(log_softmax: -log k and -inf). A class loss is sum_c a_c (-log p_c) with
a_c = w_c q_c, and a term whose coefficient a_c is 0 contributes 0 even where
p_c = 0; the gradient is p A - a with A = sum_c a_c. A row holding a NaN, or
only -inf logits (softmax has no limit there), gives NaN."""

import numpy as np
import pytest

import fastnl

inf, nan = np.inf, np.nan
LOG2, LOG3 = np.log(2.0), np.log(3.0)


# ---------------------------------------------------------------- written-out values

# (logits, target, keywords, loss, gradient), worked out by hand from the
# rule above (reduction='sum', so no division by the weights).
CASES = [
    # the rough edge: softmax is [1, 0, 0], so -log p_0 = 0
    ([inf, 0, 0], 0, {}, 0.0, [0, 0, 0]),
    ([inf, 0, 0], 1, {}, inf, [1, -1, 0]),
    ([inf, 0, inf], 0, {}, LOG2, [-0.5, 0, 0.5]),
    ([inf, inf, inf], 2, {}, LOG3, [1 / 3, 1 / 3, -2 / 3]),
    ([0, -inf, 0], 0, {}, LOG2, [-0.5, 0, 0.5]),
    ([0, -inf, 0], 1, {}, inf, [0.5, -1, 0.5]),
    ([inf, -inf, 5], 0, {}, 0.0, [0, 0, 0]),
    # smoothing 0.3 over 3 classes: a = [0.8, 0.1, 0.1]; p_1 = p_2 = 0
    ([inf, 0, 0], 0, {"label_smoothing": 0.3}, inf, [0.2, -0.1, -0.1]),
    # ... unless their weights are 0: a = [0.8, 0, 0]
    ([inf, 0, 0], 0, {"label_smoothing": 0.3, "weight": [1.0, 0.0, 0.0]}, 0.0, [0, 0, 0]),
    # smoothing 1: a = [1/3, 0, 1/3] with weights [1, 0, 1]
    ([0, -inf, 0], 1, {"label_smoothing": 1.0, "weight": [1.0, 0.0, 1.0]}, 2 / 3 * LOG2,
     [0, 0, 0]),
    # a zero weight on the target: a = 0, no loss, no gradient
    ([inf, 0, 0], 1, {"weight": [1.0, 0.0, 1.0]}, 0.0, [0, 0, 0]),
    # class probabilities: a = q
    ([inf, 0, inf], [0.5, 0.0, 0.5], {}, LOG2, [0, 0, 0]),
    ([0, -inf, 0], [1.0, 0.0, 0.0], {}, LOG2, [-0.5, 0, 0.5]),
    ([inf, 0, 0], [0.0, 1.0, 0.0], {}, inf, [1, -1, 0]),
    ([inf, 0, 0], [0.0, 1.0, 0.0], {"weight": [1.0, 0.0, 1.0]}, 0.0, [0, 0, 0]),
    # no limit: NaN
    ([-inf, -inf, -inf], 0, {}, nan, [nan, nan, nan]),
    ([inf, nan, 0], 0, {}, nan, [nan, nan, nan]),
    ([-inf, -inf], [1.0, 0.0], {}, nan, [nan, nan]),
]
IDS = [f"{i}" for i in range(len(CASES))]


def _target(target):
    return np.array([target]) if np.ndim(target) == 0 else np.array([target], float)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("logits, target, kw, loss, grad", CASES, ids=IDS)
def test_cross_entropy_written_out(logits, target, kw, loss, grad, dtype):
    x, t = np.array([logits], dtype), _target(target)
    got = fastnl.cross_entropy(x, t, reduction="sum", **kw)
    got_grad = fastnl.cross_entropy_backward(x, t, reduction="sum", **kw)
    assert got.dtype == got_grad.dtype == dtype
    # exact where the answer is 0, inf or NaN; a few roundings of log k
    np.testing.assert_allclose(got, loss, rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(got_grad, [grad], rtol=4 * np.finfo(dtype).eps,
                               atol=4 * np.finfo(dtype).eps)


def test_the_rough_edge_and_the_mean():
    # was NaN (and a NaN gradient) while softmax took the limit
    assert fastnl.cross_entropy([[inf, 0.0, 0.0]], [0]) == 0.0
    np.testing.assert_array_equal(fastnl.softmax([inf, 0.0, 0.0]), [1, 0, 0])
    assert fastnl.nll_loss(fastnl.log_softmax(np.array([[inf, 0.0, 0.0]]), axis=1), [0]) == 0.0
    # one special row does not spoil the mean: (0 + log 3) / 2
    x = np.array([[inf, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(fastnl.cross_entropy(x, [0, 0]), LOG3 / 2, rtol=1e-15)
    np.testing.assert_allclose(fastnl.cross_entropy_backward(x, [0, 0]),
                               [[0, 0, 0], [-1 / 3, 1 / 6, 1 / 6]], rtol=1e-15)


def test_nll_loss_zero_weight_at_minus_inf():
    # log_softmax of [inf, 0, 0] is [0, -inf, -inf]: a zero weight on a -inf
    # log-probability contributes 0 (torch: -0 * -inf = NaN); NaN stays NaN
    logp = fastnl.log_softmax(np.array([[inf, 0.0, 0.0], [inf, 0.0, 0.0], [nan, 0, 0]]), axis=1)
    got = fastnl.nll_loss(logp, [1, 2, 1], weight=[1.0, 0.0, 1.0], reduction="none")
    np.testing.assert_array_equal(got, [0.0, inf, nan])


# ---------------------------------------------------------------- against softmax's limit

def _special_rows(rng, n, C, dtype):
    """Rows mixing finite, +inf and -inf logits (and a few all -inf or NaN)."""
    x = rng.standard_normal((n, C)) * 3
    kind = rng.integers(0, 4, (n, C))
    x[kind == 1] = inf
    x[(kind == 2) & (rng.random((n, C)) < 0.5)] = -inf
    x[::17] = -inf
    x[5::23, 1] = nan
    return x.astype(dtype)


def _limit_loss_and_grad(x, a):
    """sum_c a_c (-log p_c) with 0 * inf = 0, and p A - a, from fastnl's
    softmax and log_softmax (which take the limit; tested in test_softmax)."""
    x64 = x.astype(np.float64)
    logp = fastnl.log_softmax(x64, axis=1)
    p = fastnl.softmax(x64, axis=1)
    with np.errstate(invalid="ignore"):
        terms = np.where((a == 0) & ~np.isnan(logp), 0.0, -a * logp)  # 0 * NaN stays NaN
    loss = terms.sum(axis=1)
    grad = p * a.sum(axis=1, keepdims=True) - a
    return loss, grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2, 1.0])
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("probabilities", [False, True])
def test_cross_entropy_is_the_limit_of_softmax(dtype, label_smoothing, with_weight,
                                               probabilities, rng):
    n, C = 200, 6
    x = _special_rows(rng, n, C, dtype)
    w = np.where(rng.random(C) < 0.3, 0.0, rng.uniform(0.5, 2, C)) if with_weight else None
    if probabilities:
        t = rng.dirichlet(np.ones(C), n) * (rng.random((n, C)) < 0.5)
        t = (t / np.maximum(t.sum(1, keepdims=True), 1e-300)).astype(dtype)
        q = (1 - label_smoothing) * t.astype(np.float64) + label_smoothing / C
    else:
        t = rng.integers(0, C, n)
        q = (1 - label_smoothing) * np.eye(C)[t] + label_smoothing / C
    a = q * (1.0 if w is None else w)
    loss, grad = _limit_loss_and_grad(x, a)
    kw = dict(weight=w, label_smoothing=label_smoothing, reduction="none")
    got = fastnl.cross_entropy(x, t, **kw)
    got_grad = fastnl.cross_entropy_backward(x, t, grad_output=np.ones(n), **kw)
    # the same NaN and inf positions; finite values to the float32 rounding
    # of the logits' terms (64 eps relative, as the other class-loss tests)
    tol = 64 * np.finfo(dtype).eps
    np.testing.assert_allclose(got, loss, rtol=tol, atol=tol)
    np.testing.assert_allclose(got_grad, grad, rtol=tol, atol=tol)
    if not probabilities and label_smoothing == 0:
        nll = fastnl.nll_loss(fastnl.log_softmax(x, axis=1), t, weight=w, reduction="none")
        np.testing.assert_allclose(got, nll, rtol=tol, atol=tol)
        assert np.array_equal(np.isinf(got), np.isinf(nll))


def test_softmax_family_limits():
    x = np.array([[inf, 0, inf], [0, -inf, 1], [-inf, -inf, -inf]])
    np.testing.assert_array_equal(fastnl.softmax(x, axis=1)[0], [0.5, 0, 0.5])
    np.testing.assert_array_equal(fastnl.log_softmax(x, axis=1)[0], [-LOG2, -inf, -LOG2])
    assert fastnl.softmax(x, axis=1)[1, 1] == 0 and fastnl.log_softmax(x, axis=1)[1, 1] == -inf
    assert np.isnan(fastnl.softmax(x, axis=1)[2]).all()  # no limit
    # softmin's largest logit is the most negative: -inf there
    np.testing.assert_array_equal(fastnl.softmin([-inf, 0, -inf]), [0.5, 0, 0.5])
    # the backward from the limit's output is finite
    y = fastnl.softmax(x[:1], axis=1)
    np.testing.assert_array_equal(fastnl.softmax_backward(np.array([[1.0, 2, 3]]), y, axis=1),
                                  [[-0.5, 0, 0.5]])  # y (g - sum g y), sum g y = 2
    ly = fastnl.log_softmax(x[:1], axis=1)
    np.testing.assert_array_equal(fastnl.log_softmax_backward(np.ones((1, 3)), ly, axis=1),
                                  [[-0.5, 1, -0.5]])


# ---------------------------------------------------------------- threads and Dask

@pytest.mark.parametrize("name, probabilities", [("cross_entropy", False),
                                                  ("cross_entropy", True), ("nll_loss", False)])
def test_special_rows_same_bits_on_1_and_2_threads(name, probabilities, rng):
    n, C = 40000, 4  # above every class kernel's grain (rows for nll_loss)
    x = _special_rows(rng, n, C, np.float32)
    t = (rng.dirichlet(np.ones(C), n).astype(np.float32) if probabilities
         else rng.integers(0, C, n))
    kw = {"weight": np.array([1.0, 0.0, 2.0, 0.5]), "reduction": "none"}
    if name == "cross_entropy":
        kw["label_smoothing"] = 0.1
    f, b = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
    results = []
    for threads in (1, 2):
        with fastnl.num_threads(threads):
            results.append((f(x, t, **kw).tobytes(), b(x, t, grad_output=np.ones(n), **kw).tobytes()))
    assert results[0] == results[1]


@pytest.mark.parametrize("name, kw", [
    ("cross_entropy", {}), ("cross_entropy", {"label_smoothing": 0.2}),
    ("cross_entropy", {"label_smoothing": 1.0, "weight": [1.0, 0.0, 2.0, 0.5]}),
    ("cross_entropy", {"label_smoothing": 0.2, "weight": [1.0, 0.0, 2.0, 0.5]}),
    ("cross_entropy_prob", {"label_smoothing": 0.3, "weight": [1.0, 0.0, 2.0, 0.5]}),
    ("nll_loss", {"weight": [1.0, 0.0, 2.0, 0.5]}),
])
@pytest.mark.parametrize("reduction", ["none", "sum"])
@pytest.mark.parametrize("chunks", [(8, 4), (3, 2), (5, 1)], ids=["whole", "split", "columns"])
def test_dask_as_in_memory(name, kw, reduction, chunks, rng):
    """Blockwise (the class axis in one chunk) and from the rows' merged
    statistics (a split class axis): the in-memory numbers, the same NaN and
    inf, finite values to float64 summation order (1e-12)."""
    da = pytest.importorskip("dask.array")
    x = np.array([[inf, 0, 0, 1], [inf, 0, inf, -inf], [0, -inf, 0, 2], [1, 2, 3, 4],
                  [-inf, -inf, -inf, -inf], [inf, nan, 0, 0], [inf, inf, inf, inf],
                  [0, 0, -inf, -inf]])
    if name == "cross_entropy_prob":
        name = "cross_entropy"
        t = rng.dirichlet(np.ones(4), 8)
        t[:, 1] = 0
        t /= t.sum(1, keepdims=True)
        t_chunks = chunks
    else:
        t = np.array([0, 1, 1, 2, 0, 0, 3, 2])
        t_chunks = chunks[:1]
    if name == "nll_loss":
        x = fastnl.log_softmax(x, axis=1)
    g = np.ones(8) if reduction == "none" else 1.0
    f, b = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
    expected = f(x, t, reduction=reduction, **kw)
    expected_grad = b(x, t, reduction=reduction, grad_output=g, **kw)
    dx, dt = da.from_array(x, chunks=chunks), da.from_array(t, chunks=t_chunks)
    dg = da.from_array(g, chunks=chunks[0]) if reduction == "none" else g
    np.testing.assert_allclose(f(dx, dt, reduction=reduction, **kw).compute(), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(b(dx, dt, reduction=reduction, grad_output=dg, **kw).compute(),
                               expected_grad, rtol=1e-12)
