# Types of fastdrop.reference._broadcast (implementation: _broadcast.py; the docstrings there document
# the arguments). tests/test_typing.py checks with mypy.stubtest that these signatures match.
from typing import Any, Literal, Optional, SupportsIndex, Tuple, overload


from fastdrop._typing import (
    ArrayLike,
    Axes,
    FloatArray,
    PackedMask,
    Probability,
    Seed,
    ShapeLike,
)

__all__ = [
    "reduced_shape",
    "broadcast_dropout",
    "broadcast_dropout_backward",
    "spatial_axes",
    "spatial_dropout",
    "spatial_dropout_backward",
    "locked_dropout",
    "locked_dropout_backward",
    "embedding_dropout",
    "embedding_dropout_backward",
    "drop_path",
    "drop_path_backward",
]

def reduced_shape(shape: ShapeLike, broadcast_axes: Axes) -> Tuple[int, ...]: ...
@overload
def broadcast_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    broadcast_axes: Axes,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    mode: Literal["inverted", "naive"] = ...,
    return_mask: Literal[False] = ...,
) -> FloatArray: ...
@overload
def broadcast_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    broadcast_axes: Axes,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    mode: Literal["inverted", "naive"] = ...,
    return_mask: Literal[True],
) -> Tuple[FloatArray, PackedMask]: ...
def broadcast_dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    broadcast_axes: Axes,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    mode: Literal["inverted", "naive"] = ...,
) -> FloatArray: ...
def spatial_axes(
    ndim: int, data_format: Literal["channels_first", "channels_last"] = ...
) -> Tuple[int, ...]: ...
@overload
def spatial_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    return_mask: Literal[False] = ...,
) -> FloatArray: ...
@overload
def spatial_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    return_mask: Literal[True],
) -> Tuple[FloatArray, PackedMask]: ...
def spatial_dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
) -> FloatArray: ...
@overload
def locked_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    time_axis: SupportsIndex = ...,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    return_mask: Literal[False] = ...,
) -> FloatArray: ...
@overload
def locked_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    time_axis: SupportsIndex = ...,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    return_mask: Literal[True],
) -> Tuple[FloatArray, PackedMask]: ...
def locked_dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    time_axis: SupportsIndex = ...,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
) -> FloatArray: ...
@overload
def embedding_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    return_mask: Literal[False] = ...,
) -> FloatArray: ...
@overload
def embedding_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    return_mask: Literal[True],
) -> Tuple[FloatArray, PackedMask]: ...
def embedding_dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
) -> FloatArray: ...
@overload
def drop_path(
    x: ArrayLike,
    p: Probability,
    *,
    scale_by_keep: bool = ...,
    mode: Literal["row", "batch"] = ...,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    return_mask: Literal[False] = ...,
) -> FloatArray: ...
@overload
def drop_path(
    x: ArrayLike,
    p: Probability,
    *,
    scale_by_keep: bool = ...,
    mode: Literal["row", "batch"] = ...,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    return_mask: Literal[True],
) -> Tuple[FloatArray, PackedMask]: ...
def drop_path_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    scale_by_keep: bool = ...,
    mode: Literal["row", "batch"] = ...,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
) -> FloatArray: ...
def reduce_window(window: Any, axes: Any) -> Any: ...
