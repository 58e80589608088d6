# Scalar math of the pointwise losses: one inline function per loss and one per
# derivative, nothing else.
#
# Over the fused type `floating`, evaluated in the data's own precision, as
# torch does (the kernels accumulate the results in float64). NaN in gives NaN
# out: every branch is written so that a NaN comparison falls through to an
# arithmetic expression of the NaN. exp, sigmoid and log1p_exp are the
# activations' own (fnl_math.h, fnl_activations.h, through _scalar.pxd), as is
# log; log1p of any argument is libm's. Where a result adds two products,
# one is fused explicitly (fma_, _math.pxd), so that every loop computes it
# the same way.

from libc.math cimport INFINITY, M_PI
from cython cimport floating
from fastnl._kernels._math cimport log1p_, fabs_, fma_
from fastnl._kernels._scalar cimport exp_, sigmoid, log_, log1p_exp


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
    return fma_(t, log_(t), -(t * x))


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
    return fma_(t - 1, lo, -(t * lx))


cdef inline floating softplus_neg(floating x) noexcept nogil:
    # -log(sigmoid(x)) = log(1 + exp(-x)) = softplus(-x), as max(-x, 0) +
    # log1p(exp(-|x|)): exp only ever sees -|x| <= 0, so it cannot overflow
    # (x = -1e4 gives 1e4)
    return log1p_exp(-x)


cdef inline floating bce_logits(floating x, floating t, floating pos_weight) noexcept nogil:
    # torch: (1 - t) x + (1 + (pos_weight - 1) t) (-log sigmoid(x)); the
    # first product fused explicitly (fma_), so that the bits never depend
    # on the call's length
    return fma_(1 - t, x, (1 + (pos_weight - 1) * t) * softplus_neg(x))


cdef inline floating _stirling(floating t) noexcept nogil:
    # poisson_nll_loss's full=True term, torch's: t log t - t + 0.5 log(2 pi t)
    # where t > 1, else 0 (NaN t: not <= 1, so NaN, as torch's masked_fill)
    if t <= 1:
        return 0
    return fma_(t, log_(t), -t) + <floating>0.5 * log_(<floating>(2 * M_PI) * t)


cdef inline floating poisson_nll_log(floating x, floating t) noexcept nogil:
    # log_input=True: x is log(rate): exp(x) - t x
    return exp_(x) - t * x


cdef inline floating poisson_nll(floating x, floating t, floating eps) noexcept nogil:
    # log_input=False: x is the rate: x - t log(x + eps)
    return x - t * log_(x + eps)


cdef inline floating poisson_nll_log_full(floating x, floating t) noexcept nogil:
    return poisson_nll_log(x, t) + _stirling(t)


cdef inline floating poisson_nll_full(floating x, floating t, floating eps) noexcept nogil:
    return poisson_nll(x, t, eps) + _stirling(t)


cdef inline floating _clamped_var(floating v, floating eps) noexcept nogil:
    # torch clamps var at eps (NaN stays NaN); its gradient is taken at the
    # clamped value, as if unclamped (torch clamps without recording it)
    return eps if v < eps else v


cdef inline floating gaussian_nll(floating x, floating t, floating var, floating eps,
                                  floating half_log_2pi) noexcept nogil:
    # torch: 0.5 (log v + (x - t)^2 / v), plus 0.5 log(2 pi) when full (the
    # constant is 0 otherwise, and x + 0 is x)
    cdef floating v = _clamped_var(var, eps), d = x - t
    return <floating>0.5 * (log_(v) + d * d / v) + half_log_2pi


cdef inline floating soft_margin(floating x, floating t) noexcept nogil:
    # log(1 + exp(-t x)) = softplus(-t x), without overflow (torch's
    # log1p(exp(-t x)) is inf once exp overflows)
    return softplus_neg(t * x)


cdef inline floating margin_ranking(floating x1, floating x2, floating y,
                                    floating margin) noexcept nogil:
    # torch: max(0, -y (x1 - x2) + margin), NaN kept
    cdef floating z = -y * (x1 - x2) + margin
    return 0 if z < 0 else z


cdef inline floating hinge_embedding(floating x, floating t, floating margin) noexcept nogil:
    # torch: (max(margin - x, 0) where t != 1) + (x where t != -1): a target
    # other than +-1 takes both terms, as in torch
    cdef floating a = 0, b = 0, d = margin - x
    if t != 1:
        a = 0 if d < 0 else d
    if t != -1:
        b = x
    return a + b


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
    # torch: (1 + (pos_weight - 1) t) sigmoid(x) - pos_weight t (the first
    # product fused explicitly, as in bce_logits)
    return fma_(1 + (pos_weight - 1) * t, sigmoid(x), -(pos_weight * t))


cdef inline floating poisson_nll_log_grad(floating x, floating t) noexcept nogil:
    return exp_(x) - t


cdef inline floating poisson_nll_grad(floating x, floating t, floating eps) noexcept nogil:
    return 1 - t / (x + eps)


cdef inline floating gaussian_nll_grad(floating x, floating t, floating var, floating eps,
                                       floating half_log_2pi) noexcept nogil:
    return (x - t) / _clamped_var(var, eps)


cdef inline floating gaussian_nll_var_grad(floating var, floating x, floating t, floating eps,
                                           floating half_log_2pi) noexcept nogil:
    # d/dv of gaussian_nll at the clamped v (the variance in the first slot):
    # 0.5 (1 - (x - t)^2 / v) / v
    cdef floating v = _clamped_var(var, eps), d = x - t
    return <floating>0.5 * (1 - d * d / v) / v


cdef inline floating soft_margin_grad(floating x, floating t) noexcept nogil:
    # -t sigmoid(-t x) (torch: -t z / (1 + z), z = exp(-t x), NaN once z overflows)
    return -t * sigmoid(-(t * x))


cdef inline floating _passes(floating z) noexcept nogil:
    # the sub-gradient of max(z, 0): 1 for z >= 0 (torch's, at the kink too),
    # 0 below, NaN for NaN
    if z >= 0:
        return 1
    if z < 0:
        return 0
    return z


cdef inline floating margin_ranking_grad(floating x1, floating x2, floating y,
                                         floating margin) noexcept nogil:
    return -y * _passes(-y * (x1 - x2) + margin)


cdef inline floating margin_ranking_swapped_grad(floating x2, floating x1, floating y,
                                                 floating margin) noexcept nogil:
    # d/dx2, with x2 in the first slot: the same z as the forward's
    return y * _passes(-y * (x1 - x2) + margin)


cdef inline floating hinge_embedding_grad(floating x, floating t, floating margin) noexcept nogil:
    cdef floating a = 0, b = 0
    if t != 1:
        a = -_passes(margin - x)
    if t != -1:
        b = 1
    return a + b
