"""The core of the mask contract (docs/contract.md): Philox4x32-10, the random words of global
element indices, keep decisions, the compute dtype and scales, and the shared rules for
output values (select semantics, one rounding in the compute dtype, packed masks). Also the
words and keep masks of a window: a block of a larger virtual array.

Part of :mod:`fastdrop.reference`, written independently of the production code (which must
agree with it bit for bit). The helpers outside ``__all__`` (check_*, size, as_shape, the
output rules select / scaled_select / pack / unpack / c_copy, keep_maybe_window) serve the
reference's other modules; the package does not export them.
"""

from __future__ import annotations

import math
import operator

import numpy as np

__all__ = [
    "PHILOX_M0",
    "PHILOX_M1",
    "PHILOX_W0",
    "PHILOX_W1",
    "PHILOX_ROUNDS",
    "STREAM_DROPOUT",
    "STREAM_DROPBLOCK",
    "STREAM_GAUSSIAN",
    "DATA_FORMATS",
    "philox4x32_10",
    "random_words",
    "threshold",
    "keep_mask",
    "compute_dtype",
    "scale_for",
    "window_indices",
    "random_words_at",
    "keep_mask_window",
]

#: Philox4x32 round multipliers (Random123 ``PHILOX_M4x32_0`` / ``_1``).
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
#: Weyl key increments (Random123 ``PHILOX_W32_0`` / ``_1``).
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
#: Number of rounds of the contract generator.
PHILOX_ROUNDS = 10

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_TWO32 = 1 << 32
_TWO64 = 1 << 64

#: Philox stream (counter word c2) of every Bernoulli keep mask (plain, broadcast, alpha).
STREAM_DROPOUT = 0
#: Philox stream (counter word c2) of the DropBlock seed positions.
STREAM_DROPBLOCK = 1
#: Philox stream of the Gaussian-dropout normals.
STREAM_GAUSSIAN = 2

DATA_FORMATS = ("channels_first", "channels_last")
_SUPPORTED_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_MODES = ("inverted", "naive")


# --------------------------------------------------------------------------
# Philox4x32-10
# --------------------------------------------------------------------------
def philox4x32_10(counter, key):
    """Apply the Philox4x32-10 block function (Random123) element-wise.

    Parameters
    ----------
    counter : array_like of uint32, shape (..., 4)
        Counter words ``(c0, c1, c2, c3)``.
    key : array_like of uint32, shape (..., 2) or (2,)
        Key words ``(k0, k1)``. Broadcast against the leading dimensions of
        `counter`.

    Returns
    -------
    numpy.ndarray of uint32, shape (..., 4)
        The four output words of each block.

    Notes
    -----
    One round, with ``mulhilo32(a, b) = ((a*b) >> 32, (a*b) mod 2**32)``::

        hi0, lo0 = mulhilo32(0xD2511F53, c0)
        hi1, lo1 = mulhilo32(0xCD9E8D57, c2)
        (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)

    Ten rounds are applied; before rounds 2..10 the key is bumped by
    ``(0x9E3779B9, 0xBB67AE85)`` modulo ``2**32``. The products of two 32-bit
    values are formed exactly in ``uint64``.

    Examples
    --------
    >>> philox4x32_10([0, 0, 0, 0], [0, 0])
    array([1713891541, 3781805453, 3159862348, 2600524760], dtype=uint32)
    """
    c = np.asarray(counter, dtype=np.uint32)
    k = np.asarray(key, dtype=np.uint32)
    if c.shape[-1:] != (4,):
        raise ValueError(f"counter must have shape (..., 4), got {c.shape}")
    if k.shape[-1:] != (2,):
        raise ValueError(f"key must have shape (..., 2), got {k.shape}")

    c0, c1, c2, c3 = (c[..., j].astype(np.uint64) for j in range(4))
    k0, k1 = (k[..., j].astype(np.uint64) for j in range(2))
    m0 = np.uint64(PHILOX_M0)
    m1 = np.uint64(PHILOX_M1)
    w0 = np.uint64(PHILOX_W0)
    w1 = np.uint64(PHILOX_W1)

    for rnd in range(PHILOX_ROUNDS):
        if rnd > 0:
            k0 = (k0 + w0) & _MASK32
            k1 = (k1 + w1) & _MASK32
        prod0 = m0 * c0  # exact: both factors < 2**32
        prod1 = m1 * c2
        hi0, lo0 = prod0 >> _SHIFT32, prod0 & _MASK32
        hi1, lo1 = prod1 >> _SHIFT32, prod1 & _MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0

    c0, c1, c2, c3 = np.broadcast_arrays(c0, c1, c2, c3)
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.uint32)


# --------------------------------------------------------------------------
# Random words and keep decisions
# --------------------------------------------------------------------------
def check_seed(seed):
    seed = operator.index(seed)
    if not 0 <= seed < _TWO64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return seed


def check_offset(offset, n):
    offset = operator.index(offset)
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    if offset + n > _TWO64:
        raise ValueError("offset + size may not exceed 2**64")
    return offset


def check_p(p):
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"p must be in [0, 1], got {p}")
    return p


def size(shape):
    return math.prod(shape)


def as_shape(shape):
    if isinstance(shape, (int, np.integer)):
        return (operator.index(shape),)
    return tuple(operator.index(s) for s in shape)


def random_words(n, seed, offset=0, stream=0):
    """Return the contract's random words for ``n`` consecutive elements.

    Parameters
    ----------
    n : int
        Number of words (elements).
    seed : int
        Seed in ``[0, 2**64)``; the Philox key is
        ``(seed mod 2**32, seed >> 32)``.
    offset : int, optional
        Global index of the first element (``>= 0``, ``offset + n <= 2**64``).
    stream : int, optional
        Stream id in ``[0, 2**32)``, placed in counter word ``c2``.

    Returns
    -------
    numpy.ndarray of uint32, shape (n,)
        Word ``j`` is the word of global index ``g = offset + j``: word
        ``g mod 4`` of the Philox block with counter
        ``((g div 4) mod 2**32, (g div 4) >> 32, stream, 0)``.

    Notes
    -----
    Every Philox block that overlaps ``[offset, offset + n)`` is computed
    exactly once; the blocks' words are concatenated and the requested window
    is sliced out.
    """
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    seed = check_seed(seed)
    offset = check_offset(offset, n)
    stream = operator.index(stream)
    if not 0 <= stream < _TWO32:
        raise ValueError(f"stream must be in [0, 2**32), got {stream}")
    if n == 0:
        return np.empty(0, dtype=np.uint32)

    first_block = offset // 4
    last_block = (offset + n - 1) // 4  # < 2**62, fits in uint64
    blocks = np.arange(last_block - first_block + 1, dtype=np.uint64)
    blocks += np.uint64(first_block)

    counter = np.empty((blocks.size, 4), dtype=np.uint32)
    counter[:, 0] = blocks & _MASK32
    counter[:, 1] = blocks >> _SHIFT32
    counter[:, 2] = stream
    counter[:, 3] = 0
    key = np.array([seed % _TWO32, seed >> 32], dtype=np.uint32)

    words = philox4x32_10(counter, key).reshape(-1)
    start = offset % 4
    return words[start : start + n].copy()


def threshold(p):
    """Return the keep threshold ``t = floor(p * 2**32)``.

    Parameters
    ----------
    p : float
        Drop probability in ``[0, 1]``.

    Returns
    -------
    int
        ``floor(p * 2**32)``; for ``p < 1`` this is in ``[0, 2**32 - 1]``. An
        element with word ``u`` is kept iff ``u >= t``, so
        ``P(keep) = 1 - t / 2**32``. For ``p == 1`` the value ``2**32`` is
        returned (no 32-bit word reaches it, i.e. everything is dropped; the
        contract draws no words in that case).

    Notes
    -----
    ``p * 2**32`` is exact in float64 (scaling by a power of two), so the
    floor is exact too.
    """
    p = check_p(p)
    return int(math.floor(p * float(_TWO32)))


def keep_mask(shape, p, seed, offset=0, stream=0):
    """Return the boolean keep mask of the contract.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the mask; elements are numbered in C order.
    p : float
        Drop probability in ``[0, 1]``.
    seed : int
        Seed in ``[0, 2**64)``.
    offset : int, optional
        Global index of the first element.
    stream : int, optional
        Stream id (0 for plain dropout).

    Returns
    -------
    numpy.ndarray of bool, shape `shape`
        ``True`` where the element is kept (``word >= threshold(p)``). For
        ``p == 1`` all ``False`` and no words are drawn.
    """
    shape = as_shape(shape)
    p = check_p(p)
    n = size(shape)
    check_seed(seed)
    check_offset(offset, n)
    if p == 1.0:
        return np.zeros(shape, dtype=bool)
    t = threshold(p)
    words = random_words(n, seed, offset=offset, stream=stream)
    return (words >= np.uint32(t)).reshape(shape)


# --------------------------------------------------------------------------
# Output values
# --------------------------------------------------------------------------
def compute_dtype(dtype):
    """Return the compute dtype for an input dtype.

    Parameters
    ----------
    dtype : dtype_like
        One of float16, float32, float64.

    Returns
    -------
    numpy.dtype
        float32 for float16 and float32 inputs, float64 for float64.

    Raises
    ------
    TypeError
        For any other dtype.
    """
    dtype = np.dtype(dtype)
    if dtype not in _SUPPORTED_DTYPES:
        raise TypeError(f"fastdrop supports float16, float32 and float64 only, got {dtype}")
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def scale_for(p, dtype):
    """Return the inverted-dropout scale ``1 / (1 - p)`` in the compute dtype.

    Parameters
    ----------
    p : float
        Drop probability in ``[0, 1]``.
    dtype : dtype_like
        Input dtype (float16, float32 or float64).

    Returns
    -------
    numpy.floating
        ``1 / (1 - p)`` computed in float64 and rounded once to
        ``compute_dtype(dtype)``. For ``p == 1`` this is ``inf`` (it is never
        applied: every element is dropped).
    """
    p = check_p(p)
    cdt = compute_dtype(dtype)
    with np.errstate(divide="ignore"):
        s = np.float64(1.0) / (np.float64(1.0) - np.float64(p))
    return cdt.type(s)


def naive_factor(p, dtype):
    """``1 - p`` computed in float64, rounded once to the compute dtype."""
    return compute_dtype(dtype).type(np.float64(1.0) - np.float64(p))


def c_order(a):
    """Return `a` as a C-contiguous array (0-d arrays stay 0-d)."""
    return a if a.flags.c_contiguous else a.copy(order="C")


def scaled_select(keep, x, factor):
    """``where(keep, x_c * factor, +0.0)`` in the compute dtype, cast to x.dtype."""
    cdt = compute_dtype(x.dtype)
    x_c = x.astype(cdt)
    with np.errstate(over="ignore", invalid="ignore"):
        prod = x_c * factor  # one rounding in the compute dtype
    y = np.where(keep, prod, cdt.type(0.0))
    return c_order(y.astype(x.dtype))  # float16: one more rounding


def select(keep, x):
    """``where(keep, x, +0.0)`` in x.dtype."""
    return c_order(np.where(keep, x, x.dtype.type(0.0)))


def check_mode(mode):
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")


def pack(keep):
    return np.packbits(keep.ravel(), bitorder="little")


def unpack(mask, n, shape):
    mask = np.asarray(mask, dtype=np.uint8).ravel()
    if mask.size != (n + 7) // 8:
        raise ValueError(f"mask must have {(n + 7) // 8} bytes, got {mask.size}")
    return np.unpackbits(mask, count=n, bitorder="little").astype(bool).reshape(shape)


def c_copy(x):
    return np.array(x, order="C", copy=True)


# --------------------------------------------------------------------------
# Windows: a block of a larger virtual array (fastdrop.dask, window=)
# --------------------------------------------------------------------------
def window_indices(shape, global_shape, origin):
    """Global C-order flat indices (uint64, shape `shape`) of the block of `shape` at `origin`
    of a virtual array of `global_shape`: ``ravel(origin + j, global_shape)`` for each local
    multi-index ``j``."""
    shape, gshape, origin = as_shape(shape), as_shape(global_shape), as_shape(origin)
    if not len(shape) == len(gshape) == len(origin):
        raise ValueError("shape, global_shape and origin need one entry per dimension")
    if any(o < 0 or o + n > g for o, n, g in zip(origin, shape, gshape)):
        raise ValueError(f"block {shape} at {origin} does not fit in {gshape}")
    g = np.zeros(shape, dtype=np.uint64)
    stride = 1
    for d in range(len(shape) - 1, -1, -1):
        # (a stride of 2**64 only multiplies index 0 of a leading extent-1 axis: take it mod 2**64)
        ax = np.arange(origin[d], origin[d] + shape[d], dtype=np.uint64) * np.uint64(stride % _TWO64)
        g += ax.reshape((-1,) + (1,) * (len(shape) - 1 - d))
        stride *= gshape[d]
    return g


def random_words_at(g, seed, stream=0):
    """The contract words of arbitrary global indices `g` (uint64 array, any shape): word
    ``g mod 4`` of the Philox block with counter ``((g div 4) mod 2**32, (g div 4) >> 32,
    stream, 0)``."""
    g = np.asarray(g, dtype=np.uint64)
    seed = check_seed(seed)
    blocks = g >> np.uint64(2)
    counter = np.empty(g.shape + (4,), dtype=np.uint32)
    counter[..., 0] = blocks & _MASK32
    counter[..., 1] = blocks >> _SHIFT32
    counter[..., 2] = stream
    counter[..., 3] = 0
    key = np.array([seed % _TWO32, seed >> 32], dtype=np.uint32)
    words = philox4x32_10(counter, key)
    return np.take_along_axis(words, (g & np.uint64(3)).astype(np.intp)[..., None], -1)[..., 0]


def keep_mask_window(shape, p, seed, offset=0, *, global_shape, origin, stream=0):
    """The keep mask of the block of `shape` at `origin` of a virtual array of
    `global_shape`: element j uses global index ``offset + ravel(origin + j, global_shape)``.
    Equal to ``keep_mask(global_shape, p, seed, offset)[block]``."""
    shape = as_shape(shape)
    p = check_p(p)
    gsize = size(as_shape(global_shape))
    check_offset(offset, gsize)
    g = window_indices(shape, global_shape, origin)
    if p == 1.0:
        return np.zeros(shape, dtype=bool)
    words = random_words_at(g + np.uint64(offset % _TWO64), seed, stream)  # (2**64: no elements)
    return words >= np.uint32(threshold(p))


def keep_maybe_window(shape, p, seed, offset, window):
    if window is None:
        return keep_mask(shape, p, seed, offset=offset, stream=STREAM_DROPOUT)
    gshape, origin = window
    return keep_mask_window(shape, p, seed, offset, global_shape=gshape, origin=origin,
                            stream=STREAM_DROPOUT)
