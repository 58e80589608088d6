# exp(d) for d <= 0, in a form compilers vectorise (the softmax family and
# cross-entropy only ever exponentiate d = x - max <= 0).
#
# float32: Cody-Waite reduction d = k ln2 + r, |r| <= ln2/2, a degree-7
# polynomial for exp(r) (the Cephes expf coefficients), and 2^k built from the
# exponent bits in two halves so that results below 2^-126 round correctly to
# subnormals. Measured error: < 1 ulp in the normal range, < 1 subnormal ulp
# below it (tests/test_softmax.py::test_fast_exp). Everything is branch-free:
# with GCC's default -ftrapping-math a floating-point comparison inside a loop
# blocks vectorisation, so the clamp of d to -110 (exp(-110) rounds to 0, and
# -inf must give 0, not NaN) is done on the integer bits. NaN passes through
# (not clamped) and gives NaN. float64 keeps libm's exp.

from libc.math cimport exp
from cython cimport floating

cdef extern from *:
    """
    #include <stdint.h>
    union fastnl_b32 { float f; int32_t i; };
    static inline float fastnl_expf_nonpos(float d) {
        union fastnl_b32 db, kb, s1, s2;
        float k, r, p;
        int32_t ki, k1, mask;
        uint32_t mag;
        db.f = d;
        mag = (uint32_t)db.i & 0x7FFFFFFFu;
        /* negative, beyond -110 (0x42DC0000 is 110.0f), up to -inf; not NaN */
        mask = -(int32_t)((db.i < 0) & (mag > 0x42DC0000u) & (mag <= 0x7F800000u));
        db.i = (db.i & ~mask) | ((int32_t)0xC2DC0000u & mask);
        d = db.f;
        /* k = round(d / ln2) by the 1.5 * 2^23 trick; its low bits are k itself */
        kb.f = d * 1.44269504088896341f + 12582912.0f;
        k = kb.f - 12582912.0f;
        ki = kb.i - 0x4B400000;
        /* ln2 = 0.693359375 (exact, few bits, so k * it is exact) - 2.12194440e-4 */
        r = d - k * 0.693359375f;
        r = r - k * -2.12194440e-4f;
        p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        p = p * r * r + r + 1.0f;
        k1 = ki >> 1;  /* k >= -159: both halves >= -80, normal powers of two */
        s1.i = (k1 + 127) << 23;
        s2.i = (ki - k1 + 127) << 23;
        return p * s1.f * s2.f;
    }
    """
    float expf_nonpos "fastnl_expf_nonpos"(float d) noexcept nogil


cdef inline floating exp_nonpos(floating d) noexcept nogil:
    if floating is float:
        return expf_nonpos(d)
    else:
        return exp(d)
