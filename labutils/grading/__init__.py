"""Autograder checks, one module per chapter; the machinery is in ``core``."""
from .core import Problem, Report, call_student, check_function, compare, time_limit

__all__ = ["Problem", "Report", "call_student", "check_function", "compare", "time_limit"]
