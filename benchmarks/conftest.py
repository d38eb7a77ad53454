"""Shared set-up of the pytest-benchmark suite: ``pytest benchmarks --benchmark-only``.

Not part of the test run (``python -m pytest`` collects ``tests/`` only, see ``testpaths`` in
pyproject.toml). Without pytest-benchmark every benchmark is skipped with the reason (and the
usual ``--benchmark-*`` options are accepted and ignored), so the directory never errors.

Every fastdrop benchmark (and the numba kernel that implements fastdrop's contract) asserts,
before timing and again on the result of the timed calls, that its output is bitwise equal to
``fastdrop.reference`` for the same seed: a fast wrong kernel fails instead of winning.

Environment knobs:

* ``FASTDROP_BENCH_SIZES``: element counts, e.g. ``2^16,2^20`` (default ``2^16,2^20,2^22``).
* ``FASTDROP_BENCH_THREADS``: thread counts, e.g. ``1,2`` (default 1 and the maximum).
"""
from __future__ import annotations

import pytest

import fastdrop as fd

import baselines

NO_PLUGIN = "pytest-benchmark is not installed or not enabled (pip install pytest-benchmark)"


def pytest_addoption(parser, pluginmanager):
    if pluginmanager.hasplugin("benchmark"):
        return
    # accept the usual pytest-benchmark options, so `pytest benchmarks --benchmark-only` without
    # the plugin reports skipped benchmarks instead of a usage error
    group = parser.getgroup("benchmark", "pytest-benchmark is not installed: options ignored")
    for flag in ("--benchmark-only", "--benchmark-skip", "--benchmark-disable",
                 "--benchmark-autosave", "--benchmark-verbose"):
        group.addoption(flag, action="store_true", default=False)
    for opt in ("--benchmark-json", "--benchmark-columns", "--benchmark-sort",
                "--benchmark-group-by", "--benchmark-min-rounds", "--benchmark-max-time",
                "--benchmark-save", "--benchmark-compare", "--benchmark-histogram"):
        group.addoption(opt, action="store", default=None)


class _NoBenchmarkPlugin:
    """Stands in for pytest-benchmark's ``benchmark`` fixture: every benchmark skips."""

    @pytest.fixture
    def benchmark(self):
        pytest.skip(NO_PLUGIN)


def pytest_configure(config):
    if not config.pluginmanager.hasplugin("benchmark"):
        config.pluginmanager.register(_NoBenchmarkPlugin(), "fastdrop-no-benchmark")


@pytest.fixture
def threads():
    """Set fastdrop's thread count for one benchmark and restore the default afterwards."""
    from fastdrop import _config

    saved = _config._num_threads

    def set_threads(n):
        fd.set_num_threads(n)
        return n

    yield set_threads
    _config._num_threads = saved


@pytest.fixture
def torch_threads():
    torch = pytest.importorskip("torch")
    saved = torch.get_num_threads()

    def set_threads(n):
        torch.set_num_threads(n)
        return torch

    yield set_threads
    torch.set_num_threads(saved)


@pytest.fixture
def numba_kernels():
    k = baselines.numba_kernels()
    if k is None:
        pytest.skip("numba is not installed")
    numba = k["module"]
    saved = numba.get_num_threads()

    def set_threads(n):
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        return k

    yield set_threads
    numba.set_num_threads(saved)
