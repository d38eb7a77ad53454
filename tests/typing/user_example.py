"""The public API used as the README uses it, type-checked with ``mypy --strict`` by
tests/test_typing.py: every call must be accepted, and ``reveal_type``-free assignments with
explicit annotations check that calls return arrays, not ``Any``."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np
import numpy.typing as npt

import fastdrop as fd
from fastdrop import reference
from fastdrop.layers import (
    AlphaDropout, DropBlock, DropConnect, DropPath, Dropout, FeatureAlphaDropout,
    GaussianDropout, Sequential, SpatialDropout, mc_mode,
)

FloatArray = npt.NDArray[np.floating[Any]]


def functional() -> None:
    x = np.random.default_rng(0).standard_normal((64, 1024), dtype=np.float32)
    y: FloatArray = fd.dropout(x, 0.5)
    y = fd.dropout(x, 0.5, seed=42)
    pair: Tuple[FloatArray, npt.NDArray[np.uint8]] = fd.dropout(x, 0.5, seed=42, return_mask=True)
    y, mask = pair
    gx: FloatArray = fd.dropout_backward(np.ones_like(x), 0.5, mask=mask)
    gx = fd.dropout_backward(np.ones_like(x), 0.5, seed=42)
    gen = fd.Generator(1234)
    y = fd.dropout(x, 0.1, rng=gen)
    seed, offset = gen.draw(x.size)
    s: int = seed
    y = fd.dropout(x, 0.1, seed=s, offset=offset, training=False, mode="naive", out=y)
    keep: npt.NDArray[np.bool_] = fd.dropout_mask(x.shape, 0.5, seed=42, packed=False)
    packed: npt.NDArray[np.uint8] = fd.dropout_mask(x.shape, 0.5, seed=42)
    y = fd.dropout([1.0, 2.0, 3.0], 0.5, seed=np.uint64(7))
    fd.manual_seed(3)
    d: fd.Generator = fd.default_generator()
    state = d.get_state()
    d.set_state(state)
    fd.set_num_threads(2)
    n: int = fd.get_num_threads()
    fd.set_num_threads(None)
    isas: Tuple[str, ...] = fd.supported_isas()
    fd.set_isa(isas[-1])
    isa: str = fd.get_isa()
    cfg = fd.config()
    print(y.shape, gx.shape, keep.sum(), packed.nbytes, n, isa, cfg["version"], fd.__version__)


def structured() -> None:
    x = np.random.default_rng(0).standard_normal((4, 8, 14, 14), dtype=np.float32)
    y: FloatArray = fd.dropout(x, 0.1, seed=1, broadcast_axes=(2, 3))
    y = fd.dropout(x, 0.1, seed=1, noise_shape=(None, None, 1, 1))
    y, m = fd.spatial_dropout(x, 0.1, seed=1, return_mask=True)
    g: FloatArray = fd.spatial_dropout_backward(np.ones_like(x), 0.1, mask=m)
    y = fd.locked_dropout(x, 0.1, seed=1, time_axis=1)
    y = fd.embedding_dropout(x, 0.1, seed=1)
    y = fd.drop_path(x, 0.2, seed=1, mode="batch")
    rates: List[float] = fd.drop_path_rates(12, 0.1)
    y, m = fd.dropblock(x, 0.1, 7, seed=1, return_mask=True)
    g = fd.dropblock_backward(np.ones_like(x), 0.1, 7, mask=m)
    p: float = fd.dropblock_schedule(500, 1000, 0.1)
    y = fd.alpha_dropout(x, 0.1, seed=1)
    y = fd.feature_alpha_dropout(x, 0.1, seed=1, data_format="channels_last")
    s, o = fd.Generator(7).draw(x.size)
    y = fd.gaussian_dropout(x, 0.1, seed=s, offset=o)
    g = fd.gaussian_dropout_backward(np.ones_like(x), 0.1, seed=s, offset=o)
    win = fd.dropout(x[:2], 0.1, seed=5, window=(x.shape, (0, 0, 0, 0)))
    print(y.shape, g.shape, rates[0], p, win.shape)


def layers() -> None:
    gen = fd.Generator(0)
    model = Sequential(
        DropConnect(16, 32, p=0.2, rng=gen),
        Dropout(0.5, rng=gen),
        DropConnect(32, 1, p=0.2, rng=gen),
    )
    x = np.random.default_rng(0).standard_normal((8, 16))
    y: FloatArray = model(x)
    gx: FloatArray = model.backward(np.ones_like(y))
    model.eval()
    lean = Dropout(0.5, store_mask=False)
    ramp = DropBlock(0.1, block_size=7, ramp_steps=5000)
    blocks: List[DropPath] = DropPath.by_depth(12, 0.1)
    scheduled = Dropout(lambda step: min(0.5, step / 1000)).set_step(10)
    others = [SpatialDropout(0.1), AlphaDropout(0.1), FeatureAlphaDropout(0.1),
              GaussianDropout(0.1)]
    with mc_mode():
        z: FloatArray = lean(x)
    mean, var = fd.mc_dropout(model, x, passes=50, seed=1)
    m64: npt.NDArray[np.float64] = mean
    mean, var, samples = fd.mc_dropout(model, x, passes=5, seed=1, return_samples=True)
    print(gx.shape, ramp.p, len(blocks), scheduled.p, len(others), z.shape, m64.shape,
          var.shape, samples.shape, model.params.keys(), model[0])


def twin() -> None:
    x = np.linspace(-1, 1, 100, dtype=np.float32)
    y: FloatArray = fd.dropout(x, 0.3, seed=5)
    r: FloatArray = reference.dropout(x, 0.3, seed=5)
    r, m = reference.dropout(x, 0.3, seed=5, return_mask=True)
    words: npt.NDArray[np.uint32] = reference.random_words(8, seed=5)
    keep: npt.NDArray[np.bool_] = reference.keep_mask(x.shape, 0.3, 5)
    t: int = reference.threshold(0.3)
    assert np.array_equal(y, r) and m.dtype == np.uint8
    print(words[0], keep.sum(), t, reference.scale_for(0.3, np.float32))


def tuning() -> None:  # type-checked, not run (tune() takes about a minute)
    fd.set_stream_threshold(1 << 22)
    limit: int = fd.get_stream_threshold()
    fd.set_stream_threshold(None)
    plan: Dict[str, Any] = fd.tune(ops=["draw"], dtypes=[np.float32], save=False)
    print(limit, plan["plan"])


if __name__ == "__main__":
    twin()
    functional()
    structured()
    layers()
