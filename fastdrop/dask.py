"""Dropout for Dask arrays, bitwise identical to the single-array result for any chunking.

fastdrop's masks are a pure function of (seed, global element index) (docs/contract.md), so
each chunk of a :class:`dask.array.Array` is processed as a *window* into the whole array: the
chunk at array location ``origin`` is run with ``window=(darr.shape, origin)`` and gets exactly
the bits ``fastdrop.dropout(darr.compute(), p, seed=s)`` would give it. Everything is lazy and
block-wise (``map_blocks``): chunks, dtype and ``meta`` are preserved, nothing is shipped but
``(seed, offset, p)``, and a task that is re-run (a lost worker, a spilled result) recomputes
the same bits. Works with any chunking, irregular chunks, any number of dimensions, float16 /
float32 / float64, and out-of-core sources such as ``dask.array.from_zarr``.

Supported (each with its ``*_backward``): :func:`dropout` (and :func:`dropout_mask`), the
broadcast forms :func:`broadcast_dropout`, :func:`spatial_dropout`, :func:`locked_dropout`,
:func:`embedding_dropout`, :func:`drop_path`, and :func:`alpha_dropout`,
:func:`feature_alpha_dropout`, :func:`gaussian_dropout`, :func:`dropblock`. Each chunk is one
call of the NumPy function with ``window=``.

Needs ``pip install 'fastdrop-numpy[dask]'``.
"""
from __future__ import annotations

try:
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised only without dask
    raise ImportError("fastdrop.dask needs dask: pip install 'fastdrop-numpy[dask]'") from exc

import numpy as np

import fastdrop as fd
from fastdrop import _formulas as F
from fastdrop import _validate as V
from fastdrop._dropblock import window_kept_count

__all__ = [
    "dropout", "dropout_backward", "dropout_mask", "broadcast_dropout",
    "broadcast_dropout_backward", "spatial_dropout", "spatial_dropout_backward",
    "locked_dropout", "locked_dropout_backward", "embedding_dropout",
    "embedding_dropout_backward", "drop_path", "drop_path_backward",
]


# --- validation ---------------------------------------------------------------------------
def _float_dask(x, name="x"):
    if not isinstance(x, da.Array):  # NumPy inputs follow fastdrop's own conversion rules
        x = da.asarray(V.float_array(x, name))
    if x.dtype.kind == "f" and not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    if x.dtype not in V.SUPPORTED_DTYPES:
        raise TypeError(f"{name} has dtype {x.dtype}; fastdrop supports float16, float32 or float64")
    if any(np.isnan(c) for c in x.shape):
        raise ValueError(f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes() first")
    return x


def _size(shape):
    return int(np.prod(shape, dtype=object)) if shape else 1


def _meta(x, dtype=None):
    return np.empty((0,) * x.ndim, dtype or x.dtype)


def _origin(block_info, i=0):
    return tuple(int(a) for a, _ in block_info[i]["array-location"])


# --- block functions (module level: picklable, deterministic tokens) ------------------------
def _dropout_block(x, p, seed, offset, mode, gshape, block_info=None):
    return fd.dropout(x, p, seed=seed, offset=offset, mode=mode,
                      window=(gshape, _origin(block_info)))


def _backward_block(g, p, seed, offset, mode, gshape, block_info=None):
    return fd.dropout_backward(g, p, seed=seed, offset=offset, mode=mode,
                               window=(gshape, _origin(block_info)))


def _backward_mask_block(g, keep, p, mode):
    packed = np.packbits(np.ascontiguousarray(keep).ravel(), bitorder="little")
    return fd.dropout_backward(g, p, mask=packed, mode=mode)


def _mask_block(x, p, seed, offset, gshape, block_info=None):
    return fd.dropout_mask(x.shape, p, seed=seed, offset=offset, packed=False,
                           window=(gshape, _origin(block_info)))


def _naive_inference_block(x, p):
    return fd.dropout(x, p, training=False, mode="naive")


def _bcast_block(x, p, seed, offset, mode, axes, gshape, block_info=None):
    # the block's reduced mask is its window into the global reduced mask (C kernels)
    mode = "naive" if mode == "select" else mode  # training: naive is a plain select
    return fd.dropout(x, p, seed=seed, offset=offset, mode=mode, broadcast_axes=axes,
                      window=(gshape, _origin(block_info)))


# --- plain dropout ------------------------------------------------------------------------
def dropout(x, p=0.5, *, seed, offset=0, training=True, mode="inverted", return_mask=False):
    """:func:`fastdrop.dropout` of a Dask array, chunk by chunk, lazily.

    ``dropout(x, p, seed=s, offset=o).compute()`` equals
    ``fastdrop.dropout(x.compute(), p, seed=s, offset=o)`` bit for bit whatever the chunking
    (every element uses its global C-order index). ``seed`` is required: every chunk must
    use the same one. Returns a Dask array with ``x``'s chunks and dtype; with
    ``return_mask=True`` also the boolean keep mask as a Dask array of the same chunks (a
    second lazy pass that regenerates the bits; not packed, since packed masks do not chunk).
    """
    x = _float_dask(x)
    p = V.probability(p)
    mode = V.mode(mode)
    training = V.boolean(training, "training")
    return_mask = V.boolean(return_mask, "return_mask")
    seed = V.seed(seed)
    offset = V.offset(offset, _size(x.shape))
    if not training:
        y = x if mode == "inverted" else da.map_blocks(
            _naive_inference_block, x, p, dtype=x.dtype, meta=_meta(x))
        keep = da.ones(x.shape, dtype=bool, chunks=x.chunks) if return_mask else None
    else:
        y = da.map_blocks(_dropout_block, x, p, seed, offset, mode, x.shape, dtype=x.dtype,
                          meta=_meta(x))
        keep = dropout_mask(x.shape, p, seed=seed, offset=offset, chunks=x.chunks) \
            if return_mask else None
    return (y, keep) if return_mask else y


def dropout_mask(shape, p, *, seed, offset=0, chunks="auto"):
    """The boolean keep mask (True = kept) of :func:`dropout` as a lazy Dask array of
    ``shape`` with ``chunks`` (anything ``dask.array.empty`` accepts); equal to
    ``fastdrop.dropout_mask(shape, p, seed=s, offset=o, packed=False)`` for any chunking."""
    shape = V.shape(shape)
    p = V.probability(p)
    seed = V.seed(seed)
    offset = V.offset(offset, _size(shape))
    tmpl = da.empty(shape, chunks=chunks, dtype=np.uint8)
    return da.map_blocks(_mask_block, tmpl, p, seed, offset, shape, dtype=bool,
                         meta=np.empty((0,) * len(shape), bool))


def dropout_backward(grad, p, *, mask=None, seed=None, offset=0, mode="inverted"):
    """Gradient of :func:`dropout` for a Dask array: regenerated from ``(seed, offset)``, or
    from ``mask``, a boolean keep array (Dask or NumPy, e.g. the one ``return_mask=True``
    gave) of ``grad``'s shape. Bitwise equal to :func:`fastdrop.dropout_backward` on the
    whole array."""
    grad = _float_dask(grad, "grad")
    p = V.probability(p)
    mode = V.mode(mode)
    if mask is not None:
        if seed is not None:
            raise ValueError("pass mask or seed (with offset), not both")
        if not isinstance(mask, da.Array):
            mask = da.asarray(np.asarray(mask))
        if mask.dtype != np.bool_ or mask.shape != grad.shape:
            raise ValueError(
                f"mask must be a boolean keep array of grad's shape {grad.shape}; got "
                f"{mask.dtype} {mask.shape} (fastdrop.dask masks are not packed)")
        mask = mask.rechunk(grad.chunks)
        return da.map_blocks(_backward_mask_block, grad, mask, p, mode, dtype=grad.dtype,
                             meta=_meta(grad))
    if seed is None:
        raise ValueError("dropout_backward needs the forward's mask (mask=) or its seed and "
                         "offset (seed=, offset=)")
    seed = V.seed(seed)
    offset = V.offset(offset, _size(grad.shape))
    return da.map_blocks(_backward_block, grad, p, seed, offset, mode, grad.shape,
                         dtype=grad.dtype, meta=_meta(grad))


# --- broadcast masks ------------------------------------------------------------------------
def _bcast(x, p, axes, seed, offset, training, mode, name="x"):
    x = _float_dask(x, name)
    p = V.probability(p)
    training = V.boolean(training, "training")
    seed = V.seed(seed)
    rshape = tuple(1 if d in axes else n for d, n in enumerate(x.shape))
    offset = V.offset(offset, _size(rshape))
    if not training:  # "select" (drop_path without scale_by_keep): inference returns x
        if mode == "naive":
            return da.map_blocks(_naive_inference_block, x, p, dtype=x.dtype, meta=_meta(x))
        return x
    if not axes:
        return da.map_blocks(_dropout_block, x, p, seed, offset,
                             "naive" if mode == "select" else mode, x.shape, dtype=x.dtype,
                             meta=_meta(x))
    return da.map_blocks(_bcast_block, x, p, seed, offset, mode, axes, x.shape,
                         dtype=x.dtype, meta=_meta(x))


def broadcast_dropout(x, p=0.5, *, broadcast_axes, seed, offset=0, training=True,
                      mode="inverted"):
    """``fastdrop.dropout(x, p, broadcast_axes=A)`` for a Dask array: the reduced mask (the
    shape with the axes ``A`` set to 1, numbered by its own C order) is drawn per chunk as a
    window of the global reduced array and broadcast over the chunk."""
    ndim = len(getattr(x, "shape", np.shape(x)))
    axes = V.axes(broadcast_axes, ndim)
    return _bcast(x, p, axes, seed, offset, training, V.mode(mode))


def broadcast_dropout_backward(grad, p, *, broadcast_axes, seed, offset=0, mode="inverted"):
    """Gradient of :func:`broadcast_dropout` (regenerated from ``seed``/``offset``)."""
    axes = V.axes(broadcast_axes, len(grad.shape))
    return _bcast(grad, p, axes, seed, offset, True, V.mode(mode), "grad")


def _spatial_axes(ndim, data_format):
    data_format = V.data_format(data_format)
    if ndim not in (3, 4, 5):
        raise ValueError(f"x has {ndim} dimension(s); spatial_dropout takes 3-, 4- or 5-D input")
    return tuple(range(2, ndim)) if data_format == "channels_first" else tuple(range(1, ndim - 1))


def spatial_dropout(x, p=0.5, *, data_format="channels_first", seed, offset=0, training=True):
    """:func:`fastdrop.spatial_dropout` for a Dask array (one decision per (sample, channel))."""
    return _bcast(x, p, _spatial_axes(len(x.shape), data_format), seed, offset, training,
                  "inverted")


def spatial_dropout_backward(grad, p, *, data_format="channels_first", seed, offset=0):
    """Gradient of :func:`spatial_dropout` (the mask regenerated from ``seed``/``offset``)."""
    return _bcast(grad, p, _spatial_axes(len(grad.shape), data_format), seed, offset, True,
                  "inverted", "grad")


def _locked_axes(ndim, time_axis):
    return (V.axis(time_axis, ndim, "time_axis"),)


def locked_dropout(x, p=0.5, *, time_axis=0, seed, offset=0, training=True):
    """:func:`fastdrop.locked_dropout` for a Dask array (one mask reused along time)."""
    return _bcast(x, p, _locked_axes(len(x.shape), time_axis), seed, offset, training,
                  "inverted")


def locked_dropout_backward(grad, p, *, time_axis=0, seed, offset=0):
    """Gradient of :func:`locked_dropout` (the mask regenerated from ``seed``/``offset``)."""
    return _bcast(grad, p, _locked_axes(len(grad.shape), time_axis), seed, offset, True,
                  "inverted", "grad")


def _embedding_axes(ndim):
    if ndim < 1:
        raise ValueError("x is 0-d; embedding_dropout needs a last axis")
    return (ndim - 1,)


def embedding_dropout(x, p=0.5, *, seed, offset=0, training=True):
    """:func:`fastdrop.embedding_dropout` for a Dask array (whole embedding vectors)."""
    return _bcast(x, p, _embedding_axes(len(x.shape)), seed, offset, training, "inverted")


def embedding_dropout_backward(grad, p, *, seed, offset=0):
    """Gradient of :func:`embedding_dropout` (the mask regenerated from ``seed``/``offset``)."""
    return _bcast(grad, p, _embedding_axes(len(grad.shape)), seed, offset, True, "inverted",
                  "grad")


def _drop_path_axes(ndim, mode):
    mode = V.choice(mode, ("row", "batch"), "mode")
    if mode == "row":
        if ndim < 1:
            raise ValueError("x is 0-d; drop_path(mode='row') needs a batch axis (axis 0)")
        return tuple(range(1, ndim))
    return tuple(range(ndim))


def drop_path(x, p, *, scale_by_keep=True, mode="row", seed, offset=0, training=True):
    """:func:`fastdrop.drop_path` (stochastic depth) for a Dask array: one decision per
    sample (``mode="row"``, index of axis 0) or for the whole array (``"batch"``)."""
    scale_by_keep = V.boolean(scale_by_keep, "scale_by_keep")
    return _bcast(x, p, _drop_path_axes(len(x.shape), mode), seed, offset, training,
                  "inverted" if scale_by_keep else "select")


def drop_path_backward(grad, p, *, scale_by_keep=True, mode="row", seed, offset=0):
    """Gradient of :func:`drop_path` (the mask regenerated from ``seed``/``offset``)."""
    scale_by_keep = V.boolean(scale_by_keep, "scale_by_keep")
    return _bcast(grad, p, _drop_path_axes(len(grad.shape), mode), seed, offset, True,
                  "inverted" if scale_by_keep else "select", "grad")


# --- alpha, feature-alpha and Gaussian dropout: one windowed call per chunk -----------------
def _alpha_block(x, p, seed, offset, gshape, block_info=None):
    return fd.alpha_dropout(x, p, seed=seed, offset=offset, window=(gshape, _origin(block_info)))


def _alpha_backward_block(g, p, seed, offset, gshape, block_info=None):
    return fd.alpha_dropout_backward(g, p, seed=seed, offset=offset,
                                     window=(gshape, _origin(block_info)))


def _feature_alpha_block(x, p, data_format, seed, offset, gshape, block_info=None):
    return fd.feature_alpha_dropout(x, p, data_format=data_format, seed=seed, offset=offset,
                                    window=(gshape, _origin(block_info)))


def _feature_alpha_backward_block(g, p, data_format, seed, offset, gshape, block_info=None):
    return fd.feature_alpha_dropout_backward(g, p, data_format=data_format, seed=seed,
                                             offset=offset, window=(gshape, _origin(block_info)))


def _gaussian_block(x, p, seed, offset, gshape, block_info=None):
    return fd.gaussian_dropout(x, p, seed=seed, offset=offset,
                               window=(gshape, _origin(block_info)))


def _gaussian_backward_block(g, p, seed, offset, gshape, block_info=None):
    return fd.gaussian_dropout_backward(g, p, seed=seed, offset=offset,
                                        window=(gshape, _origin(block_info)))


def _blockwise(fn, x, *args):
    return da.map_blocks(fn, x, *args, x.shape, dtype=x.dtype, meta=_meta(x))


def _elementwise_args(x, p, seed, offset, name, probability=V.probability):
    x = _float_dask(x, name)
    return x, probability(p), V.seed(seed), V.offset(offset, _size(x.shape))


def alpha_dropout(x, p=0.5, *, seed, offset=0, training=True):
    """:func:`fastdrop.alpha_dropout` of a Dask array, chunk by chunk, lazily; bitwise equal
    to the single-array result (its keep mask is the core contract's, stream 0)."""
    x, p, seed, offset = _elementwise_args(x, p, seed, offset, "x")
    if not V.boolean(training, "training") or p == 0.0:
        return x
    return _blockwise(_alpha_block, x, p, seed, offset)


def alpha_dropout_backward(grad, p, *, seed, offset=0):
    """Gradient of :func:`alpha_dropout` (``grad * a`` where kept), mask regenerated per chunk."""
    grad, p, seed, offset = _elementwise_args(grad, p, seed, offset, "grad")
    return _blockwise(_alpha_backward_block, grad, p, seed, offset)


def _feature_args(x, p, data_format, seed, offset, name):
    x = _float_dask(x, name)
    p = V.probability(p)
    data_format = V.data_format(data_format)
    if x.ndim < 2:
        raise ValueError(f"{name} has {x.ndim} dimension(s) {x.shape}; feature_alpha_dropout "
                         "takes input with batch and channel axes (at least 2-D)")
    seed = V.seed(seed)
    c = 1 if data_format == "channels_first" else x.ndim - 1
    offset = V.offset(offset, x.shape[0] * x.shape[c])  # numbers the (N, C) mask
    return x, p, data_format, seed, offset


def feature_alpha_dropout(x, p=0.5, *, data_format="channels_first", seed, offset=0,
                          training=True):
    """:func:`fastdrop.feature_alpha_dropout` of a Dask array (alpha dropout of whole
    channels; each chunk draws its window of the global (N, C) mask); bitwise equal to the
    single-array result for any chunking, chunks along the channel axis included."""
    training = V.boolean(training, "training")
    x, p, data_format, seed, offset = _feature_args(x, p, data_format, seed, offset, "x")
    if not training or p == 0.0:
        return x
    return _blockwise(_feature_alpha_block, x, p, data_format, seed, offset)


def feature_alpha_dropout_backward(grad, p, *, data_format="channels_first", seed, offset=0):
    """Gradient of :func:`feature_alpha_dropout` (mask regenerated per chunk)."""
    grad, p, data_format, seed, offset = _feature_args(grad, p, data_format, seed, offset,
                                                       "grad")
    return _blockwise(_feature_alpha_backward_block, grad, p, data_format, seed, offset)


def gaussian_dropout(x, p=0.5, *, seed, offset=0, training=True):
    """:func:`fastdrop.gaussian_dropout` of a Dask array: each element's noise is the normal
    of its global index (drawn in the kernel), so the result equals the single-array result
    bit for bit for any chunking. ``p`` in [0, 1)."""
    x, p, seed, offset = _elementwise_args(x, p, seed, offset, "x", V.probability_below_one)
    if not V.boolean(training, "training") or p == 0.0:
        return x
    return _blockwise(_gaussian_block, x, p, seed, offset)


def gaussian_dropout_backward(grad, p, *, seed, offset=0):
    """Gradient of :func:`gaussian_dropout` (``grad * m``, the noise regenerated per chunk)."""
    grad, p, seed, offset = _elementwise_args(grad, p, seed, offset, "grad",
                                              V.probability_below_one)
    if p == 0.0:
        return grad
    return _blockwise(_gaussian_backward_block, grad, p, seed, offset)


__all__ += ["alpha_dropout", "alpha_dropout_backward", "feature_alpha_dropout",
            "feature_alpha_dropout_backward", "gaussian_dropout", "gaussian_dropout_backward"]


# --- DropBlock ------------------------------------------------------------------------------
# A chunk's keep mask depends on the seeds within a block size of it, not on other chunks'
# data: each task draws the seed-grid window its chunk needs (fastdrop.dropblock(window=)).
# No overlap of data is shipped. scale="count" needs the global kept count: a first lazy pass
# counts kept elements per chunk (exact integers), and the second pass receives the total as
# a 0-d Dask array (kept_count=).
def _dropblock_count_block(x, p, K, G, S, data_format, valid_only, share_channels, seed, offset,
                           gshape, block_info=None):
    win = (x.shape, gshape, _origin(block_info))
    kept = window_kept_count(win, p, S, K, G, data_format, valid_only, share_channels, seed,
                             offset)
    return np.full((1,) * x.ndim, kept, np.int64)


def _dropblock_block(x, kept, p, block_size, data_format, valid_only, share_channels, scale,
                     seed, offset, backward, gshape, block_info=None):
    f = fd.dropblock_backward if backward else fd.dropblock
    return f(x, p, block_size, seed=seed, offset=offset, data_format=data_format,
             valid_only=valid_only, share_channels=share_channels, scale=scale,
             window=(gshape, _origin(block_info)),
             kept_count=None if kept is None else int(kept))


def _dropblock(x, p, block_size, seed, offset, data_format, valid_only, share_channels, scale,
               name, backward):
    x = _float_dask(x, name)
    p = V.probability(p)
    data_format = V.data_format(data_format)
    if x.ndim not in (4, 5):
        raise ValueError(f"{name} has {x.ndim} dimension(s) {x.shape}; dropblock takes 4- or "
                         "5-D input")
    valid_only = V.boolean(valid_only, "valid_only")
    share_channels = V.boolean(share_channels, "share_channels")
    scale = V.choice(scale, ("count", "expected"), "scale")
    bs = V.block_size(block_size, x.ndim - 2)
    N, C, S, K, G = F.dropblock_geometry(x.shape, bs, data_format, valid_only)
    seed = V.seed(seed)
    offset = V.offset(offset, N * (1 if share_channels else C) * _size(G))
    kept = None
    if scale == "count":
        # the count pass needs only the chunks' places, not x's data (no second read of x)
        tmpl = da.empty(x.shape, chunks=x.chunks, dtype=np.uint8)
        counts = da.map_blocks(_dropblock_count_block, tmpl, p, K, G, S, data_format, valid_only,
                               share_channels, seed, offset, x.shape, dtype=np.int64,
                               chunks=tuple((1,) * len(c) for c in x.chunks),
                               meta=np.empty((0,) * x.ndim, np.int64))
        kept = counts.sum()
    return da.map_blocks(_dropblock_block, x, kept, p, bs, data_format, valid_only,
                         share_channels, scale, seed, offset, backward, x.shape, dtype=x.dtype,
                         meta=_meta(x))


def dropblock(x, p, block_size, *, seed, offset=0, data_format="channels_first",
              valid_only=False, share_channels=False, scale="count", training=True):
    """:func:`fastdrop.dropblock` for a Dask array (4-D or 5-D, any chunking, blocks may span
    chunk borders): bitwise equal to the single-array result. ``scale="count"`` adds a cheap
    first pass (per-chunk kept counts, summed lazily)."""
    training = V.boolean(training, "training")
    if not training:
        return _float_dask(x)
    return _dropblock(x, p, block_size, seed, offset, data_format, valid_only, share_channels,
                      scale, "x", False)


def dropblock_backward(grad, p, block_size, *, seed, offset=0, data_format="channels_first",
                       valid_only=False, share_channels=False, scale="count"):
    """Gradient of :func:`dropblock` (mask regenerated from ``seed``/``offset``)."""
    return _dropblock(grad, p, block_size, seed, offset, data_format, valid_only,
                      share_channels, scale, "grad", True)


__all__ += ["dropblock", "dropblock_backward"]
