/* The Gaussian dropout transform (internal): contract normals and the NOISE arithmetic. */
#ifndef FASTDROP_GAUSSIAN_H
#define FASTDROP_GAUSSIAN_H

#include <stddef.h>
#include <stdint.h>

#include "fastdrop.h"

/* y[i] = x[i] * m[i], m = 1 + s * z in the compute dtype (s = sigma rounded to it; float32 for
 * float16 / float32 data), z the contract's float32 normal of global element g0 + i (stream
 * FD_STREAM_GAUSSIAN), for i < n; x, y contiguous, y may be x. Uses the current
 * ISA; the same bits on every path. */
void fd_gaussian_apply(fd_dtype dtype, const void *x, void *y, size_t n, uint64_t g0,
                       uint64_t seed, double sigma);

#endif
