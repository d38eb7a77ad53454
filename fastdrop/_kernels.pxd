# Declarations of the plain C core (csrc/fastdrop.h). Every function is noexcept nogil.
from libc.stdint cimport uint8_t, uint32_t, uint64_t

cdef extern from "fastdrop.h" nogil:
    ctypedef enum fd_dtype:
        FD_F16
        FD_F32
        FD_F64

    ctypedef int fd_isa

    enum:  # #define FD_STREAM_DROPOUT: the Philox stream of every Bernoulli keep mask
        FD_STREAM_DROPOUT

    ctypedef struct fd_view:
        char *data
        int ndim
        const Py_ssize_t *shape
        const Py_ssize_t *strides

    ctypedef struct fd_bernoulli:
        uint64_t seed
        uint64_t offset
        uint32_t stream
        uint32_t threshold
        int drop_all

    int fd_masked_scale(fd_dtype dtype, const fd_view *x, const fd_view *y, size_t n,
                        const uint8_t *mask_in, uint8_t *mask_out, const fd_bernoulli *b,
                        int scaled, double scale, int nthreads) noexcept

    void fd_scaled_copy(fd_dtype dtype, const void *x, void *y, size_t n, double s,
                        int nthreads, int streaming) noexcept
    int fd_isa_count() noexcept
    int fd_isa_supported(fd_isa isa) noexcept
    fd_isa fd_isa_best() noexcept
    fd_isa fd_isa_get() noexcept
    int fd_isa_set(fd_isa isa) noexcept
    const char *fd_isa_name(fd_isa isa) noexcept
    int fd_openmp_enabled() noexcept
    int fd_max_threads() noexcept
    size_t fd_parallel_threshold() noexcept
    int fd_isa_forced() noexcept
    void fd_isa_reset() noexcept
    size_t fd_stream_threshold() noexcept
    size_t fd_stream_threshold_default() noexcept
    void fd_set_stream_threshold(size_t nbytes) noexcept
    void fd_plan_clear() noexcept
    int fd_plan_set(int opclass, int dtype, int size_class, int isa, int stream) noexcept
    int fd_plan_get(int opclass, int dtype, int size_class, int *isa, int *stream) noexcept
    int fd_isa_has_streaming(fd_isa isa) noexcept
    int fd_plan_choice(int opclass, int dtype, size_t nbytes, int *stream) noexcept

# The plan's size classes (csrc/plan.h).
cdef extern from "plan.h" nogil:
    enum:
        FD_NSIZE
    int fd_size_class(size_t nbytes) noexcept

# The parallel helper (csrc/parallel.h).
cdef extern from "parallel.h" nogil:
    int fd_parallel_team_size(int nthreads) noexcept

# Structured dropout (csrc/structured.h).
cdef extern from "structured.h" nogil:
    enum:  # #defines: the Philox streams of the structured operations
        FD_STREAM_DROPBLOCK
        FD_STREAM_GAUSSIAN

    ctypedef enum fd_op:
        FD_OP_SCALE
        FD_OP_AFFINE
        FD_OP_NOISE

    ctypedef struct fd_struct_op:
        fd_op op
        const fd_bernoulli *bern
        const uint8_t *mask
        const Py_ssize_t *rstrides
        size_t mask_bits
        uint8_t *mask_out
        int scaled
        double scale
        double a
        double b
        double d
        double sigma
        uint64_t seed
        uint64_t offset

    int fd_struct_apply(fd_dtype dtype, const fd_view *x, const fd_view *y,
                        const fd_struct_op *op, int nthreads) noexcept
    void fd_gaussian_normals(float *z, size_t n, uint64_t seed, uint64_t offset,
                             int nthreads) noexcept
    int fd_dropblock_mask(size_t nbatch, size_t nchan, const size_t *sp, const size_t *k,
                          int valid_only, int share_channels, int channels_last,
                          const fd_bernoulli *seeds, uint8_t *mask_out, uint64_t *kept,
                          int nthreads) noexcept
    uint64_t fd_count_bits(const uint8_t *mask, size_t n) noexcept

# Windows into a larger virtual array (csrc/window.c).
cdef extern from "fastdrop.h" nogil:
    int fd_masked_scale_window(fd_dtype dtype, const fd_view *x, const fd_view *y,
                               const Py_ssize_t *lshape, int ndim, const uint64_t *gshape,
                               const uint64_t *origin, const uint8_t *mask_in,
                               uint8_t *mask_out, const fd_bernoulli *b, int scaled,
                               double scale, int nthreads) noexcept

cdef extern from "structured.h" nogil:
    int fd_struct_apply_window(fd_dtype dtype, const fd_view *x, const fd_view *y,
                               const uint64_t *gshape, const uint64_t *origin,
                               const fd_struct_op *op, int nthreads) noexcept
