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


def run(kc, code, timeout=60):
    """Execute code; return (status, stdout text, error name)."""
    msg_id = kc.execute(code)
    out, ename = [], None
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        t, c = msg["msg_type"], msg["content"]
        if t == "stream":
            out.append(c["text"])
        elif t == "error":
            ename = c["ename"]
        elif t == "status" and c["execution_state"] == "idle":
            break
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
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
    status, out, ename = run(kernel, code)
    assert status == "error" and ename == "AssertionError"
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
    status, out, ename = run(kernel, code)
    assert status == "error" and ename == "AssertionError"
    assert "linear_forward is not filled in yet" in out
