# Row losses over the last axis of (N, D) operands: cosine_embedding_loss,
# triplet_margin_loss, multi_margin_loss and multilabel_margin_loss.
# Loops only; the drivers (fastnl._drivers.losses) check and broadcast.
#
# Each row is one thread's, its sums in float64 in a fixed order (FNL_LANES
# partial sums for the norms, dot products and hinge sums), so the results do not depend
# on the thread count; the per-row losses are float64 (the driver sums them
# in fnl_ordered_sum's fixed order).

from cython.parallel cimport prange, threadid
from cython cimport floating
from libc.math cimport sqrt, fabs, pow
from libc.stdint cimport int64_t
cimport numpy as cnp
from fastnl._kernels._loss_scalar cimport _passes
from fastnl._kernels._ndarray cimport float_typenum, plain_array

cnp.import_array()

cdef enum:
    # PyTorch's grain: below this many elements no thread is started.
    GRAIN = 32768
GRAIN_SIZE = GRAIN
# torch's EPSILON of cosine_embedding_loss, added to both squared norms: a
# float constant, 1e-12 rounded to float32 (9.99999996e-13), in any dtype
cdef double EPS = <float>1e-12
COSINE_EPS = EPS


cdef extern from *:
    """
    #include <math.h>
    #include <stddef.h>
    #include <stdint.h>
    #include "fnl_common.h"

    /* The float64 sums of a row, as GCC target clones (fnl_common.h).
       Element j goes into lane j % FNL_LANES and the lanes are added in a
       fixed order: the order never depends on the thread count or the
       vector width, and the lanes' additions overlap instead of waiting on
       one chain. One definition per float type, from this macro. */
    #define FNL_LANES 8
    static inline double fnl_lanes_sum(const double *v) {
        return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
    }
    #define FNL_ROW_SUMS(s, T)                                                        \
    /* (a.b, a.a, b.b) */                                                             \
    FNL_CLONES static void fnl_dot3_##s(const T *a, const T *b, ptrdiff_t D,          \
                                        double *sums) {                               \
        double p[FNL_LANES] = {0}, aa[FNL_LANES] = {0}, bb[FNL_LANES] = {0};          \
        ptrdiff_t m = D - D % FNL_LANES;                                              \
        for (ptrdiff_t j = 0; j < m; j += FNL_LANES) {                                \
            FNL_SIMD                                                                  \
            for (int l = 0; l < FNL_LANES; l++) {                                     \
                double x = a[j + l], y = b[j + l];                                    \
                p[l] += x * y; aa[l] += x * x; bb[l] += y * y;                        \
            }                                                                         \
        }                                                                             \
        for (ptrdiff_t j = m; j < D; j++) {                                           \
            double x = a[j], y = b[j];                                                \
            p[j - m] += x * y; aa[j - m] += x * x; bb[j - m] += y * y;                \
        }                                                                             \
        sums[0] = fnl_lanes_sum(p);                                                   \
        sums[1] = fnl_lanes_sum(aa);                                                  \
        sums[2] = fnl_lanes_sum(bb);                                                  \
    }                                                                                 \
    /* the sum of |u - v + eps|^p, the difference and eps added in T, p = 2 or 1 */  \
    FNL_CLONES static double fnl_norm_sum_##s(const T *u, const T *v, ptrdiff_t D,    \
                                              T eps, int p) {                         \
        double acc[FNL_LANES] = {0};                                                  \
        ptrdiff_t m = D - D % FNL_LANES;                                              \
        if (p == 2) {                                                                 \
            for (ptrdiff_t j = 0; j < m; j += FNL_LANES) {                            \
                FNL_SIMD                                                              \
                for (int l = 0; l < FNL_LANES; l++) {                                 \
                    double d = (T)(u[j + l] - v[j + l]) + eps;                        \
                    acc[l] += d * d;                                                  \
                }                                                                     \
            }                                                                         \
        } else {                                                                      \
            for (ptrdiff_t j = 0; j < m; j += FNL_LANES) {                            \
                FNL_SIMD                                                              \
                for (int l = 0; l < FNL_LANES; l++)                                   \
                    acc[l] += fabs((double)((T)(u[j + l] - v[j + l]) + eps));         \
            }                                                                         \
        }                                                                             \
        for (ptrdiff_t j = m; j < D; j++) {                                           \
            double d = fabs((double)((T)(u[j] - v[j]) + eps));                        \
            acc[j - m] += p == 2 ? d * d : d;                                         \
        }                                                                             \
        return fnl_lanes_sum(acc);                                                    \
    }                                                                                 \
    /* multi_margin_loss's row: the sum over i != y of w max(0, z_i)^p,           \
       z_i = (margin - x_y) + x_i in T, p = 1 or 2 (a NaN z passes nothing) */    \
    FNL_CLONES static double fnl_hinge_sum_##s(const T *x, ptrdiff_t C, ptrdiff_t y,  \
                                               T margin, double w, int p) {           \
        double acc[FNL_LANES] = {0};                                                  \
        T base = margin - x[y];                                                       \
        ptrdiff_t m = C - C % FNL_LANES;                                              \
        for (ptrdiff_t j = 0; j < m; j += FNL_LANES) {                                \
            FNL_SIMD                                                                  \
            for (int l = 0; l < FNL_LANES; l++) {                                     \
                T z = base + x[j + l];                                                \
                double h = p == 1 ? (double)z : (double)z * z;                        \
                acc[l] += (j + l != y && z > 0) ? h * w : 0.0;                        \
            }                                                                         \
        }                                                                             \
        for (ptrdiff_t i = m; i < C; i++) {                                           \
            T z = base + x[i];                                                        \
            double h = p == 1 ? (double)z : (double)z * z;                            \
            acc[i - m] += (i != y && z > 0) ? h * w : 0.0;                            \
        }                                                                             \
        return fnl_lanes_sum(acc);                                                    \
    }                                                                                 \
    /* its gradient: gx_i = gs (1 or 2 z_i) where the hinge passes, else 0;     \
       returns their sum (gx_y is left 0) */                                       \
    FNL_CLONES static double fnl_hinge_grad_##s(const T *x, ptrdiff_t C, ptrdiff_t y, \
                                                T margin, double gs, int p, T *gx) {  \
        double acc[FNL_LANES] = {0};                                                  \
        T base = margin - x[y];                                                       \
        ptrdiff_t m = C - C % FNL_LANES;                                              \
        for (ptrdiff_t j = 0; j < m; j += FNL_LANES) {                                \
            FNL_SIMD                                                                  \
            for (int l = 0; l < FNL_LANES; l++) {                                     \
                T z = base + x[j + l];                                                \
                double h = (j + l != y && z > 0) ? (p == 1 ? gs : 2 * gs * z) : 0.0;  \
                gx[j + l] = (T)h;                                                     \
                acc[l] += h;                                                          \
            }                                                                         \
        }                                                                             \
        for (ptrdiff_t i = m; i < C; i++) {                                           \
            T z = base + x[i];                                                        \
            double h = (i != y && z > 0) ? (p == 1 ? gs : 2 * gs * z) : 0.0;          \
            gx[i] = (T)h;                                                             \
            acc[i - m] += h;                                                          \
        }                                                                             \
        return fnl_lanes_sum(acc);                                                    \
    }                                                                                 \
    /* multilabel_margin_loss's row: over its k targets y_j and the classes i  \
       kept (keep[i] = 1; 0 at a target), the sum of max(0, z), z = (1 -         \
       x_(y_j)) + x_i in T (a NaN z passes nothing), target by target */          \
    FNL_CLONES static double fnl_multilabel_sum_##s(const T *x, ptrdiff_t C,          \
                                                    const int64_t *y, ptrdiff_t k,    \
                                                    const double *keep) {             \
        double acc[FNL_LANES] = {0};                                                  \
        ptrdiff_t m = C - C % FNL_LANES;                                              \
        for (ptrdiff_t j = 0; j < k; j++) {                                           \
            T base = 1 - x[y[j]];                                                     \
            for (ptrdiff_t i = 0; i < m; i += FNL_LANES) {                            \
                FNL_SIMD                                                              \
                for (int l = 0; l < FNL_LANES; l++) {                                 \
                    T z = base + x[i + l];                                            \
                    acc[l] += keep[i + l] != 0 && z > 0 ? (double)z : 0.0;            \
                }                                                                     \
            }                                                                         \
            for (ptrdiff_t i = m; i < C; i++) {                                       \
                T z = base + x[i];                                                    \
                acc[i - m] += keep[i] != 0 && z > 0 ? (double)z : 0.0;                \
            }                                                                         \
        }                                                                             \
        return fnl_lanes_sum(acc);                                                    \
    }                                                                                 \
    /* its gradient in units of g / C: into count[i], how many targets' hinges  \
       pass at kept class i, and at each target y_j minus how many pass for it   \
       (exact integers: the gradient is then one product per element) */         \
    FNL_CLONES static void fnl_multilabel_counts_##s(const T *x, ptrdiff_t C,         \
                                                    const int64_t *y, ptrdiff_t k,    \
                                                    const double *keep,               \
                                                    double *count) {                  \
        ptrdiff_t m = C - C % FNL_LANES;                                              \
        for (ptrdiff_t i = 0; i < C; i++) count[i] = 0;                               \
        for (ptrdiff_t j = 0; j < k; j++) {                                           \
            T base = 1 - x[y[j]];                                                     \
            double acc[FNL_LANES] = {0};                                              \
            for (ptrdiff_t i = 0; i < m; i += FNL_LANES) {                            \
                FNL_SIMD                                                              \
                for (int l = 0; l < FNL_LANES; l++) {                                 \
                    double pass = base + x[i + l] > 0 ? keep[i + l] : 0.0;            \
                    count[i + l] += pass;                                             \
                    acc[l] += pass;                                                   \
                }                                                                     \
            }                                                                         \
            for (ptrdiff_t i = m; i < C; i++) {                                       \
                double pass = base + x[i] > 0 ? keep[i] : 0.0;                        \
                count[i] += pass;                                                     \
                acc[i - m] += pass;                                                   \
            }                                                                         \
            count[y[j]] -= fnl_lanes_sum(acc);                                        \
        }                                                                             \
    }
    FNL_ROW_SUMS(f, float)
    FNL_ROW_SUMS(d, double)
    """
    void fnl_dot3_f(const float *a, const float *b, Py_ssize_t D, double *sums) noexcept nogil
    void fnl_dot3_d(const double *a, const double *b, Py_ssize_t D, double *sums) noexcept nogil
    double fnl_norm_sum_f(const float *u, const float *v, Py_ssize_t D, float eps, int p) noexcept nogil
    double fnl_norm_sum_d(const double *u, const double *v, Py_ssize_t D, double eps, int p) noexcept nogil
    double fnl_hinge_sum_f(const float *x, Py_ssize_t C, Py_ssize_t y, float margin, double w,
                           int p) noexcept nogil
    double fnl_hinge_sum_d(const double *x, Py_ssize_t C, Py_ssize_t y, double margin, double w,
                           int p) noexcept nogil
    double fnl_hinge_grad_f(const float *x, Py_ssize_t C, Py_ssize_t y, float margin, double gs,
                            int p, float *gx) noexcept nogil
    double fnl_hinge_grad_d(const double *x, Py_ssize_t C, Py_ssize_t y, double margin,
                            double gs, int p, double *gx) noexcept nogil
    double fnl_multilabel_sum_f(const float *x, Py_ssize_t C, const int64_t *y, Py_ssize_t k,
                                const double *keep) noexcept nogil
    double fnl_multilabel_sum_d(const double *x, Py_ssize_t C, const int64_t *y, Py_ssize_t k,
                                const double *keep) noexcept nogil
    void fnl_multilabel_counts_f(const float *x, Py_ssize_t C, const int64_t *y, Py_ssize_t k,
                                 const double *keep, double *count) noexcept nogil
    void fnl_multilabel_counts_d(const double *x, Py_ssize_t C, const int64_t *y, Py_ssize_t k,
                                 const double *keep, double *count) noexcept nogil
    ctypedef void cloned_void "FNL_CLONED_VOID"
    double fnl_combine16(const double *a, Py_ssize_t stride) noexcept nogil


cdef inline void _dot3(const floating *a, const floating *b, Py_ssize_t D,
                       double *sums) noexcept nogil:
    if floating is float:
        fnl_dot3_f(a, b, D, sums)
    else:
        fnl_dot3_d(a, b, D, sums)


cdef inline void _cosine(const floating *a, const floating *b, Py_ssize_t D, double *cos,
                         double *m1, double *m2, double *den) noexcept nogil:
    """cos = a.b / sqrt((|a|^2 + eps)(|b|^2 + eps)), and its parts."""
    cdef double sums[3]
    _dot3(a, b, D, sums)
    m1[0] = sums[1] + EPS
    m2[0] = sums[2] + EPS
    den[0] = sqrt(m1[0] * m2[0])
    cos[0] = sums[0] / den[0]


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


cdef cloned_void _cosine_row_grads(const floating *x1, const floating *x2, Py_ssize_t D,
                                   double c, double cos, double m1, double m2, double den,
                                   floating *gx1, floating *gx2) noexcept nogil:
    """One row of cosine_embedding_backward: c times d cos / d x1 and
    d cos / d x2. A GCC target clone (fnl_common.h)."""
    cdef Py_ssize_t j
    # the row's factors first, no division per element (the backward of 1000
    # rows of 100, float32, one thread: 335 -> 251-279 us); den, m1 and m2
    # are at least eps > 0
    cdef double k = c / den, k1 = c * cos / m1, k2 = c * cos / m2
    for j in range(D):
        gx1[j] = <floating>(k * x2[j] - k1 * x1[j])
        gx2[j] = <floating>(k * x1[j] - k2 * x2[j])


def cosine_embedding_backward(const floating[:, ::1] x1, const floating[:, ::1] x2,
                              const floating[::1] y, double margin, const floating[::1] g,
                              double scale, floating[:, ::1] gx1, floating[:, ::1] gx2,
                              int n_threads):
    """d loss / d cos times the row's upstream gradient (g[n], or `scale` for
    an empty g), through d cos / d x1 = x2 / den - cos x1 / m1 (and the same
    with the operands swapped)."""
    cdef Py_ssize_t n, N = x1.shape[0], D = x1.shape[1]
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
        _cosine_row_grads(&x1[n, 0], &x2[n, 0], D, c, cos, m1, m2, den, &gx1[n, 0], &gx2[n, 0])


# ---------------------------------------------------------------- triplet_margin_loss

cdef inline double _distance(const floating *u, const floating *v, Py_ssize_t D, floating eps,
                             double p) noexcept nogil:
    """torch's pairwise_distance: the p-norm of u - v + eps (the difference
    and eps added in the data's dtype, the norm in float64)."""
    cdef Py_ssize_t j
    cdef double s = 0
    if p == 2 or p == 1:
        if floating is float:
            s = fnl_norm_sum_f(u, v, D, eps, <int>p)
        else:
            s = fnl_norm_sum_d(u, v, D, eps, <int>p)
        return sqrt(s) if p == 2 else s
    for j in range(D):
        s = s + pow(fabs(<floating>(<floating>(u[j] - v[j]) + eps)), p)
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


cdef cloned_void _triplet_row_grads(const floating *a, const floating *pos, const floating *neg,
                                    Py_ssize_t D, floating eps, double p, double dp, double dn,
                                    double ds, double c, double s, double t, floating *ga,
                                    floating *gp, floating *gn) noexcept nogil:
    """One row of triplet_margin_backward (its docstring says what c, s and
    t are). A GCC target clone (fnl_common.h)."""
    cdef Py_ssize_t j
    cdef double wp, wn, ws
    if p == 2:
        # _distance_grad's p = 2 case, written out so that it vectorises:
        # d / dist, 0 where the distance is 0
        for j in range(D):
            wp = <floating>(<floating>(a[j] - pos[j]) + eps) / dp if dp != 0 else 0
            wn = <floating>(<floating>(a[j] - neg[j]) + eps) / dn if s != 0 and dn != 0 else 0
            ws = <floating>(<floating>(pos[j] - neg[j]) + eps) / ds if t != 0 and ds != 0 else 0
            ga[j] = <floating>(c * (wp - s * wn))
            gp[j] = <floating>(c * (-wp - t * ws))
            gn[j] = <floating>(c * (s * wn + t * ws))
        return
    for j in range(D):
        wp = _distance_grad(a[j], pos[j], eps, p, dp)
        wn = _distance_grad(a[j], neg[j], eps, p, dn) if s != 0 else 0
        ws = _distance_grad(pos[j], neg[j], eps, p, ds) if t != 0 else 0
        ga[j] = <floating>(c * (wp - s * wn))
        gp[j] = <floating>(c * (-wp - t * ws))
        gn[j] = <floating>(c * (s * wn + t * ws))


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
    cdef Py_ssize_t n, N = a.shape[0], D = a.shape[1]
    cdef bint has_g = g.shape[0] > 0
    cdef floating eps_ = <floating>eps
    cdef double dp, dn, ds, c, s, t
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
        _triplet_row_grads(&a[n, 0], &pos[n, 0], &neg[n, 0], D, eps_, p, dp, dn, ds, c, s, t,
                           &ga[n, 0], &gp[n, 0], &gn[n, 0])


# ---------------------------------------------------------------- multi_margin_loss

cdef inline double _hinge_row(const floating *x, Py_ssize_t C, Py_ssize_t y, floating margin,
                              double w, int p) noexcept nogil:
    """A row's multi_margin_loss: the sum over the classes i != y of w max(0,
    margin - x_y + x_i)^p, over C (torch's; z in the data's dtype as torch
    forms it)."""
    if floating is float:
        return fnl_hinge_sum_f(x, C, y, margin, w, p) / C
    else:
        return fnl_hinge_sum_d(x, C, y, margin, w, p) / C


def multi_margin(const floating[:, ::1] x, const int64_t[::1] target, const double[::1] weight,
                 int p, double margin, double[::1] out, int n_threads):
    """Each row's loss (_hinge_row), the class weight w_y."""
    cdef Py_ssize_t n, y, N = x.shape[0], C = x.shape[1]
    cdef bint has_w = weight.shape[0] > 0
    cdef floating margin_ = <floating>margin
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * C > GRAIN):
        y = target[n]
        out[n] = _hinge_row(&x[n, 0], C, y, margin_, weight[y] if has_w else 1, p)


cdef double _multi_margin_total(const floating *x, Py_ssize_t N, Py_ssize_t C,
                                const int64_t *target, int p, floating margin) noexcept nogil:
    cdef Py_ssize_t n
    cdef double part[16]
    for n in range(16):
        part[n] = 0
    for n in range(N):  # ordered_sum's order: row n into partial n % 16
        part[n & 15] += _hinge_row(x + n * C, C, target[n], margin, 1, p)
    return fnl_combine16(part, 1)


cdef int _small_operands(object x, object target, bint per_class):
    """The margin losses' small-call operands: x a plain (N, C) float32 or
    float64 ndarray, N C between 1 and the grain, target a plain int64
    ndarray of shape (N,), or (N, C) with `per_class`: x's typenum, else -1."""
    cdef int typenum = float_typenum(x)
    cdef Py_ssize_t N, C
    if (typenum < 0 or cnp.PyArray_NDIM(<cnp.ndarray>x) != 2
            or not plain_array(target, cnp.NPY_INT64)
            or cnp.PyArray_NDIM(<cnp.ndarray>target) != 1 + per_class):
        return -1
    N, C = cnp.PyArray_DIM(<cnp.ndarray>x, 0), cnp.PyArray_DIM(<cnp.ndarray>x, 1)
    if (N == 0 or C == 0 or N * C > GRAIN or cnp.PyArray_DIM(<cnp.ndarray>target, 0) != N
            or (per_class and cnp.PyArray_DIM(<cnp.ndarray>target, 1) != C)):
        return -1
    return typenum


def multi_margin_reduced(x, target, int p, double margin):
    """multi_margin_loss's summed row losses over a plain (N, C) float32/float64
    ndarray with a plain int64 (N,) ndarray of class indices in [0, C) and no
    class weights, N C up to the grain (one thread), in one call: the
    small-call path (NumPy's C API instead of memoryviews, no parallel
    region, none of the general path's Python: 5.6 -> 1.2 us on 4 x 10), the
    general path's bits. None, having done nothing, for any other operands:
    the general path then converts, raises or takes them."""
    cdef int typenum = _small_operands(x, target, False)
    cdef Py_ssize_t n, N, C
    cdef const int64_t *t
    cdef const void *data
    cdef double total
    if typenum < 0:
        return None
    N, C = cnp.PyArray_DIM(<cnp.ndarray>x, 0), cnp.PyArray_DIM(<cnp.ndarray>x, 1)
    t = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>target)
    for n in range(N):
        if t[n] < 0 or t[n] >= C:
            return None
    data = cnp.PyArray_DATA(<cnp.ndarray>x)
    with nogil:
        if typenum == cnp.NPY_FLOAT:
            total = _multi_margin_total(<const float*>data, N, C, t, p, <float>margin)
        else:
            total = _multi_margin_total(<const double*>data, N, C, t, p, margin)
    return total


def multi_margin_backward(const floating[:, ::1] x, const int64_t[::1] target,
                          const double[::1] weight, int p, double margin,
                          const floating[::1] g, double scale, floating[:, ::1] gx,
                          int n_threads):
    """gs w_y (1 or 2 z) / C at each class whose hinge passes (z > 0, torch's
    kernel: a NaN z passes nothing, in the forward too), minus their sum at
    the target class."""
    cdef Py_ssize_t n, y, N = x.shape[0], C = x.shape[1]
    cdef bint has_w = weight.shape[0] > 0, has_g = g.shape[0] > 0
    cdef floating margin_ = <floating>margin
    cdef double gs, total
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * C > GRAIN):
        y = target[n]
        gs = (g[n] if has_g else scale) / C
        if has_w:
            gs = gs * weight[y]
        if floating is float:
            total = fnl_hinge_grad_f(&x[n, 0], C, y, margin_, gs, p, &gx[n, 0])
        else:
            total = fnl_hinge_grad_d(&x[n, 0], C, y, margin_, gs, p, &gx[n, 0])
        gx[n, y] = <floating>(-total)


# ---------------------------------------------------------------- multilabel_margin_loss

cdef inline Py_ssize_t _mark_targets(const int64_t *t, Py_ssize_t C, double *keep) noexcept nogil:
    """keep[i] = 0 at a row's target classes (those before its first -1,
    torch's terminator; the driver has checked that no entry is below), 1
    elsewhere; returns how many targets there are."""
    cdef Py_ssize_t j, k = 0
    for j in range(C):
        keep[j] = 1
    for j in range(C):
        if t[j] < 0:
            break
        keep[t[j]] = 0
        k = k + 1
    return k


cdef inline double _multilabel_row(const floating *x, Py_ssize_t C, const int64_t *t,
                                   double *keep) noexcept nogil:
    """A row's multilabel_margin_loss: the sum over its targets j and
    non-target classes i of max(0, 1 - x_j + x_i), over C (torch's kernel; z
    in the data's dtype). keep: C doubles of scratch."""
    cdef Py_ssize_t k = _mark_targets(t, C, keep)
    if floating is float:
        return fnl_multilabel_sum_f(x, C, t, k, keep) / C
    else:
        return fnl_multilabel_sum_d(x, C, t, k, keep) / C


def multilabel_margin(const floating[:, ::1] x, const int64_t[:, ::1] target,
                      double[:, ::1] scratch, double[::1] out, int n_threads):
    """Each row's loss (_multilabel_row). scratch: (threads, 2 C)."""
    cdef Py_ssize_t n, N = x.shape[0], C = x.shape[1]
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * C > GRAIN):
        out[n] = _multilabel_row(&x[n, 0], C, &target[n, 0], &scratch[threadid(), 0])


cdef double _multilabel_total(const floating *x, Py_ssize_t N, Py_ssize_t C,
                              const int64_t *target, double *keep) noexcept nogil:
    cdef Py_ssize_t n
    cdef double part[16]
    for n in range(16):
        part[n] = 0
    for n in range(N):  # ordered_sum's order: row n into partial n % 16
        part[n & 15] += _multilabel_row(x + n * C, C, target + n * C, keep)
    return fnl_combine16(part, 1)


def multilabel_margin_reduced(x, target):
    """multilabel_margin_loss's summed row losses over a plain (N, C)
    float32/float64 ndarray with a plain int64 (N, C) target whose entries
    are all in [-1, C), N C up to the grain, in one call: the small-call
    path, as multi_margin_reduced (5.8 -> 1.3 us on 4 x 10). None, having done
    nothing, for any other operands."""
    cdef int typenum = _small_operands(x, target, True)
    cdef Py_ssize_t i, N, C
    cdef const int64_t *t
    cdef const void *data
    cdef double total
    cdef cnp.npy_intp width
    cdef double[::1] keep
    if typenum < 0:
        return None
    N, C = cnp.PyArray_DIM(<cnp.ndarray>x, 0), cnp.PyArray_DIM(<cnp.ndarray>x, 1)
    t = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>target)
    for i in range(N * C):
        if t[i] < -1 or t[i] >= C:
            return None
    width = C
    keep = cnp.PyArray_EMPTY(1, &width, cnp.NPY_DOUBLE, 0)
    data = cnp.PyArray_DATA(<cnp.ndarray>x)
    with nogil:
        if typenum == cnp.NPY_FLOAT:
            total = _multilabel_total(<const float*>data, N, C, t, &keep[0])
        else:
            total = _multilabel_total(<const double*>data, N, C, t, &keep[0])
    return total


def multilabel_margin_backward(const floating[:, ::1] x, const int64_t[:, ::1] target,
                               double[:, ::1] scratch, const floating[::1] g,
                               double scale, floating[:, ::1] gx, int n_threads):
    """gs / C at each non-target class per target whose hinge passes (z > 0),
    minus as much at that target: the count of passes times gs / C, rounded
    once (torch adds the steps one at a time). scratch: (threads, 2 C)."""
    cdef Py_ssize_t n, i, k, N = x.shape[0], C = x.shape[1]
    cdef bint has_g = g.shape[0] > 0
    cdef double *keep
    cdef double *count
    cdef double gs
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * C > GRAIN):
        keep = &scratch[threadid(), 0]
        count = keep + C
        k = _mark_targets(&target[n, 0], C, keep)
        gs = (g[n] if has_g else scale) / C
        if floating is float:
            fnl_multilabel_counts_f(&x[n, 0], C, &target[n, 0], k, keep, count)
        else:
            fnl_multilabel_counts_d(&x[n, 0], C, &target[n, 0], k, keep, count)
        for i in range(C):
            gx[n, i] = <floating>(count[i] * gs)
