"""fastdrop: fused, bitwise-reproducible dropout for NumPy arrays on the CPU.

Every mask is a pure function of (seed, offset, element index) through the counter-based
Philox4x32-10 generator: the same bits for any thread count, SIMD path or machine
(docs/contract.md). ``fastdrop.reference`` is a pure-NumPy twin of every kernel.
"""
__version__ = "0.1.0"

from fastdrop._api import dropout, dropout_backward, dropout_mask
from fastdrop._config import (
    config, get_isa, get_num_threads, set_isa, set_num_threads, show_config, supported_isas,
)
from fastdrop._generator import Generator, default_generator, manual_seed
from fastdrop import reference

__all__ = [
    "dropout", "dropout_mask", "dropout_backward", "Generator", "default_generator",
    "manual_seed", "set_num_threads", "get_num_threads", "set_isa", "get_isa",
    "supported_isas", "show_config", "config", "reference", "__version__",
]
