"""Reference dropout: forward, mask and backward (fastdrop._dropout)."""

from __future__ import annotations

import numpy as np

from fastdrop.reference._contract import (
    as_shape, check_mode, check_p, compute_dtype, keep_maybe_window, naive_factor, pack, scale_for,
    scaled_select, select,
)

__all__ = ["dropout", "dropout_mask", "dropout_backward"]


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
    p = check_p(p)
    check_mode(mode)
    n = x.size

    if not training:
        if mode == "inverted":
            y = np.array(x, order="C", copy=True)
        else:
            y = scaled_select(np.ones(x.shape, dtype=bool), x, naive_factor(p, x.dtype))
        if return_mask:
            return y, pack(np.ones(n, dtype=bool))
        return y

    keep = keep_maybe_window(x.shape, p, seed, offset, window)
    if mode == "inverted":
        y = scaled_select(keep, x, scale_for(p, x.dtype))
    else:
        y = select(keep, x)
    if return_mask:
        return y, pack(keep)
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
    keep = keep_maybe_window(as_shape(shape), p, seed, offset, window)
    return pack(keep) if packed else keep


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
    p = check_p(p)
    check_mode(mode)
    n = grad.size

    if mask is not None:
        mask = np.asarray(mask, dtype=np.uint8).ravel()
        if mask.size != (n + 7) // 8:
            raise ValueError(f"mask must have {(n + 7) // 8} bytes, got {mask.size}")
        keep = np.unpackbits(mask, count=n, bitorder="little").astype(bool).reshape(grad.shape)
    else:
        if seed is None:
            raise ValueError("either mask or seed must be given")
        keep = keep_maybe_window(grad.shape, p, seed, offset, window)

    if mode == "inverted":
        return scaled_select(keep, grad, scale_for(p, grad.dtype))
    return select(keep, grad)
