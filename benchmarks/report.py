"""The report: fastdrop's profile (``fastdrop.bench``) with the comparisons of ``baselines.py``
(PyTorch, numba, timm), rendered as text, as the README's Markdown tables and as plots.

    python benchmarks/report.py                                # profile + comparisons, text tables
    python benchmarks/report.py --full --update-readme README.md --plot perf.png
    python benchmarks/report.py --load run.json --markdown     # render a saved --json result

It takes every option of ``python -m fastdrop.bench`` that says what to measure (``--sizes``,
``--threads``, ``--ops``, ``--quick`` ...), measures with ``fastdrop.bench.run`` and adds the
comparisons as groups of that run, each timed interleaved with the fastdrop call it is compared
with. ``--update-readme`` replaces the tables between the ``fastdrop.bench`` markers.
Not installed with fastdrop; run it from the source tree.
"""
from __future__ import annotations

import argparse
import sys

import baselines
from fastdrop import bench
from fastdrop.bench import (OP_LABELS, OPS, STRUCT_OPS, STRUCT_P, STRUCT_TARGETS, busy_note, fmt,
                            fmt_size, machine_line)

PROG = "python benchmarks/report.py"


# ---------------------------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------------------------


def render_text(res):
    """``fastdrop.bench``'s text tables with the comparisons: timm in the structured table, the
    forward comparisons after it, PyTorch in the per-call table."""
    sections = []
    if res["baselines"]:
        sections.append("Comparisons: float32 forward, every implementation allocating its output\n" + bench.table(
            ["implementation", "size", "threads", "G elem/s", "G elem/s/thread", "fastdrop is x faster", "check"],
            [[b["label"], fmt_size(b["size"]), b["threads"], fmt(b["gelem_s"], ".3f"),
              fmt(b["gelem_s_per_thread"], ".3f"), fmt(b["fastdrop_speedup"], ".1f"), b["check"]]
             for b in res["baselines"]], "lrrrrrl"))
    timm = ("x faster than timm", "r", lambda r: fmt(r.get("timm_speedup"), ".1f"))
    return bench.render_text(res, struct_columns=[timm], struct_note="; timm: fastdrop and timm both allocating",
                             sections=sections, hint=None)


# ---------------------------------------------------------------------------------------------
# Markdown (the README's tables)
# ---------------------------------------------------------------------------------------------


def md_table(headers, rows, align=None):
    out = ["| " + " | ".join(headers) + " |",
           "| " + " | ".join("---:" if (align and a == "r") else "---" for a in (align or "l" * len(headers))) + " |"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _find(res, op="forward", dtype="float32", size=None, threads=None, impl="fastdrop", layout="C"):
    for r in res["rows"]:
        if r.get("group") is None and (r["op"] == op and r["dtype"] == dtype and r["size"] == size and r["threads"] == threads
                and r["impl"] == impl and r["layout"] == layout):
            return r
    return None


def _base(res, impl, size, threads):
    for b in res["baselines"]:
        if b["impl"] == impl and b["size"] == size and b["threads"] == threads:
            return b
    return None


def headline(res):
    """The README's summary: (measure, size, value at 1 thread, value at max threads, target)."""
    th = res["meta"]["threads"]
    t1, tn = min(th), max(th)
    rows = []
    nm = lambda v, spec=".2f", suf="x": "—" if v is None else f"{v:{spec}}{suf}"

    def ratio(op, dtype, size, key="roofline_ratio", layout="C"):
        vals = []
        for t in (t1, tn):
            r = _find(res, op, dtype, size, t, layout=layout)
            vals.append(None if r is None or r["check"] != "bitwise-equal" else r[key])
        return vals

    def add(label, size, vals, target, spec=".2f", suf="x"):
        if all(v is None for v in vals):
            return
        rows.append([label, size, nm(vals[0], spec, suf), nm(vals[1], spec, suf) if tn != t1 else "—", target])

    for op, targets in (("forward", ("≥ 0.90 / ≥ 0.95", "≥ 0.90 / ≥ 0.95")),
                        ("forward_mask", ("≥ 0.85 / ≥ 0.90", "")),
                        ("backward_mask", ("≥ 1.0 / ≥ 1.0", "≥ 1.0 / ≥ 1.0")),
                        ("backward_regen", ("≥ 0.90 / ≥ 0.95", ""))):
        for n, target in zip((1 << 24, 1 << 27), targets):
            add(f"{OP_LABELS[op]} ÷ roofline", fmt_size(n), ratio(op, "float32", n), target)
    for dt, target in (("float64", "≥ 0.90 / ≥ 0.95"), ("float16", "≥ 0.75 / ≥ 0.85")):
        add(f"{dt} forward ÷ {dt} roofline", "2^24", ratio("forward", dt, 1 << 24), target)
    for n in (1 << 16, 1 << 20):  # in cache the Philox words bound it: against the mask alone
        vals = []
        for t in (t1, tn):
            f, m = _find(res, "forward", "float32", n, t), _find(res, "mask", "-", n, t)
            vals.append(None if not f or not m else m["seconds"] / f["seconds"])
        add("forward ÷ `dropout_mask` (keep bits only)", fmt_size(n), vals, "≥ 0.85 / ≥ 0.85")
    add("forward vs NumPy idiom (× faster)", "2^24", ratio("forward", "float32", 1 << 24, "numpy_ratio"),
        "≥ 10 / ≥ 14", ".1f")
    for impl, name in (("torch", "PyTorch `F.dropout`"), ("numba_philox", "numba prange (Philox)"),
                       ("numba_own_rng", "numba prange (own RNG)")):
        vals = [None if _base(res, impl, 1 << 24, t) is None else _base(res, impl, 1 << 24, t)["fastdrop_speedup"]
                for t in (t1, tn)]
        add(f"forward vs {name} (× faster, both allocating)", "2^24", vals, "", ".1f")
    for n in sorted({r["size"] for r in res["rows"] if (1 << 16) <= r["size"] <= (1 << 20)}):
        a, b = _find(res, "forward", "float32", n, t1), _find(res, "forward", "float32", n, tn)
        if a and b and tn != t1:
            rows.append([f"forward, {tn} threads ÷ 1 thread", fmt_size(n), "—",
                         nm(a["seconds"] / b["seconds"]), "≥ 1.8"])
    tr = [r for r in res["rows"] if r.get("group") == "transposed" and r["layout"] == "T"]
    if tr:
        shp = "×".join(map(str, tr[0]["shape"]))
        vals = [next((r["vs_contiguous"] for r in tr if r["threads"] == t), None) for t in (t1, tn)]
        add("transposed ÷ contiguous (float32 forward)", shp, vals, "≥ 0.6 / ≥ 0.6")
    for n in (1 << 24, 1 << 27):
        vals = [(_find(res, "roofline", "float32", n, t, impl="roofline") or {}).get("gelem_s") for t in (t1, tn)]
        add("roofline, G elem/s (for scale)", fmt_size(n), vals, "", ".2f", "")
        vals = [(_find(res, "forward", "float32", n, t) or {}).get("gelem_s") for t in (t1, tn)]
        add("forward, G elem/s", fmt_size(n), vals, "", ".2f", "")
    return rows


def render_markdown(res):
    """The block the README's "Performance" section shows (between the fastdrop.bench markers)."""
    meta = res["meta"]
    th = meta["threads"]
    t1, tn = min(th), max(th)
    out = [f"Measured on: {machine_line(meta)}.", "",
           f"Command: `{meta['command']}` ({meta['elapsed_s']:.0f} s; p = {meta['p']}, {meta.get('stat', 'median')} of "
           f"{meta['repeat']} interleaved repetitions; float32 and contiguous unless stated; "
           f"every fastdrop row checked bitwise against `fastdrop.reference`).", ""]
    if busy_note(meta):
        out += [f"*{busy_note(meta)}.*", ""]
    hdr = ["measure", "size", f"{t1} thread" + ("s" if t1 > 1 else ""), f"{tn} threads", "target"]
    hl = headline(res)
    if hl:
        out.append(md_table(hdr, hl, "llrrl"))
    smd = render_structured_markdown(res, header=False)
    if smd:
        out += ["", f"Structured dropout (float32, p = {STRUCT_P}; "
                    "also shown under \"Structured dropout\" above):", "", smd]
    if res["overhead"]:
        out += ["", "Per-call cost of one 4096-element float32 dropout (Python call and kernel; "
                    "target ≤ 4 µs):", ""]
        out.append(md_table(["call", "µs per call"],
                            [[o["label"], fmt(o["us_per_call"], ".2f")] for o in res["overhead"]], "lr"))
    fwd = [r for r in res["rows"] if r["dtype"] in ("float32", "-") and r.get("group") is None
           and r["impl"] in ("fastdrop", "roofline")]
    if fwd:
        out += ["", "<details><summary>All float32 rows (G elem/s per thread, ratio to the roofline)</summary>", ""]
        out.append(md_table(["op", "size", "threads", "G elem/s", "GB/s", "G elem/s/thread", "÷ roofline"],
                            [[OP_LABELS.get(r["op"]) if r["impl"] == "fastdrop" else OP_LABELS["roofline"],
                              fmt_size(r["size"]), r["threads"], fmt(r["gelem_s"], ".3f"), fmt(r["gb_s"], ".1f"),
                              fmt(r["gelem_s_per_thread"], ".3f"), fmt(r["roofline_ratio"])] for r in fwd],
                            "llrrrrr"))
        out += ["", "</details>"]
    return "\n".join(out)


def _shape_text(r):
    return "×".join(map(str, r["shape"])) if len(r.get("shape", ())) > 1 else fmt_size(r["size"])


def render_structured_markdown(res, header=True):
    """The structured-dropout table: ratio to the roofline per op, 1 and max threads,
    and DropBlock against timm; empty string when the run had no structured ops."""
    srows = [r for r in res["rows"] if r.get("group") == "structured"]
    if not srows:
        return ""
    meta = res["meta"]
    th = sorted({r["threads"] for r in srows})
    t1, tn = th[0], th[-1]
    get = lambda op, t: next((r for r in srows if r["op"] == op and r["threads"] == t), None)
    val = lambda r, key, spec: "—" if r is None or r["check"] != "bitwise-equal" or r.get(key) is None else f"{r[key]:{spec}}x"
    hdr = ["operation (float32)", "shape", f"{t1} thread" + ("s" if t1 > 1 else "")]
    if tn != t1:
        hdr.append(f"{tn} threads")
    hdr.append("target")
    rows = []
    ops = [op for op in STRUCT_OPS if any(r["op"] == op for r in srows)]
    for op in ops:
        a, b = get(op, t1), get(op, tn)
        ref = a or b
        row = [f"{OP_LABELS[op]} ÷ roofline", _shape_text(ref), val(a, "roofline_ratio", ".2f")]
        if tn != t1:
            row.append(val(b, "roofline_ratio", ".2f"))
        rows.append(row + [STRUCT_TARGETS.get(op, "")])
    for op in ops:
        a, b = get(op, t1), get(op, tn)
        if (a or b) and (a or b).get("timm_speedup") is not None:
            ref = a or b
            row = [f"{OP_LABELS[op]} vs timm {ref['timm_version']} `drop_block_2d`"
                   f"{' (couple_channels)' if op == 'dropblock_shared' else ' (couple_channels=False)'}, × faster, both allocating",
                   _shape_text(ref), val(a, "timm_speedup", ".1f")]
            if tn != t1:
                row.append(val(b, "timm_speedup", ".1f"))
            rows.append(row + ["≥ 2"])
    table = md_table(hdr, rows, "ll" + "r" * (len(hdr) - 3) + "l")
    if not header:
        return table
    out = [f"Command: `{meta['command']}`; p = {srows[0]['p']}, {meta.get('stat', 'median')} of {meta['repeat']} "
           f"interleaved repetitions, each op timed with its roofline (a scaled copy of the same array) "
           f"in the same run; every output checked bitwise against `fastdrop.reference`; "
           f"{meta['cpu']}, {meta['cores']} cores, ISA path {'/'.join(meta['isa'])}, {meta['date']}.", ""]
    if busy_note(meta):
        out += [f"*{busy_note(meta)}.*", ""]
    out.append(table)
    return "\n".join(out)


BEGIN, END = "<!-- fastdrop.bench:begin -->", "<!-- fastdrop.bench:end -->"
SBEGIN, SEND = "<!-- fastdrop.bench:structured:begin -->", "<!-- fastdrop.bench:structured:end -->"


def _replace_between(text, begin, end, block):
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + begin + "\n" + block + "\n" + end + tail


def update_readme(path, block, structured=None):
    """Replace the table between the fastdrop.bench markers; with ``structured`` (non-empty)
    also the one between the structured markers, where the file has them."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise SystemExit(f"--update-readme: cannot read {path}: {exc.strerror}")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} markers to replace between")
    text = _replace_between(text, BEGIN, END, block)
    if structured and SBEGIN in text and SEND in text:
        text = _replace_between(text, SBEGIN, SEND, structured)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)

# ---------------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------------


def plot(res, path):
    """Two panels of G elements/s per thread used (float32, contiguous), y from 0: against the
    size for each thread count, and against the threads at the largest size; the roofline
    (scaled copy), every fastdrop operation and the NumPy idiom (one thread)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in res["rows"] if r["dtype"] in ("float32", "-") and r["layout"] == "C"
            and r.get("group") is None
            and (r["impl"] in ("fastdrop", "roofline") or (r["impl"] == "numpy" and r["op"] == "forward"))]

    def key(r):
        return "numpy" if r["impl"] == "numpy" else r["op"]

    labels = dict(OP_LABELS, numpy="NumPy idiom (1 thread)")
    threads = sorted({r["threads"] for r in rows if r["impl"] != "numpy"})
    sizes = sorted({r["size"] for r in rows})
    lines = [k for k in ("roofline",) + OPS + ("numpy",) if any(key(r) == k for r in rows)]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5))
    styles = ["-", "--", ":", "-."]
    colors = dict(zip(lines, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    colors["numpy"] = "black"
    per_thread = "gelem_s_per_thread"
    for i, t in enumerate(threads):
        for k in lines:
            if k == "numpy" and i > 0:
                continue  # one thread only: drawn once
            pts = sorted((r["size"], r[per_thread]) for r in rows
                         if key(r) == k and (r["threads"] == t or k == "numpy"))
            if pts:
                a1.plot([p[0] for p in pts], [p[1] for p in pts], styles[i % 4], marker="o",
                        color=colors[k], lw=2.5 if k == "roofline" else 1.5,
                        label=labels[k] if k == "numpy" else f"{labels[k]}, {t} thr")
    a1.set_xscale("log", base=2)
    a1.set_xlabel("elements (float32)")
    a1.set_ylabel("G elements / s per thread")
    a1.set_title("throughput per thread vs size")
    a1.set_ylim(bottom=0)
    a1.grid(True, alpha=0.3)
    a1.legend(fontsize=7)
    big = max(sizes)
    for k in lines:
        pts = sorted((r["threads"], r[per_thread]) for r in rows if key(r) == k and r["size"] == big)
        if k == "numpy" and pts:  # one thread: a horizontal reference line
            a2.axhline(pts[0][1], color=colors[k], lw=1.5, ls="--", label=labels[k])
        elif pts:
            a2.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=colors[k],
                    lw=2.5 if k == "roofline" else 1.5, label=labels[k])
    a2.set_xticks(threads)
    a2.set_xlabel("threads")
    a2.set_ylabel("G elements / s per thread")
    a2.set_title(f"throughput per thread vs threads at {fmt_size(big)} float32")
    a2.set_ylim(bottom=0)
    a2.grid(True, alpha=0.3)
    a2.legend(fontsize=7)
    fig.suptitle("fastdrop vs the scaled-copy roofline and the NumPy idiom — " + res["meta"]["cpu"],
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def build_parser():
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="fastdrop's throughput profile (python -m fastdrop.bench) with the PyTorch, "
                    "numba and timm comparisons where importable, as text, the README's Markdown "
                    "tables and plots.")
    bench.add_profile_arguments(ap)
    ap.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=None,
                    help="PyTorch, numba and timm comparisons where importable (default on, off with --quick)")
    ap.add_argument("--markdown", action="store_true", help="print the README tables (Markdown)")
    ap.add_argument("--update-readme", metavar="README.md",
                    help="replace the tables between the fastdrop.bench markers in this file")
    ap.add_argument("--plot", metavar="FILE.png", help="plot throughput vs size and threads (matplotlib)")
    return ap


def run(opts):
    """fastdrop.bench's profile with the comparisons of baselines.py as extra groups."""
    if not opts.baselines:
        return bench.run(opts)
    b = baselines.load()
    res = bench.run(opts, baselines.extra_groups(opts, b))
    res["meta"]["versions"].update(baselines.versions(b))
    return res


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    opts = bench.resolve(build_parser().parse_args(argv), argv, prog=PROG)
    if opts.baselines is None:
        opts.baselines = not opts.quick
    if opts.plot and baselines.optional("matplotlib") is None:
        print("report.py: --plot needs matplotlib, which is not installed (pip install matplotlib); "
              "nothing was measured.", file=sys.stderr)
        return 2
    res = bench.load_json(opts.load) if opts.load else run(opts)
    if opts.json:
        bench.write_json(res, opts.json)
    if opts.plot:
        plot(res, opts.plot)
    md = render_markdown(res)
    if opts.update_readme:
        update_readme(opts.update_readme, md, render_structured_markdown(res))
    if opts.json != "-":
        print(md if opts.markdown else render_text(res))
    return bench.failed_checks(res, "report.py")


if __name__ == "__main__":
    sys.exit(main())
