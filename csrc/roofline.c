/* The roofline that the dropout kernels are measured against: a plain scaled copy
 * y[i] = x[i] * s over the same contiguous arrays, with the same threads and the same
 * contiguous per-thread split. Nothing but loads, one multiply and stores. */
#include "fastdrop.h"
#include "kernels.h"
#include "parallel.h"

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

typedef struct {
    fd_dtype dtype;
    const void *x;
    void *y;
    size_t n;
    double s;
    int wide;
} copy_job;

static int copy_body(void *arg, int t, int nt)
{
    const copy_job *j = (const copy_job *)arg;
    size_t lo, hi;
    fd_share(j->n, t, nt, &lo, &hi);
    scale_range(j->dtype, j->x, j->y, lo, hi, j->s, j->wide);
    return 0;
}

void fd_scaled_copy(fd_dtype dtype, const void *x, void *y, size_t n, double s, int nthreads)
{
    copy_job j = {dtype, x, y, n, s, fd_isa_get() != FD_ISA_SCALAR};
    fd_parallel(fd_team_size(n, n, nthreads), copy_body, &j);
}
