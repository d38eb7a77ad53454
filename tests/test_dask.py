"""fastdrop.dask on a real dask.distributed LocalCluster (2 worker processes, loopback only):
the chunked result equals the single-array NumPy result bit for bit, for every chunking, and
survives a worker killed mid-computation."""
from __future__ import annotations

import itertools
import os
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import fastdrop as fd  # noqa: E402
import fastdrop.dask as fdd  # noqa: E402
from conftest import DTYPES, assert_bitwise_equal, values  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


@pytest.fixture(scope="module")
def client():
    import cloudpickle

    # the helpers below run on the workers: ship them by value (tests/ is not importable there)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


# (shape, chunks): regular, irregular, chunked along every axis, one chunk, single elements
CASES = [
    ((1000,), 128),
    ((1001,), ((1, 7, 300, 693),)),
    ((37, 41), (10, 9)),
    ((37, 41), ((5, 32), (41,))),            # full rows: merged runs
    ((37, 41), ((37,), (1, 20, 20))),        # column strips: many short rows
    ((6, 7, 8), ((1, 2, 3), (3, 4), (5, 3))),  # irregular along every axis
    ((3, 4, 5, 6), (2, 3, 4, 5)),
    ((5, 1, 9), ((2, 3), 1, (4, 5))),
    ((4, 4), 1),                              # one element per chunk
    ((0, 5), (1, 2)),
    ((), ()),                                 # 0-d
]


def _darr(x, chunks):
    return da.from_array(x, chunks=chunks)


@pytest.mark.parametrize("shape, chunks", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_mask_bitwise(client, shape, chunks, dtype):
    x = values(shape, dtype)
    g = values(shape, dtype, seed=1)
    dx, dg = _darr(x, chunks), _darr(g, chunks)
    for p, seed, offset, mode in ((0.5, 3, 0, "inverted"), (0.1, 2**63 + 5, 2**40 + 3, "naive")):
        y, keep = fdd.dropout(dx, p, seed=seed, offset=offset, mode=mode, return_mask=True)
        gx = fdd.dropout_backward(dg, p, seed=seed, offset=offset, mode=mode)
        gm = fdd.dropout_backward(dg, p, mask=keep, mode=mode)
        assert y.chunks == dx.chunks and y.dtype == x.dtype
        assert isinstance(y._meta, np.ndarray) and y._meta.dtype == x.dtype
        yc, keepc, gxc, gmc = client.compute([y, keep, gx, gm], sync=True)
        want, wm = fd.dropout(x, p, seed=seed, offset=offset, mode=mode, return_mask=True)
        assert_bitwise_equal(yc, want, f"{shape} {chunks}")
        assert np.array_equal(np.packbits(keepc.ravel(), bitorder="little"), wm)
        wg = fd.dropout_backward(g, p, seed=seed, offset=offset, mode=mode)
        assert_bitwise_equal(gxc, wg)
        assert_bitwise_equal(gmc, wg)


def test_dropout_mask_chunks(client):
    shape = (23, 17, 5)
    for chunks in ((4, 5, 2), "auto", ((23,), (17,), (1, 4))):
        m = fdd.dropout_mask(shape, 0.3, seed=11, offset=2, chunks=chunks)
        assert m.dtype == bool and m.shape == shape
        got = client.compute(m, sync=True)
        assert np.array_equal(got, fd.dropout_mask(shape, 0.3, seed=11, offset=2, packed=False))


def test_inference_and_lazy(client):
    x = values((8, 9), np.float32)
    dx = _darr(x, 4)
    assert fdd.dropout(dx, 0.5, seed=1, training=False) is dx
    yn = fdd.dropout(dx, 0.5, seed=1, training=False, mode="naive")
    assert_bitwise_equal(client.compute(yn, sync=True),
                         fd.dropout(x, 0.5, training=False, mode="naive"))
    # building the graph runs nothing; the same arguments give the same graph keys
    y1 = fdd.dropout(dx, 0.5, seed=1)
    y2 = fdd.dropout(dx, 0.5, seed=1)
    assert y1.name == y2.name
    assert fdd.dropout(dx, 0.5, seed=2).name != y1.name


BCAST = [
    ("spatial_dropout", {}, (4, 6, 5, 7), (3, (2, 4), 3, (3, 4))),
    ("spatial_dropout", {"data_format": "channels_last"}, (4, 5, 7, 6), (3, 2, 3, 4)),
    ("locked_dropout", {"time_axis": 1}, (5, 9, 8), (2, 4, 3)),
    ("embedding_dropout", {}, (10, 7, 16), (3, 3, 5)),
    ("drop_path", {}, (9, 4, 5), (2, 3, 2)),
    ("drop_path", {"scale_by_keep": False, "mode": "batch"}, (9, 4, 5), (2, 3, 2)),
]


@pytest.mark.parametrize("name, kw, shape, chunks", BCAST, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", (np.float16, np.float64))
def test_broadcast_variants(client, name, kw, shape, chunks, dtype):
    x = values(shape, dtype)
    dx = _darr(x, chunks)
    f, fb = getattr(fdd, name), getattr(fdd, name + "_backward")
    y, gx = client.compute([f(dx, 0.4, seed=5, offset=3, **kw),
                            fb(dx, 0.4, seed=5, offset=3, **kw)], sync=True)
    assert_bitwise_equal(y, getattr(fd, name)(x, 0.4, seed=5, offset=3, **kw))
    assert_bitwise_equal(gx, getattr(fd, name + "_backward")(x, 0.4, seed=5, offset=3, **kw))
    yb = fdd.broadcast_dropout(dx, 0.4, broadcast_axes=(1,), seed=5, offset=3)
    assert_bitwise_equal(client.compute(yb, sync=True),
                         fd.dropout(x, 0.4, broadcast_axes=(1,), seed=5, offset=3))


@pytest.mark.parametrize("shape, df, chunks", [
    ((3, 4, 17, 19), "channels_first", (2, 3, 5, 6)),
    ((2, 13, 11, 3), "channels_last", (1, (6, 7), (4, 7), 2)),
    ((2, 3, 7, 9, 8), "channels_first", (1, 2, 4, 5, 6)),
])
def test_dropblock(client, shape, df, chunks):
    x = values(shape, np.float32)
    dx = _darr(x, chunks)
    jobs, wants = [], []
    for bs, (vo, sc), scale in itertools.product((1, 4), ((False, False), (True, False),
                                                        (False, True)), ("count", "expected")):
        kw = dict(seed=7, offset=3, data_format=df, valid_only=vo, share_channels=sc,
                  scale=scale)
        jobs += [fdd.dropblock(dx, 0.3, bs, **kw), fdd.dropblock_backward(dx, 0.3, bs, **kw)]
        wants += [fd.dropblock(x, 0.3, bs, **kw), fd.dropblock_backward(x, 0.3, bs, **kw)]
    for got, want in zip(client.compute(jobs, sync=True), wants):
        assert_bitwise_equal(got, want)


def _kill_once(x, marker, block_id=None):
    """Kill this worker process the first time block (1, ...) runs (a marker file remembers)."""
    if block_id[0] == 1 and not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os._exit(1)
    return x


def test_worker_killed_mid_computation(client, tmp_path):
    marker = str(tmp_path / "killed")
    shape, chunks = (64, 33, 10), (16, 11, 5)
    x = values(shape, np.float32)
    dx = _darr(x, chunks)
    y = fdd.dropout(dx, 0.5, seed=99, offset=17)
    # the kill happens downstream of the dropout tasks, so results held by the dead worker are
    # lost too and recomputed elsewhere (or on its restarted replacement)
    z = y.map_blocks(_kill_once, marker, dtype=y.dtype, meta=y._meta)
    got = client.compute(z, sync=True)
    assert os.path.exists(marker), "the worker was not killed"
    assert_bitwise_equal(got, fd.dropout(x, 0.5, seed=99, offset=17))
    client.wait_for_workers(2, timeout=30)


def test_lazy_random_source_and_errors(client):
    """A chunked source generated on the workers (no array shipped) and the usual errors."""
    src = da.random.default_rng(5).standard_normal((200, 300), chunks=(64, 128),
                                                   dtype=np.float32)
    y = fdd.dropout(src, 0.2, seed=1)
    xs, ys = client.compute([src, y], sync=True)
    assert_bitwise_equal(ys, fd.dropout(xs, 0.2, seed=1))
    with pytest.raises(TypeError, match="seed"):
        fdd.dropout(src, 0.2)
    with pytest.raises(TypeError, match="dtype"):
        fdd.dropout(src.astype(np.complex64), 0.2, seed=1)
    # the same dtype rules as fd.dropout: integer and bool arrays are refused, Python
    # sequences of ints convert to float64
    for bad in (da.arange(10, chunks=3), da.ones(10, dtype=bool, chunks=3)):
        with pytest.raises(TypeError, match="x has dtype"):
            fdd.dropout(bad, 0.1, seed=1)
    with pytest.raises(TypeError, match="x has dtype"):
        fdd.dropout(np.arange(10), 0.1, seed=1)
    y = client.compute(fdd.dropout([1, 2, 3], 0.0, seed=1), sync=True)
    assert y.dtype == np.float64 and y.tolist() == [1.0, 2.0, 3.0]


def test_out_of_core_source(client, tmp_path):
    """A disk-backed source read chunk by chunk (as da.from_zarr / from HDF5 would)."""
    path = tmp_path / "x.f32"
    x = values((300, 257), np.float32)
    x.tofile(path)
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=x.shape)
    dx = da.from_array(mm, chunks=(64, 100))
    y = fdd.dropout(dx, 0.3, seed=8, offset=1)
    assert_bitwise_equal(client.compute(y, sync=True), fd.dropout(x, 0.3, seed=8, offset=1))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape, chunks", [((9, 13), (4, (6, 7))), ((4097,), (1000,)),
                                           ((3, 5, 7), (2, 2, 3))])
def test_alpha_dropout(client, shape, chunks, dtype):
    x = values(shape, dtype)
    dx = _darr(x, chunks)
    y, gx = client.compute([fdd.alpha_dropout(dx, 0.3, seed=11, offset=5),
                            fdd.alpha_dropout_backward(dx, 0.3, seed=11, offset=5)], sync=True)
    assert_bitwise_equal(y, fd.alpha_dropout(x, 0.3, seed=11, offset=5))
    _, m = fd.alpha_dropout(x, 0.3, seed=11, offset=5, return_mask=True)
    assert_bitwise_equal(gx, fd.alpha_dropout_backward(x, 0.3, mask=m))
    assert fdd.alpha_dropout(dx, 0.3, seed=11, training=False) is dx


@pytest.mark.parametrize("shape, chunks", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_alpha_and_gaussian_bitwise(client, shape, chunks, dtype):
    x = values(shape, dtype)
    g = values(shape, dtype, seed=1)
    dx, dg = _darr(x, chunks), _darr(g, chunks)
    seed, offset = 2**63 + 9, 2**40 + 5
    jobs = [fdd.alpha_dropout(dx, 0.3, seed=seed, offset=offset),
            fdd.alpha_dropout_backward(dg, 0.3, seed=seed, offset=offset),
            fdd.gaussian_dropout(dx, 0.3, seed=seed, offset=offset),
            fdd.gaussian_dropout_backward(dg, 0.3, seed=seed, offset=offset)]
    for j in jobs:
        assert j.chunks == dx.chunks and j.dtype == x.dtype
        assert isinstance(j._meta, np.ndarray) and j._meta.dtype == x.dtype
    got = client.compute(jobs, sync=True)
    wants = [fd.alpha_dropout(x, 0.3, seed=seed, offset=offset),
             fd.alpha_dropout_backward(g, 0.3, seed=seed, offset=offset),
             fd.gaussian_dropout(x, 0.3, seed=seed, offset=offset),
             fd.gaussian_dropout_backward(g, 0.3, seed=seed, offset=offset)]
    for name, a, b in zip(("alpha", "alpha backward", "gaussian", "gaussian backward"), got,
                          wants):
        assert_bitwise_equal(a, b, f"{name} {shape} {chunks}")


@pytest.mark.parametrize("shape, df, chunks", [
    ((4, 6, 5, 7), "channels_first", (3, (2, 4), 3, (3, 4))),
    ((4, 5, 7, 6), "channels_last", (1, 2, (3, 4), (1, 2, 3))),
    ((9, 10), "channels_first", ((4, 5), (1, 9))),
    ((3, 4, 5, 6, 7), "channels_last", (2, 3, 4, 5, 6)),
])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_feature_alpha(client, shape, df, chunks, dtype):
    x = values(shape, dtype)
    dx = _darr(x, chunks)
    kw = dict(data_format=df, seed=13, offset=4)
    jobs = [fdd.feature_alpha_dropout(dx, 0.4, **kw),
            fdd.feature_alpha_dropout_backward(dx, 0.4, **kw)]
    assert all(j.chunks == dx.chunks and j.dtype == x.dtype for j in jobs)
    y, gx = client.compute(jobs, sync=True)
    assert_bitwise_equal(y, fd.feature_alpha_dropout(x, 0.4, **kw))
    assert_bitwise_equal(gx, fd.feature_alpha_dropout_backward(x, 0.4, **kw))


def test_new_variants_inference_and_errors(client):
    x = values((6, 4, 5), np.float32)
    dx = _darr(x, 3)
    for f in (fdd.feature_alpha_dropout, fdd.gaussian_dropout, fdd.alpha_dropout):
        assert f(dx, 0.3, seed=1, training=False) is dx
        assert f(dx, 0.0, seed=1) is dx
        with pytest.raises(TypeError, match="seed"):
            f(dx, 0.3)
    with pytest.raises(ValueError, match="p"):
        fdd.gaussian_dropout(dx, 1.0, seed=1)
    with pytest.raises(ValueError, match="at least 2-D"):
        fdd.feature_alpha_dropout(da.ones(5, chunks=2), 0.3, seed=1)
    with pytest.raises(ValueError, match="offset"):
        fdd.feature_alpha_dropout(dx, 0.3, seed=1, offset=2**64 - 10)
    # p = 1 alpha: zeros, as the single-array result
    y = client.compute(fdd.feature_alpha_dropout(dx, 1.0, seed=1), sync=True)
    assert_bitwise_equal(y, fd.feature_alpha_dropout(x, 1.0, seed=1))
    # the same arguments give the same graph
    assert fdd.gaussian_dropout(dx, 0.3, seed=1).name == fdd.gaussian_dropout(dx, 0.3, seed=1).name


def test_zarr_round_trip(client, tmp_path):
    """dask.array.from_zarr -> fastdrop.dask -> to_zarr, equal to the single-array results."""
    zarr = pytest.importorskip("zarr")
    x = values((300, 257), np.float32)
    src = str(tmp_path / "x.zarr")
    z = zarr.open_array(src, mode="w", shape=x.shape, chunks=(64, 100), dtype=x.dtype)
    z[...] = x
    dx = da.from_zarr(src)
    assert dx.chunks[0][0] == 64 and dx.chunks[1][0] == 100
    for name, f, kw in (("y", fdd.dropout, {}), ("gauss", fdd.gaussian_dropout, {}),
                        ("falpha", fdd.feature_alpha_dropout, {"data_format": "channels_last"})):
        y = f(dx, 0.3, seed=8, offset=1, **kw)
        assert_bitwise_equal(client.compute(y, sync=True),
                             getattr(fd, f.__name__)(x, 0.3, seed=8, offset=1, **kw))
        dst = str(tmp_path / f"{name}.zarr")
        y.to_zarr(dst)  # runs on the cluster (the active client)
        assert_bitwise_equal(zarr.open_array(dst, mode="r")[...],
                             getattr(fd, f.__name__)(x, 0.3, seed=8, offset=1, **kw), name)


# --- Dask and NumPy accept and reject the same dtypes ------------------------------------
_DTYPE_CASES = ["float16", "float32", "float64", ">f4", "int8", "int64", "uint8", "bool",
                "complex64", "complex128", "object", "datetime64[s]", "U3"]
_SAME_DTYPE_FNS = [  # (fastdrop.dask name, fastdrop name, extra kwargs); 4-d input
    ("dropout", "dropout", {}),
    ("dropout_backward", "dropout_backward", {}),
    ("spatial_dropout", "spatial_dropout", {}),
    ("locked_dropout", "locked_dropout", {}),
    ("embedding_dropout", "embedding_dropout", {}),
    ("drop_path", "drop_path", {}),
    ("alpha_dropout", "alpha_dropout", {}),
    ("feature_alpha_dropout", "feature_alpha_dropout", {}),
    ("gaussian_dropout", "gaussian_dropout", {}),
    ("dropblock", "dropblock", {"block_size": 3}),
]


def _outcome(fn, x, **kw):
    try:
        y = fn(x, 0.1, seed=1, **kw)
    except TypeError:
        return "TypeError"
    y = y[0] if isinstance(y, tuple) else y
    return np.dtype(y.dtype).newbyteorder("=").str


@pytest.mark.parametrize("dtype", _DTYPE_CASES)
@pytest.mark.parametrize("dname,nname,kw", _SAME_DTYPE_FNS, ids=[c[0] for c in _SAME_DTYPE_FNS])
def test_dask_and_numpy_accept_the_same_dtypes(dname, nname, kw, dtype):
    """No computing needed: both reject at the call (TypeError) or both give the same dtype."""
    x = np.zeros((2, 3, 4, 4), dtype=dtype)
    want = _outcome(getattr(fd, nname), x, **kw)
    got = _outcome(getattr(fdd, dname), da.from_array(x, chunks=2), **kw)
    assert got == want
    if want != "TypeError":
        assert want in ("<f2", "<f4", "<f8")


def test_dask_integer_arange_is_rejected():
    with pytest.raises(TypeError, match="dtype int"):
        fdd.dropout(da.arange(16, chunks=4), 0.1, seed=1)
