"""The text tables of a result (what ``python -m fastdrop.bench`` prints)."""
from __future__ import annotations

from ._defaults import OP_LABELS, STRUCT_TARGETS, fmt_size
from ._machine import busy_note, machine_line


def fmt(v, spec=".2f", none="-"):
    """``v`` formatted with ``spec``, or ``none`` for None."""
    return none if v is None else format(v, spec)


def table(headers, rows, align=None):
    """A text table: columns padded, ``align`` one letter per column (``l`` or ``r``)."""
    cols = [headers] + [[str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cols) for i in range(len(headers))]
    a = align or "l" * len(headers)
    line = lambda r: "  ".join(c.rjust(w[i]) if a[i] == "r" else c.ljust(w[i]) for i, c in enumerate(r))
    return "\n".join([line(headers), "  ".join("-" * x for x in w)] + [line(r) for r in cols[1:]])


BASELINES_HINT = ("PyTorch, numba and timm comparisons, the README tables and plots: "
                  "python benchmarks/report.py in fastdrop's source tree (benchmarks/ is not installed)")


GUARD_RATIO = 0.9  # the default path may be at most 10 % slower than the best other path


def path_text(r):
    """A row's SIMD path, with "+stream" when fastdrop wrote its output with streaming stores."""
    return r["isa"] + ("+stream" if r["impl"] == "fastdrop" and r.get("stores") == "streaming" else "")


def isa_guard(res):
    """The ISA paths side by side: one row per op, dtype, layout, size and thread count that
    ran on more than one path, ``(key, {isa: G elem/s}, default isa, default / best, flagged)``;
    flagged: the default path is more than 10 % slower than another path."""
    default = res["meta"].get("isa_default")
    cases = {}
    for r in res["rows"]:
        if r["impl"] != "fastdrop":
            continue
        size = "x".join(map(str, r["shape"])) if "shape" in r else fmt_size(r["size"])
        key = (OP_LABELS.get(r["op"], r["op"]), r["dtype"], r["layout"], size, r["threads"])
        cases.setdefault(key, {})[r["isa"]] = r["gelem_s"]
    out = []
    for key, rates in cases.items():
        if len(rates) < 2 or default not in rates:
            continue
        ratio = rates[default] / max(rates.values())
        out.append((key, rates, default, ratio, ratio < GUARD_RATIO))
    return out


def render_guard(res):
    """The text block of :func:`isa_guard`, or "" when only one path ran."""
    rows = isa_guard(res)
    if not rows:
        return ""
    isas = [i for i in res["meta"]["isa"] if any(i in r[1] for r in rows)]
    flagged = [r for r in rows if r[4]]
    title = (f"ISA paths side by side (G elem/s; default path {rows[0][2]}; flagged where another "
             f"path is more than {100 - 100 * GUARD_RATIO:.0f} % faster)")
    body = table(["op", "dtype", "layout", "size", "threads"] + isas + ["default / best", "flag"],
                 [list(k[:2]) + ["C" if k[2] == "C" else "transposed"] + list(k[3:])
                  + [fmt(rates.get(i), ".3f") for i in isas] + [fmt(ratio), "SLOWER" if bad else ""]
                  for k, rates, _, ratio, bad in rows],
                 "lllll" + "r" * len(isas) + "rl")
    verdict = (f"{len(flagged)} case(s) where the default path is slower than another path: a bug "
               "to fix" if flagged else "the default path is within 10 % of the best path in every case")
    return "\n".join([title, body, verdict])


def render_text(res, struct_columns=(), struct_note="", sections=(), hint=BASELINES_HINT):
    """The text tables of a result. ``struct_columns``: more ``(header, align, fn(row))`` columns
    of the structured table (before "check"), ``struct_note``: more words for its title,
    ``sections``: more text blocks after it, ``hint``: the line before the command (None: none);
    ``benchmarks/report.py`` adds its comparisons with them."""
    meta = res["meta"]
    out = [f"fastdrop.bench: {machine_line(meta)}",
           f"p = {meta['p']}, {meta.get('stat', 'median')} of {meta['repeat']} interleaved repetitions; "
           f"roofline = scaled copy y = x*s on the same arrays and threads (x streaming: against "
           f"the same copy with non-temporal stores, the limit for outputs beyond the caches); "
           f"GB/s counts x read + y written + mask bytes",
           ""]
    hdr = ["op", "impl", "dtype", "layout", "size", "threads", "ISA", "G elem/s", "GB/s",
           "G elem/s/thread", "x roofline", "x streaming", "x NumPy", "check"]
    rows = [[OP_LABELS.get(r["op"], r["op"]) if r["impl"] in ("fastdrop", "roofline_streaming") else (OP_LABELS["roofline"] if r["impl"] == "roofline" else "forward (NumPy idiom)"),
             r["impl"], r["dtype"], r["layout"] if r["layout"] == "C" else "transposed",
             "x".join(map(str, r["shape"])) if "shape" in r else fmt_size(r["size"]),
             r["threads"] if r["threads_used"] == r["threads"] or r["impl"] == "numpy" else f"{r['threads']} (1 used)",
             path_text(r) if r["impl"] != "numpy" else "-",
             fmt(r["gelem_s"], ".3f"), fmt(r["gb_s"], ".1f"), fmt(r["gelem_s_per_thread"], ".3f"),
             fmt(r["roofline_ratio"]), fmt(r.get("streaming_ratio")), fmt(r["numpy_ratio"], ".1f"),
             r["check"]]
            for r in res["rows"] if r.get("group") != "structured"]
    if rows:
        out += [table(hdr, rows, "lllllllrrrrrrl"), ""]
    srows = [r for r in res["rows"] if r.get("group") == "structured"]
    if srows:
        out.append(f"Structured dropout (float32, p = {srows[0]['p']}; roofline = scaled copy of the same "
                   f"array{struct_note})")
        out.append(table(["op", "shape", "threads", "ISA", "G elem/s", "GB/s", "x roofline", "target"]
                         + [c[0] for c in struct_columns] + ["check"],
                         [[OP_LABELS.get(r["op"], r["op"]), "x".join(map(str, r["shape"])) if len(r["shape"]) > 1 else fmt_size(r["size"]),
                           r["threads"], path_text(r), fmt(r["gelem_s"], ".3f"), fmt(r["gb_s"], ".1f"),
                           fmt(r["roofline_ratio"]), STRUCT_TARGETS.get(r["op"], "")]
                          + [c[2](r) for c in struct_columns] + [r["check"]] for r in srows],
                         "llrlrrrl" + "".join(c[1] for c in struct_columns) + "l"))
        out.append("")
    guard = render_guard(res)
    if guard:
        out += [guard, ""]
    for block in sections:
        out += [block, ""]
    if res["overhead"]:
        out.append("Per-call overhead: one 4096-element float32 dropout, kernel included")
        out.append(table(["call", "us per call", "x fastdrop dropout(x, p)", "check"],
                         [[o["label"].replace("`", ""), fmt(o["us_per_call"], ".2f"), fmt(o["vs_fastdrop"], ".2f"), o["check"]]
                          for o in res["overhead"]], "lrrl"))
        out.append("")
    if hint:
        out.append(hint)
    out.append(f"command: {meta['command']}  ({meta['elapsed_s']:.0f} s)")
    if busy_note(meta):
        out.append(busy_note(meta))
    return "\n".join(out)
