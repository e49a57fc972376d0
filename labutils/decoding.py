"""Moved to ``labutils.lab.decoding`` (issue 13); kept so that saved notebooks still run."""
from .lab.decoding import beam_search, greedy_decode, log_softmax  # noqa: F401

__all__ = ["greedy_decode", "beam_search", "log_softmax"]
