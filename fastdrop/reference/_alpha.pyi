# Types of fastdrop.reference._alpha (implementation: _alpha.py; the docstrings there document
# the arguments). tests/test_typing.py checks with mypy.stubtest that these signatures match.
from typing import Literal, Optional, Tuple, overload


from fastdrop._typing import (
    ArrayLike,
    FloatArray,
    PackedMask,
    Probability,
    Seed,
    Window,
)

__all__ = [
    "ALPHA_PRIME",
    "alpha_constants",
    "alpha_dropout",
    "alpha_dropout_backward",
    "feature_alpha_dropout",
    "feature_alpha_dropout_backward",
]

ALPHA_PRIME: float

def alpha_constants(p: Probability) -> Tuple[float, float, float]: ...
@overload
def alpha_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    return_mask: Literal[False] = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
@overload
def alpha_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    return_mask: Literal[True],
    window: Optional[Window] = ...,
) -> Tuple[FloatArray, PackedMask]: ...
def alpha_dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
@overload
def feature_alpha_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    return_mask: Literal[False] = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
@overload
def feature_alpha_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    seed: Seed,
    offset: Seed = ...,
    training: bool = ...,
    return_mask: Literal[True],
    window: Optional[Window] = ...,
) -> Tuple[FloatArray, PackedMask]: ...
def feature_alpha_dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    data_format: Literal["channels_first", "channels_last"] = ...,
    mask: Optional[PackedMask] = ...,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
