"""The one validation helper for the Python boundary.

Every public function checks all of its arguments here before any kernel runs or any output
is written. Messages name the argument and say what is accepted; TypeError for types and dtypes,
ValueError for values.
"""
from __future__ import annotations

import math
import numbers
import operator

import numpy as np

SUPPORTED_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_DTYPE_LIST = "float16, float32 or float64"
MODES = ("inverted", "naive")
MAX_INDEX = 1 << 64  # global element indices live in [0, 2**64)


def float_array(x, name="x"):
    """`x` as an ndarray of a supported dtype.

    Array-likes that are not ndarrays convert as NumPy would for a float operation
    (Python ints and bools become float64); ndarrays must already be float16/32/64.
    """
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:
            raise TypeError(f"{name} must be an array-like of floats; got {type(x).__name__}") from exc
        if arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
    if arr.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{name} has dtype {arr.dtype}; fastdrop supports {_DTYPE_LIST}")
    return arr


def probability(p, name="p"):
    """A dropout probability: a real number in [0, 1] (returned as a Python float)."""
    if type(p) is float and 0.0 <= p <= 1.0:  # the common case, without the ABC check
        return p
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1]; got {type(p).__name__}")
    p = float(p)
    if not (0.0 <= p <= 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1]; got {p!r}")
    return p


def integer(v, name, lo=0, hi=MAX_INDEX):
    """An integer in [lo, hi) (bools and floats are rejected)."""
    if type(v) is int and lo <= v < hi:  # the common case
        return v
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer; got bool")
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an integer; got {type(v).__name__}") from None
    if not lo <= v < hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}); got {v}")
    return v


def seed(s, name="seed"):
    """A Philox seed: an integer in [0, 2**64)."""
    return integer(s, name, 0, MAX_INDEX)


def offset(off, n, name="offset"):
    """A global element offset such that offset + n <= 2**64."""
    off = integer(off, name, 0, MAX_INDEX)
    if off + n > MAX_INDEX:
        raise ValueError(
            f"{name} + size must be at most 2**64 (the counter's range); got {name}={off} "
            f"with {n} elements"
        )
    return off


def mode(m, name="mode"):
    if not isinstance(m, str) or m not in MODES:
        raise ValueError(f"{name} must be one of {MODES}; got {m!r}")
    return m


def boolean(b, name):
    if not isinstance(b, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {type(b).__name__}")
    return bool(b)


def shape(s, name="shape"):
    """A shape: an int or a sequence of non-negative ints."""
    if isinstance(s, (numbers.Integral, np.integer)) and not isinstance(s, (bool, np.bool_)):
        s = (s,)
    try:
        dims = tuple(integer(d, f"{name} entries", 0, MAX_INDEX) for d in s)
    except TypeError as exc:
        if "entries" in str(exc):
            raise
        raise TypeError(f"{name} must be an int or a sequence of ints; got {type(s).__name__}") from None
    return dims


def out_array(out, x, name="out"):
    """`out` for an operation on `x`: same shape and dtype, writeable, and either `x` itself
    (the same memory, element for element) or not overlapping it at all."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray or None; got {type(out).__name__}")
    if out.shape != x.shape:
        raise ValueError(f"{name} has shape {out.shape}; expected {x.shape} (the input's shape)")
    if out.dtype != x.dtype:
        raise TypeError(f"{name} has dtype {out.dtype}; expected {x.dtype} (the input's dtype)")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only; pass a writeable array")
    if not np.may_share_memory(out, x):  # bounds only: cheap, and enough in the usual case
        return out
    same = (out.__array_interface__["data"][0] == x.__array_interface__["data"][0]
            and out.strides == x.strides)
    if not same and np.shares_memory(out, x):
        raise ValueError(
            f"{name} overlaps the input without being the same array; pass the input itself "
            "(in place) or memory that does not overlap it"
        )
    return out


def packed_mask(mask, n, name="mask"):
    """A packed keep mask for n elements: uint8, ceil(n / 8) bytes (returned C-contiguous)."""
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of uint8 (a packed mask); got {type(mask).__name__}")
    if mask.dtype != np.uint8:
        raise TypeError(f"{name} has dtype {mask.dtype}; a packed mask is uint8")
    want = (n + 7) // 8
    if mask.ndim != 1 or mask.size != want:
        raise ValueError(
            f"{name} has shape {mask.shape}; a packed mask for {n} elements is 1-d with "
            f"ceil({n} / 8) = {want} bytes"
        )
    return np.ascontiguousarray(mask)
