"""fastdrop.Generator: hands out (seed, offset) pairs so that consecutive draws get fresh,
non-overlapping masks, reproducibly from one seed."""
from __future__ import annotations

import secrets
import threading

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
    """

    def __init__(self, seed=None):
        self._lock = threading.Lock()
        self._seed = secrets.randbits(64) if seed is None else V.seed(seed)
        self._offset = 0

    @property
    def seed(self):
        return self._seed

    @property
    def offset(self):
        """The offset the next draw will get."""
        return self._offset

    def draw(self, n):
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

    def get_state(self):
        """The state as a dict ``{"seed": int, "offset": int}``."""
        with self._lock:
            return {"seed": self._seed, "offset": self._offset}

    def set_state(self, state):
        """Restore a state from :meth:`get_state`."""
        if not isinstance(state, dict) or set(state) != {"seed", "offset"}:
            raise TypeError("state must be a dict with keys 'seed' and 'offset' (from get_state())")
        s = V.seed(state["seed"], "state['seed']")
        off = V.integer(state["offset"], "state['offset']", 0, V.MAX_INDEX + 1)
        with self._lock:
            self._seed, self._offset = s, off

    def manual_seed(self, seed):
        """Reseed and restart at offset 0."""
        self.set_state({"seed": seed, "offset": 0})
        return self

    def __getstate__(self):
        return self.get_state()

    def __setstate__(self, state):
        self._lock = threading.Lock()
        self._seed, self._offset = state["seed"], state["offset"]

    def __repr__(self):
        return f"fastdrop.Generator(seed={self._seed}, offset={self._offset})"


_default = Generator()


def default_generator():
    """The module-level Generator used when neither ``seed`` nor ``rng`` is given."""
    return _default


def manual_seed(seed):
    """Reseed the default generator, making a whole program's masks reproducible."""
    return _default.manual_seed(seed)
