"""Stability pins: every public function's outputs, as SHA-256 digests fixed in
tests/data/pins.json (written by tests/data/make_pins.py from the code as it was, checked
against fastdrop.reference there), recomputed on every SIMD path and 1, 2 and 3 threads.

A failure here means an output changed: a bug, or a contract change that needs a version bump,
an entry under Changes in docs/contract.md and regenerated pins. The cases: tests/pin_cases.py.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

import fastdrop as fd

from conftest import DTYPES
from pin_cases import CASES, SPLIT_MIN, case_of, outputs, pin_record

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

PINS = json.loads((Path(__file__).parent / "data" / "pins.json").read_text())
PIN_KEYS = defaultdict(set)  # case id -> the output keys pinned for it
for _key in PINS:
    PIN_KEYS[case_of(_key)].add(_key)

# Names in fastdrop.__all__ that produce no arrays of their own, so need no pin.
NOT_KERNELS = {
    # configuration and build information
    "set_num_threads", "get_num_threads", "set_isa", "get_isa", "supported_isas", "config",
    "show_config", "__version__",
    # measured dispatch and the store policy: they never change a bit (tests/test_tune.py)
    "tune", "set_stream_threshold", "get_stream_threshold",
    # the pure-NumPy twin: make_pins.py checks every pin against it
    "reference",
    # a module of layer classes over the functions (layers.Dropout has a pin anyway)
    "layers",
    # hand out (seed, offset) pairs, not arrays; the draws they give are pinned anyway
    "Generator", "default_generator", "manual_seed",
}
# Public functions with no kernel to split across threads (pure Python numbers, or a loop over
# dropout calls that the other pins already cover at size).
NO_THREAD_SPLIT = {"drop_path_rates", "dropblock_schedule", "mc_dropout"}
# Functions without a dtype: they make masks or numbers, never take a float input.
NO_DTYPE = {"dropout_mask", "drop_path_rates", "dropblock_schedule"}


def _kernel_names():
    return set(fd.__all__) - NOT_KERNELS


def _resolve(name):
    obj = fd
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("threads", (1, 2, 3))
def test_pins(isa, threads, restore_threads, restore_default_generator):
    fd.set_num_threads(threads)
    bad = []
    for case in CASES.values():
        got = outputs(case.id, case.run())
        if set(got) != PIN_KEYS[case.id]:
            bad.append(f"{case.id}: outputs {sorted(got)}, pinned {sorted(PIN_KEYS[case.id])}")
            continue
        for key, a in got.items():
            rec, pin = pin_record(a), PINS[key]
            if rec != pin:
                bad.append(f"{key}: got {rec['dtype']}{tuple(rec['shape'])} "
                           f"sha256 {rec['sha256'][:16]}, pinned {pin['dtype']}"
                           f"{tuple(pin['shape'])} sha256 {pin['sha256'][:16]}")
    assert not bad, (f"{len(bad)} outputs differ from their pins on isa={isa}, "
                     f"threads={threads}:\n" + "\n".join(bad[:40]))


def test_pins_file_matches_the_cases():
    """No case without pins, no stale pins of a removed case."""
    assert set(PIN_KEYS) == set(CASES), (
        f"cases without pins: {sorted(set(CASES) - set(PIN_KEYS))[:10]}; "
        f"pins without a case: {sorted(set(PIN_KEYS) - set(CASES))[:10]} "
        "(run python tests/data/make_pins.py after an announced change)")


def test_every_public_function_has_a_pin():
    public = set(fd.__all__)
    assert NOT_KERNELS <= public, f"stale allow-list entries: {sorted(NOT_KERNELS - public)}"
    for name in _kernel_names():
        assert callable(getattr(fd, name)), f"fastdrop.{name} is not callable: allow-list it?"
    pinned = {name for case in CASES.values() for name in case.covers}
    missing = sorted(_kernel_names() - pinned)
    assert not missing, f"public functions without a pin case: {missing}"


def test_covers_names_public_callables():
    for case in CASES.values():
        for name in case.covers:
            assert name.split(".")[0] in fd.__all__, f"{case.id}: {name} is not public"
            assert callable(_resolve(name)), f"{case.id}: fastdrop.{name} is not callable"


def test_every_kernel_has_cases_in_every_dtype():
    for name in _kernel_names() - NO_DTYPE:
        ids = [c.id for c in CASES.values() if name in c.covers]
        for dt in DTYPES:
            dname = np.dtype(dt).name
            assert any(f"/{dname}/" in i for i in ids), f"{name}: no {dname} case"


def test_every_kernel_has_a_case_that_threads_split():
    """A case of at least SPLIT_MIN elements: 2 and 3 threads each get a chunk of work."""
    for name in _kernel_names() - NO_THREAD_SPLIT:
        biggest = max((c.n for c in CASES.values() if name in c.covers), default=0)
        assert biggest >= SPLIT_MIN, f"{name}: largest case has {biggest} elements"
