"""Write tests/data/pins.json: the stability pins of tests/test_pins.py.

    python tests/data/make_pins.py

Runs every case of tests/pin_cases.py, checks each output against fastdrop.reference (same
dtype, shape and bits), and writes one line per output: its key (case id, '#i' for the i-th
array of a tuple), dtype, shape and the SHA-256 of its little-endian bytes.

The pins define today's outputs. Regenerate only for an announced change of the contract
(docs/contract.md, Changes), and review the diff: every changed line is a changed output.
"""
from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))  # pin_cases and conftest live in tests/

import fastdrop as fd  # noqa: E402
from pin_cases import CASES, outputs, pin_record  # noqa: E402

PINS_FILE = TESTS / "data" / "pins.json"


def main():
    # float16 inputs overflow to inf once scaled, on purpose (the reference's casts warn)
    warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
    t0 = time.perf_counter()
    pins = {}
    for case in CASES.values():
        got = outputs(case.id, case.run())
        want = outputs(case.id, case.ref())
        assert list(got) == list(want), f"{case.id}: {list(got)} outputs, reference {list(want)}"
        for key, a in got.items():
            # NaN's sign and payload (0 * inf, say) differ between x86 and ARM: a pin must not
            # hold one
            assert not (a.dtype.kind == "f" and np.isnan(a).any()), f"{key}: NaN in the output"
            rec, rrec = pin_record(a), pin_record(want[key])
            assert rec == rrec, f"{key}: fastdrop {rec} != reference {rrec}"
            pins[key] = rec
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in pins.items()]
    PINS_FILE.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"{len(CASES)} cases, {len(pins)} pinned outputs -> {PINS_FILE} "
          f"(isa {fd.get_isa()}, {fd.get_num_threads()} threads; "
          f"{time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
