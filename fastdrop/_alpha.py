"""Alpha dropout for SELU networks (Klambauer et al. 2017): :func:`alpha_dropout` and, with
the per-channel mask of fastdrop._broadcast, :func:`feature_alpha_dropout` (each with its
backward). Dropped values take the SELU saturation and an affine map restores mean and
variance (fastdrop._formulas.alpha_constants). Results are bitwise equal to
:mod:`fastdrop.reference` (fastdrop/reference/_alpha.py).
"""
from __future__ import annotations

from fastdrop import _broadcast
from fastdrop import _formulas as F
from fastdrop import _plumbing as P
from fastdrop import _validate as V

__all__ = ["alpha_dropout", "alpha_dropout_backward", "feature_alpha_dropout",
           "feature_alpha_dropout_backward"]


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
    x, p, training, return_mask, out = V.forward_args(x, p, training, return_mask, out)
    n = x.size
    win = V.forward_window(window, x.shape, seed, offset, rng, training)
    seed, offset = P.source(seed, offset, rng, n, training)
    y = P.output(x, out)
    if not training or p == 0.0:
        P.identity(x, y)
        return (y, P.ones_mask(n)) if return_mask else y
    if p == 1.0:
        y[...] = 0
        return (y, P.zeros_mask(n)) if return_mask else y
    mask = P.empty_mask(n) if return_mask else None
    P.affine(x, y, F.alpha_constants(p), p=p, seed=seed, offset=offset, mask_out=mask, win=win)
    return (y, mask) if return_mask else y


def alpha_dropout_backward(grad, p, *, mask=None, seed=None, offset=0, out=None, window=None):
    """Gradient of :func:`alpha_dropout`: ``grad * a`` where kept, ``+0.0`` where dropped.
    ``window``: as in the forward (the mask is regenerated from the block's global indices;
    with ``mask=``, the block's own packed mask, the window is only validated)."""
    grad = V.float_array(grad, "grad")
    p = V.probability(p)
    out = V.out_array(out, grad)
    n = grad.size
    mask, seed, offset = P.mask_or_seed(mask, seed, offset, n, "alpha_dropout_backward", out)
    win = None if window is None else V.window(window, grad.shape, offset or 0)
    y = P.output(grad, out)
    if p == 1.0:  # nothing is kept at p = 1, whatever a mask says
        y[...] = 0
        return y
    P.masked_scale(grad, y, n, scale=F.alpha_grad_scale(p), mask_in=mask, p=p, seed=seed,
                   offset=offset, win=win if mask is None else None)
    return y


def feature_alpha_dropout(x, p=0.5, *, data_format="channels_first", seed=None, offset=0,
                          rng=None, training=True, out=None, return_mask=False, window=None):
    """Alpha dropout of whole channels (PyTorch ``FeatureAlphaDropout``): the (N, C) mask of
    :func:`spatial_dropout` with the affine map of :func:`alpha_dropout`. Input (N, C, ...)
    or, channels_last, (N, ..., C), at least 2-D; the packed mask is (N, C).
    ``window=(global_shape, origin)``: ``x`` is a block of a larger array (see
    :func:`fastdrop.dropout`); its (N, C) mask is its window into the global (N, C) mask."""
    x, p, training, return_mask, out = V.forward_args(x, p, training, return_mask, out)
    data_format = V.data_format(data_format)
    if x.ndim < 2:
        raise ValueError(f"x has {x.ndim} dimension(s) {x.shape}; feature_alpha_dropout takes "
                         "input with batch and channel axes (at least 2-D)")
    return _broadcast.forward(x, p, _broadcast.channel_axes(x.ndim, data_format), seed, offset,
                              rng, training, out, return_mask, "alpha", window)


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
    return _broadcast.backward(grad, p, _broadcast.channel_axes(grad.ndim, data_format), mask,
                               seed, offset, out, "alpha", "feature_alpha_dropout_backward",
                               window)
