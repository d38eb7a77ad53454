"""Dropout layers for NumPy training code, in the style of ``torch.nn``.

Every layer has ``forward(x)`` (also ``layer(x)``), ``backward(grad)``, ``train()`` /
``eval()`` and a drop probability ``p`` that may follow a schedule. A layer keeps only what
its backward needs: the packed mask (1 bit per element, or a few bytes for the structured
variants) or, built with ``store_mask=False``, nothing but the ``(seed, offset)`` of its draw,
and the backward regenerates the mask from it (:func:`fastdrop.dropout_backward`).

Seeds come from a :class:`fastdrop.Generator` passed as ``rng=`` or, without it, from the
default generator (:func:`fastdrop.manual_seed`). One shared generator can drive every layer
of a model: each training forward draws a fresh, non-overlapping block of the Philox
sequence, so a whole run is reproducible from one seed, and bitwise equal to calling the
functional kernels with the same generator.

>>> import numpy as np, fastdrop as fd
>>> from fastdrop.layers import Dropout
>>> layer = Dropout(0.5, rng=fd.Generator(0))
>>> y = layer(np.ones((2, 4), np.float32))           # training: kept values are 2.0
>>> g = layer.backward(np.ones((2, 4), np.float32))  # the same mask, the same scale
>>> layer.eval()(np.ones(3))                          # inference: the identity
array([1., 1., 1.])

Layers: :class:`Dropout`, :class:`SpatialDropout`, :class:`DropPath`, :class:`DropBlock`,
:class:`AlphaDropout`, :class:`FeatureAlphaDropout`, :class:`GaussianDropout`,
:class:`DropConnect` (a dense layer with a dropped weight mask), and :class:`Sequential`
to chain anything with ``forward`` / ``backward``. The structured layers run the kernels of
``fastdrop._broadcast`` (spatial dropout, drop path), ``fastdrop._dropblock``, ``fastdrop._alpha``
and ``fastdrop._gaussian``.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
from typing import (
    TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Literal, Optional, Sequence, Tuple, Union,
)

import numpy as np
import numpy.typing as npt

from fastdrop import _alpha, _broadcast, _dropblock, _gaussian
from fastdrop import _validate as V
from fastdrop._dropout import dropout, dropout_backward
from fastdrop._generator import Generator, default_generator

if TYPE_CHECKING:
    from typing_extensions import Self

    from fastdrop._typing import ArrayLike, FloatArray, Probability, PSchedule, Seed

__all__ = [
    "Module", "Sequential", "Dropout", "SpatialDropout", "DropPath", "DropBlock",
    "AlphaDropout", "FeatureAlphaDropout", "GaussianDropout", "DropConnect", "mc_mode",
    "use_generator",
]

# ---------------------------------------------------------------------------------------------
# MC mode: dropout stays on in eval() (used by fastdrop.mc_dropout)

_MC = contextvars.ContextVar("fastdrop_mc_mode", default=False)
# A Generator that every layer draws from instead of its own ``rng`` (set by mc_dropout(seed=))
_RNG_OVERRIDE: contextvars.ContextVar[Optional[Generator]] = contextvars.ContextVar(
    "fastdrop_rng_override", default=None)


@contextlib.contextmanager
def mc_mode(enabled: bool = True) -> Iterator[None]:
    """Within this context every fastdrop layer drops as in training, even after ``eval()``.

    That is MC dropout (Gal & Ghahramani, 2016): the rest of a model keeps its inference
    behaviour (your own batch-norm layers, for instance, read ``training``), only the
    stochastic layers stay on. :func:`fastdrop.mc_dropout` enters it for you. The setting is
    per thread (a :mod:`contextvars` variable).
    """
    token = _MC.set(bool(enabled))
    try:
        yield
    finally:
        _MC.reset(token)


@contextlib.contextmanager
def use_generator(gen: Generator) -> Iterator[None]:
    """Within this context every fastdrop layer draws its masks from ``gen``, whatever
    generator it was built with (per thread, like :func:`mc_mode`).

    :func:`fastdrop.mc_dropout` enters it when given a ``seed``, so that the seed decides the
    masks of every layer of the model. The layers' own generators do not advance meanwhile.
    """
    token = _RNG_OVERRIDE.set(gen)
    try:
        yield
    finally:
        _RNG_OVERRIDE.reset(token)


def _layer_source(rng: Optional[Generator]) -> Generator:
    """The Generator a layer built with ``rng`` draws from now."""
    forced = _RNG_OVERRIDE.get()
    if forced is not None:
        return forced
    return rng if rng is not None else default_generator()


_FAMILIES = (_broadcast, _dropblock, _alpha, _gaussian)  # the structured-dropout modules


def _kernel(name):
    """A structured-dropout function by name, looked up in its module at call time."""
    for module in _FAMILIES:
        fn = getattr(module, name, None)
        if fn is not None:
            return fn
    raise NotImplementedError(
        f"this layer needs fastdrop.{name} (structured dropout), which this build of "
        "fastdrop does not provide"
    )


class _Recorder(Generator):
    """Passes draws through to a Generator and remembers the (seed, offset) each returned.

    It lets a layer hand ``rng=`` to a kernel (which decides how many elements to draw) and
    still know the kernel's (seed, offset), for a backward that regenerates the mask.
    """

    def __init__(self, gen):  # no Generator.__init__: all state lives in `gen`
        self._gen = gen
        self.draws = []

    def draw(self, n):
        s, off = self._gen.draw(n)
        self.draws.append((s, off))
        return s, off

    @property
    def seed(self):
        return self._gen.seed

    @property
    def offset(self):
        return self._gen.offset

    def get_state(self):
        return self._gen.get_state()

    def set_state(self, state):
        self._gen.set_state(state)

    def __repr__(self):
        return f"_Recorder({self._gen!r})"


def _check_rng(rng):
    if rng is not None and not isinstance(rng, Generator):
        raise TypeError(f"rng must be a fastdrop.Generator or None; got {type(rng).__name__}")
    return rng


# ---------------------------------------------------------------------------------------------
# Containers


class Module:
    """Base of every layer: ``training`` flag, ``train()`` / ``eval()``, ``layer(x)``.

    Subclasses define ``forward(x)`` and ``backward(grad)``; trainable ones expose their arrays
    in ``params`` and the gradients of the last backward in ``grads`` (dicts with the same keys),
    which is what the optimisers of ``fastdrop.demo`` read.
    """

    training: bool = True

    def train(self, mode: bool = True) -> Self:
        """Training mode (``mode=True``) or inference (``mode=False``); returns ``self``."""
        self.training = V.boolean(mode, "mode")
        for child in self.children():
            if hasattr(child, "train"):
                child.train(mode)
        return self

    def eval(self) -> Self:
        """Inference mode: dropout layers become the identity (inverted mode)."""
        return self.train(False)

    def children(self) -> Tuple[Any, ...]:
        """The layers this one contains (none)."""
        return ()

    @property
    def params(self) -> Dict[str, FloatArray]:
        """The trainable arrays by name (none)."""
        return {}

    @property
    def grads(self) -> Dict[str, FloatArray]:
        """The gradients of the last backward, keyed as ``params`` (none)."""
        return {}

    def set_step(self, step: int) -> Self:
        """Set the training step that scheduled drop probabilities follow (recursively)."""
        for child in self.children():
            if hasattr(child, "set_step"):
                child.set_step(step)
        return self

    def forward(self, x: ArrayLike) -> FloatArray:
        """The layer's output for ``x``."""
        raise NotImplementedError

    def backward(self, grad: ArrayLike) -> FloatArray:
        """The gradient with respect to the last forward's input."""
        raise NotImplementedError

    def __call__(self, x: ArrayLike) -> FloatArray:
        return self.forward(x)


class Sequential(Module):
    """Chain layers: ``forward`` runs them in order, ``backward`` in reverse.

    Any object with ``forward`` and ``backward`` fits (``train``, ``params``, ``grads`` and
    ``set_step`` are used when present). ``params`` / ``grads`` are the children's, keyed
    ``"<index>.<name>"``.
    """

    def __init__(self, *layers: Any) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not (hasattr(layer, "forward") and hasattr(layer, "backward")):
                raise TypeError(
                    f"layer {i} ({type(layer).__name__}) has no forward/backward methods"
                )
        self.layers = list(layers)

    def children(self) -> Tuple[Any, ...]:
        """The chained layers, in order."""
        return tuple(self.layers)

    def forward(self, x: ArrayLike) -> FloatArray:
        """Run the layers in order."""
        y: Any = x
        for layer in self.layers:
            y = layer.forward(y)
        return y

    def backward(self, grad: ArrayLike) -> FloatArray:
        """Run the layers' backwards in reverse order."""
        g: Any = grad
        for layer in reversed(self.layers):
            g = layer.backward(g)
        return g

    def _collect(self, attr: str) -> Dict[str, FloatArray]:
        out = {}
        for i, layer in enumerate(self.layers):
            for k, v in (getattr(layer, attr, None) or {}).items():
                out[f"{i}.{k}"] = v
        return out

    @property
    def params(self) -> Dict[str, FloatArray]:
        """The children's ``params``, keyed ``"<index>.<name>"``."""
        return self._collect("params")

    @property
    def grads(self) -> Dict[str, FloatArray]:
        """The children's ``grads``, keyed ``"<index>.<name>"``."""
        return self._collect("grads")

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.layers)

    def __getitem__(self, i: int) -> Any:
        return self.layers[i]

    def __repr__(self):
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"


# ---------------------------------------------------------------------------------------------
# Stochastic layers


class _Stochastic(Module):
    """Shared machinery: p (or a schedule of it), rng, saved state for one backward."""

    _p_below_one: bool = False  # GaussianDropout: p must be < 1

    def __init__(self, p: PSchedule = 0.5, *, rng: Optional[Generator] = None,
                 store_mask: bool = True) -> None:
        self.step = 0
        self.set_p(p)
        self.rng = _check_rng(rng)
        self.store_mask = V.boolean(store_mask, "store_mask")
        self._saved: Optional[Tuple[Any, ...]] = None  # what backward needs, or None
        self._consumed = False    # backward already ran on the last forward
        self._failed = False      # the last forward raised

    # -- p and its schedule ----------------------------------------------------------------

    def _check_p(self, p, name="p"):
        p = V.probability(p, name)
        if self._p_below_one and p >= 1.0:
            raise ValueError(f"{name} must be in [0, 1) for {type(self).__name__}; got {p!r}")
        return p

    def set_p(self, p: PSchedule) -> Self:
        """Set the drop probability: a number in [0, 1] or a schedule ``p(step) -> float``."""
        if callable(p):
            self._schedule: Optional[Callable[[int], float]] = p
            self._p: Optional[float] = None
            self._eval_schedule()  # fail now, not in the middle of training
        else:
            self._schedule = None
            self._p = self._check_p(p)
        return self

    def _eval_schedule(self):
        v = self._schedule(self.step)
        try:
            return self._check_p(v)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"the p schedule gave {v!r} at step {self.step}: {exc}") from None

    @property
    def p(self) -> float:
        """The drop probability now (the schedule's value at ``step`` if there is one)."""
        if self._schedule is None:
            assert self._p is not None
            return self._p
        return self._eval_schedule()

    @p.setter
    def p(self, value: PSchedule) -> None:
        self.set_p(value)

    def set_step(self, step: int) -> Self:
        """The training step the p schedule follows (a no-op for a fixed p)."""
        self.step = V.integer(step, "step", 0)
        return self

    @property
    def active(self) -> bool:
        """True when the layer drops: in training mode, or inside :func:`mc_mode`."""
        return self.training or _MC.get()

    # -- forward / backward ----------------------------------------------------------------

    def _begin_forward(self):
        """Forget the previous forward: a forward that raises leaves nothing to backward."""
        self._saved = None
        self._consumed = False
        self._failed = True

    def forward(self, x: ArrayLike) -> FloatArray:
        """The layer's output: dropped in training (or in :func:`mc_mode`), else inference."""
        self._begin_forward()
        p = self.p
        if not self.active:
            x = V.float_array(x)
            y = self._forward_eval(x, p)
            self._saved = ("eval", p, y.shape)
        else:
            rec = _Recorder(_layer_source(self.rng))
            if self.store_mask:
                y, mask = self._forward_train(x, p, rec, True)
                self._saved = ("mask", p, y.shape, mask)
            else:
                y = self._forward_train(x, p, rec, False)
                if len(rec.draws) != 1:  # cannot be regenerated from one (seed, offset)
                    raise RuntimeError(
                        f"{type(self).__name__}: the kernel drew {len(rec.draws)} times; "
                        "use store_mask=True"
                    )
                seed, offset = rec.draws[0]
                self._saved = ("seed", p, y.shape, (seed, offset))
        self._failed = False
        return y

    def backward(self, grad: ArrayLike, *, retain: bool = False) -> FloatArray:
        """Gradient with respect to the last forward's input.

        The saved mask (or seed) is released afterwards, so a second backward on the same
        forward raises ``RuntimeError``; pass ``retain=True`` to keep it.
        """
        if self._saved is None:
            raise self._no_forward_error(type(self).__name__)
        kind, p, shape, state = (self._saved + (None,))[:4]
        ga = V.float_array(grad, "grad")
        if ga.shape != tuple(shape):
            raise ValueError(
                f"grad has shape {ga.shape}; expected {tuple(shape)} (the last forward's output)"
            )
        if kind == "eval":
            g = self._backward_eval(ga, p)
        elif kind == "mask":
            g = self._backward_mask(ga, p, state)
        else:
            g = self._backward_seed(ga, p, *state)
        if not retain:
            self._saved = None
            self._consumed = True
        return g

    def _no_forward_error(self, name):
        if self._failed:
            return RuntimeError(
                f"{name}.backward(): the last forward() raised an error, so there is no mask "
                "to propagate through (run forward again)"
            )
        if self._consumed:
            return RuntimeError(
                f"{name}.backward() was already called for the last forward(); its mask has "
                "been released (run forward again, or pass retain=True to the first backward)"
            )
        return RuntimeError(
            f"{name}.backward() called before forward(): there is no mask to propagate through"
        )

    @property
    def saved_nbytes(self) -> int:
        """Bytes the layer holds for its backward (the packed mask; 0 with store_mask=False)."""
        if self._saved is None or self._saved[0] != "mask":
            return 0
        m = self._saved[3]
        return int(sum(a.nbytes for a in m)) if isinstance(m, tuple) else int(m.nbytes)

    # hooks: inference is the identity by default
    def _forward_eval(self, x, p):
        return x

    def _backward_eval(self, grad, p):
        return grad

    def _forward_train(self, x, p, rng, return_mask):
        raise NotImplementedError

    def _backward_mask(self, grad, p, mask):
        raise NotImplementedError

    def _backward_seed(self, grad, p, seed, offset):
        raise NotImplementedError

    def _extra_repr(self):
        return ""

    def __repr__(self):
        p = f"p=<schedule at step {self.step}: {self.p:g}>" if self._schedule else f"p={self._p:g}"
        extra = self._extra_repr()
        return f"{type(self).__name__}({p}{', ' + extra if extra else ''})"


class Dropout(_Stochastic):
    """Element-wise dropout (``torch.nn.Dropout``) over :func:`fastdrop.dropout`.

    Parameters
    ----------
    p : float or callable
        Drop probability in [0, 1], or a schedule ``p(step)`` (see :meth:`set_step`).
    mode : {"inverted", "naive"}
        Inverted (default) scales kept values by ``1/(1-p)`` in training and is the identity in
        ``eval()`` (it returns ``x`` itself, no copy, as PyTorch does); naive (2014) keeps them
        as they are and multiplies by ``1-p`` in ``eval()``.
    rng : fastdrop.Generator, optional
        Source of masks (default: the module-level generator). Within
        :func:`fastdrop.mc_dropout` with a ``seed``, or :func:`use_generator`, the layer draws
        from that call's generator instead.
    store_mask : bool
        Keep the packed mask for the backward (``ceil(n/8)`` bytes) or, if False, only the
        ``(seed, offset)`` of the draw (the backward regenerates the mask).
    """

    def __init__(self, p: PSchedule = 0.5, *, mode: Literal["inverted", "naive"] = "inverted",
                 rng: Optional[Generator] = None, store_mask: bool = True) -> None:
        self.mode = V.mode(mode)
        super().__init__(p, rng=rng, store_mask=store_mask)

    def _forward_eval(self, x, p):
        if self.mode == "inverted":
            return x
        return dropout(x, p, training=False, mode="naive")

    def _backward_eval(self, grad, p):
        if self.mode == "inverted":
            return grad
        return dropout(grad, p, training=False, mode="naive")

    def _forward_train(self, x, p, rng, return_mask):
        return dropout(x, p, rng=rng, mode=self.mode, return_mask=return_mask)

    def _backward_mask(self, grad, p, mask):
        return dropout_backward(grad, p, mask=mask, mode=self.mode)

    def _backward_seed(self, grad, p, seed, offset):
        return dropout_backward(grad, p, seed=seed, offset=offset, mode=self.mode)

    def _extra_repr(self):
        return "" if self.mode == "inverted" else f"mode={self.mode!r}"


class _Structured(_Stochastic):
    """A layer over a structured kernel ``fn(x, p, *args, **kw)`` and ``fn_backward``."""

    _fn: str = ""                  # kernel name in one of _FAMILIES
    _fn_args: Tuple[str, ...] = ()  # positional args after p (e.g. block_size)

    def _kw(self):
        return {}

    def _bkw(self):
        return self._kw()

    def _args(self):
        return tuple(getattr(self, a) for a in self._fn_args)

    def _forward_train(self, x, p, rng, return_mask):
        fn = _kernel(self._fn)
        return fn(x, p, *self._args(), rng=rng, return_mask=return_mask, **self._kw())

    def _backward_mask(self, grad, p, mask):
        fn = _kernel(self._fn + "_backward")
        return fn(grad, p, *self._args(), mask=mask, **self._bkw())

    def _backward_seed(self, grad, p, seed, offset):
        fn = _kernel(self._fn + "_backward")
        return fn(grad, p, *self._args(), seed=seed, offset=offset, **self._bkw())


def _data_format(v):
    if v not in ("channels_first", "channels_last"):
        raise ValueError(f"data_format must be 'channels_first' or 'channels_last'; got {v!r}")
    return v


class SpatialDropout(_Structured):
    """Channel dropout for 1-D, 2-D and 3-D feature maps (``torch.nn.Dropout1d/2d/3d``,
    Keras ``SpatialDropout*D``) over :func:`fastdrop.spatial_dropout`.

    ``data_format="channels_first"`` (N, C, ...) or ``"channels_last"`` (N, ..., C); a whole
    channel of one sample is kept (scaled by ``1/(1-p)``) or zeroed. The stored mask has one
    bit per (sample, channel).
    """

    _fn = "spatial_dropout"

    def __init__(self, p: PSchedule = 0.5, *,
                 data_format: Literal["channels_first", "channels_last"] = "channels_first",
                 rng: Optional[Generator] = None, store_mask: bool = True) -> None:
        self.data_format = _data_format(data_format)
        super().__init__(p, rng=rng, store_mask=store_mask)

    def _kw(self):
        return {"data_format": self.data_format}

    def _extra_repr(self):
        return f"data_format={self.data_format!r}"


class DropPath(_Structured):
    """Stochastic depth (timm ``DropPath``, torchvision ``StochasticDepth``) over
    :func:`fastdrop.drop_path`: put it on a residual branch, ``x + drop_path(branch(x))``.

    ``mode="row"`` drops the branch per sample, ``"batch"`` for the whole batch;
    ``scale_by_keep`` divides kept rows by ``1-p``. :meth:`by_depth` builds the usual linear
    rates for a stack of blocks.
    """

    _fn = "drop_path"

    def __init__(self, p: PSchedule = 0.1, *, mode: Literal["row", "batch"] = "row",
                 scale_by_keep: bool = True, rng: Optional[Generator] = None,
                 store_mask: bool = True) -> None:
        if mode not in ("row", "batch"):
            raise ValueError(f"mode must be 'row' or 'batch'; got {mode!r}")
        self.mode = mode
        self.scale_by_keep = V.boolean(scale_by_keep, "scale_by_keep")
        super().__init__(p, rng=rng, store_mask=store_mask)

    def _kw(self):
        return {"mode": self.mode, "scale_by_keep": self.scale_by_keep}

    @classmethod
    def by_depth(cls, depth: int, p_max: Probability, **kwargs: Any) -> List[DropPath]:
        """One layer per block with the stochastic-depth rule p_l = l/L * p_max, l = 1..L
        (:func:`fastdrop.drop_path_rates`); ``kwargs`` (e.g. a shared ``rng``) go to each."""
        return [cls(float(p), **kwargs) for p in _kernel("drop_path_rates")(depth, p_max)]

    def _extra_repr(self):
        return f"mode={self.mode!r}, scale_by_keep={self.scale_by_keep}"


def _block_size(bs):
    """DropBlock's block size: an int >= 1, or 2 or 3 of them (the input's spatial rank is
    checked at forward)."""
    if isinstance(bs, (str, bytes)) or not hasattr(bs, "__iter__"):
        if isinstance(bs, (bool, np.bool_)) or not isinstance(bs, (numbers.Integral, np.integer)):
            raise TypeError(
                f"block_size must be an int or a tuple of 2 or 3 ints; got {type(bs).__name__}"
            )
        if bs < 1:
            raise ValueError(f"block_size must be positive (a block of at least 1); got {bs}")
        return int(bs)
    bs = tuple(bs)
    if len(bs) not in (2, 3):
        raise ValueError(f"block_size has {len(bs)} entries; DropBlock takes an int or a tuple "
                         "of 2 (2-D maps) or 3 (3-D maps) ints")
    return V.block_size(bs, len(bs))


class DropBlock(_Structured):
    """DropBlock (Ghiasi et al. 2018) for 2-D and 3-D maps over :func:`fastdrop.dropblock`.

    Parameters
    ----------
    p : float or callable
        Fraction of units to drop (the final one when ``ramp_steps`` is given).
    block_size : int or tuple
        Block edge(s); clipped to the map.
    ramp_steps : int, optional
        Ramp the drop probability linearly from ``ramp_start_p`` (default 0) at step 0 to
        ``p`` at step ``ramp_steps``, constant after, as the paper recommends
        (:func:`fastdrop.dropblock_schedule`); advance it with :meth:`set_step`.
    data_format, valid_only, share_channels, scale
        As in :func:`fastdrop.dropblock`.
    """

    _fn = "dropblock"
    _fn_args = ("block_size",)

    def __init__(self, p: PSchedule = 0.1, block_size: Union[int, Sequence[int]] = 7, *,
                 data_format: Literal["channels_first", "channels_last"] = "channels_first",
                 valid_only: bool = False, share_channels: bool = False,
                 scale: Literal["count", "expected"] = "count", ramp_steps: Optional[int] = None,
                 ramp_start_p: Probability = 0.0, rng: Optional[Generator] = None,
                 store_mask: bool = True) -> None:
        self.block_size = _block_size(block_size)
        self.data_format = _data_format(data_format)
        self.valid_only = V.boolean(valid_only, "valid_only")
        self.share_channels = V.boolean(share_channels, "share_channels")
        if scale not in ("count", "expected"):
            raise ValueError(f"scale must be 'count' or 'expected'; got {scale!r}")
        self.scale = scale
        if ramp_steps is not None:
            if callable(p):
                raise ValueError("pass either a p schedule or ramp_steps, not both")
            p_final = V.probability(p)
            ramp_steps = V.integer(ramp_steps, "ramp_steps", 1)
            ramp_start_p = V.probability(ramp_start_p, "ramp_start_p")
            sched = _kernel("dropblock_schedule")

            def p(step, _s=sched, _n=ramp_steps, _p=p_final, _a=ramp_start_p):
                return _s(step, _n, _p, start=_a)

        self.ramp_steps, self.ramp_start_p = ramp_steps, ramp_start_p
        super().__init__(p, rng=rng, store_mask=store_mask)

    def _kw(self):
        return {"data_format": self.data_format, "valid_only": self.valid_only,
                "share_channels": self.share_channels, "scale": self.scale}

    def _extra_repr(self):
        ramp = f", ramp_steps={self.ramp_steps}" if self.ramp_steps else ""
        return f"block_size={self.block_size!r}, data_format={self.data_format!r}{ramp}"


class AlphaDropout(_Structured):
    """Alpha dropout for SELU networks (``torch.nn.AlphaDropout``) over
    :func:`fastdrop.alpha_dropout`: keeps mean 0 and variance 1; the identity in ``eval()``."""

    _fn = "alpha_dropout"


class FeatureAlphaDropout(_Structured):
    """Channel-wise alpha dropout (``torch.nn.FeatureAlphaDropout``) over
    :func:`fastdrop.feature_alpha_dropout`."""

    _fn = "feature_alpha_dropout"

    def __init__(self, p: PSchedule = 0.5, *,
                 data_format: Literal["channels_first", "channels_last"] = "channels_first",
                 rng: Optional[Generator] = None, store_mask: bool = True) -> None:
        self.data_format = _data_format(data_format)
        super().__init__(p, rng=rng, store_mask=store_mask)

    def _kw(self):
        return {"data_format": self.data_format}


class GaussianDropout(_Structured):
    """Multiplicative Gaussian noise N(1, p/(1-p)) (Keras ``GaussianDropout``) over
    :func:`fastdrop.gaussian_dropout`; the identity in ``eval()``. ``p`` must be below 1.

    The noise is not a bit mask: the backward regenerates it from the forward's
    ``(seed, offset)``, so the layer keeps nothing but two integers (``store_mask=True`` is
    refused rather than storing a full-size float array).
    """

    _fn = "gaussian_dropout"
    _p_below_one = True

    def __init__(self, p: PSchedule = 0.5, *, rng: Optional[Generator] = None,
                 store_mask: Literal[False] = False) -> None:
        if store_mask is not False:
            raise ValueError(
                "GaussianDropout has no packed mask to store: its noise is regenerated from "
                "(seed, offset) in the backward; leave store_mask=False"
            )
        super().__init__(p, rng=rng, store_mask=False)

    def _forward_train(self, x, p, rng, return_mask):
        return _kernel("gaussian_dropout")(x, p, rng=rng)

    def _backward_seed(self, grad, p, seed, offset):
        return _kernel("gaussian_dropout_backward")(grad, p, seed=seed, offset=offset)


# ---------------------------------------------------------------------------------------------
# DropConnect


class DropConnect(Module):
    """A dense layer with DropConnect (Wan et al. 2013): ``y = x @ (W * M / (1-p)) + b``.

    A fresh Bernoulli weight mask ``M`` (``W``'s shape, the core contract, drawn from ``rng``
    or the default generator) is used at every training forward; inference uses ``W``
    (inverted mode) or ``W * (1-p)`` (naive mode). ``backward(grad)`` returns the gradient
    for ``x`` and sets ``grad_W`` (masked and scaled like the forward) and ``grad_b``.

    Parameters
    ----------
    in_features, out_features : int
        ``W`` has shape ``(in_features, out_features)``; ``x`` is ``(..., in_features)``.
    p : float or callable
        Probability of dropping a weight, or a schedule ``p(step)``.
    bias : bool or array_like
        Add a bias (initialised like ``torch.nn.Linear``), none, or this bias vector.
    weight : array_like, optional
        The initial ``W``; by default ``U(-1/sqrt(in), 1/sqrt(in))`` as ``torch.nn.Linear``,
        from a NumPy generator seeded with ``init_seed``.
    mode, rng, store_mask
        As in :class:`Dropout`; the stored mask is ``ceil(W.size / 8)`` bytes, and the
        layer also keeps the forward's ``x`` (needed for ``grad_W``).
    """

    def __init__(self, in_features: int, out_features: int, p: PSchedule = 0.5, *,
                 bias: Union[bool, ArrayLike] = True, weight: Optional[ArrayLike] = None,
                 mode: Literal["inverted", "naive"] = "inverted", rng: Optional[Generator] = None,
                 store_mask: bool = True, dtype: npt.DTypeLike = np.float64,
                 init_seed: Optional[Seed] = None) -> None:
        self.in_features = V.integer(in_features, "in_features", 1)
        self.out_features = V.integer(out_features, "out_features", 1)
        self._drop = Dropout(p, mode=mode, rng=rng, store_mask=store_mask)
        dtype = np.dtype(dtype)
        init = np.random.default_rng(init_seed)
        bound = 1.0 / math.sqrt(self.in_features)
        if weight is None:
            weight = init.uniform(-bound, bound, (self.in_features, self.out_features))
        W = np.array(weight, dtype=dtype)
        if W.shape != (self.in_features, self.out_features):
            raise ValueError(
                f"weight has shape {W.shape}; expected {(self.in_features, self.out_features)}"
            )
        self.W = W
        if isinstance(bias, (bool, np.bool_)):
            self.b = init.uniform(-bound, bound, self.out_features).astype(dtype) if bias else None
        else:
            self.b = np.array(bias, dtype=dtype).reshape(self.out_features)
        self.grad_W: Optional[FloatArray] = None
        self.grad_b: Optional[FloatArray] = None
        self._x: Optional[FloatArray] = None

    # p, schedule, rng and mode live on the inner Dropout
    @property
    def p(self) -> float:
        """The drop probability of the weights now (see :meth:`Dropout.set_p`)."""
        return self._drop.p

    @p.setter
    def p(self, value: PSchedule) -> None:
        self._drop.set_p(value)

    @property
    def mode(self) -> str:
        """``"inverted"`` or ``"naive"``."""
        return self._drop.mode

    @property
    def rng(self) -> Optional[Generator]:
        """The generator the weight masks come from (None: the default generator)."""
        return self._drop.rng

    @property
    def store_mask(self) -> bool:
        """Whether the packed weight mask is kept for the backward."""
        return self._drop.store_mask

    def set_p(self, p: PSchedule) -> Self:
        """Set the drop probability of the weights, a number or a schedule ``p(step)``."""
        self._drop.set_p(p)
        return self

    def set_step(self, step: int) -> Self:
        """The training step the p schedule follows."""
        self._drop.set_step(step)
        return self

    def train(self, mode: bool = True) -> Self:
        """Training mode (``mode=True``) or inference (``mode=False``); returns ``self``."""
        super().train(mode)
        self._drop.train(mode)
        return self

    @property
    def params(self) -> Dict[str, FloatArray]:
        """``{"W": W, "b": b}`` (no ``"b"`` without a bias)."""
        return {"W": self.W} if self.b is None else {"W": self.W, "b": self.b}

    @property
    def grads(self) -> Dict[str, FloatArray]:
        """``{"W": grad_W, "b": grad_b}`` of the last backward."""
        g: Dict[str, FloatArray] = {} if self.grad_W is None else {"W": self.grad_W}
        if self.b is not None and self.grad_b is not None:
            g["b"] = self.grad_b
        return g

    def forward(self, x: ArrayLike) -> FloatArray:
        """``x @ (W * M / (1-p)) + b`` in training, ``x @ W + b`` in inference."""
        self._drop._begin_forward()
        self._x = None
        xa = V.float_array(x)
        if xa.ndim < 1 or xa.shape[-1] != self.in_features:
            raise ValueError(f"x has shape {xa.shape}; expected (..., {self.in_features})")
        W_eff = self._drop.forward(self.W)   # draws W.size mask bits (training) or not
        y = xa @ W_eff
        if self.b is not None:
            y = y + self.b
        self._x = xa
        return y

    def backward(self, grad: ArrayLike, *, retain: bool = False) -> FloatArray:
        """Return ``dL/dx``; set ``grad_W`` (``(x^T grad) * M / (1-p)``) and ``grad_b``."""
        d = self._drop
        if d._saved is None:
            raise d._no_forward_error(type(self).__name__)
        ga = V.float_array(grad, "grad")
        x = self._x
        assert x is not None  # set by every forward that left something to backward
        want = x.shape[:-1] + (self.out_features,)
        if ga.shape != want:
            raise ValueError(
                f"grad has shape {ga.shape}; expected {want} (the last forward's output)"
            )
        g2 = ga.reshape(-1, self.out_features)
        x2 = x.reshape(-1, self.in_features)
        # W_eff again from W and the stored mask (or seed): nothing W-sized was kept.
        W_eff = d.backward(self.W, retain=True)
        gW_eff = (x2.T @ g2).astype(self.W.dtype, copy=False)
        self.grad_W = d.backward(gW_eff, retain=retain)
        if self.b is not None:
            self.grad_b = g2.sum(axis=0).astype(self.b.dtype, copy=False)
        if not retain:
            self._x = None
        return (g2 @ W_eff.T).reshape(x.shape)

    @property
    def saved_nbytes(self) -> int:
        """Bytes kept for the backward (the packed weight mask; the forward's ``x`` aside)."""
        return self._drop.saved_nbytes

    def __repr__(self):
        return (f"DropConnect(in_features={self.in_features}, out_features={self.out_features}, "
                f"p={self.p:g}, bias={self.b is not None})")
