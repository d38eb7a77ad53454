"""The timing engine: kernels timed round-robin (interleaved), medians per call."""
from __future__ import annotations

import gc
import math
import time

import numpy as np


class Kernel:
    """One thing to time: ``fn()`` with ``setup()`` (untimed, before each sample)."""

    def __init__(self, key, fn, setup=None, runtime="fastdrop", inner=None):
        self.key, self.fn, self.setup, self.runtime = key, fn, setup, runtime
        self.inner, self.samples = inner, []

    def prepare(self):
        if self.setup is not None:
            self.setup()

    stat = "median"

    def median(self):
        """The figure reported: the median sample (``--stat min``: the fastest)."""
        return float(np.min(self.samples) if Kernel.stat == "min" else np.median(self.samples))

    def stats(self):
        """Extra figures for the JSON: fastest sample and interquartile spread / median."""
        q1, q3 = np.percentile(self.samples, [25, 75])
        return {"seconds_min": float(np.min(self.samples)), "spread": float((q3 - q1) / self.median()),
                "seconds_median": float(np.median(self.samples)),
                "samples": len(self.samples), "calls_per_sample": self.inner}


def measure(kernels, repeat, min_time):
    """Round-robin timing: each repetition times every kernel once (a batch of ``inner`` calls
    so a sample lasts >= ``min_time``), the starting kernel rotating; per-call medians kept."""
    if not kernels:
        return
    for k in kernels:  # warm-up and calibration (fastest of a few calls: robust to a busy machine)
        k.prepare()
        k.fn()
        dt = math.inf
        for _ in range(5):
            t0 = time.perf_counter()
            k.fn()
            dt = min(dt, time.perf_counter() - t0)
            if dt > 0.05:
                break
        if k.inner is None:
            k.inner = max(1, int(math.ceil(min_time / max(dt, 1e-7))))
    gc_was = gc.isenabled()
    gc.disable()
    try:
        prev = None
        for r in range(repeat):
            s = r % len(kernels)
            for k in kernels[s:] + kernels[:s]:
                k.prepare()
                if prev is not None and prev != k.runtime:
                    time.sleep(0.002)  # let another runtime's spinning worker threads go idle
                prev = k.runtime
                if k.inner > 1:
                    k.fn()  # wake this kernel's threads and caches
                fn, inner = k.fn, k.inner
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                k.samples.append((time.perf_counter() - t0) / inner)
    finally:
        if gc_was:
            gc.enable()
