"""DropBlock (Ghiasi et al. 2018): :func:`dropblock`, :func:`dropblock_backward`,
:func:`dropblock_schedule`, and :func:`window_kept_count` for fastdrop.dask.

Seeds are drawn on their own Philox stream (STREAM_DROPBLOCK) over a seed grid numbered
channels-first, then dilated into blocks by csrc/dropblock.c, or, for a window, here in NumPy
from the part of the global seed grid that can reach the block. Results are bitwise equal to
:mod:`fastdrop.reference` (fastdrop/reference/_dropblock.py).
"""
from __future__ import annotations

import math

import numpy as np

from fastdrop import _formulas as F
from fastdrop import _plumbing as P
from fastdrop import _validate as V

__all__ = ["dropblock", "dropblock_backward", "dropblock_schedule"]


def _args(x, block_size, data_format, valid_only, share_channels, scale, what, name, window=None):
    """Validated DropBlock arguments and the geometry (N, C, S, K, G) of the whole array: x's
    own, or with window= the global shape's. Also returns the window (or None)."""
    data_format = V.data_format(data_format)
    V.ndim_in(x, (4, 5), what, name)
    valid_only = V.boolean(valid_only, "valid_only")
    share_channels = V.boolean(share_channels, "share_channels")
    scale = V.choice(scale, ("count", "expected"), "scale")
    bs = V.block_size(block_size, x.ndim - 2)
    win = None if window is None else V.window(window, x.shape, 0)  # offset: checked on seeds
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


def _full_mask(shape, p, N, C, S, K, G, data_format, valid_only, share_channels, seed, offset):
    """Packed full-shape keep mask and the kept count."""
    n = math.prod(shape)
    if n == 0:
        return P.empty_mask(n), 0
    if p == 1.0:
        return P.zeros_mask(n), 0
    mask = P.empty_mask(n)
    kept = P.dropblock_mask(N, C, S, K, valid_only, share_channels,
                            data_format == "channels_last", seed, offset,
                            F.dropblock_seed_rate(p, S, K), mask)
    return mask, kept


def _window_mask(win, p, S, K, G, data_format, valid_only, share_channels, seed, offset):
    """Packed keep mask (the block's own C order) of the block win = (shape, global_shape,
    origin) of a DropBlock input: the block depends only on the seeds within a block size of
    it, so the window of the global seed grid (STREAM_DROPBLOCK) those can come from is drawn
    (csrc/window.c), dilated along each spatial axis and cropped to the block."""
    shape, gshape, origin = win
    n = math.prod(shape)
    if n == 0 or p == 1.0:
        return P.zeros_mask(n)
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
        m = P.draw(ns, F.dropblock_seed_rate(p, S, K), seed, offset, stream=P.STREAM_DROPBLOCK,
                   win=(sshape, (gshape[0], Cs) + tuple(G), (n0, cs0) + tuple(lo)))
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


def _mask(shape, win, kept_count, p, N, C, S, K, G, data_format, valid_only, share_channels,
          seed, offset):
    """The packed keep mask of an input of `shape` (of the block `win`, with a window) and the
    kept count its "count" scale uses (with a window: the caller's global kept_count)."""
    if win is None:
        return _full_mask(shape, p, N, C, S, K, G, data_format, valid_only, share_channels, seed,
                          offset)
    return _window_mask(win, p, S, K, G, data_format, valid_only, share_channels, seed,
                        offset), kept_count


def _apply(x, y, mask, kept, win, p, scale):
    """y = x * s where kept, +0 where dropped; s over the whole input (the global one with a
    window)."""
    ntotal = x.size if win is None else math.prod(win[1])
    P.masked_scale(x, y, x.size, scale=F.dropblock_scale(ntotal, kept, p, scale), mask_in=mask)


def window_kept_count(win, p, S, K, G, data_format, valid_only, share_channels, seed, offset):
    """The number of elements DropBlock keeps in the block ``win = (shape, global_shape,
    origin)`` of an input whose geometry is (S, K, G) (fastdrop._formulas.dropblock_geometry of
    the global shape), without the data: fastdrop.dask sums these over the chunks for the
    global ``kept_count`` of scale="count"."""
    mask = _window_mask(win, p, S, K, G, data_format, valid_only, share_channels, seed, offset)
    return P.count_bits(mask, math.prod(win[0]))


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
    y : ndarray
        Same shape and dtype as ``x``.
    mask : ndarray of uint8, optional
        With ``return_mask=True``: the packed full-shape keep mask (``ceil(x.size / 8)``
        bytes); pass it to :func:`dropblock_backward`, which recomputes the "count" scale from
        it exactly.

    Notes
    -----
    Seed rate ``gamma = p * prod(S) / prod(K) / prod(S - K + 1)`` (K clipped; timm and the
    paper); one Bernoulli(min(gamma, 1)) decision per seed-grid position ``(N, C or 1, *G)``, with
    the core contract on stream 1 (docs/contract.md), numbered channels-first whatever the
    layout. Cost O(elements): dilation is a bit-parallel running OR. Bitwise equal to
    :func:`fastdrop.reference.dropblock`.
    """
    x, p, training, return_mask, out = V.forward_args(x, p, training, return_mask, out)
    (data_format, valid_only, share_channels, scale, N, C, S, K, G, win) = _args(
        x, block_size, data_format, valid_only, share_channels, scale, "dropblock", "x",
        window)
    kept_count = _kept_count(kept_count, win, scale, training)
    if win is not None and training:
        V.window_seed(seed, rng)
    nseeds = N * (1 if share_channels else C) * math.prod(G)
    seed, offset = P.source(seed, offset, rng, nseeds, training)
    y = P.output(x, out)
    n = x.size
    if not training:
        P.identity(x, y)
        return (y, P.ones_mask(n)) if return_mask else y
    mask, kept = _mask(x.shape, win, kept_count, p, N, C, S, K, G, data_format, valid_only,
                       share_channels, seed, offset)
    _apply(x, y, mask, kept, win, p, scale)
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
    (data_format, valid_only, share_channels, scale, N, C, S, K, G, win) = _args(
        grad, block_size, data_format, valid_only, share_channels, scale,
        "dropblock_backward", "grad", window)
    kept_count = _kept_count(kept_count, win, scale)
    out = V.out_array(out, grad)
    n = grad.size
    nseeds = N * (1 if share_channels else C) * math.prod(G)
    if mask is not None:
        mask, _, _ = P.mask_or_seed(mask, seed, offset, n, "dropblock_backward", out)
        kept = P.count_bits(mask, n) if win is None else kept_count
    else:
        _, seed, offset = P.mask_or_seed(None, seed, offset, nseeds, "dropblock_backward", out)
        mask, kept = _mask(grad.shape, win, kept_count, p, N, C, S, K, G, data_format,
                           valid_only, share_channels, seed, offset)
    y = P.output(grad, out)
    _apply(grad, y, mask, kept, win, p, scale)
    return y


def dropblock_schedule(step, total_steps, p_final, start=0.0):
    """The drop probability of a linear DropBlock ramp at ``step``.

    The paper keeps the keep probability at 1 at the start and lowers it linearly: drop
    probability ``start`` at step 0 rising linearly to ``p_final`` at ``total_steps``,
    constant after. ``start`` is the initial drop probability.

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
