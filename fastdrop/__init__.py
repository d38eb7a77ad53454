"""fastdrop: fused, bitwise-reproducible dropout for NumPy arrays on the CPU.

Every mask is a pure function of (seed, offset, element index) through the counter-based
Philox4x32-10 generator: the same bits for any thread count, SIMD path or machine
(docs/contract.md). ``fastdrop.reference`` is a pure-NumPy twin of every kernel.
"""
from fastdrop._version import __version__
from fastdrop._config import (
    config, get_isa, get_num_threads, set_isa, set_num_threads, show_config, supported_isas,
)
from fastdrop._generator import Generator, default_generator, manual_seed
from fastdrop._dropout import dropout, dropout_backward, dropout_mask
from fastdrop._broadcast import (
    drop_path, drop_path_backward, drop_path_rates, embedding_dropout,
    embedding_dropout_backward, locked_dropout, locked_dropout_backward, spatial_dropout,
    spatial_dropout_backward,
)
from fastdrop._dropblock import dropblock, dropblock_backward, dropblock_schedule
from fastdrop._alpha import (
    alpha_dropout, alpha_dropout_backward, feature_alpha_dropout, feature_alpha_dropout_backward,
)
from fastdrop._gaussian import gaussian_dropout, gaussian_dropout_backward
from fastdrop import reference  # the public pure-NumPy twin; no production module imports it
from fastdrop import layers
from fastdrop.mc import mc_dropout
from fastdrop._tune import get_stream_threshold, set_stream_threshold, tune
from fastdrop import _tune

_tune.init_from_environment()  # FASTDROP_STREAM_THRESHOLD, and the saved plan of this CPU

__all__ = [
    "dropout", "dropout_mask", "dropout_backward", "Generator", "default_generator",
    "manual_seed", "set_num_threads", "get_num_threads", "set_isa", "get_isa",
    "supported_isas", "show_config", "config", "reference", "__version__",
    "layers", "mc_dropout", "tune", "set_stream_threshold", "get_stream_threshold",
]
__all__ += [  # structured dropout (fastdrop._broadcast, _dropblock, _alpha, _gaussian)
    "spatial_dropout", "spatial_dropout_backward", "locked_dropout", "locked_dropout_backward",
    "embedding_dropout", "embedding_dropout_backward", "drop_path", "drop_path_backward",
    "drop_path_rates", "dropblock", "dropblock_backward", "dropblock_schedule", "alpha_dropout",
    "alpha_dropout_backward", "feature_alpha_dropout", "feature_alpha_dropout_backward",
    "gaussian_dropout", "gaussian_dropout_backward",
]
