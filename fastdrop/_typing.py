"""Type aliases of the public API (for annotations; nothing here runs at call time).

``FloatArray`` is what every function returns (float16, float32 or float64, the input's dtype),
``PackedMask`` the ``uint8`` masks of ``return_mask=True``. Inputs are NumPy array-likes
(``numpy.typing.ArrayLike``): the functions reject non-float dtypes with ``TypeError`` at run
time, which a type checker cannot see for a plain ``ndarray``.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence, SupportsIndex, Tuple, Union

import numpy as np
import numpy.typing as npt

__all__ = ["ArrayLike", "FloatArray", "PackedMask", "BoolArray", "Seed", "Probability",
           "ShapeLike", "Window", "Axes", "BlockSize", "NoiseShape",
           "PSchedule"]

ArrayLike = npt.ArrayLike
#: A float16, float32 or float64 array (what every dropout function returns).
FloatArray = npt.NDArray[np.floating[Any]]
#: A packed keep mask: ``np.packbits(keep.ravel(), bitorder="little")``.
PackedMask = npt.NDArray[np.uint8]
#: A boolean keep mask (True = kept).
BoolArray = npt.NDArray[np.bool_]
#: A Philox seed or offset: an integer in ``[0, 2**64)``.
Seed = Union[int, np.integer[Any]]
#: A drop probability in ``[0, 1]``.
Probability = Union[float, np.floating[Any]]
#: A shape: an integer or a sequence of integers.
ShapeLike = Union[SupportsIndex, Sequence[SupportsIndex]]
#: ``(global_shape, origin)``: the block's place in a larger array.
Window = Tuple[Sequence[SupportsIndex], Sequence[SupportsIndex]]
#: One axis or several.
Axes = Union[SupportsIndex, Sequence[SupportsIndex]]
#: DropBlock's block edge: one integer, or one per spatial axis.
BlockSize = Union[SupportsIndex, Sequence[SupportsIndex]]
#: Keras-style ``noise_shape``: per axis 1 (broadcast), or None / the size (do not).
NoiseShape = Sequence[Union[SupportsIndex, None]]
#: A layer's drop probability: a number, or a schedule ``p(step) -> probability``.
PSchedule = Union[float, np.floating[Any], Callable[[int], float]]
