# Types of fastdrop._dropblock (implementation: _dropblock.py; the docstrings there document the arguments).
# tests/test_typing.py checks with mypy.stubtest that these signatures match the runtime ones.
from typing import Any, Literal, Optional, SupportsIndex, Tuple, Union, overload

from fastdrop._generator import Generator
from fastdrop._typing import (
    ArrayLike,
    BlockSize,
    FloatArray,
    PackedMask,
    Probability,
    Seed,
    Window,
)

__all__ = ["dropblock", "dropblock_backward", "dropblock_schedule"]

def window_kept_count(
    win: Any,
    p: Any,
    S: Any,
    K: Any,
    G: Any,
    data_format: Any,
    valid_only: Any,
    share_channels: Any,
    seed: Any,
    offset: Any,
) -> int: ...
@overload
def dropblock(
    x: ArrayLike,
    p: Probability,
    block_size: BlockSize,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    valid_only: bool = ...,
    share_channels: bool = ...,
    scale: Literal["count", "expected"] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[False] = ...,
    window: Optional[Window] = ...,
    kept_count: Optional[SupportsIndex] = ...,
) -> FloatArray: ...
@overload
def dropblock(
    x: ArrayLike,
    p: Probability,
    block_size: BlockSize,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    valid_only: bool = ...,
    share_channels: bool = ...,
    scale: Literal["count", "expected"] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[True],
    window: Optional[Window] = ...,
    kept_count: Optional[SupportsIndex] = ...,
) -> Tuple[FloatArray, PackedMask]: ...
@overload
def dropblock(
    x: ArrayLike,
    p: Probability,
    block_size: BlockSize,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    valid_only: bool = ...,
    share_channels: bool = ...,
    scale: Literal["count", "expected"] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: bool,
    window: Optional[Window] = ...,
    kept_count: Optional[SupportsIndex] = ...,
) -> Union[FloatArray, Tuple[FloatArray, PackedMask]]: ...
def dropblock_backward(
    grad: ArrayLike,
    p: Probability,
    block_size: BlockSize,
    *,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    data_format: Literal["channels_first", "channels_last"] = ...,
    valid_only: bool = ...,
    share_channels: bool = ...,
    scale: Literal["count", "expected"] = ...,
    out: Optional[FloatArray] = ...,
    window: Optional[Window] = ...,
    kept_count: Optional[SupportsIndex] = ...,
) -> FloatArray: ...
def dropblock_schedule(
    step: SupportsIndex, total_steps: SupportsIndex, p_final: Probability, start: Probability = ...
) -> float: ...
