# Types of fastdrop.reference._gaussian (implementation: _gaussian.py; the docstrings there document
# the arguments). tests/test_typing.py checks with mypy.stubtest that these signatures match.
from typing import Optional, SupportsIndex, Tuple

import numpy as np
import numpy.typing as npt

from fastdrop._typing import (
    ArrayLike,
    FloatArray,
    Probability,
    Seed,
    ShapeLike,
    Window,
)

__all__ = [
    "contract_log1p",
    "contract_sincos",
    "contract_radius2",
    "contract_normals",
    "standard_normals",
    "standard_normals_window",
    "gaussian_sigma",
    "gaussian_dropout",
    "gaussian_dropout_backward",
]

def contract_log1p(f: ArrayLike) -> npt.NDArray[np.float32]: ...
def contract_sincos(t: ArrayLike) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...
def contract_radius2(U: ArrayLike) -> npt.NDArray[np.float32]: ...
def contract_normals(words: ArrayLike) -> npt.NDArray[np.float32]: ...
def standard_normals(
    n: SupportsIndex, seed: Seed, offset: Seed = ...
) -> npt.NDArray[np.float32]: ...
def gaussian_sigma(p: Probability) -> float: ...
def gaussian_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
def gaussian_dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    seed: Seed,
    offset: Seed = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
def standard_normals_window(
    shape: ShapeLike, seed: Seed, offset: Seed = ..., *, global_shape: ShapeLike, origin: ShapeLike
) -> npt.NDArray[np.float32]: ...
