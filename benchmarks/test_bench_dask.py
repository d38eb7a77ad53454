"""fastdrop.dask on a local dask.distributed cluster against single-process fastdrop.

What is timed (README "## Dask" has the numbers):

* ``dask dropout+sum``: ``fdd.dropout(da.ones(N, float32, chunks=c), p, seed=s)
  .sum(dtype=float64).compute()`` on a ``LocalCluster(n_workers=W, threads_per_worker=1)``.
  The input is generated on the workers chunk by chunk (never shipped, never whole in memory)
  and made contiguous (``da.ones`` chunks are zero-stride views; a real source such as zarr
  gives contiguous chunks); the time covers graph submission, filling the chunks, the dropout
  of every chunk, the
  per-chunk sums and their aggregation. The result is checked exactly against the kept count
  (every kept element is 2.0, so the float64 sum is exact): a wrong mask fails.
* ``dask ones+sum``: the same graph without the dropout (Dask's own cost for this chunking).
* ``single dropout``: ``fd.dropout(x, p, seed=s, out=y)`` on a preallocated N-element array
  in this process (all OpenMP threads), and ``single dropout+sum``: the same followed by
  ``y.sum(dtype=float64)``, the like-for-like comparison with the Dask number.
* ``per-chunk``: tiny chunks (256 elements, 1024 chunks): time per chunk with and without the
  dropout; the difference is fastdrop's per-chunk cost, the rest is Dask's.

Knobs: ``FASTDROP_BENCH_DASK_SIZE`` (default ``2^28``: 1 GiB of float32),
``FASTDROP_BENCH_DASK_CHUNKS`` (default ``2^20,2^22,2^24,2^26``), ``FASTDROP_BENCH_DASK_WORKERS``
(default 2).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import fastdrop as fd

from _bench_util import parse_size, size_id

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import fastdrop.dask as fdd  # noqa: E402

P = 0.5
SEED = 2024
N = parse_size(os.environ.get("FASTDROP_BENCH_DASK_SIZE", "2^28"))
CHUNKS = tuple(parse_size(s) for s in
               os.environ.get("FASTDROP_BENCH_DASK_CHUNKS", "2^20,2^22,2^24,2^26").split(",")
               if s.strip())
WORKERS = int(os.environ.get("FASTDROP_BENCH_DASK_WORKERS", "2"))
TINY, NTINY = 256, 1024


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _ones(shape, chunks):
    """Lazily generated contiguous float32 ones (fused with the consumer into one task)."""
    return da.ones(shape, dtype=np.float32, chunks=chunks).map_blocks(
        np.ascontiguousarray, dtype=np.float32)


def _kept(n):
    return int(np.bitwise_count(fd.dropout_mask(n, P, seed=SEED)).sum())


@pytest.fixture(scope="module")
def kept():
    return _kept(N)


def _info(benchmark, impl, n, chunk=None, **extra):
    benchmark.extra_info.update(impl=impl, size=n, chunk=chunk, p=P, workers=WORKERS, **extra)


def test_dask_bitwise_small(client):
    """Before timing anything: the cluster's result is the single-array result, bit for bit."""
    n = 1 << 20
    x = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    got = client.compute(fdd.dropout(da.from_array(x, chunks=12345), P, seed=SEED), sync=True)
    assert np.array_equal(got.view(np.uint32), fd.dropout(x, P, seed=SEED).view(np.uint32))


@pytest.mark.parametrize("chunk", CHUNKS, ids=size_id)
def test_dask_dropout_sum(benchmark, client, kept, chunk):
    benchmark.group = f"dask dropout float32 {size_id(N)}"
    _info(benchmark, "fastdrop.dask dropout+sum", N, chunk)
    y = fdd.dropout(_ones(N, chunk), P, seed=SEED)
    total = y.sum(dtype=np.float64)
    got = benchmark.pedantic(lambda: client.compute(total, sync=True), rounds=3, iterations=1)
    assert got == 2.0 * kept


@pytest.mark.parametrize("chunk", CHUNKS[-2:], ids=size_id)
def test_dask_ones_sum(benchmark, client, chunk):
    benchmark.group = f"dask dropout float32 {size_id(N)}"
    _info(benchmark, "dask ones+sum (no dropout)", N, chunk)
    total = _ones(N, chunk).sum(dtype=np.float64)
    assert benchmark.pedantic(lambda: client.compute(total, sync=True), rounds=3,
                              iterations=1) == N


def test_dask_dropout_sum_2d(benchmark, client):
    """The same on a (2^14, N/2^14) array in (4096, 4096) chunks: windows of short rows."""
    shape = (1 << 14, N >> 14)
    benchmark.group = f"dask dropout float32 {size_id(N)}"
    _info(benchmark, "fastdrop.dask dropout+sum 2-D", N, "4096x4096")
    y = fdd.dropout(_ones(shape, (4096, 4096)), P, seed=SEED)
    total = y.sum(dtype=np.float64)
    got = benchmark.pedantic(lambda: client.compute(total, sync=True), rounds=3, iterations=1)
    assert got == 2.0 * _kept(N)


@pytest.fixture(scope="module")
def big():
    x = np.ones(N, np.float32)
    y = np.empty_like(x)
    return x, y


@pytest.mark.parametrize("with_sum", (False, True), ids=("dropout", "dropout+sum"))
def test_single_process(benchmark, big, kept, with_sum):
    x, y = big
    benchmark.group = f"dask dropout float32 {size_id(N)}"
    _info(benchmark, "single-process fastdrop" + (" +sum" if with_sum else ""), N,
          threads=fd.get_num_threads())

    fd.dropout(x, P, seed=SEED, out=y)  # warm-up: first touch of the 1 GiB output

    def run():
        fd.dropout(x, P, seed=SEED, out=y)
        return y.sum(dtype=np.float64) if with_sum else None

    out = benchmark.pedantic(run, rounds=3, iterations=1)
    if with_sum:
        assert out == 2.0 * kept


@pytest.mark.parametrize("dropout", (True, False), ids=("fastdrop", "dask-only"))
def test_per_chunk_overhead(benchmark, client, dropout):
    benchmark.group = "dask per-chunk overhead"
    _info(benchmark, "per chunk " + ("fastdrop.dask dropout" if dropout else "ones"),
          TINY * NTINY, TINY, chunks=NTINY)
    x = _ones(TINY * NTINY, TINY)
    total = (fdd.dropout(x, P, seed=SEED) if dropout else x).sum(dtype=np.float64)
    benchmark.pedantic(lambda: client.compute(total, sync=True), rounds=3, iterations=1)
    benchmark.extra_info["seconds_per_chunk"] = benchmark.stats.stats.mean / NTINY
