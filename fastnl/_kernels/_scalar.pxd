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


cdef inline floating identity(floating x) noexcept nogil:
    return x


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


# ---------------------------------------------------------------------------
# Backward: NAME_backward(g, x, params) is the gradient with respect to x given
# the gradient g of the output. Sub-gradients at kinks and the branch tests are
# torch's (relu'(0) = 0, hardtanh' = 0 at its bounds, ...), and where torch
# returns 0 outright rather than g * 0 we do too, so an inf or NaN in g does
# not leak through a zero derivative. Derivatives that tend to 0 are evaluated
# in forms that do not cancel (sech^2 rather than 1 - tanh^2).

cdef inline floating sech2(floating x) noexcept nogil:
    # 1 / cosh(x)^2 = 4 e / (1 + e)^2 with e = exp(-2|x|): accurate for all x,
    # where 1 - tanh(x)^2 cancels to 0 beyond |x| ~ 19 (float64).
    cdef floating e = exp_(-2 * fabs_(x))
    return 4 * e / ((1 + e) * (1 + e))


cdef inline floating identity_backward(floating g, floating x) noexcept nogil:
    return g


cdef inline floating relu_backward(floating g, floating x) noexcept nogil:
    return 0 if x <= 0 else g


cdef inline floating hardtanh_backward(floating g, floating x, floating min_val,
                                       floating max_val) noexcept nogil:
    return 0 if (x <= min_val or x >= max_val) else g


cdef inline floating leaky_relu_backward(floating g, floating x,
                                         floating negative_slope) noexcept nogil:
    return g if x > 0 else g * negative_slope


cdef inline floating elu_backward(floating g, floating x, floating negcoef, floating poscoef,
                                  floating input_scale) noexcept nogil:
    if x <= 0:
        return g * input_scale * negcoef * exp_(x * input_scale)
    return g * poscoef


cdef inline floating gelu_backward(floating g, floating x) noexcept nogil:
    # Phi(x) + x phi(x); x phi(x) -> 0 at both infinities (inf * 0 otherwise).
    cdef floating cdf, x_pdf
    if fabs_(x) == INFINITY:
        return g if x > 0 else 0
    cdf = <floating>0.5 * erfc_(x * <floating>-0.70710678118654752440)
    x_pdf = x * <floating>0.39894228040143267794 * exp_(<floating>-0.5 * x * x)
    return g * (cdf + x_pdf)


cdef inline floating gelu_tanh_backward(floating g, floating x) noexcept nogil:
    # d/dx x s(2u) = s + 2 x u' s (1 - s), s = sigmoid(2u), s (1 - s) = s(2u) s(-2u).
    # Once s (1 - s) underflows to 0 the second term is 0, even where x u'
    # has overflowed to inf.
    cdef floating u, du, s, s1s
    if fabs_(x) == INFINITY:
        return g if x > 0 else 0
    u = <floating>0.79788456080286535588 * (x + <floating>0.044715 * x * x * x)
    du = <floating>0.79788456080286535588 * (1 + <floating>0.134145 * x * x)
    s = sigmoid(2 * u)
    s1s = s * sigmoid(-2 * u)
    if s1s == 0:
        return g * s
    return g * (s + 2 * x * du * s1s)


cdef inline floating softplus_backward(floating g, floating x, floating beta,
                                       floating threshold) noexcept nogil:
    cdef floating z = x * beta
    if z > threshold:
        return g
    return g * sigmoid(z)


cdef inline floating sigmoid_backward(floating g, floating x) noexcept nogil:
    # s (1 - s) = s(x) s(-x): no cancellation in 1 - s for x >> 0.
    return g * sigmoid(x) * sigmoid(-x)


cdef inline floating tanh_backward(floating g, floating x) noexcept nogil:
    return g * sech2(x)


cdef inline floating softsign_backward(floating g, floating x) noexcept nogil:
    cdef floating d = 1 + fabs_(x)
    return g / (d * d)


cdef inline floating threshold_backward(floating g, floating x, floating threshold,
                                        floating value) noexcept nogil:
    return 0 if x <= threshold else g


cdef inline floating tanhshrink_backward(floating g, floating x) noexcept nogil:
    cdef floating t = tanh_(x)
    return g * t * t


cdef inline floating softshrink_backward(floating g, floating x, floating lambd) noexcept nogil:
    return 0 if (x >= -lambd and x <= lambd) else g


cdef inline floating hardshrink_backward(floating g, floating x, floating lambd) noexcept nogil:
    return 0 if (x >= -lambd and x <= lambd) else g


cdef inline floating logsigmoid_backward(floating g, floating x) noexcept nogil:
    return g * sigmoid(-x)


cdef inline floating silu_backward(floating g, floating x) noexcept nogil:
    # s (1 + x (1 - s)) = s(x) + x s(x) s(-x); the second term -> 0 at +-inf.
    if fabs_(x) == INFINITY:
        return g if x > 0 else 0
    return g * (sigmoid(x) + x * sigmoid(x) * sigmoid(-x))


cdef inline floating mish_backward(floating g, floating x) noexcept nogil:
    # tanh(sp) + x sigmoid(x) sech^2(sp), sp = softplus(x); the second term -> 0
    # at +-inf. softplus in the form that cannot overflow.
    cdef floating sp
    if fabs_(x) == INFINITY:
        return g if x > 0 else 0
    sp = (x if x > 0 else 0) + log1p_(exp_(-fabs_(x)))
    return g * (tanh_(sp) + x * sigmoid(x) * sech2(sp))


cdef inline floating hardsigmoid_backward(floating g, floating x) noexcept nogil:
    return g / 6 if (x > -3 and x < 3) else 0


cdef inline floating hardswish_backward(floating g, floating x) noexcept nogil:
    # torch 2.13's sub-gradients at the kinks: 0 at -3, 1 at 3.
    if x <= -3:
        return 0
    if x < 3:
        return g * (x / 3 + <floating>0.5)
    return g
