"""Gaussian dropout (Srivastava et al. 2014; Keras ``GaussianDropout``): multiplicative noise
``N(1, p / (1 - p))`` from the contract's float32 normals on their own Philox stream
(STREAM_GAUSSIAN, drawn in csrc/gaussian.c), regenerated from (seed, offset) in the backward.
Results are bitwise equal to :mod:`fastdrop.reference` (fastdrop/reference/_gaussian.py).
"""
from __future__ import annotations

from fastdrop import _formulas as F
from fastdrop import _plumbing as P
from fastdrop import _validate as V

__all__ = ["gaussian_dropout", "gaussian_dropout_backward"]


def gaussian_dropout(x, p=0.5, *, seed=None, offset=0, rng=None, training=True, out=None,
                     window=None):
    """Multiplicative Gaussian noise (Srivastava et al. 2014; Keras ``GaussianDropout``):
    ``y = x * m``, ``m ~ N(1, p / (1 - p))`` per element, so ``E[y] = x`` and
    ``Var[y] = p/(1-p) * x**2``.

    The normals come from Philox words on stream 2 by a documented float32 Box-Muller
    transform (docs/contract.md, :func:`fastdrop.reference.standard_normals`; within 1e-6 of
    the exact transform of the same words), so the noise is bitwise reproducible and
    regenerable: :func:`gaussian_dropout_backward` with the same ``seed`` and ``offset``
    (reserve them with ``Generator.draw(x.size)`` when using a generator). ``p`` in [0, 1);
    ``p = 0`` and inference return ``x``. ``window=(global_shape, origin)``: ``x`` is the block
    at ``origin`` of a larger array (see :func:`fastdrop.dropout`; needs an explicit ``seed``):
    each element's normal is that of its global index (drawn so in the kernel), so the result
    is the whole array's result sliced to the block.
    """
    x = V.float_array(x)
    p = V.probability_below_one(p)
    training = V.boolean(training, "training")
    out = V.out_array(out, x)
    n = x.size
    win = V.forward_window(window, x.shape, seed, offset, rng, training)
    seed, offset = P.source(seed, offset, rng, n, training)
    y = P.output(x, out)
    if not training or p == 0.0:
        return P.identity(x, y)
    P.noise(x, y, F.gaussian_sigma(p), seed, offset, win=win)
    return y


def gaussian_dropout_backward(grad, p, *, seed=None, offset=0, out=None, window=None):
    """Gradient of :func:`gaussian_dropout`: ``grad * m`` with the forward's noise ``m``
    regenerated from its ``seed`` and ``offset`` (nothing stored); ``window`` as in the
    forward."""
    grad = V.float_array(grad, "grad")
    p = V.probability_below_one(p)
    out = V.out_array(out, grad)
    n = grad.size
    if seed is None:
        raise ValueError("gaussian_dropout_backward needs the forward's seed and offset "
                         "(seed=, offset=) to regenerate its noise")
    seed, offset = V.seed(seed), V.offset(offset, n)
    win = None if window is None else V.window(window, grad.shape, offset)
    y = P.output(grad, out)
    if p == 0.0:
        return P.identity(grad, y)
    P.noise(grad, y, F.gaussian_sigma(p), seed, offset, win=win)
    return y
