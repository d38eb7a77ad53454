"""Smoke test of ``python -m fastdrop.bench`` and ``python benchmarks/report.py`` (the
profile's plumbing, output checks and renderings; no timing assertions: speed is measured by
the benchmark suite, not by tests). Parts that need torch, numba, timm or matplotlib skip
without them."""
import importlib
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import bench

ROW_FIELDS = {"op", "impl", "dtype", "layout", "size", "threads", "threads_used", "isa", "seconds",
              "gelem_s", "gb_s", "gelem_s_per_thread", "roofline_ratio", "numpy_ratio", "check"}
META_FIELDS = {"command", "cpu", "cores", "isa", "openmp", "threads", "sizes", "repeat", "versions"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run([sys.executable, "-m", "fastdrop.bench", "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, json.loads(out.read_text()), proc


def test_quick_json_fields(quick):
    _, res, proc = quick
    assert META_FIELDS <= set(res["meta"])
    assert "fastdrop.bench --quick" in res["meta"]["command"]
    assert res["rows"] and res["overhead"]
    for row in res["rows"]:
        assert ROW_FIELDS <= set(row), row
        assert row["seconds"] > 0 and row["gelem_s"] > 0
    ops = {r["op"] for r in res["rows"] if r["impl"] == "fastdrop" and r.get("group") != "structured"}
    assert ops == set(bench.OPS)
    struct = {r["op"] for r in res["rows"] if r.get("group") == "structured"}
    assert struct == set(bench.STRUCT_OPS)  # --quick runs them at small shapes
    assert "Structured dropout" in proc.stdout
    assert {r["dtype"] for r in res["rows"]} >= {"float32", "float64", "float16"}
    assert {r["impl"] for r in res["rows"]} >= {"fastdrop", "roofline", "numpy"}
    assert any(r.get("layout") == "T" for r in res["rows"])  # the transposed case ran
    assert "G elem/s" in proc.stdout
    assert res["baselines"] == []  # comparisons are benchmarks/report.py's
    assert "Comparisons:" not in proc.stdout and "x faster than timm" not in proc.stdout
    assert "python benchmarks/report.py" in proc.stdout  # says where the comparisons are


def test_quick_every_output_check_passed(quick):
    _, res, _ = quick
    for row in res["rows"] + res["baselines"] + res["overhead"]:
        assert row["check"] != "FAILED", row
        if row["impl"] == "fastdrop":
            assert row["check"] == "bitwise-equal", row
        if row["impl"] == "roofline" and "op" in row:
            assert row["check"] == "ok", row
    for row in res["rows"]:
        if row["impl"] == "fastdrop" and row["op"] != "mask":
            assert row["roofline_ratio"] > 0


def test_quick_structured_rows(quick):
    _, res, _ = quick
    rows = [r for r in res["rows"] if r.get("group") == "structured"]
    db = [r for r in rows if r["op"] == "dropblock"]
    assert db and all(r["check"] == "bitwise-equal" for r in db)
    assert db[0]["shape"] == list(bench.QUICK_STRUCT_SHAPE) and db[0]["p"] == bench.STRUCT_P
    for r in rows:
        assert r["check"] == "bitwise-equal", r
        assert r["roofline_ratio"] > 0 and r["roofline_seconds"] > 0
    assert {r["threads"] for r in rows} == set(res["meta"]["threads"])


def test_structured_op_alone(tmp_path):
    """--ops with one structured op runs only that op (no element-wise groups, no comparisons)."""
    out = tmp_path / "s.json"
    assert bench.main(["--quick", "--quiet", "--ops", "dropblock", "--threads", "1",
                       "--no-transposed", "--no-overhead", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [(r["op"], r["check"]) for r in res["rows"]] == [("dropblock", "bitwise-equal")]
    assert not res["baselines"]


def test_structured_check_catches_wrong_output():
    x = np.random.default_rng(0).standard_normal(bench.QUICK_STRUCT_SHAPE, dtype=np.float32)
    y = fd.dropblock(x, bench.STRUCT_P, bench.DROPBLOCK_SIZE, seed=bench.SEED)
    assert bench.check_struct("dropblock", x, y, bench.STRUCT_P, bench.SEED, [1])
    y.reshape(-1)[5] = np.nextafter(y.reshape(-1)[5], np.float32(np.inf))
    assert not bench.check_struct("dropblock", x, y, bench.STRUCT_P, bench.SEED, [1])
    z = np.random.default_rng(1).standard_normal(1 << 12, dtype=np.float32)
    g = fd.gaussian_dropout(z, bench.STRUCT_P, seed=bench.SEED)
    assert bench.check_struct("gaussian_dropout", z, g, bench.STRUCT_P, bench.SEED, [1])
    assert not bench.check_struct("gaussian_dropout", z, g * np.float32(1.0000001), bench.STRUCT_P,
                                   bench.SEED, [1])


def test_text_from_saved_json(quick, capsys):
    path, res, proc = quick
    assert bench.main(["--load", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.split("command:")[0] == proc.stdout.split("command:")[0]


def test_json_to_stdout(quick, capsys):
    path, res, _ = quick
    assert bench.main(["--load", str(path), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out) == res


@pytest.mark.parametrize("flag", [["--markdown"], ["--update-readme", "README.md"], ["--plot", "p.png"],
                                  ["--baselines"]])
def test_moved_options(flag, capsys):
    """The rendering and comparison options point to benchmarks/report.py, measuring nothing."""
    assert bench.main(["--quick", "--quiet"] + flag) == 2
    assert "benchmarks/report.py" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# benchmarks/report.py (not installed: imported from the source tree)
# ---------------------------------------------------------------------------------------------
BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
README = BENCHMARKS.parent / "README.md"


@pytest.fixture(scope="module")
def report():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("report")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One tiny report run with the comparisons (those importable here), as a script."""
    out = tmp_path_factory.mktemp("report") / "r.json"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "report.py"), "--quick", "--quiet",
                           "--baselines", "--sizes", "2^12", "--threads", "1", "--dtypes", "float32",
                           "--ops", "forward,dropblock", "--no-transposed", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc


def test_report_comparisons(compared):
    res, proc = compared
    assert "report.py --quick" in res["meta"]["command"]
    assert {(b["impl"], b["check"]) for b in res["baselines"]} >= {("fastdrop", "bitwise-equal"), ("numpy", "n/a")}
    assert all(b["fastdrop_speedup"] > 0 and b["check"] != "FAILED" for b in res["baselines"])
    assert [r["op"] for r in res["rows"] if r.get("group") == "structured"] == ["dropblock"]
    assert "Comparisons: float32 forward" in proc.stdout and "x faster than timm" in proc.stdout
    assert "python benchmarks/report.py in" not in proc.stdout  # no pointer to itself


def test_report_torch(compared):
    pytest.importorskip("torch")
    res, _ = compared
    assert "torch" in res["meta"]["versions"]
    assert any(b["impl"] == "torch" for b in res["baselines"])
    assert res["overhead"][-1]["impl"] == "torch" and res["overhead"][-1]["vs_fastdrop"] > 0


def test_report_numba(compared):
    pytest.importorskip("numba")
    res, _ = compared
    checks = {b["impl"]: b["check"] for b in res["baselines"]}
    assert checks["numba_philox"] == "bitwise-equal" and checks["numba_own_rng"] == "n/a"


def test_report_timm(compared, report):
    if report.baselines.timm_drop_block() is None:
        pytest.skip("timm (and torch) not importable")
    res, _ = compared
    db = [r for r in res["rows"] if r["op"] == "dropblock"]
    assert db and all(r["timm_speedup"] > 0 and r["timm_version"] for r in db)


def test_report_markdown_from_saved_json(quick, report, capsys):
    path, res, _ = quick
    assert report.main(["--load", str(path), "--markdown"]) == 0
    md = capsys.readouterr().out
    assert "| measure | size |" in md and res["meta"]["cpu"] in md
    assert "python -m fastdrop.bench --quick" in md
    assert "| operation (float32) | shape |" in md and "dropblock 2-D, block 7" in md
    assert "issue" not in md.lower() and "| target |" in md  # labels speak to users
    assert "G elem/s/thread" in md and "/core" not in md


def test_report_text_adds_comparison_columns(quick, report, capsys):
    path, _, proc = quick
    assert report.main(["--load", str(path)]) == 0
    out = capsys.readouterr().out
    assert "x faster than timm" in out and "x faster than timm" not in proc.stdout
    assert "python benchmarks/report.py in" in proc.stdout and "python benchmarks/report.py in" not in out


def test_report_update_readme(quick, report, tmp_path):
    path, _, _ = quick
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{report.SBEGIN}\nstale\n{report.SEND}\n\n{report.BEGIN}\nold\n{report.END}\n\ntail\n")
    assert report.main(["--load", str(path), "--update-readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and "| measure | size |" in text and text.endswith("tail\n")
    assert "stale" not in text
    head = text.split(report.SEND)[0]
    assert "| operation (float32) | shape |" in head and "Command: `python -m fastdrop.bench --quick" in head


def test_readme_has_the_markers(report):
    text = README.read_text(encoding="utf-8")
    for marker in (report.BEGIN, report.END, report.SBEGIN, report.SEND):
        assert text.count(marker) == 1, marker


def test_report_plot(quick, report, tmp_path):
    pytest.importorskip("matplotlib")
    path, _, _ = quick
    png = tmp_path / "p.png"
    assert report.main(["--load", str(path), "--plot", str(png), "--quiet"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_plot_content(quick, report, tmp_path):
    """G elements/s per thread, the roofline and the NumPy idiom drawn, both y-axes from 0."""
    pytest.importorskip("matplotlib")
    _, res, _ = quick
    fig = report.plot(res, tmp_path / "p.png")
    for ax in fig.axes:
        assert ax.get_ylim()[0] == 0
        assert "per thread" in ax.get_ylabel()
        labels = [line.get_label() for line in ax.get_lines()]
        assert any("NumPy idiom" in lab for lab in labels), labels
        assert any("roofline" in lab for lab in labels), labels


def test_report_plot_without_matplotlib(report, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    assert report.main(["--quick", "--plot", str(tmp_path / "p.png")]) == 2
    assert "matplotlib" in capsys.readouterr().err


@pytest.mark.parametrize("text,n", [("2^20", 1 << 20), ("2**16", 1 << 16), ("4096", 4096),
                                    ("1M", 1 << 20), ("64k", 1 << 16)])
def test_parse_size(text, n):
    assert bench.parse_size(text) == n


def test_bad_arguments():
    with pytest.raises(SystemExit):
        bench.build_parser().parse_args(["--ops", "sideways"])
    with pytest.raises(SystemExit):
        bench.build_parser().parse_args(["--sizes", "big"])


def _guard_result(rates_by_isa, default="avx512"):
    rows = [{"op": "forward", "impl": "fastdrop", "dtype": "float32", "layout": "C",
             "size": 1 << 20, "threads": 1, "isa": isa, "gelem_s": g}
            for isa, g in rates_by_isa.items()]
    return {"meta": {"isa": list(rates_by_isa), "isa_default": default}, "rows": rows}


def test_isa_guard_flags_a_slow_default():
    from fastdrop.bench._text import isa_guard, render_guard

    (key, rates, default, ratio, flagged), = isa_guard(
        _guard_result({"avx2": 2.0, "avx512": 1.7}))
    assert default == "avx512" and rates == {"avx2": 2.0, "avx512": 1.7}
    assert ratio == pytest.approx(0.85) and flagged
    assert "SLOWER" in render_guard(_guard_result({"avx2": 2.0, "avx512": 1.7}))
    # within 10 %: not flagged; one path only: no guard at all
    assert not isa_guard(_guard_result({"avx2": 2.0, "avx512": 1.85}))[0][4]
    assert isa_guard(_guard_result({"avx512": 1.0})) == []
    assert render_guard(_guard_result({"avx512": 1.0})) == ""


def test_isa_all_profiles_every_path_side_by_side():
    proc = subprocess.run([sys.executable, "-m", "fastdrop.bench", "--quick", "--isa", "all",
                           "--no-numpy", "--no-overhead", "--no-transposed", "--dtypes",
                           "float32", "--ops", "forward", "--sizes", "2^12", "--threads", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    if len(fd.supported_isas()) < 2:
        assert "ISA paths side by side" not in proc.stdout
        return
    assert "ISA paths side by side" in proc.stdout
    header = next(l for l in proc.stdout.splitlines() if l.startswith("op ") and "default / best" in l)
    for isa in fd.supported_isas():
        assert isa in header


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_streaming_roofline_equals_the_roofline(dtype, isa, restore_threads):
    """The roofline with non-temporal stores writes what the regular one writes, at every
    start alignment of the output and on 1 and 2 threads."""
    from fastdrop import _core

    x = np.random.default_rng(0).standard_normal(70000).astype(dtype)
    for off in range(0, 17, 3):
        for t in (1, 2):
            a = np.full(x.size, np.nan, dtype)[off:]  # outputs starting at every alignment
            b = np.full(x.size, np.nan, dtype)[off:]
            _core.scaled_copy(x[off:], a, 1.75, t)
            _core.scaled_copy(x[off:], b, 1.75, t, True)
            assert a.tobytes() == b.tobytes(), (off, t)
    with pytest.raises(ValueError, match="aligned"):
        raw = np.zeros(x.nbytes + 1, np.uint8)[1:].view(dtype)
        _core.scaled_copy(x, raw, 1.0, 1, True)


def test_text_shows_the_streaming_roofline(quick):
    _, res, proc = quick
    assert any(r["impl"] == "roofline_streaming" and r["check"] == "ok" for r in res["rows"])
    assert "roofline, streaming stores" in proc.stdout and "x streaming" in proc.stdout


def test_machine_line_says_logical_cpus_and_physical_cores():
    from fastdrop.bench import _machine

    meta = {"cpu": "X", "cpu_mhz": None, "cores": 4, "physical_cores": 2, "simd_flags": [],
            "isa": ["avx2"], "openmp": True, "date": "d",
            "versions": {"fastdrop": "1", "numpy": "2", "python": "3"}}
    assert "4 logical CPUs on 2 physical cores" in _machine.machine_line(meta)
    meta["physical_cores"] = 4
    assert "4 cores (" in _machine.machine_line(meta)
    n = _machine.physical_cores()
    assert n is None or 1 <= n <= _machine.ncores()


def test_text_table_column_is_per_thread(quick):
    _, _, proc = quick
    assert "G elem/s/thread" in proc.stdout and "/core" not in proc.stdout
