"""Pure-NumPy reference implementation of the fastdrop mask contract.

This package is the executable form of ``docs/contract.md``. It is written for
clarity rather than speed, but it is vectorised (``uint64`` arithmetic on whole
arrays, no Python loop per element), so drawing a few million words takes a
fraction of a second. The compiled kernels must agree with it bit for bit.

Summary of the contract
-----------------------
* Random words come from Philox4x32-10 exactly as in Random123.
* Key ``(seed mod 2**32, seed >> 32)`` for an integer seed in ``[0, 2**64)``.
* The element with C-order flat index ``i`` has global index ``g = offset + i``
  and uses 32-bit word ``g mod 4`` of the block with counter
  ``((g div 4) mod 2**32, (g div 4) >> 32, stream, 0)``.
* Threshold ``t = floor(p * 2**32)``; an element is kept iff its word
  ``u >= t``. ``p == 1`` drops everything and draws no words.
* Output values use select semantics: dropped elements are ``+0.0`` whatever
  the input (NaN and inf included).
* The packed mask is ``np.packbits(keep.ravel(), bitorder="little")``.

Layout
------
Every name is importable from here (``fastdrop.reference.dropout``...). The
submodules mirror the production modules file for file, and share nothing with
them: ``_contract`` (Philox, words, keep decisions, output rules, windows),
``_dropout``, ``_broadcast`` (spatial, locked, embedding dropout, drop_path),
``_alpha``, ``_gaussian`` and ``_dropblock``.
"""

from __future__ import annotations

# Bound here by the single-module reference of fastdrop <= 0.2.0 (``fastdrop.reference.np``
# and the like kept working).
import math  # noqa: F401
import operator  # noqa: F401

import numpy as np  # noqa: F401

from fastdrop.reference._contract import (
    DATA_FORMATS, PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1, STREAM_DROPBLOCK,
    STREAM_DROPOUT, STREAM_GAUSSIAN, compute_dtype, keep_mask, keep_mask_window, philox4x32_10,
    random_words, random_words_at, scale_for, threshold, window_indices,
)
from fastdrop.reference._dropout import dropout, dropout_backward, dropout_mask
from fastdrop.reference._broadcast import (
    broadcast_dropout, broadcast_dropout_backward, drop_path, drop_path_backward, embedding_dropout,
    embedding_dropout_backward, locked_dropout, locked_dropout_backward, reduced_shape,
    spatial_axes, spatial_dropout, spatial_dropout_backward,
)
from fastdrop.reference._alpha import (
    ALPHA_PRIME, alpha_constants, alpha_dropout, alpha_dropout_backward, feature_alpha_dropout,
    feature_alpha_dropout_backward,
)
from fastdrop.reference._gaussian import (
    contract_log1p, contract_normals, contract_radius2, contract_sincos, gaussian_dropout,
    gaussian_dropout_backward, gaussian_sigma, standard_normals, standard_normals_window,
)
from fastdrop.reference._dropblock import (
    dropblock, dropblock_backward, dropblock_gamma, dropblock_geometry, dropblock_keep,
)

__all__ = [
    # the core contract (_contract) and plain dropout (_dropout)
    "PHILOX_M0", "PHILOX_M1", "PHILOX_W0", "PHILOX_W1", "PHILOX_ROUNDS", "philox4x32_10",
    "random_words", "threshold", "keep_mask", "compute_dtype", "scale_for", "dropout",
    "dropout_mask", "dropout_backward",
    # structured dropout (_contract, _broadcast, _alpha, _gaussian, _dropblock)
    "STREAM_DROPOUT", "STREAM_DROPBLOCK", "STREAM_GAUSSIAN", "DATA_FORMATS", "reduced_shape",
    "broadcast_dropout", "broadcast_dropout_backward", "spatial_axes", "spatial_dropout",
    "spatial_dropout_backward", "locked_dropout", "locked_dropout_backward", "embedding_dropout",
    "embedding_dropout_backward", "drop_path", "drop_path_backward", "ALPHA_PRIME",
    "alpha_constants", "alpha_dropout", "alpha_dropout_backward", "feature_alpha_dropout",
    "feature_alpha_dropout_backward", "contract_log1p", "contract_sincos", "contract_radius2",
    "contract_normals", "standard_normals", "gaussian_sigma", "gaussian_dropout",
    "gaussian_dropout_backward", "dropblock_geometry", "dropblock_gamma", "dropblock_keep",
    "dropblock", "dropblock_backward",
    # windows: a block of a larger virtual array (_contract, _gaussian)
    "window_indices", "random_words_at", "keep_mask_window", "standard_normals_window",
]
