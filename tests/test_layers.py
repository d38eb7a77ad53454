"""fastdrop.layers: bitwise equal to the functional kernels, train/eval, one generator for a
whole model, errors, schedules, and backward against finite differences (float64)."""
from __future__ import annotations

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import layers as L
from fastdrop.demo import _nn


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _has(name):
    try:
        from fastdrop import _broadcast as _structured
    except ImportError:
        _structured = None
    return hasattr(fd, name) or hasattr(_structured, name)


def _fn(name):
    return L._kernel(name)


@pytest.fixture
def x32():
    return np.random.default_rng(0).standard_normal((6, 37)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Dropout == fastdrop.dropout / dropout_backward, bit for bit
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("mode", ["inverted", "naive"])
@pytest.mark.parametrize("store_mask", [True, False])
def test_dropout_layer_matches_functional(dtype, mode, store_mask):
    x = np.random.default_rng(1).standard_normal((5, 3, 11)).astype(dtype)
    g = np.random.default_rng(2).standard_normal(x.shape).astype(dtype)
    layer = L.Dropout(0.3, mode=mode, rng=fd.Generator(99), store_mask=store_mask)
    gen = fd.Generator(99)
    for _ in range(3):  # every forward draws a fresh mask, as the functional calls do
        s, off = gen.draw(x.size)
        y = layer(x)
        want, mask = fd.dropout(x, 0.3, seed=s, offset=off, mode=mode, return_mask=True)
        assert same_bits(y, want)
        gx = layer.backward(g)
        assert same_bits(gx, fd.dropout_backward(g, 0.3, mask=mask, mode=mode))
        assert same_bits(gx, fd.dropout_backward(g, 0.3, seed=s, offset=off, mode=mode))
    assert layer.rng.get_state() == gen.get_state()


def test_layer_equals_functional_with_rng(x32):
    a, b = fd.Generator(7), fd.Generator(7)
    layer = L.Dropout(0.5, rng=a)
    for _ in range(2):
        assert same_bits(layer(x32), fd.dropout(x32, 0.5, rng=b))
        layer.backward(x32)


def test_default_generator_is_used(x32, restore_default_generator):
    fd.manual_seed(5)
    y = L.Dropout(0.4)(x32)
    fd.manual_seed(5)
    assert same_bits(y, fd.dropout(x32, 0.4))


def test_store_mask_false_keeps_only_seed(x32):
    stored = L.Dropout(0.5, rng=fd.Generator(3))
    regen = L.Dropout(0.5, rng=fd.Generator(3), store_mask=False)
    assert same_bits(stored(x32), regen(x32))
    assert stored.saved_nbytes == (x32.size + 7) // 8
    assert regen.saved_nbytes == 0
    assert regen._saved[0] == "seed"
    assert same_bits(stored.backward(x32), regen.backward(x32))


def test_one_generator_drives_a_model_reproducibly():
    x = np.random.default_rng(0).standard_normal((4, 8))

    def run():
        gen = fd.Generator(2024)
        model = L.Sequential(L.Dropout(0.2, rng=gen),
                             L.DropConnect(8, 6, 0.3, rng=gen, init_seed=1),
                             L.Dropout(0.5, rng=gen, store_mask=False))
        outs = [model(x) for _ in range(3)]
        return outs, gen.get_state()

    (o1, s1), (o2, s2) = run(), run()
    assert all(same_bits(a, b) for a, b in zip(o1, o2))
    assert s1 == s2
    # fresh masks every call, and the offset advanced by every draw (8*4, 8*6, 6*4 per pass)
    assert not np.array_equal(o1[0], o1[1])
    assert s1["offset"] == 3 * (32 + 48 + 24)


# --------------------------------------------------------------------------------------------
# train / eval
# --------------------------------------------------------------------------------------------
def test_eval_is_identity_and_draws_nothing(x32):
    gen = fd.Generator(1)
    layer = L.Dropout(0.5, rng=gen).eval()
    assert not layer.training
    y = layer(x32)
    assert y is x32
    assert gen.offset == 0
    g = np.ones_like(x32)
    assert same_bits(layer.backward(g), g)
    layer.train()
    assert layer.training and not same_bits(layer(x32), x32)


def test_naive_mode_eval_scales(x32):
    layer = L.Dropout(0.25, mode="naive").eval()
    assert same_bits(layer(x32), fd.dropout(x32, 0.25, training=False, mode="naive"))
    assert same_bits(layer.backward(np.ones_like(x32)),
                     np.full_like(x32, np.float32(0.75)))


def test_train_eval_propagate_through_sequential():
    model = L.Sequential(L.Dropout(0.1), L.Sequential(L.Dropout(0.2)), _nn.ReLU())
    assert model.eval() is model
    assert not model[0].training and not model[1][0].training and not model[2].training
    model.train()
    assert model[0].training and model[1][0].training


def test_mc_mode_keeps_dropout_on_in_eval(x32):
    layer = L.Dropout(0.5, rng=fd.Generator(4)).eval()
    with L.mc_mode():
        assert layer.active
        y = layer(x32)
    assert not layer.active
    assert same_bits(y, fd.dropout(x32, 0.5, rng=fd.Generator(4)))


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="before forward"):
        L.Dropout(0.5).backward(np.ones(3))
    with pytest.raises(RuntimeError, match="DropConnect.backward.. called before forward"):
        L.DropConnect(3, 2).backward(np.ones((1, 2)))


def test_backward_twice_on_one_mask(x32):
    layer = L.Dropout(0.5)
    layer(x32)
    layer.backward(x32)
    with pytest.raises(RuntimeError, match="already called"):
        layer.backward(x32)
    layer(x32)  # a new forward makes backward legal again
    a = layer.backward(x32, retain=True)
    assert same_bits(a, layer.backward(x32))
    with pytest.raises(RuntimeError, match="already called"):
        layer.backward(x32)
    dc = L.DropConnect(37, 3)
    dc(x32)
    dc.backward(np.ones((6, 3), np.float32))
    with pytest.raises(RuntimeError, match="already called"):
        dc.backward(np.ones((6, 3), np.float32))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_p_out_of_range(p):
    with pytest.raises(ValueError, match=r"\bp must be in \[0, 1\]"):
        L.Dropout(p)
    with pytest.raises(ValueError, match=r"\bp must be in"):
        L.Dropout(0.5).set_p(p)
    with pytest.raises(ValueError, match=r"\bp must be in"):
        L.DropConnect(2, 2, p)
    with pytest.raises(ValueError, match="p schedule gave"):
        L.Dropout(lambda step: p)


def test_other_bad_arguments():
    with pytest.raises(TypeError, match="p must be a real number"):
        L.Dropout("0.5")
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\) for GaussianDropout"):
        L.GaussianDropout(1.0)
    with pytest.raises(TypeError, match="rng must be a fastdrop.Generator"):
        L.Dropout(0.5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="mode must be one of"):
        L.Dropout(0.5, mode="scaled")
    with pytest.raises(ValueError, match="data_format"):
        L.SpatialDropout(0.5, data_format="NCHW")
    with pytest.raises(ValueError, match="mode must be 'row' or 'batch'"):
        L.DropPath(0.1, mode="sample")
    layer = L.Dropout(0.5)
    layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match="grad has shape"):
        layer.backward(np.ones((3, 2)))
    with pytest.raises(TypeError, match="no forward/backward"):
        L.Sequential(L.Dropout(0.1), np.tanh)


# --------------------------------------------------------------------------------------------
# schedules
# --------------------------------------------------------------------------------------------
def test_p_schedule_and_set_step(x32):
    layer = L.Dropout(lambda step: min(0.5, 0.1 * step), rng=fd.Generator(0))
    assert layer.p == 0.0
    model = L.Sequential(layer)
    model.set_step(3)
    assert layer.step == 3 and layer.p == pytest.approx(0.3)
    y = layer(x32)
    assert same_bits(y, fd.dropout(x32, layer.p, rng=fd.Generator(0)))
    layer.backward(x32)
    layer.set_p(0.2)
    assert layer.p == 0.2
    layer.p = 0.7
    assert layer.p == 0.7
    layer.set_step(10)
    assert layer.p == 0.7  # a fixed p ignores the step


def test_backward_uses_the_forwards_p(x32):
    layer = L.Dropout(lambda s: 0.1 * s, rng=fd.Generator(0)).set_step(5)
    layer(x32)
    layer.set_step(1)  # the schedule moves on; the pending backward keeps p = 0.5
    assert same_bits(layer.backward(x32), fd.dropout(x32, 0.5, rng=fd.Generator(0)))


# --------------------------------------------------------------------------------------------
# DropConnect
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("store_mask", [True, False])
def test_dropconnect_weight_mask(store_mask):
    dc = L.DropConnect(7, 5, 0.4, rng=fd.Generator(11), store_mask=store_mask, init_seed=0)
    x = np.random.default_rng(0).standard_normal((3, 7))
    gen = fd.Generator(11)
    s, off = gen.draw(dc.W.size)
    keep = fd.dropout_mask(dc.W.shape, 0.4, seed=s, offset=off, packed=False)
    W_eff = np.where(keep, dc.W * (1 / (1 - 0.4)), 0.0)
    np.testing.assert_array_equal(dc(x), x @ W_eff + dc.b)
    assert dc.saved_nbytes == (0 if not store_mask else (35 + 7) // 8)
    g = np.random.default_rng(1).standard_normal((3, 5))
    gx = dc.backward(g)
    np.testing.assert_allclose(gx, g @ W_eff.T, rtol=1e-14)
    np.testing.assert_allclose(dc.grad_W, np.where(keep, x.T @ g / 0.6, 0.0), rtol=1e-14)
    np.testing.assert_array_equal(dc.grad_b, g.sum(0))
    assert dc.saved_nbytes == 0  # released by the backward


def test_dropconnect_eval_and_naive():
    x = np.random.default_rng(0).standard_normal((2, 4))
    dc = L.DropConnect(4, 3, 0.5, bias=False, init_seed=3).eval()
    np.testing.assert_array_equal(dc(x), x @ dc.W)
    naive = L.DropConnect(4, 3, 0.5, bias=False, mode="naive", weight=dc.W).eval()
    np.testing.assert_allclose(naive(x), x @ (dc.W * 0.5))
    naive.backward(np.ones((2, 3)))
    np.testing.assert_allclose(naive.grad_W, x.T @ np.ones((2, 3)) * 0.5)
    assert set(naive.params) == {"W"} and set(naive.grads) == {"W"}
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 4\)"):
        dc(np.ones((2, 5)))


# --------------------------------------------------------------------------------------------
# backward against finite differences (float64, masks held fixed)
# --------------------------------------------------------------------------------------------
def _fd_check(model, x, t, gen, eps=1e-6):
    state = gen.get_state()

    def loss():
        gen.set_state(state)  # the same masks on every evaluation
        y = model.forward(x)
        v, g = _nn.mse(y, t)
        return v, g

    _, g = loss()
    gx = model.backward(g)
    analytic = {k: v.copy() for k, v in model.grads.items()}
    params = model.params

    def numeric(arr):
        out = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + eps
            up = loss()[0]
            arr[i] = old - eps
            dn = loss()[0]
            arr[i] = old
            out[i] = (up - dn) / (2 * eps)
        return out

    np.testing.assert_allclose(gx, numeric(x), rtol=1e-5, atol=1e-8)
    assert set(analytic) == set(params)
    for k, arr in params.items():
        np.testing.assert_allclose(analytic[k], numeric(arr), rtol=1e-5, atol=1e-8, err_msg=k)


def test_finite_differences_dropout_dropconnect():
    r = np.random.default_rng(0)
    gen = fd.Generator(77)
    model = L.Sequential(
        _nn.Dense(3, 6, r), _nn.Tanh(), L.Dropout(0.4, rng=gen, store_mask=False),
        L.DropConnect(6, 5, 0.3, rng=gen, init_seed=2), _nn.Tanh(),
        L.Dropout(0.2, rng=gen), _nn.Dense(5, 2, r),
    )
    x, t = r.standard_normal((4, 3)), r.standard_normal((4, 2))
    _fd_check(model, x, t, gen)


def test_finite_differences_naive_and_batchnorm():
    r = np.random.default_rng(1)
    gen = fd.Generator(5)
    model = L.Sequential(_nn.Dense(3, 5, r), _nn.BatchNorm(5), _nn.ReLU(),
                         L.Dropout(0.5, mode="naive", rng=gen), _nn.Dense(5, 1, r))
    x, t = r.standard_normal((6, 3)), r.standard_normal((6, 1))
    _fd_check(model, x, t, gen)


# --------------------------------------------------------------------------------------------
# Structured layers (kernels of issue 4; skipped where this build does not have them yet)
# --------------------------------------------------------------------------------------------
STRUCTURED = [  # (kernel, layer factory, input shape, positional args after p, keyword args)
    ("spatial_dropout", lambda **k: L.SpatialDropout(0.3, **k), (2, 3, 4, 5), (), {}),
    ("spatial_dropout", lambda **k: L.SpatialDropout(0.3, data_format="channels_last", **k),
     (2, 4, 5, 3), (), {"data_format": "channels_last"}),
    ("drop_path", lambda **k: L.DropPath(0.3, **k), (8, 3, 4), (), {}),
    ("drop_path", lambda **k: L.DropPath(0.3, mode="batch", scale_by_keep=False, **k), (8, 3, 4),
     (), {"mode": "batch", "scale_by_keep": False}),
    ("dropblock", lambda **k: L.DropBlock(0.2, 3, **k), (2, 3, 9, 9), (3,), {}),
    ("dropblock", lambda **k: L.DropBlock(0.2, (2, 3), share_channels=True, **k), (2, 3, 8, 9),
     ((2, 3),), {"share_channels": True}),
    ("alpha_dropout", lambda **k: L.AlphaDropout(0.2, **k), (4, 33), (), {}),
    ("feature_alpha_dropout", lambda **k: L.FeatureAlphaDropout(0.2, **k), (2, 3, 4, 5), (), {}),
]


@pytest.mark.parametrize("name,make,shape,args,kw", STRUCTURED,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(STRUCTURED)])
@pytest.mark.parametrize("store_mask", [True, False])
def test_structured_layer_matches_functional(name, make, shape, args, kw, store_mask):
    if not _has(name) or not _has(name + "_backward"):
        pytest.skip(f"fastdrop.{name} is not in this build yet")
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    g = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    layer = make(rng=fd.Generator(21), store_mask=store_mask)
    p = layer.p
    y = layer(x)
    want, mask = _fn(name)(x, p, *args, rng=fd.Generator(21), return_mask=True, **kw)
    assert same_bits(y, want)
    gx = layer.backward(g)
    assert same_bits(gx, _fn(name + "_backward")(g, p, *args, mask=mask, **kw))
    with pytest.raises(RuntimeError, match="already called"):
        layer.backward(g)
    layer.eval()
    assert layer(x) is x
    assert same_bits(layer.backward(g), g)


def test_gaussian_dropout_layer():
    if not _has("gaussian_dropout"):
        pytest.skip("fastdrop.gaussian_dropout is not in this build yet")
    x = np.random.default_rng(0).standard_normal((4, 33)).astype(np.float32)
    g = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    layer = L.GaussianDropout(0.2, rng=fd.Generator(21))
    y = layer(x)
    s, off = fd.Generator(21).draw(x.size)
    assert same_bits(y, _fn("gaussian_dropout")(x, 0.2, seed=s, offset=off))
    assert layer.saved_nbytes == 0 and layer._saved[0] == "seed"
    want = _fn("gaussian_dropout_backward")(g, 0.2, seed=s, offset=off)
    assert same_bits(layer.backward(g), want)
    with pytest.raises(ValueError, match="no packed mask to store"):
        L.GaussianDropout(0.2, store_mask=True)
    assert layer.eval()(x) is x


def test_structured_layers_in_a_model():
    if not (_has("spatial_dropout") and _has("dropblock") and _has("drop_path")):
        pytest.skip("the structured kernels are not in this build yet")
    gen = fd.Generator(3)
    model = L.Sequential(L.DropBlock(0.2, 3, rng=gen), L.SpatialDropout(0.2, rng=gen),
                         L.DropPath(0.2, rng=gen, store_mask=False))
    x = np.random.default_rng(0).standard_normal((4, 3, 10, 10))
    y = model(x)
    g = model.backward(np.ones_like(y))
    # each layer drew once from the shared generator: the seed grid, (N, C), N
    assert gen.offset == (4 * 3 * 100 + 3) // 4 * 4 + 12 + 4
    gen2 = fd.Generator(3)
    want = fd.dropblock(x, 0.2, 3, rng=gen2)
    want = fd.spatial_dropout(want, 0.2, rng=gen2)
    want = fd.drop_path(want, 0.2, rng=gen2)
    assert same_bits(y, want)
    assert g.shape == x.shape and np.all((g == 0) == (y == 0) | (x == 0))


def test_droppath_by_depth():
    if not _has("drop_path_rates"):
        pytest.skip("fastdrop.drop_path_rates is not in this build yet")
    gen = fd.Generator(0)
    blocks = L.DropPath.by_depth(4, 0.2, rng=gen)
    assert [b.p for b in blocks] == pytest.approx([0.05, 0.1, 0.15, 0.2])
    assert all(b.rng is gen for b in blocks)


def test_dropblock_ramp():
    if not _has("dropblock_schedule"):
        pytest.skip("fastdrop.dropblock_schedule is not in this build yet")
    sched = _fn("dropblock_schedule")
    layer = L.DropBlock(0.1, 5, ramp_steps=100)
    for step in (0, 10, 35, 60, 100, 500):
        layer.set_step(step)
        assert layer.p == sched(step, 100, 0.1)
    assert layer.p == 0.1
    layer.set_step(50)
    assert layer.p == pytest.approx(0.05)
    layer.set_step(0)
    assert layer.p == 0.0
    assert L.DropBlock(0.3, 5, ramp_steps=10, ramp_start_p=0.1).p == pytest.approx(0.1)
    # the layer drops with the scheduled p of its step
    x = np.random.default_rng(0).standard_normal((2, 3, 12, 12))
    layer = L.DropBlock(0.4, 3, ramp_steps=10, rng=fd.Generator(1)).set_step(5)
    assert same_bits(layer(x), fd.dropblock(x, 0.2, 3, rng=fd.Generator(1)))
    with pytest.raises(ValueError, match="not both"):
        L.DropBlock(lambda s: 0.1, 5, ramp_steps=10)


def test_missing_kernel_message(monkeypatch):
    from fastdrop import _broadcast as _structured
    monkeypatch.delattr(_structured, "spatial_dropout", raising=False)
    monkeypatch.delattr(fd, "spatial_dropout", raising=False)
    with pytest.raises(NotImplementedError, match="fastdrop.spatial_dropout"):
        L.SpatialDropout(0.5)(np.ones((2, 3, 4)))


STOCHASTIC = [  # (layer factory, a good input, store_mask settings)
    (lambda **k: L.Dropout(0.3, **k), (4, 6), (True, False)),
    (lambda **k: L.SpatialDropout(0.3, **k), (2, 3, 4, 5), (True, False)),
    (lambda **k: L.DropPath(0.3, **k), (8, 3, 4), (True, False)),
    (lambda **k: L.DropBlock(0.2, 3, **k), (2, 3, 9, 9), (True, False)),
    (lambda **k: L.AlphaDropout(0.2, **k), (4, 33), (True, False)),
    (lambda **k: L.FeatureAlphaDropout(0.2, **k), (2, 3, 4, 5), (True, False)),
    (lambda **k: L.GaussianDropout(0.2, **k), (4, 33), (False,)),
]


@pytest.mark.parametrize("make,shape,stores", STOCHASTIC, ids=range(len(STOCHASTIC)))
def test_backward_after_a_failed_forward(make, shape, stores):
    """A forward that raises leaves nothing for the backward: the previous forward's mask must
    not be reused."""
    for store_mask in stores:
        layer = make(rng=fd.Generator(3), store_mask=store_mask)
        x = np.ones(shape, np.float32)
        layer(x)
        with pytest.raises(TypeError, match="dtype"):
            layer(np.ones(shape, np.int32))
        with pytest.raises(RuntimeError, match="the last forward.. raised"):
            layer.backward(x)
        layer(x)                          # a good forward makes the layer usable again
        layer.backward(x)


def test_dropconnect_backward_after_a_failed_forward():
    layer = L.DropConnect(4, 3, 0.5, rng=fd.Generator(1))
    layer(np.ones((2, 4)))
    with pytest.raises(ValueError, match="x has shape"):
        layer(np.ones((2, 5)))
    with pytest.raises(RuntimeError, match="the last forward.. raised"):
        layer.backward(np.ones((2, 3)))


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-1, ValueError), ((3, 0), ValueError),
                                     ((3, 3, 3, 3), ValueError), (2.5, TypeError),
                                     ("7", TypeError), (True, TypeError)])
def test_dropblock_block_size_checked_at_construction(bad, exc):
    with pytest.raises(exc, match="block_size"):
        L.DropBlock(0.1, bad)
