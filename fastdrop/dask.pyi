# Types of fastdrop.dask (implementation: dask.py; the docstrings there document the arguments).
# tests/test_typing.py checks with mypy.stubtest that these signatures match the runtime ones.
from typing import Any, Literal, Optional, SupportsIndex, Tuple, Union, overload

import dask.array as da

from fastdrop._typing import ArrayLike, Axes, BlockSize, Probability, Seed, ShapeLike

#: A Dask array, or anything :func:`fastdrop.dropout` accepts (converted as NumPy does).
_DaskInput = Union[da.Array, ArrayLike]

__all__ = [
    "dropout",
    "dropout_backward",
    "dropout_mask",
    "broadcast_dropout",
    "broadcast_dropout_backward",
    "spatial_dropout",
    "spatial_dropout_backward",
    "locked_dropout",
    "locked_dropout_backward",
    "embedding_dropout",
    "embedding_dropout_backward",
    "drop_path",
    "drop_path_backward",
    "alpha_dropout",
    "alpha_dropout_backward",
    "feature_alpha_dropout",
    "feature_alpha_dropout_backward",
    "gaussian_dropout",
    "gaussian_dropout_backward",
    "dropblock",
    "dropblock_backward",
]

@overload
def dropout(
    x: _DaskInput,
    p: Probability = ...,
    *,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    mode: Literal["inverted", "naive"] = ...,
    return_mask: Literal[False] = ...,
) -> da.Array: ...
@overload
def dropout(
    x: _DaskInput,
    p: Probability = ...,
    *,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    mode: Literal["inverted", "naive"] = ...,
    return_mask: Literal[True],
) -> Tuple[da.Array, da.Array]: ...
@overload
def dropout(
    x: _DaskInput,
    p: Probability = ...,
    *,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    mode: Literal["inverted", "naive"] = ...,
    return_mask: bool = ...,
) -> Union[da.Array, Tuple[da.Array, da.Array]]: ...
def dropout_mask(
    shape: ShapeLike, p: Probability, *, seed: Seed, offset: Seed = ..., chunks: Any = ...
) -> da.Array: ...
def dropout_backward(
    grad: _DaskInput,
    p: Probability,
    *,
    mask: Optional[_DaskInput] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    mode: Literal["inverted", "naive"] = ...,
) -> da.Array: ...
def broadcast_dropout(
    x: _DaskInput,
    p: Probability = ...,
    *,
    broadcast_axes: Axes,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    mode: Literal["inverted", "naive"] = ...,
) -> da.Array: ...
def broadcast_dropout_backward(
    grad: _DaskInput,
    p: Probability,
    *,
    broadcast_axes: Axes,
    seed: Seed,
    offset: Seed = ...,
    mode: Literal["inverted", "naive"] = ...,
) -> da.Array: ...
def spatial_dropout(
    x: _DaskInput,
    p: Probability = ...,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
) -> da.Array: ...
def spatial_dropout_backward(
    grad: _DaskInput,
    p: Probability,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    seed: Seed,
    offset: Seed = ...,
) -> da.Array: ...
def locked_dropout(
    x: _DaskInput,
    p: Probability = ...,
    *,
    time_axis: SupportsIndex = ...,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
) -> da.Array: ...
def locked_dropout_backward(
    grad: _DaskInput,
    p: Probability,
    *,
    time_axis: SupportsIndex = ...,
    seed: Seed,
    offset: Seed = ...,
) -> da.Array: ...
def embedding_dropout(
    x: _DaskInput, p: Probability = ..., *, seed: Seed, offset: Seed = ..., training: bool = ...
) -> da.Array: ...
def embedding_dropout_backward(
    grad: _DaskInput, p: Probability, *, seed: Seed, offset: Seed = ...
) -> da.Array: ...
def drop_path(
    x: _DaskInput,
    p: Probability,
    *,
    scale_by_keep: bool = ...,
    mode: Literal["row", "batch"] = ...,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
) -> da.Array: ...
def drop_path_backward(
    grad: _DaskInput,
    p: Probability,
    *,
    scale_by_keep: bool = ...,
    mode: Literal["row", "batch"] = ...,
    seed: Seed,
    offset: Seed = ...,
) -> da.Array: ...
def alpha_dropout(
    x: _DaskInput, p: Probability = ..., *, seed: Seed, offset: Seed = ..., training: bool = ...
) -> da.Array: ...
def alpha_dropout_backward(
    grad: _DaskInput, p: Probability, *, seed: Seed, offset: Seed = ...
) -> da.Array: ...
def feature_alpha_dropout(
    x: _DaskInput,
    p: Probability = ...,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
) -> da.Array: ...
def feature_alpha_dropout_backward(
    grad: _DaskInput,
    p: Probability,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    seed: Seed,
    offset: Seed = ...,
) -> da.Array: ...
def gaussian_dropout(
    x: _DaskInput, p: Probability = ..., *, seed: Seed, offset: Seed = ..., training: bool = ...
) -> da.Array: ...
def gaussian_dropout_backward(
    grad: _DaskInput, p: Probability, *, seed: Seed, offset: Seed = ...
) -> da.Array: ...
def dropblock(
    x: _DaskInput,
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
) -> da.Array: ...
def dropblock_backward(
    grad: _DaskInput,
    p: Probability,
    block_size: BlockSize,
    *,
    seed: Seed,
    offset: Seed = ...,
    data_format: Literal["channels_first", "channels_last"] = ...,
    valid_only: bool = ...,
    share_channels: bool = ...,
    scale: Literal["count", "expected"] = ...,
) -> da.Array: ...
