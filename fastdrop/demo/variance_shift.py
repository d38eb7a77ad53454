"""variance-shift: dropout before batch norm shifts the variance BN sees (Li et al. 2019).

In training, inverted dropout keeps the mean of a unit but raises its variance: for a unit
with mean c and variance v the dropped-and-scaled output has variance (c^2 + v)/(1-p) - c^2.
A batch-norm layer right after the dropout learns its running variance from those training
batches, but at inference (dropout off) its input has variance v, so it divides by the wrong
number: the "variance shift" of Li, Chen, Hu and Yang, "Understanding the Disharmony between
Dropout and Batch Normalization by Variance Shift" (CVPR 2019). Their remedy is to place
dropout after the last normalisation layer, where no BN statistics are learned from dropped
activations.

Two randomly initialised networks (the effect is a property of the statistics, so no training
of the weights is needed) run over the data in training mode, batch by batch, so every BN
accumulates running statistics as in training; then the ratio is measured per feature as
(BN running variance) / (variance of the BN input at inference), averaged over features (the
running statistics are cumulative averages over all training batches, PyTorch's momentum=None):

  dropout before BN: x -> Dense -> ReLU -> Dropout(p) -> BN -> ReLU -> Dense
  dropout after BN:  x -> Dense -> BN -> ReLU -> Dense -> BN -> ReLU -> Dropout(p) -> Dense
"""
from __future__ import annotations

import numpy as np

import fastdrop as fd
from fastdrop.demo import _common, _nn
from fastdrop.layers import Dropout, Module, Sequential


class Probe(Module):
    """Identity that remembers the per-feature mean and variance of what passes through."""

    def forward(self, x):
        self.mean, self.var = x.mean(axis=0), x.var(axis=0)
        return x

    def backward(self, g):
        return g


def build(arrangement, d, h, p, seed, gen):
    r = np.random.default_rng(seed)
    if arrangement == "before":
        probe, bn = Probe(), _nn.BatchNorm(h, momentum=None)
        net = Sequential(_nn.Dense(d, h, r), _nn.ReLU(), Dropout(p, rng=gen), probe, bn,
                         _nn.ReLU(), _nn.Dense(h, 1, r))
        return net, [(probe, bn)]
    pairs = [(Probe(), _nn.BatchNorm(h, momentum=None)) for _ in range(2)]
    net = Sequential(_nn.Dense(d, h, r), *pairs[0], _nn.ReLU(), _nn.Dense(h, h, r), *pairs[1],
                     _nn.ReLU(), Dropout(p, rng=gen), _nn.Dense(h, 1, r))
    return net, pairs


def shift(net, pairs, X, batch, epochs):
    net.train()
    for _ in range(epochs):
        for s in range(0, X.shape[0], batch):
            net.forward(X[s:s + batch])
    net.eval()
    net.forward(X)
    ratios = [float(np.mean(bn.running_var / probe.var)) for probe, bn in pairs]
    # what the BN emits at inference: std of its normalised output (1 without a shift)
    out_std = [float(np.mean(np.sqrt(probe.var / (bn.running_var + bn.eps))))
               for probe, bn in pairs]
    return ratios, out_std, pairs[0][0]


def run(rates=(0.1, 0.2, 0.3, 0.5, 0.7), n=8192, d=32, hidden=64, batch=256, epochs=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    rows = []
    for p in rates:
        gen = fd.Generator(seed)
        net, pairs = build("before", d, hidden, p, seed, gen)
        (r_before,), (std_before,), probe = shift(net, pairs, X, batch, epochs)
        c, v = probe.mean, probe.var            # the unit's inference mean and variance
        k = float(np.mean(c * c / v))             # so the theory is ((1 + k)/(1 - p) - k)
        theory = float(np.mean(((c * c + v) / (1 - p) - c * c) / v))
        net, pairs = build("after", d, hidden, p, seed, gen)
        r_after, std_after, _ = shift(net, pairs, X, batch, epochs)
        worst = max(r_after, key=lambda r: abs(r - 1))
        rows.append({"p": p, "theory": theory, "k": k, "before": r_before, "after": worst,
                     "std_before": std_before,
                     "std_after": max(std_after, key=lambda s: abs(s - 1))})
    return {"rows": rows, "settings": dict(n=n, d=d, hidden=hidden, batch=batch, epochs=epochs)}


def report(res):
    s = res["settings"]
    lines = [f"Variance shift: BN running variance / BN input variance at inference "
             f"({s['n']} samples, batches of {s['batch']}, {s['hidden']} units; 1 = no shift)"]
    rows = [(f"{r['p']:.1f}", r["theory"], r["before"], r["std_before"], r["after"], r["std_after"])
            for r in res["rows"]]
    lines.append(_common.table(
        ["p", "theory (Li et al.)", "dropout -> BN", "BN out std", "dropout after last BN",
         "BN out std"], rows, "{:.3f}"))
    lines.append("'BN out std' is the std of the BN's normalised output at inference "
                 "(1 when the running variance is right); the after-BN columns show the BN "
                 "furthest from 1 (what remains there is sampling noise).")
    return "\n".join(lines)


def plot(res, path):
    plt = _common.pyplot()
    p = [r["p"] for r in res["rows"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    q = np.linspace(0, max(p), 100)
    k = res["rows"][0]["k"]  # mean c^2/v of the units before the dropout (the same for every p)
    ax.plot(q, (1 + k) / (1 - q) - k, "k:",
            label="theory: mean over units of ((c^2+v)/(1-p) - c^2)/v")
    ax.plot(p, [r["before"] for r in res["rows"]], "o", ms=8, label="dropout -> BN (measured)")
    ax.plot(p, [r["after"] for r in res["rows"]], "s-",
            label="dropout after the last BN (measured)")
    ax.plot(q, 1 / (1 - q), color="gray", alpha=0.4, label="1/(1-p) (zero-mean input)")
    ax.set_xlabel("dropout rate p")
    ax.set_ylabel("train / inference variance at the BN")
    ax.set_title("variance shift (Li et al. 2019)")
    ax.legend()
    _common.save(fig, path)


def add_arguments(p):
    p.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5, 0.7])
    p.add_argument("--n", type=int, default=8192, help="samples")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)


def main(argv=None):
    return _common.cli(__import__(__name__, fromlist=["x"]), "variance-shift", argv)
