"""The production formulas and constants (fastdrop._formulas, fastdrop._core) against their
independent statement in fastdrop.reference: equal to the bit, over a sweep of parameters."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import _config, _core
from fastdrop import _formulas as F
from fastdrop import reference as ref

# the edges, the usual values, and ones that round awkwardly (2**-32 steps, near 1)
PS = sorted({0.0, 1.0, 0.5, 0.1, 0.2, 0.3, 1 / 3, 0.9, 0.99, 2.0**-32, 3 * 2.0**-33,
             1 - 2.0**-32, 1 - 2.0**-53, np.nextafter(1.0, 0.0), np.nextafter(0.5, 1.0)}
            | {float(p) for p in np.random.default_rng(0).random(200)})
BELOW_ONE = [p for p in PS if p < 1.0]


def same(a, b):
    return np.float64(a).tobytes() == np.float64(b).tobytes()


def test_streams_agree_with_the_reference():
    assert _core.STREAM_DROPOUT == 0  # the core contract: keep_mask's default stream
    assert _core.STREAM_DROPBLOCK == ref.STREAM_DROPBLOCK
    assert _core.STREAM_GAUSSIAN == ref.STREAM_GAUSSIAN
    assert ref.STREAM_DROPOUT == _core.STREAM_DROPOUT
    assert len({_core.STREAM_DROPOUT, _core.STREAM_DROPBLOCK, _core.STREAM_GAUSSIAN}) == 3


def test_isa_names_have_one_home():
    assert _core.ISA_NAMES == ("scalar", "vector", "avx2", "avx512", "neon")
    assert _config.ISAS is _core.ISA_NAMES
    assert set(fd.supported_isas()) <= set(_core.ISA_NAMES)
    assert fd.get_isa() in _core.ISA_NAMES


@pytest.mark.parametrize("p", PS)
def test_threshold(p):
    t = F.threshold(p)
    assert t == (ref.threshold(p) if p < 1.0 else 0)  # p = 1: drop_all, no threshold
    assert 0 <= t < 2**32


@pytest.mark.parametrize("p", PS)
def test_scales(p):
    for dt in (np.float16, np.float32, np.float64):
        assert np.dtype(F.compute_dtype(np.dtype(dt))) == ref.compute_dtype(dt)
        # the kernels round the float64 scale once to the compute dtype, as the reference does
        assert same(F.compute_dtype(np.dtype(dt))(F.inverted_scale(p)), ref.scale_for(p, dt))
        assert F.mode_scale(p, "inverted") == F.inverted_scale(p)
        assert F.mode_scale(p, "naive") is None and F.mode_scale(p, "select") is None
        assert same(F.naive_factor(p, np.dtype(dt)), ref.compute_dtype(dt).type(1.0 - p))


def test_alpha_constants():
    assert F.ALPHA_PRIME == ref.ALPHA_PRIME
    for p in BELOW_ONE:
        assert all(same(a, b) for a, b in zip(F.alpha_constants(p), ref.alpha_constants(p)))
        assert same(F.alpha_grad_scale(p), ref.alpha_constants(p)[0])
    assert F.alpha_grad_scale(1.0) == 0.0


def test_gaussian_sigma():
    for p in BELOW_ONE:
        assert same(F.gaussian_sigma(p), ref.gaussian_sigma(p))


@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
@pytest.mark.parametrize("valid_only", [False, True])
def test_dropblock_geometry_and_seed_rate(data_format, valid_only):
    for sp, block in itertools.product([(1, 1), (5, 7), (9, 2), (3, 4, 6)], [1, 2, 3, 5, 8]):
        shape = (2, 3) + sp if data_format == "channels_first" else (2,) + sp + (3,)
        bs = (block,) * len(sp)
        got = F.dropblock_geometry(shape, bs, data_format, valid_only)
        assert got == ref.dropblock_geometry(shape, block, data_format, valid_only)
        _, _, S, K, _ = got
        for p in PS:
            assert same(F.dropblock_seed_rate(p, S, K), min(ref.dropblock_gamma(p, S, K), 1.0))


def test_dropblock_scale():
    for p in PS:
        for n, kept in [(10, 0), (10, 3), (10, 10), (2**40 + 3, 2**39 - 1)]:
            expect = float(n) / float(kept) if kept else 0.0
            assert same(F.dropblock_scale(n, kept, p, "count"), expect)
        assert same(F.dropblock_scale(5, 2, p, "expected"), 1.0 / (1.0 - p) if p < 1 else 0.0)
