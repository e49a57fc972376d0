"""The autograder in a real Jupyter kernel: an endless loop in a student's function is
interrupted by the time limit, the check fails with a clear report, and the kernel goes on."""
import pytest
from jupyter_client.manager import start_new_kernel


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_new_kernel(kernel_name="python3")
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def run(kc, code, timeout=60, streams=None):
    """Execute code; return (status, stdout text, error name). ``streams`` (a dict) receives
    the stderr text and the lines the error output shows."""
    msg_id = kc.execute(code)
    out, ename, err, shown = [], None, [], []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        t, c = msg["msg_type"], msg["content"]
        if t == "stream":
            (out if c["name"] == "stdout" else err).append(c["text"])
        elif t == "error":
            ename, shown = c["ename"], c["traceback"]
        elif t == "status" and c["execution_state"] == "idle":
            break
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            if streams is not None:
                streams.update(stderr="".join(err), error=shown)
            return reply["content"]["status"], "".join(out), ename


def test_endless_loop_is_interrupted_and_the_kernel_survives(kernel):
    code = """
import numpy as np
from labutils.grading.core import check_function
def relu_backward(dy, x):
    while True:
        pass
check_function(relu_backward, lambda dy, x: dy * (x > 0),
               [("a case", (np.ones(3), np.ones(3)))], time_limit_s=1.0)
"""
    streams = {}
    status, out, ename = run(kernel, code, streams=streams)
    assert status == "error" and ename == "CheckFailed"
    assert "did not finish within 1 s" in out
    status, out, _ = run(kernel, "print(6 * 7)")
    assert status == "ok" and out.strip() == "42"


def test_unfilled_stub_fails_cleanly_in_a_kernel(kernel):
    code = """
from labutils.grading.basics import check_linear_forward
def linear_forward(x, W, b):
    # YOUR CODE HERE
    raise NotImplementedError()
check_linear_forward(linear_forward)
"""
    streams = {}
    status, out, ename = run(kernel, code, streams=streams)
    assert status == "error" and ename == "CheckFailed"
    assert "linear_forward is not filled in yet" in out
    # the error output is one summary line: no traceback into grader code, nothing on stderr
    assert len(streams["error"]) == 1 and "labutils" not in streams["error"][0]
    assert streams["stderr"] == "" and len(out.splitlines()) <= 15


def test_a_passing_check_with_a_warning_writes_nothing_to_stderr(kernel):
    code = """
import warnings
import numpy as np
from labutils.grading.basics import check_relu_backward
def relu_backward(dy, x):
    warnings.warn("just a warning")
    print("a debug print")
    return dy * (x > 0)
check_relu_backward(relu_backward)
"""
    streams = {}
    status, out, _ = run(kernel, code, streams=streams)
    assert status == "ok" and streams["stderr"] == ""
    assert "UserWarning: just a warning" in out and "checks passed" in out


def test_a_runaway_allocation_fails_the_check_and_the_kernel_lives(kernel):
    code = """
import numpy as np
from labutils.grading.basics import check_relu_backward
def relu_backward(dy, x):
    big = np.empty(3 * 2**27)   # 3 GB: fine without the cap (untouched pages), refused with it
    return dy * (x > 0)
check_relu_backward(relu_backward)
"""
    status, out, ename = run(kernel, code)
    assert status == "error" and ename == "CheckFailed" and "ran out of memory" in out
    status, out, _ = run(kernel, "import numpy as np; print(np.ones(10**7).sum())")
    assert status == "ok" and out.strip() == "10000000.0"


def test_an_endless_loop_costs_one_time_limit_per_exercise_in_a_kernel(kernel):
    code = """
import time
from labutils.grading.basics import check_relu_backward
def relu_backward(dy, x):
    while True:
        pass
_t0 = time.perf_counter()
try:
    check_relu_backward(relu_backward, time_limit_s=1.0)
finally:
    print(f"elapsed below 3 s: {time.perf_counter() - _t0 < 3}")
"""
    status, out, ename = run(kernel, code)
    assert status == "error" and ename == "CheckFailed"
    assert "2 more cases not run" in out and "elapsed below 3 s: True" in out
