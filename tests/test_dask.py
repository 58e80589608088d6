"""Dask arrays in, Dask arrays out (issue #8).

Every public function takes Dask arrays for its array arguments and returns
lazy Dask results equal to the in-memory function's result on the same data:
bitwise where the computation per element is the same (elementwise
activations and their backward, 'none' losses with rows chunked, softmax
along an unsplit axis), else float64 within 1e-12 relative (float32 1e-6).
Shape and parameter errors are raised at call time, value-dependent ones
(class index out of range, BCE input outside [0, 1]) at .compute().
Nothing is read before .compute(); dask is imported only when the caller
passes a Dask array; one test runs on a two-process dask.distributed cluster.
"""

import os
import threading
import warnings

import numpy as np
import pytest

import dask
import dask.array as da

import fastnl
from fastnl._reference import CASES
from _class_problems import class_problem

CASE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]
DTYPES = [np.float32, np.float64]
AXIS_FUNCS = ["softmax", "log_softmax", "softmin"]
NOT_FUNCTIONS = {"__version__", "get_num_threads", "set_num_threads", "num_threads",
                 "show_config", "set_output_cache_limit", "get_output_cache_limit",
                 "release_output_cache"}
PUBLIC_FUNCTIONS = sorted(set(fastnl.__all__) - NOT_FUNCTIONS)

# Input shape of most tests: (N, C, d), small so that the whole file is fast.
SHAPE = (8, 6, 5)
# Which axes are split into chunks: each axis in turn, and all at once.
CHUNKINGS = {"axis0": (0,), "axis1": (1,), "axis2": (2,), "all": (0, 1, 2)}


# ---------------------------------------------------------------- helpers

def chunks_for(shape, split_axes):
    """Chunk sizes splitting `split_axes` into 3 pieces (irregular where the
    length is not a multiple of 3: 8 -> 3, 3, 2), the other axes whole."""
    return tuple(max(1, -(-n // 3)) if i in split_axes else n for i, n in enumerate(shape))


def lazy(a, split_axes=None, chunks=None):
    a = np.asarray(a)
    if chunks is None:
        chunks = chunks_for(a.shape, range(a.ndim) if split_axes is None else split_axes)
    return da.from_array(a, chunks=chunks)


def target_axes(split_axes):
    """The split axes of an (N, d...) index target, given those of its (N, C, d...) input."""
    return tuple(a if a == 0 else a - 1 for a in split_axes if a != 1)


class Reads:
    """Dask arrays whose blocks count how often they are read, to prove that
    a fastnl call only builds a graph and reads nothing before .compute()."""

    def __init__(self):
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, a, split_axes=None, chunks=None):
        a = np.asarray(a)

        def read(block):
            if block.size:  # dask may call it on 0-size meta arrays: that reads no data
                with self._lock:
                    self.count += 1
            return block

        meta = np.empty((0,) * a.ndim, a.dtype)
        return lazy(a, split_axes, chunks).map_blocks(read, dtype=a.dtype, meta=meta)


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def _computed(got, expected):
    """Check type, dtype and shape of the lazy result against the in-memory
    one, then compute it."""
    expected = np.asarray(expected)
    assert isinstance(got, da.Array), f"expected a dask array, got {type(got)}"
    assert got.dtype == expected.dtype, f"dtype {got.dtype}, in memory {expected.dtype}"
    assert got.shape == expected.shape, f"shape {got.shape}, in memory {expected.shape}"
    value = np.asarray(got.compute())
    assert value.dtype == expected.dtype and value.shape == expected.shape
    return value, expected


def assert_bitwise(got, expected):
    """Same values, same NaN positions, same signs of zero."""
    value, expected = _computed(got, expected)
    np.testing.assert_array_equal(value, expected)
    finite = ~np.isnan(expected)
    np.testing.assert_array_equal(np.signbit(value[finite]), np.signbit(expected[finite]))


def assert_close(got, expected, rtol, atol=0.0):
    value, expected = _computed(got, expected)
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol, equal_nan=True)


def rtol_of(dtype):
    return 1e-12 if np.dtype(dtype) == np.float64 else 1e-6


def quiet(f, *args, **kwargs):
    """Call without warnings (kl_div's 'mean' warns, as torch; the broadcast
    warning of the regression losses)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kwargs)


# ---------------------------------------------------------------- every public function

def problem(rng):
    """Operands for one call of every public function, (N, C, d) = (8, 6, 5)."""
    x = rng.standard_normal(SHAPE) * 3
    t = rng.integers(0, SHAPE[1], (SHAPE[0], SHAPE[2]))
    t.ravel()[1::4] = -100  # some ignored rows (the default ignore_index)
    q = rng.dirichlet(np.ones(SHAPE[1]), size=(SHAPE[0], SHAPE[2])).transpose(0, 2, 1)
    return {
        "x": x,
        "g": rng.standard_normal(SHAPE),
        "y": rng.standard_normal(SHAPE),
        "pweight": rng.uniform(-0.5, 0.5, SHAPE[1]),  # prelu, one per channel
        "noise": np.where(x <= 0, rng.uniform(1 / 8, 1 / 3, SHAPE), 1.0),  # rrelu slopes
        "sm_out": fastnl.softmax(x, axis=1, temperature=0.5),
        "lsm_out": fastnl.log_softmax(x, axis=1, temperature=0.5),
        "smin_out": fastnl.softmin(x, axis=1, temperature=0.5),
        "logp": fastnl.log_softmax(x, axis=1),
        "q": q,
        "bx": rng.uniform(0.01, 0.99, SHAPE),
        "bt": rng.uniform(0, 1, SHAPE),
        "bw": rng.uniform(0.5, 2, (SHAPE[1], 1)),
        "pw": rng.uniform(0.5, 3, SHAPE[2]),
        "t": t,
        "w": rng.uniform(0.2, 2, SHAPE[1]),
        "tg": rng.standard_normal((SHAPE[0], SHAPE[2])),
        # linear_cross_entropy: features (N, in_features = d), a layer to the C classes
        "lx": x[:, 0, :],
        "lW": rng.standard_normal((SHAPE[1], SHAPE[2])),
        "lb": rng.standard_normal(SHAPE[1]),
        "lt": t[:, 0],
        "var": rng.uniform(0.5, 2, SHAPE[:2]),
        "sign": rng.choice([-1.0, 1.0], SHAPE),
        "x2": rng.standard_normal(SHAPE[:2] + (1,)),
        "lx2": rng.standard_normal((1, SHAPE[2])),
        "lsign": rng.choice([-1.0, 1.0], SHAPE[0]),
        "mlt": np.tile([1, 3, -1, 0, 2], (SHAPE[0], 1)),
        # one_hot's indices, and logits whose largest entry beats the Gumbel noise
        # (below about 10 in 240 draws) by 50: the hard sample is the lazy argmax's
        "ct": (ct := rng.integers(0, SHAPE[1], (SHAPE[0], SHAPE[2]))),
        "gl": 50.0 * fastnl.one_hot(ct, SHAPE[1]).transpose(0, 2, 1) + x,
        "gg": rng.standard_normal((SHAPE[0], SHAPE[1] // 2, SHAPE[2])),  # glu's grad_output
        # ctc_loss: log-probabilities (T, N, C) = (8, 6, 5), padded targets, lengths
        "clp": fastnl.log_softmax(x, axis=2),
        "ctg": rng.integers(1, SHAPE[2], (SHAPE[1], 3)),
        "cil": np.array([8, 7, 8, 6, 5, 8]),
        "ctl": np.array([3, 2, 0, 3, 1, 2]),
        "cg": rng.standard_normal(SHAPE[1]),
    }


# Chunks of the operands in the Dask version of `problem`: everything split,
# the 1-d / broadcast operands with chunks of their own (not those of x).
PROBLEM_CHUNKS = {"pweight": 4, "bw": (4, 1), "pw": 3, "w": 4, "t": (3, 2), "tg": (3, 2),
                  "lt": 3, "lb": 4, "ct": (3, 2), "gg": (3, 2, 2), "var": (3, 4),
                  "x2": (5, 2, 1), "lx2": (1, 2), "lsign": 3}


def _first_params(name):
    return next(params for n, params in CASES if n == name)


def public_calls():
    """name -> call(operands) for every public function (the Dask contract
    covers them all: test_table_covers_every_public_function)."""
    calls = {}
    for name, _ in CASES:
        params = _first_params(name)
        if name == "prelu":
            calls["prelu"] = lambda a: fastnl.prelu(a["x"], a["pweight"])
            calls["prelu_backward"] = lambda a: fastnl.prelu_backward(a["g"], a["x"], a["pweight"])
        elif name == "rrelu":
            calls["rrelu"] = lambda a: fastnl.rrelu(a["x"], 0.1, 0.3)
            calls["rrelu_backward"] = lambda a: fastnl.rrelu_backward(
                a["g"], a["x"], training=True, noise=a["noise"])
        else:
            f, b = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
            calls[name] = lambda a, f=f, p=params: f(a["x"], **p)
            calls[f"{name}_backward"] = lambda a, b=b, p=params: b(a["g"], a["x"], **p)
    for name, out in [("softmax", "sm_out"), ("log_softmax", "lsm_out"), ("softmin", "smin_out")]:
        f, b = getattr(fastnl, name), getattr(fastnl, f"{name}_backward")
        calls[name] = lambda a, f=f: f(a["x"], axis=1, temperature=0.5)
        calls[f"{name}_backward"] = lambda a, b=b, o=out: b(a["g"], a[o], axis=1, temperature=0.5)
    F = fastnl
    calls.update({
        "mse_loss": lambda a: F.mse_loss(a["x"], a["y"]),
        "mse_loss_backward": lambda a: F.mse_loss_backward(a["x"], a["y"], "none",
                                                           grad_output=a["g"]),
        "l1_loss": lambda a: F.l1_loss(a["x"], a["y"], "sum"),
        "l1_loss_backward": lambda a: F.l1_loss_backward(a["x"], a["y"], "sum"),
        "smooth_l1_loss": lambda a: F.smooth_l1_loss(a["x"], a["y"], "none", beta=0.5),
        "smooth_l1_loss_backward": lambda a: F.smooth_l1_loss_backward(a["x"], a["y"],
                                                                       beta=0.5),
        "huber_loss": lambda a: F.huber_loss(a["x"], a["y"], delta=0.5),
        "huber_loss_backward": lambda a: F.huber_loss_backward(a["x"], a["y"], "none", 0.5,
                                                               grad_output=a["g"]),
        "kl_div": lambda a: F.kl_div(a["logp"], a["q"], "batchmean"),
        "kl_div_backward": lambda a: F.kl_div_backward(a["logp"], a["q"], "batchmean"),
        "binary_cross_entropy": lambda a: F.binary_cross_entropy(a["bx"], a["bt"], a["bw"]),
        "binary_cross_entropy_backward": lambda a: F.binary_cross_entropy_backward(
            a["bx"], a["bt"], a["bw"], "none", grad_output=a["g"]),
        "binary_cross_entropy_with_logits": lambda a: F.binary_cross_entropy_with_logits(
            a["x"], a["bt"], a["bw"], pos_weight=a["pw"]),
        "binary_cross_entropy_with_logits_backward":
            lambda a: F.binary_cross_entropy_with_logits_backward(
                a["x"], a["bt"], a["bw"], "mean", a["pw"]),
        "nll_loss": lambda a: F.nll_loss(a["logp"], a["t"], a["w"]),
        "nll_loss_backward": lambda a: F.nll_loss_backward(a["logp"], a["t"], a["w"],
                                                           reduction="none",
                                                           grad_output=a["tg"]),
        "cross_entropy": lambda a: F.cross_entropy(a["x"], a["t"], a["w"],
                                                   label_smoothing=0.1),
        "cross_entropy_backward": lambda a: F.cross_entropy_backward(
            a["x"], a["t"], a["w"], label_smoothing=0.1),
        "linear_cross_entropy": lambda a: F.linear_cross_entropy(
            a["lx"], a["lW"], a["lt"], linear_bias=a["lb"], weight=a["w"],
            label_smoothing=0.1, chunk_size=4),
        "linear_cross_entropy_backward": lambda a: F.linear_cross_entropy_backward(
            a["lx"], a["lW"], a["lt"], linear_bias=a["lb"], weight=a["w"],
            label_smoothing=0.1, chunk_size=4),
        "poisson_nll_loss": lambda a: F.poisson_nll_loss(a["bx"], a["bt"], log_input=False,
                                                         full=True),
        "poisson_nll_loss_backward": lambda a: F.poisson_nll_loss_backward(
            a["x"], a["bt"], reduction="none", grad_output=a["g"]),
        # var one per (N, C) row: torch's homoscedastic case, a broadcast operand
        "gaussian_nll_loss": lambda a: F.gaussian_nll_loss(a["x"], a["y"], a["var"]),
        "gaussian_nll_loss_backward": lambda a: F.gaussian_nll_loss_backward(
            a["x"], a["y"], a["var"], reduction="none", grad_output=a["g"]),
        "soft_margin_loss": lambda a: F.soft_margin_loss(a["x"], a["sign"], "none"),
        "soft_margin_loss_backward": lambda a: F.soft_margin_loss_backward(a["x"], a["sign"]),
        # input2 broadcast along the last axis
        "margin_ranking_loss": lambda a: F.margin_ranking_loss(a["x"], a["x2"], a["sign"], 0.5),
        "margin_ranking_loss_backward": lambda a: F.margin_ranking_loss_backward(
            a["x"], a["x2"], a["sign"], 0.5, "sum"),
        "hinge_embedding_loss": lambda a: F.hinge_embedding_loss(a["x"], a["sign"],
                                                                 reduction="sum"),
        "hinge_embedding_loss_backward": lambda a: F.hinge_embedding_loss_backward(
            a["x"], a["sign"], reduction="none", grad_output=a["g"]),
        # classes on the last axis, split into chunks
        "multilabel_soft_margin_loss": lambda a: F.multilabel_soft_margin_loss(
            a["x"], a["bt"], a["pw"], "none"),
        "multilabel_soft_margin_loss_backward":
            lambda a: F.multilabel_soft_margin_loss_backward(a["x"], a["bt"], a["pw"], "none",
                                                             grad_output=a["g"][..., 0]),
        # rows of (N, d), input2 one row broadcast against them
        "cosine_embedding_loss": lambda a: F.cosine_embedding_loss(
            a["lx"], a["lx2"], a["lsign"], 0.2, "none"),
        "cosine_embedding_loss_backward": lambda a: F.cosine_embedding_loss_backward(
            a["lx"], a["lx2"], a["lsign"], 0.2),
        "triplet_margin_loss": lambda a: F.triplet_margin_loss(
            a["x"], a["y"], a["x2"], swap=True, reduction="none"),
        "triplet_margin_loss_backward": lambda a: F.triplet_margin_loss_backward(
            a["x"], a["y"], a["x2"], p=1, reduction="sum"),
        "multi_margin_loss": lambda a: F.multi_margin_loss(a["lx"], a["lt"] % 5, p=2,
                                                           weight=a["pw"], reduction="none"),
        "multi_margin_loss_backward": lambda a: F.multi_margin_loss_backward(
            a["lx"], a["lt"] % 5, weight=a["pw"], reduction="none",
            grad_output=a["g"][:, 0, 0]),
        # targets: classes 1, 3, then -1
        "multilabel_margin_loss": lambda a: F.multilabel_margin_loss(
            a["lx"], a["mlt"], reduction="none"),
        "multilabel_margin_loss_backward": lambda a: F.multilabel_margin_loss_backward(
            a["lx"], a["mlt"]),
        "logsumexp": lambda a: F.logsumexp(a["x"], (0, 2), keepdim=True),
        "logsumexp_backward": lambda a: F.logsumexp_backward(a["x"], 1, grad_output=a["tg"]),
        "glu": lambda a: F.glu(a["x"], dim=1),
        "glu_backward": lambda a: F.glu_backward(a["x"], 1, grad_output=a["gg"]),
        "gumbel_softmax": lambda a: F.gumbel_softmax(a["gl"], 0.5, hard=True, dim=1, rng=0),
        "gumbel_softmax_backward": lambda a: F.gumbel_softmax_backward(
            a["x"], 0.5, dim=1, grad_output=a["g"], sample=a["sm_out"]),
        "one_hot": lambda a: F.one_hot(a["ct"], SHAPE[1]),
        "ctc_loss": lambda a: F.ctc_loss(a["clp"], a["ctg"], a["cil"], a["ctl"]),
        "ctc_loss_backward": lambda a: F.ctc_loss_backward(
            a["clp"], a["ctg"], a["cil"], a["ctl"], reduction="none", grad_output=a["cg"]),
    })
    return calls


PUBLIC_CALLS = public_calls()


def test_table_covers_every_public_function():
    assert sorted(PUBLIC_CALLS) == PUBLIC_FUNCTIONS


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_every_public_function_is_lazy_and_equal(name, rng):
    """Every operand a Dask array split along every axis: the call reads
    nothing, returns Dask arrays of the in-memory dtype and shape, and
    computes to the in-memory result."""
    operands = problem(rng)
    expected = _as_tuple(PUBLIC_CALLS[name](operands))
    reads = Reads()
    lazy_operands = {key: reads(a, chunks=PROBLEM_CHUNKS.get(key)) for key, a in operands.items()}
    got = _as_tuple(PUBLIC_CALLS[name](lazy_operands))
    assert reads.count == 0, f"{name} read {reads.count} blocks before .compute()"
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        # a loose common tolerance here; the tests below hold each family to its own
        assert_close(g, e, rtol=1e-12, atol=1e-13 * np.max(np.abs(e), initial=1.0))
    assert reads.count > 0


def test_linear_cross_entropy_module_refuses_dask_arrays(rng):
    # its backward adds into NumPy parameter gradients: the functions are lazy
    x = lazy(rng.standard_normal((6, 4)))
    with pytest.raises(NotImplementedError, match="linear_cross_entropy_backward"):
        fastnl.nn.LinearCrossEntropy(4, 5, rng=0)(x, np.zeros(6, int))


def test_import_fastnl_does_not_import_dask(fresh_python):
    """dask stays an optional extra: in-memory calls never import it."""
    code = (
        "import sys, numpy as np, fastnl\n"
        "fastnl.relu([1.0]); fastnl.gelu_backward([1.0], [0.5]); fastnl.rrelu([-1.0])\n"
        "fastnl.prelu_backward(np.ones((2, 3)), np.ones((2, 3)), [0.1, 0.2, 0.3])\n"
        "fastnl.softmax(np.ones((2, 3)), axis=0)\n"
        "fastnl.log_softmax_backward(np.ones(3), np.zeros(3))\n"
        "fastnl.cross_entropy(np.zeros((2, 3)), [0, 1])\n"
        "fastnl.nll_loss(np.zeros((2, 3)), [0, 1])\n"
        "fastnl.cross_entropy_backward(np.zeros((2, 3)), np.full((2, 3), 1 / 3))\n"
        "fastnl.mse_loss([1.0], [2.0]); fastnl.binary_cross_entropy_with_logits([1.0], [0.0])\n"
        "fastnl.nn.Softmax(dim=0)(np.ones(3))\n"
        "loaded = sorted(m for m in sys.modules if m == 'dask' or m.startswith('dask.'))\n"
        "assert not loaded, loaded\n"
    )
    fresh_python(code)


# ---------------------------------------------------------------- elementwise activations

def special_input(rng, dtype, shape=(6, 5, 4)):
    """Random values with infinities, NaN, signed zeros and huge values spread
    over the blocks."""
    x = rng.standard_normal(shape) * 5
    x.flat[[0, 17, 33, 58, 71, 99, 110]] = [np.inf, -np.inf, np.nan, -0.0, 0.0, 1e30, -1e30]
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_activation_bitwise(name, params, dtype, rng):
    """Blockwise on the existing chunks: the same bits as in memory, the same chunks."""
    x = special_input(rng, dtype)
    dx = lazy(x)
    got = getattr(fastnl, name)(dx, **params)
    assert got.chunks == dx.chunks
    assert_bitwise(got, getattr(fastnl, name)(x, **params))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_activation_backward_bitwise(name, params, dtype, rng):
    x = special_input(rng, dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    g.flat[5] = np.nan
    b = getattr(fastnl, f"{name}_backward")

    def call(g, x):
        result = b(g, x, **params)
        return result[0] if name == "prelu" else result  # prelu: (grad_x, grad_weight)

    expected = call(g, x)
    dg, dx = lazy(g), lazy(x)
    got = call(dg, dx)
    assert got.chunks == dx.chunks
    assert_bitwise(got, expected)
    # numpy and Dask operands mixed, and grad_output with chunks of its own
    assert_bitwise(call(g, dx), expected)
    assert_bitwise(call(dg, x), expected)
    assert_bitwise(call(lazy(g, chunks=(4, 2, 3)), dx), expected)


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("name, params", [("relu", {}), ("gelu", {}), ("softplus", {"beta": 2.0}),
                                          ("hardtanh", {"min_val": -2.0, "max_val": 0.5})])
def test_activation_chunked_along_each_axis(name, params, chunking, rng):
    x = special_input(rng, np.float64)
    g = rng.standard_normal(x.shape)
    dx = lazy(x, CHUNKINGS[chunking])
    assert_bitwise(getattr(fastnl, name)(dx, **params), getattr(fastnl, name)(x, **params))
    b = getattr(fastnl, f"{name}_backward")
    assert_bitwise(b(lazy(g, CHUNKINGS[chunking]), dx, **params), b(g, x, **params))


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("lazy_weight", [False, True])
def test_prelu_per_channel(chunking, lazy_weight, rng):
    """One weight per channel (axis 1): the channels split across blocks, the
    weight as numpy or as a Dask array chunked differently from x."""
    x = special_input(rng, np.float64)
    g = rng.standard_normal(x.shape)
    w = rng.uniform(-0.5, 0.5, x.shape[1])
    dx, dw = lazy(x, CHUNKINGS[chunking]), (lazy(w, chunks=3) if lazy_weight else w)
    assert_bitwise(fastnl.prelu(dx, dw), fastnl.prelu(x, w))
    grad_x, grad_w = fastnl.prelu_backward(lazy(g, CHUNKINGS[chunking]), dx, dw)
    expected_x, expected_w = fastnl.prelu_backward(g, x, w)
    assert_bitwise(grad_x, expected_x)
    # grad_weight sums over the blocks: another order of the float64 sums
    assert_close(grad_w, expected_w, rtol=1e-12)


def test_prelu_single_weight_backward(rng):
    x = rng.standard_normal((40, 30))
    g = rng.standard_normal((40, 30))
    grad_x, grad_w = fastnl.prelu_backward(lazy(g), lazy(x), [0.25])
    expected_x, expected_w = fastnl.prelu_backward(g, x, [0.25])
    assert_bitwise(grad_x, expected_x)
    assert_close(grad_w, expected_w, rtol=1e-12)


def test_rrelu_training(rng):
    """Reproducible for an int seed (same chunks), a fresh slope per negative
    element (no block repeats another's draws), slopes in [lower, upper];
    not required to equal the in-memory draws."""
    x = rng.standard_normal((40, 30))
    dx = lazy(x, chunks=(15, 10))
    y, noise = fastnl.rrelu(dx, 0.1, 0.3, training=True, rng=7, return_noise=True)
    assert isinstance(y, da.Array) and isinstance(noise, da.Array)
    assert y.dtype == noise.dtype == np.float64
    y_again = fastnl.rrelu(dx, 0.1, 0.3, training=True, rng=7)
    y_other = fastnl.rrelu(dx, 0.1, 0.3, training=True, rng=8)
    y, noise = dask.compute(y, noise)
    np.testing.assert_array_equal(y_again.compute(), y)
    assert not np.array_equal(y_other.compute(), y)
    neg = x <= 0
    assert np.all(noise[~neg] == 1)
    slopes = noise[neg]
    assert np.all((slopes >= 0.1) & (slopes <= 0.3))
    assert np.unique(slopes).size == slopes.size  # no two blocks share a stream
    np.testing.assert_array_equal(y, np.where(neg, x * noise, x))
    # the backward from the (Dask) noise, grad_output chunked differently from x
    g = rng.standard_normal(x.shape)
    _, dnoise = fastnl.rrelu(dx, 0.1, 0.3, training=True, rng=7, return_noise=True)
    got = fastnl.rrelu_backward(lazy(g), dx, 0.1, 0.3, training=True, noise=dnoise)
    assert_bitwise(got, fastnl.rrelu_backward(g, x, 0.1, 0.3, training=True, noise=noise))


def test_activation_dtypes(rng):
    """The dtype policy (docs: API conventions) on Dask arrays: float16 computed in float32 and
    returned as float16, integers and bool in float64."""
    for x in (rng.standard_normal(20).astype(np.float16), np.arange(-10, 10),
              np.arange(20) % 3 == 0):
        for name in ("relu", "gelu", "sigmoid"):
            assert_bitwise(getattr(fastnl, name)(lazy(x)), getattr(fastnl, name)(x))
    h = rng.standard_normal((6, 5)).astype(np.float16)
    assert_close(fastnl.softmax(lazy(h), axis=1), fastnl.softmax(h, axis=1), rtol=1e-3)


# ---------------------------------------------------------------- softmax family

def axis_tolerance(name, dtype, x, temperature, g=None):
    """Split axis: the same formula with the float64 sums in another order.
    float64 1e-12 relative (float32 1e-6, a few ulp); an absolute part for
    values that are differences (log_softmax near 0, the backward's
    g - sum(g y)): a few hundred eps of the scale of what was subtracted.

    Softmax values: at least the in-memory kernel's own error bound
    (tests/test_softmax.py), 8 eps (1 + log n + max|x| / T) relative: the
    float32 kernel rounds (x - max) / T in float32, an error of eps |d| in
    the exponent (4e-6 relative at T = 0.3 here), where the split-axis path
    works in float64; that bound is below 1e-12 for float64."""
    eps = np.finfo(dtype).eps
    rtol = rtol_of(dtype)
    if g is not None:
        scale = x.shape[1] * np.max(np.abs(g)) / temperature  # any axis: n <= 7
    elif name == "log_softmax":
        scale = 1 + np.max(np.abs(x)) / temperature
    else:
        scale = 1e-300 / eps  # softmax values: relative only
        rtol = max(rtol, 8 * eps * (1 + np.log(max(x.shape)) + np.max(np.abs(x)) / temperature))
    return rtol, 256 * eps * scale


@pytest.mark.parametrize("temperature", [1.0, 0.3])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("split", ["axis", "others", "all"])
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("name", AXIS_FUNCS)
def test_softmax_family(name, axis, split, dtype, temperature, rng):
    """Split axis ('axis', 'all'): exact two-pass normalisation, equal to
    the in-memory result within the tolerance. Unsplit axis ('others'):
    blockwise, bitwise."""
    x = (rng.standard_normal((6, 7, 5)) * 4).astype(dtype)
    ax = axis % 3
    split_axes = {"axis": (ax,), "others": tuple(a for a in range(3) if a != ax),
                  "all": (0, 1, 2)}[split]
    dx = lazy(x, split_axes)
    f = getattr(fastnl, name)
    got = f(dx, axis=axis, temperature=temperature)
    assert got.chunks == dx.chunks
    expected = f(x, axis=axis, temperature=temperature)
    if split == "others":
        assert_bitwise(got, expected)
    else:
        assert_close(got, expected, *axis_tolerance(name, dtype, x, temperature))


@pytest.mark.parametrize("temperature", [1.0, 0.3])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("split", ["axis", "others", "all"])
@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("name", AXIS_FUNCS)
def test_softmax_family_backward(name, axis, split, dtype, temperature, rng):
    x = (rng.standard_normal((6, 7, 5)) * 4).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    y = getattr(fastnl, name)(x, axis=axis, temperature=temperature)
    split_axes = {"axis": (axis,), "others": tuple(a for a in range(3) if a != axis),
                  "all": (0, 1, 2)}[split]
    b = getattr(fastnl, f"{name}_backward")
    expected = b(g, y, axis=axis, temperature=temperature)
    got = b(lazy(g, split_axes), lazy(y, split_axes), axis=axis, temperature=temperature)
    if split == "others":
        assert_bitwise(got, expected)
    else:
        assert_close(got, expected, *axis_tolerance(name, dtype, x, temperature, g))
    # numpy grad_output with a Dask output
    got = b(g, lazy(y, split_axes), axis=axis, temperature=temperature)
    assert_close(got, expected, *axis_tolerance(name, dtype, x, temperature, g))


def test_softmax_dtype_and_dim_alias(rng):
    x = (rng.standard_normal((6, 7)) * 4).astype(np.float32)
    dx = lazy(x, chunks=(2, 3))
    got = fastnl.log_softmax(dx, dim=1, dtype=np.float64)  # cast first, as torch
    assert_close(got, fastnl.log_softmax(x, dim=1, dtype=np.float64),
                 *axis_tolerance("log_softmax", np.float64, x, 1.0))
    assert_close(fastnl.softmin(dx, dim=0), fastnl.softmin(x, dim=0), 1e-6, 1e-30)
    # integers: computed in float64
    i = np.arange(42).reshape(6, 7) % 5
    assert_close(fastnl.softmax(lazy(i, chunks=(2, 3)), axis=1), fastnl.softmax(i, axis=1), 1e-12)


INF = np.inf
# Rows of 8 logits whose values test the combination across two chunks of 4.
SPECIAL_ROWS = np.array([
    [INF, 1, 2, 3, 4, INF, 0, -1],             # +inf in both chunks: they share the mass
    [INF, 0, 0, 0, 0, 0, 0, 0],                # +inf in one chunk only
    [0, 0, 0, 0, 0, 0, np.nan, 0],             # NaN: a NaN row
    [-1e30, 1e30, 0, 0, 1e30, -1e30, 5, 5],    # huge logits: no overflow
    [-INF, 0, 1, 2, -INF, 3, 4, 5],            # -inf: probability 0, log -inf
    [-INF] * 8,                                # all -inf (softmin: all +inf)
    [-1000] * 4 + [0, 1, 2, 3],                # the first chunk underflows entirely
    [-INF, -INF, 0, 0, 0, 0, -INF, 1],
    [-INF, -INF, -INF, -INF, 0, 1, 2, 3],      # one chunk all -inf
    [INF, -INF, np.nan, 0, 1, 2, 3, 4],
])


@pytest.mark.parametrize("temperature", [1.0, 0.5])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chunks", [(3, 4), (10, 3)])
@pytest.mark.parametrize("name", AXIS_FUNCS)
def test_softmax_special_values_on_split_axis(name, chunks, dtype, temperature):
    """Never silently wrong on a chunked axis: infinities, NaN and huge
    logits give what the in-memory function gives (same inf and NaN positions)."""
    x = SPECIAL_ROWS.astype(dtype)
    f = getattr(fastnl, name)
    expected = f(x, axis=1, temperature=temperature)
    assert_close(f(lazy(x, chunks=chunks), axis=1, temperature=temperature), expected,
                 rtol_of(dtype), 1e-30)
    # and along axis 0, split as well
    assert_close(f(lazy(x.T, chunks=chunks[::-1]), axis=0, temperature=temperature), expected.T,
                 rtol_of(dtype), 1e-30)


# ---------------------------------------------------------------- pointwise losses

POINTWISE = [
    ("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.3}),
    ("huber_loss", {"delta": 0.4}), ("kl_div", {}), ("kl_div", {"log_target": True}),
    ("binary_cross_entropy", {"weight": True}),
    ("binary_cross_entropy_with_logits", {"weight": True, "pos_weight": True}),
    ("poisson_nll_loss", {"full": True}), ("soft_margin_loss", {}),
    ("hinge_embedding_loss", {"margin": 0.5}),
]
POINTWISE_IDS = [f"{n}-{i}" for i, (n, _) in enumerate(POINTWISE)]


def pointwise_problem(name, params, rng, dtype, shape=(6, 5, 4)):
    """(input, target, keyword arguments) of one pointwise loss, numpy."""
    kwargs = {k: v for k, v in params.items() if k not in ("weight", "pos_weight")}
    if name == "kl_div":
        x = np.log(rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]))
        q = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
        q[0, 0, 1] = 0.0  # 0 log 0 = 0 (log_target: -inf)
        with np.errstate(divide="ignore"):
            y = np.log(q) if params.get("log_target") else q
    elif name == "binary_cross_entropy":
        x, y = rng.uniform(0, 1, shape), rng.uniform(0, 1, shape)
        x.flat[:3] = [0.0, 1.0, 1e-30]  # the clamp of the log at -100
        y.flat[:2] = [1.0, 0.0]
    else:
        x, y = rng.standard_normal(shape) * 2, rng.standard_normal(shape)
        if name == "binary_cross_entropy_with_logits":
            y = rng.uniform(0, 1, shape)
            x.flat[:2] = [1e4, -1e4]
        if name == "poisson_nll_loss":  # counts, some above 1 (Stirling's term)
            y = rng.integers(0, 6, shape).astype(float)
        if name in ("soft_margin_loss", "hinge_embedding_loss"):
            y = rng.choice([-1.0, 1.0], shape)
    if params.get("weight"):
        kwargs["weight"] = rng.uniform(0.5, 2, (shape[1], 1)).astype(dtype)  # broadcast
    if params.get("pos_weight"):
        kwargs["pos_weight"] = rng.uniform(0.5, 3, shape[2]).astype(dtype)
    return x.astype(dtype), y.astype(dtype), kwargs


def reductions_of(name):
    return ["mean", "sum", "none"] + (["batchmean"] if name == "kl_div" else [])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("name, params", POINTWISE, ids=POINTWISE_IDS)
def test_pointwise_loss(name, params, chunking, dtype, rng):
    """'none': the same bits; reduced: per-block partial sums combined in a
    tree, 0-d results of the input's dtype within 1e-12 (float32 1e-6)."""
    x, y, kwargs = pointwise_problem(name, params, rng, dtype)
    axes = CHUNKINGS[chunking]
    lazy_kwargs = {k: lazy(v, chunks=2) for k, v in kwargs.items()}  # chunks of their own
    f = getattr(fastnl, name)
    for reduction in reductions_of(name):
        expected = quiet(f, x, y, reduction=reduction, **kwargs)
        got = quiet(f, lazy(x, axes), lazy(y, axes), reduction=reduction, **lazy_kwargs)
        if reduction == "none":
            assert_bitwise(got, expected)
        else:
            assert got.ndim == 0
            assert_close(got, expected, rtol_of(dtype))
        # numpy and Dask operands mixed
        got = quiet(f, lazy(x, axes), y, reduction=reduction, **kwargs)
        assert_close(got, expected, rtol_of(dtype))
        got = quiet(f, x, lazy(y, axes), reduction=reduction, **kwargs)
        assert_close(got, expected, rtol_of(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("name, params", POINTWISE, ids=POINTWISE_IDS)
def test_pointwise_loss_backward(name, params, chunking, dtype, rng):
    x, y, kwargs = pointwise_problem(name, params, rng, dtype)
    axes = CHUNKINGS[chunking]
    lazy_kwargs = {k: lazy(v, chunks=2) for k, v in kwargs.items()}
    b = getattr(fastnl, f"{name}_backward")
    g = rng.standard_normal(x.shape).astype(dtype)
    for reduction in reductions_of(name):
        if reduction == "none":  # an upstream gradient per element: the same bits
            expected = b(x, y, reduction=reduction, grad_output=g, **kwargs)
            got = b(lazy(x, axes), lazy(y, axes), reduction=reduction,
                    grad_output=lazy(g, chunks=(4, 2, 3)), **lazy_kwargs)
            assert_bitwise(got, expected)
        else:  # a scalar upstream gradient, also as a 0-d Dask array (a chained loss)
            expected = b(x, y, reduction=reduction, grad_output=0.5, **kwargs)
            for upstream in (0.5, da.from_array(np.float64(0.5))):
                got = b(lazy(x, axes), lazy(y, axes), reduction=reduction,
                        grad_output=upstream, **lazy_kwargs)
                assert_close(got, expected, rtol_of(dtype))


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("name, params", POINTWISE, ids=POINTWISE_IDS)
def test_pointwise_loss_backward_scalar_upstream_of_none(name, params, chunking, rng):
    """reduction='none' with a scalar grad_output (the default, a float, a 0-d
    Dask array): every element's, the in-memory bits."""
    x, y, kwargs = pointwise_problem(name, params, rng, np.float32)
    axes = CHUNKINGS[chunking]
    lazy_kwargs = {k: lazy(v, chunks=2) for k, v in kwargs.items()}
    b = getattr(fastnl, f"{name}_backward")
    assert_bitwise(b(lazy(x, axes), lazy(y, axes), reduction="none", **lazy_kwargs),
                   b(x, y, reduction="none", **kwargs))
    expected = b(x, y, reduction="none", grad_output=np.full(x.shape, 0.1), **kwargs)
    for upstream in (0.1, da.from_array(np.float64(0.1))):
        got = b(lazy(x, axes), lazy(y, axes), reduction="none", grad_output=upstream,
                **lazy_kwargs)
        assert_bitwise(got, expected)


def test_pointwise_broadcast_target_warns_at_call(rng):
    """The target broadcast to the input, with torch's UserWarning, raised
    when the call is made (it depends on shapes only)."""
    x, y = rng.standard_normal((12, 4)), rng.standard_normal(4)
    with pytest.warns(UserWarning, match="target size"):
        got = fastnl.mse_loss(lazy(x, chunks=(5, 2)), lazy(y, chunks=3), reduction="none")
    assert_bitwise(got, quiet(fastnl.mse_loss, x, y, reduction="none"))
    with pytest.warns(UserWarning, match="target size"):
        got = fastnl.huber_loss(lazy(x, chunks=(5, 2)), y)
    assert_close(got, quiet(fastnl.huber_loss, x, y), 1e-12)


def test_pointwise_empty_and_float16():
    e = np.zeros((0, 3))
    got = fastnl.mse_loss(lazy(e, chunks=(1, 3)), lazy(e, chunks=(1, 3)))
    assert np.isnan(got.compute())
    assert fastnl.mse_loss(lazy(e, chunks=(1, 3)), e, reduction="sum").compute() == 0
    h = np.linspace(-2, 2, 30).astype(np.float16).reshape(6, 5)
    got = fastnl.l1_loss(lazy(h, chunks=(2, 2)), lazy(np.zeros((6, 5)), chunks=(3, 5)))
    assert_close(got, fastnl.l1_loss(h, np.zeros((6, 5))), 1e-3)


# ---------------------------------------------------------------- cross_entropy, nll_loss

CLASS_CHUNKINGS = {"rows": (0,), "classes": (1,), "spatial": (2,), "all": (0, 1, 2)}
CE_VARIANTS = {
    "plain": {},  # the default ignore_index -100: some rows ignored (class_problem)
    "weight": {"weight": True},
    "ignore_index": {"ignore_index": 1},
    "smoothing_weight": {"weight": True, "label_smoothing": 0.1},
    "smoothing_ignore": {"label_smoothing": 0.1, "ignore_index": 1},
    "probabilities": {"probabilities": True},
    "probabilities_smoothing_weight": {"probabilities": True, "weight": True,
                                       "label_smoothing": 0.1},
}
NLL_VARIANTS = {k: CE_VARIANTS[k] for k in ("plain", "weight", "ignore_index")}


def class_case(name, variant, chunking, dtype, rng, shape=SHAPE):
    """(numpy args, Dask args, keyword args numpy, keyword args Dask, split axes)
    of cross_entropy / nll_loss; nll_loss reads log-probabilities (so the
    losses are positive and their sums free of cancellation)."""
    ignore_index = variant.get("ignore_index", -100)
    x, t, w = class_problem(rng, shape, dtype, ignore_index)
    if name == "nll_loss":
        x = fastnl.log_softmax(x, axis=1)
    axes = CLASS_CHUNKINGS[chunking]
    if variant.get("probabilities"):
        t = np.moveaxis(rng.dirichlet(np.ones(shape[1]), size=shape[:1] + shape[2:]), -1, 1)
        t = t.astype(dtype)
        dt = lazy(t, axes)
    else:
        dt = lazy(t, target_axes(axes))
    kwargs = {"ignore_index": ignore_index}
    if "label_smoothing" in variant:
        kwargs["label_smoothing"] = variant["label_smoothing"]
    lazy_kwargs = dict(kwargs)
    if variant.get("weight"):
        kwargs["weight"], lazy_kwargs["weight"] = w, lazy(w, chunks=4)
    return (x, t), (lazy(x, axes), dt), kwargs, lazy_kwargs, axes


def none_tolerance(dtype, x):
    """Per-row losses with the class axis split: a two-pass logsumexp, the
    same as one pass up to a few eps of the logits' scale (absolute: a
    loss near 0 is a difference)."""
    eps = np.finfo(dtype).eps
    return rtol_of(dtype), 16 * eps * (1 + np.max(np.abs(x)))


# nll_loss has no label smoothing and no class probabilities
CLASS_VARIANTS = ([("cross_entropy", v) for v in CE_VARIANTS]
                  + [("nll_loss", v) for v in NLL_VARIANTS])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name, variant", CLASS_VARIANTS)
@pytest.mark.parametrize("chunking", CLASS_CHUNKINGS)
def test_class_loss(chunking, name, variant, reduction, dtype, rng):
    (x, t), (dx, dt), kwargs, lazy_kwargs, axes = class_case(
        name, CE_VARIANTS[variant], chunking, dtype, rng)
    f = getattr(fastnl, name)
    expected = f(x, t, reduction=reduction, **kwargs)
    got = f(dx, dt, reduction=reduction, **lazy_kwargs)
    if reduction != "none":
        assert got.ndim == 0
        assert_close(got, expected, rtol_of(dtype))
    elif 1 not in axes:  # rows / spatial split: the per-row kernel on whole rows
        assert_bitwise(got, expected)
    elif name == "nll_loss":  # a gather across the class chunks: exact in any case
        assert_close(got, expected, rtol_of(dtype))
    else:
        assert_close(got, expected, *none_tolerance(dtype, x))


def class_grad_tolerance(dtype, x, expected):
    """p_j A - a_j, with p from a two-pass logsumexp when the class axis is
    split: a few eps relative, plus an absolute part for the difference."""
    rtol, atol = none_tolerance(dtype, x)
    return rtol, atol * np.max(np.abs(expected))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("chunking", CLASS_CHUNKINGS)
@pytest.mark.parametrize("name, variant", CLASS_VARIANTS)
def test_class_loss_backward(name, variant, chunking, reduction, dtype, rng):
    (x, t), (dx, dt), kwargs, lazy_kwargs, axes = class_case(
        name, CE_VARIANTS[variant], chunking, dtype, rng)
    b = getattr(fastnl, f"{name}_backward")
    if reduction == "none":  # an upstream gradient per row, chunked like the target rows
        g = rng.standard_normal(x.shape[:1] + x.shape[2:]).astype(dtype)
        expected = b(x, t, reduction=reduction, grad_output=g, **kwargs)
        got = b(dx, dt, reduction=reduction, grad_output=lazy(g, target_axes(axes)),
                **lazy_kwargs)
    else:
        expected = b(x, t, reduction=reduction, grad_output=0.5, **kwargs)
        got = b(dx, dt, reduction=reduction, grad_output=0.5, **lazy_kwargs)
    if reduction == "none" and 1 not in axes:
        assert_bitwise(got, expected)
    else:
        assert_close(got, expected, *class_grad_tolerance(dtype, x, expected))


@pytest.mark.parametrize("chunking", CLASS_CHUNKINGS)
@pytest.mark.parametrize("name, variant", CLASS_VARIANTS)
def test_class_loss_backward_scalar_upstream_of_none(name, variant, chunking, rng):
    """reduction='none' with a scalar grad_output: every row's, as in memory."""
    (x, t), (dx, dt), kwargs, lazy_kwargs, axes = class_case(
        name, CE_VARIANTS[variant], chunking, np.float64, rng)
    b = getattr(fastnl, f"{name}_backward")
    rows = x.shape[:1] + x.shape[2:]
    for upstream in (1.0, 0.1, da.from_array(np.float64(0.1))):
        expected = b(x, t, reduction="none", grad_output=np.full(rows, float(upstream)),
                     **kwargs)
        got = b(dx, dt, reduction="none", grad_output=upstream, **lazy_kwargs)
        if 1 not in axes:
            assert_bitwise(got, expected)
        else:
            assert_close(got, expected, *class_grad_tolerance(np.float64, x, expected))
    # a single row (C,), its classes split: the scalar is that row's upstream
    v, target = x[0, :, 0], (t[0, :, 0] if t.ndim == 3 else int(t[0, 0]))
    kwargs.pop("weight", None), lazy_kwargs.pop("weight", None)
    expected = b(v, target, reduction="none", grad_output=0.1, **kwargs)
    got = b(lazy(v, chunks=2), target, reduction="none", grad_output=0.1, **lazy_kwargs)
    assert_close(got, expected, *class_grad_tolerance(np.float64, v, expected))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_class_losses_mixed_operands(reduction, rng):
    """numpy target / weight with a Dask input, a Dask target with a numpy input."""
    x, t, w = class_problem(rng, SHAPE, np.float64, -100)
    expected = fastnl.cross_entropy(x, t, w, reduction=reduction, label_smoothing=0.1)
    for args in [(lazy(x), t, w), (x, lazy(t), w), (x, t, lazy(w, chunks=4)),
                 (lazy(x, (0,)), lazy(t, chunks=(8, 2)), w)]:  # target chunked differently
        got = fastnl.cross_entropy(*args, reduction=reduction, label_smoothing=0.1)
        assert_close(got, expected, *none_tolerance(np.float64, x))
    logp = fastnl.log_softmax(x, axis=1)
    expected = fastnl.nll_loss(logp, t, w, reduction=reduction)
    assert_close(fastnl.nll_loss(lazy(logp), t, w, reduction=reduction), expected, 1e-12)
    assert_close(fastnl.nll_loss(logp, lazy(t), lazy(w), reduction=reduction), expected, 1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_class_losses_one_and_two_dims(reduction, rng):
    """(N, C) split over rows and classes; (C,) split over classes with a
    0-d target (python int, 0-d numpy, 0-d Dask)."""
    x, t, w = class_problem(rng, (12, 7), np.float64, -100)
    for f in (fastnl.cross_entropy, fastnl.nll_loss):
        expected = f(x, t, w, reduction=reduction)
        got = f(lazy(x, chunks=(5, 3)), lazy(t, chunks=5), lazy(w, chunks=4), reduction=reduction)
        assert_close(got, expected, *none_tolerance(np.float64, x))
        v = x[0]
        expected = f(v, 4, w, reduction=reduction)
        for target in (4, np.int64(4), da.from_array(np.int64(4))):
            got = f(lazy(v, chunks=3), target, w, reduction=reduction)
            assert got.ndim == 0
            assert_close(got, expected, *none_tolerance(np.float64, x))
    p = rng.dirichlet(np.ones(7), 12)
    expected = fastnl.cross_entropy(x, p, w, reduction=reduction, label_smoothing=0.2)
    got = fastnl.cross_entropy(lazy(x, chunks=(5, 3)), lazy(p, chunks=(4, 2)), w,
                               reduction=reduction, label_smoothing=0.2)
    assert_close(got, expected, *none_tolerance(np.float64, x))


def test_class_losses_edge_cases():
    """Means over zero counted weight are NaN, sums 0, as in memory."""
    x = lazy(np.ones((6, 4)), chunks=(2, 3))
    for f in (fastnl.cross_entropy, fastnl.nll_loss):
        ignored = lazy(np.full(6, -100), chunks=2)
        assert np.isnan(f(x, ignored).compute())
        assert f(x, ignored, reduction="sum").compute() == 0
        np.testing.assert_array_equal(f(x, ignored, reduction="none").compute(), 0)
        zero_weight = f(x, lazy(np.array([0, 0, 1, 1, 0, 1]), chunks=2),
                        weight=lazy(np.array([0.0, 0.0, 1.0, 1.0]), chunks=3))
        assert np.isnan(zero_weight.compute())
    assert np.isnan(fastnl.cross_entropy(x, ignored, label_smoothing=0.2).compute())


def test_cross_entropy_extreme_logits_on_split_classes():
    """No overflow in the two-pass logsumexp: exact answers 0, 2e4, 0."""
    x = np.array([[1e4, -1e4], [-1e4, 1e4], [3e38, -3e38]], dtype=np.float32)
    t = np.array([0, 0, 0])
    got = fastnl.cross_entropy(lazy(x, chunks=(2, 1)), lazy(t, chunks=2), reduction="none")
    expected = fastnl.cross_entropy(x, t, reduction="none")
    np.testing.assert_array_equal(expected, [0.0, 2e4, 0.0])
    assert_bitwise(got, expected)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_special_logits_on_split_classes(reduction):
    """+-inf, NaN and +-1e30 logits in a split class axis: what memory gives."""
    x = np.array([[INF, 0, 1, 2], [-INF, 0, 1, 2], [1e30, -1e30, 0, 1], [np.nan, 0, 1, 2],
                  [-INF] * 4])
    t = np.array([0, 1, 0, 2, 1])
    upstream = np.linspace(0.5, 1.5, 5) if reduction == "none" else 1.0
    for smoothing in (0.0, 0.1):
        with np.errstate(all="ignore"):
            expected = fastnl.cross_entropy(x, t, reduction=reduction,
                                            label_smoothing=smoothing)
            grad = fastnl.cross_entropy_backward(x, t, reduction=reduction,
                                                 label_smoothing=smoothing,
                                                 grad_output=upstream)
        got = fastnl.cross_entropy(lazy(x, chunks=(2, 2)), lazy(t, chunks=2),
                                   reduction=reduction, label_smoothing=smoothing)
        assert_close(got, expected, 1e-12)
        got = fastnl.cross_entropy_backward(lazy(x, chunks=(2, 1)), t, reduction=reduction,
                                            label_smoothing=smoothing, grad_output=upstream)
        assert_close(got, grad, 1e-12)


def test_empty_and_zero_d_inputs():
    e = np.zeros((0, 4))
    de = lazy(e, chunks=(1, 2))
    for axis in (0, 1):
        assert_bitwise(fastnl.softmax(de, axis=axis), fastnl.softmax(e, axis=axis))
    for got, expected in [
            (fastnl.cross_entropy(de, np.zeros(0, int)), fastnl.cross_entropy(e, np.zeros(0, int))),
            (fastnl.cross_entropy(de, e), fastnl.cross_entropy(e, e)),  # probabilities
            (fastnl.kl_div(de, e, reduction="batchmean"),
             fastnl.kl_div(e, e, reduction="batchmean"))]:
        assert_close(got, expected, 1e-12)  # NaN, as in memory
    s = np.float64(-2.0)
    assert_bitwise(fastnl.relu(da.from_array(s)), fastnl.relu(s))
    assert_bitwise(fastnl.softmax(da.from_array(s)), fastnl.softmax(s))
    assert_bitwise(fastnl.mse_loss(da.from_array(s), 1.0), fastnl.mse_loss(s, 1.0))


def test_reductions_are_deterministic(rng):
    """The tree reduction combines the blocks in a fixed order: the same bits
    from compute to compute."""
    x, t = rng.standard_normal((200, 30)), rng.integers(0, 30, 200)
    loss = fastnl.cross_entropy(lazy(x, chunks=(7, 4)), lazy(t, chunks=9), label_smoothing=0.1)
    assert loss.compute().tobytes() == loss.compute().tobytes()
    p = fastnl.softmax(lazy(x, chunks=(7, 4)), axis=1)
    assert p.compute().tobytes() == p.compute().tobytes()


def test_broadcast_input_gradient_summed_back(rng):
    """An input smaller than the target: the loss broadcasts it, the gradient
    is summed back to the input's shape, as in memory."""
    y, x = rng.standard_normal((12, 4)), rng.standard_normal(4)
    dx = lazy(x, chunks=2)
    assert_bitwise(quiet(fastnl.mse_loss, dx, y, reduction="none"),
                   quiet(fastnl.mse_loss, x, y, reduction="none"))
    assert_close(quiet(fastnl.mse_loss_backward, dx, lazy(y, chunks=(5, 3))),
                 quiet(fastnl.mse_loss_backward, x, y), 1e-12)


def test_class_losses_dtypes(rng):
    x = rng.standard_normal((6, 4))
    t = np.array([0, 1, 2, 3, 0, 1])
    for f in (fastnl.cross_entropy, fastnl.nll_loss):
        for xx in (x.astype(np.float16), np.arange(24).reshape(6, 4), x.astype(np.float32)):
            got = f(lazy(xx, chunks=(2, 2)), lazy(t, chunks=2))
            assert got.ndim == 0
            assert_close(got, f(xx, t), 1e-3 if xx.dtype == np.float16 else rtol_of(got.dtype))
        # any integer target dtype
        for dtype in (np.int32, np.uint8):
            assert_close(f(lazy(x, chunks=(2, 2)), lazy(t.astype(dtype), chunks=2)), f(x, t),
                         1e-12)


# ---------------------------------------------------------------- errors

def _errors(x, t, w, p):
    """Calls that fail on shapes, dtypes or parameters alone (x (8, 6, 5)
    logits, t (8, 5) class indices, w (6,) class weights, p (8, 6, 5) values
    in (0, 1))."""
    F = fastnl
    return [
        lambda: F.softshrink(x, lambd=-0.1),
        lambda: F.hardshrink(x, lambd=-0.1),
        lambda: F.hardtanh(x, min_val=1.0, max_val=-1.0),
        lambda: F.rrelu(x, lower=0.5, upper=0.1),
        lambda: F.rrelu(x, training=True, rng="seed"),
        lambda: F.gelu(x, approximate="erf"),
        lambda: F.celu(x, alpha=0.0),
        lambda: F.leaky_relu(x, negative_slope="a"),
        lambda: F.prelu(x, w[:4]),
        lambda: F.prelu_backward(x, x, w[:4]),
        lambda: F.rrelu_backward(x, x, training=True),  # no noise
        lambda: F.rrelu_backward(x, x, training=True, noise=x[:2]),
        lambda: F.relu(x.astype(complex)),
        lambda: F.relu_backward(x[:2], x),
        lambda: F.softmax(x, temperature=0.0),
        lambda: F.log_softmax(x, temperature=-1.0),
        lambda: F.softmin(x, axis=3),
        lambda: F.softmax(x, axis=1, dim=1),
        lambda: F.softmax(x, dtype=np.int32),
        lambda: F.softmax(x.astype(complex)),
        lambda: F.softmax_backward(x, x[:2]),
        lambda: F.log_softmax_backward(x, x, temperature=0.0),
        lambda: F.mse_loss(x, x, reduction="avg"),
        lambda: F.mse_loss(x, x, reduction="batchmean"),
        lambda: F.l1_loss(x, x.astype(complex)),
        lambda: F.smooth_l1_loss(x, x, beta=-1.0),
        lambda: F.huber_loss(x, x, delta=0.0),
        lambda: quiet(F.mse_loss, x, x[:, :, :3]),  # shapes that do not broadcast
        lambda: F.mse_loss_backward(x, x, "none", grad_output=x[:2]),
        lambda: F.kl_div(x, x, reduction="avg"),
        lambda: F.binary_cross_entropy(p, p[0, 0]),  # target of another shape
        lambda: F.binary_cross_entropy(p, p, weight=w[:4]),
        lambda: F.binary_cross_entropy_with_logits(x, p, pos_weight=w[:2]),
        lambda: F.cross_entropy(x, t, reduction="batchmean"),
        lambda: F.cross_entropy(x, t[:, :3]),
        lambda: F.cross_entropy(x, p[:, :3]),  # probabilities of the wrong shape
        lambda: F.cross_entropy(x, p, ignore_index=1),
        lambda: F.cross_entropy(x, t, weight=w[:4]),
        lambda: F.cross_entropy(x, t, label_smoothing=1.5),
        lambda: F.cross_entropy(x[0, 0, 0], t[0, 0]),  # 0-d input
        lambda: F.cross_entropy(x, t > 2),  # bool target
        lambda: F.cross_entropy(x.astype(complex), t),
        lambda: F.nll_loss(x, t.astype(np.float64)),  # float target of the wrong shape
        lambda: F.nll_loss(x, p),  # class probabilities: cross_entropy only
        lambda: F.nll_loss(x, t, weight=w.reshape(6, 1)),
        lambda: F.nll_loss_backward(x, t, reduction="none", grad_output=t[:2]),
        lambda: F.cross_entropy_backward(x, t, label_smoothing=-0.1),
    ]


N_ERRORS = len(_errors(None, None, None, None))  # the lambdas are not called here


@pytest.mark.parametrize("i", range(N_ERRORS))
def test_errors_raised_at_call_time(i, rng):
    """Shape, dtype and parameter errors: raised by the call itself, with the
    in-memory exception type, without reading any block."""
    x = rng.standard_normal(SHAPE)
    t = rng.integers(0, SHAPE[1], (SHAPE[0], SHAPE[2]))
    w = rng.uniform(0.5, 2, SHAPE[1])
    p = rng.uniform(0.1, 0.9, SHAPE)
    with pytest.raises((TypeError, ValueError, IndexError)) as in_memory:
        _errors(x, t, w, p)[i]()
    reads = Reads()
    with pytest.raises(type(in_memory.value)):
        _errors(reads(x), reads(t), reads(w), reads(p))[i]()
    assert reads.count == 0


def test_out_is_rejected_for_dask_inputs(rng):
    x = rng.standard_normal((6, 4))
    dx, out = lazy(x, chunks=(2, 2)), np.empty((6, 4))
    for call in (lambda: fastnl.relu(dx, out=out),
                 lambda: fastnl.leaky_relu(dx, 0.1, out=out),
                 lambda: fastnl.rrelu(dx, out=out),
                 lambda: fastnl.relu_backward(dx, x, out=out),
                 lambda: fastnl.prelu_backward(x, dx, [0.1], out=out),
                 lambda: fastnl.softmax(dx, axis=1, out=out),
                 lambda: fastnl.log_softmax_backward(x, dx, out=out),
                 lambda: fastnl.mse_loss_backward(dx, x, out=out),
                 lambda: fastnl.cross_entropy_backward(dx, np.zeros(6, int), out=out)):
        with pytest.raises(TypeError, match="Dask"):
            call()


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "cross_entropy_backward",
                                  "nll_loss_backward"])
@pytest.mark.parametrize("split_classes", [False, True])
def test_class_index_out_of_range_raises_at_compute(name, split_classes, rng):
    """The targets' values are only known when computed: the IndexError,
    naming the bad value, comes from .compute()."""
    x = rng.standard_normal((12, 5))
    t = rng.integers(0, 5, 12)
    f = getattr(fastnl, name)
    for bad in (7, -1):
        t_bad = t.copy()
        t_bad[10] = bad  # in the last block
        reads = Reads()
        got = f(reads(x, chunks=(4, 3 if split_classes else 5)), reads(t_bad, chunks=4))
        assert reads.count == 0
        with pytest.raises(IndexError, match=f"Target {bad}"):
            got.compute()
    # a target equal to ignore_index is not out of range
    t_ignored = t.copy()
    t_ignored[10] = 9
    assert_close(f(lazy(x, chunks=(4, 2)), lazy(t_ignored, chunks=4), ignore_index=9),
                 f(x, t_ignored, ignore_index=9), 1e-12)


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_backward"])
def test_binary_cross_entropy_range_raises_at_compute(name, rng):
    x, y = rng.uniform(0, 1, (12, 5)), rng.uniform(0, 1, (12, 5))
    f = getattr(fastnl, name)
    for bad_x, bad_y, message in [(1.5, 0.5, "input should be between 0 and 1"),
                                  (np.nan, 0.5, "input should be between 0 and 1"),
                                  (0.5, -0.5, "target should be between 0 and 1")]:
        xb, yb = x.copy(), y.copy()
        xb[11, 4], yb[11, 4] = bad_x, bad_y
        reads = Reads()
        got = f(reads(xb, chunks=(4, 5)), reads(yb, chunks=(4, 5)))
        assert reads.count == 0
        with pytest.raises(ValueError, match=message):
            got.compute()


# ---------------------------------------------------------------- dask.distributed

def test_distributed_local_cluster(monkeypatch):
    """The graphs run on two worker processes (pickled fastnl calls, results
    shipped back) and equal the in-memory results."""
    from dask.distributed import Client, LocalCluster

    # the workers import the fastnl this process imported (a checkout or a wheel)
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastnl.__file__)))
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rng = np.random.default_rng(3)
    x, t, w = class_problem(rng, (40, 30), np.float64, -100)
    dx, dt = lazy(x, chunks=(10, 10)), lazy(t, chunks=10)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        loss = fastnl.cross_entropy(dx, dt, lazy(w, chunks=15), label_smoothing=0.1)
        p = fastnl.softmax(dx, axis=1)
        grad = fastnl.cross_entropy_backward(dx, dt, w, label_smoothing=0.1)
        client.wait_for_workers(2)
        got_loss, got_p, got_grad = client.compute([loss, p, grad], sync=True)
        # two worker processes, neither this one (asked of the workers
        # themselves: the client's cached scheduler_info() listed no worker
        # once, in a CI run on a loaded machine, though both had registered)
        pids = set(client.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids
    np.testing.assert_allclose(got_loss, fastnl.cross_entropy(x, t, w, label_smoothing=0.1),
                               rtol=1e-12)
    np.testing.assert_allclose(got_p, fastnl.softmax(x, axis=1), rtol=1e-12, atol=1e-300)
    expected = fastnl.cross_entropy_backward(x, t, w, label_smoothing=0.1)
    np.testing.assert_allclose(got_grad, expected, rtol=1e-12,
                               atol=1e-13 * np.max(np.abs(expected)))


def test_modules_default_upstream_keeps_the_dtype(rng):
    """The default grad_output of a module's backward on a Dask input is ones
    of the result dtype, as in memory (float16 stays float16)."""
    x = rng.standard_normal((6, 4)).astype(np.float16)
    module, lazy_module = fastnl.nn.GELU(), fastnl.nn.GELU()
    module(x), lazy_module(lazy(x))
    assert_bitwise(lazy_module.backward(), module.backward())


def test_modules_stay_lazy(rng):
    """fastnl.nn modules hand Dask inputs to the functions: forward and
    backward (with its default upstream gradient) stay lazy and equal the
    in-memory modules' results."""
    x = rng.standard_normal((12, 7))
    t = rng.integers(0, 7, 12)
    reads = Reads()
    dx, dt = reads(x, chunks=(5, 3)), reads(t, chunks=5)
    for make, args, lazy_args in [(lambda: fastnl.nn.GELU(), (x,), (dx,)),
                                  (lambda: fastnl.nn.LogSoftmax(dim=1), (x,), (dx,)),
                                  (lambda: fastnl.nn.CrossEntropyLoss(label_smoothing=0.1),
                                   (x, t), (dx, dt)),
                                  (lambda: fastnl.nn.MSELoss(reduction="none"), (x, x[::-1]),
                                   (dx, dx[::-1]))]:
        module, lazy_module = make(), make()
        before = reads.count
        expected, got = module(*args), lazy_module(*lazy_args)
        expected_grad, got_grad = module.backward(), lazy_module.backward()
        assert reads.count == before  # nothing read yet
        assert_close(got, expected, rtol_of(np.float64))
        assert_close(got_grad, expected_grad, rtol_of(np.float64))


# ---------------------------------------------------------------- logsumexp, glu, gumbel_softmax, one_hot

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("split", list(CHUNKINGS))
@pytest.mark.parametrize("dim", [0, 1, 2, (0, 2), (0, 1, 2)])
def test_logsumexp_split_lanes_and_limits(dtype, split, dim, rng):
    """The lanes' (max, sum) merged across chunks: the in-memory result to
    summation order, the limits of lanes holding +inf, -inf only or NaN
    (whatever chunk they fall in), and the gradient's softmax limit."""
    x = (rng.standard_normal(SHAPE) * 3).astype(dtype)
    x[0, 0, 0], x[1, :, 2], x[2, 4, 1], x[3, 2, :] = np.inf, -np.inf, np.nan, -np.inf
    dx = lazy(x, CHUNKINGS[split])
    for keepdim in (False, True):
        assert_close(fastnl.logsumexp(dx, dim, keepdim), fastnl.logsumexp(x, dim, keepdim),
                     rtol_of(dtype))
    g = rng.standard_normal(np.shape(fastnl.logsumexp(x, dim))).astype(dtype)
    assert_close(fastnl.logsumexp_backward(dx, dim, grad_output=lazy(g)),
                 fastnl.logsumexp_backward(x, dim, grad_output=g), rtol_of(dtype))


def test_glu_gumbel_one_hot_checks_at_call_time(rng):
    x = lazy(rng.standard_normal((4, 5)))
    with pytest.raises(ValueError, match="dimension 1 is size 5"):
        fastnl.glu(x)
    with pytest.raises(ValueError, match=r"grad_output has shape \(4, 5\)"):
        fastnl.glu_backward(x, 0, grad_output=x)
    with pytest.raises(ValueError, match="needs num_classes"):
        fastnl.one_hot(lazy(np.array([1, 2])))
    with pytest.raises(TypeError, match="integer class indices"):
        fastnl.one_hot(x, 3)
    with pytest.raises(ValueError, match=r"grad_output has shape \(3,\)"):
        fastnl.logsumexp_backward(x, 1, grad_output=lazy(np.ones(3)))
    with pytest.raises(ValueError, match="tau must be > 0"):
        fastnl.gumbel_softmax(x, tau=0)


def test_gumbel_softmax_blocks_draw_from_the_seed(rng):
    """Each block's noise from the call's seed and the block's index: the
    same seed and chunks give the same sample, another seed another; every
    soft sample sums to 1 along the split axis and the hard one is the
    one-hot of its argmax."""
    x = rng.standard_normal((8, 9))
    dx = lazy(x, (0, 1))
    y, soft = fastnl.gumbel_softmax(dx, 0.5, True, dim=1, rng=1, return_soft=True)
    y, soft = y.compute(), soft.compute()
    again = fastnl.gumbel_softmax(dx, 0.5, False, dim=1, rng=1).compute()
    assert np.array_equal(again, soft)
    assert not np.array_equal(fastnl.gumbel_softmax(dx, 0.5, dim=1, rng=2).compute(), soft)
    np.testing.assert_allclose(soft.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_array_equal(y, fastnl.one_hot(soft.argmax(axis=1), 9))
