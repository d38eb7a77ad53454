"""Run the `mc` demo: `python examples/mc.py [--plot FILE.png] [options]`.

The same as `python -m fastdrop.demo mc`; the code lives in fastdrop/demo/mc.py.
"""
from fastdrop.demo import mc

if __name__ == "__main__":
    mc.main()
