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

#: Philox stream (counter word c2) of every Bernoulli keep mask (plain, broadcast, alpha).
STREAM_DROPOUT = 0
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


def dropout(x, p=0.5, *, seed, offset=0, training=True, mode="inverted", return_mask=False,
            window=None):
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

    keep = _keep_maybe_window(x.shape, p, seed, offset, window)
    if mode == "inverted":
        y = _scaled_select(keep, x, scale_for(p, x.dtype))
    else:
        y = _select(keep, x)
    if return_mask:
        return y, _packed(keep)
    return y


def dropout_mask(shape, p, *, seed, offset=0, packed=True, window=None):
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
    keep = _keep_maybe_window(_as_shape(shape), p, seed, offset, window)
    return _packed(keep) if packed else keep


def dropout_backward(grad, p, *, mask=None, seed=None, offset=0, mode="inverted", window=None):
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
        keep = _keep_maybe_window(grad.shape, p, seed, offset, window)

    if mode == "inverted":
        return _scaled_select(keep, grad, scale_for(p, grad.dtype))
    return _select(keep, grad)


# ==========================================================================
# Structured dropout: broadcast masks (spatial / locked / embedding dropout,
# drop_path), alpha and feature-alpha dropout, Gaussian dropout, DropBlock.
# The compiled kernels (csrc/structured.c) must agree with these bit for bit.
# ==========================================================================
__all__ += [
    "STREAM_DROPOUT",
    "STREAM_DROPBLOCK",
    "STREAM_GAUSSIAN",
    "DATA_FORMATS",
    "reduced_shape",
    "broadcast_dropout",
    "broadcast_dropout_backward",
    "spatial_axes",
    "spatial_dropout",
    "spatial_dropout_backward",
    "locked_dropout",
    "locked_dropout_backward",
    "embedding_dropout",
    "embedding_dropout_backward",
    "drop_path",
    "drop_path_backward",
    "ALPHA_PRIME",
    "alpha_constants",
    "alpha_dropout",
    "alpha_dropout_backward",
    "feature_alpha_dropout",
    "feature_alpha_dropout_backward",
    "contract_log1p",
    "contract_sincos",
    "contract_radius2",
    "contract_normals",
    "standard_normals",
    "gaussian_sigma",
    "gaussian_dropout",
    "gaussian_dropout_backward",
    "dropblock_geometry",
    "dropblock_gamma",
    "dropblock_keep",
    "dropblock",
    "dropblock_backward",
]

#: Philox stream (counter word c2) of the DropBlock seed positions.
STREAM_DROPBLOCK = 1
#: Philox stream of the Gaussian-dropout normals.
STREAM_GAUSSIAN = 2
DATA_FORMATS = ("channels_first", "channels_last")


def _norm_axes(axes, ndim):
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    out = set()
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} out of range for {ndim} dimensions")
        out.add(a % ndim)
    return tuple(sorted(out))


def reduced_shape(shape, broadcast_axes):
    """The shape of a broadcast mask: `shape` with the broadcast axes set to 1."""
    shape = _as_shape(shape)
    axes = _norm_axes(broadcast_axes, len(shape))
    return tuple(1 if d in axes else s for d, s in enumerate(shape))


def _unpack(mask, n, shape):
    mask = np.asarray(mask, dtype=np.uint8).ravel()
    if mask.size != (n + 7) // 8:
        raise ValueError(f"mask must have {(n + 7) // 8} bytes, got {mask.size}")
    return np.unpackbits(mask, count=n, bitorder="little").astype(bool).reshape(shape)


def _copy(x):
    return np.array(x, order="C", copy=True)


def broadcast_dropout(x, p=0.5, *, broadcast_axes, seed, offset=0, training=True,
                      mode="inverted", return_mask=False):
    """Dropout with one keep decision per group of elements along `broadcast_axes`.

    The reduced keep mask (shape ``reduced_shape(x.shape, broadcast_axes)``) is the core
    contract's mask (stream 0) over its own C-order flat index, ``keep_mask(reduced, p, seed,
    offset)``; it is broadcast to ``x.shape`` and applied exactly as :func:`dropout` applies
    its mask. The packed mask returned is the reduced one.
    """
    x = np.asarray(x)
    compute_dtype(x.dtype)
    p = _check_p(p)
    _check_mode(mode)
    rshape = reduced_shape(x.shape, broadcast_axes)
    nr = _size(rshape)
    if not training:
        y = dropout(x, p, seed=0, training=False, mode=mode)
        return (y, _packed(np.ones(nr, dtype=bool))) if return_mask else y
    keep_r = keep_mask(rshape, p, seed, offset=offset, stream=STREAM_DROPOUT)
    keep = np.broadcast_to(keep_r, x.shape)
    y = _scaled_select(keep, x, scale_for(p, x.dtype)) if mode == "inverted" else _select(keep, x)
    return (y, _packed(keep_r)) if return_mask else y


def broadcast_dropout_backward(grad, p, *, broadcast_axes, mask=None, seed=None, offset=0,
                               mode="inverted"):
    """Gradient of :func:`broadcast_dropout` from the packed reduced mask or (seed, offset)."""
    grad = np.asarray(grad)
    compute_dtype(grad.dtype)
    p = _check_p(p)
    _check_mode(mode)
    rshape = reduced_shape(grad.shape, broadcast_axes)
    if mask is not None:
        keep_r = _unpack(mask, _size(rshape), rshape)
    else:
        if seed is None:
            raise ValueError("either mask or seed must be given")
        keep_r = keep_mask(rshape, p, seed, offset=offset, stream=STREAM_DROPOUT)
    keep = np.broadcast_to(keep_r, grad.shape)
    if mode == "inverted":
        return _scaled_select(keep, grad, scale_for(p, grad.dtype))
    return _select(keep, grad)


def spatial_axes(ndim, data_format="channels_first"):
    """The spatial axes of an (N, C, *S) or (N, *S, C) array: the axes spatial dropout
    broadcasts over."""
    if data_format == "channels_first":
        return tuple(range(2, ndim))
    if data_format == "channels_last":
        return tuple(range(1, ndim - 1))
    raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")


def spatial_dropout(x, p=0.5, *, data_format="channels_first", seed, offset=0, training=True,
                    return_mask=False):
    """Channel dropout (PyTorch Dropout1d/2d/3d, Keras SpatialDropout): reduced mask (N, C)."""
    x = np.asarray(x)
    return broadcast_dropout(x, p, broadcast_axes=spatial_axes(x.ndim, data_format), seed=seed,
                             offset=offset, training=training, return_mask=return_mask)


def spatial_dropout_backward(grad, p, *, data_format="channels_first", mask=None, seed=None,
                             offset=0):
    grad = np.asarray(grad)
    return broadcast_dropout_backward(grad, p, broadcast_axes=spatial_axes(grad.ndim, data_format),
                                      mask=mask, seed=seed, offset=offset)


def locked_dropout(x, p=0.5, *, time_axis=0, seed, offset=0, training=True, return_mask=False):
    """Locked (variational) dropout: one mask shared by every step along `time_axis`."""
    return broadcast_dropout(x, p, broadcast_axes=(time_axis,), seed=seed, offset=offset,
                             training=training, return_mask=return_mask)


def locked_dropout_backward(grad, p, *, time_axis=0, mask=None, seed=None, offset=0):
    return broadcast_dropout_backward(grad, p, broadcast_axes=(time_axis,), mask=mask, seed=seed,
                                      offset=offset)


def embedding_dropout(x, p=0.5, *, seed, offset=0, training=True, return_mask=False):
    """Embedding-row (word) dropout: whole rows along the last axis kept or dropped."""
    x = np.asarray(x)
    return broadcast_dropout(x, p, broadcast_axes=(x.ndim - 1,), seed=seed, offset=offset,
                             training=training, return_mask=return_mask)


def embedding_dropout_backward(grad, p, *, mask=None, seed=None, offset=0):
    grad = np.asarray(grad)
    return broadcast_dropout_backward(grad, p, broadcast_axes=(grad.ndim - 1,), mask=mask,
                                      seed=seed, offset=offset)


def _drop_path_axes(ndim, mode):
    if mode == "row":
        return tuple(range(1, ndim))
    if mode == "batch":
        return tuple(range(ndim))
    raise ValueError(f"mode must be 'row' or 'batch', got {mode!r}")


def drop_path(x, p, *, scale_by_keep=True, mode="row", seed, offset=0, training=True,
              return_mask=False):
    """Stochastic depth: keep or drop a whole sample ('row', reduced mask (N, 1, ...)) or the
    whole batch ('batch', one decision). Kept values are scaled by 1/(1-p) when
    `scale_by_keep`; inference is the identity."""
    x = np.asarray(x)
    axes = _drop_path_axes(x.ndim, mode)
    if not training:
        y = _copy(x)
        return (y, _packed(np.ones(_size(reduced_shape(x.shape, axes)), bool))) if return_mask else y
    return broadcast_dropout(x, p, broadcast_axes=axes, seed=seed, offset=offset,
                             mode="inverted" if scale_by_keep else "naive",
                             return_mask=return_mask)


def drop_path_backward(grad, p, *, scale_by_keep=True, mode="row", mask=None, seed=None,
                       offset=0):
    grad = np.asarray(grad)
    return broadcast_dropout_backward(grad, p, broadcast_axes=_drop_path_axes(grad.ndim, mode),
                                      mask=mask, seed=seed, offset=offset,
                                      mode="inverted" if scale_by_keep else "naive")


# --------------------------------------------------------------------------
# Alpha dropout (SELU networks)
# --------------------------------------------------------------------------
#: alpha' = -lambda * alpha of SELU (PyTorch's constant).
ALPHA_PRIME = -1.7580993408473766


def alpha_constants(p):
    """``(a, b, d)`` in float64 for ``0 <= p < 1``: kept ``x*a + b``, dropped ``d``.

    ``a = 1 / sqrt((1 - p) * (1 + p * alpha'**2))``, ``b = -a * alpha' * p`` and
    ``d = a * alpha' + b``, each evaluated left to right in IEEE float64 exactly as written
    (``alpha'**2`` is ``alpha' * alpha'``).
    """
    p = _check_p(p)
    if p == 1.0:
        raise ValueError("alpha_constants needs p < 1 (p = 1 drops everything to 0)")
    ap = ALPHA_PRIME
    a = 1.0 / math.sqrt((1.0 - p) * (1.0 + p * (ap * ap)))
    b = -a * ap * p
    d = a * ap + b
    return a, b, d


def _alpha_apply(keep, x, p):
    cdt = compute_dtype(x.dtype)
    a, b, d = (cdt.type(v) for v in alpha_constants(p))
    x_c = x.astype(cdt)
    with np.errstate(over="ignore", invalid="ignore"):
        kept = x_c * a + b  # two roundings, no FMA
        return _c_order(np.where(keep, kept, d).astype(x.dtype))


def _alpha_forward(x, p, axes, seed, offset, training, return_mask, window=None):
    x = np.asarray(x)
    rshape = reduced_shape(x.shape, axes)
    compute_dtype(x.dtype)
    p = _check_p(p)
    nr = _size(rshape)
    if not training or p == 0.0:
        y = _copy(x)
        return (y, _packed(np.ones(nr, bool))) if return_mask else y
    if p == 1.0:
        y = np.zeros(x.shape, x.dtype)
        return (y, _packed(np.zeros(nr, bool))) if return_mask else y
    keep_r = _keep_maybe_window(rshape, p, seed, offset, _reduce_window(window, axes))
    y = _alpha_apply(np.broadcast_to(keep_r, x.shape), x, p)
    return (y, _packed(keep_r)) if return_mask else y


def _alpha_backward(grad, p, axes, mask, seed, offset, window=None):
    grad = np.asarray(grad)
    rshape = reduced_shape(grad.shape, axes)
    compute_dtype(grad.dtype)
    p = _check_p(p)
    if mask is not None:
        keep_r = _unpack(mask, _size(rshape), rshape)
    else:
        if seed is None:
            raise ValueError("either mask or seed must be given")
        keep_r = _keep_maybe_window(rshape, p, seed, offset, _reduce_window(window, axes))
    if p == 1.0:
        return np.zeros(grad.shape, grad.dtype)
    a = compute_dtype(grad.dtype).type(alpha_constants(p)[0])
    return _scaled_select(np.broadcast_to(keep_r, grad.shape), grad, a)


def alpha_dropout(x, p=0.5, *, seed, offset=0, training=True, return_mask=False, window=None):
    """Alpha dropout (Klambauer et al. 2017, PyTorch's AlphaDropout).

    Keep mask: the core contract (stream 0) over x's C-order index, as :func:`dropout_mask`.
    Training, ``0 < p < 1``: ``y = where(keep, x_c * a_c + b_c, d_c)`` in the compute dtype
    (``a_c``, ``b_c``, ``d_c``: :func:`alpha_constants` rounded once to it; two roundings for a
    kept value, no FMA), cast to x.dtype. ``p == 0`` or inference: a copy of ``x``.
    ``p == 1``: all ``+0.0`` (the limit; no words drawn). ``window``: as in :func:`dropout`.
    """
    x = np.asarray(x)
    return _alpha_forward(x, p, (), seed, offset, training, return_mask, window)


def alpha_dropout_backward(grad, p, *, mask=None, seed=None, offset=0, window=None):
    """``where(keep, grad_c * a_c, +0.0)`` (``p == 1``: zeros)."""
    grad = np.asarray(grad)
    return _alpha_backward(grad, p, (), mask, seed, offset, window)


def _feature_axes(ndim, data_format):
    if data_format == "channels_first":
        return tuple(range(2, ndim))
    if data_format == "channels_last":
        return tuple(range(1, ndim - 1))
    raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")


def feature_alpha_dropout(x, p=0.5, *, data_format="channels_first", seed, offset=0,
                          training=True, return_mask=False, window=None):
    """Alpha dropout of whole channels (PyTorch FeatureAlphaDropout): the reduced mask is
    (N, C) with the spatial axes broadcast, as in :func:`spatial_dropout`. ``window``: the
    reduced mask is the block's window into the global reduced mask."""
    x = np.asarray(x)
    return _alpha_forward(x, p, _feature_axes(x.ndim, data_format), seed, offset, training,
                          return_mask, window)


def feature_alpha_dropout_backward(grad, p, *, data_format="channels_first", mask=None,
                                   seed=None, offset=0, window=None):
    grad = np.asarray(grad)
    return _alpha_backward(grad, p, _feature_axes(grad.ndim, data_format), mask, seed, offset,
                           window)


# --------------------------------------------------------------------------
# Gaussian dropout: normals from Philox words
# --------------------------------------------------------------------------
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
    seed = _check_seed(seed)
    offset = _check_offset(offset, n)
    if n == 0:
        return np.empty(0, _F32)
    start = offset - offset % 32
    end = -(-(offset + n) // 32) * 32  # <= 2**64, a multiple of 32
    w = random_words(end - start, seed, offset=start, stream=STREAM_GAUSSIAN)
    z = contract_normals(w)
    return z[offset - start:offset - start + n].copy()


def gaussian_sigma(p):
    """``sqrt(p / (1 - p))`` in float64 for ``0 <= p < 1`` (the noise standard deviation)."""
    p = _check_p(p)
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
        return _c_order((x.astype(cdt) * m).astype(x.dtype))


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
    p = _check_p(p)
    if not training or p == 0.0:
        return _copy(x)
    return _gaussian_mul(x, p, seed, offset, window)


def gaussian_dropout_backward(grad, p, *, seed, offset=0, window=None):
    """``grad_c * m_c`` with the forward's noise regenerated from (seed, offset)."""
    grad = np.asarray(grad)
    compute_dtype(grad.dtype)
    p = _check_p(p)
    if p == 0.0:
        return _copy(grad)
    return _gaussian_mul(grad, p, seed, offset, window)


# --------------------------------------------------------------------------
# DropBlock (Ghiasi et al. 2018)
# --------------------------------------------------------------------------
def dropblock_geometry(shape, block_size, data_format="channels_first", valid_only=False):
    """``(N, C, S, K, G)`` of a DropBlock input: spatial sizes S, block K clipped to S,
    seed grid G (``S - K + 1`` with `valid_only`, else S)."""
    shape = _as_shape(shape)
    if len(shape) not in (4, 5):
        raise ValueError("DropBlock takes 4-D or 5-D input")
    if data_format == "channels_first":
        N, C, S = shape[0], shape[1], shape[2:]
    elif data_format == "channels_last":
        N, S, C = shape[0], shape[1:-1], shape[-1]
    else:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
    bs = ((operator.index(block_size),) * len(S) if isinstance(block_size, (int, np.integer))
          else tuple(operator.index(b) for b in block_size))
    K = tuple(min(b, s) for b, s in zip(bs, S))
    G = tuple(s - k + 1 if valid_only else s for s, k in zip(S, K))
    return N, C, tuple(S), K, G


def dropblock_gamma(p, spatial, block):
    """Seed rate ``gamma = p * prod(S) / prod(K) / prod(S - K + 1)`` (K clipped), float64,
    evaluated left to right; the seed threshold uses ``min(gamma, 1)``."""
    total = math.prod(spatial)
    area = math.prod(block)
    valid = math.prod(s - k + 1 for s, k in zip(spatial, block))
    return p * float(total) / float(area) / float(valid)


def dropblock_keep(shape, p, block_size, *, seed, offset=0, data_format="channels_first",
                   valid_only=False, share_channels=False):
    """The boolean DropBlock keep mask of an input of `shape`.

    Seeds: ``~keep_mask((N, C or 1, *G), min(gamma, 1), seed, offset, STREAM_DROPBLOCK)``
    (numbered channels-first whatever `data_format`; one channel with `share_channels`).
    A seed at grid index ``s`` (per spatial axis) drops ``[s + b, s + b + k)`` clipped to the
    map, ``b = 0`` with `valid_only` (the grid holds only positions where the block fits) and
    ``b = -(k // 2)`` otherwise (timm's convention; for even k the block reaches one further
    up/left than down/right). ``p == 1`` drops everything (no words drawn).
    """
    shape = _as_shape(shape)
    p = _check_p(p)
    N, C, S, K, G = dropblock_geometry(shape, block_size, data_format, valid_only)
    if p == 1.0:
        return np.zeros(shape, dtype=bool)
    Cs = 1 if share_channels else C
    if _size(shape) == 0:
        return np.ones(shape, dtype=bool)
    gamma = min(dropblock_gamma(p, S, K), 1.0)
    dropped = ~keep_mask((N, Cs) + G, gamma, seed, offset=offset, stream=STREAM_DROPBLOCK)
    for ax, (s, k, g) in enumerate(zip(S, K, G)):
        axis = 2 + ax
        o = 0 if valid_only else k // 2
        out_shape = list(dropped.shape)
        out_shape[axis] = s
        out = np.zeros(out_shape, dtype=bool)
        view = [1] * dropped.ndim
        view[axis] = s
        for t in range(k):  # output i is covered by seed i + o - t
            src = np.arange(s) + o - t
            ok = ((src >= 0) & (src < g)).reshape(view)
            out |= np.take(dropped, np.clip(src, 0, g - 1), axis=axis) & ok
        dropped = out
    keep = np.broadcast_to(~dropped, (N, C) + S)
    if data_format == "channels_last":
        keep = np.moveaxis(keep, 1, -1)
    return np.ascontiguousarray(keep)


def _dropblock_scale(keep, p, scale, dtype):
    if scale == "count":
        n, kept = keep.size, int(np.count_nonzero(keep))
        s = float(n) / float(kept) if kept else 0.0
    elif scale == "expected":
        s = 1.0 / (1.0 - p) if p < 1.0 else 0.0
    else:
        raise ValueError(f"scale must be 'count' or 'expected', got {scale!r}")
    return compute_dtype(dtype).type(s)


def dropblock(x, p, block_size, *, seed, offset=0, data_format="channels_first",
              valid_only=False, share_channels=False, scale="count", training=True,
              return_mask=False):
    """DropBlock: ``where(keep, x_c * s_c, +0.0)`` with :func:`dropblock_keep`.

    ``scale="count"``: ``s = n / kept`` (exact integer counts over the whole batch, then one
    float64 division; 0 when nothing is kept); ``"expected"``: ``s = 1 / (1 - p)``. ``s`` is
    rounded once to the compute dtype. Inference: a copy. The packed mask is full-shape.
    """
    x = np.asarray(x)
    compute_dtype(x.dtype)
    p = _check_p(p)
    if not training:
        y = _copy(x)
        return (y, _packed(np.ones(x.size, bool))) if return_mask else y
    keep = dropblock_keep(x.shape, p, block_size, seed=seed, offset=offset,
                          data_format=data_format, valid_only=valid_only,
                          share_channels=share_channels)
    y = _scaled_select(keep, x, _dropblock_scale(keep, p, scale, x.dtype))
    return (y, _packed(keep)) if return_mask else y


def dropblock_backward(grad, p, block_size, *, mask=None, seed=None, offset=0,
                       data_format="channels_first", valid_only=False, share_channels=False,
                       scale="count"):
    """Gradient of :func:`dropblock`: the forward's scale, recomputed from the mask."""
    grad = np.asarray(grad)
    compute_dtype(grad.dtype)
    p = _check_p(p)
    if mask is not None:
        keep = _unpack(mask, grad.size, grad.shape)
    else:
        if seed is None:
            raise ValueError("either mask or seed must be given")
        keep = dropblock_keep(grad.shape, p, block_size, seed=seed, offset=offset,
                              data_format=data_format, valid_only=valid_only,
                              share_channels=share_channels)
    return _scaled_select(keep, grad, _dropblock_scale(keep, p, scale, grad.dtype))


# ==========================================================================
# Windows: a block of a larger virtual array (fastdrop.dask, window=)
# ==========================================================================
__all__ += ["window_indices", "random_words_at", "keep_mask_window", "standard_normals_window"]


def window_indices(shape, global_shape, origin):
    """Global C-order flat indices (uint64, shape `shape`) of the block of `shape` at `origin`
    of a virtual array of `global_shape`: ``ravel(origin + j, global_shape)`` for each local
    multi-index ``j``."""
    shape, gshape, origin = _as_shape(shape), _as_shape(global_shape), _as_shape(origin)
    if not len(shape) == len(gshape) == len(origin):
        raise ValueError("shape, global_shape and origin need one entry per dimension")
    if any(o < 0 or o + n > g for o, n, g in zip(origin, shape, gshape)):
        raise ValueError(f"block {shape} at {origin} does not fit in {gshape}")
    g = np.zeros(shape, dtype=np.uint64)
    stride = 1
    for d in range(len(shape) - 1, -1, -1):
        ax = np.arange(origin[d], origin[d] + shape[d], dtype=np.uint64) * np.uint64(stride)
        g += ax.reshape((-1,) + (1,) * (len(shape) - 1 - d))
        stride *= gshape[d]
    return g


def random_words_at(g, seed, stream=0):
    """The contract words of arbitrary global indices `g` (uint64 array, any shape): word
    ``g mod 4`` of the Philox block with counter ``((g div 4) mod 2**32, (g div 4) >> 32,
    stream, 0)``."""
    g = np.asarray(g, dtype=np.uint64)
    seed = _check_seed(seed)
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
    shape = _as_shape(shape)
    p = _check_p(p)
    gsize = _size(_as_shape(global_shape))
    _check_offset(offset, gsize)
    g = window_indices(shape, global_shape, origin)
    if p == 1.0:
        return np.zeros(shape, dtype=bool)
    words = random_words_at(g + np.uint64(offset), seed, stream)
    return words >= np.uint32(threshold(p))


def _keep_maybe_window(shape, p, seed, offset, window):
    if window is None:
        return keep_mask(shape, p, seed, offset=offset, stream=STREAM_DROPOUT)
    gshape, origin = window
    return keep_mask_window(shape, p, seed, offset, global_shape=gshape, origin=origin,
                            stream=STREAM_DROPOUT)


def _reduce_window(window, axes):
    """The window of a block's reduced (broadcast) mask: the global reduced shape and the
    origin have extent 1 and origin 0 on the broadcast `axes`."""
    if window is None:
        return None
    gshape, origin = (_as_shape(w) for w in window)
    return (tuple(1 if d in axes else g for d, g in enumerate(gshape)),
            tuple(0 if d in axes else o for d, o in enumerate(origin)))


def standard_normals_window(shape, seed, offset=0, *, global_shape, origin):
    """The contract's standard normals of the block of `shape` at `origin` of a virtual array
    of `global_shape` (element j: global index ``offset + ravel(origin + j, global_shape)``);
    equal to ``standard_normals(prod(global_shape), seed, offset).reshape(global_shape)[block]``.
    (Draws the whole 32-element pair groups the block touches, however far apart.)"""
    shape = _as_shape(shape)
    _check_offset(offset, _size(_as_shape(global_shape)))
    g = window_indices(shape, global_shape, origin) + np.uint64(offset)
    if g.size == 0:
        return np.empty(shape, np.float32)
    groups, which = np.unique(g >> np.uint64(5), return_inverse=True)
    idx = (groups[:, None] << np.uint64(5)) + np.arange(32, dtype=np.uint64)
    z = contract_normals(random_words_at(idx, seed, stream=STREAM_GAUSSIAN)).reshape(-1, 32)
    return z[which.reshape(shape), (g & np.uint64(31)).astype(np.intp)]
