"""Reference DropBlock (Ghiasi et al. 2018; fastdrop._dropblock)."""

from __future__ import annotations

import math
import operator

import numpy as np

from fastdrop.reference._contract import (
    DATA_FORMATS, STREAM_DROPBLOCK, as_shape, c_copy, check_p, compute_dtype, keep_mask, pack,
    scaled_select, size, unpack,
)

__all__ = [
    "dropblock_geometry",
    "dropblock_gamma",
    "dropblock_keep",
    "dropblock",
    "dropblock_backward",
]


def dropblock_geometry(shape, block_size, data_format="channels_first", valid_only=False):
    """``(N, C, S, K, G)`` of a DropBlock input: spatial sizes S, block K clipped to S,
    seed grid G (``S - K + 1`` with `valid_only`, else S)."""
    shape = as_shape(shape)
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
    shape = as_shape(shape)
    p = check_p(p)
    N, C, S, K, G = dropblock_geometry(shape, block_size, data_format, valid_only)
    if p == 1.0:
        return np.zeros(shape, dtype=bool)
    Cs = 1 if share_channels else C
    if size(shape) == 0:
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
    p = check_p(p)
    if not training:
        y = c_copy(x)
        return (y, pack(np.ones(x.size, bool))) if return_mask else y
    keep = dropblock_keep(x.shape, p, block_size, seed=seed, offset=offset,
                          data_format=data_format, valid_only=valid_only,
                          share_channels=share_channels)
    y = scaled_select(keep, x, _dropblock_scale(keep, p, scale, x.dtype))
    return (y, pack(keep)) if return_mask else y


def dropblock_backward(grad, p, block_size, *, mask=None, seed=None, offset=0,
                       data_format="channels_first", valid_only=False, share_channels=False,
                       scale="count"):
    """Gradient of :func:`dropblock`: the forward's scale, recomputed from the mask."""
    grad = np.asarray(grad)
    compute_dtype(grad.dtype)
    p = check_p(p)
    if mask is not None:
        keep = unpack(mask, grad.size, grad.shape)
    else:
        if seed is None:
            raise ValueError("either mask or seed must be given")
        keep = dropblock_keep(grad.shape, p, block_size, seed=seed, offset=offset,
                              data_format=data_format, valid_only=valid_only,
                              share_channels=share_channels)
    return scaled_select(keep, grad, _dropblock_scale(keep, p, scale, grad.dtype))
