"""Compare a labutils module with its torch twin: forward, input gradients, parameter
gradients. Used by the notebooks ("check against torch") and by the test suite.

torch is imported here only, when a comparison is asked for.
"""
import numpy as np

from .gradcheck import ErrorReport, flatten, rel_error, unflatten
from .tolerances import PARITY_RTOL


class ParityReport(ErrorReport):
    """labutils against torch, array by array."""

    @property
    def ok(self):
        return self.worst <= PARITY_RTOL

    def verdict(self):
        """A line that does not depend on the CPU's last digits (for notebook outputs)."""
        tag = "match" if self.ok else "MISMATCH"
        return f"{tag}: {len(self.errors)} arrays compared, worst relative error " + (
            f"below {PARITY_RTOL:.0e}" if self.ok else f"{self.worst:.2e}")

    def __str__(self):
        return "\n".join(f"{k:<32} {v:9.2e}" for k, v in self.errors.items())


def to_torch(x, requires_grad=False):
    import torch
    if x is None or not isinstance(x, np.ndarray):
        return x
    t = torch.from_numpy(np.ascontiguousarray(x).copy())
    if requires_grad and x.dtype.kind == "f":
        t.requires_grad_(True)
    return t


def compare_with_torch(module, torch_module, *inputs, lab_call=None, torch_call=None,
                       param_map=None, seed=20231, load_state=True, output_mask=None):
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
    report = ParityReport()
    rng = np.random.default_rng(seed)
    weights, loss = [], 0
    for i, (y, ty) in enumerate(zip(leaves, t_leaves)):
        if y is None:
            weights.append(None)
            continue
        report.errors[f"output {i}"] = rel_error(y, ty.detach().numpy())
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
            report.errors[f"grad input {i}"] = rel_error(dx[i], tg.numpy())
    t_params = dict(torch_module.named_parameters())
    param_map = param_map or {}
    for name in module.params:
        tp = t_params[param_map.get(name, name)]
        tg = tp.grad if tp.grad is not None else torch.zeros_like(tp)
        report.errors[f"grad {name}"] = rel_error(module.grads[name], tg.numpy().reshape(module.grads[name].shape))
    return report
