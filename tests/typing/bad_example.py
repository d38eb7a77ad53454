"""Wrong calls that mypy must reject: tests/test_typing.py checks that mypy reports an error
on each line marked E, and on no other."""
from __future__ import annotations

import numpy as np

import fastdrop as fd
from fastdrop.layers import Dropout

x = np.ones(8, np.float32)
fd.dropout(x, "0.5", seed="abc")  # E: p and seed of the wrong type
fd.dropout(x, 0.5, mode="invertd")  # E: not a mode
fd.dropout(x, 0.5, sed=1)  # E: no such keyword
fd.dropout_backward(x, 0.5, mask=[1, 0])  # E: a packed uint8 array, not a list
fd.Generator("seed")  # E: the seed is an integer
fd.spatial_dropout(x, 0.1, data_format="NCHW")  # E: not a data format
Dropout(0.5, rng=np.random.default_rng(0))  # E: a fastdrop.Generator, not NumPy's
fd.mc_dropout(Dropout(0.5), x, passes="ten")  # E: passes is an integer
fd.set_num_threads("2")  # E: an integer or None
