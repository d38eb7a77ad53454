"""scaling: inverted vs naive dropout -- where the 1/(1-p) goes, and the rate explorer.

Dropout removes a fraction p of the activations, so something must rescale them or the next
layer sees a smaller signal in training than at inference. Inverted dropout (fastdrop's
default, ``mode="inverted"``) multiplies the survivors by 1/(1-p) during training and does
nothing at inference; naive dropout (the 2014 formulation, ``mode="naive"``) leaves the
survivors alone and multiplies by 1-p at inference. Either way the mean activation is the
same in training and at inference; forgetting the rescaling is the bug shown in the last row.
"""
from __future__ import annotations

import numpy as np

import fastdrop as fd
from fastdrop.demo import _common

TABLE_RATES = (0.1, 0.2, 0.3, 0.5, 0.8, 0.9)


def run(p=0.5, n=1_000_000, rates=TABLE_RATES, seed=0):
    rng = np.random.default_rng(seed)
    a = np.maximum(rng.normal(0.5, 1.0, n), 0).astype(np.float32)   # post-ReLU activations
    gen = fd.Generator(seed)
    ref = float(a.mean(dtype=np.float64))

    def mean(v):
        return float(np.mean(v, dtype=np.float64))
    inv_train = mean(fd.dropout(a, p, rng=gen, mode="inverted"))
    inv_test = mean(fd.dropout(a, p, training=False, mode="inverted"))
    nai_train = mean(fd.dropout(a, p, rng=gen, mode="naive"))
    nai_test = mean(fd.dropout(a, p, training=False, mode="naive"))
    strategies = [
        {"strategy": "inverted (fastdrop default)", "train": inv_train, "test": inv_test},
        {"strategy": "naive (2014)", "train": nai_train, "test": nai_test},
        {"strategy": "no rescaling at all (bug)", "train": nai_train, "test": ref},
    ]
    table = []
    for q in rates:
        keep = fd.dropout_mask(n, q, rng=gen, packed=False)
        y = fd.dropout(a, q, rng=gen)
        table.append({"p": q, "survivors": float(keep.mean()), "expected": 1 - q,
                      "scale": 1 / (1 - q), "mean_ratio": mean(y) / ref})
    return {"p": p, "n": n, "input_mean": ref, "strategies": strategies, "rates": table}


def report(res):
    lines = [f"Mean activation, {res['n']:,} post-ReLU activations (mean {res['input_mean']:.4f}), "
             f"p = {res['p']}"]
    rows = [(s["strategy"], s["train"], s["test"], s["train"] / s["test"])
            for s in res["strategies"]]
    lines.append(_common.table(["strategy", "train mean", "inference mean", "train / inference"],
                               rows))
    lines += ["", "Dropout-rate explorer (inverted): survivors and the scale on each survivor"]
    rows = [(f"{r['p']:.1f}", f"{r['survivors']:.4f}", f"{r['expected']:.1f}",
             f"{r['scale']:.2f}x", f"{r['mean_ratio']:.4f}") for r in res["rates"]]
    lines.append(_common.table(["p", "survivors (measured)", "1 - p", "scale 1/(1-p)",
                                "train mean / input mean"], rows))
    return "\n".join(lines)


def plot(res, path):
    plt = _common.pyplot()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [s["strategy"].split(" (")[0] for s in res["strategies"]]
    i = np.arange(len(names))
    ax0.bar(i - 0.2, [s["train"] for s in res["strategies"]], 0.4, label="training")
    ax0.bar(i + 0.2, [s["test"] for s in res["strategies"]], 0.4, label="inference")
    ax0.axhline(res["input_mean"], color="k", ls=":", label="input mean")
    ax0.set_xticks(i, names)
    ax0.set_ylabel("mean activation")
    ax0.set_title(f"mean activation, p = {res['p']}")
    ax0.set_ylim(0, res["input_mean"] * 1.5)
    ax0.legend(loc="upper center", ncol=3, fontsize=8)
    q = np.linspace(0, 0.9, 91)
    ax1.plot(q, 1 - q, label="survivors 1 - p")
    ax1.plot(q, 1 / (1 - q), label="scale 1/(1-p)")
    for r in res["rates"]:
        ax1.plot(r["p"], r["survivors"], "o", color="C0")
        ax1.plot(r["p"], r["scale"], "o", color="C1")
        ax1.annotate(f"{r['scale']:.2f}x", (r["p"], r["scale"]), textcoords="offset points",
                     xytext=(-28, 6), fontsize=8)
    ax1.set_yscale("log")
    ax1.set_xlabel("dropout rate p")
    ax1.set_title("dropout-rate explorer (dots: measured survivors)")
    ax1.legend()
    _common.save(fig, path)


def add_arguments(p):
    p.add_argument("--p", type=float, default=0.5, help="rate for the mean-activation table")
    p.add_argument("--n", type=int, default=1_000_000, help="activations")
    p.add_argument("--rates", type=float, nargs="+", default=list(TABLE_RATES))
    p.add_argument("--seed", type=int, default=0)


def main(argv=None):
    return _common.cli(__import__(__name__, fromlist=["x"]), "scaling", argv)
