"""Structured dropout: broadcast masks (spatial, locked, embedding dropout, drop_path),
DropBlock, alpha / feature-alpha and Gaussian dropout.

Every function validates all of its arguments (fastdrop._validate) before drawing from a
generator or writing to ``out``, then runs fused C kernels (csrc/structured.c) without the GIL.
Results are bitwise equal to the functions of the same name in :mod:`fastdrop.reference` and
identical for every thread count and SIMD path; the streams are listed in docs/contract.md.
"""
from __future__ import annotations

import math

import numpy as np

from fastdrop import _core
from fastdrop import _validate as V
from fastdrop import _formulas as F
from fastdrop._api import _ones_mask, _source
from fastdrop._config import get_num_threads

__all__ = [
    "spatial_dropout", "spatial_dropout_backward", "locked_dropout", "locked_dropout_backward",
    "embedding_dropout", "embedding_dropout_backward", "drop_path", "drop_path_backward",
    "drop_path_rates", "dropblock", "dropblock_backward", "dropblock_schedule", "alpha_dropout",
    "alpha_dropout_backward", "feature_alpha_dropout", "feature_alpha_dropout_backward",
    "gaussian_dropout", "gaussian_dropout_backward",
]


# ------------------------------------------------------------------------------------------
# Shared machinery
# ------------------------------------------------------------------------------------------
def _reduced(shape, axes):
    """(reduced shape, its size, bit stride in the reduced mask per axis: 0 on broadcast axes)."""
    rshape = tuple(1 if d in axes else s for d, s in enumerate(shape))
    rstrides = [0] * len(shape)
    acc = 1
    for d in range(len(shape) - 1, -1, -1):
        if d not in axes:
            rstrides[d] = acc
            acc *= rshape[d]
    return rshape, math.prod(rshape), tuple(rstrides)


def _draw(n, p, seed, offset):
    """The core contract's packed keep mask (stream 0) of n elements."""
    mask = np.empty((n + 7) // 8, np.uint8)
    if n:  # (an empty draw may sit at offset 2**64, past the counter)
        _core.masked_scale(None, None, n, None, mask, seed, offset, _core.STREAM_DROPOUT,
                           F.threshold(p), p == 1.0, False, 1.0, get_num_threads())
    return mask


def _apply(x, y, op, mask=None, rstrides=None, mask_out=None, bern=None, scaled=False,
           scale=1.0, abd=(0.0, 0.0, 0.0), sigma=0.0, seed=0, offset=0, win=None):
    """One fused pass of csrc/structured.c over x into y. win: (shape, global_shape, origin)
    from fastdrop._api._window: x is that block (keep bits from `bern` or NOISE only)."""
    if x.size == 0:
        return
    if bern is not None:  # (seed, offset, threshold)
        seed, offset, thr = bern
    else:
        thr = 0
    if win is not None:
        _core.struct_apply_window(x, y, op, win[1], win[2], mask_out, bern is not None, seed,
                                  offset, thr, False, scaled, scale, abd[0], abd[1], abd[2],
                                  sigma, get_num_threads())
        return
    _core.struct_apply(x, y, op, mask, rstrides, mask_out, bern is not None, seed, offset, thr,
                       False, scaled, scale, abd[0], abd[1], abd[2], sigma, get_num_threads())


def _forward_window(window, shape, seed, offset, rng, training):
    """Validate window= of a forward (an explicit seed when training); the window or None."""
    if window is None:
        return None
    from fastdrop._api import _window, _window_seed

    if training:
        _window_seed(seed, rng)
    return _window(window, shape, offset)


def _identity(x, y):
    if y is not x:
        np.copyto(y, x)
    return y


def _common(x, p, training, return_mask, out):
    x = V.float_array(x)
    p = V.probability(p)
    training = V.boolean(training, "training")
    return_mask = V.boolean(return_mask, "return_mask")
    out = V.out_array(out, x)
    return x, p, training, return_mask, out


def _reduced_window(window, shape, axes, rshape, offset):
    """window=(global_shape, origin) of a block -> the window of its reduced mask in the
    global reduced mask (broadcast axes: extent 1, origin 0); validates offset against it."""
    from fastdrop._api import _window

    _, gshape, origin = _window(window, shape, 0)
    rg = tuple(1 if d in axes else g for d, g in enumerate(gshape))
    ro = tuple(0 if d in axes else o for d, o in enumerate(origin))
    V.offset(offset, math.prod(rg))
    return (rshape, rg, ro)


def _draw_window(win, nr, p, seed, offset):
    from fastdrop._api import _run_window

    mask = np.empty((nr + 7) // 8, np.uint8)
    _run_window(None, None, win, None, mask, seed, offset, p, False)
    return mask


def _bcast_forward(x, p, axes, seed, offset, rng, training, out, return_mask, kind,
                   window=None):
    """Broadcast-mask forward (arguments validated). kind: "inverted" (x / (1-p) where kept),
    "naive" (select; inference x * (1-p)), "select" (select; inference identity), "alpha".
    window: x is a block of a larger array (see fastdrop.dropout); the reduced mask is then
    the block's window into the global reduced mask."""
    rshape, nr, rstrides = _reduced(x.shape, axes)
    win = None
    if window is not None:
        if training:
            from fastdrop._api import _window_seed

            _window_seed(seed, rng)
        win = _reduced_window(window, x.shape, axes, rshape, offset)
    seed, offset = _source(seed, offset, rng, nr, training)
    y = out if out is not None else np.empty(x.shape, x.dtype)
    if not training or (kind == "alpha" and p == 0.0):
        if kind == "naive" and not training:
            ct = F.compute_dtype(x.dtype)
            with np.errstate(invalid="ignore", over="ignore"):  # as fastdrop.dropout
                np.multiply(x.astype(ct, copy=False), ct(1.0 - p), out=y, casting="unsafe")
        else:
            _identity(x, y)
        return (y, _ones_mask(nr)) if return_mask else y
    mask = _draw(nr, p, seed, offset) if win is None else _draw_window(win, nr, p, seed, offset)
    if kind == "alpha":
        if p == 1.0:
            y[...] = 0
        else:
            _apply(x, y, _core.OP_AFFINE, mask, rstrides, abd=F.alpha_constants(p))
    else:
        scaled = kind == "inverted"
        _apply(x, y, _core.OP_SCALE, mask, rstrides, scaled=scaled,
               scale=F.inverted_scale(p) if scaled else 1.0)
    return (y, mask) if return_mask else y


def _mask_or_seed(mask, seed, offset, n, what, out):
    """Resolve a backward's mask / (seed, offset); returns (mask or None, seed, offset).
    A mask inside `out` is copied (see V.packed_mask)."""
    if mask is not None:
        if seed is not None:
            raise ValueError("pass mask or seed (with offset), not both")
        mask = V.packed_mask(mask, n, out=out)
        V.offset(offset, n)
        return mask, None, None
    if seed is None:
        raise ValueError(
            f"{what} needs the forward's mask (mask=, from return_mask=True) or its seed and "
            "offset (seed=, offset=) to regenerate the mask"
        )
    return None, V.seed(seed), V.offset(offset, n)


def _bcast_backward(grad, p, axes, mask, seed, offset, out, kind, what, window=None):
    rshape, nr, rstrides = _reduced(grad.shape, axes)
    mask, seed, offset = _mask_or_seed(mask, seed, offset, nr, what, out)
    win = None if window is None else _reduced_window(window, grad.shape, axes, rshape,
                                                      offset or 0)
    y = out if out is not None else np.empty(grad.shape, grad.dtype)
    if mask is None:
        mask = _draw(nr, p, seed, offset) if win is None else _draw_window(win, nr, p, seed,
                                                                           offset)
    if kind == "alpha":
        scaled, scale = True, F.alpha_grad_scale(p)
    elif kind == "inverted":
        scaled, scale = True, F.inverted_scale(p)
    else:
        scaled, scale = False, 1.0
    _apply(grad, y, _core.OP_SCALE, mask, rstrides, scaled=scaled, scale=scale)
    return y


def _channel_axes(ndim, data_format):
    return tuple(range(2, ndim)) if data_format == "channels_first" else tuple(range(1, ndim - 1))


# ------------------------------------------------------------------------------------------
# dropout(..., broadcast_axes= / noise_shape=)  (entered from fastdrop._api)
# ------------------------------------------------------------------------------------------
def _broadcast_axes(x, broadcast_axes, noise_shape):
    if broadcast_axes is not None and noise_shape is not None:
        raise ValueError("pass broadcast_axes or noise_shape, not both")
    if noise_shape is not None:
        return V.noise_shape(noise_shape, x.shape)
    return V.axes(broadcast_axes, x.ndim)


def _dropout_broadcast(x, p, *, seed, offset, rng, training, mode, out, return_mask,
                       broadcast_axes, noise_shape, window=None):
    x, p, training, return_mask, out = _common(x, p, training, return_mask, out)
    mode = V.mode(mode)
    axes = _broadcast_axes(x, broadcast_axes, noise_shape)
    return _bcast_forward(x, p, axes, seed, offset, rng, training, out, return_mask, mode,
                          window)


def _dropout_backward_broadcast(grad, p, *, mask, seed, offset, mode, out, broadcast_axes,
                                noise_shape, window=None):
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    mode = V.mode(mode)
    out = V.out_array(out, grad)
    axes = _broadcast_axes(grad, broadcast_axes, noise_shape)
    return _bcast_backward(grad, p, axes, mask, seed, offset, out, mode, "dropout_backward",
                           window)


# ------------------------------------------------------------------------------------------
# Spatial, locked and embedding dropout
# ------------------------------------------------------------------------------------------
def spatial_dropout(x, p=0.5, *, data_format="channels_first", seed=None, offset=0, rng=None,
                    training=True, out=None, return_mask=False):
    """Channel dropout for 1-D, 2-D and 3-D feature maps (PyTorch Dropout1d/2d/3d, Keras
    SpatialDropout1D/2D/3D): each (sample, channel) is kept, scaled by ``1 / (1 - p)``, or
    zeroed as a whole.

    Parameters
    ----------
    x : array_like
        (N, C, L), (N, C, H, W) or (N, C, D, H, W); with ``data_format="channels_last"``
        (N, L, C), (N, H, W, C) or (N, D, H, W, C). float16/32/64, any layout.
    p, seed, offset, rng, training, out, return_mask
        As in :func:`fastdrop.dropout`. ``offset`` numbers the (N, C) mask, so a batch shard
        starting at sample ``s`` uses ``offset = s * C``.

    Returns
    -------
    y, or (y, mask) with ``mask`` the packed (N, C) keep mask (``ceil(N*C / 8)`` bytes).

    Notes
    -----
    ``dropout(x, p, broadcast_axes=<spatial axes>)`` exactly: the (N, C) mask is the core
    contract's mask over index ``n*C + c``, so both layouts drop the same channels.
    """
    x, p, training, return_mask, out = _common(x, p, training, return_mask, out)
    data_format = V.data_format(data_format)
    V.ndim_in(x, (3, 4, 5), "spatial_dropout")
    return _bcast_forward(x, p, _channel_axes(x.ndim, data_format), seed, offset, rng, training,
                          out, return_mask, "inverted")


def spatial_dropout_backward(grad, p, *, data_format="channels_first", mask=None, seed=None,
                             offset=0, out=None):
    """Gradient of :func:`spatial_dropout` from its packed (N, C) mask or (seed, offset)."""
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    data_format = V.data_format(data_format)
    V.ndim_in(grad, (3, 4, 5), "spatial_dropout_backward", "grad")
    out = V.out_array(out, grad)
    return _bcast_backward(grad, p, _channel_axes(grad.ndim, data_format), mask, seed, offset,
                           out, "inverted", "spatial_dropout_backward")


def locked_dropout(x, p=0.5, *, time_axis=0, seed=None, offset=0, rng=None, training=True,
                   out=None, return_mask=False):
    """Locked (variational) dropout for sequences (Gal & Ghahramani; AWD-LSTM): one mask,
    drawn over the non-time axes, reused at every step along ``time_axis`` (default 0, the
    sequence-first (T, B, H) layout; use ``time_axis=1`` for batch-first).

    Equals ``dropout(x, p, broadcast_axes=(time_axis,))``; the packed mask covers the shape
    with the time axis set to 1.
    """
    x, p, training, return_mask, out = _common(x, p, training, return_mask, out)
    t = V.axis(time_axis, x.ndim, "time_axis")
    return _bcast_forward(x, p, (t,), seed, offset, rng, training, out, return_mask, "inverted")


def locked_dropout_backward(grad, p, *, time_axis=0, mask=None, seed=None, offset=0, out=None):
    """Gradient of :func:`locked_dropout`."""
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    t = V.axis(time_axis, grad.ndim, "time_axis")
    out = V.out_array(out, grad)
    return _bcast_backward(grad, p, (t,), mask, seed, offset, out, "inverted",
                           "locked_dropout_backward")


def embedding_dropout(x, p=0.5, *, seed=None, offset=0, rng=None, training=True, out=None,
                      return_mask=False):
    """Embedding / word dropout: whole rows along the last axis are kept (scaled by
    ``1 / (1 - p)``) or zeroed. On looked-up embeddings (..., D) it drops whole tokens; on an
    embedding table (V, D) it drops whole words, as AWD-LSTM's ``embedded_dropout``.

    Equals ``dropout(x, p, broadcast_axes=(-1,))``; the packed mask covers ``x.shape[:-1]``.
    """
    x, p, training, return_mask, out = _common(x, p, training, return_mask, out)
    if x.ndim < 1:
        raise ValueError("x is 0-d; embedding_dropout takes input with a last (feature) axis")
    return _bcast_forward(x, p, (x.ndim - 1,), seed, offset, rng, training, out, return_mask,
                          "inverted")


def embedding_dropout_backward(grad, p, *, mask=None, seed=None, offset=0, out=None):
    """Gradient of :func:`embedding_dropout`."""
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    if grad.ndim < 1:
        raise ValueError("grad is 0-d; embedding_dropout takes input with a last (feature) axis")
    out = V.out_array(out, grad)
    return _bcast_backward(grad, p, (grad.ndim - 1,), mask, seed, offset, out, "inverted",
                           "embedding_dropout_backward")


# ------------------------------------------------------------------------------------------
# Stochastic depth
# ------------------------------------------------------------------------------------------
def _drop_path_axes(x, mode):
    if mode == "row":
        if x.ndim < 1:
            raise ValueError("x is 0-d; drop_path(mode='row') needs a batch axis (axis 0)")
        return tuple(range(1, x.ndim))
    return tuple(range(x.ndim))


def drop_path(x, p, *, scale_by_keep=True, mode="row", seed=None, offset=0, rng=None,
              training=True, out=None, return_mask=False, window=None):
    """Stochastic depth (Huang et al. 2016; timm ``DropPath``, torchvision
    ``stochastic_depth``): drop a residual branch for a whole sample (``mode="row"``, one
    decision per index of axis 0) or for the whole batch (``mode="batch"``, one decision).

    Kept samples are scaled by ``1 / (1 - p)`` when ``scale_by_keep`` (else passed through);
    inference returns ``x``. Equals ``dropout(x, p, broadcast_axes=<all axes but 0>)`` (row) or
    ``<all axes>`` (batch), with ``mode="naive"`` training semantics when not scale_by_keep.
    The packed mask has N bits (row) or 1 bit (batch). ``window=(global_shape, origin)``:
    ``x`` is a block of a larger batch (see :func:`fastdrop.dropout`); its samples use the
    global sample indices.
    """
    x, p, training, return_mask, out = _common(x, p, training, return_mask, out)
    scale_by_keep = V.boolean(scale_by_keep, "scale_by_keep")
    mode = V.choice(mode, ("row", "batch"), "mode")
    axes = _drop_path_axes(x, mode)
    return _bcast_forward(x, p, axes, seed, offset, rng, training, out, return_mask,
                          "inverted" if scale_by_keep else "select", window)


def drop_path_backward(grad, p, *, scale_by_keep=True, mode="row", mask=None, seed=None,
                       offset=0, out=None, window=None):
    """Gradient of :func:`drop_path`."""
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    scale_by_keep = V.boolean(scale_by_keep, "scale_by_keep")
    mode = V.choice(mode, ("row", "batch"), "mode")
    axes = _drop_path_axes(grad, mode)
    out = V.out_array(out, grad)
    return _bcast_backward(grad, p, axes, mask, seed, offset, out,
                           "inverted" if scale_by_keep else "select", "drop_path_backward",
                           window)


def drop_path_rates(depth, p_max):
    """The linear stochastic-depth rule: ``[l / depth * p_max for l = 1 .. depth]``
    (block ``l`` of ``depth`` gets drop probability ``p_l = l/L * p_max``; the last is
    ``p_max``)."""
    depth = V.integer(depth, "depth", 0, 1 << 62)
    p_max = V.probability(p_max, "p_max")
    return [l / depth * p_max for l in range(1, depth + 1)]


# ------------------------------------------------------------------------------------------
# DropBlock
# ------------------------------------------------------------------------------------------
def _dropblock_args(x, block_size, data_format, valid_only, share_channels, scale, what, name,
                    window=None):
    """Validated DropBlock arguments and the geometry (N, C, S, K, G) of the whole array: x's
    own, or with window= the global shape's. Also returns the window (or None)."""
    from fastdrop._api import _window

    data_format = V.data_format(data_format)
    V.ndim_in(x, (4, 5), what, name)
    valid_only = V.boolean(valid_only, "valid_only")
    share_channels = V.boolean(share_channels, "share_channels")
    scale = V.choice(scale, ("count", "expected"), "scale")
    bs = V.block_size(block_size, x.ndim - 2)
    win = None if window is None else _window(window, x.shape, 0)  # offset: checked on seeds
    N, C, S, K, G = F.dropblock_geometry(x.shape if win is None else win[1], bs, data_format,
                                         valid_only)
    return (data_format, valid_only, share_channels, scale, N, C, S, K, G, win)


def _kept_count(kept_count, win, scale, training=True):
    """The global kept count a windowed scale="count" DropBlock needs (None otherwise)."""
    if kept_count is None:
        if win is not None and scale == "count" and training:
            raise ValueError(
                "dropblock with window= and scale='count' needs kept_count=, the number of kept "
                "elements of the whole array (a block cannot count the others: sum the blocks' "
                "kept counts first, as fastdrop.dask.dropblock does), or use scale='expected'")
        return None
    if win is None:
        raise ValueError("kept_count= goes with window=; without a window the kept count of "
                         "the array is computed exactly")
    if scale != "count":
        raise ValueError("kept_count= is only used with scale='count'")
    return V.integer(kept_count, "kept_count", 0, math.prod(win[1]) + 1)


def _dropblock_mask(shape, p, N, C, S, K, G, data_format, valid_only, share_channels, seed,
                    offset):
    """Packed full-shape keep mask and the kept count."""
    n = math.prod(shape)
    mask = np.empty((n + 7) // 8, np.uint8)
    if n == 0:
        return mask, 0
    if p == 1.0:
        mask[:] = 0
        return mask, 0
    g = F.dropblock_seed_rate(p, S, K)
    pad = (1,) * (3 - len(S))
    kept = _core.dropblock_mask(N, C, pad + S, pad + K, valid_only, share_channels,
                                data_format == "channels_last", seed, offset, F.threshold(g),
                                g >= 1.0, mask, get_num_threads())
    return mask, kept


def _dropblock_window_mask(win, p, S, K, G, data_format, valid_only, share_channels, seed,
                           offset):
    """Packed keep mask (the block's own C order) of the block win = (shape, global_shape,
    origin) of a DropBlock input: the block depends only on the seeds within a block size of
    it, so the window of the global seed grid (stream 1) those can come from is drawn
    (csrc/window.c), dilated along each spatial axis and cropped to the block."""
    from fastdrop._api import _run_window

    shape, gshape, origin = win
    n = math.prod(shape)
    mask = np.zeros((n + 7) // 8, np.uint8)
    if n == 0 or p == 1.0:
        return mask
    if data_format == "channels_first":
        n0, c0, sp0 = origin[0], origin[1], origin[2:]
        nn, cc, sp = shape[0], shape[1], shape[2:]
    else:
        n0, c0, sp0 = origin[0], origin[-1], origin[1:-1]
        nn, cc, sp = shape[0], shape[-1], shape[1:-1]
    Cs, cs0, csn = (1, 0, 1) if share_channels else (gshape[1 if data_format ==
                                                             "channels_first" else -1], c0, cc)
    # seed-grid range per spatial axis: output i is covered by the seeds i + o - t, t < k
    lo, hi = [], []
    for a, m, k, g in zip(sp0, sp, K, G):
        o = 0 if valid_only else k // 2
        lo.append(max(a + o - k + 1, 0))
        hi.append(max(min(a + m + o, g), lo[-1]))
    sshape = (nn, csn) + tuple(h - l for l, h in zip(lo, hi))
    dropped = np.zeros(sshape, bool)
    ns = math.prod(sshape)
    if ns:
        gamma = F.dropblock_seed_rate(p, S, K)
        m = np.empty((ns + 7) // 8, np.uint8)
        _run_window(None, None, (sshape, (gshape[0], Cs) + tuple(G), (n0, cs0) + tuple(lo)),
                    None, m, seed, offset, gamma, False, stream=_core.STREAM_DROPBLOCK)
        dropped = ~np.unpackbits(m, count=ns, bitorder="little").view(bool).reshape(sshape)
    for ax, (a, m, k, g, l) in enumerate(zip(sp0, sp, K, G, lo)):
        axis = 2 + ax
        o = 0 if valid_only else k // 2
        w = dropped.shape[axis]
        out_shape = list(dropped.shape)
        out_shape[axis] = m
        out = np.zeros(out_shape, bool)
        view = [1] * dropped.ndim
        view[axis] = m
        if w:
            for t in range(k):
                src = np.arange(a, a + m) + o - t - l  # seed index within the drawn window
                ok = ((src + l < g) & (src >= 0) & (src < w)).reshape(view)
                out |= np.take(dropped, np.clip(src, 0, w - 1), axis=axis) & ok
        dropped = out
    keep = np.broadcast_to(~dropped, (nn, cc) + tuple(sp))
    if data_format == "channels_last":
        keep = np.moveaxis(keep, 1, -1)
    return np.packbits(np.ascontiguousarray(keep).ravel(), bitorder="little")


def dropblock(x, p, block_size, *, data_format="channels_first", valid_only=False,
              share_channels=False, scale="count", seed=None, offset=0, rng=None, training=True,
              out=None, return_mask=False, window=None, kept_count=None):
    """DropBlock (Ghiasi et al. 2018) for 2-D (N, C, H, W) and 3-D (N, C, D, H, W) maps
    (``channels_last``: (N, H, W, C), (N, D, H, W, C)): zero contiguous blocks.

    Parameters
    ----------
    x : array_like
        float16/32/64, 4-D or 5-D, any memory layout.
    p : float
        Target drop fraction in [0, 1]; ``p = 1`` drops everything.
    block_size : int or tuple of int
        Block extent per spatial axis (an int for all); clipped to the map, so any size >= 1
        works (even sizes too).
    valid_only : bool
        Seeds only where the whole block fits (the paper's and torchvision's rule); otherwise
        (timm's fast rule) seeds anywhere, blocks centred on them and clipped at the borders.
    share_channels : bool
        One seed map per sample, the same blocks in every channel.
    scale : {"count", "expected"}
        Kept values times ``n / kept`` (elements over kept elements of the whole batch,
        counted exactly in integers) or times ``1 / (1 - p)``.
    seed, offset, rng, training, out, return_mask
        As in :func:`fastdrop.dropout`; ``offset`` numbers the seed grid.
    window : (global_shape, origin), optional
        ``x`` is the block at ``origin`` of a larger input of ``global_shape`` (see
        :func:`fastdrop.dropout`; needs an explicit ``seed``): the geometry, ``gamma`` and the
        seed grid are the whole input's and blocks may reach into ``x`` from seeds outside it,
        so the result is the whole input's result sliced to the block. The packed mask is the
        block's.
    kept_count : int, optional
        Only with ``window`` and ``scale="count"``, and then required: the number of kept
        elements of the *whole* input (a block cannot count the others). Get it from the
        blocks' masks (``scale="expected", return_mask=True`` on each block, then sum their
        popcounts); :func:`fastdrop.dask.dropblock` does this in a first lazy pass.

    Returns
    -------
    y, or (y, mask) with the packed full-shape keep mask (``ceil(x.size / 8)`` bytes): pass it
    to :func:`dropblock_backward`, which recomputes the "count" scale from it exactly.

    Notes
    -----
    Seed rate ``gamma = p * prod(S) / prod(K) / prod(S - K + 1)`` (K clipped; timm and the
    paper); one Bernoulli(min(gamma, 1)) decision per seed-grid position (N, C or 1, *G), with
    the core contract on stream 1 (docs/contract.md), numbered channels-first whatever the
    layout. Cost O(elements): dilation is a bit-parallel running OR. Bitwise equal to
    :func:`fastdrop.reference.dropblock`.
    """
    x, p, training, return_mask, out = _common(x, p, training, return_mask, out)
    (data_format, valid_only, share_channels, scale, N, C, S, K, G, win) = _dropblock_args(
        x, block_size, data_format, valid_only, share_channels, scale, "dropblock", "x",
        window)
    kept_count = _kept_count(kept_count, win, scale, training)
    if win is not None and training:
        from fastdrop._api import _window_seed

        _window_seed(seed, rng)
    nseeds = N * (1 if share_channels else C) * math.prod(G)
    seed, offset = _source(seed, offset, rng, nseeds, training)
    y = out if out is not None else np.empty(x.shape, x.dtype)
    n = x.size
    if not training:
        _identity(x, y)
        return (y, _ones_mask(n)) if return_mask else y
    if win is None:
        mask, kept = _dropblock_mask(x.shape, p, N, C, S, K, G, data_format, valid_only,
                                     share_channels, seed, offset)
    else:
        mask = _dropblock_window_mask(win, p, S, K, G, data_format, valid_only, share_channels,
                                      seed, offset)
        kept = kept_count
    ntotal = n if win is None else math.prod(win[1])
    _core.masked_scale(x, y, n, mask, None, 0, 0, 0, 0, False, True,
                       F.dropblock_scale(ntotal, kept, p, scale), get_num_threads())
    return (y, mask) if return_mask else y


def dropblock_backward(grad, p, block_size, *, mask=None, seed=None, offset=0,
                       data_format="channels_first", valid_only=False, share_channels=False,
                       scale="count", out=None, window=None, kept_count=None):
    """Gradient of :func:`dropblock`: ``grad * s`` where kept, ``+0.0`` where dropped.

    With ``mask`` (the forward's packed mask) the "count" scale ``n / kept`` is recomputed from
    an exact popcount of the mask, so it equals the forward's bit for bit. Without it, pass the
    forward's ``seed`` and ``offset`` (and the same block_size, data_format, valid_only,
    share_channels) to regenerate the mask. ``window`` and ``kept_count``: as in the forward
    (``mask`` is then the block's packed mask; ``scale="count"`` still needs ``kept_count``).
    """
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    (data_format, valid_only, share_channels, scale, N, C, S, K, G, win) = _dropblock_args(
        grad, block_size, data_format, valid_only, share_channels, scale,
        "dropblock_backward", "grad", window)
    kept_count = _kept_count(kept_count, win, scale)
    out = V.out_array(out, grad)
    n = grad.size
    nseeds = N * (1 if share_channels else C) * math.prod(G)
    if mask is not None:
        mask, _, _ = _mask_or_seed(mask, seed, offset, n, "dropblock_backward", out)
        kept = _core.count_bits(mask, n) if win is None else kept_count
    else:
        _, seed, offset = _mask_or_seed(None, seed, offset, nseeds, "dropblock_backward", out)
        if win is None:
            mask, kept = _dropblock_mask(grad.shape, p, N, C, S, K, G, data_format, valid_only,
                                         share_channels, seed, offset)
        else:
            mask = _dropblock_window_mask(win, p, S, K, G, data_format, valid_only,
                                          share_channels, seed, offset)
            kept = kept_count
    y = out if out is not None else np.empty(grad.shape, grad.dtype)
    ntotal = n if win is None else math.prod(win[1])
    _core.masked_scale(grad, y, n, mask, None, 0, 0, 0, 0, False, True,
                       F.dropblock_scale(ntotal, kept, p, scale), get_num_threads())
    return y


def dropblock_schedule(step, total_steps, p_final, start=0.0):
    """Linear DropBlock ramp (the paper keeps the keep probability at 1 at the start and
    lowers it linearly): drop probability ``start`` at step 0 rising linearly to ``p_final``
    at ``total_steps``, constant after. ``start`` is the initial drop probability.

    Returns ``start + (p_final - start) * step / total_steps`` for ``0 < step < total_steps``,
    exactly ``start`` at ``step <= 0`` and exactly ``p_final`` from ``total_steps`` on (also
    when ``total_steps == 0``).
    """
    step = V.integer(step, "step", -(1 << 62), 1 << 62)
    total_steps = V.integer(total_steps, "total_steps", 0, 1 << 62)
    p_final = V.probability(p_final, "p_final")
    start = V.probability(start, "start")
    if total_steps == 0 or step >= total_steps:
        return p_final
    if step <= 0:
        return start
    p = start + (p_final - start) * (step / total_steps)
    return min(max(p, min(start, p_final)), max(start, p_final))


# ------------------------------------------------------------------------------------------
# Alpha dropout
# ------------------------------------------------------------------------------------------
def alpha_dropout(x, p=0.5, *, seed=None, offset=0, rng=None, training=True, out=None,
                  return_mask=False, window=None):
    """Alpha dropout for SELU networks (Klambauer et al. 2017; PyTorch ``AlphaDropout``):
    dropped values are set to the SELU saturation ``alpha'`` and an affine map restores
    mean 0 and variance 1: ``y = x*a + b`` where kept, ``a*alpha' + b`` where dropped, with
    ``alpha' = -1.7580993408473766``, ``a = ((1-p)(1 + p*alpha'^2))^(-1/2)``,
    ``b = -a*alpha'*p``.

    The keep mask is exactly :func:`fastdrop.dropout_mask` (stream 0). ``p = 0`` and
    inference return ``x``; ``p = 1`` returns zeros. Arguments as in :func:`fastdrop.dropout`;
    the packed mask is full-shape. Constants and rounding: :func:`fastdrop.reference.alpha_dropout`.
    ``window=(global_shape, origin)``: ``x`` is the block at ``origin`` of a larger array (see
    :func:`fastdrop.dropout`; needs an explicit ``seed``): its keep bits are those of its
    global indices, so the result is the whole array's result sliced to the block, and the
    packed mask is the block's.
    """
    x, p, training, return_mask, out = _common(x, p, training, return_mask, out)
    n = x.size
    win = _forward_window(window, x.shape, seed, offset, rng, training)
    seed, offset = _source(seed, offset, rng, n, training)
    y = out if out is not None else np.empty(x.shape, x.dtype)
    if not training or p == 0.0:
        _identity(x, y)
        return (y, _ones_mask(n)) if return_mask else y
    if p == 1.0:
        y[...] = 0
        return (y, np.zeros((n + 7) // 8, np.uint8)) if return_mask else y
    mask = np.empty((n + 7) // 8, np.uint8) if return_mask else None
    _apply(x, y, _core.OP_AFFINE, mask_out=mask, bern=(seed, offset, F.threshold(p)),
           abd=F.alpha_constants(p), win=win)
    return (y, mask) if return_mask else y


def alpha_dropout_backward(grad, p, *, mask=None, seed=None, offset=0, out=None, window=None):
    """Gradient of :func:`alpha_dropout`: ``grad * a`` where kept, ``+0.0`` where dropped.
    ``window``: as in the forward (the mask is regenerated from the block's global indices;
    with ``mask=``, the block's own packed mask, the window is only validated)."""
    from fastdrop._api import _window

    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    out = V.out_array(out, grad)
    n = grad.size
    mask, seed, offset = _mask_or_seed(mask, seed, offset, n, "alpha_dropout_backward", out)
    win = None if window is None else _window(window, grad.shape, offset or 0)
    y = out if out is not None else np.empty(grad.shape, grad.dtype)
    a = F.alpha_grad_scale(p)
    if n == 0:
        return y
    if win is not None and mask is None:
        _core.masked_scale_window(grad, y, win[0], win[1], win[2], None, None, seed, offset,
                                  _core.STREAM_DROPOUT, F.threshold(p), p == 1.0, True, a,
                                  get_num_threads())
        return y
    _core.masked_scale(grad, y, n, mask, None, seed or 0, offset or 0, _core.STREAM_DROPOUT,
                       F.threshold(p), p == 1.0, True, a, get_num_threads())
    return y


def feature_alpha_dropout(x, p=0.5, *, data_format="channels_first", seed=None, offset=0,
                          rng=None, training=True, out=None, return_mask=False, window=None):
    """Alpha dropout of whole channels (PyTorch ``FeatureAlphaDropout``): the (N, C) mask of
    :func:`spatial_dropout` with the affine map of :func:`alpha_dropout`. Input (N, C, ...)
    or, channels_last, (N, ..., C), at least 2-D; the packed mask is (N, C).
    ``window=(global_shape, origin)``: ``x`` is a block of a larger array (see
    :func:`fastdrop.dropout`); its (N, C) mask is its window into the global (N, C) mask."""
    x, p, training, return_mask, out = _common(x, p, training, return_mask, out)
    data_format = V.data_format(data_format)
    if x.ndim < 2:
        raise ValueError(f"x has {x.ndim} dimension(s) {x.shape}; feature_alpha_dropout takes "
                         "input with batch and channel axes (at least 2-D)")
    return _bcast_forward(x, p, _channel_axes(x.ndim, data_format), seed, offset, rng, training,
                          out, return_mask, "alpha", window)


def feature_alpha_dropout_backward(grad, p, *, data_format="channels_first", mask=None,
                                   seed=None, offset=0, out=None, window=None):
    """Gradient of :func:`feature_alpha_dropout` (``window`` as in the forward)."""
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    data_format = V.data_format(data_format)
    if grad.ndim < 2:
        raise ValueError(f"grad has {grad.ndim} dimension(s) {grad.shape}; "
                         "feature_alpha_dropout takes input with batch and channel axes")
    out = V.out_array(out, grad)
    return _bcast_backward(grad, p, _channel_axes(grad.ndim, data_format), mask, seed, offset,
                           out, "alpha", "feature_alpha_dropout_backward", window)


# ------------------------------------------------------------------------------------------
# Gaussian dropout
# ------------------------------------------------------------------------------------------
def gaussian_dropout(x, p=0.5, *, seed=None, offset=0, rng=None, training=True, out=None,
                     window=None):
    """Multiplicative Gaussian noise (Srivastava et al. 2014; Keras ``GaussianDropout``):
    ``y = x * m``, ``m ~ N(1, p / (1 - p))`` per element, so ``E[y] = x`` and
    ``Var[y] = p/(1-p) * x**2``.

    The normals come from Philox words on stream 2 by a documented float32 Box-Muller
    transform (docs/contract.md, :func:`fastdrop.reference.standard_normals`; within 1e-6 of
    the exact transform of the same words), so the noise is bitwise reproducible and
    regenerable: :func:`gaussian_dropout_backward` with the same ``seed`` and ``offset``
    (reserve them with ``Generator.draw(x.size)`` when using a generator). ``p`` in [0, 1);
    ``p = 0`` and inference return ``x``. ``window=(global_shape, origin)``: ``x`` is the block
    at ``origin`` of a larger array (see :func:`fastdrop.dropout`; needs an explicit ``seed``):
    each element's normal is that of its global index (drawn so in the kernel), so the result
    is the whole array's result sliced to the block.
    """
    x = V.float_array(x)
    p = V.probability_below_one(p)
    training = V.boolean(training, "training")
    out = V.out_array(out, x)
    n = x.size
    win = _forward_window(window, x.shape, seed, offset, rng, training)
    seed, offset = _source(seed, offset, rng, n, training)
    y = out if out is not None else np.empty(x.shape, x.dtype)
    if not training or p == 0.0:
        return _identity(x, y)
    _apply(x, y, _core.OP_NOISE, sigma=F.gaussian_sigma(p), seed=seed, offset=offset, win=win)
    return y


def gaussian_dropout_backward(grad, p, *, seed=None, offset=0, out=None, window=None):
    """Gradient of :func:`gaussian_dropout`: ``grad * m`` with the forward's noise ``m``
    regenerated from its ``seed`` and ``offset`` (nothing stored); ``window`` as in the
    forward."""
    from fastdrop._api import _window

    grad = V.float_array(grad, "grad")
    p = V.probability_below_one(p)
    out = V.out_array(out, grad)
    n = grad.size
    if seed is None:
        raise ValueError("gaussian_dropout_backward needs the forward's seed and offset "
                         "(seed=, offset=) to regenerate its noise")
    seed, offset = V.seed(seed), V.offset(offset, n)
    win = None if window is None else _window(window, grad.shape, offset)
    y = out if out is not None else np.empty(grad.shape, grad.dtype)
    if p == 0.0:
        return _identity(grad, y)
    _apply(grad, y, _core.OP_NOISE, sigma=F.gaussian_sigma(p), seed=seed, offset=offset,
           win=win)
    return y
