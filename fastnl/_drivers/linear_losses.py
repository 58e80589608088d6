"""The in-memory driver of the fused linear cross-entropy.

The logits ``input @ linear_weight.T + linear_bias`` are made one block of
classes at a time (a BLAS matmul through NumPy) and never held whole: the
forward keeps, per row, an online maximum and sum of exponentials in float64
and picks up the target's logit and the smoothing sum on the way; the
backward recomputes each block's logits from those row statistics, turns
them into the block of ``d loss / d logits`` and multiplies it out into the
three gradients. Extra memory is O(N x block + block x in_features).

The checks are cross_entropy's (``class_checks``, ``class_indices``,
``class_weight``, ``upstream``), and a row whose fast result is NaN (an
infinite or NaN logit) is recomputed by cross_entropy's own row kernels on
that row's full logits, so non-finite logits follow cross_entropy's rules.
"""

import math
import os

import numpy as np

from fastnl._config import _kernel_threads
from fastnl._drivers import losses as _losses
from fastnl._kernels import _rowwise as _kr
from fastnl._validate import check_out, deliver, resolve_dtype

# bytes of float64 work per block row kept near this (about an L2 cache, where
# one can be read) so that a block's logits and exponentials stay in cache
_DEFAULT_CACHE = 2 * 1024 * 1024


def _cache_bytes():
    """The largest per-core (L2) cache reported by Linux, else 2 MiB."""
    best = 0
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in os.listdir(base):
            try:
                with open(f"{base}/{entry}/level") as f:
                    if f.read().strip() != "2":
                        continue
                with open(f"{base}/{entry}/size") as f:
                    size = f.read().strip()
            except OSError:
                continue
            scale = {"K": 1024, "M": 1024 ** 2}.get(size[-1:], 1)
            best = max(best, int(size.rstrip("KM")) * scale)
    except (OSError, ValueError):
        pass
    return best or _DEFAULT_CACHE


def block_size(chunk_size, n_rows, n_classes):
    """The number of classes per block: `chunk_size`, or one whose (rows x
    block) float64 work fits the L2 cache, at least 128 classes (BLAS needs
    some width to run fast) and a multiple of 64."""
    if chunk_size is not None:
        chunk_size = int(chunk_size)
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
        return chunk_size
    block = _cache_bytes() // (8 * max(n_rows, 1))
    block = max(128, block - block % 64)
    return max(1, min(block, n_classes))


class LinearProblem:
    """The checked operands: a ClassProblem `p` (its `expected`, `result`,
    `w`, `weight_sum`, `t`, ...) and the 2-d input, weight and bias of the
    compute dtype."""
    __slots__ = ("p", "x2", "W", "b", "n_classes", "block", "dtype", "squeeze", "tp")


def linear_problem(input, linear_weight, target, linear_bias, weight, ignore_index,
                   reduction, label_smoothing, chunk_size):
    x, W = np.asarray(input), np.asarray(linear_weight)
    b = None if linear_bias is None else np.asarray(linear_bias)
    t = np.asarray(target)
    arrays = [x, W] + ([] if b is None else [b])
    for a in arrays:
        resolve_dtype(a.dtype)  # rejects non-real dtypes, naming them
    compute, result = resolve_dtype(np.result_type(*arrays))
    if x.ndim not in (1, 2):
        raise ValueError(f"input must be (N, in_features) or (in_features,), got shape "
                         f"{x.shape}")
    if W.ndim != 2 or W.shape[1] != x.shape[-1]:
        raise ValueError(f"linear_weight must be (num_classes, in_features) with "
                         f"in_features={x.shape[-1]} as the input {x.shape}, got shape "
                         f"{W.shape}")
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
    p = _losses.class_checks("cross_entropy", stand_in, t,
                             None if weight is None else np.asarray(weight),
                             ignore_index, reduction, label_smoothing)
    q = LinearProblem()
    q.p, q.dtype, q.n_classes = p, np.dtype(compute), C
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


def _merge_block(m, s, z):
    """One class block into the rows' running max `m` and float64 sum of
    exp(z - max) `s` (updated in place): what was summed is rescaled to the
    new max (exp(-inf) = 0 on the first block); exp in the compute dtype.
    Returns the new max."""
    m_new = np.maximum(m, z.max(axis=1))
    s *= np.exp(m - m_new)
    s += np.exp(z - m_new[:, None].astype(z.dtype)).sum(axis=1, dtype=np.float64)
    return m_new


def _scaled_softmax(q, c0, c1, lse_c, scale_c):
    """scale_c exp(z_c - lse) over class block [c0, c1), written over the
    block's logits (one buffer of N x block)."""
    z = _logits(q, c0, c1)
    np.subtract(z, lse_c, out=z)
    np.exp(z, out=z)
    z *= scale_c
    return z


def _logits(q, c0, c1, rows=slice(None)):
    """The logits of classes [c0, c1) (of the given rows), compute dtype."""
    z = q.x2[rows] @ q.W[c0:c1].T
    if q.b is not None:
        z += q.b[c0:c1]
    return z


def row_stats(q):
    """Per row, in float64: the maximum logit m, s = sum_c exp(z_c - m), the
    target's logit and sum_c w_c z_c (the smoothing term), one pass over the
    class blocks."""
    p = q.p
    N, C = q.x2.shape[0], q.n_classes
    m = np.full(N, -np.inf)
    s = np.zeros(N)
    z_t = np.zeros(N)
    spread = np.zeros(N)
    t = p.t
    counted = t != p.ignore_index
    rows = np.arange(N)
    with np.errstate(invalid="ignore", over="ignore"):
        for c0 in range(0, C, q.block):
            c1 = min(c0 + q.block, C)
            z = _logits(q, c0, c1)
            m = _merge_block(m, s, z)
            inside = counted & (t >= c0) & (t < c1)
            z_t[inside] = z[rows[inside], t[inside] - c0]
            if p.eps > 0:
                if p.w.size:
                    spread += z.astype(np.float64) @ p.w[c0:c1]
                else:
                    spread += z.sum(axis=1, dtype=np.float64)
    return m, s, z_t, spread


def _full_rows(q, rows):
    """The full logits of a few rows (the rare path), C-contiguous."""
    return np.ascontiguousarray(_logits(q, 0, q.n_classes, rows))


def _row_losses(q):
    """Per-row losses (float64) and each row's weight in the mean's denominator,
    plus the row statistics the backward reuses."""
    p = q.p
    C = q.n_classes
    m, s, z_t, spread = row_stats(q)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        lse = m + np.log(s)
        row_weight = _losses.row_weights(p.t, p.w, p.ignore_index)
        nll = row_weight * (lse - z_t)
        loss = nll
        if p.eps > 0:
            loss = (1 - p.eps) * nll + p.eps / C * (p.weight_sum * lse - spread)
    loss = np.where(p.t == p.ignore_index, 0.0, loss)
    # an infinite or NaN logit: cross_entropy's kernel on the row's full logits
    bad = np.flatnonzero(np.isnan(loss))
    if bad.size:
        z = _full_rows(q, bad)
        fixed = np.empty(bad.size)
        _kr.cross_entropy_index(z.reshape(-1), C, 1, 1, bad.size, C, 1,
                                np.ascontiguousarray(p.t[bad]), p.w, p.weight_sum,
                                p.ignore_index, p.eps, fixed, np.empty(bad.size),
                                _kernel_threads())
        loss[bad] = fixed
    return loss, row_weight, lse, bad


def linear_cross_entropy(input, linear_weight, target, linear_bias, weight, ignore_index,
                         reduction, label_smoothing, chunk_size, out, keep_stats=False):
    """The loss; keep_stats: (loss, row statistics), which the backward can
    take instead of walking the classes once more for them."""
    q = linear_problem(input, linear_weight, target, linear_bias, weight, ignore_index,
                       reduction, label_smoothing, chunk_size)
    p = q.p
    if out is not None:
        check_out(out, p.expected if p.reduction == "none" else (), p.result)
    stats = None
    if q.n_classes == 0:
        # no classes: every row ignored (indices) or summing over nothing, as cross_entropy
        loss = np.zeros(q.x2.shape[0])
        row_weight = None if p.probabilities else np.zeros(q.x2.shape[0])
    elif p.probabilities:
        loss, *stats = _prob_row_losses(q)
        row_weight = None
    else:
        loss, row_weight, *stats = _row_losses(q)
    value = _losses.reduce_rows(loss, row_weight, p)
    if out is not None:
        out[...] = value
        value = out
    return (value, stats) if keep_stats else value


def linear_cross_entropy_backward(input, linear_weight, target, linear_bias, weight,
                                  ignore_index, reduction, label_smoothing, chunk_size,
                                  grad_output, stats=None):
    """(grad_input, grad_weight, grad_bias or None): per block, the logits
    again, G = d loss / d logits from the forward's row statistics, then
    grad_input += G W_block, grad_weight[block] = G^T x, grad_bias[block] =
    column sums of G. `stats`: the row statistics a forward with keep_stats
    returned for these same operands (else they are computed again)."""
    q = linear_problem(input, linear_weight, target, linear_bias, weight, ignore_index,
                       reduction, label_smoothing, chunk_size)
    p = q.p
    N, C, D = q.x2.shape[0], q.n_classes, q.x2.shape[1]
    denominator = _losses.class_denominator(p)
    g, scale = _losses.upstream(grad_output, p.reduction, p.expected, q.dtype, denominator)
    gs = g.astype(np.float64) if g.size else np.full(N, scale)
    grad_x = np.zeros((N, D))
    grad_W = np.empty((C, D), q.dtype)
    grad_b = None if q.b is None else np.empty(C, q.dtype)
    if C:
        make = _prob_block_grads if p.probabilities else _index_block_grads
        for c0, c1, G in make(q, gs, stats):
            grad_x += G @ q.W[c0:c1]
            # (matmul's out= takes a slow non-BLAS loop here: assign instead)
            grad_W[c0:c1] = G.T @ q.x2
            if grad_b is not None:
                grad_b[c0:c1] = G.sum(axis=0, dtype=np.float64)
    grad_x = grad_x.reshape(-1) if q.squeeze else grad_x
    grad_x = deliver(grad_x.astype(q.dtype), None, p.result)
    grad_W = deliver(grad_W, None, p.result)
    grad_b = None if grad_b is None else deliver(grad_b, None, p.result)
    return grad_x, grad_W, grad_b


def _index_block_grads(q, gs, stats):
    """Yield (c0, c1, G) for the class blocks, with class-index targets: G =
    d loss / d z on those classes, built in place over the block's logits."""
    p = q.p
    N, C = q.x2.shape[0], q.n_classes
    counted = p.t != p.ignore_index
    gs = np.where(counted, gs, 0.0)  # ignored rows: zero gradient, even with NaN logits
    lse, bad = stats or _row_losses(q)[2:]
    eps, w, t = p.eps, p.w, p.t
    w_t = np.where(counted, np.take(w, np.where(counted, t, 0)) if w.size else 1.0, 0.0)
    # d loss / d z_c = gs (p_c a - (1 - eps) w_t [c == t] - eps / C w_c)
    a = gs * ((1 - eps) * w_t + eps / C * p.weight_sum)
    hit = gs * (1 - eps) * w_t
    rows = np.arange(N)
    lse_c = lse.astype(q.dtype)[:, None]
    a_c = a.astype(q.dtype)[:, None]
    grad_bad = None
    if bad.size:  # softmax's limit for infinite logits: cross_entropy's kernel
        z = _full_rows(q, bad)
        grad_bad = np.empty_like(z)
        _kr.cross_entropy_index_backward(z.reshape(-1), C, 1, 1, bad.size, C, 1,
                                         np.ascontiguousarray(t[bad]), w, p.weight_sum,
                                         p.ignore_index, eps, np.ascontiguousarray(gs[bad]),
                                         1.0, grad_bad.reshape(-1), _kernel_threads())
    with np.errstate(invalid="ignore", over="ignore"):
        for c0 in range(0, C, q.block):
            c1 = min(c0 + q.block, C)
            z = _scaled_softmax(q, c0, c1, lse_c, a_c)  # G is built in place over it
            if eps > 0:
                smooth = gs[:, None] * (eps / C) * (w[c0:c1] if w.size else 1.0)
                z -= smooth.astype(q.dtype)
            inside = counted & (t >= c0) & (t < c1)
            z[rows[inside], t[inside] - c0] -= hit[inside].astype(q.dtype)
            z[~counted] = 0
            if grad_bad is not None:
                z[bad] = grad_bad[:, c0:c1]
            yield c0, c1, z


def _prob_block_grads(q, gs, stats):
    """As _index_block_grads with class probabilities: G = gs (p_c mass - a_c),
    a_c = w_c q_c, q = (1 - eps) target + eps / C, mass = sum_c a_c."""
    p = q.p
    C = q.n_classes
    lse, mass, bad = stats or _prob_row_losses(q)[1:]
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
    with np.errstate(invalid="ignore", over="ignore"):
        for c0 in range(0, C, q.block):
            c1 = min(c0 + q.block, C)
            z = _scaled_softmax(q, c0, c1, lse_c, scale_c)
            z -= (gs[:, None] * _smoothed(q, c0, c1)).astype(q.dtype)
            if grad_bad is not None:
                z[bad] = grad_bad[:, c0:c1]
            yield c0, c1, z


def _smoothed(q, c0, c1):
    """a_c = w_c ((1 - eps) target_c + eps / C) on classes [c0, c1), float64."""
    p = q.p
    a = (1 - p.eps) * q.tp[:, c0:c1].astype(np.float64) + p.eps / q.n_classes
    return a * p.w[c0:c1] if p.w.size else a


def _prob_row_losses(q):
    """Per-row losses with class probabilities, float64: sum_c a_c (lse - z_c)
    = sum_c a_c (m - z_c) + mass log(s), no cancellation (every term >= 0 for
    weights >= 0), and the row's lse and mass; rows whose result is NaN (an
    infinite or NaN logit) recomputed by cross_entropy's kernel."""
    p = q.p
    N, C = q.x2.shape[0], q.n_classes
    m = np.full(N, -np.inf)
    s = np.zeros(N)
    spread = np.zeros(N)  # sum_c a_c (m - z_c) over the classes seen, m the running max
    mass = np.zeros(N)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for c0 in range(0, C, q.block):
            c1 = min(c0 + q.block, C)
            z = _logits(q, c0, c1)
            m_new = _merge_block(m, s, z)
            # move what was summed to the new max (nothing yet on the first block)
            spread += np.where(mass != 0, mass * (m_new - m), 0.0)
            m = m_new
            a = _smoothed(q, c0, c1)
            spread += (a * (m[:, None] - z)).sum(axis=1)
            mass += a.sum(axis=1)
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
