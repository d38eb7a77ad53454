"""Processes: fork (and multiprocessing's start methods), the default generator in children, and
Generator locks across a fork.

Every child runs under a timeout: a hang is a failure, not a stuck test run.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastdrop as fd
from conftest import openmp_disabled_at_build

HAS_FORK = hasattr(os, "fork")
HAS_OPENMP = fd.config()["openmp"]
N = 1 << 20  # above the parallel threshold: the parent's calls run on 2 threads
TIMEOUT = 60


def _python(code, **env):
    """Run `code` in a fresh interpreter (2 threads), with a timeout; returns its stdout."""
    full_env = dict(os.environ, OMP_NUM_THREADS="2", **env)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=TIMEOUT, env=full_env)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.skipif(not HAS_FORK, reason="no os.fork on this platform")
def test_forked_child_runs_threaded_kernels_after_the_parent_did():
    """libgomp's thread pool does not survive fork: a child's first parallel region used to
    wait forever for the parent's worker threads. The child must finish, give the parent's
    bits, and (with OpenMP) still use two threads, for every kernel family, in a grandchild
    too."""
    out = _python(f"""
        import os
        import numpy as np
        import fastdrop as fd
        from fastdrop import _core

        x = np.random.default_rng(0).standard_normal((16, 64, 32, 32)).astype(np.float32)
        assert x.size >= {N}

        def run():
            return [
                fd.dropout(x, 0.5, seed=1),
                fd.dropout(x, 0.5, seed=1, window=(x.shape, (0, 0, 0, 0))),
                fd.gaussian_dropout(x, 0.3, seed=2),
                fd.alpha_dropout(x, 0.2, seed=3),
                fd.dropblock(x, 0.1, 5, seed=4),
                fd.spatial_dropout(x, 0.5, seed=5),
                fd.dropout(x.transpose(3, 2, 1, 0), 0.5, seed=6),
            ]

        fd.set_num_threads(2)
        want = run()                      # the parent starts its OpenMP pool

        def child(depth):
            got = run()
            ok = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(got, want))
            team = _core.parallel_team_size(2)
            if depth:
                pid = os.fork()
                if pid == 0:
                    os._exit(child(depth - 1))
                _, status = os.waitpid(pid, 0)
                ok = ok and os.waitstatus_to_exitcode(status) == 0
            print("depth", depth, "equal", ok, "team", team, flush=True)
            return 0 if ok else 1

        pid = os.fork()
        if pid == 0:
            os._exit(child(1))
        _, status = os.waitpid(pid, 0)
        print("exit", os.waitstatus_to_exitcode(status))
    """)
    lines = out.split("\n")
    assert "exit 0" in lines, out
    want_team = "2" if HAS_OPENMP else "1"
    assert f"depth 0 equal True team {want_team}" in lines, out
    assert f"depth 1 equal True team {want_team}" in lines, out


def _worker(args):
    seed, n = args
    x = np.ones(n, np.float32)
    fd.set_num_threads(2)
    y = fd.dropout(x, 0.5, seed=seed)
    mask = fd.dropout_mask(n, 0.5, seed=seed)
    return y.tobytes(), mask.tobytes(), fd._core.parallel_team_size(2)


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_pool_workers_give_the_parents_bits(method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"start method {method!r} is not available here")
    fd.set_num_threads(2)
    try:
        want = _worker((7, N))            # the parent has used threads before the pool starts
    finally:
        fd.set_num_threads(None)
    ctx = mp.get_context(method)
    with ctx.Pool(2) as pool:
        res = pool.map_async(_worker, [(7, N)] * 4)
        got = res.get(timeout=TIMEOUT)
    for y, mask, team in got:
        assert y == want[0] and mask == want[1]
        assert team == (2 if HAS_OPENMP else 1), "a worker ran its kernels on one thread"


def _fork_children(k, fn):
    """fn() in each of k children forked one after another; their repr()s, in order."""
    got = []
    for _ in range(k):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.write(w, repr(fn()).encode())
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            got.append(f.read())
        os.waitpid(pid, 0)
    return got


def _default_draw():
    state = fd.default_generator().get_state()
    return state, fd.dropout(np.ones(64, np.float32), 0.5).tolist()


@pytest.mark.skipif(not HAS_FORK, reason="no os.fork on this platform")
def test_fork_children_reseed_the_default_generator(restore_default_generator):
    """Python's random reseeds in a fork child; so does fastdrop's default generator, from the
    parent's state and the fork's number: distinct masks per child, the same ones again after
    the same manual_seed, and the parent's generator untouched."""
    fd.manual_seed(1234)
    first = _fork_children(3, _default_draw)
    assert len(set(first)) == 3, "fork children share the default generator's masks"
    assert fd.default_generator().get_state() == {"seed": 1234, "offset": 0}
    fd.manual_seed(1234)
    assert _fork_children(3, _default_draw) == first
    fd.manual_seed(4321)
    assert not set(_fork_children(3, _default_draw)) & set(first)
    # a pool's workers too (multiprocessing forks them)
    fd.manual_seed(1234)
    with mp.get_context("fork").Pool(2) as pool:
        masks = {repr(m) for _, m in pool.starmap_async(_default_draw, [()] * 8).get(TIMEOUT)}
    assert len(masks) >= 2, "every pool worker applied the same mask"


@pytest.mark.skipif(not HAS_FORK, reason="no os.fork on this platform")
def test_explicit_generators_and_seeds_are_copied_unchanged():
    """Only the default generator is reseeded: a Generator the program made, and explicit
    seeds, give the parent's masks in the child (as NumPy's generators do)."""
    gen = fd.Generator(99)
    gen.draw(10)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(w, repr((gen.get_state(), fd.dropout_mask(100, 0.5, seed=3).tolist())).encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r) as f:
        state, mask = eval(f.read())
    assert state == gen.get_state()
    assert mask == fd.dropout_mask(100, 0.5, seed=3).tolist()


@pytest.mark.skipif(not HAS_FORK, reason="no os.fork on this platform")
def test_generator_lock_held_by_another_thread_at_fork():
    """A Generator whose lock another thread holds at the fork still draws in the child."""
    out = _python("""
        import os, threading
        import fastdrop as fd
        gen = fd.Generator(5)
        held, release = threading.Event(), threading.Event()
        def hold():
            with gen._lock:
                held.set()
                release.wait()
        t = threading.Thread(target=hold)
        t.start()
        held.wait()
        pid = os.fork()
        if pid == 0:
            gen.draw(8)
            fd.dropout([1.0, 2.0], 0.5)      # the default generator too
            os._exit(0)
        release.set()
        t.join()
        _, status = os.waitpid(pid, 0)
        print("exit", os.waitstatus_to_exitcode(status))
    """)
    assert "exit 0" in out


def test_team_size_follows_the_request():
    if not HAS_OPENMP:
        assert fd._core.parallel_team_size(2) == 1
        pytest.skip("built without OpenMP" + (
            " (FASTDROP_DISABLE_OPENMP is set)" if openmp_disabled_at_build() else ""))
    assert fd._core.parallel_team_size(1) == 1
    assert fd._core.parallel_team_size(2) == 2
    assert fd._core.parallel_team_size(3) == 3
