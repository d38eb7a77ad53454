# Windows into a larger virtual array (csrc/window.c); included from _core.pyx.


def masked_scale_window(cnp.ndarray x, cnp.ndarray y, tuple lshape, tuple gshape,
                        tuple origin, cnp.ndarray mask_in, cnp.ndarray mask_out,
                        uint64_t seed, uint64_t offset, uint32_t stream, uint32_t threshold,
                        bint drop_all, bint scaled, double scale, int nthreads):
    """masked_scale on the block at `origin` of a virtual C-order array of shape `gshape`.

    lshape, gshape, origin: tuples of one length (the block's ndim, <= 64), validated by the
    caller (origin + lshape <= gshape). x, y: arrays of shape lshape or both None.
    """
    cdef int nd = len(lshape)
    cdef Py_ssize_t ls[64]
    cdef uint64_t gs[64]
    cdef uint64_t org[64]
    cdef fd_view xv, yv
    cdef fd_view *xp = NULL
    cdef fd_view *yp = NULL
    cdef fd_dtype code = FD_F32
    cdef const uint8_t *min_ = NULL
    cdef uint8_t *mout = NULL
    cdef fd_bernoulli b = _bernoulli(seed, offset, stream, threshold, drop_all)
    cdef int rc
    cdef int d
    if nd > 64 or len(gshape) != nd or len(origin) != nd:
        raise ValueError("window: lshape, gshape and origin need one length <= 64")
    for d in range(nd):
        ls[d] = lshape[d]
        gs[d] = gshape[d]
        org[d] = origin[d]
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
        rc = fd_masked_scale_window(code, xp, yp, ls, nd, gs, org, min_, mout, &b, scaled,
                                    scale, nthreads)
    if rc == -2:
        raise MemoryError("fastdrop: out of memory for a window's mask buffer")
    if rc:
        raise RuntimeError("fastdrop: kernel rejected its arguments (a bug: please report it)")


def struct_apply_window(cnp.ndarray x, cnp.ndarray y, int op, tuple gshape, tuple origin,
                        cnp.ndarray mask_out, bint use_bern, uint64_t seed, uint64_t offset,
                        uint32_t threshold, bint drop_all, bint scaled, double scale, double a,
                        double b, double d, double sigma, int nthreads):
    """struct_apply (keep bits from the contract, STREAM_DROPOUT, when use_bern; or NOISE) on
    the block x at `origin` of a virtual C-order array of shape `gshape` (csrc/window.c).
    gshape, origin: one entry per axis of x (<= 64), validated by the caller."""
    cdef int nd = x.ndim
    cdef uint64_t gs[64]
    cdef uint64_t org[64]
    cdef fd_view xv, yv
    cdef fd_struct_op o = _struct_op(op, scaled, scale, a, b, d, sigma, seed, offset)
    cdef fd_bernoulli bern = _bernoulli(seed, offset, FD_STREAM_DROPOUT, threshold, drop_all)
    cdef fd_dtype code = _DTYPE_CODES[x.dtype]
    cdef int rc, i
    if nd > 64 or len(gshape) != nd or len(origin) != nd:
        raise ValueError("window: gshape and origin need one entry per axis of x (<= 64)")
    for i in range(nd):
        gs[i] = gshape[i]
        org[i] = origin[i]
    _view(x, &xv)
    _view(y, &yv)
    if use_bern:
        o.bern = &bern
    if mask_out is not None:
        o.mask_out = <uint8_t *>cnp.PyArray_DATA(mask_out)
    with nogil:
        rc = fd_struct_apply_window(code, &xv, &yv, gs, org, &o, nthreads)
    if rc == -2:
        raise MemoryError("fastdrop: out of memory for a window's mask buffer")
    if rc:
        raise RuntimeError("fastdrop: kernel rejected its arguments (a bug: please report it)")
