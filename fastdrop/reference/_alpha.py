"""Reference alpha dropout and feature-alpha dropout (fastdrop._alpha)."""

from __future__ import annotations

import math

import numpy as np

from fastdrop.reference._broadcast import reduce_window, reduced_shape, spatial_axes
from fastdrop.reference._contract import (
    c_copy, c_order, check_p, compute_dtype, keep_maybe_window, pack, scaled_select, size, unpack,
)

__all__ = [
    "ALPHA_PRIME",
    "alpha_constants",
    "alpha_dropout",
    "alpha_dropout_backward",
    "feature_alpha_dropout",
    "feature_alpha_dropout_backward",
]

#: alpha' = -lambda * alpha of SELU (PyTorch's constant).
ALPHA_PRIME = -1.7580993408473766


def alpha_constants(p):
    """``(a, b, d)`` in float64 for ``0 <= p < 1``: kept ``x*a + b``, dropped ``d``.

    ``a = 1 / sqrt((1 - p) * (1 + p * alpha'**2))``, ``b = -a * alpha' * p`` and
    ``d = a * alpha' + b``, each evaluated left to right in IEEE float64 exactly as written
    (``alpha'**2`` is ``alpha' * alpha'``).
    """
    p = check_p(p)
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
        return c_order(np.where(keep, kept, d).astype(x.dtype))


def _alpha_forward(x, p, axes, seed, offset, training, return_mask, window=None):
    x = np.asarray(x)
    rshape = reduced_shape(x.shape, axes)
    compute_dtype(x.dtype)
    p = check_p(p)
    nr = size(rshape)
    if not training or p == 0.0:
        y = c_copy(x)
        return (y, pack(np.ones(nr, bool))) if return_mask else y
    if p == 1.0:
        y = np.zeros(x.shape, x.dtype)
        return (y, pack(np.zeros(nr, bool))) if return_mask else y
    keep_r = keep_maybe_window(rshape, p, seed, offset, reduce_window(window, axes))
    y = _alpha_apply(np.broadcast_to(keep_r, x.shape), x, p)
    return (y, pack(keep_r)) if return_mask else y


def _alpha_backward(grad, p, axes, mask, seed, offset, window=None):
    grad = np.asarray(grad)
    rshape = reduced_shape(grad.shape, axes)
    compute_dtype(grad.dtype)
    p = check_p(p)
    if mask is not None:
        keep_r = unpack(mask, size(rshape), rshape)
    else:
        if seed is None:
            raise ValueError("either mask or seed must be given")
        keep_r = keep_maybe_window(rshape, p, seed, offset, reduce_window(window, axes))
    if p == 1.0:
        return np.zeros(grad.shape, grad.dtype)
    a = compute_dtype(grad.dtype).type(alpha_constants(p)[0])
    return scaled_select(np.broadcast_to(keep_r, grad.shape), grad, a)


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


def feature_alpha_dropout(x, p=0.5, *, data_format="channels_first", seed, offset=0,
                          training=True, return_mask=False, window=None):
    """Alpha dropout of whole channels (PyTorch FeatureAlphaDropout): the reduced mask is
    (N, C) with the spatial axes broadcast, as in :func:`spatial_dropout`. ``window``: the
    reduced mask is the block's window into the global reduced mask."""
    x = np.asarray(x)
    return _alpha_forward(x, p, spatial_axes(x.ndim, data_format), seed, offset, training,
                          return_mask, window)


def feature_alpha_dropout_backward(grad, p, *, data_format="channels_first", mask=None,
                                   seed=None, offset=0, window=None):
    grad = np.asarray(grad)
    return _alpha_backward(grad, p, spatial_axes(grad.ndim, data_format), mask, seed, offset,
                           window)
