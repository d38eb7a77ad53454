# Types of fastdrop._gaussian (implementation: _gaussian.py; the docstrings there document the arguments).
# tests/test_typing.py checks with mypy.stubtest that these signatures match the runtime ones.
from typing import Optional

from fastdrop._generator import Generator
from fastdrop._typing import (
    ArrayLike,
    FloatArray,
    Probability,
    Seed,
    Window,
)

__all__ = ["gaussian_dropout", "gaussian_dropout_backward"]

def gaussian_dropout(
    x: ArrayLike,
    p: Probability = ...,
    *,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    rng: Optional[Generator] = ...,
    training: bool = ...,
    out: Optional[FloatArray] = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
def gaussian_dropout_backward(
    grad: ArrayLike,
    p: Probability,
    *,
    seed: Optional[Seed] = ...,
    offset: Seed = ...,
    out: Optional[FloatArray] = ...,
    window: Optional[Window] = ...,
) -> FloatArray: ...
