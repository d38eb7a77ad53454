"""Differential fuzzer: random calls of every public array function, fastdrop against
fastdrop.reference, bit for bit (generator and checker: tests/fuzz_harness.py).

Each case is generated from one integer *case seed* (``np.random.default_rng(case_seed)``):
the function (dropout, dropout_mask, dropout_backward with mask= or seed=, the
broadcast_axes= / noise_shape= forms, spatial / locked / embedding dropout, drop_path,
dropblock, alpha / feature-alpha / Gaussian dropout and every ``_backward``), dtype
(float16/32/64), 0-6 dimensions (0-d, empty and length-1 axes included), memory layout
(conftest's ``layout()``: C, F, permuted, negative strides, step slices, unaligned and
misaligned starts, read-only broadcasts), p (0, 1, tiny, near 1), options (mode, training,
return_mask, data_format, time_axis, valid_only / share_channels / scale / block_size,
scale_by_keep ...), seed and offset (near 2**34 and 2**64 - n) or a Generator, windows
(``window=(global_shape, origin)``, global sizes up to 2**64), the SIMD path
(fd.supported_isas()), 1-3 threads (a few cases above the parallel threshold), and ``out=``:
none, fresh, in place, another view overlapping the input (must raise ValueError and leave
``out`` untouched), interleaved without common elements, a packed mask living inside ``out``
or inside ``grad``. About one case in six corrupts one argument and expects a TypeError /
ValueError naming it, with ``out``, the inputs and the generator untouched. Failures print
the case seed, the full call and a repro command.

Running it::

    python -m pytest tests/test_fuzz.py                         # the short fixed-seed run
    python -m pytest tests/test_fuzz.py --fuzz-cases=20000 -q   # a long run (opt-in)
    python -m pytest tests/test_fuzz.py --fuzz-cases=5000 --fuzz-seed=7   # other cases
    python -m pytest tests/test_fuzz.py --fuzz-only=1234,5678   # rerun given case seeds
    PYTHONPATH=. python tests/fuzz_harness.py 1234              # one case, verbosely

``--fuzz-cases`` / ``--fuzz-seed`` default to the environment variables
``FASTDROP_FUZZ_CASES`` / ``FASTDROP_FUZZ_SEED``, then to SHORT_CASES cases of seed 0 (case
seeds ``fuzz_seed * 1000000 + i``).

Known bugs: ``fuzz_harness.KNOWN_BUGS`` lists classes of cases that hit bugs being fixed
elsewhere; the generator does not produce them (set ``FASTDROP_FUZZ_KNOWN_BUGS`` to a comma
separated list, or to ``none``, to change that). ``test_known_bug`` holds one minimal repro
per class, marked xfail(strict=True) while the class is listed: once a fix lands it XPASSes,
which fails, as a reminder to drop the name from ``DEFAULT_KNOWN_BUGS``.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import reference as R
import fuzz_harness as H
from conftest import assert_bitwise_equal, values

#: Cases of the short run in the normal suite.
SHORT_CASES = 1000
SEED_STRIDE = 1_000_000


def _fuzz_seeds(config):
    only = config.getoption("fuzz_only")
    if only:
        return [int(s) for s in only.replace(" ", "").split(",") if s]
    n = config.getoption("fuzz_cases")
    if n is None:
        n = int(os.environ.get("FASTDROP_FUZZ_CASES", SHORT_CASES))
    base = config.getoption("fuzz_seed")
    if base is None:
        base = int(os.environ.get("FASTDROP_FUZZ_SEED", 0))
    return [base * SEED_STRIDE + i for i in range(n)]


def pytest_generate_tests(metafunc):
    if "case_seed" in metafunc.fixturenames:
        seeds = _fuzz_seeds(metafunc.config)
        metafunc.parametrize("case_seed", seeds, ids=[f"case{s}" for s in seeds])


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Whatever a case does, the ISA, thread count and default generator come back."""
    state = fd.default_generator().get_state()
    try:
        yield
    finally:
        fd.set_isa(None)
        fd.set_num_threads(None)
        fd.default_generator().set_state(state)


def test_fuzz_case(case_seed):
    H.run_seed(case_seed)


# --------------------------------------------------------------------------------------------
# One minimal repro per known-bug class (see fuzz_harness.DEFAULT_KNOWN_BUGS)
# --------------------------------------------------------------------------------------------
def _mask_in_out():
    n = 70000
    g = values((n,), np.float32, seed=3)
    m = fd.dropout_mask(n, 0.5, seed=3)
    want = R.dropout_backward(g, 0.5, mask=m)
    out = np.zeros(n, np.float32)
    fb = out.view(np.uint8)
    fb[:m.size] = m
    fd.set_num_threads(1)
    got = fd.dropout_backward(g, 0.5, mask=fb[:m.size], out=out)
    assert_bitwise_equal(got, want, "mask inside out")


def _size1_stride_alias():
    a = values((5,), np.float32, seed=1)
    x = a[:, None]
    want = R.dropout(x, 0.5, seed=1)
    got = fd.dropout(x, 0.5, seed=1, out=a.reshape(-1, 1))
    assert_bitwise_equal(got, want, "in place through other strides on a length-1 axis")


def _window_ge_2_63():
    x = values((3,), np.float32, seed=2)
    w = ((2**63 + 5,), (7,))
    assert_bitwise_equal(fd.dropout(x, 0.5, seed=1, window=w),
                         R.dropout(x, 0.5, seed=1, window=w), "window extent >= 2**63")


def _alpha_backward_p1_mask():
    g = -np.ones(8, np.float32)
    m = np.array([0xFF], np.uint8)
    assert_bitwise_equal(fd.alpha_dropout_backward(g, 1.0, mask=m),
                         R.alpha_dropout_backward(g, 1.0, mask=m), "alpha backward p=1")


def _ref_window_offset_2_64():
    x = np.zeros((0, 3), np.float32)
    w = ((0, 3), (0, 0))
    assert_bitwise_equal(R.dropout(x, 0.5, seed=1, offset=2**64, window=w),
                         fd.dropout(x, 0.5, seed=1, offset=2**64, window=w))


def _ref_window_stride_2_64():
    x = values((1, 2, 3), np.float32, seed=4)
    w = ((1, 2**32, 2**32), (0, 5, 7))
    assert_bitwise_equal(R.dropout(x, 0.5, seed=1, window=w),
                         fd.dropout(x, 0.5, seed=1, window=w))


def _drop_path_backward_names_x():
    with pytest.raises(ValueError, match=r"\bgrad\b"):
        fd.drop_path_backward(np.float32(1.0), 0.5, seed=1)


#: Minimal repros of the bug classes the fuzzer found (fixed: each must pass; while a class is
#: in fuzz_harness.KNOWN_BUGS its repro is an expected failure).
BUG_REPROS = {
    "mask_in_out": _mask_in_out,
    "size1_stride_alias": _size1_stride_alias,
    "window_ge_2_63": _window_ge_2_63,
    "alpha_backward_p1_mask": _alpha_backward_p1_mask,
    "ref_window_offset_2_64": _ref_window_offset_2_64,
    "ref_window_stride_2_64": _ref_window_stride_2_64,
    "drop_path_backward_names_x": _drop_path_backward_names_x,
}


def test_every_known_bug_has_a_repro():
    assert set(H.DEFAULT_KNOWN_BUGS) <= set(BUG_REPROS)


@pytest.mark.parametrize("name", sorted(BUG_REPROS))
def test_bug_repro(request, name):
    if name in H.KNOWN_BUGS:
        request.applymarker(pytest.mark.xfail(
            strict=True, reason=f"known bug {name!r} (fuzz_harness.KNOWN_BUGS); when this "
                                "XPASSes, remove it from DEFAULT_KNOWN_BUGS"))
    with np.errstate(all="ignore"):
        BUG_REPROS[name]()


# --------------------------------------------------------------------------------------------
# The harness's own pieces
# --------------------------------------------------------------------------------------------
def test_cases_are_a_function_of_the_seed():
    for s in (0, 1, 12345):
        assert H.gen_case(s).call_str() == H.gen_case(s).call_str()


def test_reference_compositions_match_the_reference():
    """The compositions the checker builds for arguments the reference lacks agree with the
    reference where it has them."""
    x = values((4, 5, 6), np.float64, seed=5)
    whole = (x.shape, (0, 0, 0))
    # broadcast masks: a window covering the whole array is the plain broadcast dropout
    for axes, kind in (((1,), "inverted"), ((0, 2), "naive"), ((), "inverted")):
        y, m = H.ref_bcast_window(x, 0.3, axes, 7, 11, whole, kind, True)
        yr, mr = R.broadcast_dropout(x, 0.3, broadcast_axes=axes, seed=7, offset=11, mode=kind,
                                     return_mask=True)
        assert_bitwise_equal(y, yr)
        assert np.array_equal(m, mr)
    # Gaussian normals drawn per element == the reference's span draw
    g = R.window_indices((2, 3, 4), (5, 7, 9), (1, 2, 3)) + np.uint64(2**40 + 3)
    z = H.normals_at(g, 99)
    zr = R.standard_normals_window((2, 3, 4), 99, 2**40 + 3, global_shape=(5, 7, 9),
                                   origin=(1, 2, 3))
    assert_bitwise_equal(z, zr)
    saved = H.GAUSS_SPAN_LIMIT
    try:
        H.GAUSS_SPAN_LIMIT = 0  # force the per-element path
        xb = x[1:3, 2:5, 1:5]
        w = ((4, 5, 6), (1, 2, 1))
        assert_bitwise_equal(H.ref_gaussian(xb, 0.4, 5, 9, w),
                             R.gaussian_dropout(xb, 0.4, seed=5, offset=9, window=w))
    finally:
        H.GAUSS_SPAN_LIMIT = saved
    # DropBlock windows == the slice of the whole input's keep mask
    shape = (3, 2, 9, 8)
    for df, vo, sc in ((("channels_first", False, False)), ("channels_first", True, True),
                       ("channels_last", False, True)):
        gshape = shape if df == "channels_first" else (3, 9, 8, 2)
        full = R.dropblock_keep(gshape, 0.3, 3, seed=4, offset=5, data_format=df,
                                valid_only=vo, share_channels=sc)
        sl = (slice(1, 3), slice(0, 2), slice(2, 7), slice(1, 2))
        blk = full[sl].shape
        got = H.ref_dropblock_window_keep(blk, 0.3, 3, 4, 5, (gshape, (1, 0, 2, 1)), df, vo,
                                          sc)
        assert np.array_equal(got, full[sl])
