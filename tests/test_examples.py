"""Every example runs headless on small settings and its qualitative claim holds; the command
lines (``python -m fastdrop.demo NAME``, ``python examples/NAME.py``) work; --plot without
matplotlib fails with a clear message."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastdrop import demo
from fastdrop.demo import _common, churn, mc, overfit, scaling, variance_shift

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")


@pytest.fixture
def png(tmp_path):
    pytest.importorskip("matplotlib")

    def check(module, result, name):
        path = tmp_path / f"{name}.png"
        module.plot(result, str(path))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000
    return check


def test_churn(png, restore_default_generator):
    res = churn.run(rates=(0.0, 0.5), epochs=60, seeds=2)
    w = res["worked"]
    np.testing.assert_array_equal(w["keep"], [1, 0, 1, 0])
    np.testing.assert_allclose(w["y"], [0.72, 0.0, 0.84, 0.0])
    np.testing.assert_allclose(w["grad"], np.array(churn.UPSTREAM) * [2, 0, 2, 0])
    assert w["layer_equals_functional"]
    s0, s5 = res["sweep"]
    assert s5["train"][-1] > s0["train"][-1]  # dropout costs training fit
    text = churn.report(res)
    assert "[0.72, 0.00, 0.84, 0.00]" in text and "val loss" in text
    png(churn, res, "churn")


@pytest.mark.parametrize("dataset,seed", [("moons", 0), ("moons", 1), ("circles", 0), ("xor", 2)])
def test_overfit_dropout_narrows_the_gap(dataset, seed):
    res = overfit.run(dataset=dataset, n_train=30, n_val=200, layers=2, neurons=32, epochs=300,
                      seed=seed, grid=20)
    severe, dropped = res["scenarios"]
    assert severe["scenario"] == "severe overfitting" and severe["p"] == 0.0
    assert dropped["scenario"] == "same network + dropout" and dropped["p"] == 0.5
    assert severe["gap"] > 0.2                         # it generalises badly ...
    assert dropped["gap"] < severe["gap"]              # dropout narrows the gap
    assert "dropout narrowed the gap" in overfit.report(res)


def test_overfit_datasets_and_plot(png):
    for name in overfit.DATASETS:
        X, y = overfit.make_dataset(name, 50, noise=0.1, seed=1)
        assert X.shape == (50, 2) and set(np.unique(y)) == {0.0, 1.0}
    with pytest.raises(ValueError, match="dataset must be one of"):
        overfit.make_dataset("swiss roll", 10)
    res = overfit.run(n_train=20, n_val=50, neurons=16, epochs=40, grid=30)
    png(overfit, res, "overfit")


def test_mc_band_widens_away_from_the_data(png, restore_default_generator):
    res = mc.run(epochs=500, passes=50, hidden=32)
    assert res["sigma_far"] > 1.5 * res["sigma_inside"]
    g, s = res["grid"], res["sigma"]
    assert s[np.abs(g) >= 4.5].mean() > s[np.abs(g) <= 1.0].mean()
    again = mc.run(epochs=500, passes=50, hidden=32)  # reproducible from its seed
    np.testing.assert_array_equal(again["mean"], res["mean"])
    png(mc, res, "mc")


def test_scaling_inverted_keeps_the_mean(png):
    res = scaling.run(p=0.5, n=200_000)
    inv, naive, bug = res["strategies"]
    ref = res["input_mean"]
    assert inv["test"] == pytest.approx(ref, rel=1e-6)
    assert inv["train"] == pytest.approx(ref, rel=0.01)       # inverted keeps the mean
    assert naive["train"] == pytest.approx(naive["test"], rel=0.01)
    assert naive["test"] == pytest.approx(0.5 * ref, rel=1e-6)
    assert bug["train"] / bug["test"] == pytest.approx(0.5, rel=0.01)
    scales = {r["p"]: round(r["scale"], 2) for r in res["rates"]}
    assert scales[0.1] == 1.11 and scales[0.2] == 1.25 and scales[0.5] == 2.0 and scales[0.8] == 5.0
    for r in res["rates"]:
        assert r["survivors"] == pytest.approx(1 - r["p"], abs=0.005)
        assert r["mean_ratio"] == pytest.approx(1.0, abs=0.02)
    text = scaling.report(res)
    for s in ("1.11x", "1.25x", "2.00x", "5.00x"):
        assert s in text
    png(scaling, res, "scaling")


def test_variance_shift(png):
    res = variance_shift.run(rates=(0.2, 0.5), n=2048, batch=128, epochs=2)
    for r in res["rows"]:
        assert r["before"] > 1.2                                   # a real shift before BN ...
        assert r["before"] == pytest.approx(r["theory"], rel=0.03)  # ... as Li et al. predict
        assert r["after"] == pytest.approx(1.0, abs=0.02)          # none after the last BN
        assert r["std_before"] < 0.9
    assert res["rows"][1]["before"] > res["rows"][0]["before"]
    png(variance_shift, res, "variance_shift")


# --------------------------------------------------------------------------------------------
# command lines
# --------------------------------------------------------------------------------------------
def _run(args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=120)


def test_cli_module_and_script(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "s.png"
    r = _run(["-m", "fastdrop.demo", "scaling", "--n", "20000", "--plot", str(out)])
    assert r.returncode == 0, r.stderr
    assert "5.00x" in r.stdout and out.exists()
    r = _run([str(ROOT / "examples" / "churn.py"), "--epochs", "10", "--seeds", "1",
              "--rates", "0", "0.5"])
    assert r.returncode == 0, r.stderr
    assert "[0.72, 0.00, 0.84, 0.00]" in r.stdout


def test_every_example_script_exists_and_is_thin():
    for name, module in demo.DEMOS.items():
        script = ROOT / "examples" / f"{module}.py"
        assert script.exists(), script
        assert f"from fastdrop.demo import {module}" in script.read_text()
        assert demo.load(name).__name__ == f"fastdrop.demo.{module}"


def test_demo_listing_and_unknown_name(capsys):
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    for name in demo.DEMOS:
        assert name in out
    assert demo.main(["nope"]) == 2
    assert "unknown demo 'nope'" in capsys.readouterr().err


def test_plot_without_matplotlib_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match="pip install matplotlib"):
        _common.pyplot()
    with pytest.raises(SystemExit) as exc:
        scaling.main(["--n", "100", "--plot", str(tmp_path / "x.png")])
    assert exc.value.code == 2
    assert "needs matplotlib" in capsys.readouterr().err
    # without --plot nothing needs matplotlib
    res = scaling.main(["--n", "1000"])
    assert res["rates"]


def test_plot_path_from_any_directory(tmp_path):
    """The README's `python -m fastdrop.demo overfit --plot docs/overfit.png`, run in a directory
    without docs/: the directory is made; a path through a file is a clear error, no traceback."""
    pytest.importorskip("matplotlib")
    env = dict(ENV, PYTHONPATH=os.pathsep.join([str(ROOT), ENV.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "fastdrop.demo", "overfit", "--epochs", "20", "--n-val", "50"]
    r = subprocess.run(cmd + ["--plot", "docs/overfit.png"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "docs" / "overfit.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "afile").write_text("")
    r = subprocess.run(cmd + ["--plot", "afile/x.png"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "is a file, not a directory" in r.stderr
