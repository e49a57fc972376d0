"""Weight initialisation with torch.nn.init's formulas (NumPy random numbers, so the draws
differ from torch's; the distributions are the same).

fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field
xavier_uniform:  U(-a, a),  a = gain * sqrt(6 / (fan_in + fan_out))
xavier_normal:   N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out))
kaiming_uniform: U(-a, a),  a = gain * sqrt(3 / fan)       (fan = fan_in or fan_out)
kaiming_normal:  N(0, s^2), s = gain / sqrt(fan)
"""
from __future__ import annotations

import math

import numpy as np

from . import validate

_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Reset the generator that modules use when they are not given one (like torch.manual_seed)."""
    global _rng
    _rng = np.random.default_rng(validate.positive_int(seed, "manual_seed", "seed", minimum=0))


def get_rng(rng: np.random.Generator | None = None, owner: str = "get_rng"
            ) -> np.random.Generator:
    """``rng`` itself, or the library's own generator (see ``manual_seed``) when it is None.
    ``owner``: the name an error message starts with (the function that was given ``rng``)."""
    validate.generator(rng, owner)
    return _rng if rng is None else rng


def _shape(shape: object, owner: str, arg: str = "shape", min_len: int = 0) -> tuple[int, ...]:
    """A weight's shape: a tuple of positive ints, at least ``min_len`` of them."""
    if not isinstance(shape, (tuple, list)) or len(shape) < min_len:
        least = f" of at least {min_len} sizes" if min_len else ""
        raise TypeError(f"{owner}: {arg} must be a tuple{least} of positive ints, got {shape!r}")
    for i, n in enumerate(shape):
        validate.positive_int(n, owner, f"{arg}[{i}]")
    return tuple(int(n) for n in shape)


def _float_dtype(dtype: object, owner: str) -> None:
    try:
        kind, shown = np.dtype(dtype).kind, np.dtype(dtype).name
    except TypeError:
        kind, shown = "?", repr(dtype)
    if kind != "f":
        raise TypeError(f"{owner}: dtype must be a floating-point type, got {shown}")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """torch.nn.init.calculate_gain."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid",
                        "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else validate.number(param, "calculate_gain", "param")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: nonlinearity must be one torch knows (linear, conv*, "
                     f"sigmoid, tanh, relu, leaky_relu, selu), got {nonlinearity!r}")


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of this shape, as torch computes them."""
    shape = _shape(shape, "fans", min_len=2)
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _check_draw(owner: str, shape: object, rng: object, dtype: object, arg: str = "shape",
                **numbers: object) -> tuple[int, ...]:
    """Check a drawing function's arguments at its door (``numbers``: gain, a, bound)."""
    shape = _shape(shape, owner, arg, min_len=0 if owner == "uniform" else 2)
    for arg, value in numbers.items():
        (validate.nonneg_float if arg == "bound" else validate.number)(value, owner, arg)
    validate.generator(rng, owner)
    _float_dtype(dtype, owner)
    return shape


def xavier_uniform(shape: tuple[int, ...], gain: float = 1.0,
                   rng: np.random.Generator | None = None, dtype: type = np.float64) -> np.ndarray:
    shape = _check_draw("xavier_uniform", shape, rng, dtype, gain=gain)
    fan_in, fan_out = fans(shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return get_rng(rng).uniform(-a, a, shape).astype(dtype)


def xavier_normal(shape: tuple[int, ...], gain: float = 1.0, rng: np.random.Generator | None = None,
                  dtype: type = np.float64) -> np.ndarray:
    shape = _check_draw("xavier_normal", shape, rng, dtype, gain=gain)
    fan_in, fan_out = fans(shape)
    return (gain * math.sqrt(2.0 / (fan_in + fan_out)) * get_rng(rng).standard_normal(shape)).astype(dtype)


def _fan(shape: tuple[int, ...], mode: str, owner: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{owner}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fans(shape)[0 if mode == "fan_in" else 1]


def kaiming_uniform(shape: tuple[int, ...], a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", rng: np.random.Generator | None = None,
                    dtype: type = np.float64) -> np.ndarray:
    shape = _check_draw("kaiming_uniform", shape, rng, dtype, a=a)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(shape, mode, "kaiming_uniform"))
    return get_rng(rng).uniform(-bound, bound, shape).astype(dtype)


def kaiming_normal(shape: tuple[int, ...], a: float = 0.0, mode: str = "fan_in",
                   nonlinearity: str = "leaky_relu", rng: np.random.Generator | None = None,
                   dtype: type = np.float64) -> np.ndarray:
    shape = _check_draw("kaiming_normal", shape, rng, dtype, a=a)
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode, "kaiming_normal"))
    return (std * get_rng(rng).standard_normal(shape)).astype(dtype)


def uniform(shape: tuple[int, ...], bound: float, rng: np.random.Generator | None = None,
            dtype: type = np.float64) -> np.ndarray:
    shape = _check_draw("uniform", shape, rng, dtype, bound=bound)
    return get_rng(rng).uniform(-bound, bound, shape).astype(dtype)


def torch_default(weight_shape: tuple[int, ...], rng: np.random.Generator | None = None,
                  dtype: type = np.float64, bias: bool = True) -> tuple[np.ndarray,
                  np.ndarray | None]:
    """torch's default for Linear and Conv: kaiming_uniform(a=sqrt(5)) for the weight, which
    is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias."""
    _check_draw("torch_default", weight_shape, rng, dtype, arg="weight_shape")
    w = kaiming_uniform(weight_shape, a=math.sqrt(5), rng=rng, dtype=dtype)
    fan_in = fans(weight_shape)[0]
    b = uniform((weight_shape[0],), 1 / math.sqrt(fan_in), rng, dtype) if bias else None
    return w, b


def haar_orthogonal(d: int, rng: np.random.Generator | None = None,
                    batch: tuple[int, ...] = (), sign_fix: bool = True) -> np.ndarray:
    """(*batch, d, d): Haar-distributed orthogonal matrices Q (QᵀQ = I), one per batch index.

    QR of a Gaussian matrix G = QR gives a Haar Q only once the signs are fixed so that
    diag(R) > 0 (Q ← Q diag(sign(diag R)), scaling column j by sign(R_jj)). LAPACK's
    Householder QR makes R_00 = -sign(G_00)|g_0|, so without the fix Q's first column always
    has Q_00 <= 0: not Haar. ``sign_fix=False`` reproduces that (for chapter 6's measurements).
    Draws one (*batch, d, d) standard normal array from ``rng``.
    """
    d = validate.positive_int(d, "haar_orthogonal", "d")
    if not isinstance(batch, (tuple, list)):
        raise TypeError(f"haar_orthogonal: batch must be a tuple of ints >= 0, got {batch!r}")
    for i, n in enumerate(batch):
        validate.positive_int(n, "haar_orthogonal", f"batch[{i}]", minimum=0)
    validate.generator(rng, "haar_orthogonal")
    q, r = np.linalg.qr(get_rng(rng).standard_normal((*batch, d, d)))
    if sign_fix:
        s = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
        s[s == 0] = 1.0
        q = q * s[..., None, :]
    return q
