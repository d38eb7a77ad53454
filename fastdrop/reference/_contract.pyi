# Types of fastdrop.reference._contract (implementation: _contract.py; the docstrings there document
# the arguments). tests/test_typing.py checks with mypy.stubtest that these signatures match.
from typing import Any, SupportsIndex, Tuple

import numpy as np
import numpy.typing as npt
from numpy.typing import DTypeLike

from fastdrop._typing import (
    ArrayLike,
    BoolArray,
    Probability,
    Seed,
    ShapeLike,
)

__all__ = [
    "PHILOX_M0",
    "PHILOX_M1",
    "PHILOX_W0",
    "PHILOX_W1",
    "PHILOX_ROUNDS",
    "STREAM_DROPOUT",
    "STREAM_DROPBLOCK",
    "STREAM_GAUSSIAN",
    "DATA_FORMATS",
    "philox4x32_10",
    "random_words",
    "threshold",
    "keep_mask",
    "compute_dtype",
    "scale_for",
    "window_indices",
    "random_words_at",
    "keep_mask_window",
]

PHILOX_M0: int
PHILOX_M1: int
PHILOX_W0: int
PHILOX_W1: int
PHILOX_ROUNDS: int
STREAM_DROPOUT: int
STREAM_DROPBLOCK: int
STREAM_GAUSSIAN: int
DATA_FORMATS: Tuple[str, ...]

def philox4x32_10(counter: ArrayLike, key: ArrayLike) -> npt.NDArray[np.uint32]: ...
def check_seed(seed: Any) -> Any: ...
def check_offset(offset: Any, n: Any) -> Any: ...
def check_p(p: Any) -> Any: ...
def size(shape: Any) -> Any: ...
def as_shape(shape: Any) -> Any: ...
def random_words(
    n: SupportsIndex, seed: Seed, offset: Seed = ..., stream: int = ...
) -> npt.NDArray[np.uint32]: ...
def threshold(p: Probability) -> int: ...
def keep_mask(
    shape: ShapeLike, p: Probability, seed: Seed, offset: Seed = ..., stream: int = ...
) -> BoolArray: ...
def compute_dtype(dtype: DTypeLike) -> np.dtype[Any]: ...
def scale_for(p: Probability, dtype: DTypeLike) -> np.floating[Any]: ...
def naive_factor(p: Any, dtype: Any) -> Any: ...
def c_order(a: Any) -> Any: ...
def scaled_select(keep: Any, x: Any, factor: Any) -> Any: ...
def select(keep: Any, x: Any) -> Any: ...
def check_mode(mode: Any) -> Any: ...
def pack(keep: Any) -> Any: ...
def unpack(mask: Any, n: Any, shape: Any) -> Any: ...
def c_copy(x: Any) -> Any: ...
def window_indices(
    shape: ShapeLike, global_shape: ShapeLike, origin: ShapeLike
) -> npt.NDArray[np.uint64]: ...
def random_words_at(g: ArrayLike, seed: Seed, stream: int = ...) -> npt.NDArray[np.uint32]: ...
def keep_mask_window(
    shape: ShapeLike,
    p: Probability,
    seed: Seed,
    offset: Seed = ...,
    *,
    global_shape: ShapeLike,
    origin: ShapeLike,
    stream: int = ...,
) -> BoolArray: ...
def keep_maybe_window(shape: Any, p: Any, seed: Any, offset: Any, window: Any) -> Any: ...
