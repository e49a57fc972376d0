"""The site: builds with warnings as errors from the stored outputs, publishes no hidden test
and (by default) no solution code, serves the student version for download, and renders in
headless Chromium with typeset math, figures and working explorers, with no request outside
the site and no unexplained console error.

Math is checked as a reader sees it (MATH_CHECK_JS): MathJax error nodes, TeX typeset as
literal text, TeX control words or dollar signs left in the prose, and math cut off at the
column. tests/fixtures/site_math/ holds one small page per kind of breakage, typeset by the
MathJax the site vendors, and a clean page; the fixture tests prove the check reports each."""
import functools
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
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "site_math"
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


def test_diagrams_are_on_the_pages_by_name(site):
    """Each chapter's diagrams (tests/test_diagrams.py DIAGRAMS) are on its page, loaded from a
    file of the site, with non-empty alt text."""
    from .test_diagrams import DIAGRAMS, svg_name
    for chapter, names in DIAGRAMS.items():
        html = (site / "notebooks" / f"{chapter}.html").read_text()
        for name in names:
            m = re.search(rf'<img[^>]*src="([^"]*{re.escape(svg_name(chapter, name))})"[^>]*>', html)
            assert m, f"{svg_name(chapter, name)} is not on the {chapter} page"
            assert (site / "notebooks" / m.group(1)).resolve().exists(), m.group(1)
            assert re.search(r'alt="[^"]{10,}"', m.group(0)), f"{name}: no alt text on the page"


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


def serve(directory, handler=_Quiet):
    """Serve a folder on a free local port; returns (url, server)."""
    handler = functools.partial(handler, directory=str(directory))
    httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", httpd


@pytest.fixture(scope="module")
def server(site):
    url, httpd = serve(site)
    yield url
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


# ---------------------------------------------------------------------------------------------
# Math as a reader sees it
# ---------------------------------------------------------------------------------------------

# Run in the page with the root element (or a selector for it); returns a list of
# {kind, where, text}. Kinds:
#   mathjax-error        a MathJax error node (a TeX error such as a missing argument)
#   tex-in-typeset-text  a backslash in text that MathJax typeset literally: \_ inside \text{},
#                        or an undefined control word (MathJax shows it as red text)
#   tex-in-prose         a TeX control word (\frac, \operatorname, ...) or a \( \[ delimiter in
#                        the page's text outside code and math: math the site never parsed
#   dollar-in-prose      a dollar sign in the text outside code and math (unbalanced $ / $$)
#   math-cut-off         math wider than the box that shows it, with no scroll bar between:
#                        clipped (overflow: hidden) or spilling out of the column
# Collapsed <details> are opened while measuring, so the math of hidden answers counts too.
MATH_CHECK_JS = r"""
(root) => {
  root = (typeof root === "string" ? document.querySelector(root) : root) || document.body;
  const problems = [];
  const short = (s) => (s || "").replace(/\s+/g, " ").trim().slice(0, 200);
  const where = (el) => {
    const sec = el.closest("section");
    const h = sec && sec.querySelector("h1, h2, h3, h4");
    return h ? short(h.textContent).replace(/#$/, "") : "(page)";
  };
  const add = (kind, el, text) => problems.push({kind, where: where(el), text: short(text)});
  const mj = window.MathJax;
  const items = (mj && mj.startup && mj.startup.document && mj.startup.toMML)
    ? [...mj.startup.document.math].filter((i) => i.typesetRoot && root.contains(i.typesetRoot))
    : [];
  const texOf = (node) => (items.find((i) => i.typesetRoot === node) || {}).math || "";
  // 1. MathJax's error nodes, and TeX it typeset as literal text.
  for (const e of root.querySelectorAll("mjx-merror, .MathJax_Error"))
    add("mathjax-error", e, (e.getAttribute("data-mjx-error") || e.textContent)
        + "   in   " + texOf(e.closest("mjx-container")));
  for (const e of root.querySelectorAll("*:not(script):not(style)"))
    if (!e.children.length && /Math input error/.test(e.textContent))
      add("mathjax-error", e, e.textContent);
  for (const item of items) {
    const mml = mj.startup.toMML(item.root);
    if (/<merror/.test(mml)) continue;          // reported above, with MathJax's message
    for (const m of mml.matchAll(/<mtext[^>]*>([^<]*)<\/mtext>/g))
      if (m[1].includes("\\"))
        add("tex-in-typeset-text", item.typesetRoot, m[1] + "   in   " + item.math);
  }
  // 2. TeX and dollar signs in the text outside code and math.
  const SKIP = "pre, code, kbd, samp, script, style, textarea, mjx-container, .MathJax, "
             + ".headerlink";
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    if (!/[\\$]/.test(t.nodeValue) || t.parentElement.closest(SKIP)) continue;
    const m = t.nodeValue.match(/\\[A-Za-z]+|\\[()\[\]{}_]|\$/);
    if (!m) continue;
    const block = t.parentElement.closest("p, li, td, th, dd, dt, h1, h2, h3, h4, h5, h6, div")
                  || t.parentElement;
    add(m[0] === "$" ? "dollar-in-prose" : "tex-in-prose", t.parentElement,
        m[0] + "   in   " + block.textContent);
  }
  // 3. Math cut off: walking up from the math, a scrolling box means a reader can reach it;
  //    a clipping box (or the column itself) that it sticks out of means it is cut.
  const closed = [...root.querySelectorAll("details:not([open])")];
  closed.forEach((d) => (d.open = true));
  for (const c of root.querySelectorAll("mjx-container")) {
    const r = (c.querySelector("mjx-math") || c).getBoundingClientRect();
    if (r.width === 0) continue;
    for (let a = c; a; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if (ox === "auto" || ox === "scroll") break;
      if (ox === "hidden" || ox === "clip" || a === root) {
        const b = a.getBoundingClientRect(), out = Math.max(r.right - b.right, b.left - r.left);
        if (out > 2) {
          add("math-cut-off", c,
              `${Math.round(r.width)} px wide, ${Math.round(out)} px cut: ${texOf(c)}`);
          break;
        }
      }
      if (a === root) break;
    }
  }
  closed.forEach((d) => (d.open = false));
  return problems;
}
"""

WAIT_FOR_MATHJAX_JS = """async () => {
  for (let i = 0; i < 400 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise((r) => setTimeout(r, 50));
  if (!(window.MathJax && MathJax.startup)) return false;
  await MathJax.startup.promise;
  return true;
}"""


def math_problems(page, root="article.bd-article"):
    """The math problems on a loaded page (after MathJax has finished), without repeats."""
    assert page.evaluate(WAIT_FOR_MATHJAX_JS), "MathJax did not start"
    seen, out = set(), []
    for p in page.evaluate(MATH_CHECK_JS, root):
        key = (p["kind"], p["where"], p["text"])
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def describe(problems):
    return "\n".join(f"  [{p['kind']}] {p['where']}: {p['text']}" for p in problems)


@pytest.fixture(scope="module")
def fixture_server():
    """The fixture pages, with the MathJax that the site vendors at /mathjax/."""
    mathjax = ROOT / "node_modules" / "mathjax" / "es5"
    if not mathjax.exists():
        pytest.skip("node_modules missing: run ./course install (needs npm)")

    class Handler(_Quiet):
        def translate_path(self, path):
            if path.startswith("/mathjax/"):
                return str(mathjax / path.split("?")[0][len("/mathjax/"):])
            return super().translate_path(path)

    url, httpd = serve(FIXTURES, Handler)
    yield url
    httpd.shutdown()


@pytest.fixture(scope="module")
def fixture_page(browser):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    yield page
    page.close()


BROKEN_FIXTURES = {  # page -> the one kind of problem the check must report on it
    "mathjax_error": "mathjax-error",
    "undefined_macro": "tex-in-typeset-text",
    "text_escape": "tex-in-typeset-text",
    "raw_tex": "tex-in-prose",
    "dollar": "dollar-in-prose",
    "cut_inline": "math-cut-off",
    "cut_display": "math-cut-off",
}


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(BROKEN_FIXTURES))
def test_math_check_catches_broken_fixture(fixture_server, fixture_page, name):
    fixture_page.goto(f"{fixture_server}/{name}.html")
    problems = math_problems(fixture_page)
    kinds = {p["kind"] for p in problems}
    assert kinds == {BROKEN_FIXTURES[name]}, describe(problems) or "nothing reported"


@pytest.mark.browser
def test_math_check_passes_clean_fixture(fixture_server, fixture_page):
    """Typeset inline and display math (a display wider than the column, which scrolls), TeX
    and dollars in code, math inside collapsed answers: nothing to report."""
    fixture_page.goto(f"{fixture_server}/clean.html")
    problems = math_problems(fixture_page)
    assert not problems, describe(problems)
    assert fixture_page.locator("mjx-container").count() == 6
    assert fixture_page.locator("details mjx-container").count() == 2
    wide = fixture_page.locator("div.math mjx-container").first
    assert wide.evaluate("e => e.scrollWidth > e.clientWidth + 50"), \
        "the clean page must hold a display that scrolls"


def test_fixtures_typeset_as_the_site_does(site):
    """The fixture pages load MathJax with the site's own configuration."""
    config = re.compile(r"<script>window\.MathJax = .*?</script>")
    site_config = config.findall((site / "notebooks" / f"{NOTEBOOKS[0].stem}.html").read_text())
    assert len(site_config) == 1, site_config
    for page in FIXTURES.glob("*.html"):
        assert config.findall(page.read_text()) == site_config, page.name


# ---------------------------------------------------------------------------------------------
# The chapter pages, each loaded once
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chapter(server, browser):
    """chapter(nb) -> what the rendered page shows, read in one visit per chapter."""
    cache = {}

    def read(nb):
        if nb.stem not in cache:
            page, log = visit(browser, f"{server}/notebooks/{nb.stem}.html")
            try:
                page.wait_for_selector("mjx-container", state="attached", timeout=20000)
                figures = page.locator(".cell_output img")
                widths = [figures.nth(i).evaluate("e => e.naturalWidth")
                          for i in range(figures.count())]
                cache[nb.stem] = {
                    "log": log,
                    "mjx": page.locator("mjx-container").count(),
                    "text": page.inner_text("article"),
                    "figures": widths,
                    "math": math_problems(page),
                    "answers": page.evaluate(ANSWERS_JS),
                    "explorers": page.locator(".course-explorer").count(),
                    "explorer_images": page.evaluate(
                        "() => [...document.querySelectorAll('.course-explorer img')]"
                        ".map(i => ({src: i.src.slice(0, 40), alt: i.getAttribute('alt')}))"),
                }
            finally:
                page.close()
        return cache[nb.stem]
    return read


@pytest.mark.browser
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_page_renders_in_chromium(chapter, nb):
    seen = chapter(nb)
    assert seen["mjx"] > 10, "math was not typeset"
    assert "$$" not in seen["text"], "raw TeX left on the page"
    assert len(seen["figures"]) >= 1, "no figures"
    assert all(w > 0 for w in seen["figures"]), "a figure did not load"
    log = seen["log"]
    assert not log["outside"], f"requests outside the site: {log['outside'][:5]}"
    assert not log["failed"], f"failed requests: {log['failed'][:5]}"
    assert not unexplained(log["console"]), f"console errors: {unexplained(log['console'])}"


@pytest.mark.browser
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_math_is_not_broken(chapter, nb):
    """No MathJax error, no TeX or dollar sign left in the prose, no math cut off (see
    MATH_CHECK_JS; each kind is proven caught by a broken fixture page above)."""
    problems = chapter(nb)["math"]
    assert not problems, f"{len(problems)} broken math on the {nb.stem} page:\n" \
        + describe(problems)


# The self-check answer blocks of a page: HTML <details> (collapsed everywhere a student meets
# the notebook) and MyST dropdown admonitions (collapsed on the site only).
ANSWERS_JS = """() => ({
  details: [...document.querySelectorAll("article.bd-article details")]
    .filter((d) => /answer/i.test((d.querySelector(":scope > summary") || {}).textContent || ""))
    .map((d) => ({open: d.open, math: d.querySelectorAll("mjx-container").length})),
  dropdowns: [...document.querySelectorAll("article.bd-article .admonition.dropdown")]
    .filter((a) => /answer/i.test((a.querySelector(".admonition-title") || {}).textContent || ""))
    .length,
})"""


@pytest.mark.browser
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_self_check_answers_are_details_blocks(chapter, nb):
    """Every chapter's answers are in a closed <details> block, not a MyST dropdown (which
    JupyterLab, Binder and Colab show in plain sight). Chapter 1's block is opened below."""
    answers = chapter(nb)["answers"]
    assert not answers["dropdowns"], \
        "answers in a MyST dropdown: use <details><summary>Answers</summary>"
    assert answers["details"], "no <details><summary>Answers</summary> block on the page"
    assert not any(d["open"] for d in answers["details"]), "an answers block is open by default"


@pytest.mark.browser
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_explorer_images_have_alt_text(chapter, nb):
    """Every pre-drawn explorer frame on the page carries alt text (for screen readers and
    when the picture does not load)."""
    seen = chapter(nb)
    images = seen["explorer_images"]
    if "explorer(" in visible_elsewhere(nb):
        assert seen["explorers"] >= 1 and images, "the chapter's explorer did not render"
    missing = [i for i in images if not (i["alt"] or "").strip()]
    assert not missing, f"{len(missing)} of {len(images)} explorer images have no alt text"


@pytest.mark.browser
def test_explorer_works_without_a_kernel(server, browser):
    """Chapter 1's explorer: the widget renders from the saved state and its dropdown picks
    another pre-drawn picture in the browser, which has its own alt text."""
    page, log = visit(browser, f"{server}/notebooks/01_basics.html")
    try:
        page.wait_for_selector(".course-explorer select", timeout=20000)
        visible = lambda: page.evaluate(  # noqa: E731
            "() => [...document.querySelectorAll('.course-explorer img')]"
            ".filter(i => i.offsetParent !== null).map(i => [i.src, i.getAttribute('alt')])")
        before = visible()
        assert len(before) == 1, before
        page.select_option(".course-explorer select", label="Tanh")
        page.wait_for_timeout(500)
        after = visible()
        assert len(after) == 1 and after[0][0] != before[0][0]
        assert all((alt or "").strip() for _, alt in before + after), \
            "the frame shown has no alt text"
        assert not unexplained(log["console"]), unexplained(log["console"])
    finally:
        page.close()


# ---------------------------------------------------------------------------------------------
# Self-check answers: collapsed until asked for, with typeset math inside
# ---------------------------------------------------------------------------------------------

# The text of a <details> block outside its <summary>, and how much of it the browser shows
# (a closed block lays its content out but hides it: checkVisibility tells). Bare text nodes
# (unparsed Markdown) are wrapped in a span for the moment of the check.
ANSWER_SHOWN_JS = """d => {
  let text = "", shown = 0;
  for (const n of [...d.childNodes]) {
    if (n.nodeName === "SUMMARY" || !n.textContent.trim()) continue;
    text += n.textContent;
    if (n.nodeType === Node.ELEMENT_NODE) { shown += n.checkVisibility() ? 1 : 0; continue; }
    const span = document.createElement("span");
    n.replaceWith(span);
    span.appendChild(n);
    shown += span.checkVisibility() ? 1 : 0;
    span.replaceWith(n);
  }
  return {text: text.trim(), shown};
}"""


def check_answers_block(page, details, label):
    """Shared by the site and the JupyterLab test: `details` (a Locator of one <details> block
    holding self-check answers) is closed, hides its answers, and shows them with typeset math
    and no raw TeX once its summary is clicked."""
    before = details.evaluate(ANSWER_SHOWN_JS)
    assert before["text"], f"{label}: the answers block is empty"
    assert details.evaluate("d => d.open") is False, f"{label}: the answers are open by default"
    assert before["shown"] == 0, f"{label}: answer text is visible before the block is opened"
    details.locator(":scope > summary").click()
    page.wait_for_timeout(300)
    assert details.evaluate("d => d.open") is True, f"{label}: clicking the summary did not open it"
    assert details.evaluate(ANSWER_SHOWN_JS)["shown"] > 0, f"{label}: no answer visible once opened"
    math = details.locator("mjx-container")
    assert math.count() >= 1, f"{label}: no typeset math inside the answers"
    assert math.first.is_visible(), f"{label}: the answers' math is not visible once opened"
    problems = page.evaluate(MATH_CHECK_JS, details.element_handle())
    assert not problems, f"{label}: broken math in the answers:\n" + describe(problems)


ANSWERS_FIXTURES = {  # page -> what check_answers_block must say (None: it passes)
    "clean": None,
    "answers_open": "open by default",
    "answers_unparsed": "no typeset math inside the answers",
}


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(ANSWERS_FIXTURES))
def test_answers_check_on_fixtures(fixture_server, fixture_page, name):
    fixture_page.goto(f"{fixture_server}/{name}.html")
    assert fixture_page.evaluate(WAIT_FOR_MATHJAX_JS)
    block = fixture_page.locator("details").first
    if ANSWERS_FIXTURES[name] is None:
        check_answers_block(fixture_page, block, name)
    else:
        with pytest.raises(AssertionError, match=ANSWERS_FIXTURES[name]):
            check_answers_block(fixture_page, block, name)


@pytest.mark.browser
def test_self_check_answers_are_collapsed_with_typeset_math(server, browser):
    """The chapter's self-check answers are an HTML <details> block (collapsed on the site, in
    JupyterLab, Binder and Colab alike); opened, they show typeset math."""
    page, log = visit(browser, f"{server}/notebooks/{NOTEBOOKS[0].stem}.html")
    try:
        assert page.evaluate(WAIT_FOR_MATHJAX_JS), "MathJax did not start"
        blocks = page.locator("article.bd-article details").filter(
            has=page.locator(":scope > summary", has_text=re.compile("answer", re.I)))
        assert blocks.count() >= 1, ("no <details><summary>Answers</summary> block on the page "
                                     "(a MyST dropdown admonition is collapsed only on the site)")
        for i in range(blocks.count()):
            label = f"site {NOTEBOOKS[0].stem}, answers block {i + 1}"
            check_answers_block(page, blocks.nth(i), label)
    finally:
        page.close()
