"""Pure-NumPy reference implementation of the fastdrop mask contract.

This module is the executable form of ``docs/contract.md``. It is written for
clarity rather than speed, but it is vectorised (``uint64`` arithmetic on whole
arrays, no Python loop per element), so drawing a few million words takes a
fraction of a second. The compiled kernels must agree with it bit for bit.

Summary of the contract
-----------------------
* Random words come from Philox4x32-10 exactly as in Random123.
* Key ``(seed mod 2**32, seed >> 32)`` for an integer seed in ``[0, 2**64)``.
* The element with C-order flat index ``i`` has global index ``g = offset + i``
  and uses 32-bit word ``g mod 4`` of the block with counter
  ``((g div 4) mod 2**32, (g div 4) >> 32, stream, 0)``.
* Threshold ``t = floor(p * 2**32)``; an element is kept iff its word
  ``u >= t``. ``p == 1`` drops everything and draws no words.
* Output values use select semantics: dropped elements are ``+0.0`` whatever
  the input (NaN and inf included).
* The packed mask is ``np.packbits(keep.ravel(), bitorder="little")``.
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
    "philox4x32_10",
    "random_words",
    "threshold",
    "keep_mask",
    "compute_dtype",
    "scale_for",
    "dropout",
    "dropout_mask",
    "dropout_backward",
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

_STREAM_DROPOUT = 0
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
def _check_seed(seed):
    seed = operator.index(seed)
    if not 0 <= seed < _TWO64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return seed


def _check_offset(offset, n):
    offset = operator.index(offset)
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    if offset + n > _TWO64:
        raise ValueError("offset + size may not exceed 2**64")
    return offset


def _check_p(p):
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"p must be in [0, 1], got {p}")
    return p


def _size(shape):
    return math.prod(shape)


def _as_shape(shape):
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
    seed = _check_seed(seed)
    offset = _check_offset(offset, n)
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
    p = _check_p(p)
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
    shape = _as_shape(shape)
    p = _check_p(p)
    n = _size(shape)
    _check_seed(seed)
    _check_offset(offset, n)
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
    p = _check_p(p)
    cdt = compute_dtype(dtype)
    with np.errstate(divide="ignore"):
        s = np.float64(1.0) / (np.float64(1.0) - np.float64(p))
    return cdt.type(s)


def _naive_factor(p, dtype):
    """``1 - p`` computed in float64, rounded once to the compute dtype."""
    return compute_dtype(dtype).type(np.float64(1.0) - np.float64(p))


def _c_order(a):
    """Return `a` as a C-contiguous array (0-d arrays stay 0-d)."""
    return a if a.flags.c_contiguous else a.copy(order="C")


def _scaled_select(keep, x, factor):
    """``where(keep, x_c * factor, +0.0)`` in the compute dtype, cast to x.dtype."""
    cdt = compute_dtype(x.dtype)
    x_c = x.astype(cdt)
    with np.errstate(over="ignore", invalid="ignore"):
        prod = x_c * factor  # one rounding in the compute dtype
    y = np.where(keep, prod, cdt.type(0.0))
    return _c_order(y.astype(x.dtype))  # float16: one more rounding


def _select(keep, x):
    """``where(keep, x, +0.0)`` in x.dtype."""
    return _c_order(np.where(keep, x, x.dtype.type(0.0)))


def _check_mode(mode):
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")


def _packed(keep):
    return np.packbits(keep.ravel(), bitorder="little")


def dropout(x, p=0.5, *, seed, offset=0, training=True, mode="inverted", return_mask=False):
    """Reference dropout forward pass.

    Parameters
    ----------
    x : array_like of float16, float32 or float64
        Input; elements are numbered in C order whatever the memory layout.
    p : float, optional
        Drop probability in ``[0, 1]``.
    seed : int
        Seed in ``[0, 2**64)``.
    offset : int, optional
        Global index of the first element.
    training : bool, optional
        If False, no randomness is used (see Notes).
    mode : {"inverted", "naive"}, optional
        Inverted scales kept values by ``1 / (1 - p)`` during training; naive
        keeps them as they are and scales by ``1 - p`` at inference.
    return_mask : bool, optional
        Also return the packed keep mask.

    Returns
    -------
    y : numpy.ndarray
        C-contiguous array with the shape and dtype of `x`.
    mask : numpy.ndarray of uint8, shape (ceil(n / 8),)
        Only if `return_mask`: ``np.packbits(keep.ravel(), bitorder="little")``.
        With ``training=False`` every element counts as kept (all bits of
        the first ``n`` set, unused high bits zero).

    Notes
    -----
    Training, inverted: ``y = where(keep, x_c * scale_c, +0.0)`` with ``x_c``
    the input in the compute dtype, ``scale_c = scale_for(p, x.dtype)``, the
    product rounded once in the compute dtype, then cast to ``x.dtype``.
    Training, naive: ``y = where(keep, x, +0.0)``. Dropped elements are
    ``+0.0`` even if ``x`` is NaN or inf there (select semantics).

    Inference, inverted: a copy of ``x``. Inference, naive:
    ``x_c * f_c`` with ``f = 1 - p`` computed in float64 and rounded to the
    compute dtype, cast back to ``x.dtype``.
    """
    x = np.asarray(x)
    compute_dtype(x.dtype)  # dtype check
    p = _check_p(p)
    _check_mode(mode)
    n = x.size

    if not training:
        if mode == "inverted":
            y = np.array(x, order="C", copy=True)
        else:
            y = _scaled_select(np.ones(x.shape, dtype=bool), x, _naive_factor(p, x.dtype))
        if return_mask:
            return y, _packed(np.ones(n, dtype=bool))
        return y

    keep = keep_mask(x.shape, p, seed, offset=offset, stream=_STREAM_DROPOUT)
    if mode == "inverted":
        y = _scaled_select(keep, x, scale_for(p, x.dtype))
    else:
        y = _select(keep, x)
    if return_mask:
        return y, _packed(keep)
    return y


def dropout_mask(shape, p, *, seed, offset=0, packed=True):
    """Return the dropout keep mask (stream 0).

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the mask.
    p : float
        Drop probability in ``[0, 1]``.
    seed : int
        Seed in ``[0, 2**64)``.
    offset : int, optional
        Global index of the first element.
    packed : bool, optional
        If True (default) return the packed uint8 mask, else a bool array.

    Returns
    -------
    numpy.ndarray
        ``np.packbits(keep.ravel(), bitorder="little")`` (uint8, ``ceil(n/8)``
        bytes) if `packed`, else the bool keep array of shape `shape`.
    """
    keep = keep_mask(shape, p, seed, offset=offset, stream=_STREAM_DROPOUT)
    return _packed(keep) if packed else keep


def dropout_backward(grad, p, *, mask=None, seed=None, offset=0, mode="inverted"):
    """Reference dropout backward pass.

    Parameters
    ----------
    grad : array_like of float16, float32 or float64
        Gradient with respect to the dropout output.
    p : float
        Drop probability used in the forward pass.
    mask : array_like of uint8, optional
        Packed keep mask of ``ceil(n / 8)`` bytes (as returned by
        ``dropout(..., return_mask=True)``). If omitted the mask is
        regenerated from `seed` and `offset`.
    seed : int, optional
        Seed of the forward pass; required when `mask` is None.
    offset : int, optional
        Offset of the forward pass (ignored when `mask` is given).
    mode : {"inverted", "naive"}, optional
        Dropout mode of the forward pass.

    Returns
    -------
    numpy.ndarray
        C-contiguous ``grad_x`` with the shape and dtype of `grad`:
        ``where(keep, grad_c * scale_c, +0.0)`` cast back to ``grad.dtype``
        in inverted mode, ``where(keep, grad, +0.0)`` in naive mode.
    """
    grad = np.asarray(grad)
    compute_dtype(grad.dtype)
    p = _check_p(p)
    _check_mode(mode)
    n = grad.size

    if mask is not None:
        mask = np.asarray(mask, dtype=np.uint8).ravel()
        if mask.size != (n + 7) // 8:
            raise ValueError(f"mask must have {(n + 7) // 8} bytes, got {mask.size}")
        keep = np.unpackbits(mask, count=n, bitorder="little").astype(bool).reshape(grad.shape)
    else:
        if seed is None:
            raise ValueError("either mask or seed must be given")
        keep = keep_mask(grad.shape, p, seed, offset=offset, stream=_STREAM_DROPOUT)

    if mode == "inverted":
        return _scaled_select(keep, grad, scale_for(p, grad.dtype))
    return _select(keep, grad)
