"""Run the `overfit` demo: `python examples/overfit.py [--plot FILE.png] [options]`.

The same as `python -m fastdrop.demo overfit`; the code lives in fastdrop/demo/overfit.py.
"""
from fastdrop.demo import overfit

if __name__ == "__main__":
    overfit.main()
