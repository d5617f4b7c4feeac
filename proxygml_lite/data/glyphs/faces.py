"""Glyph faces and classes: the fonts, clean renderings, similarity and the choice of distinct classes."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# ----------------------------------------------------------------------------- faces
_CM_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%&()*+,-./:;=?@[]")
_CM_TEXT = _CM_SAFE | frozenset("$")  # cmti10 draws a pound sign at "$"
_ASCII = frozenset(chr(c) for c in range(0x21, 0x7F))

# (name, file in matplotlib/mpl-data/fonts/ttf, allowed characters or None = trust the cmap)
FACES: tuple[tuple[str, str, frozenset | None], ...] = (
    ("DejaVu Sans", "DejaVuSans.ttf", None),
    ("DejaVu Sans Bold", "DejaVuSans-Bold.ttf", None),
    ("DejaVu Sans Oblique", "DejaVuSans-Oblique.ttf", None),
    ("DejaVu Sans Bold Oblique", "DejaVuSans-BoldOblique.ttf", None),
    ("DejaVu Serif", "DejaVuSerif.ttf", None),
    ("DejaVu Serif Bold", "DejaVuSerif-Bold.ttf", None),
    ("DejaVu Serif Italic", "DejaVuSerif-Italic.ttf", None),
    ("DejaVu Serif Bold Italic", "DejaVuSerif-BoldItalic.ttf", None),
    ("DejaVu Sans Mono", "DejaVuSansMono.ttf", None),
    ("DejaVu Sans Mono Bold", "DejaVuSansMono-Bold.ttf", None),
    ("DejaVu Sans Mono Oblique", "DejaVuSansMono-Oblique.ttf", None),
    ("DejaVu Sans Mono Bold Oblique", "DejaVuSansMono-BoldOblique.ttf", None),
    ("STIX General", "STIXGeneral.ttf", None),
    ("STIX General Bold", "STIXGeneralBol.ttf", None),
    ("STIX General Italic", "STIXGeneralItalic.ttf", None),
    ("STIX General Bold Italic", "STIXGeneralBolIta.ttf", None),
    ("CM Roman", "cmr10.ttf", _CM_TEXT),
    ("CM Bold", "cmb10.ttf", _CM_TEXT),
    ("CM Text Italic", "cmti10.ttf", _CM_SAFE),
    ("CM Sans", "cmss10.ttf", _CM_TEXT),
    ("CM Typewriter", "cmtt10.ttf", _ASCII),
)


def _span(first: str, last: str, skip: str = "") -> str:
    return "".join(chr(c) for c in range(ord(first), ord(last) + 1) if chr(c) not in skip)


# Candidate pool, in priority order: when two candidates look the same the
# earlier one keeps the face (Latin before Greek before Cyrillic before symbols).
CANDIDATES: str = (
    _span("A", "Z")
    + _span("a", "z")
    + _span("0", "9")
    + _span("\u0391", "\u03a9", skip="\u03a2")  # Greek capitals
    + _span("\u03b1", "\u03c9")  # Greek small (with final sigma)
    + _span("\u0410", "\u042f")  # Cyrillic capitals
    + _span("\u0430", "\u044f")  # Cyrillic small
    + "\u0401\u0451\u0404\u0454\u0406\u0456\u0407\u0457\u040e\u045e"  # Ё ё Є є І і Ї ї Ў ў
    + "\u00df\u00c6\u00e6\u00d8\u00f8\u00de\u00fe\u00d0\u00f0\u0152\u0153\u0141\u0142\u0131"
    + "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    + "\u00a1\u00a2\u00a3\u00a4\u00a5\u00a6\u00a7\u00a9\u00ab\u00ac\u00ae\u00b0\u00b1\u00b5"
    + "\u00b6\u00b7\u00bb\u00bf\u00d7\u00f7\u00bc\u00bd\u00be\u00b2\u00b3\u00b9"
    + "\u2013\u2014\u2018\u2019\u201c\u201d\u201e\u2020\u2021\u2022\u2026\u2030\u2039\u203a"
    + "\u20ac\u2122\u2116\u2190\u2191\u2192\u2193\u2194\u2195\u21d0\u21d2\u21d4"
    + "\u2200\u2202\u2203\u2205\u2207\u2208\u2209\u220b\u220f\u2211\u2212\u2213\u2217\u221a"
    + "\u221d\u221e\u2220\u2227\u2228\u2229\u222a\u222b\u222e\u2234\u2235\u223c\u2243\u2245"
    + "\u2248\u2260\u2261\u2264\u2265\u226a\u226b\u2282\u2283\u2284\u2286\u2287\u2295\u2296"
    + "\u2297\u2299\u22a5\u22c5\u2308\u2309\u230a\u230b\u27e8\u27e9"
    + "\u25a0\u25a1\u25b2\u25b3\u25bc\u25bd\u25c6\u25c7\u25cb\u25cf\u25ca\u2605\u2606"
    + "\u2660\u2663\u2665\u2666\u2661\u2662\u2664\u2667\u266a\u266b\u263a\u263c\u2640\u2642"
    + "\u2713\u2717"
)

# Geometry of the clean rendering, as fractions of the canvas side.
_CAP_FRAC = 0.5  # height of the capital "H" in every face
_BASELINE = 0.72  # baseline position from the top
_MARGIN = 0.03  # ink must stay this far inside the canvas
_SUPERSAMPLE = 3  # render and warp at 3x, then box-downsample
_MESH = 4  # cells per side of the elastic mesh
_BLUR_SIGMA = 0.5  # pixels, for the similarity measure


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@cache
def _cmap(filename: str) -> frozenset:
    from fontTools.ttLib import TTFont

    font = TTFont(str(_font_dir() / filename), lazy=True)
    try:
        return frozenset(chr(c) for c in (font.getBestCmap() or {}))
    finally:
        font.close()


def _face_supports(face: int, ch: str) -> bool:
    _, filename, allowed = FACES[face]
    if allowed is not None and ch not in allowed:
        return False
    return ch in _cmap(filename)


@cache
def _font(face: int, canvas: int) -> ImageFont.FreeTypeFont:
    """The face at the size that makes its capital ``H`` ``_CAP_FRAC * canvas`` pixels tall."""
    path = str(_font_dir() / FACES[face][1])
    probe = ImageFont.truetype(path, 200, layout_engine=ImageFont.Layout.BASIC)
    _, top, _, bottom = probe.getbbox("H", anchor="ls")
    size = max(4, round(200 * _CAP_FRAC * canvas / (bottom - top)))
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)


def _render_clean(ch: str, face: int, canvas: int) -> Image.Image | None:
    """White-on-black rendering on a ``canvas`` square: fixed baseline, ink centred horizontally.

    Returns None if the glyph is empty or does not fit the canvas.
    """
    font = _font(face, canvas)
    x0, y0, x1, y1 = font.getbbox(ch, anchor="ls")
    if x1 <= x0 or y1 <= y0:
        return None
    x = round(canvas / 2 - (x0 + x1) / 2)
    y = round(_BASELINE * canvas)
    lo, hi = _MARGIN * canvas, (1 - _MARGIN) * canvas
    if x + x0 < lo or x + x1 > hi or y + y0 < lo or y + y1 > hi:
        return None
    img = Image.new("L", (canvas, canvas), 0)
    ImageDraw.Draw(img).text((x, y), ch, font=font, fill=255, anchor="ls")
    if np.asarray(img).sum() < 255 * 2 * _SUPERSAMPLE**2:  # fewer than ~2 final pixels of ink
        return None
    return img


# ----------------------------------------------------------------------------- similarity
@dataclass
class CleanGlyphs:
    """Clean renderings of (character, face) pairs at the final size, for the similarity check.

    Attributes:
        chars: the characters, one per row.
        faces: the face index (into :data:`FACES`) of each row.
        images: float32 ``[n, s, s]`` in ``[0, 1]``, light glyph on black.
    """

    chars: list[str]
    faces: np.ndarray
    images: np.ndarray


def clean_glyphs(chars: str | list[str] = CANDIDATES, image_size: int = 32) -> CleanGlyphs:
    """Render every supported (character, face) pair of ``chars`` without distortion."""
    canvas = image_size * _SUPERSAMPLE
    out_c, out_f, out_i = [], [], []
    for ch in chars:
        for face in range(len(FACES)):
            if not _face_supports(face, ch):
                continue
            img = _render_clean(ch, face, canvas)
            if img is None:
                continue
            out_c.append(ch)
            out_f.append(face)
            out_i.append(np.asarray(img.reduce(_SUPERSAMPLE), dtype=np.float32) / 255.0)
    images = np.stack(out_i) if out_i else np.zeros((0, image_size, image_size), np.float32)
    return CleanGlyphs(out_c, np.asarray(out_f, dtype=np.int64), images)


def _blur(images: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(images, sigma=(0, _BLUR_SIGMA, _BLUR_SIGMA), mode="constant")


def glyph_distances(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Normalised distances ``||x - y||^2 / (||x||^2 + ||y||^2)`` between lightly blurred glyph images.

    ``a`` is ``[n, s, s]``, ``b`` is ``[m, s, s]`` (default ``a``); returns ``[n, m]``
    in ``[0, 1]`` for non-negative images: 0 for identical images, 1 when the
    inks do not overlap (e.g. ``E`` vs ``F`` in one face is about 0.1, Latin
    ``A`` vs Cyrillic ``А`` 0). The blur (Gaussian, sigma = 0.5 pixel) absorbs
    sub-pixel rasterisation differences.
    """
    xa = _blur(np.asarray(a, dtype=np.float32)).reshape(len(a), -1).astype(np.float64)
    xb = xa if b is None else _blur(np.asarray(b, dtype=np.float32)).reshape(len(b), -1).astype(np.float64)
    na, nb = (xa * xa).sum(1), (xb * xb).sum(1)
    denom = na[:, None] + nb[None, :]
    d = (denom - 2.0 * xa @ xb.T) / np.maximum(denom, 1e-12)
    return np.clip(d, 0.0, 1.0)


def face_distances(clean: CleanGlyphs) -> tuple[list[str], np.ndarray]:
    """Per-face distance matrices between the characters of ``clean``.

    Returns ``chars`` (distinct, in first-seen order) and ``D`` of shape
    ``[faces, n, n]`` with ``D[f, a, b]`` the :func:`glyph_distances` of
    characters ``a`` and ``b`` both rendered in face ``f`` (NaN where a face
    lacks one of them).
    """
    chars = list(dict.fromkeys(clean.chars))
    col = {c: i for i, c in enumerate(chars)}
    dist = np.full((len(FACES), len(chars), len(chars)), np.nan)
    for f in range(len(FACES)):
        rows = np.flatnonzero(clean.faces == f)
        if len(rows):
            idx = np.asarray([col[clean.chars[r]] for r in rows])
            dist[f][np.ix_(idx, idx)] = glyph_distances(clean.images[rows])
    return chars, dist


def look_alike_pairs(chars, image_size: int = 32, threshold: float | None = None) -> dict[tuple[str, str], float]:
    """The pairs of ``chars`` drawn (almost) alike in at least one face: ``{(a, b): smallest distance}``.

    Two characters are look-alikes when their clean renderings in one face are
    closer than ``threshold`` (default: the generator's ``face_threshold``,
    0.02, under which the dataset drops a face of the later character):
    Latin ``K`` and Cyrillic ``К``, ``1`` and ``I``. Both stay classes when
    their other faces differ, so an image of one can be a faithful rendering
    of the other: a neighbour of the other class is label ambiguity rather
    than a mistake of the embedding. Pairs are ordered as in ``chars``.
    """
    from .generate import _DEFAULTS

    threshold = _DEFAULTS["face_threshold"] if threshold is None else float(threshold)
    chars = list(dict.fromkeys(chars))
    if len(chars) < 2:
        return {}
    known, dist = face_distances(clean_glyphs(chars, image_size))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pairs without a shared face: all NaN
        closest = np.nanmin(dist, axis=0)
    order = {c: i for i, c in enumerate(chars)}
    pairs = {}
    for a, b in zip(*np.nonzero(np.nan_to_num(closest, nan=1.0) < threshold)):
        first, second = sorted((known[a], known[b]), key=order.__getitem__)
        if first != second:
            pairs[(first, second)] = float(closest[a, b])
    return dict(sorted(pairs.items(), key=lambda item: (order[item[0][0]], order[item[0][1]])))


def _select_classes(clean: CleanGlyphs, min_faces: int, face_threshold: float, mean_threshold: float):
    """Greedy de-duplication in pool order (see the module docstring, step 2).

    For each candidate ``c`` (in :data:`CANDIDATES` order), against every kept
    character ``b``: a face ``f`` of ``c`` is dropped when ``D[f, c, b] <
    face_threshold``; then ``c`` is dropped when the mean of ``D[f, c, b]`` over
    the faces left to both is below ``mean_threshold``, or when fewer than
    ``min_faces`` faces are left.

    Returns ``kept`` ({char: [face indices]}) and ``dropped`` ({char: reason}).
    """
    chars, dist = face_distances(clean)
    has = ~np.isnan(dist[:, np.arange(len(chars)), np.arange(len(chars))])  # [faces, chars]
    kept: dict[str, list[int]] = {}
    kept_mask = np.zeros_like(has)  # faces kept per kept character
    dropped: dict[str, str] = {}
    for ci, ch in enumerate(chars):
        faces = has[:, ci].copy()
        d = dist[:, ci, :]  # [faces, chars]
        clash = faces[:, None] & kept_mask & (np.nan_to_num(d, nan=1.0) < face_threshold)
        lost = clash.any(1)
        faces &= ~lost
        shared = faces[:, None] & kept_mask
        with np.errstate(invalid="ignore"):
            mean = np.where(shared, np.nan_to_num(d, nan=0.0), 0.0).sum(0) / shared.sum(0)
        close = np.flatnonzero(shared.any(0) & (mean < mean_threshold))
        if len(close):
            b = int(close[np.argmin(mean[close])])
            dropped[ch] = f"looks like {chars[b]!r} (mean distance {mean[b]:.3f} < {mean_threshold})"
        elif faces.sum() < min_faces:
            why = f"{int(faces.sum())} usable faces < {min_faces}"
            if lost.any():
                who = sorted({chars[b] for b in np.flatnonzero(clash.any(0))})
                why += f" ({int(lost.sum())} faces lost for looking like {' '.join(who)})"
            dropped[ch] = why
        else:
            kept[ch] = [int(f) for f in np.flatnonzero(faces)]
            kept_mask[:, ci] = faces
    for ch in CANDIDATES:
        if ch not in chars:
            dropped[ch] = "no face has it"
    return kept, dropped


@lru_cache(maxsize=4)
def _selection(image_size: int, min_faces: int, face_threshold: float, class_threshold: float):
    """Cached :func:`_select_classes` on the clean renderings of :data:`CANDIDATES` (a pure function)."""
    return _select_classes(clean_glyphs(CANDIDATES, image_size), min_faces, face_threshold, class_threshold)
