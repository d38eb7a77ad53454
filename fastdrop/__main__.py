"""`python -m fastdrop`: a self-check and a short demonstration of the main job."""
import sys
import time

import numpy as np

import fastdrop as fd
from fastdrop import reference
from fastdrop.bench._machine import Watch


def busy_note(cpu_s, wall_s, threads, foreign=None):
    """A line saying the machine is busy, or None.

    ``cpu_s`` is the CPU time this process used in ``wall_s`` seconds of timing loops that
    asked for ``threads`` threads; ``foreign`` the share of the machine's CPU time that other
    processes took meanwhile (None when unknown). Busy: the process got less than 3/4 of the
    threads it asked for, or others took at least 10% of the CPU time.
    """
    got = cpu_s / wall_s if wall_s > 0 else float(threads)
    starved = got < 0.75 * threads
    crowded = foreign is not None and foreign >= 0.10
    if not (starved or crowded):
        return None
    why = []
    if crowded:
        why.append(f"other processes took {100 * foreign:.0f}% of the CPU time")
    if starved:
        why.append(f"the timing loops got {got:.1f} CPUs of the {threads:.1f} they could use")
    return ("note: the machine is busy (" + "; ".join(why) + "), so the throughput and speed-up "
            "above are lower than this machine gives when idle; run again when it is idle")


def main():
    fd.show_config()
    ok = True

    # The worked example: inverted dropout of a small activation vector.
    a = np.array([0.36, 0.13, 0.42, 0.25], dtype=np.float32)
    y, mask = fd.dropout(a, 0.5, seed=7, return_mask=True)
    keep = np.unpackbits(mask, count=a.size, bitorder="little")
    print(f"\ndropout(a, p=0.5, seed=7)\n  a    = {a}\n  keep = {keep}\n  y    = {y}")
    ok &= np.array_equal(y.view(np.uint32), reference.dropout(a, 0.5, seed=7).view(np.uint32))

    # Every dtype, an odd size, an unaligned offset and a transposed view against the reference.
    rng = np.random.default_rng(0)
    for dt in (np.float16, np.float32, np.float64):
        x = rng.standard_normal((301, 37)).astype(dt).T
        y = fd.dropout(x, 0.3, seed=12345, offset=3)
        r = reference.dropout(x, 0.3, seed=12345, offset=3)
        same = np.array_equal(y.view(np.uint8), r.view(np.uint8))
        g = fd.dropout_backward(x, 0.3, seed=12345, offset=3)
        same &= np.array_equal(g.view(np.uint8), r.view(np.uint8))
        print(f"  {np.dtype(dt).name:8s} {x.shape} transposed, offset 3: "
              f"{'bitwise equal to fastdrop.reference' if same else 'MISMATCH'}")
        ok &= same

    # Throughput on a larger array, against the NumPy idiom.
    x = rng.standard_normal(1 << 22, dtype=np.float32)
    y = np.empty_like(x)
    gen = np.random.default_rng(1)

    def best(f, reps=5):
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts))

    threads = fd.get_num_threads()
    watch, cpu0, wall0 = Watch(), time.process_time(), time.perf_counter()
    t_fd = best(lambda: fd.dropout(x, 0.5, seed=1, out=y))
    cpu_fd, wall_fd = time.process_time() - cpu0, time.perf_counter() - wall0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    t_np = best(lambda: x * (gen.random(x.shape, dtype=np.float32) >= 0.5) / (1 - 0.5))
    cpu_np, wall_np = time.process_time() - cpu0, time.perf_counter() - wall0
    # both loops: fastdrop asked for `threads` threads, the NumPy idiom for one
    note = busy_note(cpu_fd + cpu_np, wall_fd + wall_np,
                     (threads * wall_fd + wall_np) / (wall_fd + wall_np), watch.foreign_fraction())
    print(f"\n2^22 float32, p=0.5: fastdrop {x.size / t_fd / 1e9:.2f} G elements/s, NumPy idiom "
          f"{x.size / t_np / 1e9:.2f} G elements/s ({t_np / t_fd:.1f}x), "
          f"{threads} threads, {fd.get_isa()}")
    if note:
        print(note)
    print("\nself-check:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
