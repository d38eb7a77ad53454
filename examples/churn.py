"""Run the `churn` demo: `python examples/churn.py [--plot FILE.png] [options]`.

The same as `python -m fastdrop.demo churn`; the code lives in fastdrop/demo/churn.py.
"""
from fastdrop.demo import churn

if __name__ == "__main__":
    churn.main()
