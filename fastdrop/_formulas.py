"""The numbers fastdrop derives from a call's parameters, each computed here and nowhere else in
the production code: the keep threshold, the scales, the alpha-dropout constants, the Gaussian
noise's sigma and the DropBlock geometry, seed rate and scale (docs/contract.md).

Every argument is already validated (fastdrop._validate). :mod:`fastdrop.reference` states the
same formulas again, independently, and the bitwise tests compare the two implementations, so
nothing here may import the reference (tests/test_layout.py checks that).
"""
from __future__ import annotations

import math

import numpy as np

_TWO32 = 4294967296.0


# --- keep decisions and scales ------------------------------------------------------------
def threshold(p):
    """The keep threshold ``floor(p * 2**32)`` (exact: a power-of-two scaling), an element being
    kept iff its Philox word is ``>= threshold``; 0 for ``p == 1``, which the kernels handle
    with ``drop_all`` and no words drawn."""
    return math.floor(p * _TWO32) if p < 1.0 else 0


def compute_dtype(dtype):
    """The arithmetic dtype of `dtype`'s data: float64 for float64, float32 otherwise."""
    return np.float64 if dtype == np.float64 else np.float32


def inverted_scale(p):
    """``1 / (1 - p)`` in float64; ``inf`` for ``p == 1`` (only a backward with a mask that
    keeps something ever multiplies by it)."""
    return math.inf if p == 1.0 else 1.0 / (1.0 - p)


def mode_scale(p, mode):
    """The scale of kept values in training: ``1 / (1 - p)`` for "inverted", None (a plain
    select) for "naive" and "select"."""
    return inverted_scale(p) if mode == "inverted" else None


def naive_factor(p, dtype):
    """``1 - p`` (naive-mode inference) in float64, rounded once to the compute dtype."""
    return compute_dtype(dtype)(np.float64(1.0) - np.float64(p))


# --- alpha dropout ------------------------------------------------------------------------
#: alpha' = -lambda * alpha of SELU (PyTorch's constant): the value dropped units take.
ALPHA_PRIME = -1.7580993408473766


def alpha_constants(p):
    """``(a, b, d)`` in float64 for ``0 <= p < 1``: kept ``x*a + b``, dropped ``d``, with
    ``a = 1 / sqrt((1 - p) * (1 + p * alpha'**2))``, ``b = -a * alpha' * p``,
    ``d = a * alpha' + b``, each evaluated left to right exactly as written."""
    ap = ALPHA_PRIME
    a = 1.0 / math.sqrt((1.0 - p) * (1.0 + p * (ap * ap)))
    b = -a * ap * p
    d = a * ap + b
    return a, b, d


def alpha_grad_scale(p):
    """The gradient of alpha dropout where kept: ``a`` of :func:`alpha_constants` (0 at p = 1,
    where nothing is kept)."""
    return alpha_constants(p)[0] if p < 1.0 else 0.0


# --- Gaussian dropout ---------------------------------------------------------------------
def gaussian_sigma(p):
    """The noise's standard deviation ``sqrt(p / (1 - p))`` in float64, for ``0 <= p < 1``."""
    return math.sqrt(p / (1.0 - p))


# --- DropBlock ----------------------------------------------------------------------------
def dropblock_geometry(shape, block, data_format, valid_only):
    """``(N, C, S, K, G)`` of a DropBlock input of `shape` (4-D or 5-D) with `block` (one
    extent per spatial axis): spatial sizes S, the block K clipped to S, the seed grid G
    (``S - K + 1`` with `valid_only`, else S)."""
    if data_format == "channels_first":
        N, C, S = shape[0], shape[1], tuple(shape[2:])
    else:
        N, S, C = shape[0], tuple(shape[1:-1]), shape[-1]
    K = tuple(min(b, s) for b, s in zip(block, S))
    G = tuple(s - k + 1 if valid_only else s for s, k in zip(S, K))
    return N, C, S, K, G


def dropblock_seed_rate(p, S, K):
    """The seeds' drop probability ``min(gamma, 1)``, with
    ``gamma = p * prod(S) / prod(K) / prod(S - K + 1)`` in float64 evaluated left to right
    (S and K non-empty: the caller skips empty inputs)."""
    total = math.prod(S)
    area = math.prod(K)
    valid = math.prod(s - k + 1 for s, k in zip(S, K))
    return min(p * float(total) / float(area) / float(valid), 1.0)


def dropblock_scale(n, kept, p, scale):
    """The scale of kept values: ``n / kept`` (scale "count": exact integer counts, one float64
    division, 0 when nothing is kept) or ``1 / (1 - p)`` ("expected"; 0 at p = 1)."""
    if scale == "count":
        return float(n) / float(kept) if kept else 0.0
    return 1.0 / (1.0 - p) if p < 1.0 else 0.0
