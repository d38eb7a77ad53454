"""Bitwise checks of fastdrop's outputs against :mod:`fastdrop.reference` for the seed they
were timed with: the whole array up to FULL_CHECK_MAX elements, windows above (a window with
``offset = start`` equals that part of the whole)."""
from __future__ import annotations

import numpy as np

import fastdrop as fd
from fastdrop import reference

from ._defaults import CHECK_WINDOW, DROPBLOCK_SIZE, FULL_CHECK_MAX


def check_windows(n, threads):
    """[lo, hi) ranges (lo multiple of 8) that the check compares with the reference."""
    if n <= FULL_CHECK_MAX:
        return [(0, n)]
    w = CHECK_WINDOW
    starts = {0, n - w}
    for nt in set(threads) | {2, 3, 4}:
        for t in range(1, nt):
            starts.add(n * t // nt - w // 2)
    rng = np.random.default_rng(n)
    starts.update(int(s) for s in rng.integers(0, n - w, 4))
    out = []
    for s in sorted(starts):
        lo = max(0, min(s, n - w)) // 8 * 8
        out.append((lo, min(n, lo + w + 8)))
    return out


def same(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def check_values(xflat, yflat, p, seed, windows, offset=0):
    """y is where(keep, x*scale, 0) for the contract's keep mask (forward and backward alike)."""
    for lo, hi in windows:
        ref = reference.dropout(xflat[lo:hi], p, seed=seed, offset=offset + lo)
        if not same(yflat[lo:hi], ref):
            return False
    return True


def check_mask(mask, n, p, seed, windows):
    for lo, hi in windows:
        ref = reference.dropout_mask(hi - lo, p, seed=seed, offset=lo)
        got = mask[lo // 8:(hi + 7) // 8]  # lo is a multiple of 8; a short last byte pads with 0
        if not same(got, ref):
            return False
    return True


def struct_calls(op, x, y, p, seed):
    """(fastdrop call writing y, call making the reference output of the whole array); the
    second is None for alpha and Gaussian dropout, which check_struct compares in windows."""
    k = DROPBLOCK_SIZE
    if op == "spatial_dropout":
        return (lambda: fd.spatial_dropout(x, p, seed=seed, out=y),
                lambda: reference.spatial_dropout(x, p, seed=seed))
    if op == "drop_path":
        return (lambda: fd.drop_path(x, p, seed=seed, out=y),
                lambda: reference.drop_path(x, p, seed=seed))
    if op in ("dropblock", "dropblock_shared"):
        sh = op == "dropblock_shared"
        return (lambda: fd.dropblock(x, p, k, seed=seed, share_channels=sh, out=y),
                lambda: reference.dropblock(x, p, k, seed=seed, share_channels=sh))
    if op == "alpha_dropout":
        return (lambda: fd.alpha_dropout(x, p, seed=seed, out=y), None)
    if op == "gaussian_dropout":
        return (lambda: fd.gaussian_dropout(x, p, seed=seed, out=y), None)
    raise ValueError(op)


def check_struct(op, x, y, p, seed, threads):
    """Bitwise check of y against fastdrop.reference: the whole array for the structured maps;
    element-wise ops (alpha, Gaussian: a window with offset = start is that part of the whole)
    in windows above FULL_CHECK_MAX."""
    _, ref = struct_calls(op, x, y, p, seed)
    if ref is not None:
        return same(y, ref())
    fn = reference.alpha_dropout if op == "alpha_dropout" else reference.gaussian_dropout
    xf, yf = x.reshape(-1), y.reshape(-1)
    for lo, hi in check_windows(xf.size, threads):
        if not same(yf[lo:hi], fn(xf[lo:hi], p, seed=seed, offset=lo)):
            return False
    return True
