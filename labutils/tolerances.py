"""The course's one definition of "close enough". Notebooks, graders and tests import these.

Relative error here is always ``rel_error(a, b) = |a - b| / max(|a|, |b|)`` over whole arrays
(Euclidean norms), see ``labutils.gradcheck.rel_error``: an element-wise ratio explodes for
entries that are zero in exact arithmetic, and a norm ratio does not. Comparisons with torch
add a floor under the denominator, for whole arrays that are zero in exact arithmetic
(see PARITY_RTOL).
"""
from __future__ import annotations

import numbers

# Central-difference step for float64. The truncation error of (f(x+h) - f(x-h)) / 2h is
# O(h^2 f''') ~ 1e-12, the rounding error O(eps_machine |f| / h) ~ 1e-16 / 1e-6 = 1e-10;
# h = 1e-6 balances the two for functions of size ~1, leaving about 1e-9 .. 1e-10.
GRADCHECK_STEP = 1e-6

# Verdicts for a gradient check in float64 (analytic backward vs central differences).
# Below CORRECT: the two agree to what central differences can resolve.
# Between CORRECT and SUSPICIOUS: often a kink (ReLU at 0, max-pool ties) met by the
# finite difference, or a badly scaled function; look closer. Above SUSPICIOUS: a bug.
GRADCHECK_CORRECT = 1e-7
GRADCHECK_SUSPICIOUS = 1e-4

# labutils against its torch twin in float64: the same maths in a different summation
# order, so errors are a few ulps times the depth of the computation.
#
# Every parity comparison (labutils.torchcheck.parity_report, used by compare_with_torch and
# by every parity test) measures each array against a floor:
#     error = |a - b| / max(|a|, |b|, floor),   floor = sqrt(n) * S,
# n the array's number of entries, S the root-mean-square entry of the torch arrays of the
# same group in the same comparison: all the outputs, or all the input and parameter
# gradients. Why: a quantity that is zero in exact arithmetic (a gradient that cannot reach
# the loss, as the query's when attention has a single key) comes out of two correct
# implementations as exactly 0 in one and as rounding noise in the other, about
# eps_machine x (the terms that were added up and cancelled). Those terms are products of
# the upstream gradient, the inputs and the parameters, the same products that the other
# gradients of the same backward pass are made of, and S measures their size. Without the
# floor, 0 against 1e-17 is a relative error of 1 (issue 10); with it, about 1e-17.
# What the floor costs, by the same formula: an array passes when it agrees to PARITY_RTOL
# of its own size or of the typical size in its group (sqrt(n) * S), whichever is larger.
# A wrong gradient that is small is still caught unless its error is below PARITY_RTOL x
# sqrt(n) * S, a million times the rounding noise: the resolution PARITY_RTOL already has
# for an array of typical size (tests/test_parity_metric.py: mutation tests).
PARITY_RTOL = 1e-10

# A student's float64 function against the labutils reference. Looser than PARITY_RTOL
# because an equally correct formula (a different but exact rearrangement, log-sum-exp
# written another way) may lose a few more digits; a real mistake is off by far more.
GRADER_RTOL = 1e-7

# Anything computed in float32 (machine epsilon 1.2e-7) against float64.
FLOAT32_RTOL = 1e-4

# Seconds an autograder check lets a student's function run, over ALL the cases of one
# exercise (an endless loop costs this once; the cases after it are reported as not run).
GRADER_TIME_LIMIT = 10.0

# Bytes a student's function may allocate above the kernel's current size during a check
# (RLIMIT_AS, Linux only): beyond it NumPy raises MemoryError and the check fails, instead of
# the kernel dying. None disables the cap.
GRADER_MEMORY_LIMIT = 2 * 2**30

# At most this many lines in a failing check's report (passing reports list every case).
GRADER_REPORT_LINES = 15


def verdict(rel_err: float) -> str:
    """'correct', 'suspicious' or 'wrong' for a gradient check's relative error (NaN: 'wrong')."""
    if isinstance(rel_err, bool) or not isinstance(rel_err, numbers.Real):
        raise TypeError(f"verdict: rel_err must be a number (a relative error), "
                        f"got {type(rel_err).__name__}")
    if not rel_err <= GRADCHECK_SUSPICIOUS:  # also catches NaN
        return "wrong"
    return "correct" if rel_err <= GRADCHECK_CORRECT else "suspicious"
