/* fastdrop C core: plain C on raw pointers, shapes and strides; no Python in here.
 * Every function is thread-safe and may be called without the GIL. */
#ifndef FASTDROP_H
#define FASTDROP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { FD_F16 = 0, FD_F32 = 1, FD_F64 = 2 } fd_dtype;

/* An instruction-set path: an index into csrc/isa/dispatch.c's list of fd_isa_count() paths,
 * worst first; fd_isa_name() gives its name (FASTDROP_ISA, fastdrop.set_isa). */
typedef int fd_isa;
#define FD_ISA_SCALAR 0 /* the portable path, always supported */

/* A strided N-d array view (strides in bytes, may be negative or zero-sized). */
typedef struct {
    char *data;
    int ndim;
    const ptrdiff_t *shape;
    const ptrdiff_t *strides;
} fd_view;

/* Philox counter word c2 (the "stream") of plain dropout: every Bernoulli keep mask, reduced
 * (broadcast) or not. The structured operations' streams are in structured.h. */
#define FD_STREAM_DROPOUT 0u

/* The Bernoulli keep decision of the mask contract (docs/contract.md). */
typedef struct {
    uint64_t seed;      /* Philox key = (seed mod 2^32, seed >> 32) */
    uint64_t offset;    /* global index of flat element 0 */
    uint32_t stream;    /* counter word c2 */
    uint32_t threshold; /* keep iff word >= threshold */
    int drop_all;       /* p == 1: nothing kept, no words drawn */
} fd_bernoulli;

/* y = keep ? x * scale : +0 (scale rounded to the compute dtype; scaled == 0: plain select).
 * keep comes from mask_in (packed, little bit order) when given, else from the Philox
 * contract `b`. mask_out (may be NULL) receives the packed keep bits, ceil(n/8) bytes.
 * x and y may both be NULL (mask only: then n gives the element count), and y may alias x
 * exactly (in place). Returns 0, or -1 for an unsupported dtype. */
int fd_masked_scale(fd_dtype dtype, const fd_view *x, const fd_view *y, size_t n,
                    const uint8_t *mask_in, uint8_t *mask_out, const fd_bernoulli *b,
                    int scaled, double scale, int nthreads);

/* fd_masked_scale on a window: x (shape lshape, ndim dims) is the block at `origin` of a virtual
 * C-order array of shape `gshape`; the element with local index j has global index
 * b->offset + ravel(origin + j, gshape). mask_out is packed in the block's own C order. With
 * mask_in the window does not matter (the mask fixes every bit). Bits never depend on nthreads.
 * Returns 0, -1 for bad arguments, -2 when out of memory. (csrc/window.c) */
int fd_masked_scale_window(fd_dtype dtype, const fd_view *x, const fd_view *y,
                           const ptrdiff_t *lshape, int ndim, const uint64_t *gshape,
                           const uint64_t *origin, const uint8_t *mask_in, uint8_t *mask_out,
                           const fd_bernoulli *b, int scaled, double scale, int nthreads);

/* The roofline: y[i] = x[i] * s over contiguous arrays, same threads and split as the kernels
 * (float16: computed in float32). streaming: with non-temporal stores where the path has them
 * (the limit for outputs larger than the last-level cache). For benchmarks. */
void fd_scaled_copy(fd_dtype dtype, const void *x, void *y, size_t n, double s, int nthreads,
                    int streaming);

/* Runtime CPU dispatch (csrc/isa/dispatch.c). */
int fd_isa_count(void);
int fd_isa_supported(fd_isa isa);  /* by this CPU and this build */
fd_isa fd_isa_best(void);
fd_isa fd_isa_get(void);
int fd_isa_set(fd_isa isa);        /* 0 on success, -1 if unsupported */
int fd_isa_forced(void);           /* FASTDROP_ISA or fd_isa_set chose the path */
void fd_isa_reset(void);           /* back to the best path, not forced */
int fd_isa_has_streaming(fd_isa isa); /* the path has non-temporal stores */
const char *fd_isa_name(fd_isa isa);

/* Threads (OpenMP; 1 when built without it). */
int fd_openmp_enabled(void);
int fd_max_threads(void);          /* omp_get_max_threads() */

/* Below this many elements a call runs on the calling thread. */
size_t fd_parallel_threshold(void);

/* Store policy and measured plan (csrc/plan.c, plan.h): contiguous outputs of at least
 * fd_stream_threshold() bytes are written with non-temporal stores, unless the plan says
 * otherwise; the default is the OS's last-level cache size clamped to [4 MiB, 32 MiB].
 * fd_plan_set(opclass, dtype, size_class, isa or -1, stream 0/1 or -1): -1 is the built-in
 * choice; returns -1 for a bad argument. Nothing here changes a bit of any result. */
size_t fd_stream_threshold(void);
size_t fd_stream_threshold_default(void);
void fd_set_stream_threshold(size_t bytes);
void fd_plan_clear(void);
int fd_plan_set(int opclass, int dtype, int size_class, int isa, int stream);
int fd_plan_get(int opclass, int dtype, int size_class, int *isa, int *stream);
/* The path (and *stream) a whole-array call of this class, dtype and output size runs with. */
int fd_plan_choice(int opclass, int dtype, size_t nbytes, int *stream);

#ifdef __cplusplus
}
#endif
#endif
