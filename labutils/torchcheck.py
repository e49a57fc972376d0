"""Compare a labutils module with its torch twin: forward, input gradients, parameter
gradients. Used by the notebooks ("check against torch") and by the test suite.

One metric for every parity comparison: ``parity_report`` (the reason for its floor is in
``labutils.tolerances``, next to PARITY_RTOL). torch is imported here only, when a
comparison is asked for.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from . import validate
from .gradcheck import ErrorReport, flatten, floored_error, unflatten
from .module import Module
from .tolerances import PARITY_RTOL

if TYPE_CHECKING:    # torch is imported only when a comparison is asked for
    import torch

    from .nn.performer_attention import PerformerAttention

# {name: (labutils array, reference array or torch tensor)}
Pairs = Mapping[str, tuple["ArrayLike | torch.Tensor", "ArrayLike | torch.Tensor"]]
# How compare_with_torch calls each module: lab_call(module, *inputs), torch_call(module, *tensors)
Call = Callable[..., object]


@dataclass
class ParityReport(ErrorReport):
    """labutils against torch, array by array: the parity error of each (see
    ``parity_report``) and the floor it was measured against."""
    floors: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(e <= PARITY_RTOL for e in self.errors.values())   # False for NaN

    def verdict(self) -> str:
        """A line that does not depend on the CPU's last digits (for notebook outputs)."""
        tag = "match" if self.ok else "MISMATCH"
        return f"{tag}: {len(self.errors)} arrays compared, worst relative error " + (
            f"below {PARITY_RTOL:.0e}" if self.ok else f"{self.worst:.2e}")

    def __str__(self) -> str:
        return "\n".join(f"{k:<36} {v:9.2e}   (floor {self.floors.get(k, 0.0):8.2e})"
                          for k, v in self.errors.items())


def _numpy(x: ArrayLike | torch.Tensor) -> np.ndarray:
    """A torch tensor (detached) or array-like as a float64 ndarray."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _check_pairs(arg: str, group: object) -> None:
    """``group`` must map names to pairs (labutils array, reference) of numbers."""
    if not isinstance(group, Mapping):
        raise TypeError(f"parity_report: {arg} must be a mapping from names to pairs "
                        f"(labutils array, reference), got {type(group).__name__}")
    for name, pair in group.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"parity_report: {arg}[{name!r}] must be a pair (labutils array, "
                            f"reference), got {type(pair).__name__}")
        for a in pair:
            if hasattr(a, "detach"):       # a torch tensor
                continue
            kind = "O" if a is None or isinstance(a, str) else np.asarray(a).dtype.kind
            if kind not in "biuf":
                raise TypeError(f"parity_report: {arg}[{name!r}] must hold arrays of numbers, "
                                f"got {type(a).__name__}")


def parity_report(outputs: Pairs | None = None, grads: Pairs | None = None) -> ParityReport:
    """The course's parity metric. ``outputs`` and ``grads`` map a name to a pair
    (labutils array, reference array); the reference may be a torch tensor.

    Each array's error is ``|a - b| / max(|a|, |b|, floor)`` (Euclidean norms) with
    ``floor = sqrt(n) * S``: n its number of entries, S the root-mean-square entry of the
    reference arrays of its group (all ``outputs``, or all ``grads``). An array that is
    rounding noise against an exact zero then compares as close, while one that is small
    and wrong does not unless its error is below PARITY_RTOL * floor (see tolerances.py).
    Shapes must agree: a mismatch is an infinite error.
    """
    report = ParityReport()
    for arg, group in (("outputs", outputs or {}), ("grads", grads or {})):
        _check_pairs(arg, group)
        pairs = {name: (_numpy(a), _numpy(b)) for name, (a, b) in group.items()}
        total = sum(float(np.sum(b * b)) for _, b in pairs.values())
        count = sum(b.size for _, b in pairs.values())
        rms = math.sqrt(total / count) if count else 0.0
        for name, (a, b) in pairs.items():
            report.floors[name] = rms * math.sqrt(b.size)
            report.errors[name] = floored_error(a, b, report.floors[name])
    return report


def to_torch(x: object, requires_grad: bool = False) -> torch.Tensor | object:
    """A NumPy array as a torch tensor (a copy; float arrays optionally requiring grad);
    anything else (None, a number, a tensor) is returned as it is."""
    import torch
    if x is None or not isinstance(x, np.ndarray):
        return x
    if x.dtype.kind not in "biufc":
        raise TypeError(f"to_torch: x must be an array of numbers or booleans, got dtype {x.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(x).copy())
    if requires_grad and x.dtype.kind == "f":
        t.requires_grad_(True)
    return t


def compare_with_torch(module: Module, torch_module: torch.nn.Module, *inputs: object,
                       lab_call: Call | None = None, torch_call: Call | None = None,
                       param_map: Mapping[str, str] | None = None, load_state: bool = True,
                       seed: int = 20231, output_mask: list[bool] | None = None) -> ParityReport:
    """Load the torch module's state into ``module`` (float64), run both on ``inputs``, then
    back-propagate the same random upstream gradients through both.

    lab_call(module, *inputs), torch_call(torch_module, *tensors) -- how to call each
        (default: plain call); both must return outputs of the same nesting.
    param_map   -- {labutils name: torch name} where they differ.
    output_mask -- one bool per flattened output: False for outputs that carry no gradient
        (attention weights returned for inspection); they are still compared forward.
    seed -- for the random upstream gradients. Do not draw the inputs from the same seed and
        shape: the upstream gradient would then be an affine function of the input, and for
        a normalisation layer the input gradient nearly cancels (a false mismatch).
    """
    import torch
    _check_twins("compare_with_torch", module, torch_module, seed)
    torch_module = torch_module.double()
    torch_module.zero_grad(set_to_none=True)   # a reused module must not add up old gradients
    if load_state:
        module.load_state_dict(torch_module.state_dict())
    lab_call = lab_call or (lambda m, *xs: m(*xs))
    torch_call = torch_call or (lambda m, *xs: m(*xs))
    t_inputs = [to_torch(x, requires_grad=True) for x in inputs]
    t_out = torch_call(torch_module, *t_inputs)
    module.zero_grad()
    out = lab_call(module, *inputs)
    leaves, t_leaves = flatten(out), flatten(t_out)
    if len(leaves) != len(t_leaves):
        raise ValueError(f"compare_with_torch: labutils gave {len(leaves)} outputs, "
                         f"torch {len(t_leaves)}")
    mask = output_mask or [True] * len(leaves)
    outputs, grads = {}, {}
    rng = np.random.default_rng(seed)
    weights, loss = [], 0
    for i, (y, ty) in enumerate(zip(leaves, t_leaves)):
        if y is None:
            weights.append(None)
            continue
        outputs[f"output {i}"] = (np.array(y, dtype=np.float64), _numpy(ty))   # before backward
        w = rng.standard_normal(np.shape(y)) if mask[i] else None
        weights.append(None if w is None else w.astype(np.asarray(y).dtype))
        if w is not None:
            loss = loss + (ty * torch.from_numpy(w)).sum()
    grads_in = unflatten(out, weights)
    dx = module.backward(*(grads_in if isinstance(out, tuple) else (grads_in,)))
    dx = dx if isinstance(dx, tuple) else (dx,)
    loss.backward()
    for i, (x, tx) in enumerate(zip(inputs, t_inputs)):
        if getattr(tx, "requires_grad", False):
            tg = tx.grad if tx.grad is not None else torch.zeros_like(tx)
            grads[f"grad input {i}"] = (dx[i], tg)
    t_params = dict(torch_module.named_parameters())
    param_map = param_map or {}
    for name in module.params:
        tp = t_params[param_map.get(name, name)]
        tg = tp.grad if tp.grad is not None else torch.zeros_like(tp)
        grads[f"grad {name}"] = (module.grads[name], tg.reshape(module.grads[name].shape))
    return parity_report(outputs, grads)


def _check_twins(owner: str, module: object, torch_module: object, seed: object = 0) -> None:
    import torch
    validate.positive_int(seed, owner, "seed", minimum=0)
    if not isinstance(module, Module):
        raise TypeError(f"{owner}: module must be a labutils Module, got {type(module).__name__}")
    if not isinstance(torch_module, torch.nn.Module):
        raise TypeError(f"{owner}: torch_module must be a torch.nn.Module, "
                        f"got {type(torch_module).__name__}")


# -- twins that torch lacks ---------------------------------------------------------------------
def favor_mha_twin(module: PerformerAttention) -> torch.nn.MultiheadAttention:
    """The torch twin of a labutils ``PerformerAttention`` (chapter 6): a
    torch.nn.MultiheadAttention subclass computing the same FAVOR+ formula (same feature matrix,
    kind and causality) as the plain quadratic form φ(q')φ(k')ᵀ, differentiated by autograd.
    Its state dict has MHA's keys, so ``compare_with_torch`` loads it into ``module`` in one call."""
    import torch

    from .nn.performer_attention import PerformerAttention
    if not isinstance(module, PerformerAttention):
        raise TypeError(f"favor_mha_twin: module must be a labutils PerformerAttention, "
                        f"got {type(module).__name__}")

    class FavorMHA(torch.nn.MultiheadAttention):
        def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
                    ) -> tuple[torch.Tensor, None]:
            E, H = self.embed_dim, self.num_heads
            h = E // H
            W = torch.as_tensor(module.feature_matrix).to(query.dtype)

            def proj(x: torch.Tensor, i: int) -> torch.Tensor:
                y = x @ self.in_proj_weight[i * E:(i + 1) * E].T
                if self.in_proj_bias is not None:
                    y = y + self.in_proj_bias[i * E:(i + 1) * E]
                return y.reshape(x.shape[0], x.shape[1], H, h).transpose(1, 2)

            def phi(x: torch.Tensor) -> torch.Tensor:
                u, sq, m = x @ W.T, (x * x).sum(-1, keepdim=True) / 2, W.shape[0]
                if module.kind == "positive":
                    return torch.exp(u - sq) / math.sqrt(m)
                if module.kind == "hyperbolic":
                    return torch.cat([torch.exp(u - sq), torch.exp(-u - sq)], -1) / math.sqrt(2 * m)
                return torch.cat([torch.cos(u), torch.sin(u)], -1) * torch.exp(sq) / math.sqrt(m)
            s = h ** -0.25
            A = phi(proj(query, 0) * s) @ phi(proj(key, 1) * s).transpose(-1, -2)
            if module.causal:
                A = torch.tril(A)
            o = (A @ proj(value, 2)) / A.sum(-1, keepdim=True)
            return self.out_proj(o.transpose(1, 2).reshape(query.shape[0], query.shape[1], E)), None

    return FavorMHA(module.embed_dim, module.num_heads, bias=module.has_bias, batch_first=True)


def buffers_match(module: Module, torch_module: torch.nn.Module, rtol: float = 1e-12) -> bool:
    """True when ``module`` has the same buffers as ``torch_module`` (same names; running
    statistics equal to ``rtol``, counters exactly), e.g. after the same training steps."""
    _check_twins("buffers_match", module, torch_module)
    rtol = validate.nonneg_float(rtol, "buffers_match", "rtol")
    theirs = {k: v.detach().cpu().numpy() for k, v in torch_module.named_buffers()}
    ours = {k: v for k, v in module.buffers.items() if v is not None}
    return set(ours) == set(theirs) and all(
        np.allclose(v, theirs[k], rtol=rtol, atol=0) for k, v in ours.items())
