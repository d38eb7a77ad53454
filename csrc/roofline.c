/* The roofline that the dropout kernels are measured against: a plain scaled copy
 * y[i] = x[i] * s over the same contiguous arrays, with the same threads and the same
 * contiguous per-thread split. Nothing but loads, one multiply and stores (the ISA table's
 * scale_copy_*). */
#include "fastdrop.h"
#include "kernels.h"
#include "parallel.h"

typedef struct {
    fd_dtype dtype;
    const void *x;
    void *y;
    size_t n;
    double s;
    fd_scale_copy_f32_fn f32;
    fd_scale_copy_f64_fn f64;
    fd_scale_copy_f16_fn f16;
} copy_job;

static int copy_body(void *arg, int t, int nt)
{
    const copy_job *j = (const copy_job *)arg;
    size_t lo, hi;
    fd_share(j->n, t, nt, &lo, &hi);
    switch (j->dtype) {
    case FD_F32:
        j->f32((const float *)j->x + lo, (float *)j->y + lo, hi - lo, (float)j->s);
        break;
    case FD_F64:
        j->f64((const double *)j->x + lo, (double *)j->y + lo, hi - lo, j->s);
        break;
    default:
        j->f16((const uint16_t *)j->x + lo, (uint16_t *)j->y + lo, hi - lo, (float)j->s);
    }
    return 0;
}

void fd_scaled_copy(fd_dtype dtype, const void *x, void *y, size_t n, double s, int nthreads,
                    int streaming)
{
    const fd_kernels *k = fd_kernels_current();
    copy_job j = {dtype, x, y, n, s, k->scale_copy_f32, k->scale_copy_f64, k->scale_copy_f16};
    if (streaming && k->stream_copy_f32) { /* (a path without streaming stores: regular ones) */
        j.f32 = k->stream_copy_f32;
        j.f64 = k->stream_copy_f64;
        j.f16 = k->stream_copy_f16;
    }
    fd_parallel(fd_team_size(n, n, nthreads), copy_body, &j);
}
