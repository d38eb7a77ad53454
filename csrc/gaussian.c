/* Gaussian dropout: the entry points over the ISA table's per-tile transform (gauss_tile: the
 * contract's float32 normals from Philox words and y = x * (1 + s * z) made in the same loop,
 * csrc/isa/autovec-inl.h), and the thread split of the normals. */
#include "fastdrop.h"
#include "kernels.h"
#include "parallel.h"
#include "strided.h"
#include "structured.h"
#include "gaussian.h"

#define TILE FD_TILE
#define CHUNK FD_CHUNK

void fd_gaussian_apply(fd_dtype dtype, const void *x, void *y, size_t n, uint64_t g0,
                       uint64_t seed, double sigma)
{
    fd_kernels_current()->gauss_tile(dtype, x, y, NULL, n, g0, seed, sigma);
}

typedef struct {
    float *z;
    uint64_t seed, offset;
} normals_job;

static void normals_range(const void *arg, size_t lo, size_t hi)
{
    const normals_job *j = (const normals_job *)arg;
    const fd_kernels *k = fd_kernels_current();
    for (size_t i = lo; i < hi; i += TILE)
        k->gauss_tile(FD_F32, NULL, NULL, j->z + i, hi - i < TILE ? hi - i : TILE, j->offset + i,
                      j->seed, 0.0);
}

void fd_gaussian_normals(float *z, size_t n, uint64_t seed, uint64_t offset, int nthreads)
{
    normals_job j = {z, seed, offset};
    fd_parallel_chunks(n, CHUNK, nthreads, normals_range, &j);
}
