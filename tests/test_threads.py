"""Threads: the same bits for any thread count, OpenMP really built and used."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import reference as ref

from conftest import DTYPES, assert_bitwise_equal, assert_mask_equal, layout, openmp_disabled_at_build, values

THRESHOLD = fd.config()["parallel_threshold"]
# several parallel chunks; odd (not a multiple of 4, 8 or 64) and a multiple of 5 (2-d views)
N = 5 * ((4 * THRESHOLD) // 5 | 1) + 5 * 2 * 1234
HAS_OPENMP = fd.config()["openmp"]


def _run_all(x, seed=123, offset=2**32 * 4 - 1001):
    """Everything a kernel call can do, on one array."""
    y, m = fd.dropout(x, 0.3, seed=seed, offset=offset, return_mask=True)
    return [
        y, m,
        fd.dropout(x, 0.7, seed=seed, offset=offset, mode="naive"),
        fd.dropout_backward(x, 0.3, mask=m),
        fd.dropout_backward(x, 0.3, seed=seed, offset=offset),
        fd.dropout_mask(x.shape, 0.3, seed=seed, offset=offset),
    ]


def _assert_all_equal(a, b, label):
    for i, (u, v) in enumerate(zip(a, b)):
        if u.dtype == np.uint8:
            assert_mask_equal(u, v, f"{label} result {i}")
        else:
            assert_bitwise_equal(u, v, f"{label} result {i}")


@pytest.fixture(scope="module")
def big():
    return {np.dtype(dt).name: values((N,), dt, seed=1) for dt in DTYPES}


def test_sizes_are_above_the_parallel_threshold():
    assert N > 2 * THRESHOLD and N % 4 and N % 5 == 0


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("lay", ["C", "reversed", "step"])
def test_same_bits_for_1_2_3_threads(isa, restore_threads, big, dtype, lay):
    v = big[np.dtype(dtype).name]
    if lay != "C":
        v = v.reshape(-1, 5)  # N is a multiple of 5: a 2-d strided view
        assert v.size == N
    x = layout(v, lay)
    fd.set_num_threads(1)
    assert fd.get_num_threads() == 1
    one = _run_all(x)
    for n in (2, 3):
        fd.set_num_threads(n)
        assert fd.get_num_threads() == (n if HAS_OPENMP else 1)
        _assert_all_equal(_run_all(x), one, f"{n} threads vs 1")
    if lay == "C" and dtype == np.float32:
        want, wmask = ref.dropout(x, 0.3, seed=123, offset=2**32 * 4 - 1001, return_mask=True)
        assert_bitwise_equal(one[0], want, "vs reference")
        assert_mask_equal(one[1], wmask, "vs reference")


def test_in_place_threaded(restore_threads, big):
    x0 = big["float32"]
    fd.set_num_threads(1)
    want = fd.dropout(x0, 0.5, seed=9)
    fd.set_num_threads(2)
    x = x0.copy()
    fd.dropout(x, 0.5, seed=9, out=x)
    assert_bitwise_equal(x, want)
    base = np.zeros(2 * N, np.float32)
    xs = base[::-2]
    xs[...] = x0
    fd.dropout(xs, 0.5, seed=9, out=xs)
    assert_bitwise_equal(xs, want)
    assert not base[-2::-2].any()


def test_threadpoolctl_limits(restore_threads, big):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    fd.set_num_threads(None)  # follow omp_get_max_threads(), which threadpoolctl sets
    x = big["float64"]
    ref_bits = _run_all(x)
    with threadpoolctl.threadpool_limits(1):
        assert fd.get_num_threads() == 1
        _assert_all_equal(_run_all(x), ref_bits, "threadpool_limits(1)")
    with threadpoolctl.threadpool_limits(2, user_api="openmp"):
        assert fd.get_num_threads() == (2 if HAS_OPENMP else 1)
        _assert_all_equal(_run_all(x), ref_bits, "threadpool_limits(2)")
    # set_num_threads overrides the OpenMP default
    fd.set_num_threads(2)
    with threadpoolctl.threadpool_limits(1):
        assert fd.get_num_threads() == (2 if HAS_OPENMP else 1)


def _python(code, **env):
    e = dict(os.environ)
    e.update(env)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, env=e, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_omp_num_threads_env():
    code = """
        import fastdrop as fd
        print(fd.get_num_threads(), fd.config()["threads"])
    """
    assert _python(code, OMP_NUM_THREADS="1") == "1 1"
    if HAS_OPENMP:
        assert _python(code, OMP_NUM_THREADS="3") == "3 3"


def test_build_has_openmp():
    if openmp_disabled_at_build():
        pytest.skip("FASTDROP_DISABLE_OPENMP is set: fastdrop was built serial on purpose")
    assert fd.config()["openmp"] is True, "the extension was built without OpenMP"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
def test_two_threads_are_used_when_available():
    """A parallel call starts OpenMP worker threads (libgomp keeps them alive afterwards)."""
    if not HAS_OPENMP:
        pytest.skip("built without OpenMP" + (
            " (FASTDROP_DISABLE_OPENMP is set)" if openmp_disabled_at_build() else ""))
    code = f"""
        import os
        import numpy as np
        import fastdrop as fd
        ntask = lambda: len(os.listdir("/proc/self/task"))
        x = np.ones({N}, np.float32)
        fd.set_num_threads(1)
        fd.dropout(x, 0.5, seed=1)
        before = ntask()
        fd.dropout(x[:1000], 0.5, seed=1)     # below the threshold: serial
        small = ntask()
        fd.set_num_threads(2)
        fd.dropout(x[:1000], 0.5, seed=1)
        small2 = ntask()
        fd.dropout(x, 0.5, seed=1)            # above the threshold: parallel
        print(before, small, small2, ntask(), fd.get_num_threads())
    """
    before, small, small2, after, nthreads = map(int, _python(code, OMP_NUM_THREADS="2").split())
    assert nthreads == 2
    assert small == before and small2 == before, "a call below the threshold started threads"
    assert after >= before + 1, "a parallel call with 2 threads did not start a worker thread"


def test_default_threads_follow_omp_max_threads(restore_threads):
    fd.set_num_threads(None)
    if HAS_OPENMP:
        from fastdrop import _core

        assert fd.get_num_threads() == _core.max_threads() >= 1
        assert fd.config()["threads"] == fd.get_num_threads()
    else:
        assert fd.get_num_threads() == 1
