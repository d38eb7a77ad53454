"""``python -m fastdrop`` (fastdrop/__main__.py): the self-check passes, and its speed line
says when the machine is busy (other processes' CPU time, or fewer CPUs than asked for)."""
from __future__ import annotations

import time

import pytest

import fastdrop
from fastdrop import __main__ as selfcheck


def test_busy_note_rules():
    assert selfcheck.busy_note(2.0, 1.0, 2) is None              # got both threads
    assert selfcheck.busy_note(1.9, 1.0, 2, foreign=0.02) is None
    starved = selfcheck.busy_note(1.0, 1.0, 2)                   # half of what it asked for
    assert starved and "busy" in starved and "1.0 CPUs of the 2.0" in starved
    crowded = selfcheck.busy_note(2.0, 1.0, 2, foreign=0.4)      # others took 40%
    assert crowded and "busy" in crowded and "40%" in crowded
    assert selfcheck.busy_note(0.0, 0.0, 1) is None              # nothing measured


def _fake_clock(monkeypatch, cpu_per_wall):
    """A wall clock that advances 1 ms per call and a CPU clock at `cpu_per_wall` of it."""
    state = {"wall": 0.0}

    def perf_counter():
        state["wall"] += 1e-3
        return state["wall"]

    monkeypatch.setattr(selfcheck.time, "perf_counter", perf_counter)
    monkeypatch.setattr(selfcheck.time, "process_time", lambda: state["wall"] * cpu_per_wall)


class _Watch:
    def __init__(self, foreign):
        self.f = foreign

    def __call__(self):
        return self

    def foreign_fraction(self):
        return self.f


@pytest.mark.parametrize("foreign,cpu_per_wall,busy", [
    (0.0, 4.0, False),     # idle: every thread ran, nobody else
    (0.6, 4.0, True),      # other processes took 60% of the CPU time
    (0.0, 0.3, True),      # the process got a fraction of one CPU
])
def test_main_reports_a_busy_machine(monkeypatch, capsys, foreign, cpu_per_wall, busy):
    monkeypatch.setattr(selfcheck, "Watch", _Watch(foreign))
    _fake_clock(monkeypatch, cpu_per_wall)
    assert selfcheck.main() == 0
    out = capsys.readouterr().out
    assert "self-check: OK" in out
    assert ("the machine is busy" in out) == busy, out


def test_real_clock_runs(capsys):
    t0 = time.perf_counter()
    assert selfcheck.main() == 0
    assert "G elements/s" in capsys.readouterr().out
    assert time.perf_counter() - t0 < 60
    assert fastdrop.get_num_threads() >= 1
