# Structured dropout (csrc/structured.c), pulled into fastdrop._core by an include at the end
# of _core.pyx. Thin wrappers: arrays in, pointers out, every kernel run without the GIL.
# Callers (fastdrop._plumbing) validate every argument first; nothing here checks values.

#: The elementwise operations of fd_struct_apply (csrc/structured.h).
OP_SCALE = FD_OP_SCALE
OP_AFFINE = FD_OP_AFFINE
OP_NOISE = FD_OP_NOISE


cdef inline fd_struct_op _struct_op(int op, bint scaled, double scale, double a, double b,
                                    double d, double sigma, uint64_t seed,
                                    uint64_t offset) noexcept:
    """An fd_struct_op without keep bits (bern, mask, rstrides, mask_out all NULL)."""
    cdef fd_struct_op o
    memset(&o, 0, sizeof(o))
    o.op = <fd_op>op
    o.scaled = scaled
    o.scale = scale
    o.a = a
    o.b = b
    o.d = d
    o.sigma = sigma
    o.seed = seed
    o.offset = offset
    return o


def struct_apply(cnp.ndarray x, cnp.ndarray y, int op, cnp.ndarray mask, object rstrides,
                 cnp.ndarray mask_out, bint use_bern, uint64_t seed, uint64_t offset,
                 uint32_t threshold, bint drop_all, bint scaled, double scale, double a,
                 double b, double d, double sigma, int nthreads):
    """y = op(x) with keep bits from the Philox contract (use_bern, STREAM_DROPOUT), a full
    packed mask (`mask`, rstrides None) or a reduced packed mask broadcast with bit strides
    `rstrides` (one per axis of x, 0 on broadcast axes). NOISE ignores the keep bits and uses
    the contract normals of (seed, offset + i)."""
    cdef fd_view xv, yv
    cdef fd_struct_op o = _struct_op(op, scaled, scale, a, b, d, sigma, seed, offset)
    cdef fd_bernoulli bern = _bernoulli(seed, offset, FD_STREAM_DROPOUT, threshold, drop_all)
    cdef Py_ssize_t rs[64]
    cdef int rc, i
    cdef fd_dtype code = _DTYPE_CODES[x.dtype]
    _view(x, &xv)
    _view(y, &yv)
    if use_bern:
        o.bern = &bern
    elif mask is not None:
        o.mask = <const uint8_t *>cnp.PyArray_DATA(mask)
        o.mask_bits = <size_t>mask.size * 8
        if rstrides is not None:
            for i in range(len(rstrides)):
                rs[i] = rstrides[i]
            o.rstrides = rs
    if mask_out is not None:
        o.mask_out = <uint8_t *>cnp.PyArray_DATA(mask_out)
    with nogil:
        rc = fd_struct_apply(code, &xv, &yv, &o, nthreads)
    if rc:
        raise RuntimeError("fastdrop: kernel rejected its arguments (a bug: please report it)")


def gaussian_normals(Py_ssize_t n, uint64_t seed, uint64_t offset, int nthreads):
    """The contract's standard normals (float32) of global elements offset .. offset + n - 1."""
    cdef cnp.ndarray z = np.empty(n, np.float32)
    cdef float *zp = <float *>cnp.PyArray_DATA(z)
    with nogil:
        fd_gaussian_normals(zp, <size_t>n, seed, offset, nthreads)
    return z


def dropblock_mask(size_t nbatch, size_t nchan, object spatial, object block, bint valid_only,
                   bint share_channels, bint channels_last, uint64_t seed, uint64_t offset,
                   uint32_t threshold, bint drop_all, cnp.ndarray mask_out, int nthreads):
    """Write the packed DropBlock keep mask into mask_out; return the kept-element count.
    spatial, block: 3 ints each (D, H, W; D = 1 for 2-D maps), block clipped to the map."""
    cdef size_t sp[3]
    cdef size_t kk[3]
    cdef fd_bernoulli bern = _bernoulli(seed, offset, FD_STREAM_DROPBLOCK, threshold, drop_all)
    cdef uint64_t kept = 0
    cdef int rc, i
    cdef uint8_t *mp = <uint8_t *>cnp.PyArray_DATA(mask_out)
    for i in range(3):
        sp[i] = spatial[i]
        kk[i] = block[i]
    with nogil:
        rc = fd_dropblock_mask(nbatch, nchan, sp, kk, valid_only, share_channels, channels_last,
                               &bern, mp, &kept, nthreads)
    if rc == -2:
        raise MemoryError("fastdrop.dropblock: out of memory for the block mask")
    if rc:
        raise RuntimeError("fastdrop: kernel rejected its arguments (a bug: please report it)")
    return kept


def count_bits(cnp.ndarray mask, size_t n):
    """Set bits among the first n bits of a C-contiguous packed uint8 mask (exact)."""
    cdef const uint8_t *mp = <const uint8_t *>cnp.PyArray_DATA(mask)
    cdef uint64_t c
    with nogil:
        c = fd_count_bits(mp, n)
    return c
