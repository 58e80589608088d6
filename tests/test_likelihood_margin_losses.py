"""poisson_nll_loss, gaussian_nll_loss, soft_margin_loss, margin_ranking_loss and
hinge_embedding_loss, forward and backward: against the float64 reference
(fastnl/_reference.py), its central finite differences, torch and torch's
autograd, and the contract (errors, edges, threads, bfloat16, Dask, modules)."""

import re
import warnings

import numpy as np
import pytest

import fastnl
from fastnl import _reference as ref
from fastnl._kernels import _losses
from test_gradients_axis_losses import _assert_gradient

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]
SHAPES = [(), (7,), (3, 4, 5)]


# ---------------------------------------------------------------- problems
#
# Each sampler gives the positional operands in float64, kept away from the
# kinks (max(z, 0) at z = 0, var at eps) by more than the finite-difference
# step, so that torch's and the reference's branches are the same.

def _away(rng, shape, low=0.05, high=2.0):
    """Values of magnitude in [low, high] with random signs."""
    return rng.uniform(low, high, shape) * rng.choice([-1, 1], shape)


def _poisson_log(rng, shape, var_kind=None):
    return [rng.standard_normal(shape), rng.integers(0, 7, shape).astype(float)]


def _poisson_rate(rng, shape, var_kind=None):
    return [rng.uniform(0.5, 3, shape), rng.integers(0, 7, shape).astype(float)]


def _var_shape(shape, var_kind):
    if var_kind == "rows" and len(shape):
        return shape[:-1]          # one variance per row: torch adds the last axis
    if var_kind == "ones" and len(shape):
        return shape[:-1] + (1,)   # homoscedastic along the last axis
    if var_kind == "scalar":
        return ()
    return shape


def _gaussian(rng, shape, var_kind="same"):
    var = rng.uniform(0.5, 2, _var_shape(shape, var_kind))
    return [rng.standard_normal(shape), rng.standard_normal(shape),
            float(var) if var_kind == "scalar" else var]


def _soft_margin(rng, shape, var_kind=None):
    return [rng.standard_normal(shape) * 3, rng.choice([-1.0, 1.0], shape)]


def _margin_ranking(rng, shape, var_kind=None):
    # u = -y (x1 - x2) away from 0 and from -0.5: z = u + margin away from 0
    # for the margins below (0 and 0.5)
    x2 = rng.standard_normal(shape)
    y = rng.choice([-1.0, 1.0], shape)
    u = _away(rng, shape, 0.1)
    u = np.where(np.abs(u + 0.5) < 0.1, u - 0.2, u)
    return [x2 - y * u, x2, y]


def _hinge(rng, shape, var_kind=None):
    # margin - x away from 0 for the margins below (1.0 and 0.3), by more
    # than a bfloat16 rounding of x too
    x = rng.uniform(-1, 3, shape)
    for margin in (1.0, 0.3):
        x = np.where(np.abs(x - margin) < 0.05, margin + 0.1, x)
    return [x, rng.choice([-1.0, 1.0], shape)]


def _multilabel(rng, shape, weighted=None):
    # logits, 0/1 labels and, if weighted, one weight per class
    ops = [rng.standard_normal(shape) * 3, (rng.random(shape) < 0.5).astype(float)]
    return ops + [rng.uniform(0.5, 2, shape[-1:])] if weighted else ops


def _cosine(rng, shape, var_kind=None):
    # (N, D) embeddings (the shape's leading axes as rows: the loss takes 1-d
    # or 2-d inputs), +-1 targets
    if len(shape) > 2:
        shape = (int(np.prod(shape[:-1])), shape[-1])
    return [rng.standard_normal(shape), rng.standard_normal(shape),
            rng.choice([-1.0, 1.0], shape[:-1])]


def _triplet(rng, shape, var_kind=None):
    # anchor, positive, negative embeddings, (N, D) as _cosine's
    if len(shape) > 2:
        shape = (int(np.prod(shape[:-1])), shape[-1])
    return [rng.standard_normal(shape) for _ in range(3)]


# (name, parameters, sampler, the sampler's option); the differentiable
# operands of each (the positional ones, in order)
WRT = {"poisson_nll_loss": (0,), "gaussian_nll_loss": (0, 2), "soft_margin_loss": (0,),
       "margin_ranking_loss": (0, 1), "hinge_embedding_loss": (0,),
       "multilabel_soft_margin_loss": (0,), "cosine_embedding_loss": (0, 1),
       "triplet_margin_loss": (0, 1, 2)}
# losses over the last axis: no 0-d input
ROWWISE = {"multilabel_soft_margin_loss", "cosine_embedding_loss", "triplet_margin_loss"}
CASES = [
    ("poisson_nll_loss", {}, _poisson_log, None),
    ("poisson_nll_loss", {"full": True}, _poisson_log, None),
    ("poisson_nll_loss", {"log_input": False}, _poisson_rate, None),
    ("poisson_nll_loss", {"log_input": False, "full": True, "eps": 1e-3}, _poisson_rate, None),
    ("gaussian_nll_loss", {}, _gaussian, "same"),
    ("gaussian_nll_loss", {"full": True}, _gaussian, "rows"),
    ("gaussian_nll_loss", {}, _gaussian, "ones"),
    ("gaussian_nll_loss", {"eps": 1e-2}, _gaussian, "scalar"),
    ("soft_margin_loss", {}, _soft_margin, None),
    ("margin_ranking_loss", {}, _margin_ranking, None),
    ("margin_ranking_loss", {"margin": 0.5}, _margin_ranking, None),
    ("hinge_embedding_loss", {}, _hinge, None),
    ("hinge_embedding_loss", {"margin": 0.3}, _hinge, None),
    ("multilabel_soft_margin_loss", {}, _multilabel, False),
    ("multilabel_soft_margin_loss", {}, _multilabel, True),
    ("cosine_embedding_loss", {}, _cosine, None),
    ("cosine_embedding_loss", {"margin": 0.3}, _cosine, None),
    ("triplet_margin_loss", {}, _triplet, None),
    ("triplet_margin_loss", {"p": 1, "margin": 0.5}, _triplet, None),
    ("triplet_margin_loss", {"swap": True}, _triplet, None),
    ("triplet_margin_loss", {"p": 3.0, "eps": 1e-3, "swap": True, "margin": 2.0}, _triplet,
     None),
]
CASE_IDS = [f"{n}-{i}" for i, (n, *_) in enumerate(CASES)]
CASE_SHAPES = [pytest.param(case, shape, id=f"{case_id}-{shape}")
               for case, case_id in zip(CASES, CASE_IDS) for shape in SHAPES
               if shape or case[0] not in ROWWISE]


def _operands(case, rng, shape, dtype=np.float64):
    name, params, sample, var_kind = case
    ops = sample(rng, shape, var_kind)
    return [a if type(a) is float else np.asarray(a).astype(dtype) for a in ops]


def _grads(result):
    return result if isinstance(result, tuple) else (result,)


def _rtol(dtype):
    # as tests/test_losses.py: per-element losses in the data's precision (a
    # few roundings, and the conditioning of x - y), sums in float64
    return 64 * np.finfo(dtype).eps if dtype == np.float32 else 1e-12


def _check(got, expected, dtype, reduction):
    got = np.asarray(got)
    assert got.dtype == dtype
    if reduction != "none":
        assert got.ndim == 0
    tol = _rtol(dtype)
    np.testing.assert_allclose(got.astype(np.float64), expected, rtol=tol, atol=tol)


# ---------------------------------------------------------------- forward

@pytest.mark.parametrize("case, shape", CASE_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_reference(case, dtype, shape, rng):
    name, params = case[:2]
    ops = _operands(case, rng, shape, dtype)
    before = [np.copy(a) for a in ops]
    for reduction in REDUCTIONS:
        got = getattr(fastnl, name)(*ops, **params, reduction=reduction)
        _check(got, getattr(ref, name)(*ops, **params, reduction=reduction), dtype, reduction)
    for a, b in zip(ops, before):
        np.testing.assert_array_equal(a, b)  # the operands are not touched


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_torch(case, dtype, rng, torch):
    name, params = case[:2]
    ops = _operands(case, rng, (4, 6), dtype)
    tops = [a if type(a) is float else torch.from_numpy(a) for a in ops]
    for reduction in REDUCTIONS:
        got = getattr(fastnl, name)(*ops, **params, reduction=reduction)
        expected = getattr(torch.nn.functional, name)(*tops, **params, reduction=reduction)
        _check(got, expected.numpy(), dtype, reduction)


# ---------------------------------------------------------------- backward

def _upstream(rng, loss_shape, reduction):
    if reduction == "none":
        return rng.standard_normal(loss_shape)
    return 1.7  # not 1, so that a dropped grad_output shows


@pytest.mark.parametrize("case, shape", CASE_SHAPES)
def test_backward_against_finite_differences(case, shape, rng):
    """float64, L = sum(g * loss) of the reference, h = 1e-6, every partial
    derivative of every differentiable operand. Away from the kinks the
    quotient is off by eps |L| / h + h^2 |L'''| ~ 1e-9 (exp(x) < 50 and
    1 / var < 2 here); tolerance 1e-7 absolute, far below a scale or sign
    error."""
    name, params = case[:2]
    f = getattr(ref, name)
    for reduction in REDUCTIONS:
        ops = _operands(case, rng, shape)
        loss_shape = np.shape(f(*ops, **params, reduction="none"))
        g = _upstream(rng, loss_shape, reduction)
        got = _grads(getattr(fastnl, f"{name}_backward")(*ops, **params, reduction=reduction,
                                                         grad_output=g))
        assert len(got) == len(WRT[name])
        for k, grad in zip(WRT[name], got):
            assert np.shape(grad) == np.shape(ops[k])

            def objective(z, k=k):
                args = list(ops)
                args[k] = z
                return np.sum(g * f(*args, **params, reduction=reduction))
            _assert_gradient(grad, objective, np.asarray(ops[k], np.float64), rng, 1e-7)


@pytest.mark.parametrize("case, shape", CASE_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_against_torch(case, dtype, shape, rng, torch):
    """torch's autograd evaluates the same per-element formula in the same
    dtype, a few roundings apart (the mean's 1/n, exp(x) - y against its
    two products): 8 eps relative to the element's size, as for the other
    pointwise losses."""
    name, params = case[:2]
    for reduction in REDUCTIONS:
        ops = _operands(case, rng, shape, dtype)
        tops = [a if type(a) is float else torch.tensor(a, requires_grad=k in WRT[name])
                for k, a in enumerate(ops)]
        loss = getattr(torch.nn.functional, name)(*tops, **params, reduction=reduction)
        g = np.asarray(_upstream(rng, tuple(loss.shape), reduction), dtype)
        loss.backward(torch.from_numpy(g))
        got = _grads(getattr(fastnl, f"{name}_backward")(*ops, **params, reduction=reduction,
                                                         grad_output=g))
        eps = np.finfo(dtype).eps
        elements = np.size(getattr(ref, name)(*ops, **params, reduction="none"))
        for k, grad in zip(WRT[name], got):
            if type(ops[k]) is float:  # torch does not differentiate a float var
                assert np.ndim(grad) == 0
                continue
            expected = tops[k].grad.numpy()
            assert np.asarray(grad).dtype == dtype and np.shape(grad) == np.shape(ops[k])
            # a broadcast var sums its elements' gradients: n roundings more
            n = max(1, elements // max(np.size(grad), 1))
            np.testing.assert_allclose(grad, expected, rtol=8 * n * eps, atol=8 * n * eps * np.max(
                np.abs(expected), initial=0))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_scalar_upstream_of_none_broadcasts(case, dtype, rng):
    """reduction='none' with a scalar grad_output (the default 1.0 too) is
    the gradient of an array full of it: the same bits."""
    name, params = case[:2]
    ops = _operands(case, rng, (3, 4, 5), dtype)
    backward = getattr(fastnl, f"{name}_backward")
    loss_shape = np.shape(getattr(fastnl, name)(*ops, **params, reduction="none"))
    for g in (1.0, 0.1, -3):
        full = backward(*ops, **params, reduction="none", grad_output=np.full(loss_shape, g))
        for a, b in zip(_grads(backward(*ops, **params, reduction="none", grad_output=g)),
                        _grads(full)):
            assert np.asarray(a).dtype == np.asarray(b).dtype == dtype
            np.testing.assert_array_equal(a, b)
    for a, b in zip(_grads(backward(*ops, **params, reduction="none")),
                    _grads(backward(*ops, **params, reduction="none", grad_output=1.0))):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="or grad_output a scalar"):
        backward(*ops, **params, reduction="none", grad_output=np.ones((2,) + loss_shape))
    with pytest.raises(ValueError, match=r"scalar, got shape"):
        backward(*ops, **params, reduction="mean", grad_output=np.ones(loss_shape))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_threads_same_bits(case, rng):
    """70000 elements, above the loss kernels' threading grain: the block
    sums are added in a fixed order, so 1 and 2 threads give the same bits."""
    name, params = case[:2]
    ops = _operands(case, rng, (10000, 7), np.float32)
    assert ops[0].size > _losses.GRAIN_SIZE
    f, b = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
    results = []
    for n in (1, 2, 2):
        with fastnl.num_threads(n):
            results.append([f(*ops, **params), f(*ops, **params, reduction="sum"),
                            *_grads(b(*ops, **params))])
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            assert np.asarray(a).tobytes() == np.asarray(b_).tobytes()
    # float32 per element, float64 sums of 70000 terms: 1e-5 relative
    np.testing.assert_allclose(results[0][0], getattr(ref, name)(*ops, **params), rtol=1e-5)


# ---------------------------------------------------------------- torch's edges

def _torch_both(torch, name, ops, params, reduction="none"):
    """torch's loss and the gradients of its differentiable operands (float64)."""
    tops = [torch.tensor(np.asarray(a, np.float64), requires_grad=k in WRT[name])
            for k, a in enumerate(ops)]
    loss = getattr(torch.nn.functional, name)(*tops, **params, reduction=reduction)
    loss.sum().backward()
    return loss.detach().numpy(), [t.grad.numpy() if t.requires_grad else None for t in tops]


def test_poisson_stirling_term_where_target_above_one(torch):
    """full=True adds y log y - y + log(2 pi y) / 2 only where y > 1 (torch's
    masked_fill of y <= 1): y = 0, 0.5 and 1 get none, 1 + 1e-9 gets it."""
    x = np.array([0.3, 0.3, 0.3, 0.3, 0.3, -1.0])
    y = np.array([0.0, 0.5, 1.0, 1.0 + 1e-9, 2.0, 40.0])
    for log_input in (True, False):
        got = fastnl.poisson_nll_loss(x if log_input else np.abs(x), y, log_input=log_input,
                                      full=True, reduction="none")
        plain = fastnl.poisson_nll_loss(x if log_input else np.abs(x), y, log_input=log_input,
                                        reduction="none")
        expected, _ = _torch_both(torch, "poisson_nll_loss", [x if log_input else np.abs(x), y],
                                  {"log_input": log_input, "full": True})
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-15)
        np.testing.assert_array_equal(got[:3], plain[:3])
        assert np.all(got[3:] != plain[3:])
        # the gradient does not depend on full
        np.testing.assert_array_equal(
            fastnl.poisson_nll_loss_backward(np.abs(x), y, log_input=log_input, full=True),
            fastnl.poisson_nll_loss_backward(np.abs(x), y, log_input=log_input))


def test_poisson_rate_eps_and_broadcast(torch):
    # log_input=False at x = 0: log(eps), finite; the target broadcasts silently
    x, y = np.array([[0.0, 1.0, 2.0]]), np.array([[1.0], [3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = fastnl.poisson_nll_loss(x, y, log_input=False, eps=1e-4, reduction="none")
    expected, grads = _torch_both(torch, "poisson_nll_loss", [x, y],
                                  {"log_input": False, "eps": 1e-4})
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    # summed back over the target's axis: 1 - y / (x + eps) cancels at x = 2, so
    # a few eps of the largest term, absolute
    np.testing.assert_allclose(
        fastnl.poisson_nll_loss_backward(x, y, log_input=False, eps=1e-4, reduction="none",
                                         grad_output=np.ones((2, 3))),
        grads[0], rtol=0, atol=1e-15 * np.max(np.abs(grads[0])))


@pytest.mark.parametrize("x_shape, var_shape", [
    ((3, 4), (3, 4)), ((3, 4), (3,)), ((3, 4), (3, 1)), ((3, 4), (1, 4)), ((4,), ()),
    ((2, 3, 4), (2, 1, 4)), ((2, 3, 4), (2, 3)), ((), ()),
])
def test_gaussian_var_shapes_as_torch(x_shape, var_shape, rng, torch):
    """Every var shape torch accepts, with the gradient of a broadcast var
    summed over the elements that share it (float64: sums of a few terms)."""
    x, y = rng.standard_normal(x_shape), rng.standard_normal(x_shape)
    var = rng.uniform(0.5, 2, var_shape)
    for reduction in REDUCTIONS:
        expected, grads = _torch_both(torch, "gaussian_nll_loss", [x, y, var], {},
                                      reduction)
        np.testing.assert_allclose(fastnl.gaussian_nll_loss(x, y, var, reduction=reduction),
                                   expected, rtol=1e-13)
        gx, gv = fastnl.gaussian_nll_loss_backward(x, y, var, reduction=reduction)
        assert np.shape(gv) == var_shape
        np.testing.assert_allclose(gx, grads[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(gv, grads[2], rtol=1e-13, atol=1e-15)


def test_gaussian_eps_clamp_and_float_var(torch):
    """var below eps is eps, in the loss and in both gradients, which torch
    takes at the clamped value (its clamp is not recorded); var = 0 is
    allowed; a float var stands for every element, as in torch."""
    x, y = np.array([1.0, 2.0, 0.5, 1.0]), np.array([0.0, 0.0, 0.5, 3.0])
    var = np.array([0.0, 1e-9, 1e-3, 0.5])
    for params in ({}, {"eps": 1e-2}, {"full": True}):
        expected, grads = _torch_both(torch, "gaussian_nll_loss", [x, y, var], params)
        np.testing.assert_allclose(fastnl.gaussian_nll_loss(x, y, var, **params,
                                                            reduction="none"),
                                   expected, rtol=1e-14)
        gx, gv = fastnl.gaussian_nll_loss_backward(x, y, var, **params, reduction="none")
        np.testing.assert_allclose(gx, grads[0], rtol=1e-14)
        np.testing.assert_allclose(gv, grads[2], rtol=1e-14)
    t = torch.nn.functional.gaussian_nll_loss(torch.from_numpy(x), torch.from_numpy(y), 0.25,
                                              reduction="sum")
    np.testing.assert_allclose(fastnl.gaussian_nll_loss(x, y, 0.25, reduction="sum"),
                               t.numpy(), rtol=1e-14)
    gx, gv = fastnl.gaussian_nll_loss_backward(x, y, 0.25, reduction="sum")
    np.testing.assert_allclose(gv, np.sum(0.5 * (1 / 0.25 - (x - y) ** 2 / 0.25 ** 2)),
                               rtol=1e-14)
    assert np.ndim(gv) == 0 and isinstance(gv, np.float64)


def test_soft_margin_beyond_torch_overflow(torch):
    """Where exp(-y x) overflows torch's loss is inf and its gradient NaN;
    fastnl's are -y x and -y (the limits). Elsewhere the two agree."""
    x = np.array([-200.0, 200.0, 50.0, 0.0], np.float32)
    y = np.array([1.0, -1.0, 1.0, -1.0], np.float32)
    got = fastnl.soft_margin_loss(x, y, reduction="none")
    # float32: a few roundings of exp and log1p
    np.testing.assert_allclose(got, [200.0, 200.0, np.exp(-50.0), np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(fastnl.soft_margin_loss_backward(x, y, reduction="sum"),
                               [-1.0, 1.0, -np.exp(-50.0), 0.5], rtol=1e-6)
    expected = torch.nn.functional.soft_margin_loss(torch.from_numpy(x), torch.from_numpy(y),
                                                    reduction="none").numpy()
    assert np.isinf(expected[0])  # torch's overflow, which fastnl does not have
    np.testing.assert_allclose(got[2:], expected[2:], rtol=1e-6)


def test_kinks_are_torchs_subgradients(torch):
    """At max(z, 0)'s kink z = 0 the sub-gradient is torch's (that of the
    linear side), exactly."""
    x1 = np.array([1.0, 0.0, 2.0, 0.5, -0.5])
    x2 = np.array([1.0, 0.0, 0.0, 0.0, 0.0])
    y = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
    for margin in (0.0, 0.5):
        _, grads = _torch_both(torch, "margin_ranking_loss", [x1, x2, y], {"margin": margin})
        got = fastnl.margin_ranking_loss_backward(x1, x2, y, margin=margin, reduction="none")
        np.testing.assert_array_equal(got[0], grads[0])
        np.testing.assert_array_equal(got[1], grads[1])
    x = np.array([1.0, 0.5, 2.0, -1.0, 0.3, 0.3])
    t = np.array([-1.0, -1.0, -1.0, 1.0, 0.0, 0.5])  # other targets take both terms
    for margin in (1.0, 0.5, 0.3):
        expected, grads = _torch_both(torch, "hinge_embedding_loss", [x, t], {"margin": margin})
        np.testing.assert_array_equal(fastnl.hinge_embedding_loss(x, t, margin,
                                                                   reduction="none"), expected)
        np.testing.assert_array_equal(
            fastnl.hinge_embedding_loss_backward(x, t, margin, reduction="none"), grads[0])


def test_margin_ranking_broadcasts_every_operand(rng, torch):
    """torch requires the same number of dimensions and then broadcasts all
    three, the target too; each gradient is summed back to its operand."""
    x1, x2, y = rng.standard_normal((3, 1)), rng.standard_normal((1, 4)), \
        rng.choice([-1.0, 1.0], (3, 4))
    for reduction in REDUCTIONS:
        expected, grads = _torch_both(torch, "margin_ranking_loss", [x1, x2, y],
                                      {"margin": 0.1}, reduction)
        got = fastnl.margin_ranking_loss(x1, x2, y, 0.1, reduction)
        np.testing.assert_allclose(got, expected, rtol=1e-14)
        g1, g2 = fastnl.margin_ranking_loss_backward(x1, x2, y, 0.1, reduction)
        assert g1.shape == (3, 1) and g2.shape == (1, 4)
        np.testing.assert_allclose(g1, grads[0], rtol=1e-14)
        np.testing.assert_allclose(g2, grads[1], rtol=1e-14)


def test_nan_propagates():
    """NaN in gives NaN out, in the loss and the gradient (torch's clamp
    backward turns a NaN into 0 for the hinges; fastnl keeps it)."""
    nan = np.nan
    for name, ops in [("poisson_nll_loss", [[nan], [1.0]]), ("soft_margin_loss", [[nan], [1.0]]),
                      ("hinge_embedding_loss", [[nan], [-1.0]]),
                      ("gaussian_nll_loss", [[nan], [1.0], [1.0]]),
                      ("margin_ranking_loss", [[nan], [1.0], [1.0]])]:
        assert np.isnan(getattr(fastnl, name)(*ops))
        for grad in _grads(getattr(fastnl, f"{name}_backward")(*ops)):
            assert np.all(np.isnan(grad)), name


def test_multilabel_soft_margin_rows_and_stability(torch):
    """One loss per row of the last axis (a 1-d input is one row, a 0-d
    result); logits of +-1e4 give the exact 0 and 1e4 / C, as torch."""
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 2.0]])
    y = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    expected, grads = _torch_both(torch, "multilabel_soft_margin_loss", [x, y], {})
    got = fastnl.multilabel_soft_margin_loss(x, y, reduction="none")
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    np.testing.assert_allclose(got[1], (2e4 + np.logaddexp(0, 2.0)) / 3, rtol=1e-14)
    np.testing.assert_allclose(
        fastnl.multilabel_soft_margin_loss_backward(x, y, reduction="none"), grads[0],
        rtol=1e-14)
    one = fastnl.multilabel_soft_margin_loss(x[0], y[0], reduction="none")
    assert isinstance(one, np.float64) and one == got[0]
    with pytest.raises(ValueError, match="0-d"):
        fastnl.multilabel_soft_margin_loss(1.0, 1.0)
    with pytest.raises(ValueError, match=r"weight of shape \(2,\)"):
        fastnl.multilabel_soft_margin_loss(x, y, weight=np.ones(2))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2,\)"):
        fastnl.multilabel_soft_margin_loss_backward(x, y, reduction="none",
                                                    grad_output=np.ones((2, 3)))


def test_cosine_embedding_edges(torch):
    """torch's eps (1e-12 on both squared norms) makes a zero vector's cosine
    0, not NaN; targets other than +-1 give 0; the kink cos = margin passes
    the gradient (torch's); a 1-d pair with a 0-d target is one row."""
    x1 = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [3.0, 4.0]])
    x2 = np.array([[1.0, 2.0], [1.0, 1.0], [2.0, 0.0], [4.0, 3.0]])
    y = np.array([1.0, 0.5, -1.0, -1.0])
    for m in (0.0, 1.0, 24 / 25):  # 24 / 25: the last row's cosine, up to rounding
        expected, grads = _torch_both(torch, "cosine_embedding_loss", [x1, x2, y],
                                      {"margin": m})
        np.testing.assert_allclose(fastnl.cosine_embedding_loss(x1, x2, y, m, "none"),
                                   expected, rtol=1e-14, atol=1e-15)
        got = fastnl.cosine_embedding_loss_backward(x1, x2, y, m, "none")
        np.testing.assert_allclose(got[0], grads[0], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got[1], grads[1], rtol=1e-12, atol=1e-15)
    assert fastnl.cosine_embedding_loss(x1, x2, y, reduction="none")[1] == 0
    one = fastnl.cosine_embedding_loss(x1[3], x2[3], 1.0, reduction="none")
    assert np.ndim(one) == 0 and one == fastnl.cosine_embedding_loss(x1[3:], x2[3:], [1.0])
    for bad, match in [((x1, x2, np.ones((4, 1))), r"0-d or 1-d target.*\(4, 1\)"),
                       ((x1, x2, 1.0), r"0-d target expects 1-d inputs.*\(4, 2\)"),
                       ((x1[0], x2[0], y), r"1-d target expects 2-d inputs.*\(2,\)"),
                       ((x1, x2[:3], y), r"\(4, 2\).*\(3, 2\)"),
                       ((x1, x2, y[:3]), r"target of shape \(3,\) does not match the 4 rows")]:
        with pytest.raises(ValueError, match=match):
            fastnl.cosine_embedding_loss(*bad)
        with pytest.raises(ValueError, match=match):
            fastnl.cosine_embedding_loss_backward(*bad)


def test_triplet_margin_edges(torch):
    """torch's swap (the smaller of d(a, n) and d(p, n), each half the
    gradient at a tie), its kink, its zero distance (gradient 0) and its
    checks (margin > 0, the same number of dimensions)."""
    a = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    pos = np.array([[2.0, 0.0], [3.0, 4.0], [1.0, 1.0], [1.0, 0.0]])
    neg = np.array([[1.0, 1.0], [6.0, 8.0], [3.0, 1.0], [0.0, 3.0]])
    for params in ({"swap": True, "margin": 2.0, "eps": 0.0}, {"margin": 5.0, "eps": 0.0},
                   {"swap": True, "eps": 0.0, "p": 1}, {"margin": 2.0}):
        expected, grads = _torch_both(torch, "triplet_margin_loss", [a, pos, neg], params)
        np.testing.assert_allclose(fastnl.triplet_margin_loss(a, pos, neg, **params,
                                                              reduction="none"),
                                   expected, rtol=1e-14)
        got = fastnl.triplet_margin_loss_backward(a, pos, neg, **params, reduction="none")
        for k in range(3):
            np.testing.assert_allclose(got[k], grads[k], rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match="margin must be greater than 0, got 0.0"):
        fastnl.triplet_margin_loss(a, pos, neg, margin=0.0)
    with pytest.raises(ValueError, match="p must be a positive number"):
        fastnl.triplet_margin_loss_backward(a, pos, neg, p=0)
    with pytest.raises(ValueError, match=r"same number of dimensions.*\(4, 2\).*\(2,\)"):
        fastnl.triplet_margin_loss(a, pos[0], neg)
    with pytest.raises(ValueError, match="0-d"):
        fastnl.triplet_margin_loss(1.0, 2.0, 3.0)
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(3, 2\)"):
        fastnl.triplet_margin_loss(a, pos, neg[:3])
    one = fastnl.triplet_margin_loss(a[1], pos[1], neg[1], reduction="none")
    assert np.ndim(one) == 0


# ---------------------------------------------------------------- errors and dtypes

def test_errors():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"var has negative entries: -0.5 at index \(1, 2\)"):
        fastnl.gaussian_nll_loss(x, x, np.where(np.arange(12).reshape(3, 4) == 6, -0.5, 1.0))
    with pytest.raises(ValueError, match=r"var has negative entries: -1.0 at index \(\)"):
        fastnl.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(ValueError, match="var has negative entries"):
        fastnl.gaussian_nll_loss_backward(x, x, -np.ones(3))
    for var_shape in [(4,), (2, 4), (1, 1), (3, 4, 1)]:
        with pytest.raises(ValueError, match=re.escape(f"var of shape {var_shape} does not "
                                                       "fit the input's shape (3, 4)")):
            fastnl.gaussian_nll_loss(x, x, np.ones(var_shape))
        with pytest.raises(ValueError, match=re.escape(f"var of shape {var_shape}")):
            fastnl.gaussian_nll_loss_backward(x, x, np.ones(var_shape))
    with pytest.raises(ValueError, match=r"same number of dimensions.*\(3, 4\).*\(4,\)"):
        fastnl.margin_ranking_loss(x, np.zeros(4), x)
    with pytest.raises(ValueError, match=r"same number of dimensions"):
        fastnl.margin_ranking_loss_backward(x, x, np.ones(()))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2, 4\)"):
        fastnl.margin_ranking_loss(x, np.zeros((2, 4)), x)
    with pytest.raises(ValueError, match=r"target of shape \(3, 4\) cannot be broadcast to "
                                         r"the input's shape \(4,\)"):
        fastnl.soft_margin_loss(np.zeros(4), x)  # torch refuses to enlarge the input
    with pytest.raises(ValueError, match=r"target of shape"):
        fastnl.soft_margin_loss_backward(np.zeros((3, 1)), x)
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2, 4\)"):
        fastnl.hinge_embedding_loss(x, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5,\)"):
        fastnl.poisson_nll_loss(x, np.zeros(5))
    for name, ops in [("poisson_nll_loss", (x, x)), ("gaussian_nll_loss", (x, x, x)),
                      ("soft_margin_loss", (x, x)), ("margin_ranking_loss", (x, x, x)),
                      ("hinge_embedding_loss", (x, x))]:
        with pytest.raises(ValueError, match="reduction"):
            getattr(fastnl, name)(*ops, reduction="batchmean")
        with pytest.raises(ValueError, match="reduction"):
            getattr(fastnl, f"{name}_backward")(*ops, reduction="avg")
        with pytest.raises(TypeError, match="complex"):
            getattr(fastnl, name)(x.astype(complex), *ops[1:])
    with pytest.raises(TypeError, match="margin"):
        fastnl.hinge_embedding_loss(x, x, margin="1")
    with pytest.raises(ValueError, match="eps"):
        fastnl.poisson_nll_loss(x, x, log_input=False, eps=np.nan)


def test_dtypes_out_and_empty(rng):
    x, y = rng.uniform(0.5, 2, (3, 4)), rng.uniform(0.5, 2, (3, 4))
    h = fastnl.poisson_nll_loss(x.astype(np.float16), y)
    assert h.dtype == np.float16
    assert fastnl.hinge_embedding_loss([1, 2], [1, -1]).dtype == np.float64
    gx, gv = fastnl.gaussian_nll_loss_backward(x.astype(np.float32), y, y)  # float64 var
    assert gx.dtype == gv.dtype == np.float32
    g1, g2 = fastnl.margin_ranking_loss_backward(x.astype(np.float16), y, np.ones((3, 4)))
    assert g1.dtype == g2.dtype == np.float16
    out = np.empty((3, 4))
    assert fastnl.soft_margin_loss_backward(x, y, out=out) is out
    np.testing.assert_array_equal(out, fastnl.soft_margin_loss_backward(x, y))
    e = np.zeros((0, 3))
    for name, ops in [("poisson_nll_loss", (e, e)), ("gaussian_nll_loss", (e, e, e)),
                      ("soft_margin_loss", (e, e)), ("margin_ranking_loss", (e, e, e)),
                      ("hinge_embedding_loss", (e, e)), ("multilabel_soft_margin_loss", (e, e))]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch's NaN mean, with no warning of NumPy's
            assert np.isnan(getattr(fastnl, name)(*ops))
        assert getattr(fastnl, name)(*ops, reduction="sum") == 0
        row_loss = name == "multilabel_soft_margin_loss"  # one loss per row
        assert getattr(fastnl, name)(*ops, reduction="none").shape == ((0,) if row_loss else (0, 3))
        for grad in _grads(getattr(fastnl, f"{name}_backward")(*ops)):
            assert grad.shape == (0, 3)


# ---------------------------------------------------------------- nn classes

MODULES = {"PoissonNLLLoss": (CASES[3], {"log_input": False, "full": True, "eps": 1e-3}),
           "GaussianNLLLoss": (CASES[5], {"full": True}),
           "SoftMarginLoss": (CASES[8], {}),
           "MarginRankingLoss": (CASES[10], {"margin": 0.5}),
           "HingeEmbeddingLoss": (CASES[12], {"margin": 0.3}),
           "MultiLabelSoftMarginLoss": (CASES[13], {}),
           "CosineEmbeddingLoss": (CASES[16], {"margin": 0.3}),
           "TripletMarginLoss": (CASES[20], {"p": 3.0, "eps": 1e-3, "swap": True,
                                             "margin": 2.0})}


@pytest.mark.parametrize("name", MODULES)
def test_module_constructor_as_torch(name, torch):
    import inspect
    ours = inspect.signature(getattr(fastnl.nn, name).__init__).parameters
    theirs = inspect.signature(getattr(torch.nn, name).__init__).parameters
    legacy = {"self", "size_average", "reduce"}  # torch's legacy arguments: not needed
    assert set(ours) - {"self"} == set(theirs) - legacy
    for arg in set(ours) - {"self"}:
        assert ours[arg].default == theirs[arg].default, arg
        # keyword-only where torch's legacy size_average stands before it
        positional = list(theirs).index(arg) < list(theirs).index("size_average") \
            if "size_average" in theirs else theirs[arg].kind != inspect.Parameter.KEYWORD_ONLY
        assert (ours[arg].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD) == positional, arg


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_modules_against_torch(name, reduction, rng, torch):
    """The wiring: the function's numbers (tested above), torch's module
    arguments, the gradients of every float operand in order (float64:
    1e-12)."""
    case, args = MODULES[name]
    assert all(case[1][k] == v for k, v in args.items())
    ops = _operands(case, rng, (4, 5))
    ours = getattr(fastnl.nn, name)(**args, reduction=reduction)
    tops = [torch.tensor(a, requires_grad=k in WRT[case[0]]) for k, a in enumerate(ops)]
    lt = getattr(torch.nn, name)(**args, reduction=reduction)(*tops)
    np.testing.assert_allclose(ours(*ops), lt.detach().numpy(), rtol=1e-12)
    lt.sum().backward()  # ours: the default grad_output, 1 (ones for 'none')
    got = _grads(ours.backward())
    assert len(got) == len(WRT[case[0]])
    for k, grad in zip(WRT[case[0]], got):
        np.testing.assert_allclose(grad, tops[k].grad.numpy(), rtol=1e-12, atol=1e-15)
    with pytest.raises(RuntimeError, match="before forward"):
        getattr(fastnl.nn, name)().backward()


# ---------------------------------------------------------------- bfloat16 and Dask

@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_bfloat16(case, bf16, rng):
    """bfloat16 operands: computed in float32, so the bits of the float32
    call rounded once to bfloat16 (tests/test_bfloat16.py), forward, every
    gradient, and the module."""
    from test_bfloat16 import assert_rounded
    name, params = case[:2]
    ops = [a if type(a) is float else a.astype(bf16) for a in _operands(case, rng, (6, 20))]
    ops32 = [a if type(a) is float else a.astype(np.float32) for a in ops]
    f, b = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
    for reduction in REDUCTIONS:
        assert_rounded(f(*ops, **params, reduction=reduction),
                       f(*ops32, **params, reduction=reduction), bf16)
        loss_shape = np.shape(f(*ops32, **params, reduction="none"))
        g = rng.standard_normal(loss_shape).astype(bf16) if reduction == "none" \
            else bf16.type(1.5)
        for got, want in zip(_grads(b(*ops, **params, reduction=reduction, grad_output=g)),
                             _grads(b(*ops32, **params, reduction=reduction,
                                      grad_output=g.astype(np.float32)))):
            assert_rounded(got, want, bf16)


def _within_ulps_of_largest(ours, theirs, ulps, what):
    """|ours - theirs| at most `ulps` bfloat16 ulps of the largest |theirs|."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    ulp = 2.0 ** (np.floor(np.log2(np.max(np.abs(theirs)))) - 7)
    assert np.max(np.abs(ours - theirs)) <= ulps * ulp, what


def test_bfloat16_matches_torch(bf16, torch):
    """Against torch's own bfloat16 kernels: within 1 bfloat16 ulp of the
    largest value (torch rounds some steps to bfloat16 on the way, fastnl
    computes in float32; test_bfloat16.py's criterion); 2 for the two
    likelihoods, where torch rounds each term to bfloat16 before adding them
    (log v and (x - y)^2 / v, g e^x and g y, ...): an ulp of terms that can
    be twice their sum; 4 for triplet_margin_loss, whose two distances torch
    rounds to bfloat16 before subtracting them (near 10 here: half an ulp of
    each is up to 4 ulps of the losses), and whose norms' gradients it forms
    from bfloat16 differences u - v + eps. Its margin is 20 here, so that no
    row sits at the hinge's kink, and its swap and p = 1 cases are left out:
    where a rounding decides the side of a kink (which distance is smaller,
    the sign of a difference), the two libraries can differ by the jump."""
    ulps = {"poisson_nll_loss": 2, "gaussian_nll_loss": 2, "triplet_margin_loss": 4}
    rng = np.random.default_rng(9)
    for case in CASES:
        name, params = case[:2]
        if name == "triplet_margin_loss":
            if params.get("swap") or params.get("p") == 1:
                continue
            params = dict(params, margin=20.0)
        ops = [a if type(a) is float else a.astype(bf16)
               for a in _operands(case, rng, (64, 50))]
        tops = [a if type(a) is float else
                torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
                .requires_grad_(k in WRT[name]) for k, a in enumerate(ops)]
        for reduction in REDUCTIONS:
            loss = getattr(torch.nn.functional, name)(*tops, **params, reduction=reduction)
            loss.backward(torch.ones_like(loss))
            _within_ulps_of_largest(getattr(fastnl, name)(*ops, **params, reduction=reduction),
                                    loss.detach().float().numpy(), ulps.get(name, 1),
                                    f"{name} {reduction}")
            got = _grads(getattr(fastnl, f"{name}_backward")(*ops, **params,
                                                             reduction=reduction))
            for k, grad in zip(WRT[name], got):
                if type(ops[k]) is float:
                    continue
                _within_ulps_of_largest(grad, tops[k].grad.float().numpy(),
                                        ulps.get(name, 1),
                                        f"{name}_backward {reduction} operand {k}")
                tops[k].grad = None


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_dask_chunks(case, rng):
    """Every operand a Dask array in chunks of its own: lazy, 'none' with the
    in-memory bits, reduced losses within float64 rounding of the tree sum,
    gradients (summed back over broadcast axes) within the same."""
    import dask.array as da
    name, params = case[:2]
    ops = _operands(case, rng, (8, 6, 5))
    lazy = [a if type(a) is float else da.from_array(a, chunks=tuple(max(1, n // 2)
                                                                    for n in a.shape))
            for a in ops]
    f, b = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
    got = f(*lazy, **params, reduction="none")
    assert isinstance(got, da.Array)
    if name in ROWWISE:  # rows summed over the chunks of their last axis by a tree
        np.testing.assert_allclose(got.compute(), f(*ops, **params, reduction="none"),
                                   rtol=1e-14)
    else:
        assert got.compute().tobytes() == f(*ops, **params, reduction="none").tobytes()
    for reduction in ("mean", "sum"):
        np.testing.assert_allclose(f(*lazy, **params, reduction=reduction).compute(),
                                   f(*ops, **params, reduction=reduction), rtol=1e-13)
        for got, want in zip(_grads(b(*lazy, **params, reduction=reduction)),
                             _grads(b(*ops, **params, reduction=reduction))):
            got = got.compute() if isinstance(got, da.Array) else got
            assert np.shape(got) == np.shape(want)
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-16)


# ---------------------------------------------------------------- multi_margin_loss

def _multi_margin_problem(rng, shape, target_shape, dtype=np.float64):
    x = (rng.standard_normal(shape) * 0.7).astype(dtype)
    t = rng.integers(0, shape[-1], target_shape)
    return x, t


MULTI_MARGIN_SHAPES = [((6, 5), (6,)), ((5,), ()), ((5,), (1,))]
MULTI_MARGIN_PARAMS = [{}, {"p": 2}, {"margin": 0.3}, {"weight": True},
                       {"p": 2, "weight": True, "margin": 2.0}]


def _mm_params(params, rng, n_classes, dtype=np.float64):
    out = dict(params)
    if params.get("weight"):
        out["weight"] = rng.uniform(0.5, 2, n_classes).astype(dtype)
    return out


@pytest.mark.parametrize("shape, target_shape", MULTI_MARGIN_SHAPES)
@pytest.mark.parametrize("params", MULTI_MARGIN_PARAMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_multi_margin_against_reference_and_torch(shape, target_shape, params, dtype, rng,
                                                  torch):
    """Forward against the reference and torch; the backward against torch's
    autograd (its own kernel, z in the data's dtype, as fastnl: 8 eps)."""
    x, t = _multi_margin_problem(rng, shape, target_shape, dtype)
    kw = _mm_params(params, rng, shape[-1], dtype)
    tkw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    for reduction in REDUCTIONS:
        got = fastnl.multi_margin_loss(x, t, **kw, reduction=reduction)
        _check(got, ref.multi_margin_loss(x, t, **kw, reduction=reduction), dtype, reduction)
        xt = torch.tensor(x, requires_grad=True)
        loss = torch.nn.functional.multi_margin_loss(xt, torch.from_numpy(t), **tkw,
                                                     reduction=reduction)
        _check(got, loss.detach().numpy(), dtype, reduction)
        g = np.asarray(_upstream(rng, tuple(loss.shape), reduction), dtype)
        loss.backward(torch.from_numpy(g))
        grad = fastnl.multi_margin_loss_backward(x, t, **kw, reduction=reduction,
                                                 grad_output=g)
        assert grad.dtype == dtype and grad.shape == x.shape
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=8 * eps,
                                   atol=8 * eps * np.max(np.abs(xt.grad.numpy()), initial=0))


@pytest.mark.parametrize("shape, target_shape", MULTI_MARGIN_SHAPES)
@pytest.mark.parametrize("params", MULTI_MARGIN_PARAMS)
def test_multi_margin_against_finite_differences(shape, target_shape, params, rng):
    """float64, h = 1e-6, away from the hinges' kinks (z = 0 within 1e-3 is
    resampled): tolerance 1e-7 as for the others."""
    x, t = _multi_margin_problem(rng, shape, target_shape)
    kw = _mm_params(params, rng, shape[-1])
    margin = kw.get("margin", 1.0)
    x2, t2 = x.reshape(-1, shape[-1]), t.reshape(-1)
    z = margin - np.take_along_axis(x2, t2[:, None], 1) + x2
    x2 += np.where(np.abs(z) < 1e-3, 0.01, 0.0) * (np.arange(shape[-1]) != t2[:, None])
    for reduction in REDUCTIONS:
        g = _upstream(rng, np.shape(ref.multi_margin_loss(x, t, **kw, reduction="none")),
                      reduction)
        got = fastnl.multi_margin_loss_backward(x, t, **kw, reduction=reduction, grad_output=g)
        _assert_gradient(got, lambda v: np.sum(g * ref.multi_margin_loss(
            v, t, **kw, reduction=reduction)), x, rng, 1e-7)


def test_multi_margin_contract(rng, bf16):
    from test_bfloat16 import assert_rounded
    x, t = _multi_margin_problem(rng, (10000, 7), (10000,), np.float32)
    w = rng.uniform(0.5, 2, 7).astype(np.float32)
    results = []
    for n in (1, 2, 2):
        with fastnl.num_threads(n):
            results.append([fastnl.multi_margin_loss(x, t, p=2, weight=w),
                            fastnl.multi_margin_loss_backward(x, t, p=2, weight=w)])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    xb = x[:50].astype(bf16)
    for reduction in REDUCTIONS:
        assert_rounded(fastnl.multi_margin_loss(xb, t[:50], reduction=reduction),
                       fastnl.multi_margin_loss(xb.astype(np.float32), t[:50],
                                                reduction=reduction), bf16)
    assert_rounded(fastnl.multi_margin_loss_backward(xb, t[:50]),
                   fastnl.multi_margin_loss_backward(xb.astype(np.float32), t[:50]), bf16)
    before = x.copy()
    fastnl.multi_margin_loss_backward(x, t)
    np.testing.assert_array_equal(x, before)


def test_multi_margin_errors_and_nan(torch):
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="only p == 1 and p == 2"):
        fastnl.multi_margin_loss(x, [0, 1, 2], p=3)
    with pytest.raises(IndexError, match=r"Target 4 is out of bounds: expected a class index "
                                         r"in \[0, 4\)$"):
        fastnl.multi_margin_loss(x, [0, 4, 1])
    with pytest.raises(IndexError, match="Target -1"):
        fastnl.multi_margin_loss_backward(x, [0, -1, 1])
    with pytest.raises(TypeError, match="integer class indices"):
        fastnl.multi_margin_loss(x, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="inconsistent target size, expected 3 but got"):
        fastnl.multi_margin_loss(x, [0, 1])
    with pytest.raises(ValueError, match=r"weight must be one-dimensional with 4 elements"):
        fastnl.multi_margin_loss(x, [0, 1, 2], weight=np.ones(3))
    with pytest.raises(ValueError, match="non-empty vector or matrix"):
        fastnl.multi_margin_loss(np.zeros((2, 3, 4)), [0, 1])
    with pytest.raises(ValueError, match="reduction"):
        fastnl.multi_margin_loss(x, [0, 1, 2], reduction="batchmean")
    # a NaN score passes no hinge (z > 0 is false), as in torch's kernel
    xn = np.array([[np.nan, 0.5, 0.2], [0.1, np.nan, 0.3]])
    tn = np.array([0, 2])
    xt = torch.tensor(xn, requires_grad=True)
    loss = torch.nn.functional.multi_margin_loss(xt, torch.from_numpy(tn), reduction="none")
    loss.sum().backward()
    np.testing.assert_allclose(fastnl.multi_margin_loss(xn, tn, reduction="none"),
                               loss.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(fastnl.multi_margin_loss_backward(xn, tn, reduction="none"),
                               xt.grad.numpy(), rtol=1e-14)
    # the other functions' contract: one loss per frame for a 1-d target
    assert fastnl.multi_margin_loss(x[0], np.array([1]), reduction="none").shape == (1,)
    assert np.ndim(fastnl.multi_margin_loss(x[0], 1, reduction="none")) == 0


def test_multi_margin_module(rng, torch):
    import inspect
    ours = inspect.signature(fastnl.nn.MultiMarginLoss.__init__).parameters
    theirs = inspect.signature(torch.nn.MultiMarginLoss.__init__).parameters
    assert set(ours) == set(theirs) - {"size_average", "reduce"}
    assert all(ours[k].default == theirs[k].default for k in ours if k != "self")
    assert ours["reduction"].kind == inspect.Parameter.KEYWORD_ONLY
    x, t = _multi_margin_problem(rng, (4, 5), (4,))
    w = rng.uniform(0.5, 2, 5)
    m = fastnl.nn.MultiMarginLoss(p=2, weight=w, reduction="none")
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.MultiMarginLoss(p=2, weight=torch.from_numpy(w), reduction="none")(
        xt, torch.from_numpy(t))
    np.testing.assert_allclose(m(x, t), lt.detach().numpy(), rtol=1e-12)
    lt.sum().backward()
    np.testing.assert_allclose(m.backward(), xt.grad.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- multilabel_margin_loss

def _multilabel_targets(rng, n_rows, n_classes):
    """Each row: a random number of distinct classes, then -1, then any
    entries in [-1, C) (checked, never used)."""
    t = rng.integers(-1, n_classes, (n_rows, n_classes))
    for row in t:
        k = rng.integers(0, n_classes + 1)
        row[:k] = rng.permutation(n_classes)[:k]
        if k < n_classes:
            row[k] = -1
    return t


@pytest.mark.parametrize("shape", [(6, 5), (5,), (3, 1)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_multilabel_margin_against_reference_and_torch(shape, dtype, rng, torch):
    x = (rng.standard_normal(shape) * 0.5).astype(dtype)
    t = _multilabel_targets(rng, int(np.prod(shape[:-1])), shape[-1]).reshape(shape)
    for reduction in REDUCTIONS:
        got = fastnl.multilabel_margin_loss(x, t, reduction=reduction)
        _check(got, ref.multilabel_margin_loss(x, t, reduction=reduction), dtype, reduction)
        xt = torch.tensor(x, requires_grad=True)
        loss = torch.nn.functional.multilabel_margin_loss(xt, torch.from_numpy(t),
                                                          reduction=reduction)
        _check(got, loss.detach().numpy(), dtype, reduction)
        g = np.asarray(_upstream(rng, tuple(loss.shape), reduction), dtype)
        loss.backward(torch.from_numpy(g))
        grad = fastnl.multilabel_margin_loss_backward(x, t, reduction=reduction, grad_output=g)
        assert grad.dtype == dtype and grad.shape == x.shape
        # torch adds +-1/C per passing hinge and multiplies by g after; fastnl
        # adds +-g/C: a few roundings per element (8 eps of the largest)
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=8 * eps,
                                   atol=8 * eps * np.max(np.abs(xt.grad.numpy()), initial=0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_multilabel_margin_wide_rows(dtype, rng, torch):
    """Rows wider than the kernel's 8 lanes (its vector loop and remainder),
    a repeated target class, and +inf or NaN scores at a target and at a
    non-target: the loss per row and the gradient against torch's."""
    x = (rng.standard_normal((6, 37)) * 0.7).astype(dtype)
    t = _multilabel_targets(rng, 6, 37)
    t[0, :4] = [5, 5, 30, -1]             # class 5 twice: its hinges count twice
    t[1, :3] = [3, 11, -1]
    x[1, 11] = np.inf                     # a target at +inf passes no hinge, and is
    t[2, :3] = [3, 11, -1]                # skipped as a non-target of the others
    x[2, 20] = np.inf                     # a non-target at +inf: an infinite loss
    t[3, :3] = [3, 11, -1]
    x[3, 20] = np.nan                     # NaN passes nothing (torch's z > 0)
    got = fastnl.multilabel_margin_loss(x, t, reduction="none")
    xt = torch.tensor(x, requires_grad=True)
    loss = torch.nn.functional.multilabel_margin_loss(xt, torch.from_numpy(t), reduction="none")
    assert got.dtype == dtype and np.isinf(got[2]) and not np.isnan(got).any()
    tol = _rtol(dtype)
    np.testing.assert_allclose(got.astype(np.float64), loss.detach().numpy(), rtol=tol, atol=tol)
    finite = [0, 4, 5]
    np.testing.assert_allclose(got[finite], ref.multilabel_margin_loss(x[finite], t[finite],
                                                                       reduction="none"),
                               rtol=tol, atol=tol)
    g = rng.standard_normal(6).astype(dtype)
    loss.backward(torch.from_numpy(g))
    grad = fastnl.multilabel_margin_loss_backward(x, t, reduction="none", grad_output=g)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=8 * eps,
                               atol=8 * eps * np.max(np.abs(xt.grad.numpy())))


def test_multilabel_margin_against_finite_differences(rng):
    x = rng.standard_normal((5, 6)) * 0.5
    t = _multilabel_targets(rng, 5, 6)
    for reduction in REDUCTIONS:
        g = _upstream(rng, (5,), reduction)
        got = fastnl.multilabel_margin_loss_backward(x, t, reduction=reduction, grad_output=g)
        _assert_gradient(got, lambda v: np.sum(g * ref.multilabel_margin_loss(
            v, t, reduction=reduction)), x, rng, 1e-7)


def test_multilabel_margin_contract(rng, bf16, torch):
    from test_bfloat16 import assert_rounded
    x = rng.standard_normal((10000, 7)).astype(np.float32)
    t = _multilabel_targets(rng, 10000, 7)
    results = []
    for n in (1, 2, 2):
        with fastnl.num_threads(n):
            results.append([fastnl.multilabel_margin_loss(x, t),
                            fastnl.multilabel_margin_loss_backward(x, t)])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    xb = x[:50].astype(bf16)
    assert_rounded(fastnl.multilabel_margin_loss(xb, t[:50], reduction="none"),
                   fastnl.multilabel_margin_loss(xb.astype(np.float32), t[:50],
                                                 reduction="none"), bf16)
    assert_rounded(fastnl.multilabel_margin_loss_backward(xb, t[:50]),
                   fastnl.multilabel_margin_loss_backward(xb.astype(np.float32), t[:50]), bf16)
    with pytest.raises(IndexError, match=r"Target 7 is out of bounds.*\[0, 7\) or -1"):
        fastnl.multilabel_margin_loss(x[:2], [[1, 7, -1, 0, 0, 0, 0], [0, -1, 6, 6, 6, 6, 6]])
    # entries after the terminator are checked (torch refuses them too) but unused
    for bad in (9, -3):
        with pytest.raises(IndexError, match=f"Target {bad} is out of bounds"):
            fastnl.multilabel_margin_loss(x[:1], [[1, -1, bad, 0, 0, 0, 0]])
    assert fastnl.multilabel_margin_loss(x[:1], [[1, -1, 5, 0, 0, 0, 0]]) == \
        fastnl.multilabel_margin_loss(x[:1], [[1, -1, -1, -1, -1, -1, -1]])
    with pytest.raises(ValueError, match=r"inconsistent target size \(2, 6\)"):
        fastnl.multilabel_margin_loss_backward(x[:2], t[:2, :6])
    with pytest.raises(TypeError, match="integer class indices"):
        fastnl.multilabel_margin_loss(x[:2], t[:2].astype(float))
    with pytest.raises(ValueError, match="non-empty vector or matrix"):
        fastnl.multilabel_margin_loss(np.zeros((2, 2, 2)), np.zeros((2, 2, 2), int))
    m = fastnl.nn.MultiLabelMarginLoss(reduction="sum")
    xt = torch.tensor(x[:8].astype(np.float64), requires_grad=True)
    lt = torch.nn.MultiLabelMarginLoss(reduction="sum")(xt, torch.from_numpy(t[:8]))
    lt.backward()
    np.testing.assert_allclose(m(x[:8].astype(np.float64), t[:8]), lt.detach().numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(m.backward(), xt.grad.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- the margin losses' small-call paths

def _margin_small_call(name, x, t, p=1, margin=1.0):
    """The small-call kernel's summed row losses, or None (general path)."""
    from fastnl._kernels import _rowlosses
    if name == "multi_margin_loss":
        return _rowlosses.multi_margin_reduced(x, t, p, margin)
    return _rowlosses.multilabel_margin_reduced(x, t)


def _margin_general(name, x, t, reduction, p=1, margin=1.0):
    """The general path (checks, row kernel, reduce_row_losses): the reference."""
    from fastnl._drivers import losses as driver
    if name == "multi_margin_loss":
        xx, tt, w, rows, result = driver.multi_margin_problem(x, t, None)
        loss = driver.multi_margin_rows(xx, tt, w, p, margin)
    else:
        xx, tt, rows, result = driver.multilabel_margin_problem(x, t)
        loss = driver.multilabel_margin_rows(xx, tt)
    return driver.reduce_row_losses(loss, reduction, rows, result)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name", ["multi_margin_loss", "multilabel_margin_loss"])
def test_margin_small_call_path_has_the_general_paths_bits(name, reduction, dtype, rng):
    # a C-contiguous (N, C) float array with int64 targets in range, no class
    # weights and N C up to the grain is one kernel call; the general path
    # is the reference, bit for bit (a NaN or an infinity in its own array:
    # it makes the whole sum NaN or inf)
    f = getattr(fastnl, name)
    for N, C, special in ((1, 1, None), (4, 10, None), (257, 13, None), (3, 10000, None),
                          (109, 300, None),  # 32700: the grain
                          (5, 7, np.nan), (5, 7, np.inf), (5, 7, -np.inf)):
        x = (rng.standard_normal((N, C)) * 1.5).astype(dtype)
        if special is not None:
            x[2, 3] = special
        if name == "multi_margin_loss":
            t = rng.integers(0, C, N)
            cases = [{"p": 1, "margin": 1.0}, {"p": 2, "margin": 0.3}]
        else:
            t = _multilabel_targets(rng, N, C) if C > 1 else np.array([[0]] * N)
            cases = [{}]
        for kw in cases:
            assert _margin_small_call(name, x, t, **kw) is not None
            got = f(x, t, **kw, reduction=reduction)
            want = _margin_general(name, x, t, reduction, **kw)
            assert type(got) is type(want) and got.dtype == dtype
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["multi_margin_loss", "multilabel_margin_loss"])
def test_margin_small_call_path_leaves_errors_and_other_calls_to_the_general_path(name):
    f = getattr(fastnl, name)
    x = np.zeros((4, 3))
    if name == "multi_margin_loss":
        t, bad = np.array([0, 1, 2, 2]), np.array([0, 1, 3, 2])
        with pytest.raises(IndexError, match="Target -1 is out of bounds"):
            f(x, np.array([0, -1, 2, 2]))
        others = [(x, t[None]), (x, t[:3]), (x, t.reshape(2, 2))]
    else:
        t, bad = np.array([[0, -1, 1]] * 4), np.array([[0, -1, 1]] * 3 + [[2, 1, 3]])
        with pytest.raises(IndexError, match="Target -2 is out of bounds"):
            f(x, np.array([[0, -1, -2]] * 4))
        others = [(x, t[0]), (x, t[:3]), (x, t[:, :2].copy())]
    with pytest.raises(IndexError, match="Target 3 is out of bounds"):
        f(x, bad)
    assert _margin_small_call(name, x, bad) is None
    big = np.zeros((33, 1000))  # beyond the grain: the threaded kernel
    others += [(x.T.copy().T, t), (x, t.astype(np.int32)), (x, t.astype(">i8")),
               (x.astype(">f8"), t), (x.astype(np.float16), t), (x.tolist(), t),
               (x[::2], t[:2]), (x[0], t[0]), (x[:0], t[:0]),
               (big, np.zeros(big.shape[:1] if name == "multi_margin_loss" else big.shape,
                              np.int64))]
    for args in others:
        assert _margin_small_call(name, *args) is None
    with pytest.raises(ValueError, match="reduction"):
        f(x, t, reduction="avg")
    # the general path takes them (the class weights, 'none', an empty batch)
    np.testing.assert_array_equal(f(x, t, reduction="none"), f(x.T.copy().T, t, reduction="none"))
    assert np.isnan(f(x[:0], t[:0]))
    if name == "multi_margin_loss":
        assert f(x, t, weight=np.ones(3)) == f(x, t)
