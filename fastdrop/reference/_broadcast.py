"""Reference broadcast masks: one keep decision per group along some axes (dropout with
``broadcast_axes``), and the functions that are a choice of axes: spatial, locked and embedding
dropout, drop_path (fastdrop._broadcast).
"""

from __future__ import annotations

import operator

import numpy as np

from fastdrop.reference._contract import (
    DATA_FORMATS, STREAM_DROPOUT, as_shape, c_copy, check_mode, check_p, compute_dtype, keep_mask,
    pack, scale_for, scaled_select, select, size, unpack,
)
from fastdrop.reference._dropout import dropout

__all__ = [
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
]


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
    shape = as_shape(shape)
    axes = _norm_axes(broadcast_axes, len(shape))
    return tuple(1 if d in axes else s for d, s in enumerate(shape))


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
    p = check_p(p)
    check_mode(mode)
    rshape = reduced_shape(x.shape, broadcast_axes)
    nr = size(rshape)
    if not training:
        y = dropout(x, p, seed=0, training=False, mode=mode)
        return (y, pack(np.ones(nr, dtype=bool))) if return_mask else y
    keep_r = keep_mask(rshape, p, seed, offset=offset, stream=STREAM_DROPOUT)
    keep = np.broadcast_to(keep_r, x.shape)
    y = scaled_select(keep, x, scale_for(p, x.dtype)) if mode == "inverted" else select(keep, x)
    return (y, pack(keep_r)) if return_mask else y


def broadcast_dropout_backward(grad, p, *, broadcast_axes, mask=None, seed=None, offset=0,
                               mode="inverted"):
    """Gradient of :func:`broadcast_dropout` from the packed reduced mask or (seed, offset)."""
    grad = np.asarray(grad)
    compute_dtype(grad.dtype)
    p = check_p(p)
    check_mode(mode)
    rshape = reduced_shape(grad.shape, broadcast_axes)
    if mask is not None:
        keep_r = unpack(mask, size(rshape), rshape)
    else:
        if seed is None:
            raise ValueError("either mask or seed must be given")
        keep_r = keep_mask(rshape, p, seed, offset=offset, stream=STREAM_DROPOUT)
    keep = np.broadcast_to(keep_r, grad.shape)
    if mode == "inverted":
        return scaled_select(keep, grad, scale_for(p, grad.dtype))
    return select(keep, grad)


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
        y = c_copy(x)
        return (y, pack(np.ones(size(reduced_shape(x.shape, axes)), bool))) if return_mask else y
    return broadcast_dropout(x, p, broadcast_axes=axes, seed=seed, offset=offset,
                             mode="inverted" if scale_by_keep else "naive",
                             return_mask=return_mask)


def drop_path_backward(grad, p, *, scale_by_keep=True, mode="row", mask=None, seed=None,
                       offset=0):
    grad = np.asarray(grad)
    return broadcast_dropout_backward(grad, p, broadcast_axes=_drop_path_axes(grad.ndim, mode),
                                      mask=mask, seed=seed, offset=offset,
                                      mode="inverted" if scale_by_keep else "naive")


def reduce_window(window, axes):
    """The window of a block's reduced (broadcast) mask: the global reduced shape and the
    origin have extent 1 and origin 0 on the broadcast `axes`."""
    if window is None:
        return None
    gshape, origin = (as_shape(w) for w in window)
    return (tuple(1 if d in axes else g for d, g in enumerate(gshape)),
            tuple(0 if d in axes else o for d, o in enumerate(origin)))
