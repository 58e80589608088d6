# Scalar math of the pointwise losses: one inline function per loss and one per
# derivative, nothing else.
#
# Over the fused type `floating`, evaluated in the data's own precision, as
# torch does (the kernels accumulate the results in float64). NaN in gives NaN
# out: every branch is written so that a NaN comparison falls through to an
# arithmetic expression of the NaN. exp, sigmoid and softplus are the
# activations' own (fnl_math.h, fnl_activations.h, through _scalar.pxd); log
# and log1p of any argument are libm's (_math.pxd).

from libc.math cimport INFINITY
from cython cimport floating
from fastnl._kernels._math cimport log_, log1p_, fabs_
from fastnl._kernels._scalar cimport exp_, sigmoid, softplus


cdef inline floating mse(floating x, floating t) noexcept nogil:
    cdef floating d = x - t
    return d * d


cdef inline floating l1(floating x, floating t) noexcept nogil:
    return fabs_(x - t)


cdef inline floating smooth_l1(floating x, floating t, floating beta) noexcept nogil:
    # beta == 0: `d < 0` is never true, so this is exactly l1 (torch's special case)
    # without dividing by zero.
    cdef floating d = fabs_(x - t)
    if d < beta:
        return <floating>0.5 * d * d / beta
    return d - <floating>0.5 * beta


cdef inline floating huber(floating x, floating t, floating delta) noexcept nogil:
    cdef floating d = fabs_(x - t)
    if d < delta:
        return <floating>0.5 * d * d
    return delta * (d - <floating>0.5 * delta)


cdef inline floating kl_div(floating x, floating t) noexcept nogil:
    # torch: xlogy(t, t) - t * x; a negative target gives NaN (log of a
    # negative). A zero target contributes exactly 0, the limit of q log(q / p),
    # also where x = log p = -inf (torch: 0 * inf = NaN); NaN x stays NaN.
    if t == 0:
        return 0 if x == x else x
    return t * log_(t) - t * x


cdef inline floating kl_div_log(floating x, floating t) noexcept nogil:
    # log_target=True: the target is log q, so q (log q - x) = exp(t) (t - x);
    # t = -inf (q = 0) contributes 0, the limit (torch: 0 * inf = NaN).
    if t == -INFINITY:
        return 0 if x == x else x
    return exp_(t) * (t - x)


cdef inline floating bce(floating x, floating t) noexcept nogil:
    # torch clamps both logs at -100 so that x = 0 or 1 gives a finite loss
    # (at most 100 per element) instead of inf.
    cdef floating lo = log1p_(-x), lx = log_(x)
    if lo < -100:
        lo = -100
    if lx < -100:
        lx = -100
    return (t - 1) * lo - t * lx


cdef inline floating softplus_neg(floating x) noexcept nogil:
    # -log(sigmoid(x)) = log(1 + exp(-x)) = softplus(-x), which the activation
    # computes as max(-x, 0) + log1p(exp(-|x|)): exp only ever sees -|x| <= 0,
    # so it cannot overflow (x = -1e4 gives 1e4). beta 1, no threshold.
    return softplus(-x, <floating>1, <floating>INFINITY)


cdef inline floating bce_logits(floating x, floating t, floating pos_weight) noexcept nogil:
    # torch: (1 - t) x + (1 + (pos_weight - 1) t) (-log sigmoid(x)).
    return (1 - t) * x + (1 + (pos_weight - 1) * t) * softplus_neg(x)


# ---------------------------------------------------------------- derivatives
#
# d loss / d x, one per loss, as torch's backward kernels compute them
# (sub-gradients at the kinks included). NaN in gives NaN out, also where
# torch's sign() turns it into 0 (l1, smooth_l1 with beta = 0).

cdef inline floating mse_grad(floating x, floating t) noexcept nogil:
    return 2 * (x - t)


cdef inline floating _sign(floating d) noexcept nogil:
    # sign(d), 0 at 0 (torch's sub-gradient of |d|), NaN for NaN
    if d > 0:
        return 1
    if d < 0:
        return -1
    return d * 0


cdef inline floating l1_grad(floating x, floating t) noexcept nogil:
    return _sign(x - t)


cdef inline floating smooth_l1_grad(floating x, floating t, floating beta) noexcept nogil:
    # torch: -1 for d <= -beta, 1 for d >= beta, d / beta between; beta = 0 is l1's sign
    # (0 at d = 0), which the first two tests cannot give.
    cdef floating d = x - t
    if beta == 0:
        return _sign(d)
    if d <= -beta:
        return -1
    if d >= beta:
        return 1
    return d / beta


cdef inline floating huber_grad(floating x, floating t, floating delta) noexcept nogil:
    cdef floating d = x - t
    if d <= -delta:
        return -delta
    if d >= delta:
        return delta
    return d


cdef inline floating kl_div_grad(floating x, floating t) noexcept nogil:
    # d/dx [t log t - t x] = -t (torch's; it does not depend on x)
    return -t


cdef inline floating kl_div_log_grad(floating x, floating t) noexcept nogil:
    return -exp_(t)


cdef inline floating bce_grad(floating x, floating t) noexcept nogil:
    # torch: (x - t) / max((1 - x) x, 1e-12): finite at x = 0 and 1, where the
    # clamped forward is flat but the unclamped log is not.
    cdef floating den = (1 - x) * x
    if den < <floating>1e-12:
        den = <floating>1e-12
    return (x - t) / den


cdef inline floating bce_logits_grad(floating x, floating t, floating pos_weight) noexcept nogil:
    # torch: (1 + (pos_weight - 1) t) sigmoid(x) - pos_weight t
    return (1 + (pos_weight - 1) * t) * sigmoid(x) - pos_weight * t
