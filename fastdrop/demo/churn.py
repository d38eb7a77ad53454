"""churn: inverted dropout by hand on a 2->4->1 churn network, then a dropout-rate sweep.

The data are five customers with two features (tenure and monthly charges) and a churn
label, plus a five-row validation split. The seed material's own table is not reproduced
here: these rows are INVENTED, plausible values (short tenure with high charges churns), and
the features are min-max normalised against the usual ranges (tenure 0-72 months, charges
$0-$120 a month).
"""
from __future__ import annotations

import numpy as np

import fastdrop as fd
from fastdrop.demo import _common, _nn
from fastdrop.layers import Dropout

# (tenure in months, monthly charges in $, churned) -- invented for this demo, see above
TRAIN_ROWS = [(2, 85, 1), (45, 40, 0), (8, 95, 1), (60, 70, 0), (24, 30, 0)]
VAL_ROWS = [(5, 90, 1), (50, 55, 0), (12, 75, 1), (36, 45, 0), (10, 60, 0)]
RANGES = np.array([72.0, 120.0])

# The worked example: hidden activations a, p = 0.5, and a seed whose keep mask is [1,0,1,0].
A = [0.36, 0.13, 0.42, 0.25]
WORKED_P = 0.5
WORKED_SEED = 18            # fd.dropout_mask(4, 0.5, seed=18, packed=False) == [1, 0, 1, 0]
UPSTREAM = [0.5, -0.3, 0.2, 0.1]  # an example dL/dy for the backward


def data(rows):
    r = np.array(rows, dtype=np.float64)
    return r[:, :2] / RANGES, r[:, 2:]


def worked_example():
    a = np.array(A)
    layer = Dropout(WORKED_P, rng=fd.Generator(WORKED_SEED))  # draws (seed 18, offset 0)
    y = layer(a)
    keep = fd.dropout_mask(a.shape, WORKED_P, seed=WORKED_SEED, packed=False)
    g = layer.backward(np.array(UPSTREAM))
    same = np.array_equal(y, fd.dropout(a, WORKED_P, seed=WORKED_SEED))
    return {"a": a, "keep": keep.astype(int), "scale": 1 / (1 - WORKED_P), "y": y,
            "upstream": np.array(UPSTREAM), "grad": g, "layer_equals_functional": same}


def run(rates=(0.0, 0.3, 0.5, 0.7), epochs=400, seeds=5, lr=0.05):
    """Worked example, then train the 2->4->1 net for each rate (mean over `seeds` inits)."""
    X, t = data(TRAIN_ROWS)
    Xv, tv = data(VAL_ROWS)
    sweep = []
    for p in rates:
        train, val = [], []
        for s in range(seeds):
            gen = fd.Generator(1000 + s)
            model = _nn.mlp(2, [4], 1, p=p, seed=s, rng=gen)   # 2 -> 4 (ReLU, dropout) -> 1
            h = _nn.fit(model, X, t, Xv, tv, epochs=epochs, lr=lr, record_every=5)
            train.append(h["train"])
            val.append(h["val"])
        sweep.append({"p": p, "epoch": h["epoch"], "train": np.mean(train, axis=0),
                      "val": np.mean(val, axis=0)})
    return {"worked": worked_example(), "sweep": sweep, "epochs": epochs, "seeds": seeds}


def report(res):
    w = res["worked"]
    fmt = lambda v: "[" + ", ".join(f"{x:.2f}" for x in v) + "]"  # noqa: E731
    lines = [
        "Inverted dropout, worked example (p = 0.5, seed 18)",
        f"  hidden activations a      = {fmt(w['a'])}",
        f"  keep mask (1 = kept)      = {[int(k) for k in w['keep']]}",
        f"  scale 1/(1-p)             = {w['scale']:g}",
        f"  y = a * mask / (1-p)      = {fmt(w['y'])}",
        f"  backward: dL/dy           = {fmt(w['upstream'])}",
        f"            dL/da = g*mask/(1-p) = {fmt(w['grad'])}",
        f"  layer == fastdrop.dropout(a, 0.5, seed=18): {w['layer_equals_functional']}",
        "",
        f"Rate sweep: 2->4->1 network, 5 training rows, 5 validation rows (invented data), "
        f"{res['epochs']} epochs of Adam, mean of {res['seeds']} initialisations",
    ]
    rows = [(f"{s['p']:.1f}", float(s["train"][-1]), float(s["val"][-1]),
             float(s["val"][-1] - s["train"][-1])) for s in res["sweep"]]
    lines.append(_common.table(["p", "train loss", "val loss", "gap"], rows))
    best_val = min(rows, key=lambda r: r[2])[0]
    best_gap = min(rows, key=lambda r: r[3])[0]
    rising = all(a[1] < b[1] for a, b in zip(rows, rows[1:]))
    lines.append(f"lowest validation loss at p = {best_val}; smallest train/validation gap at "
                 f"p = {best_gap}" + ("; the training loss rises with p" if rising else ""))
    return "\n".join(lines)


def plot(res, path):
    plt = _common.pyplot()
    w = res["worked"]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
    i = np.arange(4)
    ax0.bar(i - 0.2, w["a"], 0.4, label="a (before)")
    ax0.bar(i + 0.2, w["y"], 0.4, label="a * mask / (1-p)")
    for k, kept in enumerate(w["keep"]):
        ax0.text(k, max(w["a"][k], w["y"][k]) + 0.02, "kept" if kept else "dropped", ha="center")
    ax0.set_xticks(i, [f"unit {k + 1}" for k in i])
    ax0.set_ylim(0, 1.0)
    ax0.set_title("inverted dropout, p = 0.5")
    ax0.legend()
    for s in res["sweep"]:
        line, = ax1.plot(s["epoch"], s["train"], label=f"p={s['p']:.1f} train")
        ax1.plot(s["epoch"], s["val"], "--", color=line.get_color(), label=f"p={s['p']:.1f} val")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("BCE loss (dropout off)")
    ax1.set_title("2->4->1 churn network: rate sweep")
    ax1.legend(ncol=2, fontsize=8)
    _common.save(fig, path)


def add_arguments(p):
    p.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.7])
    p.add_argument("--epochs", type=int, default=400)
    p.add_argument("--seeds", type=int, default=5, help="initialisations averaged per rate")
    p.add_argument("--lr", type=float, default=0.05)


def main(argv=None):
    return _common.cli(__import__(__name__, fromlist=["x"]), "churn", argv)
