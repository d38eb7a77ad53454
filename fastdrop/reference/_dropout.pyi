# Types of fastdrop.reference._dropout (implementation: _dropout.py; the docstrings there document
# the arguments). tests/test_typing.py checks with mypy.stubtest that these signatures match.
from typing import Literal, Optional, Tuple, overload


from fastdrop._typing import (
    ArrayLike,
    BoolArray,
    FloatArray,
    PackedMask,
    Probability,
    Seed,
    ShapeLike,
    Window,
)

__all__ = ["dropout", "dropout_mask", "dropout_backward"]

@overload
def dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    mode: Literal["inverted", "naive"] = ...,
    return_mask: Literal[False] = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
@overload
def dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    mode: Literal["inverted", "naive"] = ...,
    return_mask: Literal[True],
    window: Optional[Window] = ...,
) -> Tuple[FloatArray, PackedMask]: ...
@overload
def dropout_mask(
    shape: ShapeLike,
    p: Probability,
    *,
    seed: Seed,
    offset: Seed = ...,
    packed: Literal[True] = ...,
    window: Optional[Window] = ...,
) -> PackedMask: ...
@overload
def dropout_mask(
    shape: ShapeLike,
    p: Probability,
    *,
    seed: Seed,
    offset: Seed = ...,
    packed: Literal[False],
    window: Optional[Window] = ...,
) -> BoolArray: ...
def dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    mode: Literal["inverted", "naive"] = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
