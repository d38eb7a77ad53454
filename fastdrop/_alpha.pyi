# Types of fastdrop._alpha (implementation: _alpha.py; the docstrings there document the arguments).
# tests/test_typing.py checks with mypy.stubtest that these signatures match the runtime ones.
from typing import Literal, Optional, Tuple, Union, overload

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
    "alpha_dropout",
    "alpha_dropout_backward",
    "feature_alpha_dropout",
    "feature_alpha_dropout_backward",
]

@overload
def alpha_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[False] = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
@overload
def alpha_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: Literal[True],
    window: Optional[Window] = ...,
) -> Tuple[FloatArray, PackedMask]: ...
@overload
def alpha_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    return_mask: bool,
    window: Optional[Window] = ...,
) -> Union[FloatArray, Tuple[FloatArray, PackedMask]]: ...
def alpha_dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    out: Optional[FloatArray] = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
@overload
def feature_alpha_dropout(
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
    window: Optional[Window] = ...,
) -> FloatArray: ...
@overload
def feature_alpha_dropout(
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
    window: Optional[Window] = ...,
) -> Tuple[FloatArray, PackedMask]: ...
@overload
def feature_alpha_dropout(
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
    window: Optional[Window] = ...,
) -> Union[FloatArray, Tuple[FloatArray, PackedMask]]: ...
def feature_alpha_dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    out: Optional[FloatArray] = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
