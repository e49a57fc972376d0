"""Chapter 6's names in one place, kept so that ``import labutils.performer as P`` (the released
notebooks, a student's saved work) goes on working. Nothing is defined here:

- the FAVOR+ mathematics (random matrices, feature maps, Lemma 2, the bidirectional and causal
  forward/backward pairs) is ``labutils.nn.favor``;
- the simulations and measurements (many draws of W, the estimator per draw, exact attention,
  the cost table) are ``labutils.lab.performer_experiments``;
- the torch twin of ``PerformerAttention`` is ``labutils.torchcheck.favor_mha_twin``.
"""
from __future__ import annotations

from .lab.performer_experiments import (cost_table, exact_attention, kernel_estimates,
                                        sample_matrices)
from .nn.favor import (FEATURES, FEATURES_PER_DRAW, KINDS, causal_favor_backward,
                       causal_favor_forward, favor_attention, favor_attention_backward,
                       favor_backward, favor_forward, features_backward, features_forward,
                       hyperbolic_features, iid_gaussian_matrix, orthogonal_block,
                       orthogonal_gaussian_matrix, positive_features, softmax_kernel,
                       softmax_kernel_mse, trig_features)
from .torchcheck import favor_mha_twin as torch_twin

__all__ = ["iid_gaussian_matrix", "orthogonal_gaussian_matrix", "orthogonal_block",
           "trig_features", "positive_features", "hyperbolic_features", "softmax_kernel",
           "softmax_kernel_mse", "favor_attention", "favor_attention_backward",
           "favor_forward", "favor_backward", "causal_favor_forward", "causal_favor_backward",
           "features_forward", "features_backward", "exact_attention", "sample_matrices",
           "kernel_estimates", "torch_twin", "KINDS", "FEATURES", "FEATURES_PER_DRAW",
           "cost_table"]
