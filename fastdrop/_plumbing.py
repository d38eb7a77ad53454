"""The plumbing between the public functions and the compiled kernels (fastdrop._core).

It owns where a call's bits come from (``seed``/``offset``, a :class:`fastdrop.Generator` or
the default one, or a backward's mask), output allocation, the outputs no kernel computes
(copies, naive-mode inference, the all-kept mask), and every kernel call, made with keyword
arguments. Arguments arrive validated (fastdrop._validate) and nothing here checks them again;
the numbers derived from ``p`` come from fastdrop._formulas. No other module calls a kernel of
fastdrop._core.

Keep bits are described by ``p`` (the drop probability), ``seed``, ``offset`` and ``stream``;
``win=(shape, global_shape, origin)`` (from :func:`fastdrop._validate.window`) makes the array
that block of a larger virtual array, its bits those of its global indices. ``scale=None``
means a plain select (kept values unchanged).
"""
from __future__ import annotations

import numpy as np

from fastdrop import _core
from fastdrop import _formulas as F
from fastdrop import _validate as V
from fastdrop._config import get_num_threads
from fastdrop._generator import Generator, default_generator

# the contract's Philox streams, named once in the C headers (csrc/fastdrop.h, structured.h)
STREAM_DROPOUT = _core.STREAM_DROPOUT
STREAM_DROPBLOCK = _core.STREAM_DROPBLOCK


# --- where the bits come from -------------------------------------------------------------
def source(seed, offset, rng, n, training=True):
    """Resolve a forward's (seed, offset) for n elements from `seed`/`offset`, `rng` or the
    default generator; (None, None) at inference, which draws nothing."""
    if seed is not None and rng is not None:
        raise ValueError("pass seed (with offset) or rng, not both")
    if rng is not None:
        if not isinstance(rng, Generator):
            raise TypeError(f"rng must be a fastdrop.Generator or None; got {type(rng).__name__}")
        if offset != 0:
            raise ValueError("offset goes with seed; a Generator hands out its own offsets")
    if seed is not None:
        return V.seed(seed), V.offset(offset, n)
    V.offset(offset, n)
    if not training:
        return None, None
    s, off = (rng or default_generator()).draw(n)
    return s, V.offset(off, n, "the generator's offset")


def mask_or_seed(mask, seed, offset, n, what, out):
    """Resolve a backward's bits for n keep decisions: (mask, None, None) from the forward's
    packed mask (copied when it lies inside `out`, see V.packed_mask) or (None, seed, offset)
    to regenerate it. `what` names the function in the error."""
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


# --- outputs without a kernel -------------------------------------------------------------
def output(x, out):
    """`out`, or a new C-contiguous array of x's shape and dtype."""
    return out if out is not None else np.empty(x.shape, x.dtype)


def empty_mask(n):
    """An uninitialised packed mask for n elements (ceil(n / 8) bytes)."""
    return np.empty((n + 7) // 8, np.uint8)


def zeros_mask(n):
    """The packed mask of n dropped elements."""
    return np.zeros((n + 7) // 8, np.uint8)


def ones_mask(n):
    """The packed mask of n kept elements (the unused high bits of the last byte zero)."""
    mask = np.full((n + 7) // 8, 0xFF, np.uint8)
    if n % 8:
        mask[-1] = (1 << (n % 8)) - 1
    return mask


def identity(x, y):
    """y = x (nothing to do when y is x)."""
    if y is not x:
        np.copyto(y, x)
    return y


def naive_inference(x, y, p):
    """y = x * (1 - p), the factor and the product rounded once in the compute dtype."""
    ct = F.compute_dtype(x.dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 at p = 1 is NaN, as in NumPy
        np.multiply(x.astype(ct, copy=False), F.naive_factor(p, x.dtype), out=y,
                    casting="unsafe")
    return y


# --- kernel calls -------------------------------------------------------------------------
# (The kernel calls below spell their keyword arguments out: building them in dicts costs
# more than the kernel itself for small arrays.) The kernels' form of a drop probability is a
# threshold, and drop_all for p = 1; scale None is scaled=False.

def masked_scale(x, y, n, *, scale=None, mask_in=None, mask_out=None, p=0.0, seed=None,
                 offset=None, stream=STREAM_DROPOUT, win=None):
    """y = keep ? x * scale : +0 over n elements (x and y None: only the keep bits, into
    mask_out). The keep bits come from the packed `mask_in` or else from the contract (`p`,
    `seed`, `offset`, `stream`, `win`); mask_out, when given, receives them packed."""
    seed, offset = seed or 0, offset or 0
    scaled, scale = scale is not None, 1.0 if scale is None else scale
    if win is None:
        if n:  # (an empty array may sit at offset 2**64, past the counter)
            _core.masked_scale(x=x, y=y, n=n, mask_in=mask_in, mask_out=mask_out, seed=seed,
                               offset=offset, stream=stream, threshold=F.threshold(p),
                               drop_all=p == 1.0, scaled=scaled, scale=scale,
                               nthreads=get_num_threads())
    elif 0 not in win[0]:
        gshape, origin, offset = _fit_window(win, offset)
        _core.masked_scale_window(x=x, y=y, lshape=win[0], gshape=gshape, origin=origin,
                                  mask_in=mask_in, mask_out=mask_out, seed=seed, offset=offset,
                                  stream=stream, threshold=F.threshold(p), drop_all=p == 1.0,
                                  scaled=scaled, scale=scale, nthreads=get_num_threads())


def _fit_window(win, offset):
    """(global_shape, origin, offset) of a window in the kernels' 64-bit form. The contract
    allows one axis of extent 2**64 (then offset is 0 and every other extent is 1): the same
    global indices are the block's own axis at offset + origin."""
    _, gshape, origin = win
    if max(gshape, default=0) < 1 << 64:
        return gshape, origin, offset
    d = gshape.index(1 << 64)
    return (gshape[:d] + (win[0][d],) + gshape[d + 1:], origin[:d] + (0,) + origin[d + 1:],
            offset + origin[d])


def draw(n, p, seed, offset, *, stream=STREAM_DROPOUT, win=None):
    """The packed keep mask of n elements (of the block `win`, when given)."""
    mask = empty_mask(n)
    masked_scale(None, None, n, mask_out=mask, p=p, seed=seed, offset=offset, stream=stream,
                 win=win)
    return mask


def _struct_apply(x, y, op, *, mask=None, rstrides=None, mask_out=None, p=None, seed=0,
                  offset=0, scale=None, abd=(0.0, 0.0, 0.0), sigma=0.0, win=None):
    """One fused pass of the tile driver (csrc/driver.c) over x into y. Keep bits from the
    contract (stream STREAM_DROPOUT) when `p` is given, else from `mask` (reduced by `rstrides`, when given);
    NOISE uses the normals of (seed, offset). With `win`: only contract bits or NOISE."""
    if x.size == 0:
        return
    use_bern = p is not None
    threshold, drop_all = (F.threshold(p), p == 1.0) if use_bern else (0, False)
    scaled, scale = scale is not None, 1.0 if scale is None else scale
    if win is None:
        _core.struct_apply(x=x, y=y, op=op, mask=mask, rstrides=rstrides, mask_out=mask_out,
                           use_bern=use_bern, seed=seed, offset=offset, threshold=threshold,
                           drop_all=drop_all, scaled=scaled, scale=scale, a=abd[0], b=abd[1],
                           d=abd[2], sigma=sigma, nthreads=get_num_threads())
    else:
        gshape, origin, offset = _fit_window(win, offset)
        _core.struct_apply_window(x=x, y=y, op=op, gshape=gshape, origin=origin,
                                  mask_out=mask_out, use_bern=use_bern, seed=seed, offset=offset,
                                  threshold=threshold, drop_all=drop_all, scaled=scaled,
                                  scale=scale, a=abd[0], b=abd[1], d=abd[2], sigma=sigma,
                                  nthreads=get_num_threads())


def scale_by_mask(x, y, mask, rstrides, scale):
    """y = keep ? x * scale : +0 with a packed mask of reduced shape (bit strides `rstrides`
    per axis of x, 0 on broadcast axes)."""
    _struct_apply(x, y, _core.OP_SCALE, mask=mask, rstrides=rstrides, scale=scale)


def affine(x, y, abd, *, mask=None, rstrides=None, p=None, seed=0, offset=0, mask_out=None,
           win=None):
    """y = keep ? x * a + b : d (alpha dropout; abd = (a, b, d), p < 1) with the keep bits of a
    reduced `mask` or of the contract (`p`, `seed`, `offset`, `win`; mask_out receives them)."""
    _struct_apply(x, y, _core.OP_AFFINE, mask=mask, rstrides=rstrides, mask_out=mask_out, p=p,
                  seed=seed, offset=offset, abd=abd, win=win)


def noise(x, y, sigma, seed, offset, win=None):
    """y = x * (1 + sigma * z), z the contract's normals of (seed, offset) (Gaussian dropout)."""
    _struct_apply(x, y, _core.OP_NOISE, sigma=sigma, seed=seed, offset=offset, win=win)


def dropblock_mask(N, C, S, K, valid_only, share_channels, channels_last, seed, offset, rate,
                   mask_out):
    """The packed DropBlock keep mask of a whole input into mask_out (seeds dropped with
    probability `rate` on STREAM_DROPBLOCK); returns the kept-element count."""
    pad = (1,) * (3 - len(S))
    return _core.dropblock_mask(nbatch=N, nchan=C, spatial=pad + S, block=pad + K,
                                valid_only=valid_only, share_channels=share_channels,
                                channels_last=channels_last, seed=seed, offset=offset,
                                threshold=F.threshold(rate), drop_all=rate == 1.0,
                                mask_out=mask_out, nthreads=get_num_threads())


def count_bits(mask, n):
    """The set bits among the first n of a packed mask (exact)."""
    return _core.count_bits(mask=mask, n=n)
