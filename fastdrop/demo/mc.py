"""mc: MC dropout uncertainty on 1-D regression -- the band widens away from the data.

A 1 -> 64 -> 64 -> 1 ReLU network with dropout after each hidden layer is fitted to noisy
samples of a smooth curve on [-2, 2]. ``fastdrop.mc_dropout`` then runs it T times with
dropout on (fresh, reproducible masks each pass; the model itself is in ``eval()``) and
returns the predictive mean and variance (Gal & Ghahramani, 2016) on [-5, 5]. The band is
mean +- 2 sigma of the passes (the model's uncertainty; the observation noise is not added).
"""
from __future__ import annotations

import numpy as np

import fastdrop as fd
from fastdrop.demo import _common, _nn


def target(x):
    return np.sin(1.5 * x) + 0.3 * x


def run(n_train=60, noise=0.1, p=0.2, hidden=64, epochs=1500, passes=300, lr=0.005,
        data_range=2.0, plot_range=5.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-data_range, data_range, (n_train, 1))
    y = target(x) + noise * rng.standard_normal(x.shape)
    model = _nn.mlp(1, [hidden, hidden], 1, p=p, seed=seed)  # masks: the default generator
    saved = fd.default_generator().get_state()
    try:
        fd.manual_seed(seed)                                  # ... made reproducible
        hist = _nn.fit(model, x, y, loss="mse", epochs=epochs, lr=lr, record_every=epochs)
    finally:
        fd.default_generator().set_state(saved)               # no side effect on the caller
    grid = np.linspace(-plot_range, plot_range, 201)[:, None]
    model.eval()                       # dropout off ... except inside mc_dropout
    mean, var = fd.mc_dropout(model, grid, passes=passes, seed=seed)
    sigma = np.sqrt(var[:, 0])
    inside = np.abs(grid[:, 0]) <= data_range
    far = np.abs(grid[:, 0]) >= data_range + 1.0
    return {
        "x": x, "y": y, "grid": grid[:, 0], "mean": mean[:, 0], "sigma": sigma,
        "deterministic": model(grid)[:, 0], "train_mse": hist["train"][-1],
        "sigma_inside": float(sigma[inside].mean()), "sigma_far": float(sigma[far].mean()),
        "settings": dict(n_train=n_train, noise=noise, p=p, hidden=hidden, epochs=epochs,
                         passes=passes, data_range=data_range, seed=seed),
    }


def report(res):
    s = res["settings"]
    lines = [f"MC dropout: {s['n_train']} noisy points on [-{s['data_range']:g}, "
             f"{s['data_range']:g}], 1 -> {s['hidden']} -> {s['hidden']} -> 1 ReLU, p = {s['p']}, "
             f"{s['passes']} passes (seed {s['seed']}); training MSE {res['train_mse']:.4f}"]
    g = res["grid"]
    rows = []
    for x0 in np.arange(-5, 5.5, 1.0):
        if abs(x0) > g[-1] + 1e-9:
            continue
        i = int(np.argmin(np.abs(g - x0)))
        rows.append((f"{g[i]:+.1f}", "yes" if abs(g[i]) <= s["data_range"] else "no",
                     float(target(g[i])), float(res["mean"][i]), float(res["sigma"][i])))
    lines.append(_common.table(["x", "in data", "true f(x)", "MC mean", "sigma"], rows, "{:.3f}"))
    ratio = res["sigma_far"] / res["sigma_inside"]
    lines.append(f"mean sigma inside the data {res['sigma_inside']:.3f}; at least 1 away from it "
                 f"{res['sigma_far']:.3f} ({ratio:.1f}x wider)")
    return "\n".join(lines)


def plot(res, path):
    plt = _common.pyplot()
    g, m, sd = res["grid"], res["mean"], res["sigma"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.fill_between(g, m - 2 * sd, m + 2 * sd, alpha=0.3, label="MC mean +- 2 sigma")
    ax.plot(g, m, lw=2, label="MC mean")
    ax.plot(g, res["deterministic"], ":", color="k", label="dropout off (eval)")
    ax.plot(g, target(g), "--", color="gray", label="true function")
    ax.scatter(res["x"][:, 0], res["y"][:, 0], s=14, color="C3", zorder=3, label="training data")
    r = res["settings"]["data_range"]
    ax.axvspan(-r, r, color="gray", alpha=0.08)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"MC dropout, p = {res['settings']['p']}, {res['settings']['passes']} passes")
    ax.legend(loc="upper left", fontsize=8)
    _common.save(fig, path)


def add_arguments(p):
    p.add_argument("--n-train", type=int, default=60)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--p", type=float, default=0.2, help="dropout rate")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--epochs", type=int, default=1500)
    p.add_argument("--passes", type=int, default=300, help="MC passes T")
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--seed", type=int, default=0)


def main(argv=None):
    return _common.cli(__import__(__name__, fromlist=["x"]), "mc", argv)
