#!/usr/bin/env python
"""Build the course as a static HTML site that works offline (``make book``).

The site holds, in this order, the contents page (``notebooks/README.md`` ->
``index.html``), every notebook ``notebooks/NN_*.ipynb`` with its committed
outputs and figures (``NN_name.html``), and the glossary
(``notebooks/GLOSSARY.md`` -> ``GLOSSARY.html``). Whatever notebooks exist are
built; nothing is executed. Every page gets a bar with "previous", "contents",
"glossary" and "next" links at its top and bottom.

Offline means: nothing is loaded from the network.

* Math is typeset in the browser by the MathJax 2.7 that the Python package
  ``jupyter-server-mathjax`` ships (in the ``notebooks`` extra, so ``make``
  installs it), copied into ``_static/mathjax/`` with its own STIX web fonts.
* nbconvert's "lab" template is used without its network scripts (require.js,
  the Jupyter widgets renderer, mermaid); its CSS is inlined.
* A widget whose views are all known when the site is built works without a
  kernel: ``proxygml_lite.lab.book_views`` declares it (its controls' finite
  values and the pure function that draws one view, the declaration the live
  widget uses too). The builder draws each view as a PNG into ``_views/``
  (package code only, never notebook code), checks that the first one is the
  figure the notebook saved, and adds its own controls and a small script,
  ``_static/book_views.js``, that swaps the views as the controls move. At
  most :data:`MAX_VIEWS` views per widget (``--max-views``).
* Any other widget (too many views, or inputs only the notebook makes) is
  drawn from its saved state: its sliders as disabled controls showing their
  values, and its last figure; a note says to open the notebook in JupyterLab
  to move them.
* Links to ``.ipynb``/``.md`` pages of the site become links to their ``.html``
  pages (the notebooks' ``.py`` sources too); a relative link to anything that
  is not a page of the site, or to a notebook not written yet, becomes plain
  text (and is reported), so no link of the site is broken. Images referenced
  from Markdown (``../figures/x.png``) are copied into ``_images/``.

Safe to build from notebooks that others edited:

* Every ``src`` and ``href`` is normalised before it is judged local or
  remote, as a browser reads it: leading spaces and control characters
  (``" \\x01javascript:..."``), tabs and line breaks, backslashes
  (``..\\..\\secret``, ``\\\\host\\x``); ``https:host/x`` and ``//host`` count as
  remote. ``srcset``, ``poster`` and every CSS ``url(...)`` (style attributes;
  ``<style>`` goes whole) are removed.
* Only image files inside the course are copied: the notebooks folder and the
  ``figures/`` beside it, after resolving ``..`` and symbolic links, and only
  PNG, JPEG, GIF and WebP files whose first bytes are the image their extension
  says (an SVG can carry scripts: never copied; the course's figures are PNG).
  Any other image reference (``../../secret.txt``, ``/etc/hostname``, a link
  that leaves those folders or loops, a ``.png`` that holds HTML) is refused:
  one ``refused:`` line names it, the image is left out of its page, and the
  build goes on. A page (``NN_*.ipynb``, ``README.md``, ``GLOSSARY.md``) that
  is a link to a file outside the notebooks folder, or a loop of links, is
  refused the same way.
* Every cell of every page (Markdown, code, outputs, the drawn widgets) passes
  through an allow-list HTML sanitiser (``nh3``, the Ammonia library): no
  ``<script>``, no event handler (``onerror=``), no ``javascript:`` URL
  survives; MathJax's ``$...$`` and ``\\(...\\)``, images, tables,
  ``<details>``/``<summary>`` and the widget markup below do. Every attribute the
  builder writes itself is escaped. The live widgets' controls and the script
  that swaps their views are the builder's own markup, added after sanitising
  in place of a placeholder that holds a random token of this build (so a
  notebook cannot place them), and the script shows only the builder's own
  ``_views/`` files.
* Bad input (``--out`` on a file, a page that is not a notebook or not
  UTF-8) stops the build with one line, ``build_book: <what is wrong>
  (<path>); <fix>``; nothing is half-written. A saved widget state of another
  shape is one ``note:`` line, and its widgets are drawn without it.

Usage::

    python scripts/build_book.py                 # -> build/book/index.html
    python scripts/build_book.py --out /tmp/book
    python scripts/build_book.py --max-views 0   # every widget in its saved state (a quick build)

The site is built in a temporary folder beside ``--out`` and moved into place
at the end, so an interrupted build never leaves a half-written site.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import html
import importlib.util
import io
import json
import os
import re
import secrets
import shutil
import sys
import time
import unicodedata
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import nh3
from jinja2 import DictLoader
from markupsafe import Markup
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's package, also when it is not installed
from proxygml_lite.atomic_writers import make_temp_dir, makedirs  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "build" / "book"
SITE_TITLE = "ProxyGML teaching notebooks"

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"

# nbconvert's lab template without anything fetched from the network, and with the site's navigation.
TEMPLATE = r"""
{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
  tex2jax: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
            processEscapes: true, processEnvironments: true},
  TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null},
  displayAlign: "center",
  messageStyle: "none",
  // The quick preview draws with MathJax's TeX web fonts, which the bundle does not ship (STIX only).
  "fast-preview": {disabled: true},
  menuSettings: {zoom: "None", CHTMLpreview: false}
});
MathJax.Hub.Queue(function () { document.documentElement.setAttribute("data-mathjax", "done"); });
</script>
<script src="{{ resources.book_static }}mathjax/MathJax.js?config={{ resources.mathjax_config }}"></script>
{%- endblock html_head_js_mathjax -%}
{%- block any_cell scoped -%}
{{ super() | book_sanitise }}
{%- endblock any_cell -%}
{%- block html_head_css -%}
<style type="text/css">{{ resources.book_css }}</style>
{%- endblock html_head_css -%}
{%- block body_header -%}
{{ super() }}
{{ resources.book_nav }}
{%- endblock body_header -%}
{% block body_footer %}
{{ resources.book_nav }}
{{ super() }}
{% endblock body_footer %}
"""

CSS = """
nav.book-nav { display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; align-items: baseline; max-width: 1100px;
  margin: 0.6em auto; padding: 0.5em 1em; border: 1px solid #d0d7de; border-radius: 6px; background: #f6f8fa;
  font-family: system-ui, sans-serif; font-size: 0.95em; }
nav.book-nav .book-title { font-weight: 600; margin-right: auto; }
nav.book-nav a { text-decoration: none; }
nav.book-nav a:hover { text-decoration: underline; }
nav.book-nav .book-label { display: inline-block; max-width: 26em; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; vertical-align: bottom; }
body.jp-Notebook main { max-width: 1100px; margin: 0 auto; }
.book-widget { border: 1px dashed #8c959f; border-radius: 6px; padding: 0.6em; margin: 0.3em 0; }
.book-widget-note { font-size: 0.9em; color: #57606a; margin-bottom: 0.4em; }
.book-widget-control { display: inline-flex; gap: 0.5em; align-items: center; margin: 0.2em 1em 0.2em 0; }
.book-widget-box { display: flex; flex-wrap: wrap; gap: 0.3em 0.8em; }
.book-widget-box.vertical { flex-direction: column; }
.book-widget img { max-width: 100%; }
.book-views .book-widget-box { margin-bottom: 0.4em; }
.book-views select, .book-views input { vertical-align: middle; }
.book-views input[type="range"] { width: 10em; }
.book-view-message { color: #57606a; font-style: italic; }
span.book-offsite { border-bottom: 1px dotted #8c959f; }
.jp-RenderedMarkdown pre { background: #f6f8fa; padding: 0.6em 0.8em; border-radius: 4px; margin: 0.6em 0 1em; }
/* Column widths from the typeset content (JupyterLab fixes them from the first row, before MathJax runs). */
.jp-RenderedMarkdown table { table-layout: auto; }
.jp-RenderedMarkdown td { vertical-align: top; }
/* pandas' own table style (its <style scoped> is dropped by the sanitiser, like every <style> in a cell). */
.dataframe tbody tr th:only-of-type { vertical-align: middle; }
.dataframe tbody tr th { vertical-align: top; }
.dataframe thead th { text-align: right; }
span.book-refused { color: #57606a; font-style: italic; }
/* The hidden MathML for screen readers would ask for MathJax's TeX web fonts, which the bundle does not ship. */
.MJX_Assistive_MathML, .MJX_Assistive_MathML * { font-family: serif !important; }
"""


@dataclass
class Page:
    """One page of the site: where it comes from, its file name and its title."""

    source: Path
    name: str
    title: str
    kind: str  # "notebook" or "markdown"


@dataclass
class BuildReport:
    """What a build made: the pages in order, the warnings (unlinked links, missing images, widgets left in their
    saved state) and what it refused (files outside the course), one line each; the widgets drawn view by view
    (one line each), how many were left in their saved state, and the bytes of the views' files."""

    out: Path
    pages: list[Page]
    warnings: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    live_widgets: list[str] = field(default_factory=list)
    saved_widgets: int = 0
    view_bytes: int = 0


# ------------------------------------------------------------------------------------- sanitising

# What a cell's HTML may hold after `sanitise`: nh3's default allow-list (text, headings, lists, tables, images,
# links, details/summary), plus the markup of nbconvert's lab template and of the drawn widgets (`_widget_html`).
SAFE_TAGS = nh3.ALLOWED_TAGS | {"input", "label", "output", "main", "section"}
SAFE_ATTRIBUTES = {
    **{tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"class", "id", "title", "lang", "dir", "role", "style", "tabindex"},
    "img": nh3.ALLOWED_ATTRIBUTES["img"] | {"title"},
    "table": nh3.ALLOWED_ATTRIBUTES["table"] | {"border"},
    "details": {"open"},
    "input": {"min", "max", "step", "value", "checked"},
}
SAFE_ATTRIBUTE_VALUES = {"input": {"type": {"range", "checkbox"}}}
FORCED_ATTRIBUTES = {"input": {"disabled": "disabled"}}  # without a kernel no control does anything
SAFE_URL_SCHEMES = {"http", "https", "mailto", "data"}  # data: only for images (`_safe_attribute`)
SAFE_STYLE_PROPERTIES = {  # none of them can load a URL
    "text-align",
    "vertical-align",
    "white-space",
    "color",
    "background-color",
    "font-weight",
    "font-style",
    "font-size",
    "width",
    "min-width",
    "max-width",
    "height",
    "padding",
    "margin",
    "border",
}
INLINE_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml)[;,]", re.I)
#: The attributes that hold a URL. ``srcset``, ``poster``, ``background`` and the like are not in the allow-list.
URL_ATTRIBUTES = {"href", "src", "cite"}
#: A style value that could load something or run code: ``url(`` and its kin, CSS escapes that could spell them
#: (``u\72l(``), comments, quotes and at-rules.
UNSAFE_STYLE_VALUE = re.compile(r"\\|/\*|[\"'<>@]|\b(url|expression|image|image-set|element|attr|var|env)\s*\(", re.I)


def normalise_url(value: str) -> str:
    """``value`` as a browser reads it before deciding what it points at: without the leading and trailing
    spaces and control characters (``" \\x01javascript:..."``), without tabs and line breaks anywhere
    (``"java\\nscript:"``), and with backslashes as slashes (``..\\..\\secret``, ``\\\\host\\x``)."""
    value = re.sub(r"^[\x00-\x20]+|[\x00-\x20]+$", "", str(value))
    return re.sub(r"[\t\n\r]", "", value).replace("\\", "/")


def url_kind(value: str) -> str:
    """What a (normalised) URL points at: ``"remote"`` (``https://``, ``https:host/x``, ``//host``),
    ``"inline"`` (``data:``), ``"mailto"``, ``"anchor"`` (``#x``), ``"local"`` (a relative path) or
    ``"other"`` (``javascript:``, ``file:``, ``C:``, any other scheme: never allowed)."""
    url = normalise_url(value)
    if url.startswith("//"):
        return "remote"
    scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):", url)
    if scheme:
        return {"http": "remote", "https": "remote", "data": "inline", "mailto": "mailto"}.get(
            scheme.group(1).lower(), "other"
        )
    return "anchor" if url.startswith("#") else "local"


def _safe_style(value: str) -> str | None:
    """A ``style`` attribute's declarations of :data:`SAFE_STYLE_PROPERTIES` whose values can load nothing."""
    kept = []
    for declaration in value.split(";"):
        name, colon, setting = declaration.partition(":")
        if colon and name.strip().lower() in SAFE_STYLE_PROPERTIES and not UNSAFE_STYLE_VALUE.search(setting):
            kept.append(f"{name.strip().lower()}: {setting.strip()}")
    return "; ".join(kept) or None


def _safe_attribute(tag: str, attribute: str, value: str) -> str | None:
    """nh3's attribute filter: a URL normalised (:func:`normalise_url`) and kept only when it is remote, local,
    an anchor, ``mailto:``, or a ``data:`` image as an image's source; a style without anything that loads; no id
    that could shadow MathJax's globals; no ``data-book-*`` attribute, which only the builder's own widget
    markup carries (the view-swapping script reads it)."""
    attribute = attribute.lower()
    if attribute.startswith("data-book"):
        return None
    if attribute in URL_ATTRIBUTES:
        url, kind = normalise_url(value), url_kind(value)
        if kind == "inline":
            return url if tag == "img" and attribute == "src" and INLINE_IMAGE.match(url) else None
        return url if kind in {"remote", "local", "anchor", "mailto"} else None
    if attribute == "style":
        return _safe_style(value)
    if attribute == "id" and value.lower().startswith("mathjax"):
        return None
    return value


def sanitise(fragment: str) -> Markup:
    """``fragment`` (one cell's HTML) with everything outside the allow-list above removed.

    ``<script>`` and ``<style>`` go with their content; event handlers
    (``onerror=``), ``javascript:`` and other schemes, ``data:`` outside images,
    forms and frames go; text, and so the TeX that MathJax typesets, stays.
    """
    return Markup(  # already HTML: the template must not escape it again
        nh3.clean(
            str(fragment),
            tags=SAFE_TAGS,
            clean_content_tags={"script", "style"},
            attributes={tag: names - set(SAFE_ATTRIBUTE_VALUES.get(tag, {})) for tag, names in SAFE_ATTRIBUTES.items()},
            attribute_filter=_safe_attribute,
            generic_attribute_prefixes={"data-", "aria-"},
            tag_attribute_values=SAFE_ATTRIBUTE_VALUES,
            set_tag_attribute_values=FORCED_ATTRIBUTES,
            url_schemes=SAFE_URL_SCHEMES,
            filter_style_properties=SAFE_STYLE_PROPERTIES,
        )
    )


def _attribute(value) -> str:
    """A value for an attribute the builder writes: escaped, quotes included."""
    return html.escape(str(value), quote=True)


def _resolved(path: Path) -> Path | None:
    """``path`` with ``..`` and symbolic links resolved; ``None`` for a loop of links (``a -> b -> a``)."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):  # RuntimeError: Python 3.11's "Symlink loop"
        return None


def _inside(path: Path, folders: list[Path]) -> bool:
    """Whether ``path``, with ``..`` and symbolic links resolved, lies in one of ``folders``.

    A folder that is itself a symbolic link allows nothing: ``figures -> .`` (or ``-> /somewhere``) would
    otherwise widen the course to wherever it points, e.g. the repository root and its ``.git/config``.
    A loop of links lies nowhere.
    """
    resolved = _resolved(path)
    return resolved is not None and any(
        not folder.is_symlink() and resolved.is_relative_to(folder.resolve()) for folder in map(Path, folders)
    )


def fail(what: str, path, fix: str) -> SystemExit:
    """The one line that stops a build: ``build_book: <what is wrong> (<path>); <fix>``."""
    return SystemExit(f"build_book: {what} ({path}); {fix}")


def read_text(path: Path, fail: Callable[[str, Path, str], SystemExit] = fail) -> str:
    """A page's text, which must be UTF-8 (its bytes are not repeated: it may be any file).

    ``fail`` makes the refusal's one line: the student edition passes its own, so its lines name it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (byte {exc.start})", path, "save it as UTF-8") from None
    except OSError as exc:  # e.g. a link to a file that does not exist
        raise fail(f"cannot be read ({exc.strerror})", path, "fix it, or remove it from the course") from None


#: The images the site copies, by extension, and how each kind's file begins (an image is never an SVG: it can carry
#: scripts, which run when its copy is opened from the site).
IMAGE_KINDS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".webp": "WebP"}


def image_kind(head: bytes) -> str | None:
    """The kind of image whose file begins with ``head`` (its first 16 bytes), if any."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:6] in {b"GIF87a", b"GIF89a"}:
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return None


def image_problem(path: Path) -> str | None:
    """Why the file ``path`` may not be copied as an image (its extension is not an image's, or its bytes are not
    the image its extension says); ``None`` when it may."""
    suffix = path.suffix.lower()
    if suffix in {".svg", ".svgz"}:
        return "is an SVG, which can carry scripts"
    if suffix not in IMAGE_KINDS:
        return f"is not an image ({suffix or 'no extension'}; the site copies {', '.join(sorted(IMAGE_KINDS))})"
    if path.stat().st_nlink > 1:  # a hard link may be any file of the machine: it cannot be told apart
        return "is a hard link, which may be any file of the machine"
    with open(path, "rb") as file:
        kind = image_kind(file.read(16))
    if kind != IMAGE_KINDS[suffix]:
        return f"is not the {IMAGE_KINDS[suffix]} image its name says (its bytes are {kind or 'not an image'})"
    return None


def course_folders(notebooks: Path) -> list[Path]:
    """The folders whose files the site may copy: the notebooks folder and the ``figures/`` beside it."""
    return [Path(notebooks), Path(notebooks).parent / "figures"]


# ------------------------------------------------------------------------------------------ pages


def _first_heading(markdown: str) -> str | None:
    for line in markdown.splitlines():
        match = re.match(r"#\s+(.+?)\s*#*\s*$", line)
        if match:
            return match.group(1).strip()
    return None


def read_notebook(path: Path, fail: Callable[[str, Path, str], SystemExit] = fail) -> nbformat.NotebookNode:
    """The notebook ``path``; anything else (not UTF-8, not JSON, not a notebook) stops the build in one line.

    ``fail(what, path, fix)`` makes that line: this builder's :func:`fail` unless a caller passes its own (the
    student edition's ``student_edition: ...``).
    """
    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)  # a notebook of the wrong shape would fail later, inside nbconvert
        return notebook
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (byte {exc.start})", path, "save it as UTF-8") from None
    except Exception as exc:  # its text is not repeated: it may be any file
        raise fail(
            f"not a readable notebook ({type(exc).__name__})", path, "fix it, or remove it from the course"
        ) from None


def _notebook_title(path: Path) -> str:
    for cell in read_notebook(path).cells:
        if cell.cell_type == "markdown":
            heading = _first_heading(cell.source)
            if heading:
                return heading
    return path.stem.replace("_", " ")


def collect_pages(notebooks: Path = NOTEBOOKS, refused: list[str] | None = None) -> list[Page]:
    """The pages of the site, in reading order: contents, notebooks ``NN_*``, glossary.

    A page that is a link to a file outside ``notebooks`` (or a loop of links) is left out, with a line in
    ``refused``.
    """
    refused = [] if refused is None else refused

    def in_course(path: Path) -> bool:
        if _inside(path, [notebooks]):
            return True
        if _resolved(path) is None:
            refused.append(f"{path.name}: a loop of symbolic links ({path}); not part of the site (remove the link)")
        else:
            refused.append(
                f"{path.name}: a link to a file outside {notebooks.name}/ ({path}); not part of the site "
                "(replace the link with the file itself)"
            )
        return False

    def present(path: Path) -> bool:
        return path.exists() or path.is_symlink()  # a looped link does not exist, but is refused by name

    pages = []
    contents = notebooks / "README.md"
    if present(contents) and in_course(contents):
        pages.append(Page(contents, "index.html", _first_heading(read_text(contents)) or "Contents", "markdown"))
    for path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        if in_course(path):
            pages.append(Page(path, f"{path.stem}.html", _notebook_title(path), "notebook"))
    glossary = notebooks / "GLOSSARY.md"
    if present(glossary) and in_course(glossary):
        pages.append(Page(glossary, "GLOSSARY.html", _first_heading(read_text(glossary)) or "Glossary", "markdown"))
    if not any(page.kind == "notebook" for page in pages):
        raise fail("no notebooks NN_*.ipynb to build", notebooks, "pass --notebooks the course's notebooks folder")
    if pages[0].name != "index.html":
        raise fail("the contents page README.md is missing", contents, "write it: it becomes the site's index.html")
    return pages


def _plain(title: str) -> str:
    """A title without TeX delimiters, for the browser's tab (``Study of $N$`` -> ``Study of N``)."""
    return re.sub(r"\$([^$]*)\$", lambda match: match.group(1).replace("\\", ""), title)


def _navigation(pages: list[Page], index: int) -> str:
    def link(page: Page, label: str, before: str = "", after: str = "") -> str:
        text = html.escape(label)
        label = f'{before}<span class="book-label">{text}</span>{after}' if before or after else text
        return f'<a href="{_attribute(page.name)}" title="{_attribute(_plain(page.title))}">{label}</a>'

    def title(page: Page) -> str:
        return "Contents" if page.name == "index.html" else page.title

    parts = [f'<span class="book-title"><a href="index.html">{html.escape(SITE_TITLE)}</a></span>']
    if index > 0:
        parts.append(
            '<span class="book-prev">' + link(pages[index - 1], title(pages[index - 1]), before="← ") + "</span>"
        )
    parts.append(link(pages[0], "Contents"))
    glossary = [page for page in pages if page.name == "GLOSSARY.html"]
    if glossary:
        parts.append(link(glossary[0], "Glossary"))
    if index + 1 < len(pages):
        parts.append(
            '<span class="book-next">' + link(pages[index + 1], title(pages[index + 1]), after=" →") + "</span>"
        )
    return '<nav class="book-nav">' + " ".join(parts) + "</nav>"


# ---------------------------------------------------------------------------------------- widgets


#: At most this many widget models are drawn per widget output: a saved state is the notebook author's data, and a
#: box that lists itself (or a deep fan-out) must not make the build run for ever.
MAX_WIDGET_MODELS = 200


def _widget_html(model_id: str, state: dict, depth: int = 0, drawn: set | None = None) -> str:
    """A widget drawn from its saved state, without JavaScript (each model at most once, at most
    :data:`MAX_WIDGET_MODELS` of them, 20 boxes deep)."""
    drawn = set() if drawn is None else drawn
    model = state.get(model_id) if isinstance(state, dict) else None
    if not isinstance(model, dict) or depth > 20 or model_id in drawn or len(drawn) >= MAX_WIDGET_MODELS:
        return ""
    drawn.add(model_id)
    name, values = str(model.get("model_name", "")), model.get("state", {})
    if not isinstance(values, dict):
        return ""
    description = html.escape(str(values.get("description", "")))
    children = values.get("children", [])
    children = [c[len("IPY_MODEL_") :] for c in (children if isinstance(children, list) else []) if isinstance(c, str)]
    if name in {"HBoxModel", "VBoxModel", "BoxModel", "GridBoxModel", "AccordionModel", "TabModel"}:
        inner = "".join(_widget_html(child, state, depth + 1, drawn) for child in children)
        vertical = " vertical" if name in {"VBoxModel", "AccordionModel", "TabModel"} else ""
        return f'<div class="book-widget-box{vertical}">{inner}</div>'
    if name == "OutputModel":
        outputs = values.get("outputs", [])
        return "".join(_output_html(output) for output in (outputs if isinstance(outputs, list) else []))
    if name in {"HTMLModel", "HTMLMathModel"}:
        return f'<span class="book-widget-control">{description} {values.get("value", "")}</span>'
    if name == "LabelModel":
        return f'<span class="book-widget-control">{html.escape(str(values.get("value", "")))}</span>'
    labels = values.get("_options_labels")
    index = values.get("index")
    if not isinstance(labels, list | None):
        labels = None
    if "Slider" in name and labels and isinstance(index, int) and 0 <= index < len(labels):  # SelectionSlider
        return _range(description, 0, len(labels) - 1, 1, index, labels[index])
    if "Slider" in name and "value" in values:
        value = values["value"]
        if isinstance(value, list):  # a range slider
            return f'<span class="book-widget-control">{description} {html.escape(str(value))}</span>'
        return _range(description, values.get("min"), values.get("max"), values.get("step"), value, value)
    if name in {"CheckboxModel", "ToggleButtonModel"}:
        checked = " checked" if values.get("value") else ""
        return f'<label class="book-widget-control"><input type="checkbox" disabled{checked}> {description}</label>'
    if labels is not None and index is not None:  # Dropdown, RadioButtons, ToggleButtons, Select(Multiple)
        chosen = [
            labels[i]
            for i in (index if isinstance(index, list) else [index])
            if isinstance(i, int) and 0 <= i < len(labels)
        ]
        value = ", ".join(map(str, chosen)) or "(none)"
        return f'<span class="book-widget-control">{description} <b>{html.escape(value)}</b></span>'
    if "value" in values and not isinstance(values["value"], (dict, list)) and name != "ButtonModel":
        return f'<span class="book-widget-control">{description} <b>{html.escape(str(values["value"]))}</b></span>'
    return ""


def _range(description: str, low, high, step, value, shown) -> str:
    """A disabled slider at its saved position, with its value written beside it."""
    attributes = " ".join(
        f'{key}="{_attribute(number)}"'
        for key, number in (("min", low), ("max", high), ("step", step))
        if number is not None
    )
    return (
        f'<label class="book-widget-control">{description} <input type="range" disabled {attributes} '
        f'value="{_attribute(value)}"> <output>{html.escape(str(shown))}</output></label>'
    )


def _output_html(output: dict) -> str:
    """One output of a saved output widget (a figure, HTML or text); anything of another shape draws nothing."""

    def text(value) -> str:
        return "".join(map(str, value)) if isinstance(value, list) else str(value or "")

    if not isinstance(output, dict):
        return ""
    data = output.get("data", {})
    data = data if isinstance(data, dict) else {}
    if "image/png" in data:
        return f'<img alt="figure" src="data:image/png;base64,{_attribute(text(data["image/png"]).strip())}">'
    if "image/svg+xml" in data:
        return text(data["image/svg+xml"])
    if "text/html" in data:
        return text(data["text/html"])
    shown = text(output.get("text") or data.get("text/plain"))
    return f"<pre>{html.escape(shown)}</pre>" if shown else ""


SAVED_STATE_NOTE = (
    "Interactive widget, shown in its saved state. Open this notebook in JupyterLab "
    "(<code>make lab</code>) to move its controls."
)


def _saved_widget_state(widgets, page: Page, report: BuildReport) -> dict:
    """The models of a notebook's saved widget state (``metadata.widgets``): ``{model id: {"model_name": ...,
    "state": {...}}}``. A state of another shape is reported in one line; its widgets are drawn without it."""
    if widgets is None:
        return {}
    state = widgets.get(WIDGET_STATE) if isinstance(widgets, dict) else None
    models = state.get("state") if isinstance(state, dict) else None
    if isinstance(models, dict) and all(isinstance(model, dict) for model in models.values()):
        return models
    report.warnings.append(
        f"{page.source.name}: its saved widget state is not the expected shape (metadata.widgets is not "
        f'{{"{WIDGET_STATE}": {{"state": {{model id: model}}}}}}); its widgets are shown without it (re-execute the '
        "notebook, or clear its widget state)"
    )
    return {}


def _widgets(
    notebook: nbformat.NotebookNode, page: Page, staging: Path, report: BuildReport, max_views: int, token: str
) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """Replace every widget output: by a placeholder for the widgets drawn view by view (:func:`_live_widget`),
    by HTML drawn from the saved widget state for the others; drop the state.

    Returns the notebook and ``{placeholder: the live widget's markup}``, to put in place after sanitising.
    """
    notebook = copy.deepcopy(notebook)
    state = _saved_widget_state(notebook.metadata.pop("widgets", None), page, report)
    live: dict[str, str] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data")
            view = data.get(WIDGET_VIEW) if isinstance(data, dict) else None
            if view is None:
                continue
            model_id = str(view.get("model_id", "")) if isinstance(view, dict) else ""
            markup = _live_widget(page, str(cell.get("source", "")), model_id, state, staging, report, max_views)
            if markup is not None:
                slot = f"book-views-{token}-{len(live)}"
                live[f'<div id="{slot}"></div>'] = markup
                output["data"] = {"text/html": f'<div id="{slot}"></div>'}
                continue
            report.saved_widgets += 1
            drawn = _widget_html(model_id, state)
            output["data"] = {
                "text/html": f'<div class="book-widget"><div class="book-widget-note">{SAVED_STATE_NOTE}</div>'
                f"{drawn}</div>"
            }
    return notebook, live


# ------------------------------------------------------------------------------------- live widgets

#: A widget is drawn view by view when it has at most this many views; a larger one keeps its saved state.
MAX_VIEWS = 100
VIEWS_FOLDER = "_views"
VIEWS_SCRIPT = "_static/book_views.js"
#: The widget builder a cell calls (``widgets.similarity_widget(...)``): how a widget finds its declaration.
WIDGET_BUILDER = re.compile(r"\b([A-Za-z_]\w*_widget)\s*\(")
#: The first view counts as the notebook's saved figure when at most this fraction of its pixels differ (by more
#: than 32 of 255 in a channel): a few pixels of 400,000; one changed character of a title differs in more.
SAME_FIGURE = 2e-5
#: A saved figure larger than this (base64 characters) is not decoded for the comparison.
MAX_SAVED_FIGURE = 8_000_000


def _saved_figure(model_id: str, state: dict) -> bytes | None:
    """The first PNG that the widget's saved state shows (its output area's figure), if any."""
    seen, todo = set(), [model_id]
    while todo and len(seen) < MAX_WIDGET_MODELS:
        current = todo.pop(0)
        model = state.get(current)
        if current in seen or not isinstance(model, dict) or not isinstance(model.get("state"), dict):
            continue
        seen.add(current)
        values = model["state"]
        for output in values.get("outputs", []) if isinstance(values.get("outputs"), list) else []:
            data = output.get("data", {}) if isinstance(output, dict) else {}
            png = data.get("image/png") if isinstance(data, dict) else None
            png = "".join(png) if isinstance(png, list) else png
            if isinstance(png, str) and len(png) <= MAX_SAVED_FIGURE:
                try:
                    return base64.b64decode(png.strip(), validate=False)
                except ValueError:
                    return None
        children = values.get("children", [])
        todo += [c[len("IPY_MODEL_") :] for c in children if isinstance(c, str)] if isinstance(children, list) else []
    return None


def _same_figure(saved: bytes | None, drawn: bytes) -> bool:
    """Whether the PNG ``drawn`` shows the figure of the PNG ``saved`` (same size, almost every pixel equal)."""
    import numpy as np
    from PIL import Image

    if not saved:
        return False
    try:
        with Image.open(io.BytesIO(saved)) as first, Image.open(io.BytesIO(drawn)) as second:
            if first.size != second.size:  # compared before decoding: a huge saved image is never decoded
                return False
            first_pixels = np.asarray(first.convert("RGB"), dtype=np.int16)
            second_pixels = np.asarray(second.convert("RGB"), dtype=np.int16)
    except Exception:  # not a PNG that Pillow reads: the notebook's data, not ours
        return False
    return float((np.abs(first_pixels - second_pixels).max(axis=2) > 32).mean()) <= SAME_FIGURE


class _Views:
    """Package code for the live widgets, imported on first use (matplotlib, PyTorch: seconds)."""

    _modules = None

    @classmethod
    def modules(cls):
        if cls._modules is None:
            import matplotlib

            matplotlib.use("Agg")  # no display: figures are only written to PNG
            import matplotlib.pyplot as plt
            from IPython.core.pylabtools import print_figure

            from proxygml_lite.lab import book_views
            from proxygml_lite.teaching.notebook import FIGURE_STYLE

            cls._modules = (matplotlib, plt, print_figure, book_views, FIGURE_STYLE)
        return cls._modules


def _draw(views, values) -> bytes:
    """One view as the notebook shows it: the PNG of IPython's inline backend, with the notebooks' settings."""
    matplotlib, plt, print_figure, _, style = _Views.modules()
    with matplotlib.rc_context(style):
        figure = views.figure(values)
        try:
            return print_figure(figure, "png", bbox_inches="tight")
        finally:
            plt.close(figure)


def _compact(png: bytes) -> bytes:
    """``png`` on white with at most 256 colours: about a third of the bytes, the same picture for these plots."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        rgba = image.convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    out = io.BytesIO()
    flat.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True
    )
    return out.getvalue()


def _live_widget(
    page: Page, source: str, model_id: str, state: dict, staging: Path, report: BuildReport, max_views: int
) -> str | None:
    """The markup of a widget drawn view by view, its views written into ``staging/_views/``; ``None`` (the widget
    keeps its saved state) when it has no declaration, has more than ``max_views`` views, or its first view is not
    the figure the notebook saved."""
    builders = set(WIDGET_BUILDER.findall(source))
    if page.kind != "notebook" or max_views < 1 or len(builders) != 1:
        return None
    builder = builders.pop()
    declared = _Views.modules()[3].declared(page.source.stem, builder)
    if declared is None:
        return None
    name = f"{page.source.name}: {builder}"
    try:
        views = declared()
    except Exception as exc:  # e.g. the committed tables are missing: the widget keeps its saved state
        report.warnings.append(f"{name}: its views could not be made ({type(exc).__name__}: {exc}); saved state")
        return None
    if views.count > max_views:
        report.warnings.append(f"{name}: {views.count} views, more than {max_views}; shown in its saved state")
        return None
    start = views.index(views.start())
    files: list[str | None] = [None] * views.count
    messages: dict[str, str] = {}
    new_files: list[Path] = []
    for number in [start] + [n for n in range(views.count) if n != start]:
        values = views.values_at(number)
        try:
            png = _draw(views, values)
        except Exception as exc:
            if isinstance(exc, ValueError) and number != start:
                messages[str(number)] = str(exc)  # the draw function refuses this choice (no r chosen): as live
                continue
            for path in new_files:  # a widget that keeps its saved state leaves no views behind
                path.unlink()
            report.warnings.append(
                f"{name}: its view {values} cannot be drawn ({type(exc).__name__}: {exc}); shown in its saved state"
            )
            return None
        if number == start and not _same_figure(_saved_figure(model_id, state), png):
            report.warnings.append(
                f"{name}: its first view is not the figure the notebook saved (re-execute the notebook, or update "
                "proxygml_lite/lab/book_views.py); shown in its saved state"
            )
            return None
        compact = _compact(png)
        file = f"{VIEWS_FOLDER}/{hashlib.sha256(compact).hexdigest()[:16]}.png"
        target = staging / file
        if not target.exists():  # the same picture is written once, whichever widget shows it
            makedirs(target.parent)
            target.write_bytes(compact)
            new_files.append(target)
        files[number] = file
    written = sum(path.stat().st_size for path in new_files)
    report.view_bytes += written
    report.live_widgets.append(f"{name}: {views.count} views ({written / 1e6:.1f} MB)")
    return _views_markup(views, files, messages, start)


def _views_markup(views, files: list[str | None], messages: dict[str, str], start: int) -> str:
    """The live widget: its controls (disabled until the script runs), the first view, and the manifest the
    script reads (``data-book-views``: the controls' sizes and labels, the file of each view)."""
    controls = []
    for number, control in enumerate(views.controls):
        label, digit = html.escape(control.label), control.digit(control.value)
        data = f'data-control="{number}" disabled'
        if control.kind == "slider":
            controls.append(
                f'<label class="book-widget-control">{label} <input type="range" min="0" '
                f'max="{len(control.values) - 1}" step="1" value="{digit}" {data}> '
                f"<output>{html.escape(control.labels[digit])}</output></label>"
            )
        elif control.kind == "menu":
            options = "".join(
                f'<option value="{i}"{" selected" if i == digit else ""}>{html.escape(text)}</option>'
                for i, text in enumerate(control.labels)
            )
            controls.append(f'<label class="book-widget-control">{label} <select {data}>{options}</select></label>')
        elif control.kind == "switch":
            checked = " checked" if control.value else ""
            controls.append(
                f'<label class="book-widget-control"><input type="checkbox" {data}{checked}> {label}</label>'
            )
        else:  # a subset: one check box per item, bit j of the digit
            boxes = " ".join(
                f'<label><input type="checkbox" {data} data-bit="{j}"{" checked" if digit >> j & 1 else ""}> '
                f"{html.escape(text)}</label>"
                for j, text in enumerate(control.labels)
            )
            controls.append(f'<span class="book-widget-control" role="group">{label} {boxes}</span>')
    manifest = {
        "sizes": [control.size for control in views.controls],
        "labels": [list(control.labels) for control in views.controls],
        "views": files,
        "messages": messages,
    }
    note = (
        f"Interactive widget: its {views.count} views were drawn when this site was built; move the controls to "
        "switch between them (no kernel needed). Open this notebook in JupyterLab (<code>make lab</code>) to "
        "change anything else."
    )
    return (
        f'<div class="book-widget book-views" data-book-views="{_attribute(json.dumps(manifest))}">'
        f'<div class="book-widget-note">{note}</div>'
        f'<div class="book-widget-box">{"".join(controls)}</div>'
        f'<img class="book-view" alt="figure" src="{_attribute(files[start])}">'
        '<p class="book-view-message" hidden></p></div>'
    )


#: The view-swapping script: the builder's own, the same for every site (``_static/book_views.js``).
VIEWS_JS = r"""// Swaps the views of this site's widgets as their controls move (written by scripts/build_book.py).
// Every view is a PNG in _views/, drawn when the site was built: no kernel, nothing from the network.
(function () {
  "use strict";
  var VIEW = /^_views\/[0-9a-f]{16}\.png$/;  // only the builder's own files, whatever a page says
  function setUp(widget) {
    var manifest;
    try {
      manifest = JSON.parse(widget.getAttribute("data-book-views"));
    } catch (error) {
      return;
    }
    var image = widget.querySelector("img.book-view");
    var message = widget.querySelector(".book-view-message");
    var inputs = Array.prototype.slice.call(widget.querySelectorAll("[data-control]"));
    // A control's digit: a slider's or menu's position, a switch's 0/1, a subset's bit mask (views.py).
    function digit(control) {
      var value = 0;
      inputs.forEach(function (input) {
        if (Number(input.getAttribute("data-control")) !== control) return;
        if (input.hasAttribute("data-bit")) {
          if (input.checked) value += 1 << Number(input.getAttribute("data-bit"));
        } else if (input.type === "checkbox") {
          value = input.checked ? 1 : 0;
        } else {
          value = Number(input.value);
        }
      });
      return value;
    }
    function show() {
      var number = 0;  // mixed radix, the first control the most significant digit
      manifest.sizes.forEach(function (size, control) { number = number * size + digit(control); });
      inputs.forEach(function (input) {
        var readout = input.type === "range" && input.parentNode.querySelector("output");
        if (readout) readout.textContent = manifest.labels[Number(input.getAttribute("data-control"))][Number(input.value)];
      });
      var file = manifest.views[number];
      if (typeof file === "string" && VIEW.test(file)) {
        image.src = file;
        image.hidden = false;
        message.hidden = true;
      } else {
        message.textContent = manifest.messages[String(number)] || "Nothing to draw for this choice.";
        image.hidden = true;
        message.hidden = false;
      }
      widget.setAttribute("data-view", String(number));
    }
    inputs.forEach(function (input) {
      input.disabled = false;
      input.addEventListener("input", show);
      input.addEventListener("change", show);
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("div.book-views[data-book-views]"), setUp);
})();
"""


# ------------------------------------------------------------------------------------- rewriting


def _github_slug(text: str) -> str:
    """The anchor GitHub gives a heading (lower case, punctuation dropped, spaces to '-')."""
    text = unicodedata.normalize("NFKC", html.unescape(re.sub(r"<[^>]+>", "", text))).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _add_heading_slugs(page_html: str) -> str:
    """Give each heading a GitHub-style anchor too, so Markdown links like ``GLOSSARY.md#a-b`` work."""

    def add(match: re.Match) -> str:
        level, attributes, inner = match.group(1), match.group(2), match.group(3)
        slug = _github_slug(re.sub(r'<a class="anchor-link".*?</a>', "", inner))
        if not slug or f'id="{slug}"' in attributes:
            return match.group(0)
        return f'<h{level}{attributes}><span id="{_attribute(slug)}"></span>{inner}</h{level}>'

    return re.sub(r"<h([1-6])([^>]*)>(.*?)</h\1>", add, page_html, flags=re.S)


def _tag(name: str) -> re.Pattern:
    """A start tag as the sanitiser writes it: every attribute value in double quotes, none holding a double
    quote (so a ``>`` inside a value does not end the tag)."""
    return re.compile(rf'<{name}\b((?:[^>"]|"[^"]*")*)>')


def _attributes(attributes: str) -> dict[str, str]:
    """The attributes of a start tag written by the sanitiser, their values unescaped."""
    return {name.lower(): html.unescape(value) for name, value in re.findall(r'([^\s="]+)="([^"]*)"', attributes)}


def _rewrite_links(page_html: str, page: Page, targets: dict[Path, str], warnings: list[str]) -> str:
    """``.ipynb``/``.md``/``.py`` links to pages of the site -> ``.html``; other relative links -> text."""

    def rewrite(match: re.Match) -> str:
        attributes, text = match.group(1), match.group(2)
        href = _attributes(attributes).get("href")
        if href is None:
            return match.group(0)
        href = normalise_url(href)
        if url_kind(href) != "local":
            return match.group(0)  # an anchor on this page, or an absolute URL (https:, mailto:), a click
        path, _, fragment = href.partition("#")
        if path in targets.values():  # already a page of the site (the navigation bars)
            return match.group(0)
        target = _resolved(page.source.parent / urllib.parse.unquote(path.split("?")[0]))
        if target is not None and target.suffix == ".py" and target.with_suffix(".ipynb") in targets:
            target = target.with_suffix(".ipynb")
        if target in targets:
            new_href = targets[target] + (f"#{fragment}" if fragment else "")
            kept = re.sub(r'\s*\bhref="[^"]*"', "", attributes)
            return f'<a href="{_attribute(new_href)}"{kept}>{text}</a>'
        warnings.append(f"{page.source.name}: link to {href} left as text (not a page of this site)")
        return f'<span class="book-offsite" title="{_attribute(href)} (not part of this site)">{text}</span>'

    return re.sub(r'<a\b((?:[^>"]|"[^"]*")*)>(.*?)</a>', rewrite, page_html, flags=re.S)


def _copy_images(page_html: str, page: Page, out: Path, course: list[Path], report: BuildReport) -> str:
    """Copy the images a page references by a relative path into ``_images/``, and point at the copy.

    Every ``src`` is normalised first (:func:`normalise_url`). Only image files
    (:func:`image_problem`: by extension and by their first bytes) inside
    ``course`` (:func:`course_folders`) are copied; any other reference is
    refused (a line in ``report.refused``) and its image is left out of the
    page, its alternative text shown instead. A remote image (``https://...``,
    ``//host``) is not loaded either: the site works offline, so its alternative
    text stands in for it. No ``<img>`` is left pointing anywhere but at a copy
    in ``_images/`` or at an inline ``data:`` image.
    """
    base = course[0].parent
    folders = " and ".join(f"{c.name}/" for c in course)

    def rewrite(match: re.Match) -> str:
        tag, attributes = match.group(0), _attributes(match.group(1))
        alt = html.escape(attributes.get("alt") or "image")
        src = normalise_url(attributes.get("src", ""))
        kind = url_kind(src)
        if not src:
            return tag
        if kind == "remote":
            # the site is read offline and loads nothing from the network: a remote image (the Colab badge)
            # becomes its alternative text, so a badge inside a link stays a working text link
            return f'<span class="book-remote">{alt}</span>'
        if kind == "inline" and INLINE_IMAGE.match(src):
            return tag
        if kind != "local":
            report.refused.append(f"{page.source.name}: image with a {kind} URL ({src[:60]}); not shown")
            return f'<span class="book-refused">[{alt}: not part of the course]</span>'

        def refuse(why: str, fix: str, shown: str = "not part of the course") -> str:
            report.refused.append(f"{page.source.name}: image {why} ({src}); {fix}")
            return f'<span class="book-refused">[{alt}: {shown}]</span>'

        source = page.source.parent / urllib.parse.unquote(src.split("#")[0].split("?")[0])
        if _resolved(source) is None:
            return refuse("is a loop of symbolic links", "not copied (remove the link)")
        if not _inside(source, course):
            return refuse(f"is outside {folders}", "not copied")
        source = source.resolve()
        if not source.is_file():
            report.warnings.append(f"{page.source.name}: image {src} not found")
            return f'<span class="book-refused">[{alt}: image not found]</span>'
        problem = image_problem(source)
        if problem is not None:
            fix = "save it as PNG" if "SVG" in problem else "not copied (save the figure as PNG)"
            return refuse(problem, fix, "SVG not copied" if "SVG" in problem else "not an image")
        copied = "_images/" + "__".join(source.relative_to(base.resolve()).parts)
        (out / "_images").mkdir(exist_ok=True)
        shutil.copyfile(source, out / copied)
        kept = re.sub(r'\s*\bsrc="[^"]*"', "", match.group(1))
        return f'<img src="{_attribute(copied)}"{kept}>'

    return _tag("img").sub(rewrite, page_html)


# ------------------------------------------------------------------------------------------ build


def mathjax_folder() -> Path:
    """MathJax 2.7 as shipped by the ``jupyter-server-mathjax`` package."""
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or spec.origin is None:
        raise fail(
            "the Python package jupyter-server-mathjax, whose MathJax the site bundles, is not installed",
            sys.executable,
            "run `make venv` (it is in the notebooks extra) or `pip install jupyter-server-mathjax -c constraints.txt`",
        )
    folder = Path(spec.origin).parent / "static"
    if not (folder / "MathJax.js").is_file():
        raise fail("jupyter-server-mathjax is installed without its MathJax.js", folder, "reinstall it")
    return folder


def _page_notebook(
    page: Page, staging: Path, report: BuildReport, max_views: int, token: str
) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The page as a notebook, its widgets replaced (:func:`_widgets`), and the live widgets' markup."""
    if page.kind == "notebook":
        notebook = read_notebook(page.source)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        if code and not any(cell.get("execution_count") for cell in code):
            report.warnings.append(
                f"{page.source.name} was never executed: its page has no outputs "
                f"(python scripts/execute_notebooks.py {page.source.name[:2]})"
            )
        return _widgets(notebook, page, staging, report, max_views, token)
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_markdown_cell(read_text(page.source)))
    return notebook, {}


def _put_live_widgets(body: str, live: dict[str, str]) -> str:
    """``body`` with each placeholder replaced by its live widget, and the view-swapping script at its end."""
    for placeholder, markup in live.items():
        if body.count(placeholder) != 1:
            raise RuntimeError(f"the placeholder {placeholder} of a live widget is not in its page once")
        body = body.replace(placeholder, markup)
    if live:
        head, end, tail = body.rpartition("</body>")
        body = f'{head}<script src="{VIEWS_SCRIPT}"></script>\n{end}{tail}'
    return body


def build(
    out: Path = DEFAULT_OUT, notebooks: Path = NOTEBOOKS, quiet: bool = False, max_views: int = MAX_VIEWS
) -> BuildReport:
    """Build the site into ``out`` (replaced as a whole at the end); return what was built.

    A declared widget with at most ``max_views`` views is drawn view by view (0: none is).
    """
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise fail("--out is a file, not a folder", out, "pass a new or empty folder (default: build/book)")
    if out.exists() and any(out.iterdir()) and not (out / "_static" / "mathjax" / "MathJax.js").is_file():
        raise fail(
            "refusing to replace --out: it is not empty and not a site built by this script",
            out,
            "pass --out a new or empty folder (default: build/book)",
        )
    notebooks = Path(notebooks).resolve()
    refused: list[str] = []
    pages = collect_pages(notebooks, refused)
    mathjax = mathjax_folder()
    staging = make_temp_dir(makedirs(out.parent), prefix=f".{out.name}-")
    report = BuildReport(out=out, pages=pages, refused=refused)
    course = course_folders(notebooks)
    for source in sorted(notebooks.glob("[0-9][0-9]_*.py")):
        if not source.with_suffix(".ipynb").exists():
            report.warnings.append(
                f"{source.name} has no executed .ipynb yet, so it is not in the site "
                f"(python scripts/execute_notebooks.py {source.name[:2]})"
            )
    try:
        shutil.copytree(mathjax, staging / "_static" / "mathjax")  # with its LICENSE (Apache-2.0)
        exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"book.html.j2": TEMPLATE})])
        exporter.template_file = "book.html.j2"
        exporter.exclude_anchor_links = False
        exporter.register_filter("book_sanitise", sanitise)  # every cell, in the template's `any_cell`
        token = secrets.token_hex(8)  # the live widgets' placeholders: a notebook cannot write one
        targets = {page.source: page.name for page in pages}
        targets.update({page.source.with_suffix(".ipynb"): page.name for page in pages if page.kind == "notebook"})
        for index, page in enumerate(pages):
            resources = {
                "metadata": {
                    "name": _plain(page.title if page.name == "index.html" else f"{page.title} · {SITE_TITLE}")
                },
                "book_nav": _navigation(pages, index),
                "book_css": CSS,
                "book_static": "_static/",
                "mathjax_config": MATHJAX_CONFIG,
            }
            notebook, live = _page_notebook(page, staging, report, max_views, token)
            body, _ = exporter.from_notebook_node(notebook, resources=resources)
            body = _add_heading_slugs(body)
            body = _rewrite_links(body, page, targets, report.warnings)
            body = _copy_images(body, page, staging, course, report)
            body = _put_live_widgets(body, live)  # the builder's own markup, after sanitising
            if live:
                (staging / VIEWS_SCRIPT).write_text(VIEWS_JS, encoding="utf-8")
            (staging / page.name).write_text(body, encoding="utf-8")
            if not quiet:
                print(f"  {page.name:45s} {page.title}")
        (staging / ".nojekyll").write_text("")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: build/book)")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="the notebooks folder (default: notebooks)")
    parser.add_argument(
        "--max-views",
        type=int,
        default=MAX_VIEWS,
        help=f"draw a declared widget view by view when it has at most this many views (default {MAX_VIEWS}; "
        "0: every widget in its saved state, a quick build)",
    )
    args = parser.parse_args(argv)
    if args.max_views < 0:
        raise fail("--max-views must be 0 or more", args.max_views, "pass 0 for a quick build")
    print(f"Building the course site from {args.notebooks} ...")
    began = time.perf_counter()
    try:
        report = build(args.out, args.notebooks, max_views=args.max_views)
    except OSError as exc:  # e.g. --out under a file, or a folder without write permission
        raise fail(f"cannot write the site: {exc.strerror or exc}", exc.filename, "pass another --out") from None
    for warning in report.warnings:
        print(f"  note: {warning}")
    for refusal in report.refused:
        print(f"  refused: {refusal}")
    for line in report.live_widgets:
        print(f"  widget: {line}")
    size = sum(path.stat().st_size for path in report.out.rglob("*") if path.is_file())
    print(
        f"{len(report.live_widgets)} widgets drawn view by view ({report.view_bytes / 1e6:.1f} MB in "
        f"{VIEWS_FOLDER}/), {report.saved_widgets} in their saved state; the site is {size / 1e6:.1f} MB, "
        f"built in {time.perf_counter() - began:.0f} s"
    )
    print(f"{len(report.pages)} pages -> {report.out / 'index.html'} (open it in a browser; it works offline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
