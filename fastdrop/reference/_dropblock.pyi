# Types of fastdrop.reference._dropblock (implementation: _dropblock.py; the docstrings there document
# the arguments). tests/test_typing.py checks with mypy.stubtest that these signatures match.
from typing import Literal, Optional, Sequence, Tuple, overload


from fastdrop._typing import (
    ArrayLike,
    BlockSize,
    BoolArray,
    FloatArray,
    PackedMask,
    Probability,
    Seed,
    ShapeLike,
)

__all__ = [
    "dropblock_geometry",
    "dropblock_gamma",
    "dropblock_keep",
    "dropblock",
    "dropblock_backward",
]

def dropblock_geometry(
    shape: ShapeLike,
    block_size: BlockSize,
    data_format: Literal["channels_first", "channels_last"] = ...,
    valid_only: bool = ...,
) -> Tuple[int, int, Tuple[int, ...], Tuple[int, ...], Tuple[int, ...]]: ...
def dropblock_gamma(p: Probability, spatial: Sequence[int], block: Sequence[int]) -> float: ...
def dropblock_keep(
    shape: ShapeLike,
    p: Probability,
    block_size: BlockSize,
    *,
    seed: Seed,
    offset: Seed = ...,
    data_format: Literal["channels_first", "channels_last"] = ...,
    valid_only: bool = ...,
    share_channels: bool = ...,
) -> BoolArray: ...
@overload
def dropblock(
    x: ArrayLike,
    p: Probability,
    block_size: BlockSize,
    *,
    seed: Seed,
    offset: Seed = ...,
    data_format: Literal["channels_first", "channels_last"] = ...,
    valid_only: bool = ...,
    share_channels: bool = ...,
    scale: Literal["count", "expected"] = ...,
    training: bool = ...,
    return_mask: Literal[False] = ...,
) -> FloatArray: ...
@overload
def dropblock(
    x: ArrayLike,
    p: Probability,
    block_size: BlockSize,
    *,
    seed: Seed,
    offset: Seed = ...,
    data_format: Literal["channels_first", "channels_last"] = ...,
    valid_only: bool = ...,
    share_channels: bool = ...,
    scale: Literal["count", "expected"] = ...,
    training: bool = ...,
    return_mask: Literal[True],
) -> Tuple[FloatArray, PackedMask]: ...
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
) -> FloatArray: ...
