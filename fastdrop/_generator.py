"""fastdrop.Generator: hands out (seed, offset) pairs so that consecutive draws get fresh,
non-overlapping masks, reproducibly from one seed."""
from __future__ import annotations

import hashlib
import os
import secrets
import threading
import weakref
from typing import TYPE_CHECKING, Dict, Optional, Tuple

if TYPE_CHECKING:
    from fastdrop._typing import Seed

from fastdrop import _validate as V


class Generator:
    """A source of masks: a seed and a running element offset.

    Every draw of ``n`` elements returns the current ``(seed, offset)`` and advances the offset
    by ``n`` rounded up to a multiple of 4, so no two draws share a Philox block and every
    call gets a fresh mask. The whole sequence is a pure function of the seed.

    Parameters
    ----------
    seed : int, optional
        In ``[0, 2**64)``. Without it, 64 bits of OS entropy are used.

    Notes
    -----
    Safe to share between Python threads (draws are serialised by a lock). The state can be
    read with :meth:`get_state`, restored with :meth:`set_state`, and the generator pickles.
    A forked child gets a copy of the generator in its parent's state, as with NumPy's
    generators: the child's draws repeat the parent's unless you reseed one of them (the
    default generator is the exception: see :func:`default_generator`).
    """

    def __init__(self, seed: Optional[Seed] = None) -> None:
        self._lock = threading.Lock()
        self._seed = secrets.randbits(64) if seed is None else V.seed(seed)
        self._offset = 0
        self._forks = 0  # fork() calls since the state was set (numbers the default's children)
        _live.add(self)

    @property
    def seed(self) -> int:
        """The Philox seed every draw returns."""
        return self._seed

    @property
    def offset(self) -> int:
        """The offset the next draw will get."""
        return self._offset

    def draw(self, n: Seed) -> Tuple[int, int]:
        """Reserve ``n`` elements: return ``(seed, offset)`` for them and advance.

        Use it to run a forward with :func:`fastdrop.dropout` and regenerate the same mask
        in :func:`fastdrop.dropout_backward` without storing it.
        """
        n = V.integer(n, "n", 0, V.MAX_INDEX)
        with self._lock:
            off = self._offset
            nxt = off + (n + 3) // 4 * 4
            if nxt > V.MAX_INDEX:
                raise OverflowError(
                    "this Generator has used up its 2**64 elements; reseed it with set_state"
                )
            self._offset = nxt
            return self._seed, off

    def get_state(self) -> Dict[str, int]:
        """The state as a dict ``{"seed": int, "offset": int}``."""
        with self._lock:
            return {"seed": self._seed, "offset": self._offset}

    def set_state(self, state: Dict[str, int]) -> None:
        """Restore a state from :meth:`get_state`."""
        if not isinstance(state, dict) or set(state) != {"seed", "offset"}:
            raise TypeError("state must be a dict with keys 'seed' and 'offset' (from get_state())")
        s = V.seed(state["seed"], "state['seed']")
        off = V.integer(state["offset"], "state['offset']", 0, V.MAX_INDEX + 1)
        with self._lock:
            self._seed, self._offset, self._forks = s, off, 0

    def manual_seed(self, seed: Seed) -> Generator:
        """Reseed and restart at offset 0."""
        self.set_state({"seed": V.seed(seed), "offset": 0})
        return self

    def __getstate__(self) -> Dict[str, int]:
        return self.get_state()

    def __setstate__(self, state: Dict[str, int]) -> None:
        self._lock = threading.Lock()
        self.set_state(state)
        _live.add(self)

    def __repr__(self) -> str:
        return f"fastdrop.Generator(seed={self._seed}, offset={self._offset})"


_live: weakref.WeakSet[Generator] = weakref.WeakSet()  # every Generator, to renew its lock in a forked child
_default = Generator()


def default_generator() -> Generator:
    """The module-level Generator used when neither ``seed`` nor ``rng`` is given.

    In a child made by ``fork`` (multiprocessing's default start method on Linux) it is
    reseeded, as Python's :mod:`random` is, so workers of a pool do not apply identical masks.
    The child's seed is derived from the parent's state (seed and offset) and the number of
    forks the parent has made since that state was set, so after :func:`manual_seed` in the
    parent, children forked in the same order get the same masks on every run. A child started with ``spawn`` or
    ``forkserver`` imports fastdrop afresh and seeds it from OS entropy; call
    :func:`manual_seed` in the worker's initializer for reproducible masks there.
    """
    return _default


def _child_seed(seed, offset, k):
    """The default generator's seed in the k-th fork child of a parent in state (seed, offset)."""
    digest = hashlib.sha256(b"fastdrop fork %d %d %d" % (seed, offset, k)).digest()
    return int.from_bytes(digest[:8], "little")


def _before_fork():
    _default._forks += 1


def _after_fork_in_child():
    # A lock held by another thread of the parent at the fork stays held forever in the child,
    # whose only thread is the forking one: every Generator gets a new one.
    for gen in list(_live):
        gen._lock = threading.Lock()
    d = _default
    d._seed, d._offset, d._forks = _child_seed(d._seed, d._offset, d._forks), 0, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def manual_seed(seed: Seed) -> Generator:
    """Reseed the default generator, making a whole program's masks reproducible."""
    return _default.manual_seed(seed)
