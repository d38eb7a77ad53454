"""The public dropout functions: validate everything, then run one fused kernel."""
from __future__ import annotations

import math

import numpy as np

from fastdrop import _core
from fastdrop import _formulas as F
from fastdrop import _validate as V
from fastdrop._config import get_num_threads
from fastdrop._generator import Generator, default_generator

STREAM_DROPOUT = _core.STREAM_DROPOUT


def _source(seed, offset, rng, n, training=True):
    """Resolve (seed, offset) for n elements from `seed`/`offset`, `rng` or the default."""
    if seed is not None and rng is not None:
        raise ValueError("pass seed (with offset) or rng, not both")
    if rng is not None:
        if not isinstance(rng, Generator):
            raise TypeError(f"rng must be a fastdrop.Generator or None; got {type(rng).__name__}")
        if offset != 0:
            raise ValueError("offset goes with seed; a Generator hands out its own offsets")
    if seed is not None:
        return V.seed(seed), V.offset(offset, n)
    V.offset(offset, n)
    if not training:
        return None, None  # inference draws nothing
    s, off = (rng or default_generator()).draw(n)
    return s, V.offset(off, n, "the generator's offset")


def _run(x, y, n, mask_in, mask_out, seed, offset, p, scaled, stream=STREAM_DROPOUT):
    if n == 0:  # nothing to do (and offset may be 2**64, past the counter)
        return
    _core.masked_scale(
        x, y, n, mask_in, mask_out, seed or 0, offset or 0, stream, F.threshold(p), p == 1.0,
        scaled, F.inverted_scale(p) if scaled else 1.0, get_num_threads(),
    )


def _window(window, shape, offset):
    """Validate ``window=(global_shape, origin)`` for a block of `shape`; returns the tuples
    and checks ``offset + prod(global_shape) <= 2**64``."""
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        raise TypeError("window must be a pair (global_shape, origin)")
    gshape = V.shape(window[0], "window global_shape")
    origin = V.shape(window[1], "window origin")
    if len(gshape) != len(shape) or len(origin) != len(shape):
        raise ValueError(
            f"window: global_shape {gshape} and origin {origin} need one entry per dimension "
            f"of the block {tuple(shape)}"
        )
    for d, (o, n, g) in enumerate(zip(origin, shape, gshape)):
        if o + n > g:
            raise ValueError(
                f"window: the block {tuple(shape)} at origin {origin} does not fit in "
                f"global_shape {gshape} (axis {d}: {o} + {n} > {g})"
            )
    if len(shape) > 64:
        raise ValueError("window: at most 64 dimensions")
    V.offset(offset, math.prod(gshape))
    return tuple(shape), gshape, origin


def _window_seed(seed, rng):
    if seed is None or rng is not None:
        raise ValueError("window= needs an explicit seed= (and offset=): every block of the "
                         "global array must use the same (seed, offset)")


def _run_window(x, y, win, mask_in, mask_out, seed, offset, p, scaled, stream=STREAM_DROPOUT):
    lshape, gshape, origin = win
    if 0 in lshape:
        return
    _core.masked_scale_window(
        x, y, lshape, gshape, origin, mask_in, mask_out, seed or 0, offset or 0, stream,
        F.threshold(p), p == 1.0, scaled, F.inverted_scale(p) if scaled else 1.0,
        get_num_threads(),
    )


def _ones_mask(n):
    mask = np.full((n + 7) // 8, 0xFF, np.uint8)
    if n % 8:
        mask[-1] = (1 << (n % 8)) - 1
    return mask


def dropout(x, p=0.5, *, seed=None, offset=0, rng=None, training=True, mode="inverted",
            out=None, return_mask=False, broadcast_axes=None, noise_shape=None, window=None):
    """Dropout: zero each element with probability ``p``, in one fused pass.

    Parameters
    ----------
    x : array_like
        float16, float32 or float64, any shape and memory layout (0-d and empty included).
    p : float
        Probability of dropping an element, in ``[0, 1]``.
    seed : int, optional
        Philox seed in ``[0, 2**64)``. With ``offset`` it fixes the mask exactly.
    offset : int
        Global index of the first element (C order); use it to shard an array.
    rng : fastdrop.Generator, optional
        Draws ``(seed, offset)``; with neither ``seed`` nor ``rng`` the default generator
        (see :func:`fastdrop.manual_seed`) is used.
    training : bool
        ``False``: inference. Inverted mode returns ``x`` unchanged (a copy unless ``out`` is
        ``x``); naive mode returns ``x * (1 - p)``.
    mode : {"inverted", "naive"}
        Inverted scales kept values by ``1 / (1 - p)`` during training; naive (the 2014
        formulation) keeps them as they are and scales at inference.
    out : ndarray, optional
        Same shape and dtype as ``x``; may be ``x`` itself (in place) but no other view of it.
    return_mask : bool
        Also return the packed keep mask (``np.packbits(keep.ravel(), bitorder="little")``).
    broadcast_axes : int or sequence of int, optional
        One keep decision per group along these axes: the reduced mask (``x.shape`` with
        these axes set to 1) is drawn with the contract over its own C-order index (``offset``
        numbers it) and broadcast, so ``dropout(x, p, seed=s, broadcast_axes=(2, 3))`` is
        ``where(dropout_mask(reduced_shape, p, seed=s, packed=False), x * scale, 0)``.
    noise_shape : sequence of int or None, optional
        Keras-style alternative to ``broadcast_axes``: one entry per axis, 1 to broadcast,
        None or the input's size not to.

    Returns
    -------
    y : ndarray
        Same shape and dtype as ``x`` (C-contiguous unless ``out`` was given).
    mask : ndarray of uint8, optional
        The packed mask, ``ceil(x.size / 8)`` bytes, when ``return_mask`` is true (with
        ``broadcast_axes`` / ``noise_shape``: the reduced mask, ``ceil(reduced size / 8)``).

    Notes
    -----
    Compatibility guarantee: the output is a pure function of (seed, offset, element index,
    p, mode, dtype) as specified in docs/contract.md, identical for every thread count,
    SIMD path and machine, and bitwise equal to :func:`fastdrop.reference.dropout`.
    Dropped elements are ``+0.0`` even where ``x`` is NaN or inf (select semantics).
    """
    if broadcast_axes is not None or noise_shape is not None:
        from fastdrop._structured import _dropout_broadcast

        return _dropout_broadcast(x, p, seed=seed, offset=offset, rng=rng, training=training,
                                  mode=mode, out=out, return_mask=return_mask,
                                  broadcast_axes=broadcast_axes, noise_shape=noise_shape,
                                  window=window)
    x = V.float_array(x)
    p = V.probability(p)
    mode = V.mode(mode)
    training = V.boolean(training, "training")
    return_mask = V.boolean(return_mask, "return_mask")
    out = V.out_array(out, x)
    n = x.size
    win = None
    if window is not None:
        if training:
            _window_seed(seed, rng)
        win = _window(window, x.shape, offset)
    seed, offset = _source(seed, offset, rng, n, training)
    y = out if out is not None else np.empty(x.shape, x.dtype)
    mask = np.empty((n + 7) // 8, np.uint8) if return_mask else None
    if training and win is not None:
        _run_window(x, y, win, None, mask, seed, offset, p, mode == "inverted")
    elif training:
        _run(x, y, n, None, mask, seed, offset, p, mode == "inverted")
    else:
        if mode == "inverted":
            if y is not x:
                np.copyto(y, x)
        else:
            ct = F.compute_dtype(x.dtype)
            f = ct(np.float64(1.0) - np.float64(p))
            with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 at p = 1 is NaN, as in NumPy
                np.multiply(x.astype(ct, copy=False), f, out=y, casting="unsafe")
        if return_mask:
            mask = _ones_mask(n)
    return (y, mask) if return_mask else y


def dropout_mask(shape, p, *, seed=None, offset=0, rng=None, packed=True, window=None):
    """The keep mask that :func:`dropout` with the same arguments applies.

    Returns the packed mask (uint8, ``ceil(size / 8)`` bytes, little bit order) or, with
    ``packed=False``, a boolean array of ``shape`` (True = kept). ``window=(global_shape,
    origin)``: the mask of the block of ``shape`` at ``origin`` of the global array (see
    :func:`dropout`), packed in the block's own C order.
    """
    shape = V.shape(shape)
    p = V.probability(p)
    packed = V.boolean(packed, "packed")
    n = int(np.prod(shape, dtype=object)) if shape else 1
    win = None
    if window is not None:
        _window_seed(seed, rng)
        win = _window(window, shape, offset)
    seed, offset = _source(seed, offset, rng, n)
    mask = np.empty((n + 7) // 8, np.uint8)
    if win is not None:
        _run_window(None, None, win, None, mask, seed, offset, p, False)
    else:
        _run(None, None, n, None, mask, seed, offset, p, False)
    if packed:
        return mask
    return np.unpackbits(mask, count=n, bitorder="little").view(np.bool_).reshape(shape)


def dropout_backward(grad, p, *, mask=None, seed=None, offset=0, mode="inverted", out=None,
                     broadcast_axes=None, noise_shape=None, window=None):
    """Gradient of :func:`dropout`: ``grad * scale`` where kept, ``+0.0`` where dropped.

    Parameters
    ----------
    grad : array_like
        Gradient of the loss with respect to the dropout output.
    p : float
        The forward's drop probability.
    mask : ndarray of uint8, optional
        The packed mask the forward returned (``return_mask=True``).
    seed, offset : int, optional
        Without ``mask``: the forward's seed and offset; the mask is regenerated, so nothing
        had to be stored (use :meth:`fastdrop.Generator.draw` to get them).
    mode : {"inverted", "naive"}
        As in the forward (naive: a plain select, no scaling).
    out : ndarray, optional
        Same shape and dtype as ``grad``; may be ``grad`` itself.
    broadcast_axes, noise_shape : optional
        As in the forward; ``mask`` is then the packed reduced mask.
    window : (global_shape, origin), optional
        As in the forward: ``grad`` is a block of a larger array and the mask is regenerated
        from its global indices (with ``mask=`` the block's own packed mask decides and the
        window only gets validated).
    """
    if broadcast_axes is not None or noise_shape is not None:
        from fastdrop._structured import _dropout_backward_broadcast

        return _dropout_backward_broadcast(grad, p, mask=mask, seed=seed, offset=offset,
                                           mode=mode, out=out, broadcast_axes=broadcast_axes,
                                           noise_shape=noise_shape, window=window)
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    mode = V.mode(mode)
    out = V.out_array(out, grad)
    n = grad.size
    if mask is not None:
        if seed is not None:
            raise ValueError("pass mask or seed (with offset), not both")
        mask = V.packed_mask(mask, n, out=out)
        V.offset(offset, n)
    elif seed is None:
        raise ValueError(
            "dropout_backward needs the forward's mask (mask=, from return_mask=True) or its "
            "seed and offset (seed=, offset=) to regenerate the mask"
        )
    else:
        seed, offset = V.seed(seed), V.offset(offset, n)
    y = out if out is not None else np.empty(grad.shape, grad.dtype)
    if window is not None:
        win = _window(window, grad.shape, offset)
        if mask is None:
            _run_window(grad, y, win, None, None, seed, offset, p, mode == "inverted")
            return y
    _run(grad, y, n, mask, None, seed, offset, p, mode == "inverted")
    return y
