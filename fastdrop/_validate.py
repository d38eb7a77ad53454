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
        if type(x) is not np.ndarray and isinstance(x, np.ma.MaskedArray):
            raise TypeError(
                f"{name} is a numpy.ma.MaskedArray; fastdrop does not carry masks through: pass "
                f"{name}.filled(value) or {name}.data to say what the masked entries hold"
            )
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:
            raise TypeError(f"{name} must be an array-like of floats; got {type(x).__name__}") from exc
        if arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
    if arr.dtype.kind == "f" and not arr.dtype.isnative:  # byte-swapped floats: compute natively
        arr = arr.astype(arr.dtype.newbyteorder("="))
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
    off = integer(off, name, 0, MAX_INDEX + 1)  # 2**64 itself is fine for an empty array
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


def shape(s, name="shape", hi=MAX_INDEX):
    """A shape: an int or a sequence of non-negative ints below `hi`."""
    if isinstance(s, (numbers.Integral, np.integer)) and not isinstance(s, (bool, np.bool_)):
        s = (s,)
    try:
        dims = tuple(integer(d, f"{name} entries", 0, hi) for d in s)
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
    if not isinstance(out, np.ndarray) or isinstance(out, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a numpy.ndarray or None; got {type(out).__name__}")
    if out.shape != x.shape:
        raise ValueError(f"{name} has shape {out.shape}; expected {x.shape} (the input's shape)")
    if out.dtype.kind == "f" and not out.dtype.isnative:
        raise TypeError(
            f"{name} has non-native byte order ({out.dtype.str}); fastdrop writes "
            f"native-byte-order {x.dtype} arrays: pass a native {name}, or none and convert "
            "the result with .astype()"
        )
    if out.dtype != x.dtype:
        raise TypeError(f"{name} has dtype {out.dtype}; expected {x.dtype} (the input's dtype)")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only; pass a writeable array")
    if not np.may_share_memory(out, x):  # bounds only: cheap, and enough in the usual case
        return out
    if not _same_elements(out, x) and np.shares_memory(out, x):
        raise ValueError(
            f"{name} overlaps the input without being the same array; pass the input itself "
            "(in place) or memory that does not overlap it"
        )
    return out


def _same_elements(a, b):
    """Whether a and b (of one shape) address the same memory element for element: the same
    start and the same strides on every axis longer than 1 (the stride of a length-1 axis is
    never used)."""
    if a.__array_interface__["data"][0] != b.__array_interface__["data"][0]:
        return False
    return all(sa == sb for d, sa, sb in zip(a.shape, a.strides, b.strides) if d > 1)


def packed_mask(mask, n, name="mask", out=None):
    """A packed keep mask for n elements: uint8, ceil(n / 8) bytes (returned C-contiguous).

    A mask that may share memory with `out` is copied first (n / 8 bytes), as NumPy copies
    ufunc inputs that overlap the output: the kernel must not read bits it has overwritten."""
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
    if out is not None and np.may_share_memory(mask, out):
        return mask.copy()
    return np.ascontiguousarray(mask)


def forward_args(x, p, training, return_mask, out):
    """The arguments most forwards share, checked in this order: (x, p, training, return_mask,
    out)."""
    x = float_array(x)
    p = probability(p)
    training = boolean(training, "training")
    return_mask = boolean(return_mask, "return_mask")
    out = out_array(out, x)
    return x, p, training, return_mask, out


# --- windows: a block of a larger virtual array -------------------------------------------
def window(win, block, off):
    """``window=(global_shape, origin)`` for a block of shape `block`: returns the triple
    (block, global_shape, origin) of tuples and checks ``off + prod(global_shape) <= 2**64``."""
    if not isinstance(win, (tuple, list)) or len(win) != 2:
        raise TypeError("window must be a pair (global_shape, origin)")
    gshape = shape(win[0], "window global_shape", MAX_INDEX + 1)  # (2**64: offset 0, one axis)
    origin = shape(win[1], "window origin", MAX_INDEX + 1)
    if len(gshape) != len(block) or len(origin) != len(block):
        raise ValueError(
            f"window: global_shape {gshape} and origin {origin} need one entry per dimension "
            f"of the block {tuple(block)}"
        )
    for d, (o, n, g) in enumerate(zip(origin, block, gshape)):
        if o + n > g:
            raise ValueError(
                f"window: the block {tuple(block)} at origin {origin} does not fit in "
                f"global_shape {gshape} (axis {d}: {o} + {n} > {g})"
            )
    if len(block) > 64:
        raise ValueError("window: at most 64 dimensions")
    offset(off, math.prod(gshape))
    return tuple(block), gshape, origin


def window_seed(seed, rng):
    """A forward with window= needs an explicit seed (a generator would hand each block its
    own offset)."""
    if seed is None or rng is not None:
        raise ValueError("window= needs an explicit seed= (and offset=): every block of the "
                         "global array must use the same (seed, offset)")


def forward_window(win, block, seed, off, rng, training):
    """window= of a forward over a block of shape `block`: None, or validated as by
    :func:`window` after checking that a training forward has an explicit seed."""
    if win is None:
        return None
    if training:
        window_seed(seed, rng)
    return window(win, block, off)


# --- structured dropout -------------------------------------------------------------------
DATA_FORMATS = ("channels_first", "channels_last")


def axis(a, ndim, name="axis"):
    """One axis of an ndim-d array, in [-ndim, ndim); returned non-negative."""
    if isinstance(a, (bool, np.bool_)) or not isinstance(a, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer; got {type(a).__name__}")
    a = int(a)
    if not -ndim <= a < ndim:
        raise ValueError(
            f"{name}={a} is out of range for an array of {ndim} dimension(s) "
            f"(valid: {-ndim} .. {ndim - 1})" if ndim else
            f"{name}={a} is out of range: the array is 0-d and has no axes"
        )
    return a % ndim


def axes(a, ndim, name="broadcast_axes"):
    """Distinct axes of an ndim-d array: an int or a sequence of ints in [-ndim, ndim);
    returned as a sorted tuple of non-negative axes."""
    if isinstance(a, (numbers.Integral, np.integer)) and not isinstance(a, (bool, np.bool_)):
        a = (a,)
    if isinstance(a, (str, bytes)) or not hasattr(a, "__iter__"):
        raise TypeError(f"{name} must be an int or a sequence of ints; got {type(a).__name__}")
    out = [axis(v, ndim, f"{name} entry") for v in a]
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has a repeated axis: {tuple(a)!r}")
    return tuple(sorted(out))


def noise_shape(ns, shape, name="noise_shape"):
    """A Keras-style noise shape for an array of `shape`: one entry per axis, each None (the
    array's size), the array's size, or 1 (broadcast). Returned as the broadcast axes."""
    if isinstance(ns, (str, bytes)) or not hasattr(ns, "__iter__"):
        raise TypeError(f"{name} must be a sequence of ints or None; got {type(ns).__name__}")
    ns = tuple(ns)
    if len(ns) != len(shape):
        raise ValueError(
            f"{name} has {len(ns)} entries; the input has {len(shape)} dimensions {tuple(shape)}"
        )
    out = []
    for d, (e, s) in enumerate(zip(ns, shape)):
        if e is None:
            continue
        e = integer(e, f"{name}[{d}]", 0, MAX_INDEX)
        if e == 1 and s != 1:
            out.append(d)
        elif e != s:
            raise ValueError(
                f"{name}[{d}] is {e}; each entry must be 1 (broadcast), None or the input's "
                f"size {s}"
            )
    return tuple(out)


def data_format(df, name="data_format"):
    if not isinstance(df, str) or df not in DATA_FORMATS:
        raise ValueError(f"{name} must be one of {DATA_FORMATS}; got {df!r}")
    return df


def choice(v, options, name):
    """A string option from `options`."""
    if not isinstance(v, str) or v not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}; got {v!r}")
    return v


def ndim_in(x, allowed, what, name="x"):
    """Check that x has one of the allowed numbers of dimensions."""
    if x.ndim not in allowed:
        want = ", ".join(str(a) for a in allowed[:-1]) + f" or {allowed[-1]}" if len(allowed) > 1 \
            else str(allowed[0])
        raise ValueError(f"{name} has {x.ndim} dimension(s) {x.shape}; {what} takes {want}-D input")
    return x


def block_size(bs, nsp, name="block_size"):
    """A DropBlock block size: an int >= 1 or a tuple of `nsp` ints >= 1."""
    if isinstance(bs, (numbers.Integral, np.integer)) and not isinstance(bs, (bool, np.bool_)):
        bs = (bs,) * nsp
    if isinstance(bs, (str, bytes)) or not hasattr(bs, "__iter__"):
        raise TypeError(f"{name} must be an int or a tuple of {nsp} ints; got {type(bs).__name__}")
    bs = tuple(bs)
    if len(bs) != nsp:
        raise ValueError(
            f"{name} has {len(bs)} entries; the input has {nsp} spatial dimension(s), so give "
            f"an int or {nsp} ints"
        )
    out = tuple(integer(b, f"{name} entries", -MAX_INDEX, MAX_INDEX) for b in bs)
    if min(out) < 1:
        raise ValueError(f"{name} entries must be positive (a block of at least 1); got {bs!r}")
    return out


def probability_below_one(p, name="p"):
    """A probability in [0, 1)."""
    p = probability(p, name)
    if p == 1.0:
        raise ValueError(f"{name} must be in [0, 1) here (the noise variance p/(1-p) is infinite at 1)")
    return p
