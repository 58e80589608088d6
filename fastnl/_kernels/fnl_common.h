/* fastnl: portability macros of the scalar math headers (fnl_math.h,
   fnl_activations.h) and of the kernels' loops. */
#ifndef FNL_COMMON_H
#define FNL_COMMON_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#if defined(_MSC_VER) && !defined(__clang__)
/* MSVC has no GCC builtins */
#define FNL_INLINE static __forceinline
#define FNL_FABSF fabsf
#define FNL_FABS fabs
#define FNL_COPYSIGNF copysignf
#define FNL_COPYSIGN copysign
#else
/* Always inlined: a call inside a `#pragma omp simd` loop would not
   vectorise, and inside a target_clones kernel the inlined copy is compiled
   for that clone's instruction set (AVX-512, AVX2+FMA or baseline). */
#define FNL_INLINE static inline __attribute__((always_inline))
#define FNL_FABSF __builtin_fabsf
#define FNL_FABS __builtin_fabs
#define FNL_COPYSIGNF __builtin_copysignf
#define FNL_COPYSIGN __builtin_copysign
#endif

/* Run-time selected clones: GCC compiles a function marked FNL_CLONES once
   per x86-64 level (AVX-512, AVX2+FMA, baseline) and an ifunc resolver picks
   one at load time, so a wheel built for any x86-64 uses the CPU it runs on.
   Only GCC on x86-64 Linux (clang's target_clones differs; FASTNL_NATIVE=1
   builds -march=native with FASTNL_NO_CLONES). The always-inlined scalar math
   called in a clone is compiled for that clone's instruction set.
   FNL_CLONED_VOID is `FNL_CLONES void`, a return type Cython can name. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(FASTNL_NO_CLONES)
#define FNL_HAS_CLONES 1
#define FNL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FNL_CLONES
#endif
#define FNL_CLONED_VOID FNL_CLONES void

/* `#pragma omp simd` before a loop (-fopenmp or -fopenmp-simd make it
   count); MSVC's OpenMP 2.0 has no simd construct. */
#if defined(_MSC_VER) && !defined(__clang__)
#define FNL_SIMD
#define FNL_SIMD_OR_ANY
#else
#define FNL_SIMD _Pragma("omp simd")
/* a simd loop that also ORs a condition into `int any` */
#define FNL_SIMD_OR_ANY _Pragma("omp simd reduction(|:any)")
#endif

/* The 16 partial sums a[k * stride] added in a fixed tree: the row-wise
   kernels' sums and the losses' block sums (partial k holds the elements
   j % 16 == k), so that the bits depend on neither the CPU nor the threads */
FNL_INLINE double fnl_combine16(const double *a, ptrdiff_t stride) {
    double b0 = a[0] + a[8 * stride], b1 = a[stride] + a[9 * stride];
    double b2 = a[2 * stride] + a[10 * stride], b3 = a[3 * stride] + a[11 * stride];
    double b4 = a[4 * stride] + a[12 * stride], b5 = a[5 * stride] + a[13 * stride];
    double b6 = a[6 * stride] + a[14 * stride], b7 = a[7 * stride] + a[15 * stride];
    return ((b0 + b4) + (b2 + b6)) + ((b1 + b5) + (b3 + b7));
}

/* v[0] + ... + v[n - 1] in a fixed order: v[j] into partial j % 16, then
   fnl_combine16. The losses' sums over their rows (and a producer of terms
   one at a time keeps the same order: partial[j & 15] += term, then
   fnl_combine16): the same bits whichever thread computed each term, and a
   vector loop, where one chain of additions took 4 cycles per term (a
   third of nll_loss over 32 x 32 x 32 rows). */
FNL_INLINE double fnl_ordered_sum(const double *v, ptrdiff_t n) {
    double part[16] = {0};
    ptrdiff_t j, k, whole = n - n % 16;
    for (j = 0; j < whole; j += 16) {
        FNL_SIMD
        for (k = 0; k < 16; k++) part[k] += v[j + k];
    }
    for (; j < n; j++) part[j - whole] += v[j];
    return fnl_combine16(part, 1);
}

/* elements per stage of a staged loop (the elementwise kernels' `staged`,
   glu's): the first stage's results, 2 KiB of float64, stay in L1 on the
   stack beside the inputs and outputs until the second stage reads them */
#define FNL_STAGE 256

#endif /* FNL_COMMON_H */
