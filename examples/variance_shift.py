"""Run the `variance-shift` demo: `python examples/variance_shift.py [--plot FILE.png] [options]`.

The same as `python -m fastdrop.demo variance-shift`; the code lives in
fastdrop/demo/variance_shift.py.
"""
from fastdrop.demo import variance_shift

if __name__ == "__main__":
    variance_shift.main()
