/* The roofline that the dropout kernels are measured against: a plain scaled copy
 * y[i] = x[i] * s over the same contiguous arrays, with the same threads and the same
 * contiguous per-thread split. Nothing but loads, one multiply and stores. */
#include "fastdrop.h"
#include "kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define SCALE_LOOPS(attr, sfx)                                                             \
    attr static void scale_f32_##sfx(const float *x, float *y, size_t n, float s)          \
    {                                                                                      \
        for (size_t i = 0; i < n; i++)                                                     \
            y[i] = x[i] * s;                                                               \
    }                                                                                      \
    attr static void scale_f64_##sfx(const double *x, double *y, size_t n, double s)       \
    {                                                                                      \
        for (size_t i = 0; i < n; i++)                                                     \
            y[i] = x[i] * s;                                                               \
    }

SCALE_LOOPS(, base)
#ifdef FD_X86
#include <immintrin.h>
#define FD_AVX2 __attribute__((target("avx2,f16c")))
SCALE_LOOPS(FD_AVX2, avx2)

FD_AVX2 static void scale_f16_avx2(const uint16_t *x, uint16_t *y, size_t n, float s)
{
    const __m256 vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))), vs);
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++)
        y[i] = fd_float_to_half(fd_half_to_float(x[i]) * s);
}
#endif

static void scale_f16_base(const uint16_t *x, uint16_t *y, size_t n, float s)
{
    for (size_t i = 0; i < n; i++)
        y[i] = fd_float_to_half(fd_half_to_float(x[i]) * s);
}

static void scale_range(fd_dtype dtype, const char *x, char *y, size_t lo, size_t hi,
                        double s, int wide)
{
    size_t n = hi - lo;
    switch (dtype) {
    case FD_F32:
#ifdef FD_X86
        if (wide) {
            scale_f32_avx2((const float *)x + lo, (float *)y + lo, n, (float)s);
            break;
        }
#endif
        scale_f32_base((const float *)x + lo, (float *)y + lo, n, (float)s);
        break;
    case FD_F64:
#ifdef FD_X86
        if (wide) {
            scale_f64_avx2((const double *)x + lo, (double *)y + lo, n, s);
            break;
        }
#endif
        scale_f64_base((const double *)x + lo, (double *)y + lo, n, s);
        break;
    default:
#ifdef FD_X86
        if (wide) {
            scale_f16_avx2((const uint16_t *)x + lo, (uint16_t *)y + lo, n, (float)s);
            break;
        }
#endif
        scale_f16_base((const uint16_t *)x + lo, (uint16_t *)y + lo, n, (float)s);
    }
}

void fd_scaled_copy(fd_dtype dtype, const void *x, void *y, size_t n, double s, int nthreads)
{
    int wide = fd_isa_get() != FD_ISA_SCALAR;
    if (nthreads < 1 || n < fd_parallel_threshold())
        nthreads = 1;
#ifdef _OPENMP
    if (nthreads > 1) {
#pragma omp parallel num_threads(nthreads)
        {
            size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
            scale_range(dtype, x, y, n * t / nt, n * (t + 1) / nt, s, wide);
        }
        return;
    }
#endif
    scale_range(dtype, x, y, 0, n, s, wide);
}
