"""Reference Gaussian dropout: the contract's float32 normals from Philox words (stream
STREAM_GAUSSIAN) and the multiplicative noise (fastdrop._gaussian)."""

from __future__ import annotations

import math
import operator

import numpy as np

from fastdrop.reference._contract import (
    STREAM_GAUSSIAN, as_shape, c_copy, c_order, check_offset, check_p, check_seed, compute_dtype,
    random_words, random_words_at, size, window_indices,
)

__all__ = [
    "contract_log1p",
    "contract_sincos",
    "contract_radius2",
    "contract_normals",
    "standard_normals",
    "standard_normals_window",
    "gaussian_sigma",
    "gaussian_dropout",
    "gaussian_dropout_backward",
]

# Everything below is IEEE float32 arithmetic on np.float32 arrays and constants (no float64
# promotion anywhere), so it rounds exactly like the C kernels' float32 lanes.
_F32 = np.float32
_U32 = np.uint32


def _f32hex(s):
    return _F32(float.fromhex(s))


# log1p(f) = f + f*f*Q(f), Q a degree-6 minimax fit of (log1p(f) - f) / f**2 for f in
# [sqrt(1/2) - 1, sqrt(2) - 1] (relative error of log1p below 2e-7 before rounding, 3e-7 after).
_LQ = [_f32hex(s) for s in ("-0x1.00006p-1", "0x1.5559fp-2", "-0x1.ff7476p-3", "0x1.976dd4p-3",
                            "-0x1.6049b6p-3", "0x1.4d64dp-3", "-0x1.a7da9ep-4")]
# sin(pi/4 * t) = t * S(t*t), cos(pi/4 * t) = 1 + t*t * C(t*t) for t in [-1, 1]: minimax fits
# (absolute error about 1e-9 and 3e-8 before rounding).
_SP = [_f32hex(s) for s in ("0x1.921fb4p-1", "-0x1.4abba8p-4", "0x1.465a3ep-9", "-0x1.2cf5d4p-15")]
_CP = [_f32hex(s) for s in ("-0x1.3bd3a2p-2", "0x1.03b162p-6", "-0x1.4ea9e8p-12")]
_M2LN2 = _f32hex("-0x1.62e43p+0")  # float32(-2 ln 2)


def contract_log1p(f):
    """``log1p(f)`` for float32 ``f`` in ``[sqrt(1/2) - 1, sqrt(2) - 1]`` as the contract
    computes it, float32 operations in exactly this order (Estrin's scheme; relative error
    below 4e-7): ``f2 = f*f``, ``f4 = f2*f2``,
    ``q = ((Q0 + Q1*f) + (Q2 + Q3*f)*f2) + ((Q4 + Q5*f) + Q6*f2)*f4``, ``f + f2*q``."""
    f = np.asarray(f, dtype=_F32)
    q0, q1, q2, q3, q4, q5, q6 = _LQ
    f2 = f * f
    f4 = f2 * f2
    q = ((q0 + q1 * f) + (q2 + q3 * f) * f2) + ((q4 + q5 * f) + q6 * f2) * f4
    return f + f2 * q


def contract_sincos(t):
    """``(sin(pi/4 * t), cos(pi/4 * t))`` for float32 ``t`` in ``[-1, 1]``, float32 operations
    in exactly this order (absolute error below 1e-7): ``t2 = t*t``, ``t4 = t2*t2``,
    ``sin = t * ((S1 + S3*t2) + (S5 + S7*t2)*t4)``, ``cos = 1 + t2*((C2 + C4*t2) + C6*t4)``."""
    t = np.asarray(t, dtype=_F32)
    s1, s3, s5, s7 = _SP
    c2, c4, c6 = _CP
    t2 = t * t
    t4 = t2 * t2
    return t * ((s1 + s3 * t2) + (s5 + s7 * t2) * t4), _F32(1) + t2 * ((c2 + c4 * t2) + c6 * t4)


def contract_radius2(U):
    """``r**2 = -2 log(u)``, ``u = (U + 1) * 2**-32``, in float32 for uint32 words ``U``.

    * ``v = float32(U >> 16) * 2**16 + float32((U mod 2**16) + 1)``: ``U + 1`` rounded once;
    * ``v = 2**(e + 32) * m`` with ``m`` in ``[sqrt(1/2), sqrt(2))``, from ``v``'s bits ``b``:
      ``d = b - 0x3F3504F3`` (uint32; ``0x3F3504F3`` is float32(sqrt(1/2))), ``e = (d >> 23) - 32``,
      ``m`` = the float32 with bits ``b - (d & 0xFF800000)``; ``f = m - 1`` (exact);
    * when ``e == 0`` (``u >= sqrt(1/2)``) ``f = float32(~U) * -2**-32`` instead: the exact
      ``u - 1`` rounded once, so ``u`` near 1 (``z`` near 0) keeps its resolution;
    * ``r**2 = float32(e) * float32(-2 ln 2) + contract_log1p(f) * -2``.
    """
    U = np.asarray(U, dtype=_U32)
    v = (U >> _U32(16)).astype(_F32) * _F32(65536) + ((U & _U32(0xFFFF)) + _U32(1)).astype(_F32)
    b = v.view(_U32)
    d = b - _U32(0x3F3504F3)
    e = (d >> _U32(23)).astype(np.int32) - np.int32(32)
    f = (b - (d & _U32(0xFF800000))).view(_F32) - _F32(1)
    f = np.where(e == 0, (~U).astype(_F32) * _F32(-(2.0**-32)), f)
    return e.astype(_F32) * _M2LN2 + contract_log1p(f) * _F32(-2)


def contract_normals(words):
    """The float32 normals of contract words ``W(32k) .. W(32k + 32j - 1)`` (a whole number of
    32-word groups, in order): the steps of :func:`standard_normals` for those elements."""
    w = np.asarray(words, dtype=_U32).reshape(-1, 2, 16)
    wu, wa = w[:, 0], w[:, 1]
    r = np.sqrt(contract_radius2(wu))
    t = (wa << _U32(2)).view(np.int32).astype(_F32) * _F32(2.0**-31)
    sn, cs = contract_sincos(t)
    swap = ((wa >> _U32(30)) & _U32(1)) == 1  # odd quadrant
    cc = np.where(swap, sn, cs)
    ss = np.where(swap, cs, sn)
    sign = _U32(0x80000000)
    cc = (cc.view(_U32) ^ ((wa + _U32(0x40000000)) & sign)).view(_F32)
    ss = (ss.view(_U32) ^ (wa & sign)).view(_F32)
    z = np.empty(w.shape, _F32)
    z[:, 0] = r * cc
    z[:, 1] = r * ss
    return z.reshape(-1)


def standard_normals(n, seed, offset=0):
    """The contract's standard normals (float32) of global elements ``offset .. offset+n-1``.

    Element ``g`` has the contract word ``W(g) = random_words(.., stream=STREAM_GAUSSIAN)``
    (word ``g mod 4`` of the Philox block with counter ``((g div 4) mod 2**32, (g div 4) >> 32,
    2, 0)``, as for keep bits). Elements ``32k + i`` and ``32k + 16 + i`` (``0 <= i < 16``) are
    one Box-Muller pair from ``(U, A) = (W(32k + i), W(32k + 16 + i))`` (so a vector of 16, 8 or
    4 lanes needs no shuffles), in float32:

    * ``r = sqrt(contract_radius2(U))`` (``-2 log u``, ``u = (U + 1) * 2**-32`` in ``(0, 1]``);
    * quadrant ``q = A >> 30``; ``t = float32(int32(A * 4 mod 2**32)) * 2**-31`` in ``[-1, 1]``
      (the low 30 bits as a signed fraction, one rounding); ``(s, c) = contract_sincos(t)``, the
      sine and cosine of ``phi = pi/4 * t``;
    * ``(C, S)`` for ``q = 0..3``: ``(c, s), (-s, c), (-c, -s), (s, -c)`` (``phi + q*pi/2``:
      uniform on the circle); the signs are flips of the sign bit (bit 31 of ``A + 2**30``
      for ``C``, of ``A`` for ``S``);
    * ``z(32k + i) = r * C``, ``z(32k + 16 + i) = r * S``.

    Only IEEE float32 ``+ - * sqrt`` (no FMA) and exact integer steps: bit-reproducible in C
    and NumPy. ``|z| <= sqrt(64 ln 2) = 6.66`` (32-bit uniforms); within 1e-6 of the
    exact (float64) Box-Muller values of the same words.
    """
    n = operator.index(n)
    seed = check_seed(seed)
    offset = check_offset(offset, n)
    if n == 0:
        return np.empty(0, _F32)
    start = offset - offset % 32
    end = -(-(offset + n) // 32) * 32  # <= 2**64, a multiple of 32
    w = random_words(end - start, seed, offset=start, stream=STREAM_GAUSSIAN)
    z = contract_normals(w)
    return z[offset - start:offset - start + n].copy()


def gaussian_sigma(p):
    """``sqrt(p / (1 - p))`` in float64 for ``0 <= p < 1`` (the noise standard deviation)."""
    p = check_p(p)
    if p == 1.0:
        raise ValueError("Gaussian dropout needs p < 1")
    return math.sqrt(p / (1.0 - p))


def _gaussian_mul(x, p, seed, offset, window=None):
    cdt = compute_dtype(x.dtype)
    if window is None:
        z = standard_normals(x.size, seed, offset).reshape(x.shape)
    else:
        z = standard_normals_window(x.shape, seed, offset, global_shape=window[0],
                                    origin=window[1])
    z = z.astype(cdt)  # float32 normals, exact in the compute dtype
    sigma = cdt.type(gaussian_sigma(p))  # rounded once to the compute dtype
    m = cdt.type(1) + sigma * z  # two roundings in the compute dtype, no FMA
    with np.errstate(over="ignore", invalid="ignore"):
        return c_order((x.astype(cdt) * m).astype(x.dtype))


def gaussian_dropout(x, p=0.5, *, seed, offset=0, training=True, window=None):
    """Multiplicative Gaussian noise N(1, p/(1-p)) (Keras GaussianDropout).

    In the compute dtype (float32 for float16 / float32 data, float64 for float64):
    ``s = sigma`` rounded once (``sigma = gaussian_sigma(p)``), ``z`` the float32
    :func:`standard_normals` of the elements' global indices converted exactly,
    ``m = 1 + s * z`` (two roundings), ``y = x_c * m`` rounded once, cast to x.dtype.
    ``p == 0`` or inference: a copy. ``window``: as in :func:`dropout` (the normals of the
    global indices).
    """
    x = np.asarray(x)
    compute_dtype(x.dtype)
    p = check_p(p)
    if not training or p == 0.0:
        return c_copy(x)
    return _gaussian_mul(x, p, seed, offset, window)


def gaussian_dropout_backward(grad, p, *, seed, offset=0, window=None):
    """``grad_c * m_c`` with the forward's noise regenerated from (seed, offset)."""
    grad = np.asarray(grad)
    compute_dtype(grad.dtype)
    p = check_p(p)
    if p == 0.0:
        return c_copy(grad)
    return _gaussian_mul(grad, p, seed, offset, window)


def standard_normals_window(shape, seed, offset=0, *, global_shape, origin):
    """The contract's standard normals of the block of `shape` at `origin` of a virtual array
    of `global_shape` (element j: global index ``offset + ravel(origin + j, global_shape)``);
    equal to ``standard_normals(prod(global_shape), seed, offset).reshape(global_shape)[block]``.
    (Draws the whole 32-element pair groups the block touches, however far apart.)"""
    shape = as_shape(shape)
    check_offset(offset, size(as_shape(global_shape)))
    g = window_indices(shape, global_shape, origin) + np.uint64(offset % (1 << 64))  # (2**64: empty)
    if g.size == 0:
        return np.empty(shape, np.float32)
    groups, which = np.unique(g >> np.uint64(5), return_inverse=True)
    idx = (groups[:, None] << np.uint64(5)) + np.arange(32, dtype=np.uint64)
    z = contract_normals(random_words_at(idx, seed, stream=STREAM_GAUSSIAN)).reshape(-1, 32)
    return z[which.reshape(shape), (g & np.uint64(31)).astype(np.intp)]
