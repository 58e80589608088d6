# exp(d) for d <= 0, in a form compilers vectorise (the softmax family and
# cross-entropy only ever exponentiate d = x - max <= 0).
#
# float32: Cody-Waite reduction d = k ln2 + r, |r| <= ln2/2, a degree-7
# polynomial for exp(r) (the Cephes expf coefficients), and 2^k applied as
# p 2^(k+64) (exact: a normal number) times 2^-64, so that results below
# 2^-126 round once, correctly, to subnormals. Measured error: < 1 ulp in the
# normal range, < 1 subnormal ulp below it (tests/test_softmax.py::test_fast_exp,
# which runs the vector loops of _rowwise; every float32 in [-110, 0] checked
# against libm's double exp: at most 0.91 ulp built for x86-64, 0.90 for
# x86-64-v3/v4, where GCC contracts to FMA). Branch-free: d is clamped to -110
# (exp(-110) rounds to 0, and -inf must give 0, not NaN) by a compare-select,
# which a module built with -fno-trapping-math (as _rowwise is) turns into one
# vector max; NaN fails the compare, passes through and gives NaN. float64
# keeps libm's exp.

from libc.math cimport exp
from cython cimport floating

cdef extern from *:
    """
    #include <stdint.h>
    union fastnl_b32 { float f; int32_t i; };
    /* always inlined: a call would not vectorise, and inside a target_clones
       kernel the inlined copy is compiled for that kernel's target */
    #if defined(__GNUC__)
    #define FASTNL_EXPF_INLINE static inline __attribute__((always_inline))
    #else
    #define FASTNL_EXPF_INLINE static inline
    #endif
    FASTNL_EXPF_INLINE float fastnl_expf_nonpos(float d) {
        union fastnl_b32 kb, sb;
        float k, rh, c, r, p, q;
        d = d < -110.0f ? -110.0f : d;
        /* k = round(d / ln2) by the 1.5 * 2^23 trick; its low bits are k itself */
        kb.f = d * 1.44269504088896341f + 12582912.0f;
        k = kb.f - 12582912.0f;
        /* ln2 = 0.693359375 (exact, few bits, so rh is exact) - 2.12194440e-4:
           r = rh + c, but the linear term of exp(r) = 1 + r + r^2 P(r) adds
           rh and c separately (r's rounding would cost ~0.2 ulp) */
        rh = d - k * 0.693359375f;
        c = k * 2.12194440e-4f;
        r = rh + c;
        p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        q = rh + (c + p * r * r);
        /* 2^(k+64), k in [-159, 0]: a normal power of two (exponent field
           k + 64 + 127 = kb.i - 0x4B400000 + 191). q s + s is (1 + q) s, a
           normal number, rounded once (one FMA where the CPU has it; else
           q s is exact and the addition rounds): the bits of (1 + q) times
           s; the product with 2^-64 rounds once more, into the subnormals
           where the result is below 2^-126 */
        sb.i = (int32_t)((uint32_t)(kb.i - 0x4B400000 + 191) << 23);
        return (q * sb.f + sb.f) * 5.42101086242752217004e-20f;
    }
    """
    float expf_nonpos "fastnl_expf_nonpos"(float d) noexcept nogil


cdef inline floating exp_nonpos(floating d) noexcept nogil:
    if floating is float:
        return expf_nonpos(d)
    else:
        return exp(d)
