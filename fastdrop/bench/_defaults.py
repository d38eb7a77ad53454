"""What the profile measures by default (ops and their labels, sizes, dtypes, seed, the
structured ops' shapes and targets) and how sizes are written (2^20, 1M, 64k)."""
from __future__ import annotations

import argparse
import re


OPS = ("forward", "forward_mask", "backward_mask", "backward_regen", "mask")
OP_LABELS = {
    "forward": "forward",
    "forward_mask": "forward + packed mask",
    "backward_mask": "backward, packed mask",
    "backward_regen": "backward, regenerated",
    "mask": "dropout_mask (packed)",
    "roofline": "roofline (scaled copy)",
    "roofline_streaming": "roofline, streaming stores",
}
STRUCT_OPS = ("spatial_dropout", "drop_path", "dropblock", "dropblock_shared", "alpha_dropout",
              "gaussian_dropout")
OP_LABELS.update({
    "spatial_dropout": "spatial_dropout (Dropout2d)",
    "drop_path": "drop_path (per sample)",
    "dropblock": "dropblock 2-D, block 7",
    "dropblock_shared": "dropblock 2-D, block 7, share_channels",
    "alpha_dropout": "alpha_dropout",
    "gaussian_dropout": "gaussian_dropout",
})
STRUCT_SHAPE = (32, 64, 56, 56)        # the structured benchmark's feature-map shape (float32)
STRUCT_FLAT = 1 << 24                  # the benchmark size for alpha / Gaussian dropout
QUICK_STRUCT_SHAPE = (2, 8, 28, 28)
QUICK_STRUCT_FLAT = 1 << 16
STRUCT_P = 0.1                         # drop probability of the structured ops (DropBlock's usual 0.1)
DROPBLOCK_SIZE = 7
# targets as "1 thread / 2 threads" where they differ
STRUCT_TARGETS = {"spatial_dropout": "≥ 0.85", "drop_path": "≥ 0.85",
                  "dropblock": "≥ 0.45 / ≥ 0.65", "dropblock_shared": "≥ 0.6",
                  "alpha_dropout": "≥ 0.90 / ≥ 0.95", "gaussian_dropout": "≥ 0.40 / ≥ 0.60"}
DTYPES = ("float32", "float64", "float16")
DEFAULT_SIZES = (1 << 16, 1 << 20, 1 << 24)
FULL_EXTRA_SIZES = (1 << 27,)
QUICK_SIZES = (1 << 12, 1 << 17)
NUMPY_MAX = 1 << 24         # the NumPy idiom is measured up to here (a 2^27 call takes seconds)
FULL_CHECK_MAX = 1 << 20    # whole-array reference check up to here, windows above
CHECK_WINDOW = 1 << 15
SEED = 0x0123456789ABCDEF   # both Philox key words non-zero
P = 0.5


def _log2(n):
    return int(n).bit_length() - 1 if n > 0 and n & (n - 1) == 0 else None


def fmt_size(n):
    k = _log2(n)
    return f"2^{k}" if k is not None and k >= 10 else str(n)


def parse_size(text):
    text = text.strip().replace("**", "^")
    m = re.fullmatch(r"(\d+)\s*\^\s*(\d+)", text)
    if m:
        return int(m.group(1)) ** int(m.group(2))
    m = re.fullmatch(r"(\d+)\s*([kKmMgG]?)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use 2^20, 1048576, 1M or 64k")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    return int(m.group(1)) * mult
