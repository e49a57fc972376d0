"""labutils: NumPy reference implementations of deep-learning building blocks.

Every module follows the contract in ``labutils.module`` and is checked against its torch
twin in the test suite (``labutils.torchcheck``).
"""
from . import gradcheck, init, nn, optim, tolerances
from .module import Module, ModuleList, Sequential

__all__ = ["Module", "ModuleList", "Sequential", "gradcheck", "init", "nn", "optim", "tolerances"]
