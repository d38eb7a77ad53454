"""`python -m fastdrop`: a self-check and a short demonstration of the main job."""
import sys
import time

import numpy as np

import fastdrop as fd
from fastdrop import reference


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

    t_fd = best(lambda: fd.dropout(x, 0.5, seed=1, out=y))
    t_np = best(lambda: x * (gen.random(x.shape, dtype=np.float32) >= 0.5) / (1 - 0.5))
    print(f"\n2^22 float32, p=0.5: fastdrop {x.size / t_fd / 1e9:.2f} G elements/s, NumPy idiom "
          f"{x.size / t_np / 1e9:.2f} G elements/s ({t_np / t_fd:.1f}x), "
          f"{fd.get_num_threads()} threads, {fd.get_isa()}")
    print("\nself-check:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
