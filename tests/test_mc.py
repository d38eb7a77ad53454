"""fastdrop.mc_dropout: the streaming mean and variance equal a direct computation over the
same masks; masks are fresh per pass and reproducible from the seed; layers drop in eval()."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import layers as L
from fastdrop.demo import _nn


def _direct(outputs, ddof=0):
    s = np.stack([np.asarray(o, np.float64) for o in outputs])
    return s.mean(axis=0), s.var(axis=0, ddof=ddof)


def test_plain_function_matches_direct(restore_default_generator):
    x = np.random.default_rng(0).standard_normal((7, 9)).astype(np.float32)

    def f(v):
        return np.tanh(fd.dropout(v, 0.3)) * 2.0 + 1.0

    mean, var = fd.mc_dropout(f, x, passes=25, seed=123)
    gen = fd.Generator(123)
    want_mean, want_var = _direct([np.tanh(fd.dropout(x, 0.3, rng=gen)) * 2.0 + 1.0
                                   for _ in range(25)])
    assert mean.dtype == np.float64 and mean.shape == x.shape
    np.testing.assert_allclose(mean, want_mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(var, want_var, rtol=1e-10, atol=1e-14)


def test_function_taking_rng_gets_the_generator(restore_default_generator):
    x = np.arange(12.0)
    state = fd.default_generator().get_state()
    seen = []

    def f(v, rng=None):
        seen.append(rng)
        return fd.dropout(v, 0.5, rng=rng)

    mean, var = fd.mc_dropout(f, x, passes=10, seed=8)
    assert len({id(r) for r in seen}) == 1 and isinstance(seen[0], fd.Generator)
    assert fd.default_generator().get_state() == state  # the default was not touched
    gen = fd.Generator(8)
    want = _direct([fd.dropout(x, 0.5, rng=gen) for _ in range(10)])
    np.testing.assert_allclose(mean, want[0], rtol=1e-12)
    np.testing.assert_allclose(var, want[1], rtol=1e-10, atol=1e-14)


def test_layers_in_eval_are_on_and_match_direct(restore_default_generator):
    r = np.random.default_rng(0)
    model = L.Sequential(_nn.Dense(3, 16, r), _nn.ReLU(), L.Dropout(0.3), _nn.Dense(16, 16, r),
                         _nn.ReLU(), L.DropConnect(16, 2, 0.2, init_seed=0)).eval()
    x = r.standard_normal((5, 3))
    det = model(x)
    mean, var, samples = fd.mc_dropout(model, x, passes=40, seed=99, return_samples=True)
    assert not model.training  # mc_dropout leaves the model as it was
    np.testing.assert_array_equal(model(x), det)  # and dropout is off again outside it
    # direct: the same passes by hand, with the default generator seeded the same way
    fd.manual_seed(99)
    with L.mc_mode():
        outs = [model(x) for _ in range(40)]
    np.testing.assert_array_equal(samples, np.stack(outs))
    want_mean, want_var = _direct(outs)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(var, want_var, rtol=1e-10, atol=1e-14)
    assert np.all(var > 0)


def test_reproducible_fresh_and_default_restored(restore_default_generator):
    x = np.ones(1000)
    before = fd.default_generator().get_state()
    a = fd.mc_dropout(lambda v: fd.dropout(v, 0.5), x, passes=5, seed=1)
    b = fd.mc_dropout(lambda v: fd.dropout(v, 0.5), x, passes=5, seed=1)
    c = fd.mc_dropout(lambda v: fd.dropout(v, 0.5), x, passes=5, seed=2)
    assert fd.default_generator().get_state() == before
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    # fresh masks every pass: with p = 0.5 the 5 passes of an element are not all equal
    _, _, s = fd.mc_dropout(lambda v: fd.dropout(v, 0.5), x, passes=5, seed=1,
                            return_samples=True)
    assert np.mean(s.std(axis=0) > 0) > 0.9


def test_seed_none_uses_default_generator(restore_default_generator):
    f = lambda v: fd.dropout(v, 0.4)  # noqa: E731
    fd.manual_seed(3)
    a = fd.mc_dropout(f, np.ones(50), passes=4)
    after = fd.default_generator().get_state()
    fd.manual_seed(3)
    b = fd.mc_dropout(f, np.ones(50), passes=4)
    np.testing.assert_array_equal(a[0], b[0])
    assert after["offset"] == 4 * 52  # the default advanced: 4 draws of 50 (rounded to 52)


def test_generator_as_seed_advances(restore_default_generator):
    gen = fd.Generator(10)
    m1, _ = fd.mc_dropout(lambda v: fd.dropout(v, 0.5), np.ones(8), passes=3, seed=gen)
    assert gen.offset == 3 * 8
    m2, _ = fd.mc_dropout(lambda v: fd.dropout(v, 0.5), np.ones(8), passes=3, seed=gen)
    assert not np.array_equal(m1, m2)


def test_samples_ddof_and_scalar_output(restore_default_generator):
    x = np.linspace(-1, 1, 30)
    mean, var, s = fd.mc_dropout(lambda v: fd.dropout(v, 0.2).sum(), x, passes=12, seed=0,
                                 return_samples=True, ddof=1)
    assert mean.shape == () and s.shape == (12,)
    np.testing.assert_allclose(mean, s.mean(), rtol=1e-12)
    np.testing.assert_allclose(var, s.var(ddof=1), rtol=1e-10)


def test_streaming_memory(restore_default_generator):
    x = np.ones(20_000)
    f = lambda v: fd.dropout(v, 0.5)  # noqa: E731
    fd.mc_dropout(f, x, passes=2, seed=0)  # warm up
    tracemalloc.start()
    try:
        fd.mc_dropout(f, x, passes=100, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * x.nbytes, f"peak {peak} bytes for a {x.nbytes}-byte output"


def test_errors():
    with pytest.raises(ValueError, match="passes must be in"):
        fd.mc_dropout(lambda v: v, np.ones(2), passes=0)
    with pytest.raises(TypeError, match="fn must be callable"):
        fd.mc_dropout(np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="ddof must be smaller than passes"):
        fd.mc_dropout(lambda v: v, np.ones(2), passes=1, ddof=1)
    shapes = iter([(2,), (3,)])
    with pytest.raises(ValueError, match="fn returned shape"):
        fd.mc_dropout(lambda v: np.ones(next(shapes)), None, passes=2, seed=0)


def test_seed_governs_layers_built_with_their_own_rng(restore_default_generator):
    """The README's example: layers built with rng=gen still follow mc_dropout's seed, the same
    call twice gives the same result, and the layers' generator is left as it was."""
    gen = fd.Generator(0)
    model = L.Sequential(L.DropConnect(16, 32, p=0.2, rng=gen, init_seed=0),
                         L.Dropout(0.5, rng=gen), L.DropConnect(32, 1, p=0.2, rng=gen,
                                                                 init_seed=1))
    x = np.random.default_rng(0).standard_normal((8, 16))
    state = gen.get_state()
    a = fd.mc_dropout(model, x, passes=20, seed=1, return_samples=True)
    assert gen.get_state() == state
    b = fd.mc_dropout(model, x, passes=20, seed=1, return_samples=True)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    c = fd.mc_dropout(model, x, passes=20, seed=2)
    assert not np.array_equal(a[0], c[0])
    # the same passes by hand: every layer drawing from Generator(1) in order
    g1 = fd.Generator(1)
    with L.mc_mode():
        same = L.Sequential(L.DropConnect(16, 32, p=0.2, rng=g1, init_seed=0),
                            L.Dropout(0.5, rng=g1), L.DropConnect(32, 1, p=0.2, rng=g1,
                                                                  init_seed=1))
        outs = [same(x) for _ in range(20)]
    np.testing.assert_array_equal(a[2], np.stack(outs))
    # without a seed the layers keep drawing from their own generator
    fd.mc_dropout(model, x, passes=2)
    assert gen.get_state() != state
