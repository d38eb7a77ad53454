"""The small NumPy network kit every demo shares: dense layers, activations, batch norm,
losses, SGD / Adam and a full-batch training loop. Manual backprop, float64 by default.

Layers follow ``fastdrop.layers.Module`` (``forward`` / ``backward`` / ``train`` / ``eval``,
``params`` and ``grads`` dicts), so they chain with fastdrop's dropout layers in a
:class:`fastdrop.layers.Sequential`.
"""
from __future__ import annotations

import numpy as np

from fastdrop.layers import Dropout, Module, Sequential


class Dense(Module):
    """``y = x @ W + b`` with He (ReLU) or Glorot (tanh) uniform initialisation."""

    def __init__(self, n_in, n_out, rng, init="he", dtype=np.float64):
        fan = 6.0 / n_in if init == "he" else 6.0 / (n_in + n_out)
        self.W = rng.uniform(-np.sqrt(fan), np.sqrt(fan), (n_in, n_out)).astype(dtype)
        self.b = np.zeros(n_out, dtype)
        self._x = None
        self.gW = self.gb = None

    @property
    def params(self):
        return {"W": self.W, "b": self.b}

    @property
    def grads(self):
        return {} if self.gW is None else {"W": self.gW, "b": self.gb}

    def forward(self, x):
        self._x = x
        return x @ self.W + self.b

    def backward(self, g):
        self.gW = self._x.T @ g
        self.gb = g.sum(axis=0)
        return g @ self.W.T


class ReLU(Module):
    def forward(self, x):
        self._on = x > 0
        return np.where(self._on, x, 0.0)

    def backward(self, g):
        return np.where(self._on, g, 0.0)


class Tanh(Module):
    def forward(self, x):
        self._y = np.tanh(x)
        return self._y

    def backward(self, g):
        return g * (1.0 - self._y ** 2)


class BatchNorm(Module):
    """Batch normalisation over axis 0 (``torch.nn.BatchNorm1d``): batch statistics in
    training (running averages updated with ``momentum``; ``None``: the cumulative average
    over all batches, as PyTorch), running statistics in eval."""

    def __init__(self, n, momentum=0.1, eps=1e-5):
        self.gamma, self.beta = np.ones(n), np.zeros(n)
        self.running_mean, self.running_var = np.zeros(n), np.ones(n)
        self.momentum, self.eps = momentum, eps
        self.batches = 0
        self.ggamma = self.gbeta = None

    @property
    def params(self):
        return {"gamma": self.gamma, "beta": self.beta}

    @property
    def grads(self):
        return {} if self.ggamma is None else {"gamma": self.ggamma, "beta": self.gbeta}

    def forward(self, x):
        if self.training:
            mu, var = x.mean(axis=0), x.var(axis=0)
            self.batches += 1
            m = 1.0 / self.batches if self.momentum is None else self.momentum
            n = x.shape[0]
            self.running_mean = (1 - m) * self.running_mean + m * mu
            self.running_var = (1 - m) * self.running_var + m * var * n / max(n - 1, 1)
        else:
            mu, var = self.running_mean, self.running_var
        self._inv = 1.0 / np.sqrt(var + self.eps)
        self._xh = (x - mu) * self._inv
        return self.gamma * self._xh + self.beta

    def backward(self, g):
        self.ggamma = (g * self._xh).sum(axis=0)
        self.gbeta = g.sum(axis=0)
        gx = g * self.gamma
        if not self.training:
            return gx * self._inv
        n = g.shape[0]
        return self._inv / n * (n * gx - gx.sum(axis=0) - self._xh * (gx * self._xh).sum(axis=0))


ACTIVATIONS = {"relu": (ReLU, "he"), "tanh": (Tanh, "glorot")}


def mlp(n_in, hidden, n_out, *, p=0.0, act="relu", seed=0, rng=None, dtype=np.float64):
    """``n_in -> hidden[0] -> ... -> n_out`` with ``act`` and, if ``p > 0``, a
    :class:`fastdrop.layers.Dropout` after every hidden activation (masks from ``rng``).
    Weights come from ``numpy.random.default_rng(seed)``: the same seed gives the same
    initial network with and without dropout."""
    Act, init = ACTIVATIONS[act]
    init_rng = np.random.default_rng(seed)
    layers, n = [], n_in
    for h in hidden:
        layers += [Dense(n, h, init_rng, init, dtype), Act()]
        if p > 0:
            layers.append(Dropout(p, rng=rng))
        n = h
    layers.append(Dense(n, n_out, init_rng, "glorot", dtype))
    return Sequential(layers)


# -- losses: (value, gradient with respect to the prediction) --------------------------------

def bce_with_logits(z, t):
    """Mean binary cross-entropy of logits ``z`` against 0/1 targets ``t``."""
    loss = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))
    return float(loss), (0.5 + 0.5 * np.tanh(0.5 * z) - t) / z.size  # sigmoid(z) - t, stably


def mse(y, t):
    d = y - t
    return float(np.mean(d * d)), 2.0 * d / d.size


LOSSES = {"bce": bce_with_logits, "mse": mse}


# -- optimisers ----------------------------------------------------------------------------

class SGD:
    def __init__(self, model, lr=0.1, momentum=0.0):
        self.model, self.lr, self.momentum, self.v = model, lr, momentum, {}

    def step(self):
        params = self.model.params
        for k, g in self.model.grads.items():
            if self.momentum:
                v = self.v[k] = self.momentum * self.v.get(k, 0.0) + g
                params[k] -= self.lr * v
            else:
                params[k] -= self.lr * g


class Adam:
    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.model, self.lr, self.betas, self.eps = model, lr, betas, eps
        self.m, self.v, self.t = {}, {}, 0

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        params = self.model.params
        for k, g in self.model.grads.items():
            m = self.m[k] = b1 * self.m.get(k, 0.0) + (1 - b1) * g
            v = self.v[k] = b2 * self.v.get(k, 0.0) + (1 - b2) * g * g
            mh, vh = m / (1 - b1 ** self.t), v / (1 - b2 ** self.t)
            params[k] -= self.lr * mh / (np.sqrt(vh) + self.eps)


OPTIMISERS = {"sgd": SGD, "momentum": lambda model, lr: SGD(model, lr, momentum=0.9), "adam": Adam}


def predict(model, X):
    """The model's output in eval mode (dropout off); the mode is restored afterwards."""
    was = model.training
    model.eval()
    try:
        return model.forward(X)
    finally:
        model.train(was)


def evaluate(model, loss, X, t):
    return loss(predict(model, X), t)[0]


def fit(model, X, t, Xv=None, tv=None, *, loss="bce", epochs=100, opt="adam", lr=1e-2,
        batch_size=None, seed=0, record_every=1):
    """Train ``model`` on ``(X, t)``; record train and validation loss (both measured in eval
    mode, dropout off) every ``record_every`` epochs. Returns ``{"epoch", "train", "val"}``."""
    loss_fn = LOSSES[loss]
    optimiser = OPTIMISERS[opt](model, lr=lr)
    order = np.random.default_rng(seed)
    n = X.shape[0]
    bs = n if batch_size is None else batch_size
    hist = {"epoch": [], "train": [], "val": []}
    model.train()
    for epoch in range(1, epochs + 1):
        idx = order.permutation(n) if bs < n else np.arange(n)
        for s in range(0, n, bs):
            b = idx[s:s + bs]
            _, g = loss_fn(model.forward(X[b]), t[b])
            model.backward(g)
            optimiser.step()
        if epoch % record_every == 0 or epoch == epochs:
            hist["epoch"].append(epoch)
            hist["train"].append(evaluate(model, loss_fn, X, t))
            hist["val"].append(evaluate(model, loss_fn, Xv, tv) if Xv is not None else np.nan)
    return hist


__all__ = ["Dense", "ReLU", "Tanh", "BatchNorm", "mlp", "bce_with_logits", "mse", "SGD", "Adam",
           "predict", "evaluate", "fit"]
