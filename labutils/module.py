"""The module contract that every labutils layer follows (it mirrors torch.nn.Module).

    y  = m(x)              forward: computes the output, keeps what backward needs
    dx = m.backward(dy)    takes dL/dy, returns dL/dx, and ADDS dL/dparam into m.grads

``m.params`` / ``m.grads`` / ``m.buffers`` map names to arrays. A module made of modules
names its children's entries with dots, exactly as torch does (``0.weight``,
``self_attn.in_proj_weight``), so ``m.load_state_dict(torch_module.state_dict())`` works
in one call.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping

import numpy as np


class _Tree(MutableMapping):
    """A dict-like view over one kind of entry ("_params", "_grads" or "_buffers") of a
    module and all its children, with dotted names. Reading gives the arrays themselves
    (not copies), so ``m.grads["0.weight"] += g`` and optimisers work in place."""

    def __init__(self, module: Module, kind: str) -> None:
        self._m, self._kind = module, kind

    def _locate(self, name: str) -> tuple[dict, str]:
        owner, *path = self._m, *name.split(".")
        for part in path[:-1]:
            if part not in owner._modules:
                raise KeyError(name)
            owner = owner._modules[part]
        return getattr(owner, self._kind), path[-1]

    def __getitem__(self, name: str) -> np.ndarray:
        store, key = self._locate(name)
        return store[key]

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        store, key = self._locate(name)
        store[key] = value

    def __delitem__(self, name: str) -> None:
        store, key = self._locate(name)
        del store[key]

    def __iter__(self) -> Iterator[str]:
        yield from getattr(self._m, self._kind)
        for child_name, child in self._m._modules.items():
            for key in getattr(child, self._kind[1:]):
                yield f"{child_name}.{key}"

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: array{tuple(v.shape)}" for k, v in self.items()) + "}"


def _to_numpy(value: object) -> np.ndarray:
    """ndarray from an ndarray, a torch tensor (duck-typed: no torch import) or a number."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _state_value(owner: str, name: str, value: object, old: np.ndarray | None
                 ) -> np.ndarray | None:
    """``value`` of a state dict as an array checked against the entry ``old`` it replaces."""
    if value is None and old is None:
        return None
    array = _to_numpy(value) if value is not None else None
    if array is None or array.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: '{name}' must be an array of numbers, got "
                        f"{type(value).__name__}")
    if old is None:
        return array.copy()
    if array.shape != old.shape:
        raise ValueError(f"{owner}: '{name}' expected shape {old.shape}, got {array.shape}")
    return array


class Module:
    """Base class. Subclasses call ``super().__init__()``, register parameters with
    ``self.add_param(name, array)`` and buffers with ``self.add_buffer``, and assign child
    modules as attributes (their entries then appear under ``"child_name.entry"``)."""

    def __init__(self) -> None:
        object.__setattr__(self, "_modules", {})
        self._params, self._grads, self._buffers = {}, {}, {}
        self.training = True

    # -- registration -------------------------------------------------------------
    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_modules", {}):
            del self._modules[name]
        object.__setattr__(self, name, value)

    def add_module(self, name: str | int, module: Module) -> Module:
        """Register ``module`` under ``name`` (names such as "0" are not attributes)."""
        self._modules[str(name)] = module
        return module

    def add_param(self, name: str, value: np.ndarray) -> None:
        self._params[name] = np.asarray(value)
        self._grads[name] = np.zeros_like(self._params[name])

    def add_buffer(self, name: str, value: np.ndarray | None) -> None:
        self._buffers[name] = value if value is None else np.asarray(value)

    @property
    def params(self) -> _Tree:
        return _Tree(self, "_params")

    @property
    def grads(self) -> _Tree:
        return _Tree(self, "_grads")

    @property
    def buffers(self) -> _Tree:
        return _Tree(self, "_buffers")

    def children(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, depth first."""
        yield self
        for child in self._modules.values():
            yield from child.modules()

    # -- the three computations --------------------------------------------------
    def forward(self, *inputs: np.ndarray) -> np.ndarray | tuple:
        raise NotImplementedError(f"{type(self).__name__}.forward is not written")

    def backward(self, *grad_outputs: np.ndarray | None) -> np.ndarray | tuple | None:
        raise NotImplementedError(f"{type(self).__name__}.backward is not written")

    def __call__(self, *inputs: np.ndarray, **kwargs: object) -> np.ndarray | tuple:
        return self.forward(*inputs, **kwargs)

    # -- state ---------------------------------------------------------------------
    def zero_grad(self) -> None:
        for g in self.grads.values():
            g[...] = 0

    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}.train: mode must be a bool, "
                            f"got {type(mode).__name__}")
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def state_dict(self) -> dict[str, np.ndarray | None]:
        """Copies of all parameters and buffers, under torch's dotted names."""
        out = {k: v.copy() for k, v in self.params.items()}
        out.update({k: (None if v is None else v.copy()) for k, v in self.buffers.items()})
        return out

    def _map_state_dict(self, state: dict) -> dict:
        """Hook for modules whose torch twin names things differently (weight norm)."""
        return state

    def load_state_dict(self, state: Mapping, strict: bool = True) -> Module:
        """Load arrays or torch tensors. Each value is cast to the dtype of the entry it
        replaces; shapes must match. With ``strict``, missing and unexpected keys are errors.
        Everything is checked before anything is loaded: a load that fails changes nothing."""
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
            raise TypeError(f"{owner}: state must be a mapping from names to arrays (a "
                            f"state_dict), got {type(state).__name__}")
        state = self._apply_name_maps(dict(state))
        own = dict(self.params.items()) | dict(self.buffers.items())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise KeyError(f"{owner}: missing keys {missing}, unexpected keys {unexpected}")
        values = {name: _state_value(owner, name, state[name], own[name])
                  for name in set(own) & set(state)}
        for name, value in values.items():
            if own[name] is None or value is None:
                self.buffers[name] = value
                continue
            tree = self.params if name in self.params else self.buffers
            tree[name] = value.astype(own[name].dtype, copy=True)
            if name in self.grads and self.grads[name].dtype != own[name].dtype:
                self.grads[name] = np.zeros_like(tree[name])
        return self

    def _apply_name_maps(self, state: dict) -> dict:
        """Let each module rename its own keys (those not under one of its children)."""
        for name, m in self._named_modules():
            p = name + "." if name else ""
            below = tuple(f"{p}{c}." for c in m._modules)
            mine = {k[len(p):]: v for k, v in state.items()
                    if k.startswith(p) and not k.startswith(below)}
            mapped = m._map_state_dict(mine)
            if mapped is not mine:
                for k in mine:
                    del state[p + k]
                state.update({p + k: v for k, v in mapped.items()})
        return state

    def _named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child._named_modules(f"{prefix}.{name}" if prefix else name)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"


class ModuleList(Module):
    """A list of modules named "0", "1", ... (torch.nn.ModuleList); no forward of its own."""

    def __init__(self, modules: tuple | list = ()) -> None:
        super().__init__()
        owner = type(self).__name__
        if not isinstance(modules, (list, tuple, ModuleList)):
            raise TypeError(f"{owner}: modules must be a list of labutils Modules, "
                            f"got {type(modules).__name__}")
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"{owner}: modules[{i}] must be a labutils Module, "
                                f"got {type(m).__name__}")
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Modules applied in order; children are named "0", "1", ... as in torch.

    forward: x -> m_{n-1}(...m_1(m_0(x)))     backward: in reverse order.
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__(modules)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for m in self:
            x = m(x)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        for m in reversed(list(self)):
            dy = m.backward(dy)
        return dy
