"""overfit: the overfitting explorer -- the same network trained without and with dropout.

Two scenarios on a small, noisy 2-D classification set: "severe overfitting" (a wide, deep
network, few training points, long training, no regularisation) and "same network +
dropout" (identical data, initial weights and optimiser, with fastdrop Dropout after every
hidden layer). It prints the final training loss, validation loss and their gap (both
measured with dropout off), and the figure shows the loss curves and decision boundaries side
by side.
"""
from __future__ import annotations

import numpy as np

import fastdrop as fd
from fastdrop.demo import _common, _nn

DATASETS = ("blobs", "circles", "xor", "moons", "spiral")


def make_dataset(name, n, noise=0.2, seed=0):
    """``n`` points of a 2-D binary problem, labels 0/1 balanced; ``noise`` is the standard
    deviation of the Gaussian jitter added to every point (data span about [-1.5, 1.5])."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}; got {name!r}")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    rng.shuffle(y)
    if name == "blobs":
        X = np.where(y[:, None] == 1, 0.7, -0.7) + 0.35 * rng.standard_normal((n, 2))
    elif name == "circles":
        ang = rng.uniform(0, 2 * np.pi, n)
        r = np.where(y == 1, 0.5, 1.0)
        X = np.c_[r * np.cos(ang), r * np.sin(ang)]
    elif name == "xor":
        X = rng.uniform(-1, 1, (n, 2))
        X += np.sign(X) * 0.1                      # a small margin around the axes
        y = (X[:, 0] * X[:, 1] > 0).astype(int)
    elif name == "moons":
        t = rng.uniform(0, np.pi, n)
        X = np.where(y[:, None] == 0, np.c_[np.cos(t), np.sin(t)],
                     np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
        X = (X - [0.5, 0.25]) * 1.2
    else:  # spiral: two interleaved arms
        t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
        X = np.c_[t * np.cos(t + np.pi * y), t * np.sin(t + np.pi * y)] / (3 * np.pi) * 1.5
    X = X + noise * rng.standard_normal((n, 2))
    return X, y.astype(np.float64)[:, None]


def train_one(X, t, Xv, tv, *, layers, neurons, rate, epochs, lr, seed, opt="adam"):
    gen = fd.Generator(seed + 1)
    model = _nn.mlp(2, [neurons] * layers, 1, p=rate, seed=seed, rng=gen)
    hist = _nn.fit(model, X, t, Xv, tv, epochs=epochs, lr=lr, opt=opt,
                   record_every=max(1, epochs // 100), seed=seed)
    return model, hist


def accuracy(model, X, t):
    return float(np.mean((_nn.predict(model, X) > 0) == (t > 0.5)))


def run(dataset="moons", noise=0.3, n_train=40, n_val=300, layers=2, neurons=64, rate=0.5,
        epochs=500, lr=0.003, seed=0, grid=120, opt="adam"):
    """Train the network without dropout and with ``rate``; return losses, gaps, boundaries."""
    X, t = make_dataset(dataset, n_train, noise, seed)
    Xv, tv = make_dataset(dataset, n_val, noise, seed + 10_000)
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid))
    G = np.c_[gx.ravel(), gy.ravel()]
    scenarios = []
    for label, p in (("severe overfitting", 0.0), ("same network + dropout", rate)):
        model, hist = train_one(X, t, Xv, tv, layers=layers, neurons=neurons, rate=p,
                                epochs=epochs, lr=lr, seed=seed, opt=opt)
        prob = 1 / (1 + np.exp(-_nn.predict(model, G)))
        scenarios.append({
            "scenario": label, "p": p, "hist": hist,
            "train": hist["train"][-1], "val": hist["val"][-1],
            "gap": hist["val"][-1] - hist["train"][-1],
            "train_acc": accuracy(model, X, t), "val_acc": accuracy(model, Xv, tv),
            "boundary": prob.reshape(gx.shape),
        })
    return {"settings": dict(dataset=dataset, noise=noise, n_train=n_train, n_val=n_val,
                             layers=layers, neurons=neurons, rate=rate, epochs=epochs, lr=lr,
                             seed=seed, opt=opt),
            "data": (X, t, Xv, tv), "grid": (gx, gy), "scenarios": scenarios}


def report(res):
    s = res["settings"]
    head = (f"{s['dataset']} (noise {s['noise']}), {s['n_train']} training / {s['n_val']} "
            f"validation points; network 2 -> {s['layers']} x {s['neurons']} ReLU -> 1; "
            f"{s['epochs']} epochs of full-batch {s['opt']} (lr {s['lr']})")
    rows = [(c["scenario"], f"{c['p']:.2f}", c["train"], c["val"], c["gap"],
             f"{c['train_acc']:.3f}", f"{c['val_acc']:.3f}") for c in res["scenarios"]]
    a, b = res["scenarios"]
    verdict = (f"dropout {'narrowed' if b['gap'] < a['gap'] else 'did NOT narrow'} the gap: "
               f"{a['gap']:.3f} -> {b['gap']:.3f}")
    return "\n".join([head, _common.table(
        ["scenario", "p", "train loss", "val loss", "gap", "train acc", "val acc"], rows),
        verdict])


def plot(res, path):
    plt = _common.pyplot()
    X, t, Xv, tv = res["data"]
    gx, gy = res["grid"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 9))
    ymax = max(max(c["hist"]["val"]) for c in res["scenarios"])
    for col, c in enumerate(res["scenarios"]):
        ax = axes[0, col]
        ax.plot(c["hist"]["epoch"], c["hist"]["train"], label="train")
        ax.plot(c["hist"]["epoch"], c["hist"]["val"], label="validation")
        ax.set_ylim(0, min(ymax, 3.0) * 1.05)
        ax.set_xlabel("epoch")
        ax.set_ylabel("BCE loss (dropout off)")
        ax.set_title(f"{c['scenario']} (p = {c['p']:g})\nfinal gap {c['gap']:.3f}")
        ax.legend()
        ax = axes[1, col]
        ax.contourf(gx, gy, c["boundary"], levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
        ax.contour(gx, gy, c["boundary"], levels=[0.5], colors="k", linewidths=1.5)
        ax.scatter(Xv[:, 0], Xv[:, 1], c=tv[:, 0], cmap="RdBu_r", s=6, alpha=0.25,
                   edgecolors="none")
        ax.scatter(X[:, 0], X[:, 1], c=t[:, 0], cmap="RdBu_r", s=40, edgecolors="k")
        ax.set_title(f"decision boundary: train acc {c['train_acc']:.2f}, "
                     f"val acc {c['val_acc']:.2f}")
        ax.set_aspect("equal")
    s = res["settings"]
    fig.suptitle(f"{s['dataset']}, noise {s['noise']}, {s['n_train']} training points, "
                 f"{s['layers']} x {s['neurons']} ReLU")
    fig.tight_layout()
    _common.save(fig, path)


def add_arguments(p):
    p.add_argument("--dataset", choices=DATASETS, default="moons")
    p.add_argument("--noise", type=float, default=0.3)
    p.add_argument("--n-train", type=int, default=40)
    p.add_argument("--n-val", type=int, default=300)
    p.add_argument("--layers", type=int, default=2, help="hidden layers")
    p.add_argument("--neurons", type=int, default=64, help="units per hidden layer")
    p.add_argument("--rate", type=float, default=0.5, help="dropout rate of the second scenario")
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--opt", choices=sorted(_nn.OPTIMISERS), default="adam")
    p.add_argument("--seed", type=int, default=0)


def main(argv=None):
    return _common.cli(__import__(__name__, fromlist=["x"]), "overfit", argv)
