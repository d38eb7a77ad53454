"""Broadcast masks: one keep decision per group of elements along some axes, the reduced mask
(the input's shape with those axes set to 1) drawn with the core contract over its own C-order
index (STREAM_DROPOUT) and broadcast. :func:`forward` and :func:`backward` serve
``fastdrop.dropout(broadcast_axes= / noise_shape=)`` (fastdrop._dropout) and
``feature_alpha_dropout`` (fastdrop._alpha); the public functions here are nothing but a choice
of axes: spatial, locked and embedding dropout and stochastic depth (drop_path).

Results are bitwise equal to the functions of the same name in :mod:`fastdrop.reference`
(fastdrop/reference/_broadcast.py) for every thread count and SIMD path.
"""
from __future__ import annotations

import math

from fastdrop import _formulas as F
from fastdrop import _plumbing as P
from fastdrop import _validate as V

__all__ = [
    "spatial_dropout", "spatial_dropout_backward", "locked_dropout", "locked_dropout_backward",
    "embedding_dropout", "embedding_dropout_backward", "drop_path", "drop_path_backward",
    "drop_path_rates",
]


# --- the machinery ------------------------------------------------------------------------
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


def _reduced_window(window, shape, axes, rshape, offset):
    """window=(global_shape, origin) of a block -> the window of its reduced mask in the
    global reduced mask (broadcast axes: extent 1, origin 0); validates offset against it."""
    _, gshape, origin = V.window(window, shape, 0)
    rg = tuple(1 if d in axes else g for d, g in enumerate(gshape))
    ro = tuple(0 if d in axes else o for d, o in enumerate(origin))
    V.offset(offset, math.prod(rg))
    return (rshape, rg, ro)


def forward(x, p, axes, seed, offset, rng, training, out, return_mask, kind, window=None):
    """Broadcast-mask forward (arguments validated). kind: "inverted" (x / (1-p) where kept),
    "naive" (select; inference x * (1-p)), "select" (select; inference identity), "alpha"
    (alpha dropout's affine map). window: x is a block of a larger array (see
    fastdrop.dropout); the reduced mask is then the block's window into the global reduced
    mask."""
    rshape, nr, rstrides = _reduced(x.shape, axes)
    win = None
    if window is not None:
        if training:
            V.window_seed(seed, rng)
        win = _reduced_window(window, x.shape, axes, rshape, offset)
    seed, offset = P.source(seed, offset, rng, nr, training)
    y = P.output(x, out)
    if not training or (kind == "alpha" and p == 0.0):
        if kind == "naive" and not training:
            P.naive_inference(x, y, p)
        else:
            P.identity(x, y)
        return (y, P.ones_mask(nr)) if return_mask else y
    mask = P.draw(nr, p, seed, offset, win=win)
    if kind == "alpha":
        if p == 1.0:
            y[...] = 0
        else:
            P.affine(x, y, F.alpha_constants(p), mask=mask, rstrides=rstrides)
    else:
        P.scale_by_mask(x, y, mask, rstrides, F.mode_scale(p, kind))
    return (y, mask) if return_mask else y


def backward(grad, p, axes, mask, seed, offset, out, kind, what, window=None):
    """The gradient of :func:`forward` from its packed reduced mask or (seed, offset); `what`
    names the public function in errors."""
    rshape, nr, rstrides = _reduced(grad.shape, axes)
    mask, seed, offset = P.mask_or_seed(mask, seed, offset, nr, what, out)
    win = None if window is None else _reduced_window(window, grad.shape, axes, rshape,
                                                      offset or 0)
    y = P.output(grad, out)
    if kind == "alpha" and p == 1.0:  # nothing is kept at p = 1, whatever a mask says
        y[...] = 0
        return y
    if mask is None:
        mask = P.draw(nr, p, seed, offset, win=win)
    scale = F.alpha_grad_scale(p) if kind == "alpha" else F.mode_scale(p, kind)
    P.scale_by_mask(grad, y, mask, rstrides, scale)
    return y


def channel_axes(ndim, data_format):
    """The spatial axes of an (N, C, ...) or (N, ..., C) array: those a per-channel mask
    broadcasts over."""
    return tuple(range(2, ndim)) if data_format == "channels_first" else tuple(range(1, ndim - 1))


# --- spatial, locked and embedding dropout ------------------------------------------------
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
    x, p, training, return_mask, out = V.forward_args(x, p, training, return_mask, out)
    data_format = V.data_format(data_format)
    V.ndim_in(x, (3, 4, 5), "spatial_dropout")
    return forward(x, p, channel_axes(x.ndim, data_format), seed, offset, rng, training,
                          out, return_mask, "inverted")


def spatial_dropout_backward(grad, p, *, data_format="channels_first", mask=None, seed=None,
                             offset=0, out=None):
    """Gradient of :func:`spatial_dropout` from its packed (N, C) mask or (seed, offset)."""
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    data_format = V.data_format(data_format)
    V.ndim_in(grad, (3, 4, 5), "spatial_dropout_backward", "grad")
    out = V.out_array(out, grad)
    return backward(grad, p, channel_axes(grad.ndim, data_format), mask, seed, offset,
                           out, "inverted", "spatial_dropout_backward")


def locked_dropout(x, p=0.5, *, time_axis=0, seed=None, offset=0, rng=None, training=True,
                   out=None, return_mask=False):
    """Locked (variational) dropout for sequences (Gal & Ghahramani; AWD-LSTM): one mask,
    drawn over the non-time axes, reused at every step along ``time_axis`` (default 0, the
    sequence-first (T, B, H) layout; use ``time_axis=1`` for batch-first).

    Equals ``dropout(x, p, broadcast_axes=(time_axis,))``; the packed mask covers the shape
    with the time axis set to 1.
    """
    x, p, training, return_mask, out = V.forward_args(x, p, training, return_mask, out)
    t = V.axis(time_axis, x.ndim, "time_axis")
    return forward(x, p, (t,), seed, offset, rng, training, out, return_mask, "inverted")


def locked_dropout_backward(grad, p, *, time_axis=0, mask=None, seed=None, offset=0, out=None):
    """Gradient of :func:`locked_dropout`."""
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    t = V.axis(time_axis, grad.ndim, "time_axis")
    out = V.out_array(out, grad)
    return backward(grad, p, (t,), mask, seed, offset, out, "inverted",
                           "locked_dropout_backward")


def embedding_dropout(x, p=0.5, *, seed=None, offset=0, rng=None, training=True, out=None,
                      return_mask=False):
    """Embedding / word dropout: whole rows along the last axis are kept (scaled by
    ``1 / (1 - p)``) or zeroed. On looked-up embeddings (..., D) it drops whole tokens; on an
    embedding table (V, D) it drops whole words, as AWD-LSTM's ``embedded_dropout``.

    Equals ``dropout(x, p, broadcast_axes=(-1,))``; the packed mask covers ``x.shape[:-1]``.
    """
    x, p, training, return_mask, out = V.forward_args(x, p, training, return_mask, out)
    if x.ndim < 1:
        raise ValueError("x is 0-d; embedding_dropout takes input with a last (feature) axis")
    return forward(x, p, (x.ndim - 1,), seed, offset, rng, training, out, return_mask,
                          "inverted")


def embedding_dropout_backward(grad, p, *, mask=None, seed=None, offset=0, out=None):
    """Gradient of :func:`embedding_dropout`."""
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    if grad.ndim < 1:
        raise ValueError("grad is 0-d; embedding_dropout takes input with a last (feature) axis")
    out = V.out_array(out, grad)
    return backward(grad, p, (grad.ndim - 1,), mask, seed, offset, out, "inverted",
                           "embedding_dropout_backward")


# --- stochastic depth ---------------------------------------------------------------------
def _drop_path_axes(x, mode, name="x"):
    if mode == "row":
        if x.ndim < 1:
            raise ValueError(f"{name} is 0-d; drop_path(mode='row') needs a batch axis (axis 0)")
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
    x, p, training, return_mask, out = V.forward_args(x, p, training, return_mask, out)
    scale_by_keep = V.boolean(scale_by_keep, "scale_by_keep")
    mode = V.choice(mode, ("row", "batch"), "mode")
    axes = _drop_path_axes(x, mode)
    return forward(x, p, axes, seed, offset, rng, training, out, return_mask,
                          "inverted" if scale_by_keep else "select", window)


def drop_path_backward(grad, p, *, scale_by_keep=True, mode="row", mask=None, seed=None,
                       offset=0, out=None, window=None):
    """Gradient of :func:`drop_path`."""
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    scale_by_keep = V.boolean(scale_by_keep, "scale_by_keep")
    mode = V.choice(mode, ("row", "batch"), "mode")
    axes = _drop_path_axes(grad, mode, "grad")
    out = V.out_array(out, grad)
    return backward(grad, p, axes, mask, seed, offset, out,
                           "inverted" if scale_by_keep else "select", "drop_path_backward",
                           window)


def drop_path_rates(depth, p_max):
    """The drop probabilities of the linear stochastic-depth rule, one per block.

    Block ``l`` of ``depth`` gets ``p_l = l / depth * p_max`` for ``l = 1, ..., depth``, so
    the last is ``p_max``.
    """
    depth = V.integer(depth, "depth", 0, 1 << 62)
    p_max = V.probability(p_max, "p_max")
    return [l / depth * p_max for l in range(1, depth + 1)]
