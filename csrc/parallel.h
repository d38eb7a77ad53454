/* The one place that opens parallel regions (csrc/parallel.c). Every multi-threaded loop of the
 * core is a body run by fd_parallel; the split of work between threads is the caller's, and it
 * never changes a bit of the result, only who computes it. */
#ifndef FASTDROP_PARALLEL_H
#define FASTDROP_PARALLEL_H

#include <stddef.h>

#include "fastdrop.h"

/* Run body(ctx, t, nt) once for each t in [0, nt), on nt threads, nt <= nthreads (the calling
 * thread alone when nthreads <= 1 or without OpenMP). Returns the OR of the bodies' results.
 * Safe in a process forked after the parent used threads (see parallel.c). */
int fd_parallel(int nthreads, int (*body)(void *ctx, int t, int nt), void *ctx);

/* Threads worth using for n elements split in `units` work items: 1 below
 * fd_parallel_threshold(), never more than `units`. */
int fd_team_size(size_t n, size_t units, int nthreads);

/* Thread t's share [*lo, *hi) of `units` items: contiguous, in order, as even as they come. */
static inline void fd_share(size_t units, int t, int nt, size_t *lo, size_t *hi)
{
    *lo = units * (size_t)t / (size_t)nt;
    *hi = units * (size_t)(t + 1) / (size_t)nt;
}

/* Run fn(ctx, lo, hi) over [0, n) with one contiguous range of whole `chunk`-element items per
 * thread (chunk a multiple of 64, so no two threads share a packed-mask byte). */
void fd_parallel_chunks(size_t n, size_t chunk, int nthreads,
                        void (*fn)(const void *ctx, size_t lo, size_t hi), const void *ctx);

/* Threads that actually ran a body when nthreads were asked for (a build and fork check). */
int fd_parallel_team_size(int nthreads);

#endif
