"""The site: builds with warnings as errors from the stored outputs, publishes no hidden test
and (by default) no solution code, serves the student version for download, and renders in
headless Chromium with typeset math, figures and working explorers, with no request outside
the site and no unexplained console error."""
import http.server
import json
import re
import shutil
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.slow

# Console messages that are known and harmless, each with its reason.
KNOWN_CONSOLE = {
    # sphinx-thebe writes its configuration twice into every page; the second copy is a
    # duplicate <script type="text/x-thebe-config"> that Thebe reports once. Thebe itself is
    # loaded only when a reader asks for live code, which this offline test never does.
    r"thebe": "sphinx-thebe's duplicated configuration",
}


def build(out, solutions="remove"):
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT),
           "--path-output", str(out), "--warningiserror", "--nitpick", "--keep-going", "--quiet"]
    if solutions != "remove":
        cfg = out / "_config_override.yml"
        text = (ROOT / "_config.yml").read_text().replace("course_solutions: remove",
                                                          f"course_solutions: {solutions}")
        for rel_path in ("book/_ext", "book/references.bib", "book/assets"):  # relative to the config
            text = text.replace(f" {rel_path}", f" {ROOT / rel_path}").replace(f'"{rel_path}"', f'"{ROOT / rel_path}"')
        cfg.write_text(text)
        cmd += ["--config", str(cfg)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not (ROOT / "node_modules").exists():
        pytest.skip("node_modules missing: run ./course install (needs npm)")
    return build(tmp_path_factory.mktemp("site"))


def solution_snippets(nb):
    out = []
    for c in json.loads(nb.read_text())["cells"]:
        for block in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", "".join(c["source"]), re.S):
            out += [line.strip() for line in block.splitlines() if len(line.strip()) > 12]
    return out


def hidden_snippets(nb):
    out = []
    for c in json.loads(nb.read_text())["cells"]:
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", "".join(c["source"]), re.S):
            out += [line.strip() for line in block.splitlines() if len(line.strip()) > 12]
    return out


def visible_elsewhere(nb):
    """Text that the page may show legitimately: every cell that holds no solution, and every
    stored output (the chapters print the library's own code with inspect.getsource)."""
    parts = []
    for c in json.loads(nb.read_text())["cells"]:
        src = "".join(c["source"])
        if "### BEGIN SOLUTION" not in src:
            parts.append(src)
        for o in c.get("outputs", []):
            parts.append("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def page_text(html):
    """The page's text as a reader sees it (tags removed, entities decoded)."""
    import html as h
    return h.unescape(re.sub(r"<[^>]+>", "", html))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_hidden_tests_and_no_solutions_by_default(site, nb):
    text = page_text((site / "notebooks" / f"{nb.stem}.html").read_text())
    assert "HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    leaked = [s for s in hidden_snippets(nb) if s in text]
    assert not leaked, leaked[:3]
    other = visible_elsewhere(nb)
    leaked = [s for s in solution_snippets(nb) if s in text and s not in other]
    assert not leaked, f"solution code on the page: {leaked[:3]}"
    assert "raise NotImplementedError()" in text       # the student's stub is shown instead


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_download_is_the_student_version(site, nb):
    src = (site / "_sources" / "notebooks" / f"{nb.stem}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in src and "HIDDEN TESTS" not in src
    assert src == (ROOT / "student" / f"{nb.stem}.ipynb").read_text()


def test_launch_buttons_open_the_student_version(site):
    html = (site / "notebooks" / f"{NOTEBOOKS[0].stem}.html").read_text()
    assert re.search(r"colab\.research\.google\.com/github/[^\"]+/blob/main/student/01_basics\.ipynb", html)
    assert re.search(r"mybinder\.org/v2/gh/[^\"]+urlpath=lab/tree/student/01_basics\.ipynb", html)


def test_no_cdn_in_the_pages(site):
    for page in site.rglob("*.html"):
        html = page.read_text()
        scripts = re.findall(r"<script[^>]+src=\"([^\"]+)\"", html)
        remote = [s for s in scripts if s.startswith(("http:", "https:", "//"))]
        assert not remote, f"{page.name} loads {remote}"


def test_solutions_can_be_shown_collapsed(tmp_path):
    if not (ROOT / "node_modules").exists():
        pytest.skip("node_modules missing: run ./course install (needs npm)")
    site = build(tmp_path, solutions="hide")
    html = (site / "notebooks" / f"{NOTEBOOKS[0].stem}.html").read_text()
    text = page_text(html)
    assert "return x @ W.T + b" in text            # chapter 1's first solution, present...
    assert "tag_hide-input" in html                # ...but collapsed behind a toggle
    assert "HIDDEN TESTS" not in text


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    handler = lambda *a, **k: _Quiet(*a, directory=str(site), **k)  # noqa: E731
    httpd = socketserver.TCPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.skip("Chromium is not installed (.ci/run installs it: apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        yield b
        b.close()


def visit(browser, url):
    page = browser.new_page(viewport={"width": 1200, "height": 1600})
    log = {"outside": [], "console": [], "failed": []}
    host = url.split("/")[2]
    page.on("request", lambda r: None if r.url.split("/")[2] == host or r.url.startswith("data:")
            else log["outside"].append(r.url))
    page.on("console", lambda m: log["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log["console"].append(str(e)))
    page.on("requestfailed", lambda r: log["failed"].append(r.url))
    page.route(re.compile(r"^(?!http://127\.0\.0\.1).*"), lambda route: route.abort())
    page.goto(url, wait_until="networkidle")
    page.wait_for_timeout(1500)
    return page, log


def unexplained(messages):
    return [m for m in messages if not any(re.search(p, m, re.I) for p in KNOWN_CONSOLE)]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_page_renders_in_chromium(server, browser, nb):
    page, log = visit(browser, f"{server}/notebooks/{nb.stem}.html")
    try:
        page.wait_for_selector("mjx-container", state="attached", timeout=20000)
        assert page.locator("mjx-container").count() > 10, "math was not typeset"
        body = page.inner_text("article")
        assert "$$" not in body, "raw TeX left on the page"
        figures = page.locator(".cell_output img")
        assert figures.count() >= 1, "no figures"
        assert all(figures.nth(i).evaluate("e => e.naturalWidth > 0") for i in range(figures.count()))
        assert not log["outside"], f"requests outside the site: {log['outside'][:5]}"
        assert not log["failed"], f"failed requests: {log['failed'][:5]}"
        assert not unexplained(log["console"]), f"console errors: {unexplained(log['console'])}"
    finally:
        page.close()


def test_explorer_works_without_a_kernel(server, browser):
    """Chapter 1's explorer: the widget renders from the saved state and its dropdown picks
    another pre-drawn picture in the browser."""
    page, log = visit(browser, f"{server}/notebooks/01_basics.html")
    try:
        page.wait_for_selector(".course-explorer select", timeout=20000)
        visible = lambda: page.evaluate(  # noqa: E731
            "() => [...document.querySelectorAll('.course-explorer img')]"
            ".filter(i => i.offsetParent !== null).map(i => i.src)")
        before = visible()
        assert len(before) == 1, before
        page.select_option(".course-explorer select", label="Tanh")
        page.wait_for_timeout(500)
        after = visible()
        assert len(after) == 1 and after != before
        assert not unexplained(log["console"]), unexplained(log["console"])
    finally:
        page.close()
