"""The public dropout functions: validate everything, then run one fused kernel.

:func:`dropout`, :func:`dropout_mask` and :func:`dropout_backward`; with ``broadcast_axes=`` or
``noise_shape=`` they hand over to the broadcast-mask machinery of fastdrop._broadcast. Results
are bitwise equal to :mod:`fastdrop.reference` (fastdrop/reference/_dropout.py).
"""
from __future__ import annotations

import numpy as np

from fastdrop import _broadcast
from fastdrop import _formulas as F
from fastdrop import _plumbing as P
from fastdrop import _validate as V

__all__ = ["dropout", "dropout_mask", "dropout_backward"]


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
    win = V.forward_window(window, x.shape, seed, offset, rng, training)
    seed, offset = P.source(seed, offset, rng, n, training)
    y = P.output(x, out)
    if not training:
        if mode == "inverted":
            P.identity(x, y)
        else:
            P.naive_inference(x, y, p)
        return (y, P.ones_mask(n)) if return_mask else y
    mask = P.empty_mask(n) if return_mask else None
    P.masked_scale(x, y, n, scale=F.mode_scale(p, mode), mask_out=mask, p=p, seed=seed,
                   offset=offset, win=win)
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
    win = V.forward_window(window, shape, seed, offset, rng, True)
    seed, offset = P.source(seed, offset, rng, n)
    mask = P.draw(n, p, seed, offset, win=win)
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
        return _dropout_backward_broadcast(grad, p, mask=mask, seed=seed, offset=offset,
                                           mode=mode, out=out, broadcast_axes=broadcast_axes,
                                           noise_shape=noise_shape, window=window)
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    mode = V.mode(mode)
    out = V.out_array(out, grad)
    n = grad.size
    mask, seed, start = P.mask_or_seed(mask, seed, offset, n, "dropout_backward", out)
    win = None if window is None else V.window(window, grad.shape, offset)
    y = P.output(grad, out)
    P.masked_scale(grad, y, n, scale=F.mode_scale(p, mode), mask_in=mask, p=p, seed=seed,
                   offset=start, win=win if mask is None else None)
    return y


# --- dropout(..., broadcast_axes= / noise_shape=) -----------------------------------------
def _broadcast_axes(x, broadcast_axes, noise_shape):
    if broadcast_axes is not None and noise_shape is not None:
        raise ValueError("pass broadcast_axes or noise_shape, not both")
    if noise_shape is not None:
        return V.noise_shape(noise_shape, x.shape)
    return V.axes(broadcast_axes, x.ndim)


def _dropout_broadcast(x, p, *, seed, offset, rng, training, mode, out, return_mask,
                       broadcast_axes, noise_shape, window=None):
    x, p, training, return_mask, out = V.forward_args(x, p, training, return_mask, out)
    mode = V.mode(mode)
    axes = _broadcast_axes(x, broadcast_axes, noise_shape)
    return _broadcast.forward(x, p, axes, seed, offset, rng, training, out, return_mask,
                             mode, window)


def _dropout_backward_broadcast(grad, p, *, mask, seed, offset, mode, out, broadcast_axes,
                                noise_shape, window=None):
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    mode = V.mode(mode)
    out = V.out_array(out, grad)
    axes = _broadcast_axes(grad, broadcast_axes, noise_shape)
    return _broadcast.backward(grad, p, axes, mask, seed, offset, out, mode, "dropout_backward",
                               window)
