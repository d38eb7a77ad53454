"""Run the `scaling` demo: `python examples/scaling.py [--plot FILE.png] [options]`.

The same as `python -m fastdrop.demo scaling`; the code lives in fastdrop/demo/scaling.py.
"""
from fastdrop.demo import scaling

if __name__ == "__main__":
    scaling.main()
