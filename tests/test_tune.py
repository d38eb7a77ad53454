"""Measured dispatch and streaming stores: the plan (which SIMD path and store policy each call
uses) never changes a bit, tune() saves a plan that later imports on the same CPU load and that
other CPUs ignore, and a forced path wins over the plan."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import _core, _tune

from pin_cases import CASES, outputs, pin_record
from test_pins import PINS

CODES = {np.float16: 0, np.float32: 1, np.float64: 2}


@pytest.fixture
def clean_plan():
    """The built-in plan and threshold, before and after; no path forced."""
    previous = fd.get_isa() if _core.isa_forced() else None
    fd.set_isa(None)
    _core.plan_clear()
    try:
        yield
    finally:
        _core.plan_clear()
        fd.set_stream_threshold(None)
        fd.set_isa(previous)


def _plan_everything(isa, stream):
    for op in _core.PLAN_OPS:
        for code in CODES.values():
            for c in range(_core.PLAN_SIZES):
                _core.plan_set(op, code, c, isa, stream)


def _candidates():
    out = []
    for isa in fd.supported_isas():
        out.append((isa, 0))
        if _core.isa_streams(isa):
            out.append((isa, 1))
    return out


@pytest.mark.parametrize("isa,stream", _candidates())
def test_every_plan_gives_the_pinned_bits(isa, stream, clean_plan, restore_threads,
                                          restore_default_generator):
    """Every pinned output again, each call routed by the plan (not set_isa) to one path with
    one store policy; streaming from the first byte, so small arrays take the streaming tiles
    (their buffer, the partial cache lines at both ends, in-place and strided outputs)."""
    _plan_everything(isa, stream)
    fd.set_stream_threshold(1)
    assert _core.plan_choice("draw", 1, 1 << 30) == (isa, bool(stream))
    fd.set_num_threads(2)
    bad = []
    for case in CASES.values():
        for key, a in outputs(case.id, case.run()).items():
            if pin_record(a) != PINS[key]:
                bad.append(key)
    assert not bad, f"{len(bad)} outputs differ with plan ({isa}, stream={stream}): {bad[:20]}"


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shift", [0, 1, 5, 16])
def test_streaming_tiles_match_regular_stores(dtype, shift, clean_plan):
    """Outputs that start anywhere in a cache line, with lengths that end anywhere, through
    forward, stored-mask backward, alpha and Gaussian dropout, in place too."""
    rng = np.random.default_rng(shift)
    n = 3 * 2048 + 37
    buf = rng.standard_normal(n + 32).astype(dtype)
    x = buf[shift:shift + n]
    calls = [
        lambda x, out: fd.dropout(x, 0.3, seed=7, offset=3, out=out),
        lambda x, out: fd.dropout_backward(x, 0.3, mask=fd.dropout_mask(x.shape, 0.3, seed=7),
                                           out=out),
        lambda x, out: fd.alpha_dropout(x, 0.2, seed=9, out=out),
        lambda x, out: fd.gaussian_dropout(x, 0.2, seed=9, out=out),
    ]
    for call in calls:
        fd.set_stream_threshold(1 << 40)
        want = call(x, np.empty_like(x))
        fd.set_stream_threshold(1)
        obuf = np.zeros(n + 32, dtype)
        got = call(x, obuf[shift:shift + n])
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8))
        assert not obuf[:shift].any() and not obuf[shift + n:].any()  # nothing written outside
        inplace = x.copy()
        call(inplace, inplace)
        assert np.array_equal(inplace.view(np.uint8), want.view(np.uint8))


def test_plan_routes_and_a_forced_path_wins(clean_plan):
    paths = fd.supported_isas()
    _core.plan_set("stored", 1, 3, paths[0], 0)
    assert _core.plan_choice("stored", 1, 64 << 20) == (paths[0], False)
    assert _core.plan_get("stored", 1, 3) == (paths[0], 0)
    # other classes keep the built-in choice: the best path, streaming from the threshold
    best = _core.isa_best()
    fd.set_stream_threshold(1 << 20)
    assert _core.plan_choice("stored", 1, 1 << 20) == (best, _core.isa_streams(best))
    assert _core.plan_choice("stored", 1, (1 << 20) - 1) == (best, False)
    assert _core.plan_choice("noise", 1, 1 << 30) == (best, False)  # never streamed unless planned
    fd.set_isa(paths[-1])
    assert _core.plan_choice("stored", 1, 64 << 20)[0] == paths[-1]
    fd.set_isa(None)
    assert _core.plan_choice("stored", 1, 64 << 20)[0] == paths[0]


def test_size_classes():
    assert [_core.size_class(b) for b in (0, (256 << 10) - 1, 256 << 10, (4 << 20) - 1, 4 << 20,
                                          (32 << 20) - 1, 32 << 20, 1 << 40)] == \
        [0, 0, 1, 1, 2, 2, 3, 3]


def test_stream_threshold_setter_validates(clean_plan):
    with pytest.raises(TypeError, match="nbytes must be an int or None"):
        fd.set_stream_threshold("1M")
    with pytest.raises(ValueError, match="nbytes must be >= 1"):
        fd.set_stream_threshold(0)
    fd.set_stream_threshold(12345)
    assert fd.get_stream_threshold() == 12345
    fd.set_stream_threshold(None)
    assert fd.get_stream_threshold() == _core.stream_threshold_default()
    assert 4 << 20 <= _core.stream_threshold_default() <= 32 << 20


def _python(code, **env):
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                          timeout=120)


def test_stream_threshold_from_the_environment():
    r = _python("import fastdrop as fd; print(fd.get_stream_threshold())",
                FASTDROP_STREAM_THRESHOLD="3MiB")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(3 << 20)
    r = _python("import fastdrop", FASTDROP_STREAM_THRESHOLD="lots")
    assert r.returncode != 0
    assert "FASTDROP_STREAM_THRESHOLD must be a byte count" in r.stderr


def test_tune_saves_a_plan_that_this_cpu_loads_and_another_ignores(tmp_path, clean_plan):
    path = tmp_path / "tune.json"
    result = fd.tune(ops=["draw", "stored"], dtypes=[np.float32], size_classes=[0], repeat=1,
                     path=str(path))
    assert [(e["op"], e["size_class"]) for e in result["plan"]] == [("draw", 0), ("stored", 0)]
    for row in result["timings"]:
        assert set(row["seconds"]) >= {fd.get_isa()}
        assert all(t > 0 for t in row["seconds"].values())
    saved = json.loads(path.read_text())
    assert saved["signature"] == _tune.cpu_signature()
    # force a choice nobody would make, to see that a new process applies the file
    for e in saved["plan"]:
        e["isa"], e["stream"] = "scalar", 0
    path.write_text(json.dumps(saved))
    show = ("import fastdrop as fd; from fastdrop import _core; "
            "print(fd.config()['plan']); print(_core.plan_choice('draw', 1, 1000))")
    r = _python(show, FASTDROP_TUNE_FILE=str(path))
    assert r.returncode == 0, r.stderr
    assert f"tuned ({path})" in r.stdout and "('scalar', False)" in r.stdout
    # a forced path wins over the file
    r = _python(show, FASTDROP_TUNE_FILE=str(path), FASTDROP_ISA=fd.supported_isas()[-1])
    assert f"('{fd.supported_isas()[-1]}', False)" in r.stdout
    # another CPU's file is ignored, and config says so
    saved["signature"]["cpu"] = "some other CPU"
    path.write_text(json.dumps(saved))
    r = _python(show, FASTDROP_TUNE_FILE=str(path))
    assert "tuned on another CPU" in r.stdout and f"('{_core.isa_best()}', False)" in r.stdout
    # an unreadable file too
    path.write_text("{")
    r = _python(show, FASTDROP_TUNE_FILE=str(path))
    assert r.returncode == 0 and "unreadable" in r.stdout


def test_tune_refuses_a_forced_path_and_bad_arguments(clean_plan):
    fd.set_isa(fd.supported_isas()[0])
    with pytest.raises(RuntimeError, match="forced"):
        fd.tune(save=False)
    fd.set_isa(None)
    with pytest.raises(ValueError, match="ops must be among"):
        fd.tune(ops=["forward"], save=False)
    with pytest.raises(TypeError, match="dtypes must be float16, float32 or float64"):
        fd.tune(dtypes=[np.int32], save=False)
    with pytest.raises(ValueError, match="repeat must be an int >= 1"):
        fd.tune(repeat=0, save=False)


def test_the_cli_and_the_module_attribute(tmp_path):
    r = subprocess.run([sys.executable, "-m", "fastdrop.tune", "--show"], capture_output=True,
                       text=True, env={**os.environ, "FASTDROP_TUNE_FILE": str(tmp_path / "t")},
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "plan: built in" in r.stdout and "draw" in r.stdout
    r = _python("import fastdrop, fastdrop.tune; print(callable(fastdrop.tune))")
    assert r.stdout.strip() == "True"
