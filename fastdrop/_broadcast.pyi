# Types of fastdrop._broadcast (implementation: _broadcast.py; the docstrings there document the arguments).
# tests/test_typing.py checks with mypy.stubtest that these signatures match the runtime ones.
from typing import Any, List, Literal, Optional, SupportsIndex, Tuple, Union, overload

from fastdrop._generator import Generator
from fastdrop._typing import (
    ArrayLike,
    FloatArray,
    PackedMask,
    Probability,
    Seed,
    Window,
)

__all__ = [
    "spatial_dropout",
    "spatial_dropout_backward",
    "locked_dropout",
    "locked_dropout_backward",
    "embedding_dropout",
    "embedding_dropout_backward",
    "drop_path",
    "drop_path_backward",
    "drop_path_rates",
]

def forward(
    x: Any,
    p: Any,
    axes: Any,
    seed: Any,
    offset: Any,
    rng: Any,
    training: Any,
    out: Any,
    return_mask: Any,
    kind: Any,
    window: Any = ...,
) -> Any: ...
def backward(
    grad: Any,
    p: Any,
    axes: Any,
    mask: Any,
    seed: Any,
    offset: Any,
    out: Any,
    kind: Any,
    what: Any,
    window: Any = ...,
) -> Any: ...
def channel_axes(ndim: int, data_format: str) -> Tuple[int, ...]: ...
@overload
def spatial_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[False] = ...,
) -> FloatArray: ...
@overload
def spatial_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[True],
) -> Tuple[FloatArray, PackedMask]: ...
@overload
def spatial_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: bool,
) -> Union[FloatArray, Tuple[FloatArray, PackedMask]]: ...
def spatial_dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    out: Optional[FloatArray] = ...,
) -> FloatArray: ...
@overload
def locked_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    time_axis: SupportsIndex = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[False] = ...,
) -> FloatArray: ...
@overload
def locked_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    time_axis: SupportsIndex = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[True],
) -> Tuple[FloatArray, PackedMask]: ...
@overload
def locked_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    time_axis: SupportsIndex = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: bool,
) -> Union[FloatArray, Tuple[FloatArray, PackedMask]]: ...
def locked_dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    time_axis: SupportsIndex = ...,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    out: Optional[FloatArray] = ...,
) -> FloatArray: ...
@overload
def embedding_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[False] = ...,
) -> FloatArray: ...
@overload
def embedding_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[True],
) -> Tuple[FloatArray, PackedMask]: ...
@overload
def embedding_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: bool,
) -> Union[FloatArray, Tuple[FloatArray, PackedMask]]: ...
def embedding_dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    out: Optional[FloatArray] = ...,
) -> FloatArray: ...
@overload
def drop_path(
    x: ArrayLike,
    p: Probability,
    *,
    scale_by_keep: bool = ...,
    mode: Literal["row", "batch"] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[False] = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
@overload
def drop_path(
    x: ArrayLike,
    p: Probability,
    *,
    scale_by_keep: bool = ...,
    mode: Literal["row", "batch"] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[True],
    window: Optional[Window] = ...,
) -> Tuple[FloatArray, PackedMask]: ...
@overload
def drop_path(
    x: ArrayLike,
    p: Probability,
    *,
    scale_by_keep: bool = ...,
    mode: Literal["row", "batch"] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: bool,
    window: Optional[Window] = ...,
) -> Union[FloatArray, Tuple[FloatArray, PackedMask]]: ...
def drop_path_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    scale_by_keep: bool = ...,
    mode: Literal["row", "batch"] = ...,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    out: Optional[FloatArray] = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
def drop_path_rates(depth: SupportsIndex, p_max: Probability) -> List[float]: ...
