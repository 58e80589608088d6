# Scalar math: one inline function per activation, nothing else.
#
# Every function is over the fused type `floating` (float32 and float64), with
# its decimal constants cast to that type so float32 data stays in float32
# arithmetic, as in torch. Conventions shared by all of them:
#   - comparisons are written so that NaN fails them and falls through to an
#     expression of x, so NaN in gives NaN out;
#   - where torch's formula gives NaN at an infinity (inf/inf, inf*0) we return
#     the mathematical limit instead, named in a comment.

from libc.math cimport INFINITY
from cython cimport floating
from fastnl._kernels._math cimport exp_, expm1_, log_, log1p_, tanh_, erfc_, fabs_


cdef inline floating x_exp_x(floating x) noexcept nogil:
    # x * exp(x) for x < 0: below log(smallest normal) (-87.3 for float32, -708.4
    # for float64) exp(x) alone is subnormal and has lost its precision, so
    # exponentiate x + log(-x) instead.
    cdef floating cut = -87 if floating is float else -708
    if x < cut:
        return -exp_(x + log_(-x))
    return x * exp_(x)


cdef inline floating clamp(floating v, floating lo, floating hi) noexcept nogil:
    if v < lo:
        return lo
    if v > hi:
        return hi
    return v


cdef inline floating relu(floating x) noexcept nogil:
    # `x < 0` rather than max(x, 0): NaN and -0.0 pass through unchanged, as in torch.
    return 0 if x < 0 else x


cdef inline floating hardtanh(floating x, floating min_val, floating max_val) noexcept nogil:
    return clamp(x, min_val, max_val)


cdef inline floating leaky_relu(floating x, floating negative_slope) noexcept nogil:
    return x if x > 0 else x * negative_slope


cdef inline floating elu(floating x, floating negcoef, floating poscoef,
                         floating input_scale) noexcept nogil:
    # torch's single ELU form: elu = (alpha, 1, 1), celu = (alpha, 1, 1/alpha),
    # selu = (alpha*scale, scale, 1). expm1 keeps relative accuracy near 0-.
    if x <= 0:
        return expm1_(x * input_scale) * negcoef
    return x * poscoef


cdef inline floating sigmoid(floating x) noexcept nogil:
    # Only exp(-|x|) is ever computed, so it cannot overflow.
    cdef floating e
    if x >= 0:
        return 1 / (1 + exp_(-x))
    e = exp_(x)
    return e / (1 + e)


cdef inline floating tanh(floating x) noexcept nogil:
    return tanh_(x)


cdef inline floating gelu(floating x) noexcept nogil:
    # x * Phi(x) = 0.5 x erfc(-x/sqrt(2)): erfc keeps relative accuracy for x << 0
    # where 1 + erf(x/sqrt(2)) cancels to 0.
    if x == -INFINITY:
        return -0.0  # limit of x * Phi(x); -inf * 0 would be NaN
    return <floating>0.5 * x * erfc_(x * <floating>-0.70710678118654752440)


cdef inline floating gelu_tanh(floating x) noexcept nogil:
    # 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3):
    # the sigmoid form has no 1 + tanh cancellation for x << 0. x^3 may overflow
    # to +-inf, and sigmoid(+-inf) is then exactly 1 or 0, the right limit.
    cdef floating u
    if x == -INFINITY:
        return -0.0  # limit; -inf * 0 would be NaN
    u = <floating>0.79788456080286535588 * (x + <floating>0.044715 * x * x * x)
    return x * sigmoid(2 * u)


cdef inline floating softplus(floating x, floating beta, floating threshold) noexcept nogil:
    # torch: x where beta*x > threshold (log1p(exp(z)) == z there to the precision
    # asked for), else log(1 + exp(beta*x)) / beta. The form max(z, 0) + log1p(exp(-|z|))
    # cannot overflow, even for a large user threshold.
    cdef floating z = x * beta
    if z > threshold:
        return x
    return ((z if z > 0 else 0) + log1p_(exp_(-fabs_(z)))) / beta


cdef inline floating softsign(floating x) noexcept nogil:
    if fabs_(x) == INFINITY:
        return 1 if x > 0 else -1  # limit; inf / inf would be NaN
    return x / (1 + fabs_(x))


cdef inline floating threshold(floating x, floating threshold, floating value) noexcept nogil:
    return value if x <= threshold else x


cdef inline floating tanhshrink(floating x) noexcept nogil:
    return x - tanh_(x)


cdef inline floating softshrink(floating x, floating lambd) noexcept nogil:
    if x > lambd:
        return x - lambd
    if x < -lambd:
        return x + lambd
    return x if x != x else 0


cdef inline floating hardshrink(floating x, floating lambd) noexcept nogil:
    return 0 if (x >= -lambd and x <= lambd) else x


cdef inline floating logsigmoid(floating x) noexcept nogil:
    # log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)): exp never overflows.
    return (x if x < 0 else 0) - log1p_(exp_(-fabs_(x)))


cdef inline floating silu(floating x) noexcept nogil:
    if x == -INFINITY:
        return -0.0  # limit; -inf * 0 would be NaN
    if x < -40:
        # sigmoid(x) = e^x / (1 + e^x) and 1 + e^x rounds to 1 below -17 (float32)
        # or -37 (float64): what is left is x e^x.
        return x_exp_x(x)
    return x * sigmoid(x)


cdef inline floating mish(floating x) noexcept nogil:
    # x tanh(softplus(x)); exp(x) overflowing to inf gives tanh(inf) = 1, exact.
    if x == -INFINITY:
        return -0.0  # limit; -inf * 0 would be NaN
    if x < -40:
        # tanh(log1p(e^x)) = e^x (1 + O(e^x)), exactly e^x in either precision here.
        return x_exp_x(x)
    return x * tanh_(log1p_(exp_(x)))


cdef inline floating hardsigmoid(floating x) noexcept nogil:
    return clamp(x + 3, <floating>0, <floating>6) / 6


cdef inline floating hardswish(floating x) noexcept nogil:
    if x == -INFINITY:
        return -0.0  # limit; -inf * 0 would be NaN
    # x * (c / 6), not torch's (x * c) / 6, which overflows for x > max / 6.
    return x * hardsigmoid(x)
