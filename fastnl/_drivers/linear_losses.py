"""The in-memory driver of the fused linear cross-entropy.

The logits ``input @ linear_weight.T + linear_bias`` are made one block of
classes at a time (a BLAS matmul through NumPy) and never held whole.

With class indices (the common case) the row kernels of cross_entropy do
the per-element work: the forward takes each block's per-row maximum and
float64 sum of exponentials from ``lane_stats``, merges the blocks' in block
order and picks up each target's logit from the block that holds it (the
label-smoothing sum sum_c w_c z_c is x . (sum_c w_c W_c) + b . w, no pass
over the logits); the backward makes each block's logits again, turns them
into the block of ``d loss / d logits`` in place (``lane_apply`` for the
scaled softmax, one element per row for the target) and multiplies it out
into the three gradients. Probability targets take a NumPy path of their own.

The blocks are fixed by C (never by the thread count) and walked by fastnl's
threads, each multiplying whole blocks with single-threaded BLAS calls, so
the bits do not depend on the thread count (see `_threads`). Extra memory is
one (N x block) buffer per thread and an (N / 2, in_features) product.

The checks are cross_entropy's (``class_checks``, ``class_indices``,
``class_weight``, ``upstream``), and a row whose fast result is not finite
(an infinite or NaN logit; a block of -inf logits, a masked part of the
vocabulary, is not one) is recomputed by cross_entropy's own row kernels on
that row's full logits, so non-finite logits follow cross_entropy's rules.
"""

import concurrent.futures
import contextlib
import threading

import numpy as np

from fastnl._config import _kernel_threads
from fastnl._drivers import losses as _losses
from fastnl._kernels import _rowwise as _kr
from fastnl._validate import check_out, deliver, resolve_dtype

# A class block's share of the (N, C) logits: each of fastnl's threads holds
# one (N x block) buffer of the compute dtype, so the extra memory is about
# this fraction of the logits per thread (plus, in the backward, one
# (N / 2, in_features) product that the threads use in turn, and small
# per-row arrays).
_BLOCK_FRACTION = 1 / 80
# ... but at least this many classes: narrower blocks make BLAS slower and
# grad_input's accumulation (N x in_features per block) more frequent
_MIN_BLOCK = 512
# fewer elements of logits than this: one thread
_GRAIN = 1 << 17


def block_size(chunk_size, n_rows, n_classes):
    """The number of classes per block: `chunk_size`, or C / 80 (about 1.25%
    of the logits' bytes), at least 512 classes, a multiple of 64. It never
    depends on the thread count: the blocks fix the order of every sum."""
    if chunk_size is not None:
        chunk_size = int(chunk_size)
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
        return chunk_size
    block = int(n_classes * _BLOCK_FRACTION)
    block = max(_MIN_BLOCK, block - block % 64)
    return max(1, min(block, n_classes))


_BLAS = []  # [threadpoolctl controller of NumPy's BLAS] once looked up, [None] without
_BLAS_LOCK = threading.Lock()
_BLAS_USERS = [0, None]  # calls inside _threads, and the limit they share


def _numpy_blas():
    """A threadpoolctl controller of the BLAS NumPy calls (None without
    threadpoolctl, or if it finds none), made once."""
    if not _BLAS:
        try:
            import threadpoolctl
        except ImportError:
            _BLAS.append(None)
        else:
            blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
            # NumPy's own (in numpy.libs for a wheel), not another library's
            # (torch's, say) that the process also loaded
            own = [lib.filepath for lib in blas.lib_controllers if "numpy" in lib.filepath]
            if own:
                blas = blas.select(filepath=own)
            _BLAS.append(blas if blas.lib_controllers else None)
    return _BLAS[0]


@contextlib.contextmanager
def _threads(n_elements):
    """How many of fastnl's threads walk the class blocks (yielded), with
    NumPy's BLAS on one thread inside the block, restored after.

    Each thread multiplies whole blocks by single-threaded BLAS calls: a
    multithreaded BLAS may split a product's sums between its threads, which
    changes the bits with the thread count (OpenBLAS 0.3.31 does for a
    (512 x 1000) @ (1000 x 128) product), while a fixed partition into blocks
    gives the same bits on any number of threads.

    BLAS's thread count is one setting for the whole process: calls running
    at once (Dask's threads, say) share one limit, set by the first to enter
    and restored by the last to leave. threadpoolctl (3.8) lets only one
    thread, the first to set an OpenBLAS limit, change it; called from
    another thread while BLAS is not on one thread already, and without
    threadpoolctl, BLAS is left as it is and the blocks run on one thread
    (BLAS's own threads, if it has any, do the parallel work)."""
    blas = _numpy_blas()
    n = _kernel_threads() if n_elements >= _GRAIN else 1
    if blas is None:
        yield 1
        return
    with _BLAS_LOCK:
        if _BLAS_USERS[0] == 0:
            _BLAS_USERS[1] = blas.limit(limits=1)
        _BLAS_USERS[0] += 1
        single = all(lib.num_threads == 1 for lib in blas.lib_controllers)
    try:
        yield n if single else 1
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS[0] -= 1
            if _BLAS_USERS[0] == 0:
                _BLAS_USERS[1].restore_original_limits()
                _BLAS_USERS[1] = None


class _OtherBlockFailed(Exception):
    """Raised in a thread waiting for its turn when another block failed."""


class _Turns:
    """Blocks taking turns in their order: wait(k) returns once blocks 0..k-1
    called done(); so a sum over blocks is added in block order (the same
    bits for any thread count). fail() wakes every waiter with an error."""

    def __init__(self):
        self._next, self._failed = 0, False
        self._cond = threading.Condition()

    def wait(self, k):
        with self._cond:
            self._cond.wait_for(lambda: self._next == k or self._failed)
            if self._failed:
                raise _OtherBlockFailed

    def done(self):
        with self._cond:
            self._next += 1
            self._cond.notify_all()

    def fail(self):
        with self._cond:
            self._failed = True
            self._cond.notify_all()


def _each_block(q, n_threads, work, turns=None):
    """work(k, c0, c1, z) for every class block k = [c0, c1), z its logits in
    a buffer of the calling thread (valid during the call), on n_threads
    threads (this one and n_threads - 1 more) taking blocks in order."""
    N, C = q.x2.shape[0], q.n_classes
    starts = iter(enumerate(range(0, C, q.block)))
    lock = threading.Lock()

    def loop():
        buf = np.empty(N * min(q.block, C), q.dtype)
        while True:
            with lock:
                k, c0 = next(starts, (None, None))
            if k is None:
                return
            c1 = min(c0 + q.block, C)
            try:
                with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                    work(k, c0, c1, _logits(q, c0, c1,
                                            out=buf[:N * (c1 - c0)].reshape(N, c1 - c0)))
            except BaseException:
                if turns is not None:
                    turns.fail()
                raise

    if n_threads <= 1:
        loop()
        return
    with concurrent.futures.ThreadPoolExecutor(n_threads - 1) as pool:
        others = [pool.submit(loop) for _ in range(n_threads - 1)]
        try:
            loop()
            mine = None
        except BaseException as e:
            mine = e
        errors = [mine] + [f.exception() for f in others]
    # the error of the block that failed, not a waiter's _OtherBlockFailed
    errors = [e for e in errors if e is not None]
    errors.sort(key=lambda e: isinstance(e, _OtherBlockFailed))
    if errors:
        raise errors[0]


class LinearProblem:
    """The checked operands: a ClassProblem `p` (its `expected`, `result`,
    `w`, `weight_sum`, `t`, ...) and the 2-d input, weight and bias of the
    compute dtype."""
    __slots__ = ("p", "x2", "W", "b", "n_classes", "block", "dtype", "squeeze", "tp")


def _dtypes(x, W, b):
    """(compute, result) dtypes of the input, weight and bias, after refusing
    any non-real one by name."""
    arrays = [x, W] + ([] if b is None else [b])
    for a in arrays:
        resolve_dtype(a.dtype)
    return resolve_dtype(np.result_type(*[a.dtype for a in arrays]))


def check_linear(x, W, b, t, weight, ignore_index, reduction, label_smoothing):
    """The checks that need only shapes and dtypes (any array type: the Dask
    path runs them before building its graph): cross_entropy's ClassProblem
    `p` (its `expected`, `result`, `probabilities`, ...) and the compute dtype."""
    compute, result = _dtypes(x, W, b)
    if x.ndim not in (1, 2):
        raise ValueError(f"input must be (N, in_features) or (in_features,), got shape "
                         f"{x.shape}")
    if W.ndim > 2:  # the in-memory path routes it to spatial_cross_entropy first
        raise ValueError(f"the K-dimensional loss (linear_weight {W.shape}) takes NumPy "
                         f"arrays, not Dask arrays")
    if W.ndim != 2 or W.shape[1] != x.shape[-1]:
        raise ValueError(f"linear_weight must be (num_classes, in_features) or (num_classes, "
                         f"d1, ..., dK, in_features) with in_features={x.shape[-1]} as the "
                         f"input {x.shape}, got shape {W.shape}")
    C = W.shape[0]
    if b is not None and b.shape != (C,):
        raise ValueError(f"linear_bias must have shape ({C},) (one per class of "
                         f"linear_weight {W.shape}), got shape {b.shape}")
    expected = () if x.ndim == 1 else x.shape[:1]
    if t.dtype.kind in "iu" and t.shape != expected:
        raise ValueError(f"target shape {t.shape} does not match input shape {x.shape}: "
                         f"expected target shape {expected}")
    # cross_entropy's checks, on a stand-in for the logits that holds no memory (of
    # the result dtype, so that float16 gives float16 as cross_entropy does)
    logits_shape = (C,) if x.ndim == 1 else (x.shape[0], C)
    stand_in = np.broadcast_to(np.zeros((), result), logits_shape)
    p = _losses.class_checks("cross_entropy", stand_in, t, weight, ignore_index, reduction,
                             label_smoothing)
    return p, np.dtype(compute)


def linear_problem(input, linear_weight, target, linear_bias, weight, ignore_index,
                   reduction, label_smoothing, chunk_size):
    x, W = np.asarray(input), np.asarray(linear_weight)
    b = None if linear_bias is None else np.asarray(linear_bias)
    t = np.asarray(target)
    weight = None if weight is None else np.asarray(weight)
    p, compute = check_linear(x, W, b, t, weight, ignore_index, reduction, label_smoothing)
    C = W.shape[0]
    q = LinearProblem()
    q.p, q.dtype, q.n_classes = p, compute, C
    q.squeeze = x.ndim == 1
    q.x2 = np.ascontiguousarray(x.reshape(1, -1) if q.squeeze else x, dtype=compute)
    q.W = np.ascontiguousarray(W, dtype=compute)
    q.b = None if b is None else np.ascontiguousarray(b, dtype=compute)
    p.w = _losses.class_weight(weight, compute)
    p.weight_sum = float(p.w.sum()) if p.w.size else float(C)
    p.t = q.tp = None
    if p.probabilities:  # (N, C) class probabilities of the compute dtype, as cross_entropy
        q.tp = np.ascontiguousarray(t.reshape(1, -1) if q.squeeze else t, dtype=compute)
    else:
        p.t = _losses.class_indices(t, C, p.ignore_index)
    q.block = block_size(chunk_size, q.x2.shape[0], C)
    return q


def _logits(q, c0, c1, rows=slice(None), out=None):
    """The logits of classes [c0, c1) (of the given rows), compute dtype;
    into `out` (N x (c1 - c0), C-contiguous) if given."""
    if out is None:
        z = q.x2[rows] @ q.W[c0:c1].T
    else:
        z = np.matmul(q.x2, q.W[c0:c1].T, out=out)
    if q.b is not None:
        z += q.b[c0:c1]
    return z


def _targets_by_block(q):
    """The counted rows sorted by target, and the bounds of each class
    block's share of them: block k's rows are rows[bounds[k]:bounds[k + 1]]
    with targets cols[...] (so each block finds its targets by slicing)."""
    t = q.p.t
    rows = np.flatnonzero(t != q.p.ignore_index)
    rows = rows[np.argsort(t[rows], kind="stable")]
    cols = t[rows]
    starts = np.arange(0, q.n_classes, q.block)
    return rows, cols, np.searchsorted(cols, np.append(starts, q.n_classes))


def row_stats(q, n_threads):
    """Per row, in float64: the maximum logit m, s = sum_c exp(z_c - m) and
    the target's logit, one pass over the class blocks: each block's max
    and sum by the row kernel lane_stats, then merged in block order."""
    N = q.x2.shape[0]
    n_blocks = -(-q.n_classes // q.block)
    mb, sb = np.empty((n_blocks, N), q.dtype), np.empty((n_blocks, N))
    z_t = np.zeros(N)
    rows, cols, bounds = _targets_by_block(q)

    def work(k, c0, c1, z):
        _kr.lane_stats(z.reshape(-1), N, c1 - c0, 1, 1.0, mb[k], sb[k], 1)
        r = rows[bounds[k]:bounds[k + 1]]  # each row's target is in one block
        z_t[r] = z[r, cols[bounds[k]:bounds[k + 1]] - c0]

    _each_block(q, n_threads, work)
    # merged in float64: a block of -inf logits adds 0; an infinite or NaN
    # max leaves m or s non-finite, which sends the row to the exact path
    with np.errstate(invalid="ignore", over="ignore"):
        mb = mb.astype(np.float64)
        m = mb.max(axis=0) if n_blocks else np.full(N, -np.inf)
        gap = mb - m
        gap[mb == m] = 0.0  # equal maxima, infinite ones included: factor 1
        sb[mb == -np.inf] = 0.0
        s = (sb * np.exp(gap)).sum(axis=0)  # in block order
    return m, s, z_t


def _weighted_classes(q):
    """v = sum_c w_c W_c (w all ones without class weights), float64 (in_features,),
    and sum_c w_c b_c: with them sum_c w_c z_c = x . v + b . w, the
    smoothing term of every row without a pass over the logits."""
    p = q.p
    v = np.zeros(q.x2.shape[1])
    for c0 in range(0, q.n_classes, q.block):
        c1 = min(c0 + q.block, q.n_classes)
        Wb = q.W[c0:c1].astype(np.float64)
        v += p.w[c0:c1] @ Wb if p.w.size else Wb.sum(axis=0)
    bw = 0.0
    if q.b is not None:
        b = q.b.astype(np.float64)
        bw = float(p.w @ b if p.w.size else b.sum())
    return v, bw


def _rows_dot(x, v, rows=256):
    """x @ v in float64 for a float32 x, a few rows at a time (no float64 copy of x)."""
    return np.concatenate([x[r:r + rows].astype(np.float64) @ v
                           for r in range(0, x.shape[0], rows)] or [np.zeros(0)])


def _full_rows(q, rows):
    """The full logits of a few rows (the rare path), C-contiguous."""
    return np.ascontiguousarray(_logits(q, 0, q.n_classes, rows))


def _row_losses(q, n_threads=1):
    """Per-row losses (float64) and each row's weight in the mean's denominator,
    plus the row statistics the backward reuses: (m, s) and the rows
    computed by cross_entropy's kernel on their full logits."""
    p = q.p
    C = q.n_classes
    m, s, z_t = row_stats(q, n_threads)
    counted = p.t != p.ignore_index
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        lse = m + np.log(s)
        row_weight = _losses.row_weights(p.t, p.w, p.ignore_index)
        nll = row_weight * (lse - z_t)
        loss = nll
        if p.eps > 0:
            v, bw = _weighted_classes(q)
            spread = _rows_dot(q.x2, v) + bw
            loss = (1 - p.eps) * nll + p.eps / C * (p.weight_sum * lse - spread)
    loss = np.where(counted, loss, 0.0)
    # an infinite or NaN logit: cross_entropy's kernel on the row's full logits
    bad = np.flatnonzero(counted & (np.isnan(loss) | ~np.isfinite(m) | ~np.isfinite(s)))
    if bad.size:
        z = _full_rows(q, bad)
        fixed = np.empty(bad.size)
        _kr.cross_entropy_index(z.reshape(-1), C, 1, 1, bad.size, C, 1,
                                np.ascontiguousarray(p.t[bad]), p.w, p.weight_sum,
                                p.ignore_index, p.eps, fixed, np.empty(bad.size),
                                _kernel_threads())
        loss[bad] = fixed
    return loss, row_weight, (m, s), bad


def row_losses(q):
    """Every row's loss (float64), each row's weight in the mean's
    denominator (None with probabilities) and the row statistics the
    backward can reuse."""
    p = q.p
    stats = None
    with _threads(q.x2.shape[0] * q.n_classes) as n_threads:
        if q.n_classes == 0:
            # no classes: every row ignored (indices) or summing over nothing, as cross_entropy
            loss = np.zeros(q.x2.shape[0])
            row_weight = None if p.probabilities else np.zeros(q.x2.shape[0])
        elif p.probabilities:
            loss, *stats = _prob_row_losses(q, n_threads)
            row_weight = None
        else:
            loss, row_weight, *stats = _row_losses(q, n_threads)
    return loss, row_weight, stats


class RowStatistics:
    """What a forward keeps for its backward: per row, in float64, the
    maximum logit and the sum of exponentials (class indices) or the
    log-sum-exp and the target mass (probabilities), and the rows a
    non-finite logit sent to the slow path; O(N) memory. `key` names the
    problem (shapes, dtype, options) they belong to, which the backward
    checks."""
    __slots__ = ("values", "key")

    def __init__(self, values, key):
        self.values, self.key = values, key

    def __repr__(self):
        return (f"<linear_cross_entropy row statistics: {self.key[0]} rows, "
                f"{self.key[1]} classes>")


def _problem_key(q):
    """What row statistics depend on beyond the operands' values."""
    p = q.p
    return (q.x2.shape[0], q.n_classes, q.x2.shape[1], q.dtype.str, p.probabilities,
            q.b is not None, p.ignore_index, p.eps)


def linear_cross_entropy(input, linear_weight, target, linear_bias, weight, ignore_index,
                         reduction, label_smoothing, chunk_size, out, keep_stats=False):
    """The loss; keep_stats: (loss, RowStatistics), which the backward can
    take instead of walking the classes once more for them."""
    if np.ndim(linear_weight) > 2 and not keep_stats:
        return spatial_cross_entropy(input, linear_weight, target, linear_bias, weight,
                                     ignore_index, reduction, label_smoothing, chunk_size, out)
    q = linear_problem(input, linear_weight, target, linear_bias, weight, ignore_index,
                       reduction, label_smoothing, chunk_size)
    p = q.p
    if out is not None:
        check_out(out, p.expected if p.reduction == "none" else (), p.result)
    loss, row_weight, stats = row_losses(q)
    value = _losses.reduce_rows(loss, row_weight, p)
    if out is not None:
        out[...] = value
        value = out
    return (value, RowStatistics(stats, _problem_key(q))) if keep_stats else value


def row_scales(q, grad_output, denominator):
    """The upstream gradient of every row, float64: grad_output per row
    (reduction='none' with an array) or one scale, grad_output over the
    mean's `denominator` (the whole loss's, which a block of rows is given)."""
    p = q.p
    g, scale = _losses.upstream(grad_output, p.reduction, p.expected, q.dtype, denominator)
    return g.astype(np.float64) if g.size else np.full(q.x2.shape[0], scale)


def gradients(q, gs, stats=None):
    """(grad_input (N, D), grad_weight, grad_bias or None) from the rows'
    upstream gradients `gs`, in the compute dtype."""
    p = q.p
    N, C, D = q.x2.shape[0], q.n_classes, q.x2.shape[1]
    # grad_input is summed over the class blocks in its own dtype, as BLAS sums
    # each block's product (float64 would add an (N, in_features) float64 array
    # to the extra memory)
    grad_x = np.zeros((N, D), q.dtype)
    grad_W = np.zeros((C, D), q.dtype) if N == 0 else np.empty((C, D), q.dtype)
    # grad_bias: BLAS's sums over the rows, as grad_weight's
    grad_b = None if q.b is None else np.zeros(C, q.dtype)
    if C and N:
        with _threads(N * C) as n_threads:
            if p.probabilities:
                _prob_grads(q, gs, stats, grad_x, grad_W, grad_b, n_threads)
            else:
                _index_grads(q, gs, stats, grad_x, grad_W, grad_b, n_threads)
    return grad_x, grad_W, grad_b


def linear_cross_entropy_backward(input, linear_weight, target, linear_bias, weight,
                                  ignore_index, reduction, label_smoothing, chunk_size,
                                  grad_output, stats=None):
    """(grad_input, grad_weight, grad_bias or None): per block, the logits
    again, G = d loss / d logits from the forward's row statistics, then
    grad_input += G W_block, grad_weight[block] = G^T x, grad_bias[block] =
    column sums of G. `stats`: the RowStatistics a forward with keep_stats
    returned for these same operands (else they are computed again)."""
    if np.ndim(linear_weight) > 2 and stats is None:
        return spatial_cross_entropy_backward(input, linear_weight, target, linear_bias,
                                              weight, ignore_index, reduction,
                                              label_smoothing, chunk_size, grad_output)
    q = linear_problem(input, linear_weight, target, linear_bias, weight, ignore_index,
                       reduction, label_smoothing, chunk_size)
    p = q.p
    if stats is not None and stats.key != _problem_key(q):
        raise ValueError(f"stats were computed for another problem ({stats.key[0]} rows, "
                         f"{stats.key[1]} classes, in_features={stats.key[2]}, or other "
                         f"options); pass the statistics of the forward on these operands")
    gs = row_scales(q, grad_output, _losses.class_denominator(p))
    grad_x, grad_W, grad_b = gradients(q, gs, None if stats is None else stats.values)
    grad_x = grad_x.reshape(-1) if q.squeeze else grad_x
    grad_x = deliver(grad_x, None, p.result)
    grad_W = deliver(grad_W, None, p.result)
    grad_b = None if grad_b is None else deliver(grad_b.astype(q.dtype), None, p.result)
    return grad_x, grad_W, grad_b


# ---- the K-dimensional loss: linear_weight (C, d1, ..., dK, in_features)

def _spatial(input, linear_weight, target, linear_bias, weight, ignore_index, reduction,
             label_smoothing):
    """torch's K-dimensional form, logits (N, C, d1, ..., dK) = input @ W^T
    with W (C, d1, ..., dK, in_features): at each position j of (d1, ..., dK)
    an ordinary problem of its own weight W[:, j] (C, in_features), bias
    b[:, j] and targets t[:, j]. Returns the whole loss's ClassProblem (its
    checks, `expected` (N, d1, ..., dK) and mean denominator, as
    cross_entropy's on those logits), the compute dtype, the input and weight
    as arrays and, per position, (W_j, b_j, t_j)."""
    x, W = np.asarray(input), np.asarray(linear_weight)
    b = None if linear_bias is None else np.asarray(linear_bias)
    t = np.asarray(target)
    weight = None if weight is None else np.asarray(weight)
    compute, result = _dtypes(x, W, b)
    if x.ndim != 2:
        raise ValueError(f"the K-dimensional loss of linear_weight {W.shape} needs an input "
                         f"of rows, (N, {W.shape[-1]}), got shape {x.shape}")
    if W.shape[-1] != x.shape[-1]:
        raise ValueError(f"linear_weight must be (num_classes, d1, ..., dK, in_features) with "
                         f"in_features={x.shape[-1]} as the input {x.shape}, got shape "
                         f"{W.shape}")
    C, dims = W.shape[0], W.shape[1:-1]
    if b is not None and b.shape != W.shape[:-1]:
        raise ValueError(f"linear_bias must have shape {W.shape[:-1]} (one per output of "
                         f"linear_weight {W.shape}), got shape {b.shape}")
    logits_shape = (x.shape[0], C) + dims
    stand_in = np.broadcast_to(np.zeros((), result), logits_shape)
    p = _losses.class_checks("cross_entropy", stand_in, t, weight, ignore_index, reduction,
                             label_smoothing)
    p.w = _losses.class_weight(weight, compute)
    if not p.probabilities:
        p.t = _losses.class_indices(t, C, p.ignore_index)
    # targets (N, *dims) or (N, C, *dims)
    parts = []
    for j in np.ndindex(*dims):
        W_j = W[(slice(None),) + j]
        b_j = None if b is None else b[(slice(None),) + j]
        t_j = t[(slice(None), slice(None)) + j] if p.probabilities else t[(slice(None),) + j]
        parts.append((W_j, b_j, t_j))
    return p, np.dtype(compute), x, W, parts


def spatial_cross_entropy(input, linear_weight, target, linear_bias, weight, ignore_index,
                          reduction, label_smoothing, chunk_size, out):
    """The K-dimensional loss: each position's rows (float64), reduced as
    cross_entropy reduces its (N, d1, ..., dK) losses."""
    p, _, x2, _, parts = _spatial(input, linear_weight, target, linear_bias, weight,
                                  ignore_index, reduction, label_smoothing)
    if out is not None:
        check_out(out, p.expected if p.reduction == "none" else (), p.result)
    N, n_positions = x2.shape[0], len(parts)
    loss = np.zeros((N, n_positions))
    row_weight = np.zeros((N, n_positions))
    for j, (W_j, b_j, t_j) in enumerate(parts):
        q = linear_problem(x2, W_j, t_j, b_j, weight, p.ignore_index, "none",
                           label_smoothing, chunk_size)
        loss_j, weight_j, _ = row_losses(q)
        loss[:, j] = loss_j
        if weight_j is not None:
            row_weight[:, j] = weight_j
    value = _losses.reduce_rows(loss.reshape(-1), row_weight.reshape(-1), p)
    if out is not None:
        out[...] = value
        value = out
    return value


def spatial_cross_entropy_backward(input, linear_weight, target, linear_bias, weight,
                                   ignore_index, reduction, label_smoothing, chunk_size,
                                   grad_output):
    """The K-dimensional loss's gradients: each position's, from its rows'
    upstream gradients; grad_input summed over the positions."""
    p, compute, x2, W, parts = _spatial(input, linear_weight, target, linear_bias, weight,
                                        ignore_index, reduction, label_smoothing)
    N, n_positions = x2.shape[0], len(parts)
    g, scale = _losses.upstream(grad_output, p.reduction, p.expected, compute,
                                _losses.class_denominator(p))
    g = g.astype(np.float64).reshape(N, n_positions) if g.size else None
    grad_x = np.zeros(x2.shape, np.float64)
    grad_W = np.empty(W.shape, compute)
    grad_b = None if linear_bias is None else np.empty(W.shape[:-1], compute)
    for j, (index, (W_j, b_j, t_j)) in enumerate(zip(np.ndindex(*W.shape[1:-1]), parts)):
        q = linear_problem(x2, W_j, t_j, b_j, weight, p.ignore_index, "none",
                           label_smoothing, chunk_size)
        gs = np.full(N, scale) if g is None else np.ascontiguousarray(g[:, j])
        gx_j, gW_j, gb_j = gradients(q, gs)
        grad_x += gx_j
        grad_W[(slice(None),) + index] = gW_j
        if grad_b is not None:
            grad_b[(slice(None),) + index] = gb_j
    grad_x = deliver(grad_x.astype(compute), None, p.result)
    grad_W = deliver(grad_W, None, p.result)
    grad_b = None if grad_b is None else deliver(grad_b, None, p.result)
    return grad_x, grad_W, grad_b


class _Products:
    """Multiplies a block of G = d loss / d z out into the gradients:
    grad_W[block] = G^T x and grad_b[block] = 1^T G (BLAS sums over the
    rows), and grad_x += G W_block in block order (blocks take turns), by
    half the rows at a time into one product buffer (a margin under the
    memory target)."""

    def __init__(self, q, grad_x, grad_W, grad_b):
        N = q.x2.shape[0]
        self.q, self.grad_x, self.grad_W, self.grad_b = q, grad_x, grad_W, grad_b
        self.turns = _Turns()
        self.half = max(1, -(-N // 2))
        self.product = np.empty((self.half, grad_x.shape[1]), q.dtype)
        self.ones = np.ones(N, q.dtype)

    def weight(self, k, c0, c1, z):
        np.matmul(z.T, self.q.x2, out=self.grad_W[c0:c1])  # BLAS, as fast as without out=

    def bias_and_input(self, k, c0, c1, z):
        if self.grad_b is not None:
            np.matmul(self.ones, z, out=self.grad_b[c0:c1])
        N, half, grad_x = z.shape[0], self.half, self.grad_x
        self.turns.wait(k)
        for r in range(0, N, half):
            part = self.product[:min(half, N - r)]
            np.add(grad_x[r:r + half], np.matmul(z[r:r + half], self.q.W[c0:c1], out=part),
                   out=grad_x[r:r + half])
        self.turns.done()


def _index_grads(q, gs, stats, grad_x, grad_W, grad_b, n_threads):
    """The three gradients with class-index targets, into grad_x (zeros),
    grad_W and grad_b: per class block, G = d loss / d z built in
    place over the block's logits, then multiplied out.

    d loss / d z_c = gs (p_c a - (1 - eps) w_t [c == t] - eps / C w_c): the
    softmax times a is the row kernel's lane_apply with the row's sum divided
    by a; the target's term is one element per row; the smoothing term, a
    rank-one matrix (gs eps / C) w^T, is multiplied out once, not added to
    every block."""
    p = q.p
    N, C = q.x2.shape[0], q.n_classes
    counted = p.t != p.ignore_index
    gs = np.where(counted, gs, 0.0)  # ignored rows: zero gradient, even with NaN logits
    (m, s), bad = stats or _row_losses(q, n_threads)[2:]
    eps, w, t = p.eps, p.w, p.t
    w_t = _losses.row_weights(t, w, p.ignore_index)
    a = gs * ((1 - eps) * w_t + eps / C * p.weight_sum)
    hit = (gs * (1 - eps) * w_t).astype(q.dtype)
    smooth = gs * (eps / C)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = s / a  # lane_apply writes exp(z - m) / total = a p
    finite = np.isfinite(m) & np.isfinite(s)
    # rows of non-finite logits: ignored ones get 0, counted ones (bad)
    # cross_entropy's kernel on their full logits (the smoothing included)
    zero = np.flatnonzero(~finite & ~counted)
    smooth[bad] = 0.0
    m_c = np.where(finite, m, 0.0).astype(q.dtype)
    rows, cols, bounds = _targets_by_block(q)
    grad_bad = None
    if bad.size:  # softmax's limit for infinite logits: cross_entropy's kernel
        z = _full_rows(q, bad)
        grad_bad = np.empty_like(z)
        _kr.cross_entropy_index_backward(z.reshape(-1), C, 1, 1, bad.size, C, 1,
                                         np.ascontiguousarray(t[bad]), w, p.weight_sum,
                                         p.ignore_index, eps, np.ascontiguousarray(gs[bad]),
                                         1.0, grad_bad.reshape(-1), _kernel_threads())
    smoothing = eps > 0 and smooth.any()
    if smoothing:
        v, _ = _weighted_classes(q)
        sx = sum(smooth[r:r + 256] @ q.x2[r:r + 256].astype(np.float64)
                 for r in range(0, N, 256))  # smooth @ x, float64, no float64 copy of x
    out = _Products(q, grad_x, grad_W, grad_b)

    def work(k, c0, c1, z):
        _kr.lane_apply(z.reshape(-1), z.reshape(-1), N, c1 - c0, 1, 1.0, False, m_c, total, 1)
        lo, hi = bounds[k], bounds[k + 1]
        z[rows[lo:hi], cols[lo:hi] - c0] -= hit[rows[lo:hi]]
        if zero.size:
            z[zero] = 0
        if grad_bad is not None:
            z[bad] = grad_bad[:, c0:c1]
        out.weight(k, c0, c1, z)
        if smoothing:
            w_b = w[c0:c1] if w.size else np.ones(c1 - c0)
            grad_W[c0:c1] -= np.multiply.outer(w_b, sx).astype(q.dtype)
        out.bias_and_input(k, c0, c1, z)

    _each_block(q, n_threads, work, out.turns)
    if smoothing:
        for r in range(0, N, 256):
            grad_x[r:r + 256] -= np.multiply.outer(smooth[r:r + 256], v).astype(q.dtype)
        if grad_b is not None:
            grad_b -= ((w if w.size else 1.0) * smooth.sum()).astype(q.dtype)


def _prob_grads(q, gs, stats, grad_x, grad_W, grad_b, n_threads):
    """As _index_grads with class probabilities: G = gs (p_c mass - a_c),
    a_c = w_c q_c, q = (1 - eps) target + eps / C, mass = sum_c a_c."""
    p = q.p
    C = q.n_classes
    lse, mass, bad = stats or _prob_row_losses(q, n_threads)[1:]
    lse_c = lse.astype(q.dtype)[:, None]
    scale_c = (gs * mass).astype(q.dtype)[:, None]
    grad_bad = None
    if bad.size:  # softmax's limit for infinite logits: cross_entropy's kernel
        z = _full_rows(q, bad)
        grad_bad = np.empty_like(z)
        tb = np.ascontiguousarray(q.tp[bad])
        _kr.cross_entropy_prob_backward(z.reshape(-1), tb.reshape(-1), C, 1, 1, C, 1, 1,
                                        bad.size, C, 1, p.w, p.eps,
                                        np.ascontiguousarray(gs[bad]), 1.0,
                                        grad_bad.reshape(-1), _kernel_threads())
    out = _Products(q, grad_x, grad_W, grad_b)

    def work(k, c0, c1, z):
        np.subtract(z, lse_c, out=z)
        np.exp(z, out=z)
        z *= scale_c
        z -= (gs[:, None] * _smoothed(q, c0, c1)).astype(q.dtype)
        if grad_bad is not None:
            z[bad] = grad_bad[:, c0:c1]
        out.weight(k, c0, c1, z)
        out.bias_and_input(k, c0, c1, z)

    _each_block(q, n_threads, work, out.turns)


def _smoothed(q, c0, c1):
    """a_c = w_c ((1 - eps) target_c + eps / C) on classes [c0, c1), float64."""
    p = q.p
    a = (1 - p.eps) * q.tp[:, c0:c1].astype(np.float64) + p.eps / q.n_classes
    return a * p.w[c0:c1] if p.w.size else a


def _prob_row_losses(q, n_threads=1):
    """Per-row losses with class probabilities, float64: sum_c a_c (lse - z_c)
    = sum_c a_c (m - z_c) + mass log(s), no cancellation (every term >= 0 for
    weights >= 0), and the row's lse and mass; rows whose result is NaN (an
    infinite or NaN logit) recomputed by cross_entropy's kernel. Each block
    gives its rows' max mb, sum of exp(z - mb), sum_c a_c (mb - z_c) and
    sum_c a_c; they are merged in block order."""
    p = q.p
    N, C = q.x2.shape[0], q.n_classes
    n_blocks = -(-C // q.block)
    mb, sb = np.empty((n_blocks, N), q.dtype), np.empty((n_blocks, N))
    spread_b, mass_b = np.empty((n_blocks, N)), np.empty((n_blocks, N))

    def work(k, c0, c1, z):
        _kr.lane_stats(z.reshape(-1), N, c1 - c0, 1, 1.0, mb[k], sb[k], 1)
        a = _smoothed(q, c0, c1)
        mass_b[k] = a.sum(axis=1)
        spread_b[k] = (a * (mb[k].astype(np.float64)[:, None] - z)).sum(axis=1)

    _each_block(q, n_threads, work)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        mb = mb.astype(np.float64)
        m = mb.max(axis=0)
        gap = mb - m
        gap[mb == m] = 0.0  # equal maxima, infinite ones included: factor 1
        sb[mb == -np.inf] = 0.0
        s = (sb * np.exp(gap)).sum(axis=0)  # in block order
        # each block's spread moved to the row's max (nothing where the mass is 0)
        spread = (spread_b + np.where(mass_b != 0, mass_b * -gap, 0.0)).sum(axis=0)
        mass = mass_b.sum(axis=0)
        lse = m + np.log(s)
        loss = spread + mass * np.log(s)
    bad = np.flatnonzero(np.isnan(loss))
    if bad.size:
        z = _full_rows(q, bad)
        tb = np.ascontiguousarray(q.tp[bad])
        fixed = np.empty(bad.size)
        _kr.cross_entropy_prob(z.reshape(-1), tb.reshape(-1), C, 1, 1, C, 1, 1, bad.size, C,
                               1, p.w, p.eps, fixed, _kernel_threads())
        loss[bad] = fixed
    return loss, lse, mass, bad
