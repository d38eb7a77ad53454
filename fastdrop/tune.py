"""``python -m fastdrop.tune``: time the SIMD paths and store policies on this machine and save
the fastest choice (see :func:`fastdrop.tune`). Results never depend on the choice."""
import sys
import types

from fastdrop._tune import main, tune


class _CallableModule(types.ModuleType):
    """``import fastdrop.tune`` replaces the attribute fastdrop.tune with this module: keep
    ``fastdrop.tune()`` working."""

    def __call__(self, *args, **kwargs):
        return tune(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(main())
