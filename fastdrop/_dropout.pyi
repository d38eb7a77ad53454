# Types of fastdrop._dropout (implementation: _dropout.py; the docstrings there document the arguments).
# tests/test_typing.py checks with mypy.stubtest that these signatures match the runtime ones.
from typing import Literal, Optional, Tuple, Union, overload

from fastdrop._generator import Generator
from fastdrop._typing import (
    ArrayLike,
    Axes,
    BoolArray,
    FloatArray,
    NoiseShape,
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
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    mode: Literal["inverted", "naive"] = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[False] = ...,
    broadcast_axes: Optional[Axes] = ...,
    noise_shape: Optional[NoiseShape] = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
@overload
def dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    mode: Literal["inverted", "naive"] = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[True],
    broadcast_axes: Optional[Axes] = ...,
    noise_shape: Optional[NoiseShape] = ...,
    window: Optional[Window] = ...,
) -> Tuple[FloatArray, PackedMask]: ...
@overload
def dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    mode: Literal["inverted", "naive"] = ...,
    out: Optional[FloatArray] = ...,
    return_mask: bool,
    broadcast_axes: Optional[Axes] = ...,
    noise_shape: Optional[NoiseShape] = ...,
    window: Optional[Window] = ...,
) -> Union[FloatArray, Tuple[FloatArray, PackedMask]]: ...
def dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    mode: Literal["inverted", "naive"] = ...,
    out: Optional[FloatArray] = ...,
    broadcast_axes: Optional[Axes] = ...,
    noise_shape: Optional[NoiseShape] = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
@overload
def dropout_mask(
    shape: ShapeLike,
    p: Probability,
    *,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    packed: Literal[True] = ...,
    window: Optional[Window] = ...,
) -> PackedMask: ...
@overload
def dropout_mask(
    shape: ShapeLike,
    p: Probability,
    *,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    packed: Literal[False],
    window: Optional[Window] = ...,
) -> BoolArray: ...
@overload
def dropout_mask(
    shape: ShapeLike,
    p: Probability,
    *,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    packed: bool,
    window: Optional[Window] = ...,
) -> Union[PackedMask, BoolArray]: ...
