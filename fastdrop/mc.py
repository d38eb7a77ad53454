"""MC dropout (Gal & Ghahramani, 2016): the predictive mean and variance of a network run
several times with dropout on, each pass with a fresh, reproducible mask."""
from __future__ import annotations

import contextlib
import inspect
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, Tuple, Union, overload

import numpy as np

from fastdrop import _validate as V
from fastdrop._generator import Generator, default_generator
from fastdrop.layers import mc_mode, use_generator

if TYPE_CHECKING:
    import numpy.typing as npt

    from fastdrop._typing import Seed

__all__ = ["mc_dropout"]


def _takes_rng(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    prm = sig.parameters.get("rng")
    return prm is not None and prm.kind in (prm.POSITIONAL_OR_KEYWORD, prm.KEYWORD_ONLY)


@contextlib.contextmanager
def _as_default(gen):
    """Run with the default generator in `gen`'s state; afterwards `gen` has advanced as the
    default did, and the default is back where it was."""
    d = default_generator()
    if gen is d:
        yield
        return
    saved = d.get_state()
    d.set_state(gen.get_state())
    try:
        yield
    finally:
        gen.set_state(d.get_state())
        d.set_state(saved)


@overload
def mc_dropout(fn: Callable[..., Any], x: Any, passes: int = ..., *,
               seed: Union[Seed, Generator, None] = ..., return_samples: Literal[False] = ...,
               ddof: int = ...) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
@overload
def mc_dropout(fn: Callable[..., Any], x: Any, passes: int = ..., *,
               seed: Union[Seed, Generator, None] = ..., return_samples: Literal[True],
               ddof: int = ...) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                                         npt.NDArray[Any]]: ...
@overload
def mc_dropout(fn: Callable[..., Any], x: Any, passes: int = ..., *,
               seed: Union[Seed, Generator, None] = ..., return_samples: bool,
               ddof: int = ...) -> Union[
                   Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
                   Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[Any]]]: ...


def mc_dropout(fn: Callable[..., Any], x: Any, passes: int = 30, *,
               seed: Union[Seed, Generator, None] = None, return_samples: bool = False,
               ddof: int = 0) -> Union[
                   Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
                   Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[Any]]]:
    """Predictive mean and variance of ``fn(x)`` over ``passes`` stochastic forward passes.

    Parameters
    ----------
    fn : callable
        The forward function: a fastdrop layer or :class:`fastdrop.layers.Sequential` (its
        dropout layers drop even after ``eval()``: the whole call runs in
        :func:`fastdrop.layers.mc_mode`), or any function that calls :func:`fastdrop.dropout`.
        If ``fn`` has an ``rng`` parameter it is called as ``fn(x, rng=gen)``; otherwise
        ``gen`` is installed as the default generator for the duration of the call.
    x : array_like or any
        Passed to ``fn`` unchanged.
    passes : int
        Number of passes ``T`` (at least 1).
    seed : int or fastdrop.Generator, optional
        The masks of all passes come from ``Generator(seed)`` (or this Generator, which
        advances), so the result is a pure function of ``seed``: every fastdrop layer the
        call runs draws from it, including layers built with their own ``rng=``, and the
        same call twice gives the same result. ``None``: every layer draws from its own
        ``rng`` or, without one, from the default generator as it stands (reproducible after
        :func:`fastdrop.manual_seed`).
    return_samples : bool
        Also return the ``(T, *output.shape)`` stack of outputs (in the output's dtype).
    ddof : int
        The variance divides the sum of squared deviations by ``T - ddof`` (0: the
        population variance of the T outputs).

    Returns
    -------
    mean, var : ndarray of float64
        Elementwise over the passes, accumulated in float64 in one streaming pass (Welford's
        algorithm); memory is a few output-sized buffers, never ``T`` outputs unless
        ``return_samples`` is true.
    samples : ndarray, optional
        With ``return_samples=True``.

    Notes
    -----
    With ``seed`` given, the layers' own generators are left untouched by the call. A
    function that passes its own ``rng=`` or ``seed=`` to :func:`fastdrop.dropout` keeps
    them: ``seed`` reaches only layers, calls that use the default generator, and ``fn``'s
    ``rng`` parameter. Installing the generator as the default is process-wide: do not call
    fastdrop from other threads that rely on the default generator during the call.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable; got {type(fn).__name__}")
    passes = V.integer(passes, "passes", 1, 1 << 62)
    ddof = V.integer(ddof, "ddof", 0, 1 << 62)
    if ddof >= passes:
        raise ValueError(f"ddof must be smaller than passes; got ddof={ddof}, passes={passes}")
    return_samples = V.boolean(return_samples, "return_samples")
    if seed is None:
        gen = default_generator()
    elif isinstance(seed, Generator):
        gen = seed
    else:
        gen = Generator(V.seed(seed))
    takes_rng = _takes_rng(fn)

    mean: Any = None  # the running buffers, made at the first pass
    m2: Any = None
    d1: Any = None
    d2: Any = None
    samples: Any = None
    layer_source = contextlib.nullcontext() if seed is None else use_generator(gen)
    with mc_mode(), layer_source, (contextlib.nullcontext() if takes_rng else _as_default(gen)):
        for k in range(1, passes + 1):
            y = np.asarray(fn(x, rng=gen) if takes_rng else fn(x))
            if y.dtype.kind not in "biuf":
                raise TypeError(f"fn returned an array of dtype {y.dtype}; expected real numbers")
            if mean is None:
                mean = np.zeros(y.shape, np.float64)
                m2 = np.zeros(y.shape, np.float64)
                d1 = np.empty(y.shape, np.float64)
                d2 = np.empty(y.shape, np.float64)
                if return_samples:
                    samples = np.empty((passes,) + y.shape, y.dtype)
            elif y.shape != mean.shape:
                raise ValueError(
                    f"fn returned shape {y.shape} on pass {k}; the first pass gave {mean.shape}"
                )
            if samples is not None:
                samples[k - 1] = y
            # Welford: mean_k = mean_{k-1} + (y - mean_{k-1}) / k;
            #          M2_k = M2_{k-1} + (y - mean_{k-1}) * (y - mean_k)
            np.subtract(y, mean, out=d1)
            np.divide(d1, k, out=d2)
            mean += d2
            np.subtract(y, mean, out=d2)
            d1 *= d2
            m2 += d1
    var = np.divide(m2, passes - ddof, out=m2)
    if return_samples:
        return mean, var, samples
    return mean, var
