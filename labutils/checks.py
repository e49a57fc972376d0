"""Input validation with messages that name the module, the argument, what was expected and
what came. Every module calls ``check_array`` on what it receives."""
import numpy as np


def check_array(x, owner, arg="input", ndim=None, min_ndim=None, shape=None, dtype="float"):
    """Check ``x`` and return it; raise TypeError/ValueError with a clear message otherwise.

    ndim      -- an int or a tuple of allowed ranks
    min_ndim  -- the least rank allowed
    shape     -- a tuple matched from the END of x.shape; None entries match anything
    dtype     -- "float" (floating point), "int", "bool" or None (anything)
    """
    where = f"{owner}: {arg}"
    if hasattr(x, "detach") and not isinstance(x, np.ndarray):
        raise TypeError(f"{where} must be a NumPy array, got a torch tensor "
                        f"(convert with .detach().numpy())")
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where} must be a NumPy array, got {type(x).__name__}")
    kinds = {"float": "f", "int": "iu", "bool": "b"}
    if dtype is not None and x.dtype.kind not in kinds[dtype]:
        raise TypeError(f"{where} must have a {dtype} dtype, got {x.dtype}")
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and x.ndim not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{where} must have {want} dimensions, got shape {x.shape} "
                         f"({x.ndim} dimensions)")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{where} must have at least {min_ndim} dimensions, "
                         f"got shape {x.shape}")
    if shape is not None:
        tail = x.shape[len(x.shape) - len(shape):] if len(shape) else ()
        ok = len(x.shape) >= len(shape) and all(s is None or s == t for s, t in zip(shape, tail))
        if not ok:
            want = "(..., " + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{where} must have shape {want}, got {x.shape}")
    if x.dtype.kind == "f" and np.isnan(x).any():
        raise ValueError(f"{where} contains NaN (first at index "
                         f"{tuple(int(i) for i in np.argwhere(np.isnan(x))[0])})")
    return x


def check_grad(dy, expected_shape, owner, arg="grad_output"):
    """Check an upstream gradient against the shape of the output it belongs to."""
    check_array(dy, owner, arg)
    if dy.shape != tuple(expected_shape):
        raise ValueError(f"{owner}: {arg} must have the output's shape {tuple(expected_shape)}, "
                         f"got {dy.shape}")
    return dy


def check_forward_called(owner, cache):
    if cache is None:
        raise RuntimeError(f"{owner}: backward called before forward (nothing cached)")
    return cache
