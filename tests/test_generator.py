"""fastdrop.Generator and the module-level default generator."""
from __future__ import annotations

import copy
import pickle
import threading

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import reference as ref

TWO64 = 1 << 64


def test_draw_advances_by_n_rounded_up_to_4():
    g = fd.Generator(42)
    assert (g.seed, g.offset) == (42, 0)
    expected = 0
    for n in [0, 1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 65, 1000, 4097]:
        s, off = g.draw(n)
        assert (s, off) == (42, expected), n
        expected += -(-n // 4) * 4
        assert g.offset == expected
        assert off % 4 == 0
    assert g.draw(np.int64(6)) == (42, expected)


def test_consecutive_draws_never_share_a_block():
    g = fd.Generator(1)
    blocks = set()
    for n in [1, 3, 5, 6, 7, 2, 13]:
        _, off = g.draw(n)
        mine = set(range(off // 4, (off + n + 3) // 4))
        assert not (mine & blocks)
        blocks |= mine


def test_state_round_trip():
    g = fd.Generator(7)
    g.draw(10)
    state = g.get_state()
    assert state == {"seed": 7, "offset": 12}
    a = [g.draw(n) for n in (5, 9, 100)]
    g.set_state(state)
    assert [g.draw(n) for n in (5, 9, 100)] == a
    h = fd.Generator(0)
    h.set_state(state)
    assert h.draw(5) == a[0]
    state["offset"] = 999  # the returned dict is a copy
    assert g.get_state()["offset"] != 999


def test_manual_seed_method_restarts():
    g = fd.Generator(3)
    g.draw(100)
    assert g.manual_seed(5) is g
    assert g.get_state() == {"seed": 5, "offset": 0}


@pytest.mark.parametrize("clone", [lambda g: pickle.loads(pickle.dumps(g)), copy.deepcopy,
                                   copy.copy], ids=["pickle", "deepcopy", "copy"])
def test_pickle_and_copy_continue_the_same_sequence(clone):
    g = fd.Generator(2**64 - 1)
    g.draw(13)
    h = clone(g)
    assert h is not g and h.get_state() == g.get_state()
    x = np.linspace(-1, 1, 99, dtype=np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(fd.dropout(x, 0.3, rng=g), fd.dropout(x, 0.3, rng=h))
    h.draw(1)  # independent afterwards
    assert h.offset != g.offset
    # and the clone still has a working lock
    run_threads(h, 4, 10, 3)


def test_unseeded_generators_differ():
    seeds = {fd.Generator().seed for _ in range(8)}
    assert len(seeds) == 8
    assert all(0 <= s < TWO64 for s in seeds)


def test_repr():
    assert "seed=5" in repr(fd.Generator(5)) and "offset=0" in repr(fd.Generator(5))


# --------------------------------------------------------------------------------------------
# dropout with rng= and the default generator
# --------------------------------------------------------------------------------------------
def test_rng_equals_explicit_seed_and_offset():
    x = np.linspace(-3, 3, 1001)
    g = fd.Generator(11)
    g.draw(5)
    for _ in range(4):
        seed, off = g.get_state()["seed"], g.offset
        y, m = fd.dropout(x, 0.4, rng=g, return_mask=True)
        assert g.offset == off + 1004
        np.testing.assert_array_equal(y, ref.dropout(x, 0.4, seed=seed, offset=off))
        np.testing.assert_array_equal(
            fd.dropout_backward(x, 0.4, seed=seed, offset=off),
            fd.dropout_backward(x, 0.4, mask=m))
    km = fd.dropout_mask((3, 5), 0.5, rng=g, packed=False)
    np.testing.assert_array_equal(km, ref.dropout_mask((3, 5), 0.5, seed=11, offset=off + 1004,
                                                       packed=False))


def test_draw_then_forward_and_backward():
    """README: reserve (seed, offset) for a forward and regenerate the mask in the backward."""
    g = fd.Generator(1234)
    x = np.random.default_rng(0).standard_normal((64, 33), dtype=np.float32)
    seed, offset = g.draw(x.size)
    y, m = fd.dropout(x, 0.1, seed=seed, offset=offset, return_mask=True)
    np.testing.assert_array_equal(fd.dropout_backward(np.ones_like(x), 0.1, seed=seed,
                                                      offset=offset),
                                  fd.dropout_backward(np.ones_like(x), 0.1, mask=m))


def test_consecutive_dropouts_differ_and_reproduce():
    x = np.ones(4096, np.float32)
    g = fd.Generator(99)
    ys = [fd.dropout(x, 0.5, rng=g) for _ in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.array_equal(ys[i], ys[j])
    g2 = fd.Generator(99)
    for y in ys:
        np.testing.assert_array_equal(fd.dropout(x, 0.5, rng=g2), y)


def test_inference_draws_nothing():
    g = fd.Generator(5)
    fd.dropout(np.ones(10), 0.5, rng=g, training=False)
    assert g.offset == 0


def test_manual_seed_makes_default_dropout_reproducible(restore_default_generator):
    x = np.linspace(-1, 1, 1234, dtype=np.float32)
    assert fd.default_generator() is fd.default_generator()
    fd.manual_seed(2024)
    a = [fd.dropout(x, 0.5), fd.dropout(x, 0.5), fd.dropout_mask(x.shape, 0.5)]
    assert not np.array_equal(a[0], a[1])
    fd.manual_seed(2024)
    b = [fd.dropout(x, 0.5), fd.dropout(x, 0.5), fd.dropout_mask(x.shape, 0.5)]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(a[0], ref.dropout(x, 0.5, seed=2024, offset=0))
    np.testing.assert_array_equal(a[1], ref.dropout(x, 0.5, seed=2024, offset=1236))
    assert fd.default_generator().get_state() == {"seed": 2024, "offset": 3 * 1236}


def test_default_generator_changes_masks(restore_default_generator):
    x = np.ones(256)
    assert not np.array_equal(fd.dropout(x, 0.5), fd.dropout(x, 0.5))


# --------------------------------------------------------------------------------------------
# Thread safety
# --------------------------------------------------------------------------------------------
def run_threads(g, nthreads, draws, n):
    start = g.offset
    barrier = threading.Barrier(nthreads)
    got = [[] for _ in range(nthreads)]

    def work(i):
        barrier.wait()
        for _ in range(draws):
            got[i].append(g.draw(n))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    offsets = sorted(off for lst in got for _, off in lst)
    step = -(-n // 4) * 4
    assert offsets == list(range(start, start + nthreads * draws * step, step))
    assert g.offset == start + nthreads * draws * step
    return got


def test_thread_safe_draws():
    """8 Python threads drawing concurrently get disjoint offsets covering exactly the range."""
    import sys

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        g = fd.Generator(5)
        g.draw(3)
        run_threads(g, 8, 2000, 5)
    finally:
        sys.setswitchinterval(old)


def test_thread_safe_dropout_with_shared_generator():
    """Concurrent fd.dropout(rng=g): every call's output is the reference at some draw offset,
    and together they used exactly the consecutive offsets."""
    g = fd.Generator(17)
    x = np.linspace(0.5, 1.5, 3000, dtype=np.float32)
    results = []
    lock = threading.Lock()

    def work():
        for _ in range(10):
            y, m = fd.dropout(x, 0.5, rng=g, return_mask=True)
            with lock:
                results.append(m)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    want = {ref.dropout_mask(x.size, 0.5, seed=17, offset=3000 * i).tobytes() for i in range(80)}
    assert {m.tobytes() for m in results} == want
    assert g.offset == 80 * 3000


def test_state_round_trip_at_the_end_of_the_index_space():
    g = fd.Generator(1)
    g.set_state({"seed": 1, "offset": TWO64 - 8})
    assert g.draw(8) == (1, TWO64 - 8)
    state = g.get_state()
    assert state == {"seed": 1, "offset": TWO64}
    g.set_state(state)  # raises ValueError
    assert fd.dropout(np.empty(0), 0.5, rng=g).shape == (0,)
