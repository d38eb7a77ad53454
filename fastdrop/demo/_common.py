"""What every demo's command line shares: the parser, the table printer, matplotlib."""
from __future__ import annotations

import argparse
import os
import sys

PLOT_HINT = "pip install matplotlib (or pip install 'fastdrop-numpy[plot]')"


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend; ImportError with the fix if
    matplotlib is not installed (fastdrop itself never needs it)."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            f"plotting needs matplotlib, which is not installed: {PLOT_HINT}"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, path):
    plt = pyplot()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_path(path):
    """Make the parent directories of ``path`` (relative to the current directory); raise
    ``OSError`` with a message naming the path when it cannot be written there."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OSError(f"--plot {path}: is a directory; give a file name such as {path}/figure.png")
    up = parent
    while up and not os.path.exists(up):
        up = os.path.dirname(up)
    if up and not os.path.isdir(up):
        raise OSError(f"--plot {path}: {up} is a file, not a directory")
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise OSError(f"--plot {path}: cannot create the directory {parent}: "
                      f"{exc.strerror or exc}") from None
    if not os.access(parent, os.W_OK):
        raise OSError(f"--plot {path}: the directory {parent} is not writable")
    return path


def table(headers, rows, floatfmt="{:.4f}"):
    """A plain-text table: columns right-aligned, floats formatted with ``floatfmt``."""
    def cell(v):
        return floatfmt.format(v) if isinstance(v, float) else str(v)
    cells = [[cell(v) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(r):
        return "  ".join(c.rjust(w) for c, w in zip(r, widths))
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def cli(module, name, argv=None):
    """``python -m fastdrop.demo NAME [--plot FILE.png] [options]`` for a demo module with
    ``add_arguments(parser)``, ``run(**options) -> result``, ``report(result) -> str`` and
    ``plot(result, path)``."""
    doc = (module.__doc__ or name).strip().splitlines()[0]
    p = argparse.ArgumentParser(prog=f"python -m fastdrop.demo {name}", description=doc)
    p.add_argument("--plot", metavar="FILE.png", help="write the figure (needs matplotlib)")
    module.add_arguments(p)
    args = vars(p.parse_args(argv))
    path = args.pop("plot")
    if path:
        try:
            pyplot()  # fail before the work, not after it
            plot_path(path)  # parent directories made here, so any working directory works
        except (ImportError, OSError) as exc:
            p.exit(2, f"{p.prog}: error: {exc}\n")
    result = module.run(**args)
    print(module.report(result))
    if path:
        module.plot(result, path)
        print(f"\nwrote {path}")
    sys.stdout.flush()
    return result
