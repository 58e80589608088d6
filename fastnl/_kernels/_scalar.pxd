# Scalar math for the Cython loops that are not the vectorised C kernels of
# _elementwise.pyx.tp (whose C functions are the scalar layer of every
# elementwise activation): PReLU's per-channel blocks and the losses.
#
# Over the fused type `floating`, with decimal constants cast to it so float32
# data stays in float32 arithmetic, as in torch. Comparisons are written so
# that NaN fails them and falls through to an expression of x.

from cython cimport floating
from fastnl._kernels._math cimport exp_


cdef inline floating leaky_relu(floating x, floating negative_slope) noexcept nogil:
    return x if x > 0 else x * negative_slope


cdef inline floating leaky_relu_backward(floating g, floating x,
                                         floating negative_slope) noexcept nogil:
    return g if x > 0 else g * negative_slope


cdef inline floating sigmoid(floating x) noexcept nogil:
    # Only exp(-|x|) is ever computed, so it cannot overflow.
    cdef floating e
    if x >= 0:
        return 1 / (1 + exp_(-x))
    e = exp_(x)
    return e / (1 + e)
