"""Bad input gets the documented error, naming the argument, and nothing is written.

Every failing call is given an ``out`` (or the input itself) filled with a sentinel, which must
be unchanged afterwards: validation happens before any kernel runs.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import reference as ref

TWO64 = 1 << 64
SENTINEL = -3.5
DTYPE_LIST = r"float16, float32 or float64"


def sentinel(shape=(5, 7), dtype=np.float32):
    return np.full(shape, SENTINEL, dtype)


def x_(shape=(5, 7), dtype=np.float32):
    return np.arange(np.prod(shape), dtype=dtype).reshape(shape) + 1


def unchanged(a):
    return np.all(a == SENTINEL)


def _mask(n=35):
    return fd.dropout_mask(n, 0.5, seed=1)


# (label, exception, regex the message must match, callable(out) -> None)
FORWARD_CASES = [
    # p
    ("p<0", ValueError, r"\bp\b.*\[0, 1\]", lambda o: fd.dropout(x_(), -0.1, seed=1, out=o)),
    ("p>1", ValueError, r"\bp\b.*\[0, 1\]", lambda o: fd.dropout(x_(), 1.0000001, seed=1, out=o)),
    ("p nan", ValueError, r"\bp\b", lambda o: fd.dropout(x_(), float("nan"), seed=1, out=o)),
    ("p inf", ValueError, r"\bp\b", lambda o: fd.dropout(x_(), float("inf"), seed=1, out=o)),
    ("p str", TypeError, r"\bp\b", lambda o: fd.dropout(x_(), "0.5", seed=1, out=o)),
    ("p None", TypeError, r"\bp\b", lambda o: fd.dropout(x_(), None, seed=1, out=o)),
    ("p complex", TypeError, r"\bp\b", lambda o: fd.dropout(x_(), 0.5j, seed=1, out=o)),
    ("p array", TypeError, r"\bp\b", lambda o: fd.dropout(x_(), np.array([0.5]), seed=1, out=o)),
    # seed
    ("seed float", TypeError, r"seed", lambda o: fd.dropout(x_(), 0.5, seed=1.0, out=o)),
    ("seed negative", ValueError, r"seed", lambda o: fd.dropout(x_(), 0.5, seed=-1, out=o)),
    ("seed 2**64", ValueError, r"seed", lambda o: fd.dropout(x_(), 0.5, seed=TWO64, out=o)),
    ("seed bool", TypeError, r"seed", lambda o: fd.dropout(x_(), 0.5, seed=True, out=o)),
    ("seed str", TypeError, r"seed", lambda o: fd.dropout(x_(), 0.5, seed="1", out=o)),
    # offset
    ("offset negative", ValueError, r"offset",
     lambda o: fd.dropout(x_(), 0.5, seed=1, offset=-1, out=o)),
    ("offset+size>2**64", ValueError, r"offset",
     lambda o: fd.dropout(x_(), 0.5, seed=1, offset=TWO64 - 34, out=o)),
    ("offset 2**64", ValueError, r"offset",
     lambda o: fd.dropout(x_(), 0.5, seed=1, offset=TWO64, out=o)),
    ("offset float", TypeError, r"offset",
     lambda o: fd.dropout(x_(), 0.5, seed=1, offset=1.0, out=o)),
    ("offset bool", TypeError, r"offset",
     lambda o: fd.dropout(x_(), 0.5, seed=1, offset=True, out=o)),
    # mode, flags
    ("mode unknown", ValueError, r"mode.*inverted.*naive",
     lambda o: fd.dropout(x_(), 0.5, seed=1, mode="scaled", out=o)),
    ("mode None", ValueError, r"mode", lambda o: fd.dropout(x_(), 0.5, seed=1, mode=None, out=o)),
    ("training str", TypeError, r"training",
     lambda o: fd.dropout(x_(), 0.5, seed=1, training="yes", out=o)),
    ("return_mask int", TypeError, r"return_mask",
     lambda o: fd.dropout(x_(), 0.5, seed=1, return_mask=2, out=o)),
    # sources
    ("seed and rng", ValueError, r"seed.*rng|rng.*seed",
     lambda o: fd.dropout(x_(), 0.5, seed=1, rng=fd.Generator(1), out=o)),
    ("rng wrong type", TypeError, r"rng",
     lambda o: fd.dropout(x_(), 0.5, rng=np.random.default_rng(0), out=o)),
    ("rng with offset", ValueError, r"offset",
     lambda o: fd.dropout(x_(), 0.5, rng=fd.Generator(1), offset=4, out=o)),
]


@pytest.mark.parametrize("label,exc,match,call", FORWARD_CASES, ids=[c[0] for c in FORWARD_CASES])
def test_forward_bad_arguments(label, exc, match, call):
    out = sentinel()
    with pytest.raises(exc, match=match):
        call(out)
    assert unchanged(out), "out was written before the error"


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_,
                                   np.complex64, np.complex128, object, "U3", "datetime64[s]",
                                   np.longdouble])
def test_unsupported_dtypes(dtype):
    x = np.zeros((5, 7), dtype=dtype)
    out = sentinel()
    with pytest.raises(TypeError, match=DTYPE_LIST):
        fd.dropout(x, 0.5, seed=1, out=out)
    assert unchanged(out)
    with pytest.raises(TypeError, match=DTYPE_LIST):
        fd.dropout_backward(x, 0.5, seed=1, out=out)
    assert unchanged(out)
    with pytest.raises(TypeError, match=r"\bx\b"):
        fd.dropout(x, 0.5, seed=1)
    with pytest.raises(TypeError, match=r"grad"):
        fd.dropout_backward(x, 0.5, seed=1)


@pytest.mark.parametrize("value", [[1 + 2j], ["a", "b"], [object()], {"a": 1}, None])
def test_unsupported_array_likes(value):
    with pytest.raises(TypeError, match=DTYPE_LIST + r"|array-like"):
        fd.dropout(value, 0.5, seed=1)


# --------------------------------------------------------------------------------------------
# out
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", ["dropout", "dropout_backward"])
def test_out_wrong_shape(fn):
    x = x_()
    for shape in [(7, 5), (35,), (5, 7, 1), ()]:
        out = sentinel(shape)
        with pytest.raises(ValueError, match=r"\bout\b.*shape"):
            getattr(fd, fn)(x, 0.5, seed=1, out=out)
        assert unchanged(out)
        assert np.array_equal(x, x_())


@pytest.mark.parametrize("fn", ["dropout", "dropout_backward"])
def test_out_wrong_dtype(fn):
    x = x_()
    for dt in (np.float64, np.float16, np.int32):
        out = sentinel(dtype=dt) if dt != np.int32 else np.full((5, 7), -3, dt)
        with pytest.raises(TypeError, match=r"\bout\b.*dtype"):
            getattr(fd, fn)(x, 0.5, seed=1, out=out)
        assert np.all(out == (-3 if dt == np.int32 else SENTINEL))


def test_out_not_an_array():
    with pytest.raises(TypeError, match=r"\bout\b"):
        fd.dropout(x_(), 0.5, seed=1, out=[0.0] * 35)


@pytest.mark.parametrize("fn", ["dropout", "dropout_backward"])
def test_out_read_only(fn):
    out = sentinel()
    out.flags.writeable = False
    with pytest.raises(ValueError, match=r"\bout\b.*read-only"):
        getattr(fd, fn)(x_(), 0.5, seed=1, out=out)
    assert unchanged(out)
    b = np.broadcast_to(np.float32(SENTINEL), (5, 7))
    with pytest.raises(ValueError, match=r"\bout\b"):
        getattr(fd, fn)(x_(), 0.5, seed=1, out=b)
    # in place on a read-only input
    with pytest.raises(ValueError, match=r"\bout\b"):
        getattr(fd, fn)(out, 0.5, seed=1, out=out)
    assert unchanged(out)


def _overlap_pair(label):
    """(x, out) built on fresh memory: out overlaps x without being exactly x."""
    base = np.arange(1.0, 41.0)
    m = np.arange(1.0, 17.0).reshape(4, 4)
    return {
        "reversed view": lambda: (base[:10], base[:10][::-1]),
        "shifted by one": lambda: (base[:10], base[1:11]),
        "shifted back by one": lambda: (base[1:11], base[:10]),
        "transpose": lambda: (m, m.T),
        "reversed rows": lambda: (m, m[::-1]),
        "same start, other strides": lambda: (base[:10], base[::4]),
        "partial overlap 2-d": lambda: (m[:2], m[1:3]),
    }[label]()


OVERLAPS = ["reversed view", "shifted by one", "shifted back by one", "transpose",
            "reversed rows", "same start, other strides", "partial overlap 2-d"]


@pytest.mark.parametrize("fn", ["dropout", "dropout_backward"])
@pytest.mark.parametrize("label", OVERLAPS)
def test_out_overlapping_input(fn, label):
    x, out = _overlap_pair(label)
    before_x, before_out = x.copy(), out.copy()
    with pytest.raises(ValueError, match=r"\bout\b.*overlap"):
        getattr(fd, fn)(x, 0.5, seed=1, out=out)
    np.testing.assert_array_equal(x, before_x)
    np.testing.assert_array_equal(out, before_out)


@pytest.mark.parametrize("fn", ["dropout", "dropout_backward"])
def test_out_interleaved_without_common_elements_is_allowed(fn):
    """Same buffer, no common element: not an overlap."""
    big = np.arange(1.0, 21.0)
    x, out = big[0::2], big[1::2]
    want = getattr(ref, fn)(x.copy(), 0.5, seed=1)
    assert getattr(fd, fn)(x, 0.5, seed=1, out=out) is out
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(x, np.arange(1.0, 21.0, 2))


# --------------------------------------------------------------------------------------------
# backward
# --------------------------------------------------------------------------------------------
BACKWARD_CASES = [
    ("neither mask nor seed", ValueError, r"mask.*seed|seed.*mask",
     lambda o: fd.dropout_backward(x_(), 0.5, out=o)),
    ("mask and seed", ValueError, r"mask.*seed|seed.*mask",
     lambda o: fd.dropout_backward(x_(), 0.5, mask=_mask(), seed=1, out=o)),
    ("mask too short", ValueError, r"\bmask\b.*5 bytes",
     lambda o: fd.dropout_backward(x_(), 0.5, mask=_mask()[:4], out=o)),
    ("mask too long", ValueError, r"\bmask\b",
     lambda o: fd.dropout_backward(x_(), 0.5, mask=_mask(41), out=o)),
    ("mask unpacked bool", TypeError, r"\bmask\b.*uint8",
     lambda o: fd.dropout_backward(x_(), 0.5, mask=np.ones((5, 7), bool), out=o)),
    ("mask int64", TypeError, r"\bmask\b.*uint8",
     lambda o: fd.dropout_backward(x_(), 0.5, mask=_mask().astype(np.int64), out=o)),
    ("mask list", TypeError, r"\bmask\b",
     lambda o: fd.dropout_backward(x_(), 0.5, mask=_mask().tolist(), out=o)),
    ("mask 2-d", ValueError, r"\bmask\b",
     lambda o: fd.dropout_backward(x_(), 0.5, mask=_mask().reshape(5, 1), out=o)),
    ("p>1", ValueError, r"\bp\b", lambda o: fd.dropout_backward(x_(), 2.0, seed=1, out=o)),
    ("p nan", ValueError, r"\bp\b",
     lambda o: fd.dropout_backward(x_(), float("nan"), mask=_mask(), out=o)),
    ("p str", TypeError, r"\bp\b", lambda o: fd.dropout_backward(x_(), "a", seed=1, out=o)),
    ("seed negative", ValueError, r"seed",
     lambda o: fd.dropout_backward(x_(), 0.5, seed=-5, out=o)),
    ("seed float", TypeError, r"seed", lambda o: fd.dropout_backward(x_(), 0.5, seed=2.0, out=o)),
    ("seed bool", TypeError, r"seed",
     lambda o: fd.dropout_backward(x_(), 0.5, seed=False, out=o)),
    ("seed 2**64", ValueError, r"seed",
     lambda o: fd.dropout_backward(x_(), 0.5, seed=TWO64, out=o)),
    ("offset negative", ValueError, r"offset",
     lambda o: fd.dropout_backward(x_(), 0.5, seed=1, offset=-3, out=o)),
    ("offset+size>2**64", ValueError, r"offset",
     lambda o: fd.dropout_backward(x_(), 0.5, seed=1, offset=TWO64 - 1, out=o)),
    ("mode unknown", ValueError, r"mode",
     lambda o: fd.dropout_backward(x_(), 0.5, seed=1, mode="Inverted", out=o)),
]


@pytest.mark.parametrize("label,exc,match,call", BACKWARD_CASES,
                         ids=[c[0] for c in BACKWARD_CASES])
def test_backward_bad_arguments(label, exc, match, call):
    out = sentinel()
    with pytest.raises(exc, match=match):
        call(out)
    assert unchanged(out), "out was written before the error"


def test_backward_in_place_error_leaves_grad_alone():
    g = sentinel()
    with pytest.raises(ValueError, match=r"\bmask\b"):
        fd.dropout_backward(g, 0.5, mask=_mask()[:3], out=g)
    assert unchanged(g)


# --------------------------------------------------------------------------------------------
# dropout_mask
# --------------------------------------------------------------------------------------------
MASK_CASES = [
    ("shape negative", ValueError, r"shape", lambda: fd.dropout_mask((3, -1), 0.5, seed=1)),
    ("shape float", TypeError, r"shape", lambda: fd.dropout_mask((3.0, 2), 0.5, seed=1)),
    ("shape str", TypeError, r"shape", lambda: fd.dropout_mask("ab", 0.5, seed=1)),
    ("shape None", TypeError, r"shape", lambda: fd.dropout_mask(None, 0.5, seed=1)),
    ("p<0", ValueError, r"\bp\b", lambda: fd.dropout_mask(8, -1e-9, seed=1)),
    ("p nan", ValueError, r"\bp\b", lambda: fd.dropout_mask(8, np.nan, seed=1)),
    ("seed neg", ValueError, r"seed", lambda: fd.dropout_mask(8, 0.5, seed=-1)),
    ("seed float", TypeError, r"seed", lambda: fd.dropout_mask(8, 0.5, seed=0.0)),
    ("offset", ValueError, r"offset", lambda: fd.dropout_mask(8, 0.5, seed=1, offset=TWO64 - 7)),
    ("packed", TypeError, r"packed", lambda: fd.dropout_mask(8, 0.5, seed=1, packed="no")),
    ("seed and rng", ValueError, r"rng", lambda: fd.dropout_mask(8, 0.5, seed=1,
                                                                  rng=fd.Generator(0))),
]


@pytest.mark.parametrize("label,exc,match,call", MASK_CASES, ids=[c[0] for c in MASK_CASES])
def test_mask_bad_arguments(label, exc, match, call):
    with pytest.raises(exc, match=match):
        call()


# --------------------------------------------------------------------------------------------
# Generator and configuration
# --------------------------------------------------------------------------------------------
def test_generator_bad_arguments():
    for bad, exc in [(-1, ValueError), (TWO64, ValueError), (1.5, TypeError), (True, TypeError),
                     ("7", TypeError)]:
        with pytest.raises(exc, match="seed"):
            fd.Generator(bad)
        with pytest.raises(exc, match="seed"):
            fd.Generator(0).manual_seed(bad)
    g = fd.Generator(3)
    for bad, exc in [(-1, ValueError), (2.0, TypeError), (None, TypeError)]:
        with pytest.raises(exc, match=r"\bn\b"):
            g.draw(bad)
    assert g.get_state() == {"seed": 3, "offset": 0}  # failed draws do not advance
    with pytest.raises(TypeError, match="state"):
        g.set_state({"seed": 1})
    with pytest.raises(TypeError, match="state"):
        g.set_state((1, 0))
    with pytest.raises(ValueError, match="offset"):
        g.set_state({"seed": 1, "offset": -4})
    with pytest.raises(ValueError, match="seed"):
        g.set_state({"seed": -1, "offset": 0})
    assert g.get_state() == {"seed": 3, "offset": 0}


def test_generator_exhausted():
    g = fd.Generator(1)
    g.set_state({"seed": 1, "offset": TWO64 - 8})
    assert g.draw(5) == (1, TWO64 - 8)
    with pytest.raises(OverflowError):
        g.draw(1)
    out = sentinel()
    with pytest.raises(OverflowError):
        fd.dropout(x_(), 0.5, rng=g, out=out)
    assert unchanged(out)


def test_config_bad_arguments(restore_threads):
    for bad, exc in [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError)]:
        with pytest.raises(exc, match=r"\bn\b"):
            fd.set_num_threads(bad)
    isa = fd.get_isa()
    with pytest.raises(ValueError, match="isa"):
        fd.set_isa("sse9")
    assert fd.get_isa() == isa


def _import_with_isa(value):
    """Import fastdrop in a fresh interpreter with FASTDROP_ISA=value: (returncode, output)."""
    env = dict(os.environ, FASTDROP_ISA=value)
    code = "import fastdrop as fd; print('isa', fd.get_isa())"
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize("value", ["AVX2", "sse", "sse2", "portable", "neon ", "bogus"])
def test_fastdrop_isa_unknown_name_is_an_error(value):
    rc, out = _import_with_isa(value)
    assert rc != 0
    assert "ValueError" in out and "FASTDROP_ISA=" in out and repr(value) in out
    for name in fd._core.ISA_NAMES:  # the accepted names are listed
        assert name in out


def test_fastdrop_isa_unavailable_path_is_an_error():
    missing = [n for n in fd._core.ISA_NAMES if n not in fd.supported_isas()]
    if not missing:  # x86-64 never runs neon, aarch64 never avx2: only a build with emulation
        pytest.skip("this build runs every path")
    rc, out = _import_with_isa(missing[0])
    assert rc != 0
    assert "ValueError" in out and "does not run" in out
    assert ", ".join(fd.supported_isas()) in out


@pytest.mark.parametrize("name", fd.supported_isas())
def test_fastdrop_isa_selects_a_supported_path(name):
    rc, out = _import_with_isa(name)
    assert rc == 0, out
    assert f"isa {name}" in out


def test_fastdrop_isa_empty_means_unset():
    rc, out = _import_with_isa("")
    assert rc == 0, out
    assert f"isa {fd._core.isa_best()}" in out


def test_empty_at_offset_2_64():
    e = np.empty((0,), np.float32)
    ref.dropout(e, 0.5, seed=1, offset=TWO64)  # the reference accepts it
    assert fd.dropout(e, 0.5, seed=1, offset=TWO64).shape == (0,)


def test_numpy_and_integer_arguments_are_accepted():
    """The other side of the checks: NumPy integers / floats and Python ints are fine."""
    x = x_()
    want = ref.dropout(x, 0.5, seed=2**64 - 1, offset=3)
    got = fd.dropout(x, np.float32(0.5), seed=np.uint64(2**64 - 1), offset=np.int64(3))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(fd.dropout(x, 1, seed=np.int8(4)), np.zeros_like(x))
    np.testing.assert_array_equal(fd.dropout(x, 0, seed=4), x)
    fd.dropout(x, 0.5, seed=1, training=np.bool_(True), return_mask=np.bool_(False))
    assert fd.dropout_mask(np.int64(9), 0.5, seed=1).shape == (2,)
    assert fd.dropout_mask([np.int32(3), 3], 0.5, seed=1, packed=False).shape == (3, 3)


def test_byte_swapped_float_input_is_computed_natively():
    x = np.arange(10, dtype=">f4")
    y = fd.dropout(x, 0.5, seed=3)
    assert y.dtype == np.float32
    assert np.array_equal(y, fd.reference.dropout(x.astype(np.float32), 0.5, seed=3))


# --- arrays that share memory with out ------------------------------------------------------
def _mask_inside_out(fn_fwd, fn_bwd, x, p, **kw):
    """Backward with the forward's packed mask stored in the first bytes of `out`: the mask is
    read as it was before the call (NumPy semantics for an input that overlaps the output)."""
    _, m = fn_fwd(x, p, seed=3, return_mask=True, **kw)
    want = fn_bwd(x, p, mask=m, **kw)
    out = np.empty_like(x)
    inside = out.reshape(-1).view(np.uint8)[:m.size]
    inside[:] = m
    got = fn_bwd(x, p, mask=inside, out=out, **kw)
    assert got is out
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("name,kw", [
    ("dropout", {}), ("dropout", {"broadcast_axes": (1,)}), ("spatial_dropout", {}),
    ("locked_dropout", {}), ("embedding_dropout", {}), ("drop_path", {}),
    ("alpha_dropout", {}), ("feature_alpha_dropout", {}),
])
def test_mask_stored_inside_out(name, kw):
    x = np.random.default_rng(1).standard_normal((4, 8, 128)).astype(np.float32)
    fwd = getattr(fd, name)
    bwd = getattr(fd, name + "_backward")
    p = 0.2 if name == "drop_path" else 0.5
    _mask_inside_out(fwd, bwd, x, p, **kw)


def test_dropblock_mask_stored_inside_out():
    x = np.random.default_rng(2).standard_normal((2, 4, 32, 32)).astype(np.float32)
    _, m = fd.dropblock(x, 0.2, 5, seed=3, return_mask=True)
    want = fd.dropblock_backward(x, 0.2, 5, mask=m)
    out = np.empty_like(x)
    inside = out.reshape(-1).view(np.uint8)[:m.size]
    inside[:] = m
    got = fd.dropblock_backward(x, 0.2, 5, mask=inside, out=out)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_same_memory_with_other_strides_on_length_1_axes_is_in_place():
    """a[:, None] and a.reshape(-1, 1) address the same elements (the stride of a length-1
    axis is never used): in place, not an overlap."""
    a = np.arange(1, 9, dtype=np.float32)
    want = fd.dropout(a, 0.5, seed=1).reshape(-1, 1)
    got = fd.dropout(a[:, None], 0.5, seed=1, out=a.reshape(-1, 1))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(a, want.ravel())
    g = np.arange(1, 9, dtype=np.float32)
    fd.dropout_backward(g.reshape(1, -1)[:, :], 0.5, seed=1, out=g[None, :])


def test_out_with_non_native_byte_order():
    b = np.ones(4, ">f4")
    keep = b.copy()
    with pytest.raises(TypeError, match=r"out has non-native byte order \(>f4\)"):
        fd.dropout(b, 0.5, seed=1, out=b)
    np.testing.assert_array_equal(b, keep)


def test_masked_arrays_are_refused():
    m = np.ma.array([1.0, 2.0, 3.0], mask=[0, 1, 0])
    with pytest.raises(TypeError, match="x is a numpy.ma.MaskedArray"):
        fd.dropout(m, 0.5, seed=1)
    with pytest.raises(TypeError, match="grad is a numpy.ma.MaskedArray"):
        fd.dropout_backward(m, 0.5, seed=1)
    with pytest.raises(TypeError, match="out must be a numpy.ndarray"):
        fd.dropout(np.ones(3), 0.5, seed=1, out=m)


def test_generator_setstate_validates():
    gen = fd.Generator(1)
    with pytest.raises(ValueError, match=r"state\['seed'\]"):
        gen.__setstate__({"seed": -1, "offset": 0})
    with pytest.raises(TypeError, match="state must be a dict"):
        gen.__setstate__({"seed": 1})
    assert gen.get_state() == {"seed": 1, "offset": 0}
