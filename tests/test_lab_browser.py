"""What a student sees in JupyterLab (Binder runs the same JupyterLab): a student notebook's
self-check answers are collapsed until asked for and show typeset math once opened, and the
explorer's frames, drawn by a live kernel, carry alt text.

One JupyterLab server (no token, its own settings and workspace folders) serves a temporary
folder holding copies of the notebooks; headless Chromium opens them. Two fixture notebooks
pin the check itself: tests/fixtures/lab_answers.ipynb has the answers in the <details> form
the chapters use (it must pass), tests/fixtures/lab_dropdown.ipynb in a MyST dropdown, which
JupyterLab shows in plain sight (the check must catch it)."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

# browser: the site test's fixture (one headless Chromium for this module)
from tests.test_site import CHROMIUM, browser, check_answers_block  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
STUDENT = ROOT / "student" / "01_basics.ipynb"
pytestmark = [pytest.mark.slow, pytest.mark.browser]

NOTEBOOKS = {  # the name in JupyterLab's folder -> the notebook copied there
    "student_01_basics.ipynb": STUDENT,
    "lab_answers.ipynb": FIXTURES / "lab_answers.ipynb",
    "lab_dropdown.ipynb": FIXTURES / "lab_dropdown.ipynb",
}

SETTINGS = {  # JupyterLab user settings for the test server
    # Render every cell, not only those in view, so the test finds them without scrolling.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # No news request, no "would you like news?" toast (the machine is offline).
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not CHROMIUM:
        pytest.skip("Chromium is not installed (.ci/run installs it: apt-get install chromium)")
    home = tmp_path_factory.mktemp("lab")
    work = home / "work"
    work.mkdir()
    for name, src in NOTEBOOKS.items():
        shutil.copy2(src, work / name)
    for rel, value in SETTINGS.items():
        path = home / "settings" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    port = free_port()
    log = open(home / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", "--allow-root",
         "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1",
         f"--port={port}", "--ServerApp.port_retries=0", f"--notebook-dir={work}"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    text = (home / "jupyterlab.log").read_text()
                    pytest.fail("JupyterLab did not start:\n" + text[-3000:])
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()        # the server shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def open_notebook(browser, lab, name):  # noqa: F811 (browser is the fixture)
    page = browser.new_page(viewport={"width": 1200, "height": 1600})
    page.goto(f"{lab}/lab/tree/{name}?reset")    # ?reset: only this notebook, no restored tabs
    page.wait_for_selector(".jp-Notebook .jp-MarkdownOutput", timeout=90000)
    # JupyterLab typesets the math of rendered Markdown asynchronously.
    page.wait_for_selector(".jp-Notebook .jp-MarkdownOutput mjx-container", state="attached",
                           timeout=60000)
    page.wait_for_timeout(1000)
    return page


def answers_blocks(page):
    return page.locator(".jp-Notebook .jp-MarkdownOutput details").filter(
        has=page.locator(":scope > summary", has_text=re.compile("answer", re.I)))


@pytest.mark.parametrize("name", ["student_01_basics.ipynb", "lab_answers.ipynb"])
def test_answers_collapsed_with_typeset_math_in_jupyterlab(browser, lab, name):  # noqa: F811
    page = open_notebook(browser, lab, name)
    try:
        blocks = answers_blocks(page)
        assert blocks.count() >= 1, (
            f"{NOTEBOOKS[name].name}: no <details><summary>Answers</summary> block in "
            f"JupyterLab (a MyST dropdown shows its answers in plain sight)")
        for i in range(blocks.count()):
            block = blocks.nth(i)
            block.locator("mjx-container").first.wait_for(state="attached", timeout=30000)
            label = f"JupyterLab {NOTEBOOKS[name].name}, answers block {i + 1}"
            check_answers_block(page, block, label)
    finally:
        page.close()


def test_the_check_catches_answers_in_plain_sight(browser, lab):  # noqa: F811
    """The MyST dropdown form: JupyterLab shows its answers as plain text under the questions."""
    page = open_notebook(browser, lab, "lab_dropdown.ipynb")
    try:
        assert answers_blocks(page).count() == 0
        answer = page.locator(".jp-MarkdownOutput").get_by_text("contributions add up")
        assert answer.count() == 1 and answer.is_visible(), \
            "the dropdown's answers should be in plain sight"
    finally:
        page.close()


@pytest.mark.parametrize("name", ["student_01_basics.ipynb", "lab_answers.ipynb"])
def test_explorer_frames_have_alt_text_in_jupyterlab(browser, lab, name):  # noqa: F811
    """Run the notebook's first explorer cell in a live kernel: every frame image of the widget
    it shows has alt text, and so has the one in view."""
    page = open_notebook(browser, lab, name)
    try:
        cell = page.locator(".jp-CodeCell", has_text="_explorer(").first
        assert cell.count() == 1, f"{NOTEBOOKS[name].name}: no explorer cell"
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        images = cell.locator(".course-explorer img")
        try:
            images.first.wait_for(state="visible", timeout=120000)
        except Exception:
            out = cell.locator(".jp-OutputArea").inner_text()
            raise AssertionError(f"{NOTEBOOKS[name].name}: the explorer did not appear; "
                                 f"cell output:\n{out[-2000:]}")
        alts = [images.nth(i).get_attribute("alt") for i in range(images.count())]
        missing = [i for i, a in enumerate(alts) if not (a or "").strip()]
        assert not missing, f"{len(missing)} of {len(alts)} explorer images have no alt text"
        shown = [images.nth(i) for i in range(images.count()) if images.nth(i).is_visible()]
        assert len(shown) == 1 and (shown[0].get_attribute("alt") or "").strip()
    finally:
        page.close()
