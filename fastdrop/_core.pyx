# cython: language_level=3
"""Thin Cython layer over the C core: arrays in, pointers out, the kernel run without the GIL.

Callers (fastdrop._plumbing, with keyword arguments) validate every argument first; nothing
here checks values again. The constants below come from the C headers, their one home.
"""
cimport numpy as cnp
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memset

from fastdrop._kernels cimport *

import numpy as np

cnp.import_array()

_DTYPE_CODES = {np.dtype(np.float16): FD_F16, np.dtype(np.float32): FD_F32,
                np.dtype(np.float64): FD_F64}
#: The SIMD paths, narrowest first, named by their tables in csrc/isa/ (csrc/isa/dispatch.c).
ISA_NAMES = tuple(fd_isa_name(i).decode("ascii") for i in range(fd_isa_count()))

#: Philox streams (counter word c2) of the contract (docs/contract.md; csrc/fastdrop.h and
#: csrc/structured.h): every Bernoulli keep mask, the DropBlock seed grid, the Gaussian normals.
STREAM_DROPOUT = FD_STREAM_DROPOUT
STREAM_DROPBLOCK = FD_STREAM_DROPBLOCK
STREAM_GAUSSIAN = FD_STREAM_GAUSSIAN


cdef inline void _view(cnp.ndarray a, fd_view *v) noexcept:
    v.data = <char *>cnp.PyArray_DATA(a)
    v.ndim = cnp.PyArray_NDIM(a)
    v.shape = <const Py_ssize_t *>cnp.PyArray_DIMS(a)
    v.strides = <const Py_ssize_t *>cnp.PyArray_STRIDES(a)


cdef inline fd_bernoulli _bernoulli(uint64_t seed, uint64_t offset, uint32_t stream,
                                    uint32_t threshold, bint drop_all) noexcept:
    """The contract's keep decision (csrc/fastdrop.h): keep iff word >= threshold."""
    cdef fd_bernoulli b
    b.seed = seed
    b.offset = offset
    b.stream = stream
    b.threshold = threshold
    b.drop_all = drop_all
    return b


cdef inline fd_isa _isa(str name) except *:
    return <fd_isa>ISA_NAMES.index(name)


def masked_scale(cnp.ndarray x, cnp.ndarray y, Py_ssize_t n, cnp.ndarray mask_in,
                 cnp.ndarray mask_out, uint64_t seed, uint64_t offset, uint32_t stream,
                 uint32_t threshold, bint drop_all, bint scaled, double scale, int nthreads):
    """y = keep ? x * scale : 0 over n elements, keep from `mask_in` or from the Philox contract.

    x and y: arrays of one float dtype and shape (y may be x), or both None (mask only).
    mask_in / mask_out: C-contiguous uint8 arrays of ceil(n / 8) bytes, or None.
    """
    cdef fd_view xv, yv
    cdef fd_view *xp = NULL
    cdef fd_view *yp = NULL
    cdef fd_dtype code = FD_F32
    cdef const uint8_t *min_ = NULL
    cdef uint8_t *mout = NULL
    cdef fd_bernoulli b = _bernoulli(seed, offset, stream, threshold, drop_all)
    cdef int rc
    if x is not None:
        code = _DTYPE_CODES[x.dtype]
        _view(x, &xv)
        _view(y, &yv)
        xp = &xv
        yp = &yv
    if mask_in is not None:
        min_ = <const uint8_t *>cnp.PyArray_DATA(mask_in)
    if mask_out is not None:
        mout = <uint8_t *>cnp.PyArray_DATA(mask_out)
    with nogil:
        rc = fd_masked_scale(code, xp, yp, <size_t>n, min_, mout, &b, scaled, scale, nthreads)
    if rc:
        raise RuntimeError("fastdrop: kernel rejected its arguments (a bug: please report it)")


def scaled_copy(cnp.ndarray x, cnp.ndarray y, double scale, int nthreads, bint streaming=False):
    """The roofline kernel: y = x * scale for C-contiguous x, y of one float dtype; streaming:
    with non-temporal stores where the SIMD path has them."""
    cdef fd_dtype code = _DTYPE_CODES[x.dtype]
    cdef const void *xp = cnp.PyArray_DATA(x)
    cdef void *yp = cnp.PyArray_DATA(y)
    cdef size_t n = x.size
    if not (x.flags.c_contiguous and y.flags.c_contiguous and x.flags.aligned
            and y.flags.aligned and x.dtype == y.dtype and x.size == y.size):
        raise ValueError("scaled_copy takes two C-contiguous, aligned arrays of one dtype and size")
    with nogil:
        fd_scaled_copy(code, xp, yp, n, scale, nthreads, streaming)


def isa_get():
    """Name of the SIMD path in use."""
    return fd_isa_name(fd_isa_get()).decode("ascii")


def isa_best():
    """Name of the widest SIMD path this CPU supports."""
    return fd_isa_name(fd_isa_best()).decode("ascii")


def isa_supported(str name):
    """Whether this CPU and build support the SIMD path `name` (one of ISA_NAMES)."""
    return bool(fd_isa_supported(_isa(name)))


def isa_set(str name):
    """Force the SIMD path `name` (one of ISA_NAMES); returns False when this CPU does not
    support it."""
    return fd_isa_set(_isa(name)) == 0


def openmp_enabled():
    """Whether the extension was built with OpenMP."""
    return bool(fd_openmp_enabled())


def max_threads():
    """omp_get_max_threads(): honours OMP_NUM_THREADS and threadpoolctl (1 without OpenMP)."""
    return fd_max_threads()


def parallel_team_size(int nthreads):
    """Threads that really run a parallel region asked for `nthreads` (1 without OpenMP)."""
    cdef int nt
    with nogil:
        nt = fd_parallel_team_size(nthreads)
    return nt


def parallel_threshold():
    """Arrays with fewer elements run on the calling thread."""
    return fd_parallel_threshold()


def isa_forced():
    """Whether FASTDROP_ISA or isa_set chose the path (it then wins over a measured plan)."""
    return bool(fd_isa_forced())


def isa_reset():
    """Back to the widest supported path, not forced."""
    fd_isa_reset()


# The plan (csrc/plan.h): operation classes, in the C enum's order, and size classes.
PLAN_OPS = ("draw", "stored", "affine", "noise", "bits")
PLAN_SIZES = FD_NSIZE


def isa_streams(str name):
    """Whether the path `name` has streaming (non-temporal) stores."""
    cdef int st = 0
    cdef fd_isa i = _isa(name)
    return bool(fd_isa_supported(i) and fd_isa_has_streaming(i))


def stream_threshold():
    """Contiguous outputs of at least this many bytes use non-temporal stores (no plan entry)."""
    return fd_stream_threshold()


def stream_threshold_default():
    """The built-in threshold: the OS's last-level cache size clamped to [4 MiB, 32 MiB]."""
    return fd_stream_threshold_default()


def set_stream_threshold(size_t nbytes):
    fd_set_stream_threshold(nbytes)


def size_class(size_t nbytes):
    """The plan's size class of an output of nbytes bytes."""
    return fd_size_class(nbytes)


def plan_clear():
    fd_plan_clear()


def plan_set(str op, int dtype_code, int size_class, isa, int stream):
    """One plan entry: isa a name or None (built in), stream 1, 0 or -1 (threshold)."""
    cdef int i = -1 if isa is None else <int>_isa(isa)
    if fd_plan_set(PLAN_OPS.index(op), dtype_code, size_class, i, stream) != 0:
        raise ValueError(f"bad plan entry {(op, dtype_code, size_class, isa, stream)}")


def plan_choice(str op, int dtype_code, size_t nbytes):
    """(path name, streaming) that a whole-array call of this class, dtype and output size uses."""
    cdef int st = 0
    cdef int i = fd_plan_choice(PLAN_OPS.index(op), dtype_code, nbytes, &st)
    return fd_isa_name(i).decode("ascii"), bool(st)


def plan_get(str op, int dtype_code, int size_class):
    """(isa name or None, stream) of one plan entry."""
    cdef int i = -1, st = -1
    if fd_plan_get(PLAN_OPS.index(op), dtype_code, size_class, &i, &st) != 0:
        raise ValueError("bad plan entry")
    return (None if i < 0 else fd_isa_name(i).decode("ascii")), st


include "_structured.pxi"
include "_window.pxi"
