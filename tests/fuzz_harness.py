"""Differential fuzzer of fastdrop against fastdrop.reference: the case generator and checker.

tests/test_fuzz.py runs it under pytest (options and flags are documented there). Every case
is a pure function of one integer, its *case seed* (``np.random.default_rng(case_seed)``
draws everything), so a failure is reproduced by that seed alone::

    PYTHONPATH=. python tests/fuzz_harness.py 1234 5678     # rerun cases, print their calls
    PYTHONPATH=. python -m pytest tests/test_fuzz.py --fuzz-only=1234

A case is one call of one public fastdrop function with random arguments (dtype, shape,
memory layout, p, options, seed/offset or a Generator, window, ISA, thread count, out= and
how it aliases the other arrays). The checker runs fastdrop.reference on the same arguments
first, then fastdrop, and asserts

* bitwise equal results (dtype, shape and the raw bits; NaN payloads and -0.0 included) and
  packed masks, or the same exception type when the reference raises;
* ``out=``: the result *is* ``out``; in place works; a packed ``mask=`` living inside ``out``
  is read as it was before the call; an ``out`` that shares memory with the input without
  being it raises ValueError naming ``out``; inputs that are not ``out`` are left unchanged;
* bad arguments (one argument corrupted on purpose): TypeError / ValueError whose message
  names the argument, with ``out``, the inputs and the generator state untouched;
* a Generator (``rng=`` or the default one) is advanced by the draw rounded up to 4 and the
  result is the reference's at the generator's previous offset.

KNOWN_BUGS names classes of cases that hit bugs being fixed elsewhere; the generator does not
produce them. Override with ``FASTDROP_FUZZ_KNOWN_BUGS`` (comma separated; empty or "none"
generates every class).
"""
from __future__ import annotations

import math
import os
import re
import sys
import traceback

import numpy as np

import fastdrop as fd
from fastdrop import reference as R
from fastdrop.reference import _contract as RC
from conftest import DTYPES, LAYOUTS, WRITEABLE_LAYOUTS, layout, values

TWO32 = 1 << 32
TWO63 = 1 << 63
TWO64 = 1 << 64

#: Case classes that hit known, still open bugs: not generated until fixed. Add a class name
#: here (and a minimal repro to tests/test_fuzz.py's BUG_REPROS) when a bug is found and
#: cannot be fixed at once; FASTDROP_FUZZ_KNOWN_BUGS overrides the set. The classes found so
#: far are fixed; their repros stay as regression tests (BUG_REPROS).
DEFAULT_KNOWN_BUGS = frozenset()


def _known_bugs():
    env = os.environ.get("FASTDROP_FUZZ_KNOWN_BUGS")
    if env is None:
        return DEFAULT_KNOWN_BUGS
    names = frozenset(s for s in re.split(r"[,\s]+", env) if s and s.lower() != "none")
    return names


KNOWN_BUGS = _known_bugs()

SUPPORTED_ISAS = fd.supported_isas()
PARALLEL_THRESHOLD = fd.config()["parallel_threshold"]

# name: (ndim range, takes window=, is a backward (mask= or seed=, no rng=))
FUNCS = {
    "dropout": ((0, 6), True, False),
    "dropout_mask": ((0, 6), True, False),
    "dropout_backward": ((0, 6), True, True),
    "spatial_dropout": ((3, 5), False, False),
    "spatial_dropout_backward": ((3, 5), False, True),
    "locked_dropout": ((1, 6), False, False),
    "locked_dropout_backward": ((1, 6), False, True),
    "embedding_dropout": ((1, 6), False, False),
    "embedding_dropout_backward": ((1, 6), False, True),
    "drop_path": ((0, 6), True, False),
    "drop_path_backward": ((0, 6), True, True),
    "dropblock": ((4, 5), True, False),
    "dropblock_backward": ((4, 5), True, True),
    "alpha_dropout": ((0, 6), True, False),
    "alpha_dropout_backward": ((0, 6), True, True),
    "feature_alpha_dropout": ((2, 6), True, False),
    "feature_alpha_dropout_backward": ((2, 6), True, True),
    "gaussian_dropout": ((0, 6), True, False),
    "gaussian_dropout_backward": ((0, 6), True, True),
}
# dropout and its backward carry the broadcast_axes / noise_shape forms too: weight them up
_WEIGHTS = {"dropout": 3, "dropout_backward": 3, "dropout_mask": 1.5}
FUNC_NAMES = tuple(FUNCS)
_P = np.array([_WEIGHTS.get(n, 1.0) for n in FUNC_NAMES])
FUNC_PROBS = _P / _P.sum()

SMALL_LIMIT = 2500          # elements of an ordinary case
GAUSS_SPAN_LIMIT = 1 << 16  # above: the reference normals are drawn per element (see below)


# ------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------
def rint(rng, lo, hi):
    """A uniform integer in [lo, hi] of any size (Python ints)."""
    lo, hi = int(lo), int(hi)
    if hi <= lo:
        return lo
    return lo + int.from_bytes(rng.bytes(16), "little") % (hi - lo + 1)


def pick(rng, seq, p=None):
    return seq[int(rng.choice(len(seq), p=p))]


def chance(rng, q):
    return bool(rng.random() < q)


def prod(shape):
    return math.prod(int(s) for s in shape)


def ceil4(n):
    return (n + 3) // 4 * 4


_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def raw_bits(a):
    """The raw bits of `a` in C order as a 1-d unsigned array of its itemsize."""
    a = np.asarray(a)
    return np.ascontiguousarray(a).reshape(-1).view(_UINT[a.itemsize])


def same_memory(a, b):
    """out `b` is the input `a` itself, element for element (strides may differ on axes of
    length 1 and anywhere when empty): the in-place case."""
    if a.shape != b.shape:
        return False
    if a.size == 0:
        return True
    if a.__array_interface__["data"][0] != b.__array_interface__["data"][0]:
        return False
    return all(sa == sb for sa, sb, n in zip(a.strides, b.strides, a.shape) if n > 1)


def flat_bytes(a):
    """A 1-d uint8 view of the memory of a contiguous (in some order) writeable array, or
    None when `a` is not one contiguous block."""
    if a.size == 0 or not a.flags.writeable:
        return None
    if a.flags.c_contiguous:
        f = a.reshape(-1)
    elif a.flags.f_contiguous:
        f = a.T.reshape(-1)
    else:
        f = a.ravel(order="K")
        if not np.shares_memory(f, a):
            return None
    if not f.flags.c_contiguous or not np.shares_memory(f, a):
        return None
    return f.view(np.uint8)


def _reduced(shape, axes):
    return tuple(1 if d in axes else s for d, s in enumerate(shape))


# ------------------------------------------------------------------------------------------
# Reference compositions for argument combinations the reference has no parameter for
# (window= on broadcast masks, drop_path and DropBlock; Gaussian windows spanning huge index
# ranges). Built from the reference's public functions (keep_mask_window, dropout_backward,
# dropblock_keep, random_words_at, contract_normals) plus its _scaled_select.
# ------------------------------------------------------------------------------------------
def ref_bcast_window(x, p, axes, seed, offset, window, kind, return_mask=False):
    """Forward/backward of a broadcast mask drawn as a window of the global reduced mask.
    kind: "inverted" or "naive" (select)."""
    x = np.asarray(x)
    gshape, origin = (tuple(int(v) for v in w) for w in window)
    rshape = _reduced(x.shape, axes)
    rg = _reduced(gshape, axes)
    ro = tuple(0 if d in axes else o for d, o in enumerate(origin))
    keep_r = R.keep_mask_window(rshape, p, seed, offset, global_shape=rg, origin=ro)
    full = np.packbits(np.broadcast_to(keep_r, x.shape).ravel(), bitorder="little")
    y = R.dropout_backward(x, p, mask=full, mode=kind)
    if return_mask:
        return y, np.packbits(keep_r.ravel(), bitorder="little")
    return y


def ref_dropblock_window_keep(shape, p, bs, seed, offset, window, df, vo, sc):
    """The DropBlock keep mask of the block `shape` at `origin` of `global_shape`: the seed
    grid is numbered (N, C or 1, *G) in C order, so the samples origin[0] .. origin[0] + n of
    the global input are the keep mask of a (n, *global_shape[1:]) input at offset
    ``offset + origin[0] * C' * prod(G)``, cropped to the block on the other axes."""
    gshape, origin = (tuple(int(v) for v in w) for w in window)
    _, C, S, K, G = R.dropblock_geometry(gshape, bs, df, vo)
    cs = 1 if sc else C
    nn = shape[0]
    sub = (nn,) + gshape[1:]
    keep = R.dropblock_keep(sub, p, bs, seed=seed, offset=offset + origin[0] * cs * prod(G),
                            data_format=df, valid_only=vo, share_channels=sc)
    sl = (slice(0, nn),) + tuple(slice(o, o + s) for o, s in zip(origin[1:], shape[1:]))
    return np.ascontiguousarray(keep[sl])


def ref_dropblock_scaled(keep, x, p, scale, ntotal, kept):
    if scale == "count":
        s = float(ntotal) / float(kept) if kept else 0.0
    else:
        s = 1.0 / (1.0 - p) if p < 1.0 else 0.0
    return RC.scaled_select(keep, x, R.compute_dtype(x.dtype).type(s))


def window_span(shape, window):
    """Number of global indices between the first and last element of the block."""
    gshape, origin = (tuple(int(v) for v in w) for w in window)
    if prod(shape) == 0:
        return 0
    span, stride = 1, 1
    for d in range(len(shape) - 1, -1, -1):
        span += (shape[d] - 1) * stride
        stride *= gshape[d]
    return span


def normals_at(g, seed):
    """The contract's float32 normals of arbitrary global indices g (uint64): each index's
    aligned group of 32 words through R.contract_normals."""
    flat = np.asarray(g, dtype=np.uint64).reshape(-1)
    grp = flat & ~np.uint64(31)
    ug, inv = np.unique(grp, return_inverse=True)
    idx = ug[:, None] + np.arange(32, dtype=np.uint64)
    words = R.random_words_at(idx, seed, stream=R.STREAM_GAUSSIAN)
    z = R.contract_normals(words.reshape(-1)).reshape(-1, 32)
    return z[inv.reshape(-1), (flat & np.uint64(31)).astype(np.intp)].reshape(np.shape(g))


def ref_gaussian(x, p, seed, offset, window, training=True):
    """R.gaussian_dropout, except for windows spanning more than GAUSS_SPAN_LIMIT global
    indices (the reference draws the whole span): then the normals come from normals_at and
    the multiply is the reference's (m = 1 + s*z, y = x*m in the compute dtype)."""
    x = np.asarray(x)
    if window is None or not training or p == 0.0 or window_span(x.shape, window) <= \
            GAUSS_SPAN_LIMIT:
        return R.gaussian_dropout(x, p, seed=seed, offset=offset, training=training,
                                  window=window)
    gshape, origin = (tuple(int(v) for v in w) for w in window)
    RC.check_offset(offset, prod(gshape))
    g = R.window_indices(x.shape, gshape, origin) + np.uint64(offset)
    cdt = R.compute_dtype(x.dtype)
    z = normals_at(g, seed).astype(cdt)
    sigma = cdt.type(R.gaussian_sigma(p))
    m = cdt.type(1) + sigma * z
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ascontiguousarray((x.astype(cdt) * m).astype(x.dtype))


# ------------------------------------------------------------------------------------------
# The case
# ------------------------------------------------------------------------------------------
class Case:
    def __init__(self, seed, name):
        self.seed = seed
        self.name = name
        self.fn = getattr(fd, name)
        self.args = []
        self.kw = {}
        self.ref = None          # callable -> expected result (None for error cases)
        self.expect = None       # (exception type, regex the message must match, why)
        self.isa = None
        self.threads = None
        self.names = {}          # id(array) -> name for describe()
        self.notes = []
        self.gen = None          # the Generator passed as rng=, or the default one
        self.gen_state = None    # its state at the call
        self.draw_n = None       # elements the call draws from a generator
        self.return_mask = False
        self.mask_kind = None    # "packed" / "bool" for dropout_mask

    # -- describing -------------------------------------------------------------------------
    def _r(self, v):
        if isinstance(v, np.ndarray):
            if id(v) not in self.names and v.size <= 8 and v.dtype.kind in "biuf":
                return f"np.array({v.tolist()!r}, dtype=np.{v.dtype.name})"
            return self.names.get(id(v), f"<array {v.dtype}{v.shape}>")
        if isinstance(v, fd.Generator):
            return "gen"
        if isinstance(v, tuple):
            inner = ", ".join(self._r(e) for e in v)
            return f"({inner},)" if len(v) == 1 else f"({inner})"
        if isinstance(v, list):
            if len(v) > 8:
                return f"<list of {len(v)}>"
            return "[" + ", ".join(self._r(e) for e in v) + "]"
        if isinstance(v, np.generic):
            return f"np.{type(v).__name__}({v.item()!r})"
        return repr(v)

    def call_str(self):
        parts = [self._r(a) for a in self.args] + [f"{k}={self._r(v)}" for k, v in
                                                   self.kw.items()]
        return f"fd.{self.name}({', '.join(parts)})"

    @staticmethod
    def array_str(a):
        ai = a.__array_interface__
        return (f"{a.dtype}{a.shape} strides={a.strides} data%64={ai['data'][0] % 64} "
                f"C={a.flags.c_contiguous} F={a.flags.f_contiguous} "
                f"writeable={a.flags.writeable}")

    def describe(self):
        lines = [f"case seed {self.seed}: {self.call_str()}",
                 f"  isa={self.isa} threads={self.threads}"]
        seen = set()
        for v in list(self.args) + list(self.kw.values()):
            if isinstance(v, np.ndarray) and id(v) not in seen:
                seen.add(id(v))
                lines.append(f"  {self._r(v)}: {self.array_str(v)}")
        if self.gen is not None:
            which = "rng=gen" if self.kw.get("rng") is self.gen else "default generator"
            lines.append(f"  {which} state before the call: {self.gen_state}")
        lines += [f"  {n}" for n in self.notes]
        env = "" if KNOWN_BUGS == DEFAULT_KNOWN_BUGS else \
            f"FASTDROP_FUZZ_KNOWN_BUGS='{','.join(sorted(KNOWN_BUGS)) or 'none'}' "
        lines.append(f"  repro: {env}PYTHONPATH=. python tests/fuzz_harness.py {self.seed}")
        return "\n".join(lines)

    def name_array(self, a, name):
        if isinstance(a, np.ndarray):
            self.names[id(a)] = name


# ------------------------------------------------------------------------------------------
# Generation
# ------------------------------------------------------------------------------------------
def gen_dim(rng):
    r = rng.random()
    if r < 0.025:
        return 0
    if r < 0.28:
        return 1
    if r < 0.85:
        return int(rng.integers(2, 10))
    return int(rng.integers(10, 70))


def shrink(rng, shape, limit):
    shape = list(shape)
    while prod(shape) > limit:
        d = int(rng.integers(len(shape)))
        if shape[d] > 1:
            shape[d] = max(1, shape[d] // 2)
    return tuple(shape)


def gen_shape(rng, lo, hi, big):
    nd = int(rng.integers(lo, hi + 1))
    shape = [gen_dim(rng) for _ in range(nd)]
    if big and nd:
        shape = [max(1, s) for s in shape]
        shape = list(shrink(rng, shape, 64))
        target = int(rng.integers(PARALLEL_THRESHOLD + 1, 3 * PARALLEL_THRESHOLD))
        d = int(rng.integers(nd))
        rest = prod(shape) // shape[d]
        shape[d] = max(shape[d], -(-target // rest))
        return tuple(shape)
    return shrink(rng, shape, SMALL_LIMIT)


def gen_dropblock_shape(rng, df, big):
    nsp = int(rng.integers(2, 4))
    n = int(pick(rng, (0, 1, 1, 2, 2, 3)))
    c = int(pick(rng, (0, 1, 1, 2, 3, 4)))
    sp = [int(pick(rng, (0, 1, 2, 3, 5, 7, 8, 11, 13))) if chance(rng, 0.9) else
          int(rng.integers(14, 30)) for _ in range(nsp)]
    if chance(rng, 0.85):
        sp = [max(1, s) for s in sp]
        n, c = max(n, 1), max(c, 1)
    if big:
        n, c = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        sp = [max(s, 4) for s in sp]
        while n * c * prod(sp) <= PARALLEL_THRESHOLD:
            d = int(rng.integers(nsp))
            sp[d] = sp[d] * 2
    else:
        sp = list(shrink(rng, sp, max(1, SMALL_LIMIT // max(1, n * c))))
    return (n, c, *sp) if df == "channels_first" else (n, *sp, c)


def gen_p(rng, below_one=False):
    r = rng.random()
    if r < 0.10:
        p = 0.0
    elif r < 0.18:
        p = 1.0
    elif r < 0.30:
        p = pick(rng, (1e-9, 2.0 ** -32, 2.0 ** -33, 3 * 2.0 ** -33, 5e-324, 1e-300,
                       1 - 2.0 ** -53, 1 - 1e-9, 1 - 2.0 ** -32, 0.5, 0.25, 0.75))
    else:
        p = float(rng.random())
    if below_one and p == 1.0:
        p = 1 - 2.0 ** -40 if chance(rng, 0.5) else 0.9
    f = rng.random()
    if f < 0.08:
        return np.float32(p) if not below_one or np.float32(p) < 1 else np.float64(p)
    if f < 0.13:
        return np.float64(p)
    if f < 0.16 and p in (0.0, 1.0) and not (below_one and p == 1.0):
        return int(p)
    return p


def gen_seed(rng):
    r = rng.random()
    if r < 0.1:
        s = 0
    elif r < 0.2:
        s = TWO64 - 1
    elif r < 0.4:
        s = int(rng.integers(0, 1000))
    else:
        s = rint(rng, 0, TWO64 - 1)
    f = rng.random()
    if f < 0.08:
        return np.uint64(s)
    if f < 0.12 and s < TWO63:
        return np.int64(s)
    return s


def gen_offset(rng, n):
    """An offset with offset + n <= 2**64 (n: the elements the call numbers)."""
    hi = TWO64 - n
    if hi < 0:
        return 0
    r = rng.random()
    if r < 0.25:
        off = 0
    elif r < 0.45:
        off = int(rng.integers(1, 40))
    elif r < 0.60:
        off = 4 * TWO32 - rint(rng, 0, 2 * max(n, 1) + 8)
    elif r < 0.72:
        off = hi - int(rng.integers(0, 9))
    elif r < 0.80:
        off = hi
    elif r < 0.87:
        off = TWO32 * int(rng.integers(1, 9)) - int(rng.integers(0, 64))
    else:
        off = rint(rng, 0, hi)
    off = min(max(off, 0), hi)
    f = rng.random()
    if f < 0.06:
        return np.uint64(off) if off < TWO64 else off
    if f < 0.09 and off < TWO63:
        return np.int64(off)
    return off


def gen_window(rng, shape, huge_axes=None):
    """window=(global_shape, origin) for a block of `shape`, origin inside. huge_axes: axes
    allowed to be huge (default all). Returns (window, kind), kind "small", "huge" (product
    2**33 .. 2**60.5), "ge63" (product in [2**63, 2**64]) or "exact64" (product 2**64)."""
    nd = len(shape)
    g = [s + (0 if chance(rng, 0.4) else int(rng.integers(1, 6))) for s in shape]
    kind = "small"
    axes = list(range(nd)) if huge_axes is None else list(huge_axes)
    if axes and chance(rng, 0.45):
        kind = "ge63" if chance(rng, 0.3) else "huge"
        k = int(rng.integers(1, min(3, len(axes)) + 1))
        big = sorted(int(a) for a in rng.choice(axes, size=k, replace=False))
        others = prod(g[d] for d in range(nd) if d not in big)
        if others == 0:
            kind = "small"
        else:
            if kind == "huge":
                target = int(2 ** rng.uniform(33, 60.5))
            else:
                target = TWO63
            share = max(1, target // others)
            # spread over the big axes
            each = max(2, int(round(share ** (1.0 / k))))
            for d in big[:-1]:
                g[d] = max(g[d], each)
            last = big[-1]
            rest = prod(g[d] for d in range(nd) if d != last)
            if kind == "ge63":
                lo = -(-TWO63 // rest)
                hi = TWO64 // rest
                if "window_ge_2_63" in KNOWN_BUGS:
                    if rest == 1:
                        # one huge extent is the known bug: make another axis >= 2 if any
                        others_ax = [d for d in range(nd) if d != last]
                        if others_ax:
                            d2 = others_ax[int(rng.integers(len(others_ax)))]
                            g[d2] = max(g[d2], 2)
                            rest = prod(g[d] for d in range(nd) if d != last)
                            lo, hi = -(-TWO63 // rest), TWO64 // rest
                        else:
                            lo, hi, kind = TWO63 // 4, TWO63 - 1, "huge"
                    hi = min(hi, TWO63 - 1)
                    if max([g[d] for d in range(nd) if d != last] + [0]) >= TWO63:
                        lo, hi, kind = 1, 1, "small"
                lo = max(lo, shape[last])
                if chance(rng, 0.2):
                    g[last] = hi
                else:
                    g[last] = rint(rng, lo, max(lo, hi))
            else:
                g[last] = max(shape[last], target // rest)
            if prod(g) > TWO64:  # (the spread may overshoot)
                g[last] = max(shape[last], TWO64 // (prod(g) // g[last]))
    if huge_axes is None and nd >= 2 and chance(rng, 0.08):
        # prod(global_shape) == 2**64 exactly (offset 0 only), in powers of two, often with
        # leading extents of 1 (where the block has extent <= 1)
        lead = 0
        if "ref_window_stride_2_64" not in KNOWN_BUGS:
            while lead < nd - 1 and shape[lead] <= 1 and chance(rng, 0.7):
                lead += 1
        cap = 62 if "window_ge_2_63" in KNOWN_BUGS else 64
        e = [max(0, math.ceil(math.log2(max(s, 1)))) for s in shape[lead:]]
        if lead == 0:
            e[0] = max(e[0], 1)
        left = 64 - sum(e)
        if 0 <= left <= cap * len(e) - sum(e) and all(v <= cap for v in e):
            while left:
                d = int(rng.integers(len(e)))
                if e[d] < cap:
                    e[d] += 1
                    left -= 1
            g = [1] * lead + [1 << v for v in e]
            kind = "exact64"
    if prod(g) == TWO64 and g[0] == 1 and "ref_window_stride_2_64" in KNOWN_BUGS:
        d = max(range(1, nd), key=lambda a: g[a])
        g[d] //= 2
        if g[d] < shape[d]:
            g[d] *= 2
            g = [s for s in shape]
            kind = "small"
    origin = []
    for s, G in zip(shape, g):
        r = rng.random()
        if r < 0.25:
            o = 0
        elif r < 0.5:
            o = G - s
        else:
            o = rint(rng, 0, G - s)
        origin.append(o)
    gs, org = tuple(g), tuple(origin)
    r = rng.random()
    if r < 0.1:
        return (list(gs), list(org)), kind
    if r < 0.15 and all(v < TWO63 for v in gs):
        return (np.array(gs, dtype=np.int64), tuple(np.int64(o) for o in org)), kind
    return (gs, org), kind


def window_has_huge_extent(window):
    return any(int(v) >= TWO63 for v in window[0])


def gen_values(rng, shape, dtype):
    v = values(shape, dtype, seed=int(rng.integers(1 << 30)))
    n = v.size
    if n and chance(rng, 0.2):  # NaNs with payloads, subnormals, extremes
        flat = v.reshape(-1).view(_UINT[v.itemsize])
        k = int(rng.integers(1, min(n, 6) + 1))
        pos = rng.choice(n, size=k, replace=False)
        nbits = 8 * v.itemsize
        mant = {16: 10, 32: 23, 64: 52}[nbits]
        for i in pos:
            kind = int(rng.integers(4))
            exp_all = ((1 << (nbits - 1 - mant)) - 1) << mant
            payload = int(rng.integers(1, 1 << min(mant, 62))) & ((1 << mant) - 1) or 1
            sign = int(rng.integers(2)) << (nbits - 1)
            if kind == 0:  # quiet or signalling NaN with a payload
                flat[i] = sign | exp_all | payload
            elif kind == 1:  # subnormal
                flat[i] = sign | payload
            elif kind == 2:  # largest finite
                flat[i] = sign | (exp_all - (1 << mant)) | ((1 << mant) - 1)
            else:  # smallest normal
                flat[i] = sign | (1 << mant)
    return v


def gen_input(rng, shape, dtype):
    """Values (gen_values) in a random layout of conftest's layout(), read-only broadcasts
    included."""
    v = gen_values(rng, shape, dtype)
    lay = pick(rng, LAYOUTS)
    return layout(v, lay), lay


def gen_mask_bytes(rng, nbits, c):
    """A packed mask of nbits bits: random bytes (junk in the padding bits too), sometimes
    all ones / zeros, in a random memory layout."""
    nb = (nbits + 7) // 8
    r = rng.random()
    if r < 0.1:
        m = np.full(nb, 0xFF, np.uint8)
    elif r < 0.15:
        m = np.zeros(nb, np.uint8)
    else:
        m = rng.integers(0, 256, nb, dtype=np.uint8)
    r = rng.random()
    if r < 0.15:  # non-contiguous
        buf = rng.integers(0, 256, 2 * nb + 1, dtype=np.uint8)
        view = buf[1::2][:nb] if nb else buf[:0]
        view[...] = m
        c.notes.append("mask: a step-2 view of a larger uint8 buffer")
        return view
    if r < 0.25:  # unaligned start
        buf = np.empty(nb + 3, np.uint8)
        view = buf[3:]
        view[...] = m
        c.notes.append("mask: starts 3 bytes into a buffer")
        return view
    if r < 0.3 and nb:
        buf = np.empty(nb, np.uint8)
        view = buf[::-1]
        view[...] = m
        c.notes.append("mask: a reversed view")
        return view
    if r < 0.35:
        m.flags.writeable = False
        c.notes.append("mask: read-only")
    return m


# Per-function generation ---------------------------------------------------------------
def gen_case(case_seed, force=None):
    """The case of `case_seed`. force (for targeted runs and the known-bug tests): a dict
    that may fix "name" (the function), "alias" (the out= mode), "use_mask" and "bad"
    (False: no corrupted argument); the rest still comes from the seed."""
    force = force or {}
    rng = np.random.default_rng(case_seed)
    name = FUNC_NAMES[int(rng.choice(len(FUNC_NAMES), p=FUNC_PROBS))]
    name = force.get("name", name)
    c = Case(case_seed, name)
    # (drawn from all three so that a case does not depend on the CPU running it; an
    # unsupported path falls back to the widest supported one)
    c.isa = pick(rng, ("scalar", "vector", "avx2", "avx512", "neon"))
    if c.isa not in SUPPORTED_ISAS:
        c.notes.append(f"isa {c.isa} not supported here: {SUPPORTED_ISAS[-1]} instead")
        c.isa = SUPPORTED_ISAS[-1]
    c.threads = int(rng.integers(1, 4))
    (nlo, nhi), has_window, is_backward = FUNCS[name]
    dtype = pick(rng, DTYPES)
    big = chance(rng, 0.03)
    forward = not is_backward and name != "dropout_mask"
    # gaussian_dropout_backward has no mask; every other backward chooses mask or seed
    use_mask = is_backward and name != "gaussian_dropout_backward" and chance(rng, 0.5)
    use_mask = force.get("use_mask", use_mask)

    # --- shape and function-specific options ---------------------------------------------
    opts = {}
    df = None
    if name.startswith("dropblock"):
        df = pick(rng, R.DATA_FORMATS)
        shape = gen_dropblock_shape(rng, df, big)
    else:
        shape = gen_shape(rng, nlo, nhi, big)
    nd = len(shape)

    axes = None          # broadcast axes of the mask (None: element-wise)
    bform = None
    kind = "inverted"    # how kept values are scaled: inverted / naive / alpha / ...
    if name in ("dropout", "dropout_backward"):
        mode = pick(rng, RC._MODES)
        if mode != "inverted" or chance(rng, 0.3):
            opts["mode"] = mode
        kind = mode
        r = rng.random()
        if r < 0.25:
            bform = "axes"
            k = int(rng.integers(0, nd + 1))
            ax = [int(a) for a in rng.choice(nd, size=k, replace=False)] if nd else []
            axes = tuple(sorted(ax))
            spelled = [a - nd if chance(rng, 0.3) else a for a in ax]
            if len(spelled) == 1 and chance(rng, 0.5):
                opts["broadcast_axes"] = spelled[0]
            else:
                opts["broadcast_axes"] = tuple(spelled) if chance(rng, 0.7) else list(spelled)
        elif r < 0.45 and nd:
            bform = "noise"
            ns, ax = [], []
            for d, s in enumerate(shape):
                q = rng.random()
                if q < 0.4:
                    ns.append(1)
                    if s != 1:
                        ax.append(d)
                elif q < 0.7:
                    ns.append(None)
                else:
                    ns.append(int(s) if chance(rng, 0.8) else np.int64(s))
            axes = tuple(ax)
            opts["noise_shape"] = tuple(ns) if chance(rng, 0.7) else list(ns)
    elif name.startswith("spatial_dropout"):
        df = pick(rng, R.DATA_FORMATS)
        if df != "channels_first" or chance(rng, 0.3):
            opts["data_format"] = df
        axes = R.spatial_axes(nd, df)
    elif name.startswith("locked_dropout"):
        t = int(rng.integers(-nd, nd))
        if t != 0 or chance(rng, 0.3):
            opts["time_axis"] = t if chance(rng, 0.8) else np.int64(t)
        axes = (t % nd,)
    elif name.startswith("embedding_dropout"):
        axes = (nd - 1,)
    elif name.startswith("drop_path"):
        pm = "row" if nd and chance(rng, 0.7) else "batch"
        if pm != "row" or chance(rng, 0.3):
            opts["mode"] = pm
        sbk = chance(rng, 0.6)
        if not sbk or chance(rng, 0.3):
            opts["scale_by_keep"] = sbk
        kind = "inverted" if sbk else "naive"
        axes = tuple(range(1, nd)) if pm == "row" else tuple(range(nd))
    elif name.startswith("feature_alpha"):
        df = pick(rng, R.DATA_FORMATS)
        if df != "channels_first" or chance(rng, 0.3):
            opts["data_format"] = df
        axes = R.spatial_axes(nd, df)
        kind = "alpha"
    elif name.startswith("alpha"):
        kind = "alpha"
    elif name.startswith("gaussian"):
        kind = "gaussian"
    elif name.startswith("dropblock"):
        kind = "dropblock"
        nsp = nd - 2
        S = shape[2:] if df == "channels_first" else shape[1:-1]
        if chance(rng, 0.6):
            bs = int(rng.integers(1, max(S + (1,)) + 3))
            if chance(rng, 0.15):
                bs = np.int64(bs)
        else:
            bs = tuple(int(rng.integers(1, s + 3)) for s in S)
        opts_db = {}
        if df != "channels_first" or chance(rng, 0.3):
            opts_db["data_format"] = df
        vo, sc = chance(rng, 0.4), chance(rng, 0.3)
        scale = "count" if chance(rng, 0.6) else "expected"
        if vo or chance(rng, 0.2):
            opts_db["valid_only"] = vo
        if sc or chance(rng, 0.2):
            opts_db["share_channels"] = sc
        if scale != "count" or chance(rng, 0.2):
            opts_db["scale"] = scale
        opts.update(opts_db)
        assert nsp in (2, 3)

    # --- window --------------------------------------------------------------------------
    window = None
    wkind = None
    if has_window and chance(rng, 0.3) and not (bform is not None and nd == 0):
        if name.startswith("dropblock"):
            window, wkind = gen_window(rng, shape, huge_axes=(0,))
            # the reference composition needs the non-batch part of the global input small
            gs = tuple(int(v) for v in window[0])
            if prod(gs[1:]) > 40000:
                window = None
        else:
            window, wkind = gen_window(rng, shape)
        if window is not None and "window_ge_2_63" in KNOWN_BUGS and \
                window_has_huge_extent(window):
            window = None  # (gen_window avoids this; belt and braces)
        if window is not None:
            c.notes.append(f"window kind: {wkind}; prod(global_shape) = "
                           f"{prod(window[0])} (2**{math.log2(max(prod(window[0]), 1)):.2f})")
    gshape = None if window is None else tuple(int(v) for v in window[0])

    # --- p, training, return_mask ---------------------------------------------------------
    p = gen_p(rng, below_one=kind == "gaussian")
    if float(p) == 1.0 and use_mask and kind == "alpha" and "alpha_backward_p1_mask" in \
            KNOWN_BUGS:
        p = 0.999
    pf = float(p)
    training = True
    if forward:
        training = not chance(rng, 0.15)
        if not training or chance(rng, 0.2):
            opts["training"] = training if chance(rng, 0.85) else np.bool_(training)
        if kind != "gaussian" and chance(rng, 0.4):
            c.return_mask = True
            opts["return_mask"] = True if chance(rng, 0.9) else np.bool_(True)
        elif kind != "gaussian" and chance(rng, 0.1):
            opts["return_mask"] = False

    # --- how many elements the call numbers (offset + that <= 2**64) -----------------------
    n = prod(shape)
    if axes is not None:
        nr = prod(_reduced(shape, axes))
    else:
        nr = n
    if kind == "dropblock":
        geo_shape = gshape if window is not None else shape
        _, Cg, Sg, Kg, Gg = R.dropblock_geometry(geo_shape, bs, df, vo)
        nseeds = geo_shape[0] * (1 if sc else Cg) * prod(Gg)
        draw_n = n if use_mask else nseeds
        check_n = draw_n
    else:
        draw_n = nr
        check_n = nr
        if window is not None:
            check_n = prod(_reduced(gshape, axes)) if axes is not None else prod(gshape)
    c.draw_n = draw_n

    # --- the source: seed/offset, rng= or the default generator ---------------------------
    src = "seed"
    if (forward or name == "dropout_mask") and window is None and chance(rng, 0.25):
        src = "rng" if chance(rng, 0.7) else "default"
    if (forward or name == "dropout_mask") and window is not None and not training:
        if chance(rng, 0.2):
            src = "none"  # inference with a window: no seed needed
    if use_mask:
        src = "mask"
    seed = offset = None
    if src == "seed":
        seed = gen_seed(rng)
        offset = gen_offset(rng, max(check_n, draw_n))
        opts["seed"] = seed
        if offset != 0 or chance(rng, 0.3):
            opts["offset"] = offset
    elif src in ("rng", "default"):
        gseed = int(gen_seed(rng))
        goff = gen_offset(rng, max(check_n, draw_n))
        goff = int(goff) // 4 * 4  # generators hand out offsets that are multiples of 4
        c.gen_state = {"seed": gseed, "offset": goff}
        if src == "rng":
            c.gen = fd.Generator(gseed)
            c.gen.set_state(dict(c.gen_state))
            opts["rng"] = c.gen
        else:
            c.gen = fd.default_generator()
        seed, offset = gseed, goff
    elif src == "none":
        seed, offset = 0, 0
    elif src == "mask":
        offset = 0
        if chance(rng, 0.2):
            offset = gen_offset(rng, max(check_n, draw_n) if window is not None else check_n)
            opts["offset"] = offset
    if window is not None and offset is not None and int(offset) == TWO64 and \
            "ref_window_offset_2_64" in KNOWN_BUGS:
        offset = TWO64 - 1
        if "offset" in opts:
            opts["offset"] = offset
    seed_i = None if seed is None else int(seed)
    off_i = 0 if offset is None else int(offset)
    if window is not None:
        opts["window"] = window

    # --- dropblock's kept_count with a window ---------------------------------------------
    kept_count = None
    if kind == "dropblock" and window is not None and scale == "count":
        if training or chance(rng, 0.5):
            if prod(gshape) <= 40000 and not use_mask and seed_i is not None and \
                    chance(rng, 0.7):
                keep_g = R.dropblock_keep(gshape, pf, bs, seed=seed_i, offset=off_i,
                                          data_format=df, valid_only=vo, share_channels=sc)
                kept_count = int(np.count_nonzero(keep_g))
            else:
                kept_count = pick(rng, (0, min(1, prod(gshape)), prod(gshape),
                                        rint(rng, 0, prod(gshape))))
            opts["kept_count"] = kept_count
            c.notes.append(f"kept_count {kept_count} of {prod(gshape)}")

    # --- the arrays ----------------------------------------------------------------------
    xname = "x" if forward else "grad"
    x = None
    mask = None
    out = None
    alias = "none"
    if name != "dropout_mask":
        x, lay = gen_input(rng, shape, dtype)
        c.notes.append(f"{xname} layout: {lay}")
        if use_mask:
            mask = gen_mask_bytes(rng, nr if axes is not None else n, c)
        # out= and aliasing
        r = rng.random()
        if r < 0.35:
            alias = "none"
        elif r < 0.6:
            alias = "fresh"
        elif r < 0.75:
            alias = "inplace"
        elif r < 0.82:
            alias = "overlap"
        elif r < 0.87:
            alias = "interleaved"
        elif r < 0.91:
            alias = "size1_stride"
        elif r < 0.96:
            alias = "mask_in_out"
        else:
            alias = "mask_in_x"
        alias = force.get("alias", alias)
        if alias in ("mask_in_out", "mask_in_x") and mask is None:
            alias = "fresh"
        if alias == "mask_in_out" and "mask_in_out" in KNOWN_BUGS:
            alias = "fresh"
        if alias == "size1_stride" and ("size1_stride_alias" in KNOWN_BUGS or n == 0 or
                                        1 not in shape):
            alias = "inplace"
        if alias == "size1_stride" and not x.flags.writeable:
            alias = "fresh"
        if alias == "inplace" and not x.flags.writeable:
            alias = "fresh"
        if alias in ("overlap", "interleaved") and n < 2:
            alias = "fresh"
        x, out, mask = make_alias(rng, alias, x, mask, shape, dtype, c)
        if alias == "overlap" and out is None:
            alias = "fresh"
            out = layout(gen_values(rng, shape, dtype), pick(rng, WRITEABLE_LAYOUTS))
        c.notes.append(f"out: {alias}")
        if out is not None:
            opts["out"] = out
        if use_mask:
            opts["mask"] = mask
        # occasionally a plain Python list / float as x (float64 only: lists become float64)
        if alias == "none" and dtype == np.float64 and chance(rng, 0.04) and 0 < n <= 200:
            x = x.tolist()
            c.notes.append(f"{xname} passed as a Python list/float")
        elif alias == "none" and nd == 0 and chance(rng, 0.3):
            x = x[()]
            c.notes.append(f"{xname} passed as a NumPy scalar")

    # --- assemble the call ---------------------------------------------------------------
    if name == "dropout_mask":
        r = rng.random()
        shape_arg = shape if r < 0.6 else (list(shape) if r < 0.75 or nd != 1 else shape[0])
        if r >= 0.9:
            shape_arg = np.array(shape, dtype=np.int64)
        c.args = [shape_arg, p]
        packed = chance(rng, 0.7)
        if not packed or chance(rng, 0.3):
            opts["packed"] = packed
        c.mask_kind = "packed" if packed else "bool"
    elif kind == "dropblock":
        c.args = [x, p, bs]
    else:
        c.args = [x, p]
    c.kw = opts
    c.name_array(x, xname)
    c.name_array(out, "out" if out is not x else xname)
    c.name_array(mask, "mask")

    # --- expectation ---------------------------------------------------------------------
    xa = None if x is None else np.asarray(x)
    if out is not None and isinstance(x, np.ndarray) and not same_memory(x, out) and \
            np.shares_memory(x, out):
        c.expect = (ValueError, r"\bout\b.*overlap", "out overlaps the input without being it")
    else:
        c.ref = make_ref(name, kind, c, xa, pf,
                         axes, seed_i, off_i, training, mask, window, opts, df, shape)

    # --- bad arguments -------------------------------------------------------------------
    if c.expect is None and chance(rng, 0.16) and force.get("bad", True):
        corrupt(rng, c, name, kind, shape, dtype, xname, window, draw_n, check_n, src,
                forward, axes, df)
    return c


def make_alias(rng, alias, x, mask, shape, dtype, c):
    """Returns (x, out, mask) for the aliasing mode."""
    n = prod(shape)
    if alias == "none":
        return x, None, mask
    if alias == "fresh":
        out = layout(gen_values(rng, shape, dtype), pick(rng, WRITEABLE_LAYOUTS))
        return x, out, mask
    if alias == "inplace":
        return x, x, mask
    if alias == "size1_stride":
        st = list(x.strides)
        for d, s in enumerate(shape):
            if s == 1:
                st[d] = int(pick(rng, (0, 8, -x.itemsize * 3, x.itemsize * 1000, 1)))
        out = np.lib.stride_tricks.as_strided(x, shape=shape, strides=tuple(st))
        if chance(rng, 0.5):
            x, out = out, x
        c.notes.append("out is the input's memory with other strides on length-1 axes")
        return x, out, mask
    if alias == "overlap":
        v = gen_values(rng, shape, dtype)
        how = pick(rng, ("shifted", "reversed", "swapped", "broadcast", "step"))
        if how == "shifted":
            k = int(rng.integers(1, n))
            buf = np.empty(n + k, dtype)
            a, b = buf[:n].reshape(shape), buf[k:k + n].reshape(shape)
            if chance(rng, 0.5):
                a, b = b, a
            a[...] = v
            c.notes.append(f"overlap: shifted by {k} elements")
            return a, b, mask
        if how == "reversed":
            ax = [d for d, s in enumerate(shape) if s > 1]
            xx = np.array(v)
            idx = [slice(None)] * len(shape)
            idx[pick(rng, ax)] = slice(None, None, -1)
            c.notes.append("overlap: an axis reversed")
            return xx, xx[tuple(idx)], mask
        if how == "swapped":
            pairs = [(i, j) for i in range(len(shape)) for j in range(i + 1, len(shape))
                     if shape[i] == shape[j] and shape[i] > 1]
            if pairs:
                i, j = pick(rng, pairs)
                xx = layout(v, pick(rng, ("C", "F")))
                c.notes.append(f"overlap: axes {i} and {j} swapped")
                return xx, xx.swapaxes(i, j), mask
            how = "broadcast"
        if how == "broadcast":
            out = layout(gen_values(rng, shape, dtype), pick(rng, ("C", "F", "reversed")))
            xx = np.broadcast_to(out[(slice(0, 1),) * len(shape)], shape)
            c.notes.append("overlap: x is a read-only broadcast of one element of out")
            return xx, out, mask
        # "step": out = every other element of a buffer, x = a contiguous run inside it
        buf = np.empty(2 * n, dtype)
        a = buf[:n].reshape(shape)
        b = buf[::2].reshape(shape)
        if chance(rng, 0.5):
            a, b = b, a
        a[...] = v
        c.notes.append("overlap: contiguous run vs step-2 view of one buffer")
        return a, b, mask
    if alias == "interleaved":
        v = gen_values(rng, shape, dtype)
        buf = np.empty(2 * n, dtype)
        a, b = buf[0::2].reshape(shape), buf[1::2].reshape(shape)
        if chance(rng, 0.5):
            a, b = b, a
        a[...] = v
        c.notes.append("out interleaved with x in one buffer (no common element)")
        return a, b, mask
    if alias in ("mask_in_out", "mask_in_x"):
        holder = layout(gen_values(rng, shape, dtype), pick(rng, ("C", "F", "permuted",
                                                                  "unaligned_start",
                                                                  "misaligned_bytes")))
        fb = flat_bytes(holder)
        if fb is None or fb.size < mask.size:
            # too small to hold the mask: plain fresh out
            return x, layout(gen_values(rng, shape, dtype), "C"), mask
        where = pick(rng, ("start", "end", "middle"))
        if where == "start":
            at = 0
        elif where == "end":
            at = fb.size - mask.size
        else:
            at = int(rng.integers(0, fb.size - mask.size + 1))
        fb[at:at + mask.size] = mask
        m2 = fb[at:at + mask.size]
        if alias == "mask_in_out":
            c.notes.append(f"mask lives inside out (bytes {at}..{at + mask.size} of "
                           f"{fb.size})")
            return x, holder, m2
        c.notes.append(f"mask lives inside grad (bytes {at}..{at + mask.size} of {fb.size});"
                       f" out fresh")
        return holder, layout(gen_values(rng, shape, dtype), "C"), m2
    raise AssertionError(alias)


def make_ref(name, kind, c, x, p, axes, seed, offset, training, mask, window, opts, df, shape):
    """The reference call for the case (evaluated before fastdrop runs)."""
    rm = c.return_mask
    kw = opts
    gwin = None if window is None else tuple(tuple(int(v) for v in w) for w in window)

    if name == "dropout_mask":
        return lambda: R.dropout_mask(shape, p, seed=seed, offset=offset,
                                      packed=c.mask_kind == "packed", window=gwin)
    mask_c = None if mask is None else np.array(mask, copy=True)

    if name == "dropout":
        if axes is None:
            return lambda: R.dropout(x, p, seed=seed, offset=offset, training=training,
                                     mode=kind, return_mask=rm, window=gwin)
        if gwin is None or not training:
            return lambda: R.broadcast_dropout(x, p, broadcast_axes=axes, seed=seed,
                                               offset=offset, training=training, mode=kind,
                                               return_mask=rm)
        return lambda: ref_bcast_window(x, p, axes, seed, offset, gwin, kind, rm)
    if name == "dropout_backward":
        if axes is None:
            return lambda: R.dropout_backward(x, p, mask=mask_c, seed=seed, offset=offset,
                                              mode=kind, window=gwin)
        if gwin is None or mask_c is not None:
            return lambda: R.broadcast_dropout_backward(x, p, broadcast_axes=axes, mask=mask_c,
                                                        seed=seed, offset=offset, mode=kind)
        return lambda: ref_bcast_window(x, p, axes, seed, offset, gwin, kind)
    if name == "spatial_dropout":
        return lambda: R.spatial_dropout(x, p, data_format=df, seed=seed, offset=offset,
                                         training=training, return_mask=rm)
    if name == "spatial_dropout_backward":
        return lambda: R.spatial_dropout_backward(x, p, data_format=df, mask=mask_c,
                                                  seed=seed, offset=offset)
    if name == "locked_dropout":
        t = axes[0]
        return lambda: R.locked_dropout(x, p, time_axis=t, seed=seed, offset=offset,
                                        training=training, return_mask=rm)
    if name == "locked_dropout_backward":
        t = axes[0]
        return lambda: R.locked_dropout_backward(x, p, time_axis=t, mask=mask_c, seed=seed,
                                                 offset=offset)
    if name == "embedding_dropout":
        return lambda: R.embedding_dropout(x, p, seed=seed, offset=offset, training=training,
                                           return_mask=rm)
    if name == "embedding_dropout_backward":
        return lambda: R.embedding_dropout_backward(x, p, mask=mask_c, seed=seed,
                                                    offset=offset)
    if name in ("drop_path", "drop_path_backward"):
        sbk = kind == "inverted"
        pm = kw.get("mode", "row")
        if name == "drop_path":
            if gwin is None or not training:
                return lambda: R.drop_path(x, p, scale_by_keep=sbk, mode=pm, seed=seed,
                                           offset=offset, training=training, return_mask=rm)
            return lambda: ref_bcast_window(x, p, axes, seed, offset, gwin, kind, rm)
        if gwin is None or mask_c is not None:
            return lambda: R.drop_path_backward(x, p, scale_by_keep=sbk, mode=pm, mask=mask_c,
                                                seed=seed, offset=offset)
        return lambda: ref_bcast_window(x, p, axes, seed, offset, gwin, kind)
    if name in ("dropblock", "dropblock_backward"):
        dbkw = dict(data_format=df, valid_only=bool(kw.get("valid_only", False)),
                    share_channels=bool(kw.get("share_channels", False)),
                    scale=kw.get("scale", "count"))
        kc = kw.get("kept_count")

        def bs_():
            return c.args[2]

        if name == "dropblock":
            if gwin is None or not training:
                return lambda: R.dropblock(x, p, bs_(), seed=seed, offset=offset,
                                           training=training, return_mask=rm, **dbkw)

            def f():
                keep = ref_dropblock_window_keep(x.shape, p, bs_(), seed, offset, gwin,
                                                 dbkw["data_format"], dbkw["valid_only"],
                                                 dbkw["share_channels"])
                y = ref_dropblock_scaled(keep, x, p, dbkw["scale"], prod(gwin[0]), kc)
                if rm:
                    return y, np.packbits(keep.ravel(), bitorder="little")
                return y
            return f
        if gwin is None:
            return lambda: R.dropblock_backward(x, p, bs_(), mask=mask_c, seed=seed,
                                                offset=offset, **dbkw)

        def fb():
            if mask_c is not None:
                keep = np.unpackbits(mask_c, count=x.size, bitorder="little").astype(bool)
                keep = keep.reshape(x.shape)
            else:
                keep = ref_dropblock_window_keep(x.shape, p, bs_(), seed, offset, gwin,
                                                 dbkw["data_format"], dbkw["valid_only"],
                                                 dbkw["share_channels"])
            return ref_dropblock_scaled(keep, x, p, dbkw["scale"], prod(gwin[0]), kc)
        return fb
    if name == "alpha_dropout":
        return lambda: R.alpha_dropout(x, p, seed=seed, offset=offset, training=training,
                                       return_mask=rm, window=gwin)
    if name == "alpha_dropout_backward":
        return lambda: R.alpha_dropout_backward(x, p, mask=mask_c, seed=seed, offset=offset,
                                                window=gwin)
    if name == "feature_alpha_dropout":
        return lambda: R.feature_alpha_dropout(x, p, data_format=df, seed=seed, offset=offset,
                                               training=training, return_mask=rm, window=gwin)
    if name == "feature_alpha_dropout_backward":
        return lambda: R.feature_alpha_dropout_backward(x, p, data_format=df, mask=mask_c,
                                                        seed=seed, offset=offset, window=gwin)
    if name == "gaussian_dropout":
        return lambda: ref_gaussian(x, p, seed, offset, gwin, training)
    if name == "gaussian_dropout_backward":
        return lambda: ref_gaussian(x, p, seed, offset, gwin)
    raise AssertionError(name)


# ------------------------------------------------------------------------------------------
# Bad arguments
# ------------------------------------------------------------------------------------------
def corrupt(rng, c, name, kind, shape, dtype, xname, window, draw_n, check_n, src, forward,
            axes, df):
    """Corrupt one argument of a valid case; sets c.expect = (type, regex, why)."""
    kw = c.kw
    nd = len(shape)
    has_x = name != "dropout_mask"
    has_out = has_x
    cands = ["p_range", "p_type"]
    if src == "seed":
        cands += ["seed_value", "seed_type", "offset_neg", "offset_over", "offset_type"]
    if src == "mask":
        cands += ["mask_size", "mask_dtype", "mask_type", "mask_and_seed", "offset_over_mask"]
        if name != "gaussian_dropout_backward":
            cands += ["no_source"]
    if name == "gaussian_dropout_backward" or (kind == "gaussian" and not forward):
        cands += ["gauss_no_seed"]
    if kind == "gaussian":
        cands += ["p_one_gauss"]
    if forward or name == "dropout_mask":
        if window is None or not kw.get("training", True):
            # (with a window and training, fastdrop first reports that window= needs an
            # explicit seed=, a ValueError: rng= errors are asserted without windows)
            cands += ["rng_type"]
            if src == "seed":
                cands += ["seed_and_rng"]
        if src in ("rng", "default"):
            cands += ["rng_offset"]
    if forward:
        cands += ["training_type"]
        if kind != "gaussian":
            cands += ["return_mask_type"]
    if has_x:
        cands += ["x_dtype", "x_junk", "out_shape", "out_dtype", "out_readonly", "out_type"]
    if name == "dropout_mask":
        cands += ["packed_type", "shape_value", "shape_type"]
    if window is not None:
        cands += ["window_type", "window_ndim", "window_fit", "window_neg"]
        if kind != "dropblock" and src != "mask":
            cands += ["window_offset"]
        if (forward or name == "dropout_mask") and kw.get("training", True):
            cands += ["window_noseed"]
    elif FUNCS[name][1] and nd:
        cands += ["window_fit_new"]
    if "mode" in kw or name in ("dropout", "dropout_backward", "drop_path",
                                "drop_path_backward"):
        cands += ["mode_value"]
    if "data_format" in kw or name.startswith(("spatial", "feature_alpha", "dropblock")):
        cands += ["data_format"]
    if name.startswith("locked"):
        cands += ["time_axis_value", "time_axis_type"]
    if name in ("dropout", "dropout_backward") and nd:
        cands += ["broadcast_axes_value", "broadcast_axes_repeat", "noise_shape_value",
                  "noise_shape_len", "both_forms"]
    if name.startswith(("spatial", "dropblock", "feature_alpha", "embedding")) or \
            (name == "drop_path" and kw.get("mode", "row") == "row"):
        cands += ["ndim"]
    if name == "drop_path_backward" and kw.get("mode", "row") == "row" and \
            "drop_path_backward_names_x" not in KNOWN_BUGS:
        cands += ["ndim"]
    if name.startswith("dropblock"):
        cands += ["block_size_value", "block_size_type", "block_size_len", "valid_only_type",
                  "share_channels_type", "scale_value", "kept_count_nowin"]
        if window is not None and kw.get("scale", "count") == "count":
            cands += ["kept_count_range", "kept_count_type"]
            if kw.get("training", True):
                cands += ["kept_count_missing"]
        if window is not None and kw.get("scale", "count") == "expected":
            cands += ["kept_count_expected"]
    if name.startswith("drop_path"):
        cands += ["scale_by_keep_type"]

    what = pick(rng, cands)
    V, T = ValueError, TypeError
    X = re.escape(xname)
    c.notes.append(f"bad argument: {what}")
    c.ref = None

    def ensure_out():
        if has_out and "out" not in kw:
            kw["out"] = layout(gen_values(rng, shape, dtype), pick(rng, WRITEABLE_LAYOUTS))
            c.name_array(kw["out"], "out")

    ensure_out()
    if what == "p_range":
        bad = pick(rng, (-0.1, -5e-324, 1.0000001, 1 + 2.0 ** -52, float("nan"), float("inf"),
                         -float("inf"), 2))
        c.args[1] = bad
        c.expect = (V, r"\bp\b", what)
    elif what == "p_type":
        c.args[1] = pick(rng, ("0.5", None, True, 0.5j, np.array([0.5]), [0.5]))
        c.expect = (T, r"\bp\b", what)
    elif what == "p_one_gauss":
        c.args[1] = pick(rng, (1.0, 1, np.float32(1.0)))
        c.expect = (V, r"\bp\b", what)
    elif what == "seed_value":
        kw["seed"] = pick(rng, (-1, TWO64, TWO64 + 5, -(TWO63)))
        c.expect = (V, r"\bseed\b", what)
    elif what == "seed_type":
        kw["seed"] = pick(rng, (1.0, "1", True, np.float64(3), 2 + 0j))
        c.expect = (T, r"\bseed\b", what)
    elif what == "offset_neg":
        kw["offset"] = pick(rng, (-1, -4, -(TWO64)))
        c.expect = (V, r"\boffset\b", what)
    elif what == "offset_over":
        kw["offset"] = TWO64 - check_n + int(rng.integers(1, 5)) if check_n else \
            TWO64 + int(rng.integers(1, 5))
        c.expect = (V, r"\boffset\b", what)
    elif what == "offset_over_mask":
        nmask = prod(shape) if kind == "dropblock" or axes is None else \
            prod(_reduced(shape, axes))
        kw["offset"] = TWO64 - nmask + int(rng.integers(1, 5))
        c.expect = (V, r"\boffset\b", what)
    elif what == "offset_type":
        kw["offset"] = pick(rng, (1.5, "3", True, np.float32(2)))
        c.expect = (T, r"\boffset\b", what)
    elif what == "seed_and_rng":
        kw["rng"] = c.gen = fd.Generator(int(rng.integers(100)))
        c.gen_state = c.gen.get_state()
        c.expect = (V, r"\bseed\b.*\brng\b|\brng\b.*\bseed\b", what)
    elif what == "rng_type":
        kw.pop("seed", None)
        kw.pop("offset", None)
        kw["rng"] = pick(rng, (np.random.default_rng(0), 5, "gen"))
        c.gen = None
        c.expect = (T, r"\brng\b", what)
    elif what == "rng_offset":
        kw["offset"] = int(rng.integers(1, 100))
        if src == "default":
            kw["rng"] = c.gen = fd.Generator(1)
            c.gen_state = c.gen.get_state()
        c.expect = (V, r"\boffset\b", what)
    elif what == "training_type":
        kw["training"] = pick(rng, ("yes", 1, None, 0.0, np.array(True)))
        c.expect = (T, r"\btraining\b", what)
    elif what == "return_mask_type":
        kw["return_mask"] = pick(rng, (1, "True", None))
        c.expect = (T, r"\breturn_mask\b", what)
    elif what == "x_dtype":
        bad = pick(rng, (np.int32, np.int64, np.uint8, np.bool_, np.complex64, np.complex128,
                         np.longdouble, object, "U2"))
        c.args[0] = np.zeros(shape, bad)
        c.name_array(c.args[0], xname)
        c.expect = (T, rf"\b{X}\b", what)
    elif what == "x_junk":
        c.args[0] = pick(rng, ("abc", object(), [1j, 2j], {"a": 1}))
        c.expect = (T, rf"\b{X}\b", what)
    elif what == "out_shape":
        bads = [shape + (1,), (1,) + shape, tuple(reversed(shape)), (prod(shape) + 1,),
                shape[:-1], ()]
        bads = [b for b in bads if b != shape]
        kw["out"] = np.full(pick(rng, bads), -3.5, dtype)
        c.name_array(kw["out"], "out")
        c.expect = (V, r"\bout\b", what)
    elif what == "out_dtype":
        other = pick(rng, [d for d in (np.float16, np.float32, np.float64, np.int32,
                                       np.complex64, np.dtype(dtype).newbyteorder())
                           if np.dtype(d) != np.dtype(dtype)])
        kw["out"] = np.zeros(shape, other)
        c.name_array(kw["out"], "out")
        c.expect = (T, r"\bout\b", what)
    elif what == "out_readonly":
        o = np.full(shape, -3.5, dtype)
        if chance(rng, 0.5):
            o.flags.writeable = False
        else:
            o = np.broadcast_to(np.array(-3.5, dtype), shape)
        kw["out"] = o
        c.name_array(o, "out")
        c.expect = (V, r"\bout\b", what)
    elif what == "out_type":
        kw["out"] = pick(rng, ([0.0] * max(1, prod(shape)), "out", 3.0))
        c.expect = (T, r"\bout\b", what)
    elif what == "mask_size":
        m = kw["mask"]
        if m.size and chance(rng, 0.5):
            bad = np.zeros(m.size - 1, np.uint8)
        elif chance(rng, 0.5):
            bad = np.zeros(m.size + 1, np.uint8)
        else:
            bad = np.zeros((m.size, 1), np.uint8)
        kw["mask"] = bad
        c.name_array(bad, "mask")
        c.expect = (V, r"\bmask\b", what)
    elif what == "mask_dtype":
        m = kw["mask"]
        kw["mask"] = m.astype(pick(rng, (np.int8, np.uint16, np.bool_, np.float32, np.int64)))
        c.name_array(kw["mask"], "mask")
        c.expect = (T, r"\bmask\b", what)
    elif what == "mask_type":
        kw["mask"] = kw["mask"].tolist()
        c.expect = (T, r"\bmask\b", what)
    elif what == "mask_and_seed":
        kw["seed"] = int(rng.integers(100))
        c.expect = (V, r"\bmask\b.*\bseed\b|\bseed\b.*\bmask\b", what)
    elif what == "no_source":
        kw.pop("mask", None)
        kw.pop("seed", None)
        c.expect = (V, r"\bmask\b.*\bseed\b|\bseed\b.*\bmask\b", what)
    elif what == "gauss_no_seed":
        kw.pop("seed", None)
        c.expect = (V, r"\bseed\b", what)
    elif what == "packed_type":
        kw["packed"] = pick(rng, (1, "no", None))
        c.expect = (T, r"\bpacked\b", what)
    elif what == "shape_value":
        c.args[0] = tuple(shape[:-1]) + (-1,) if shape else (-2,)
        c.expect = (V, r"\bshape\b", what)
    elif what == "shape_type":
        c.args[0] = pick(rng, (2.5, "3", [1.5, 2], None))
        c.expect = (T, r"\bshape\b", what)
    elif what in ("window_type", "window_ndim", "window_fit", "window_neg", "window_offset",
                  "window_fit_new", "window_noseed"):
        gs = tuple(int(v) for v in window[0]) if window is not None else \
            tuple(s + 1 for s in shape)
        org = tuple(int(v) for v in window[1]) if window is not None else (0,) * nd
        if what == "window_type":
            kw["window"] = pick(rng, ("ab", 5, (gs,), (gs, org, org), 3.0))
            c.expect = (T, r"\bwindow\b", what)
        elif what == "window_ndim":
            kw["window"] = pick(rng, ((gs + (3,), org + (0,)), (gs[:-1], org[:-1]),
                                      (gs, org + (0,)))) if nd else ((3,), (0,))
            c.expect = (V, r"\bwindow\b", what)
        elif what in ("window_fit", "window_fit_new"):
            if nd == 0:
                kw["window"] = ((1,), (0,))
                c.expect = (V, r"\bwindow\b", what)
            else:
                d = int(rng.integers(nd))
                o2 = list(org)
                o2[d] = gs[d] - shape[d] + int(rng.integers(1, 4))
                kw["window"] = (gs, tuple(o2))
                c.expect = (V, r"\bwindow\b", what)
            if "seed" not in kw and "mask" not in kw and name not in ("gaussian_dropout_backward",):
                kw["seed"] = 1
                kw.pop("rng", None)
                c.gen = None
        elif what == "window_neg":
            if nd == 0:
                kw["window"] = ((), (-1,))
            else:
                d = int(rng.integers(nd))
                o2 = list(org)
                o2[d] = -int(rng.integers(1, 4))
                kw["window"] = (gs, tuple(o2))
            c.expect = (V, r"\bwindow\b", what)
        elif what == "window_offset":
            nwin = check_n
            kw["offset"] = TWO64 - nwin + int(rng.integers(1, 5))
            c.expect = (V, r"\boffset\b", what)
        elif what == "window_noseed":
            kw.pop("seed", None)
            kw.pop("offset", None)
            if chance(rng, 0.5):
                kw["rng"] = c.gen = fd.Generator(3)
            else:
                kw.pop("rng", None)
                c.gen = fd.default_generator()
            c.gen_state = {"seed": 5, "offset": 8}
            if isinstance(kw.get("rng"), fd.Generator):
                kw["rng"].set_state(dict(c.gen_state))
            c.expect = (V, r"\bseed\b", what)
    elif what == "mode_value":
        kw["mode"] = pick(rng, ("scaled", None, "Inverted", "row " if name.startswith("drop_")
                                else "batch"))
        c.expect = (V, r"\bmode\b", what)
    elif what == "data_format":
        kw["data_format"] = pick(rng, ("NCHW", "channels-first", None, 1))
        c.expect = (V, r"\bdata_format\b", what)
    elif what == "time_axis_value":
        kw["time_axis"] = pick(rng, (nd, -nd - 1, nd + 5))
        c.expect = (V, r"\btime_axis\b", what)
    elif what == "time_axis_type":
        kw["time_axis"] = pick(rng, (0.0, "0", None, True))
        c.expect = (T, r"\btime_axis\b", what)
    elif what == "broadcast_axes_value":
        kw.pop("noise_shape", None)
        kw["broadcast_axes"] = pick(rng, (nd, (0, nd), -nd - 1))
        c.expect = (V, r"\bbroadcast_axes\b", what)
    elif what == "broadcast_axes_repeat":
        kw.pop("noise_shape", None)
        kw["broadcast_axes"] = (0, 0) if chance(rng, 0.5) else (nd - 1, -1)
        c.expect = (V, r"\bbroadcast_axes\b", what)
    elif what == "noise_shape_value":
        kw.pop("broadcast_axes", None)
        ns = [None] * nd
        d = int(rng.integers(nd))
        ns[d] = shape[d] + 1 if shape[d] != 0 else 2
        kw["noise_shape"] = tuple(ns)
        c.expect = (V, r"\bnoise_shape\b", what)
    elif what == "noise_shape_len":
        kw.pop("broadcast_axes", None)
        kw["noise_shape"] = (None,) * (nd + 1)
        c.expect = (V, r"\bnoise_shape\b", what)
    elif what == "both_forms":
        kw["broadcast_axes"] = 0
        kw["noise_shape"] = (None,) * nd
        c.expect = (V, r"\bbroadcast_axes\b.*\bnoise_shape\b", what)
    elif what == "ndim":
        if name.startswith("spatial"):
            newshape = pick(rng, (shape[:2], shape + (1,) * (6 - nd), (prod(shape),)))
        elif name.startswith("dropblock"):
            newshape = pick(rng, (shape[:3], shape + (1,) * (6 - nd), shape[:2]))
        elif name.startswith("feature_alpha"):
            newshape = pick(rng, ((prod(shape),), ()))
        else:  # embedding, drop_path row: 0-d
            newshape = ()
        x = gen_values(rng, newshape, dtype)
        c.args[0] = x
        c.name_array(x, xname)
        kw["out"] = np.full(newshape, -3.5, dtype)
        c.name_array(kw["out"], "out")
        for k in ("mask", "window", "kept_count", "rng"):
            kw.pop(k, None)
        c.gen = None
        if not forward or "seed" not in kw:
            kw["seed"] = 1
            kw.pop("offset", None)
        c.expect = (V, rf"\b{X}\b", what)
    elif what == "block_size_value":
        c.args[2] = pick(rng, (0, -1, (0,) * (nd - 2), (1,) * (nd - 3) + (-2,)))
        c.expect = (V, r"\bblock_size\b", what)
    elif what == "block_size_type":
        c.args[2] = pick(rng, (2.5, "3", None, (1.0,) * (nd - 2)))
        c.expect = (T, r"\bblock_size\b", what)
    elif what == "block_size_len":
        c.args[2] = (1,) * (nd - 2 + pick(rng, (-1, 1)))
        c.expect = (V, r"\bblock_size\b", what)
    elif what == "valid_only_type":
        kw["valid_only"] = pick(rng, (1, "yes", None))
        c.expect = (T, r"\bvalid_only\b", what)
    elif what == "share_channels_type":
        kw["share_channels"] = pick(rng, (0, "no", None))
        c.expect = (T, r"\bshare_channels\b", what)
    elif what == "scale_value":
        kw["scale"] = pick(rng, ("counted", None, "expect"))
        c.expect = (V, r"\bscale\b", what)
    elif what == "kept_count_nowin":
        kw.pop("window", None)
        kw["kept_count"] = int(rng.integers(0, 10))
        if kw.get("scale", "count") == "expected" and chance(rng, 0.5):
            kw.pop("scale")
        c.expect = (V, r"\bkept_count\b", what)
    elif what == "kept_count_range":
        kw["kept_count"] = pick(rng, (-1, prod(tuple(int(v) for v in window[0])) + 1))
        c.expect = (V, r"\bkept_count\b", what)
    elif what == "kept_count_type":
        kw["kept_count"] = pick(rng, (1.5, "3", True))
        c.expect = (T, r"\bkept_count\b", what)
    elif what == "kept_count_missing":
        kw.pop("kept_count", None)
        c.expect = (V, r"\bkept_count\b", what)
    elif what == "kept_count_expected":
        kw["kept_count"] = 0
        c.expect = (V, r"\bkept_count\b", what)
    elif what == "scale_by_keep_type":
        kw["scale_by_keep"] = pick(rng, (1, "yes", None))
        c.expect = (T, r"\bscale_by_keep\b", what)
    else:
        raise AssertionError(what)
    # the state the generator must still have after the failed call
    if c.gen is not None and c.gen_state is None:
        c.gen_state = c.gen.get_state()


# ------------------------------------------------------------------------------------------
# Running and checking
# ------------------------------------------------------------------------------------------
class FuzzFailure(AssertionError):
    """A case fastdrop got wrong: the message is the case's description and the problems."""

    def __init__(self, case, problems):
        super().__init__(case.describe() + "\n" + "\n".join(" * " + p for p in problems))
        self.problems = problems


def _snap(a):
    """The contents of `a` (raw bytes in C order; values for object arrays)."""
    if not isinstance(a, np.ndarray):
        return None
    if a.dtype.hasobject:
        return a.tolist()
    return np.ascontiguousarray(a).tobytes()


def _fmt_exc(e):
    return f"{type(e).__name__}: {e}"


def _compare_arrays(got, want, what):
    got_a, want_a = np.asarray(got), np.asarray(want)
    if got_a.dtype != want_a.dtype:
        return f"{what}: dtype {got_a.dtype} != reference {want_a.dtype}"
    if got_a.shape != want_a.shape:
        return f"{what}: shape {got_a.shape} != reference {want_a.shape}"
    gb, wb = raw_bits(got_a), raw_bits(want_a)
    if not np.array_equal(gb, wb):
        bad = np.flatnonzero(gb != wb)
        i = int(bad[0])
        gv, wv = got_a.reshape(-1)[i], want_a.reshape(-1)[i]
        idx = np.unravel_index(i, got_a.shape) if got_a.ndim else ()
        return (f"{what}: {bad.size} of {gb.size} elements differ; first at flat index {i} "
                f"{tuple(int(v) for v in idx)}: got {gv!r} (0x{int(gb[i]):x}), "
                f"want {wv!r} (0x{int(wb[i]):x})")
    return None


def _unchanged(before, a, what):
    if before is None:
        return None
    if _snap(a) != before:
        return f"{what} was modified by the call"
    return None


def run_case(c):
    """Run one case; raise FuzzFailure (with the description) when fastdrop is wrong."""
    problems = []
    kw = c.kw
    x = c.args[0] if c.args and isinstance(c.args[0], np.ndarray) else None
    out = kw.get("out") if isinstance(kw.get("out"), np.ndarray) else None
    mask = kw.get("mask") if isinstance(kw.get("mask"), np.ndarray) else None
    snaps = {"out": _snap(out), "x": _snap(x), "mask": _snap(mask)}

    want = want_exc = None
    if c.expect is None:
        try:
            want = c.ref()
        except Exception as e:  # noqa: BLE001 - any reference error is compared by type
            want_exc = e

    default_state = None
    if c.gen is not None and c.kw.get("rng") is not c.gen:
        default_state = fd.default_generator().get_state()
        fd.default_generator().set_state(dict(c.gen_state))
    got = got_exc = None
    tb = ""
    try:
        fd.set_isa(c.isa)
        fd.set_num_threads(c.threads)
        got = c.fn(*c.args, **kw)
    except Exception as e:  # noqa: BLE001
        got_exc = e
        tb = traceback.format_exc()
    finally:
        fd.set_isa(None)
        fd.set_num_threads(None)
        gen_after = c.gen.get_state() if c.gen is not None else None
        if default_state is not None:
            fd.default_generator().set_state(default_state)

    def fail(msg):
        problems.append(msg)

    if c.expect is not None:
        etype, regex, why = c.expect
        if got_exc is None:
            fail(f"expected {etype.__name__} ({why}) matching /{regex}/, but the call "
                 f"returned normally")
        elif not isinstance(got_exc, etype):
            fail(f"expected {etype.__name__} ({why}) matching /{regex}/, got "
                 f"{_fmt_exc(got_exc)}\n{tb}")
        elif not re.search(regex, str(got_exc), re.S):
            fail(f"{etype.__name__} raised ({why}) but its message does not match "
                 f"/{regex}/: {got_exc}")
        for k in ("out", "x", "mask"):
            m = _unchanged(snaps[k], {"out": out, "x": x, "mask": mask}[k], k)
            if m:
                fail(m + " although the call raised")
        if c.gen is not None and gen_after != c.gen_state:
            fail(f"generator state changed by a call that raised: {c.gen_state} -> "
                 f"{gen_after}")
    elif want_exc is not None:
        if got_exc is None:
            fail(f"reference raised {_fmt_exc(want_exc)} but fastdrop returned normally")
        elif type(got_exc) is not type(want_exc):
            fail(f"reference raised {_fmt_exc(want_exc)}, fastdrop raised "
                 f"{_fmt_exc(got_exc)}\n{tb}")
        m = _unchanged(snaps["out"], out, "out")
        if m and got_exc is not None:
            fail(m + " although the call raised")
    elif got_exc is not None:
        fail(f"fastdrop raised {_fmt_exc(got_exc)}; the reference returned a result\n{tb}")
    else:
        # results
        if c.mask_kind is not None:  # dropout_mask
            w = np.asarray(want)
            if c.mask_kind == "packed":
                g = np.asarray(got)
                if g.dtype != np.uint8 or g.ndim != 1:
                    fail(f"packed mask: dtype {g.dtype} shape {g.shape}")
                else:
                    m = _compare_arrays(g, w, "packed mask")
                    if m:
                        fail(m)
            else:
                m = _compare_arrays(np.asarray(got), w, "boolean mask")
                if m:
                    fail(m)
        else:
            if c.return_mask:
                if not (isinstance(got, tuple) and len(got) == 2):
                    fail(f"return_mask=True did not return (y, mask): {type(got)}")
                    gy = gm = None
                else:
                    gy, gm = got
                wy, wm = want
            else:
                gy, gm, wy, wm = got, None, want, None
            if gy is not None:
                m = _compare_arrays(gy, wy, "y")
                if m:
                    fail(m)
                if out is not None and gy is not out:
                    fail("the result is not the out= array")
                if out is None and isinstance(gy, np.ndarray) and not gy.flags.c_contiguous:
                    fail(f"the result without out= is not C-contiguous: strides {gy.strides}")
                if out is not None and gy is not out:
                    m = _compare_arrays(out, wy, "out")
                    if m:
                        fail(m)
            if gm is not None:
                gm_a = np.asarray(gm)
                if gm_a.dtype != np.uint8 or gm_a.ndim != 1:
                    fail(f"returned mask: dtype {gm_a.dtype} shape {gm_a.shape}")
                else:
                    m = _compare_arrays(gm_a, wm, "returned mask")
                    if m:
                        fail(m)
        # inputs not written unless they are out
        if x is not None and (out is None or not np.shares_memory(x, out)):
            m = _unchanged(snaps["x"], x, c.names.get(id(x), "x"))
            if m:
                fail(m)
        if mask is not None and (out is None or not np.shares_memory(mask, out)):
            m = _unchanged(snaps["mask"], mask, "mask")
            if m:
                fail(m)
        # the generator advanced by the draw (rounded up to 4), or not at all in inference
        if c.gen is not None:
            adv = gen_after["offset"] - c.gen_state["offset"]
            training = bool(kw.get("training", True))
            expect_adv = ceil4(c.draw_n) if training else 0
            if adv != expect_adv or gen_after["seed"] != c.gen_state["seed"]:
                fail(f"generator advanced by {adv} (state {c.gen_state} -> {gen_after}); "
                     f"expected {expect_adv} (draw of {c.draw_n} elements)")
    if problems:
        raise FuzzFailure(c, problems)


def run_seed(case_seed):
    c = gen_case(case_seed)
    with np.errstate(all="ignore"):
        run_case(c)
    return c


if __name__ == "__main__":
    status = 0
    for s in sys.argv[1:] or ["0"]:
        case = gen_case(int(s))
        print(case.describe())
        try:
            with np.errstate(all="ignore"):
                run_case(case)
            print("  -> ok")
        except FuzzFailure as e:
            print("  -> FAIL\n" + "\n".join(" * " + p for p in e.problems))
            status = 1
    sys.exit(status)
