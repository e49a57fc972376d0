"""Autograder checks, one module per chapter; the engine is in ``core`` (see its docstring)."""
from .core import (CheckFailed, Problem, Report, call_student, check_function, compare,
                   gradient_check, memory_growth, no_python_loop, time_limit)

__all__ = ["CheckFailed", "Problem", "Report", "call_student", "check_function", "compare",
           "gradient_check", "memory_growth", "no_python_loop", "time_limit"]
from . import hidden  # noqa: E402,F401  (snapshots the grading code: see hidden.verify)
