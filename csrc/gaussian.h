/* The Gaussian dropout transform (internal): contract normals of a run of global elements. */
#ifndef FASTDROP_GAUSSIAN_H
#define FASTDROP_GAUSSIAN_H

#include <stddef.h>
#include <stdint.h>

/* z[i] = the contract's standard normal of global element g0 + i (stream FD_STREAM_GAUSSIAN),
 * for i < n <= FD_TILE. Uses the current ISA; the same bits on every path. */
void fd_gaussian_tile(double *z, size_t n, uint64_t g0, uint64_t seed);

#endif
