"""The course site of ``make book`` (scripts/build_book.py): built, then read as a student would, offline.

The site is built from the committed notebooks into a temporary folder and served on 127.0.0.1.
Headless Chromium opens every page and checks that its images load, that its math is typeset by the
bundled MathJax (no raw ``$...$`` left in the text, no TeX error), that every internal link leads to
a page of the site (and to an existing anchor), that prev/next follow the reading order, and that no
request leaves loopback.

The widgets that the site draws view by view are checked twice: in the built pages (which widgets, how many views,
how many bytes) and in Chromium, where moving a control swaps the figure.

The browser part needs Debian's ``chromium`` (``.ci/run`` installs it) and ``playwright`` (the test
extra); Playwright's own browser downloads are not used. The build checks need neither.
"""

import functools
import html
import http.server
import json
import re
import shutil
import sys
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402

from proxygml_lite import atomic_writers  # noqa: E402

pytestmark = pytest.mark.slow  # the site built from every notebook, browsed in Chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium), as .ci/run installs it"
)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "book"
    report = build_book.build(out, quiet=True)
    return report


def _pages(book):
    return {page.name: (book.out / page.name).read_text(encoding="utf-8") for page in book.pages}


# ------------------------------------------------------------------------------- the build itself


def test_book_has_every_notebook_the_contents_and_the_glossary_in_reading_order(book):
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    names = [page.name for page in book.pages]
    assert names == ["index.html"] + [f"{stem}.html" for stem in notebooks] + ["GLOSSARY.html"]
    for name in names:
        assert (book.out / name).is_file()
    assert (book.out / "_static" / "mathjax" / "MathJax.js").is_file()
    assert (book.out / "_static" / "mathjax" / "LICENSE").is_file()


def test_a_remote_image_becomes_its_alternative_text_so_the_colab_badge_stays_a_link(book):
    page = _pages(book)["01_proxies_and_similarity_graph.html"]
    assert re.search(r'<a\b[^>]*href="https://colab\.research\.google\.com/[^"]*"[^>]*>\s*'
                     r'<span class="book-remote">Open In Colab</span>', page)  # fmt: skip


def test_book_pages_load_nothing_from_the_network_and_link_html_pages(book):
    for name, text in _pages(book).items():
        loads = re.findall(r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)=\"([^\"]*)\"", text)
        remote = [url for url in loads if re.match(r"^(https?:)?//", url)]
        assert remote == [], f"{name} loads {remote}"
        assert "@import" not in text, name
        for href in re.findall(r'<a\b[^>]*\bhref="([^"]*)"', text):
            if not re.match(r"^[a-z]+:", href):
                assert not re.search(r"\.(ipynb|md|py)(#|$)", href), f"{name}: link {href} not rewritten to .html"


def test_widgets_are_drawn_from_their_saved_state(book):
    pages = _pages(book)
    for name, text in pages.items():
        assert "application/vnd.jupyter.widget" not in text, f"{name}: a widget left for a JavaScript renderer"
    widgets = [chunk for text in pages.values() for chunk in text.split('class="book-widget"')[1:]]
    assert widgets, "the notebooks have widgets; the site should show them in their saved state"
    # At least one is drawn with its sliders (disabled, at their saved values) and its saved figure.
    drawn = []
    for chunk in widgets:
        chunk = chunk[: chunk.find('class="book-widget"')] if 'class="book-widget"' in chunk else chunk
        slider = re.search(r'<input\b[^>]*type="range"[^>]*>', chunk)
        drawn.append(bool(slider and "disabled" in slider.group(0) and "<img" in chunk))
    assert any(drawn)


#: The widgets the site draws view by view: every widget of notebooks 1, 4 and 8-11 (those of 2 and 3 have one
#: view per sample, those of 5-7 show runs trained in the notebook).
LIVE = {
    "01_proxies_and_similarity_graph": ("similarity_widget",),
    "04_mask_softmax_loss_gradients": ("gradient_widget",),
    "08_parameter_study_N_r": ("compare_cells_widget",),
    "09_umap_proxies": ("umap_widget",),
    "10_ablation_table": ("ablation_widget", "compare_cells_widget"),
    "11_efficiency": ("cost_widget",),
}
#: What the views may add to the site (it was 19 MB without them, 12 MB of it MathJax).
MAX_VIEW_BYTES = 8_000_000


def _manifests(text: str) -> list[dict]:
    return [
        json.loads(html.unescape(m))
        for m in re.findall(r'<div class="book-widget book-views" data-book-views="([^"]*)"', text)
    ]


def test_the_widgets_of_notebooks_1_4_and_8_to_11_are_drawn_view_by_view(book):
    pages = _pages(book)
    drawn = sorted(line.split(":")[0] for line in book.live_widgets)
    assert drawn == sorted(f"{stem}.ipynb" for stem, builders in LIVE.items() for _ in builders)
    for stem, builders in LIVE.items():
        for builder in builders:
            assert any(line.startswith(f"{stem}.ipynb: {builder}: ") for line in book.live_widgets)
        text = pages[f"{stem}.html"]
        manifests = _manifests(text)
        assert len(manifests) == len(builders)
        for manifest in manifests:
            assert len(manifest["views"]) <= build_book.MAX_VIEWS
            assert len(manifest["views"]) == np.prod(manifest["sizes"])
            for file in manifest["views"]:
                assert file is None or re.fullmatch(r"_views/[0-9a-f]{16}\.png", file) and (book.out / file).is_file()
        assert '<script src="_static/book_views.js"></script>' in text and "Interactive widget: its " in text
        assert "shown in its saved state" not in text  # none of these pages' widgets fell back
    # the others keep their saved state and its note
    for stem in ("02_subgraph_construction", "03_reverse_label_propagation", "05_training_on_toy_data"):
        assert "Interactive widget, shown in its saved state" in pages[f"{stem}.html"]
        assert "book_views.js" not in pages[f"{stem}.html"]
    assert book.saved_widgets == 5
    views = sum(path.stat().st_size for path in (book.out / "_views").iterdir())
    assert views == book.view_bytes <= MAX_VIEW_BYTES
    assert (book.out / "_static" / "book_views.js").read_text() == build_book.VIEWS_JS


def test_the_script_numbers_views_as_the_declaration_does():
    """The view of the nth combination: the builder writes it at Views.index, the script reads it there."""
    from proxygml_lite.lab import book_views

    views = book_views.declared("10_ablation_table", "ablation_widget")()
    assert views.count == 4 and views.index({"metric": "NMI", "paper": False}) == 2
    assert "number = number * size + digit(control)" in build_book.VIEWS_JS
    assert "value += 1 << Number" in build_book.VIEWS_JS  # a subset's digit is its bit mask, as in Control.digit


def _course_with(tmp_path, stem: str) -> Path:
    """A notebooks folder with the contents page and the committed notebook ``stem``."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(ROOT / "notebooks" / "README.md", notebooks / "README.md")
    shutil.copy(ROOT / "notebooks" / f"{stem}.ipynb", notebooks)
    return notebooks


def test_a_widget_with_more_views_than_the_cap_keeps_its_saved_state(tmp_path):
    notebooks = _course_with(tmp_path, "10_ablation_table")
    report = build_book.build(tmp_path / "book", notebooks, quiet=True, max_views=3)
    assert "10_ablation_table.ipynb: ablation_widget: 4 views, more than 3; shown in its saved state" in report.warnings
    page = (tmp_path / "book" / "10_ablation_table.html").read_text()
    assert "Interactive widget, shown in its saved state" in page and "data-book-views" not in page
    assert not (tmp_path / "book" / "_views").exists() and report.live_widgets == []
    report = build_book.build(tmp_path / "book", notebooks, quiet=True, max_views=4)
    (line,) = report.live_widgets  # the size follows the figures (two panels since issue 17)
    assert line == f"10_ablation_table.ipynb: ablation_widget: 4 views ({report.view_bytes / 1e6:.1f} MB)"


def test_a_view_that_cannot_be_drawn_is_its_message_or_the_saved_state(tmp_path, monkeypatch):
    """A choice the draw function refuses (ValueError) becomes the line the live widget would show; any other
    error leaves the whole widget in its saved state, with no view files behind."""
    from proxygml_lite.lab import book_views
    from proxygml_lite.teaching.views import Views

    notebooks = _course_with(tmp_path, "10_ablation_table")
    real = book_views.declared("10_ablation_table", "ablation_widget")()

    def declare(error):
        def draw(**arguments):
            if arguments["metric"] == "NMI" and not arguments["paper"]:
                raise error
            return real.draw(**arguments)

        return lambda: Views(draw, real.controls, real.fixed)

    monkeypatch.setitem(book_views.DECLARED, "10_ablation_table", {"ablation_widget": declare(ValueError("no NMI"))})
    report = build_book.build(tmp_path / "book", notebooks, quiet=True)
    (manifest,) = _manifests((tmp_path / "book" / "10_ablation_table.html").read_text())
    number = real.index({"metric": "NMI", "paper": False})
    assert manifest["views"][number] is None and manifest["messages"] == {str(number): "no NMI"}
    assert len(report.live_widgets) == 1

    monkeypatch.setitem(book_views.DECLARED, "10_ablation_table", {"ablation_widget": declare(KeyError("bug"))})
    report = build_book.build(tmp_path / "book", notebooks, quiet=True)
    assert report.live_widgets == [] and report.view_bytes == 0
    assert any("cannot be drawn (KeyError: 'bug'); shown in its saved state" in w for w in report.warnings)
    assert not list((tmp_path / "book").glob("_views/*"))


def test_a_widget_whose_notebook_saved_another_figure_keeps_its_saved_state(tmp_path):
    """The notebook changed the widget's inputs (here: its saved figure is another one): the package's views
    would not be the notebook's, so the site shows what the notebook saved."""
    import nbformat

    notebooks = _course_with(tmp_path, "10_ablation_table")
    path = notebooks / "10_ablation_table.ipynb"
    notebook = nbformat.read(path, as_version=4)
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    figures = [o for m in state.values() for o in m["state"].get("outputs", []) if "image/png" in o.get("data", {})]
    assert figures
    other = nbformat.read(ROOT / "notebooks" / "08_parameter_study_N_r.ipynb", as_version=4)
    figures[0]["data"]["image/png"] = next(
        o["data"]["image/png"] for c in other.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    )
    nbformat.write(notebook, path)
    report = build_book.build(tmp_path / "book", notebooks, quiet=True)
    assert len(report.live_widgets) == 1 and report.saved_widgets == 1  # the other widget is still drawn
    assert any("its first view is not the figure the notebook saved" in w for w in report.warnings)


def test_links_to_pages_not_in_the_site_become_text_and_are_reported(tmp_path):
    import nbformat

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    first = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))[0]
    shutil.copy(first, notebooks / first.name)
    (notebooks / "README.md").write_text(
        f"# Contents\n\n[first]({first.name}) · [later](99_not_written.ipynb) · [steps](../proxygml_lite/steps.py)"
        " · [glossary section](GLOSSARY.md#one-letter-two-meanings) · [paper](https://example.org/paper)\n\n"
        "Math $S = XP^\\top$.\n"
    )
    (notebooks / "GLOSSARY.md").write_text("# Glossary\n\n## One letter, two meanings\n\n$M$ and $P$.\n")
    (notebooks / "99_not_written.py").write_text("# %% [markdown]\n# # 99. Not executed yet\n")
    unexecuted = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nbformat.write(unexecuted, notebooks / "98_unexecuted.ipynb")
    report = build_book.build(tmp_path / "book", notebooks, quiet=True, max_views=0)  # its widget: not the point
    assert any("99_not_written.py has no executed .ipynb" in warning for warning in report.warnings)
    assert any("98_unexecuted.ipynb was never executed" in warning for warning in report.warnings)
    assert not any(f"{first.name} was never executed" in warning for warning in report.warnings)
    index = (tmp_path / "book" / "index.html").read_text()
    assert f'href="{first.stem}.html"' in index
    assert 'href="GLOSSARY.html#one-letter-two-meanings"' in index
    assert 'href="https://example.org/paper"' in index  # absolute links stay links (a click, not a load)
    assert "99_not_written" not in re.findall(r'href="([^"]*)"', index).__str__()
    assert any("99_not_written.ipynb" in warning for warning in report.warnings)
    assert any("steps.py" in warning for warning in report.warnings)
    glossary = (tmp_path / "book" / "GLOSSARY.html").read_text()
    assert 'id="one-letter-two-meanings"' in glossary


def _small_course(folder: Path) -> Path:
    """A notebooks folder with the contents page and the first notebook only (a quick build)."""
    notebooks = folder / "notebooks"
    notebooks.mkdir()
    shutil.copy(ROOT / "notebooks" / "README.md", notebooks / "README.md")
    shutil.copy(sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))[0], notebooks)
    return notebooks


def test_build_replaces_the_site_as_a_whole_and_nothing_else(tmp_path):
    notebooks = _small_course(tmp_path)
    out = tmp_path / "book"
    build_book.build(out, notebooks, quiet=True, max_views=0)
    (out / "stale.html").write_text("old")
    build_book.build(out, notebooks, quiet=True, max_views=0)
    assert not (out / "stale.html").exists() and (out / "index.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book", "notebooks"], "the staging folder was left behind"
    assert (out.stat().st_mode & 0o777) == (0o777 & ~atomic_writers.current_umask()), "the site is not private"
    # A folder that is not a built site is never deleted.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(SystemExit, match="refusing to replace"):
        build_book.build(tmp_path / "mine", notebooks, quiet=True, max_views=0)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_build_without_notebooks_says_so(tmp_path):
    (tmp_path / "README.md").write_text("# Contents\n")
    with pytest.raises(SystemExit, match="no notebooks"):
        build_book.build(tmp_path / "book", tmp_path, quiet=True)


# ------------------------------------------------------------------------------------ in a browser


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(book):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(book.out))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(site):
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[test]')")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# Text nodes outside code, scripts and styles that still hold TeX delimiters: math MathJax did not typeset.
RAW_MATH = r"""() => {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {acceptNode(node) {
        const skip = node.parentElement.closest('script, style, pre, code, textarea, .MathJax, .MathJax_Display');
        return skip ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
    }});
    const raw = [];
    while (walker.nextNode()) {
        const text = walker.currentNode.textContent;
        if (/\$[^$\s][^$]*\$|\\\(|\\\[|\$\$/.test(text)) raw.push(text.trim().slice(0, 80));
    }
    return raw;
}"""

PAGE_FACTS = """() => ({
    images: [...document.images].map(img => ({src: img.src.slice(0, 60), ok: img.complete && img.naturalWidth > 0})),
    typeset: document.querySelectorAll('script[type^="math/tex"]').length,
    rendered: document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_SVG, mjx-container').length,
    errors: [...document.querySelectorAll('.MathJax .merror, .MathJax_Error, .noError, [mathcolor="red"]')]
              .map(e => e.textContent.slice(0, 60)),
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
    prev: (a => a ? a.getAttribute('href') : null)(document.querySelector('nav.book-nav .book-prev a')),
    next: (a => a ? a.getAttribute('href') : null)(document.querySelector('nav.book-nav .book-next a')),
})"""


def _stays_on_this_machine(url: str) -> bool:
    """Whether loading ``url`` needs no network: loopback (127.0.0.0/8, localhost, ::1) or an inline URL."""
    if url.startswith(("data:", "about:", "blob:")):
        return True
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in {"localhost", "::1"} or re.fullmatch(r"127(\.\d{1,3}){3}", host) is not None


def test_only_loopback_and_inline_urls_count_as_offline():
    assert _stays_on_this_machine("http://127.0.0.1:8000/index.html")
    assert _stays_on_this_machine("http://localhost:1/x") and _stays_on_this_machine("http://[::1]:9/x")
    assert _stays_on_this_machine("data:image/png;base64,AAAA") and _stays_on_this_machine("about:blank")
    for url in [
        "https://cdn.jsdelivr.net/npm/mathjax",
        "http://10.0.0.1/x",
        "http://127.0.0.1.example.org/x",
        "//fonts.googleapis.com/css",
        "http://192.168.1.1:8000/",
    ]:
        assert not _stays_on_this_machine(url), url


def _ids(text: str) -> set[str]:
    return {html.unescape(value) for value in re.findall(r'\bid="([^"]*)"', text)}


@needs_browser
def test_every_page_renders_offline_in_chromium(book, site, browser):
    pages = _pages(book)
    names = [page.name for page in book.pages]
    ids = {name: _ids(text) for name, text in pages.items()}
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    off_loopback = []

    def only_loopback(route):
        if _stays_on_this_machine(route.request.url):
            route.continue_()
        else:
            off_loopback.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    failed_loads = []
    problems = []
    try:
        page = context.new_page()

        # Not counted: about:blank frames (Chromium reports them "failed"; they load nothing), and loads
        # cut short by leaving the page (net::ERR_ABORTED). A 404 is a response, counted below.
        def on_failed(request):
            if not (request.url.startswith("about:") or "ERR_ABORTED" in (request.failure or "")):
                failed_loads.append(f"{request.url} {request.failure}")

        page.on("requestfailed", on_failed)
        page.on("response", lambda response: failed_loads.append(response.url) if response.status >= 400 else None)
        for position, name in enumerate(names):
            page.goto(f"{site}/{name}", wait_until="load")
            page.wait_for_selector("html[data-mathjax=done]", state="attached", timeout=60_000)
            facts = page.evaluate(PAGE_FACTS)
            broken = [image["src"] for image in facts["images"] if not image["ok"]]
            if broken:
                problems.append(f"{name}: images that did not load: {broken}")
            if "$" in re.sub(r"<(script|style|pre)\b.*?</\1>", "", pages[name], flags=re.S) and facts["rendered"] == 0:
                problems.append(f"{name}: has math but MathJax rendered none")
            raw = page.evaluate(RAW_MATH)
            if raw:
                problems.append(f"{name}: raw TeX left in the text: {raw[:3]}")
            if facts["errors"]:
                problems.append(f"{name}: TeX errors: {facts['errors'][:3]}")
            for href in facts["links"]:
                if re.match(r"^[a-z]+:", href):
                    continue  # absolute (http:, mailto:): a click, never a load, and not part of the site
                target, _, fragment = href.partition("#")
                target = target or name
                if target not in pages:
                    problems.append(f"{name}: link {href} leads to no page of the site")
                elif fragment and not {fragment, urllib.parse.unquote(fragment)} & ids[target]:
                    # (a browser tries the fragment as written, then percent-decoded)
                    problems.append(f"{name}: link {href} leads to no anchor of {target}")
            expected_prev = names[position - 1] if position > 0 else None
            expected_next = names[position + 1] if position + 1 < len(names) else None
            if (facts["prev"], facts["next"]) != (expected_prev, expected_next):
                problems.append(
                    f"{name}: prev/next are {facts['prev']}/{facts['next']}, expected {expected_prev}/{expected_next}"
                )
        # A link of the navigation bar, followed as a student would.
        page.goto(f"{site}/index.html")
        page.click("nav.book-nav .book-next a")
        page.wait_for_load_state("load")
        assert page.url.endswith(names[1])
    finally:
        context.close()
    assert off_loopback == [], f"requests that left loopback: {off_loopback[:5]}"
    assert failed_loads == [], f"loads that failed: {failed_loads[:5]}"
    assert problems == [], "\n".join(problems)


WIDGET_FACTS = """widget => {
    const image = widget.querySelector('img.book-view');
    return {
        view: widget.getAttribute('data-view'),
        src: image.getAttribute('src'),
        loaded: !image.hidden && image.complete && image.naturalWidth > 0,
        message: widget.querySelector('.book-view-message').hidden ? null
                 : widget.querySelector('.book-view-message').textContent,
        disabled: [...widget.querySelectorAll('[data-control]')].filter(input => input.disabled).length,
        readouts: [...widget.querySelectorAll('output')].map(output => output.textContent),
    };
}"""


@needs_browser
def test_moving_a_widgets_controls_in_the_offline_site_swaps_its_figure(book, site, browser):
    """A student's moves, offline: a slider by keyboard, a menu, a check box, a subset down to nothing."""
    from proxygml_lite.lab import book_views

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    off_loopback = []

    def only_loopback(route):
        if _stays_on_this_machine(route.request.url):
            route.continue_()
        else:
            off_loopback.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()

    def facts(widget):
        return widget.evaluate(WIDGET_FACTS)

    def after(widget, before):
        """The widget's facts once its figure has changed from ``before`` and loaded (or a message shows)."""
        page.wait_for_function(
            "([widget, src]) => widget.querySelector('img.book-view').getAttribute('src') !== src",
            arg=[widget.element_handle(), before["src"]],
        )
        page.wait_for_function(
            "widget => { const i = widget.querySelector('img.book-view'); return i.complete && i.naturalWidth > 0; }",
            arg=widget.element_handle(),
        )
        return facts(widget)

    try:
        # Notebook 8: the x-axis slider, moved with the keyboard, then the two cells' menus.
        page.goto(f"{site}/08_parameter_study_N_r.html", wait_until="load")
        widget = page.locator("div.book-views")
        first = facts(widget)
        assert first["loaded"] and first["disabled"] == 0, first  # the script enabled the controls
        assert first["readouts"] == ["N"]
        views = book_views.declared("08_parameter_study_N_r", "compare_cells_widget")()
        start = views.start()
        slider = widget.locator('input[type="range"]')
        slider.focus()
        page.keyboard.press("ArrowRight")
        moved = after(widget, first)
        assert moved["readouts"] == ["r"] and moved["loaded"]
        assert int(moved["view"]) == views.index({**start, "x": "r"})
        # the figure itself changed: another file, another picture
        assert (book.out / moved["src"]).read_bytes() != (book.out / first["src"]).read_bytes()
        cell_a, cell_b = widget.locator("select").nth(0), widget.locator("select").nth(1)
        other = views.controls[2].values[2]  # a third cell for B
        cell_b.select_option(label=views.controls[2].labels[2])
        changed = after(widget, moved)
        assert int(changed["view"]) == views.index({**start, "x": "r", "b": other}) and changed["loaded"]
        cell_a.select_option(label=views.controls[2].labels[2])  # A = B: the line the live widget would raise
        page.wait_for_function(
            "widget => !widget.querySelector('.book-view-message').hidden", arg=widget.element_handle()
        )
        assert "pick two different cells" in facts(widget)["message"]

        # Notebook 9: a menu (the run), the epoch slider set by mouse-free fill, a refit (n_neighbors) and the
        # trajectories switch: every view is drawn from the committed maps.
        page.goto(f"{site}/09_umap_proxies.html", wait_until="load")
        widget = page.locator("div.book-views")
        first = facts(widget)
        widget.locator("select").first.select_option(label="N = 12")
        run = after(widget, first)
        assert run["loaded"] and run["readouts"] == ["50", "15", "0.1"]
        widget.locator('input[type="checkbox"]').uncheck()  # at epoch 50: the paths go
        plain = after(widget, run)
        assert plain["loaded"]
        widget.locator('input[type="range"]').first.fill("0")
        epoch = after(widget, plain)
        assert epoch["readouts"] == ["0", "15", "0.1"]
        widget.locator('input[type="range"]').nth(1).fill("1")
        refit = after(widget, epoch)
        assert refit["loaded"] and refit["readouts"] == ["0", "50", "0.1"]

        # Notebook 10: a switch, then the second widget's cell B (its two menus, R@1 only). Notebooks 1 and 4: a
        # slider each.
        page.goto(f"{site}/10_ablation_table.html", wait_until="load")
        widget = page.locator("div.book-views").first
        first = facts(widget)
        widget.locator('input[type="checkbox"]').uncheck()
        assert after(widget, first)["loaded"]
        widget = page.locator("div.book-views").nth(1)
        views = book_views.declared("10_ablation_table", "compare_cells_widget")()
        first = facts(widget)
        assert first["loaded"] and first["disabled"] == 0, first
        widget.locator("select").nth(1).select_option(label=views.controls[1].labels[2])
        picked = after(widget, first)
        assert int(picked["view"]) == views.index({**views.start(), "b": views.controls[1].values[2]})
        for name, readout in (("01_proxies_and_similarity_graph", "2"), ("04_mask_softmax_loss_gradients", "0")):
            page.goto(f"{site}/{name}.html", wait_until="load")
            widget = page.locator("div.book-views")
            first = facts(widget)
            slider = widget.locator('input[type="range"]').first
            slider.focus()
            page.keyboard.press("ArrowLeft")
            moved = after(widget, first)
            assert moved["loaded"] and moved["readouts"][0] == readout, (name, moved)
    finally:
        context.close()
    assert off_loopback == [], f"requests that left loopback: {off_loopback[:5]}"


@needs_browser
def test_the_math_check_catches_untypeset_math(tmp_path, browser):
    """The browser checks above can fail: a page without MathJax keeps its raw $...$."""
    page_file = tmp_path / "plain.html"
    page_file.write_text("<html><body><p>The graph $S = XP^\\top$.</p><pre>price = $5 $6</pre></body></html>")
    page = browser.new_page()
    try:
        page.goto(page_file.as_uri())
        assert page.evaluate(RAW_MATH) == ["The graph $S = XP^\\top$."]
    finally:
        page.close()


def test_markdown_images_are_copied_into_the_site(tmp_path):
    import base64

    import nbformat

    png = base64.b64decode(  # a 1 x 1 PNG
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "01_plot.png").write_bytes(png)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_markdown_cell(
        "# 1. One\n\n![a plot](../figures/01_plot.png) ![pasted](attachment:pasted.png) ![gone](../figures/missing.png)"
    )
    cell.attachments = {"pasted.png": {"image/png": base64.b64encode(png).decode()}}
    notebook.cells.append(cell)
    nbformat.write(notebook, notebooks / "01_one.ipynb")
    (notebooks / "README.md").write_text("# Contents\n\n[One](01_one.ipynb)\n")
    report = build_book.build(tmp_path / "book", notebooks, quiet=True)
    page = (tmp_path / "book" / "01_one.html").read_text()
    sources = re.findall(r'<img\b[^>]*\bsrc="([^"]*)"', page)
    copied = [src for src in sources if src.startswith("_images/")]
    assert len(copied) == 1 and (tmp_path / "book" / copied[0]).read_bytes() == png
    assert any(src.startswith("data:image/png;base64,") for src in sources), "the attachment is inlined"
    assert any("missing.png not found" in warning for warning in report.warnings)


def test_contents_page_lists_every_notebook_with_the_time_its_header_states():
    import nbformat

    contents = (ROOT / "notebooks" / "README.md").read_text()
    rows = {
        link: time
        for link, time in re.findall(r"^\|[^\n]*\]\((\d\d_\w+)\.ipynb\)[^\n]*\| (about \d+ min) \|$", contents, re.M)
    }
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert path.stem in rows, f"notebooks/README.md has no contents row linking {path.name}"
        first_line = nbformat.read(path, as_version=4).cells[0].source.splitlines()[0]
        header_time = re.search(r"about \d+ min", first_line)
        if header_time:
            assert rows[path.stem] == header_time.group(0), (
                f"{path.name}: its header says {header_time.group(0)}, the contents page {rows[path.stem]}"
            )


def test_glossary_explains_every_symbol_of_the_course_and_the_posters_double_uses():
    glossary = (ROOT / "notebooks" / "GLOSSARY.md").read_text()
    first_column = {row.split("|")[1].strip() for row in glossary.splitlines() if row.startswith("| $")}
    for symbol in [
        "$B$",
        "$C$",
        "$N$",
        "$K$",
        "$d$",
        "$r$",
        "$k$",
        "$\\lambda$",
        "$S$",
        "$S^{pos}$",
        "$W$",
        "$Z$",
        "$Y^p$",
        "$M$",
        "$\\mathcal{L}^s$",
        "$\\mathcal{L}^p$",
        "$\\mathcal{I}$",
    ]:
        assert symbol in first_column, f"GLOSSARY.md has no row for {symbol}"
    assert any(entry.startswith("$P$") for entry in first_column)
    double_uses = glossary[glossary.index("## One letter, two meanings") :]
    assert "batch size" in double_uses and "class mask" in double_uses  # M
    assert "proxies" in double_uses and "probability" in double_uses  # P


def test_each_kind_of_widget_is_drawn_from_its_saved_state():
    def model(name, **state):
        return {"model_name": name, "state": state}

    state = {
        "box": model(
            "VBoxModel",
            children=[
                "IPY_MODEL_n",
                "IPY_MODEL_choice",
                "IPY_MODEL_several",
                "IPY_MODEL_flag",
                "IPY_MODEL_note",
                "IPY_MODEL_out",
                "IPY_MODEL_go",
            ],
        ),
        "n": model("SelectionSliderModel", description="N", index=2, _options_labels=["1", "3", "12"]),
        "choice": model("DropdownModel", description="loss", index=1, _options_labels=["ProxyNCA", "ProxyGML"]),
        "several": model("SelectMultipleModel", description="seeds", index=[0, 2], _options_labels=["0", "1", "2"]),
        "flag": model("CheckboxModel", description="positive mask", value=True),
        "note": model("HTMLModel", value="<i>k = 5</i>"),
        "out": model("OutputModel", outputs=[{"output_type": "stream", "name": "stdout", "text": "R@1 = 0.98\n"}]),
        "go": model("ButtonModel", description="train"),
    }
    drawn = build_book._widget_html("box", state)
    assert re.search(r'<input type="range" disabled min="0" max="2" step="1" value="2"> <output>12</output>', drawn)
    assert "loss <b>ProxyGML</b>" in drawn and "seeds <b>0, 2</b>" in drawn
    assert '<input type="checkbox" disabled checked> positive mask' in drawn
    assert "<i>k = 5</i>" in drawn and "<pre>R@1 = 0.98\n</pre>" in drawn
    assert "train" not in drawn  # a button does nothing without a kernel


def test_browser_tab_titles_carry_no_tex():
    assert build_book._plain("8. Parameter study of $N$ and $r$") == "8. Parameter study of N and r"
    assert build_book._plain("Sweep of $\\lambda$ · site") == "Sweep of lambda · site"
