# Row losses over the last axis of (N, D) operands: cosine_embedding_loss and
# triplet_margin_loss.
# Loops only; the drivers (fastnl._drivers.losses) check and broadcast.
#
# Each row is one thread's, its sums in float64 in element order, so the
# results do not depend on the thread count; the per-row losses are float64
# (the driver sums them in row order).

from cython.parallel cimport prange, threadid
from cython cimport floating
from libc.math cimport sqrt, fabs, pow
from libc.stdint cimport int64_t
from fastnl._kernels._loss_scalar cimport _passes

cdef enum:
    # PyTorch's grain: below this many elements no thread is started.
    GRAIN = 32768
GRAIN_SIZE = GRAIN
# torch's EPSILON of cosine_embedding_loss, added to both squared norms: a
# float constant, 1e-12 rounded to float32 (9.99999996e-13), in any dtype
cdef double EPS = <float>1e-12
COSINE_EPS = EPS


cdef inline void _cosine(const floating *a, const floating *b, Py_ssize_t D, double *cos,
                         double *m1, double *m2, double *den) noexcept nogil:
    """cos = a.b / sqrt((|a|^2 + eps)(|b|^2 + eps)), and its parts."""
    cdef Py_ssize_t j
    cdef double p = 0, s1 = 0, s2 = 0
    for j in range(D):
        p = p + <double>a[j] * b[j]
        s1 = s1 + <double>a[j] * a[j]
        s2 = s2 + <double>b[j] * b[j]
    m1[0] = s1 + EPS
    m2[0] = s2 + EPS
    den[0] = sqrt(m1[0] * m2[0])
    cos[0] = p / den[0]


def cosine_embedding(const floating[:, ::1] x1, const floating[:, ::1] x2,
                     const floating[::1] y, double margin, double[::1] out, int n_threads):
    """Each row's loss: 1 - cos where y = 1, max(cos - margin, 0) where y = -1,
    0 for any other target (torch's where(...) + where(...))."""
    cdef Py_ssize_t n, N = x1.shape[0], D = x1.shape[1]
    cdef double cos, m1, m2, den, pos, neg
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * D > GRAIN):
        cos = m1 = m2 = den = 0  # assigned in the loop: private to each thread
        _cosine(&x1[n, 0] if D else NULL, &x2[n, 0] if D else NULL, D, &cos, &m1, &m2, &den)
        pos = 1 - cos if y[n] == 1 else 0
        neg = 0
        if y[n] == -1:
            neg = cos - margin
            neg = 0 if neg < 0 else neg
        out[n] = pos + neg


def cosine_embedding_backward(const floating[:, ::1] x1, const floating[:, ::1] x2,
                              const floating[::1] y, double margin, const floating[::1] g,
                              double scale, floating[:, ::1] gx1, floating[:, ::1] gx2,
                              int n_threads):
    """d loss / d cos times the row's upstream gradient (g[n], or `scale` for
    an empty g), through d cos / d x1 = x2 / den - cos x1 / m1 (and the same
    with the operands swapped)."""
    cdef Py_ssize_t n, j, N = x1.shape[0], D = x1.shape[1]
    cdef bint has_g = g.shape[0] > 0
    cdef double cos, m1, m2, den, c
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * D > GRAIN):
        if D == 0:
            continue
        cos = m1 = m2 = den = 0  # assigned in the loop: private to each thread
        _cosine(&x1[n, 0], &x2[n, 0], D, &cos, &m1, &m2, &den)
        c = 0
        if y[n] == 1:
            c = -1
        if y[n] == -1:
            c = _passes(cos - margin)
        c = c * (g[n] if has_g else scale)
        for j in range(D):
            gx1[n, j] = <floating>(c * (x2[n, j] / den - cos * x1[n, j] / m1))
            gx2[n, j] = <floating>(c * (x1[n, j] / den - cos * x2[n, j] / m2))


# ---------------------------------------------------------------- triplet_margin_loss

cdef inline double _distance(const floating *u, const floating *v, Py_ssize_t D, floating eps,
                             double p) noexcept nogil:
    """torch's pairwise_distance: the p-norm of u - v + eps (the difference
    and eps added in the data's dtype, the norm in float64)."""
    cdef Py_ssize_t j
    cdef double d, s = 0
    for j in range(D):
        d = fabs(<floating>(<floating>(u[j] - v[j]) + eps))
        if p == 2:
            s = s + d * d
        elif p == 1:
            s = s + d
        else:
            s = s + pow(d, p)
    if p == 2:
        return sqrt(s)
    if p == 1:
        return s
    return pow(s, 1 / p)


cdef inline double _distance_grad(floating u, floating v, floating eps, double p,
                                  double dist) noexcept nogil:
    """d dist / d u at one element: sign(d) |d|^(p - 1) / dist^(p - 1); 0
    where the distance is 0 (torch's norm backward)."""
    cdef double d = <floating>(<floating>(u - v) + eps)
    if dist == 0:
        return 0
    if p == 2:
        return d / dist
    if p == 1:
        return 1 if d > 0 else (-1 if d < 0 else d * 0)
    return (1 if d > 0 else (-1 if d < 0 else d * 0)) * pow(fabs(d) / dist, p - 1)


def triplet_margin(const floating[:, ::1] a, const floating[:, ::1] pos,
                   const floating[:, ::1] neg, double margin, double p, double eps, bint swap,
                   double[::1] out, int n_threads):
    """max(margin + d(a, pos) - d(a, neg), 0) per row, d(a, neg) replaced by
    d(pos, neg) where that is smaller (swap)."""
    cdef Py_ssize_t n, N = a.shape[0], D = a.shape[1]
    cdef floating eps_ = <floating>eps
    cdef double dp, dn, ds, z
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * D > GRAIN):
        dp = _distance(&a[n, 0] if D else NULL, &pos[n, 0] if D else NULL, D, eps_, p)
        dn = _distance(&a[n, 0] if D else NULL, &neg[n, 0] if D else NULL, D, eps_, p)
        if swap:
            ds = _distance(&pos[n, 0] if D else NULL, &neg[n, 0] if D else NULL, D, eps_, p)
            dn = ds if ds < dn else dn
        z = margin + dp - dn
        out[n] = 0 if z < 0 else z


def triplet_margin_backward(const floating[:, ::1] a, const floating[:, ::1] pos,
                            const floating[:, ::1] neg, double margin, double p, double eps,
                            bint swap, const floating[::1] g, double scale,
                            floating[:, ::1] ga, floating[:, ::1] gp, floating[:, ::1] gn,
                            int n_threads):
    """The three gradients of a row: c (w_pos - s w_neg), c (-w_pos - t w_swap),
    c (s w_neg + t w_swap), with w the distances' gradients, c the row's
    upstream where the hinge passes, and (s, t) = (1, 0), (0, 1) for the
    distance swap chose, (1/2, 1/2) at a tie (torch's minimum)."""
    cdef Py_ssize_t n, j, N = a.shape[0], D = a.shape[1]
    cdef bint has_g = g.shape[0] > 0
    cdef floating eps_ = <floating>eps
    cdef double dp, dn, ds, c, s, t, wp, wn, ws
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * D > GRAIN):
        if D == 0:
            continue
        dp = _distance(&a[n, 0], &pos[n, 0], D, eps_, p)
        dn = _distance(&a[n, 0], &neg[n, 0], D, eps_, p)
        s, t, ds = 1, 0, 0
        if swap:
            ds = _distance(&pos[n, 0], &neg[n, 0], D, eps_, p)
            if ds < dn:
                s, t = 0, 1
            elif ds == dn:
                s, t = 0.5, 0.5
        c = _passes(margin + dp - (ds if t == 1 else dn))
        c = c * (g[n] if has_g else scale)
        for j in range(D):
            wp = _distance_grad(a[n, j], pos[n, j], eps_, p, dp)
            wn = _distance_grad(a[n, j], neg[n, j], eps_, p, dn) if s != 0 else 0
            ws = _distance_grad(pos[n, j], neg[n, j], eps_, p, ds) if t != 0 else 0
            ga[n, j] = <floating>(c * (wp - s * wn))
            gp[n, j] = <floating>(c * (-wp - t * ws))
            gn[n, j] = <floating>(c * (s * wn + t * ws))


# ---------------------------------------------------------------- multi_margin_loss

def multi_margin(const floating[:, ::1] x, const int64_t[::1] target, const double[::1] weight,
                 int p, double margin, double[::1] out, int n_threads):
    """Each row's sum over the classes i != y of w_y max(0, margin - x_y + x_i)^p,
    over C (torch's; z in the data's dtype as torch forms it)."""
    cdef Py_ssize_t n, i, y, N = x.shape[0], C = x.shape[1]
    cdef bint has_w = weight.shape[0] > 0
    cdef floating margin_ = <floating>margin, z
    cdef double s, h
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * C > GRAIN):
        y = target[n]
        s = 0
        for i in range(C):
            z = <floating>(margin_ - x[n, y]) + x[n, i]
            if i != y and z > 0:
                h = z if p == 1 else <double>z * z
                s = s + (h * weight[y] if has_w else h)
        out[n] = s / C


def multi_margin_backward(const floating[:, ::1] x, const int64_t[::1] target,
                          const double[::1] weight, int p, double margin,
                          const floating[::1] g, double scale, floating[:, ::1] gx,
                          int n_threads):
    """gs w_y (1 or 2 z) / C at each class whose hinge passes (z > 0, torch's
    kernel: a NaN z passes nothing, in the forward too), minus their sum at
    the target class."""
    cdef Py_ssize_t n, i, y, N = x.shape[0], C = x.shape[1]
    cdef bint has_w = weight.shape[0] > 0, has_g = g.shape[0] > 0
    cdef floating margin_ = <floating>margin, z
    cdef double gs, h, total
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * C > GRAIN):
        y = target[n]
        gs = (g[n] if has_g else scale) / C
        if has_w:
            gs = gs * weight[y]
        total = 0
        for i in range(C):
            z = <floating>(margin_ - x[n, y]) + x[n, i]
            h = 0
            if i != y and z > 0:
                h = gs if p == 1 else 2 * gs * z
            gx[n, i] = <floating>h
            total = total + h
        gx[n, y] = <floating>(-(total - gx[n, y]))


# ---------------------------------------------------------------- multilabel_margin_loss

cdef inline Py_ssize_t _mark_targets(const int64_t *t, Py_ssize_t C,
                                     unsigned char *is_target) noexcept nogil:
    """Mark a row's target classes (those before its first -1, torch's
    terminator; the driver has checked that no entry is below) and return
    how many there are."""
    cdef Py_ssize_t j, k = 0
    for j in range(C):
        is_target[j] = 0
    for j in range(C):
        if t[j] < 0:
            break
        is_target[t[j]] = 1
        k = k + 1
    return k


def multilabel_margin(const floating[:, ::1] x, const int64_t[:, ::1] target,
                      unsigned char[:, ::1] scratch, double[::1] out, int n_threads):
    """Each row's sum over its targets j and non-target classes i of
    max(0, 1 - x_j + x_i), over C (torch's kernel; z in the data's dtype)."""
    cdef Py_ssize_t n, j, i, k, N = x.shape[0], C = x.shape[1]
    cdef unsigned char *is_target
    cdef floating z
    cdef double s
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * C > GRAIN):
        is_target = &scratch[threadid(), 0]
        k = _mark_targets(&target[n, 0], C, is_target)
        s = 0
        for j in range(k):
            for i in range(C):
                z = <floating>(1 - x[n, target[n, j]]) + x[n, i]
                if not is_target[i] and z > 0:
                    s = s + z
        out[n] = s / C


def multilabel_margin_backward(const floating[:, ::1] x, const int64_t[:, ::1] target,
                               unsigned char[:, ::1] scratch, const floating[::1] g,
                               double scale, floating[:, ::1] gx, int n_threads):
    """gs / C at each non-target class per target whose hinge passes (z > 0),
    minus as much at that target."""
    cdef Py_ssize_t n, j, i, k, y, N = x.shape[0], C = x.shape[1]
    cdef bint has_g = g.shape[0] > 0
    cdef unsigned char *is_target
    cdef floating z
    cdef double gs
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * C > GRAIN):
        is_target = &scratch[threadid(), 0]
        k = _mark_targets(&target[n, 0], C, is_target)
        gs = (g[n] if has_g else scale) / C
        for i in range(C):
            gx[n, i] = 0
        for j in range(k):
            y = target[n, j]
            for i in range(C):
                z = <floating>(1 - x[n, y]) + x[n, i]
                if not is_target[i] and z > 0:
                    gx[n, y] = <floating>(gx[n, y] - gs)
                    gx[n, i] = <floating>(gx[n, i] + gs)
