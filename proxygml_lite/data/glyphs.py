"""Glyphs: a many-class, class-disjoint image dataset generated on first use (no download).

Every class is one character (Latin, digits, Greek, Cyrillic, punctuation,
symbols, math operators), every image one font face shipped inside matplotlib
(DejaVu Sans/Serif/Mono and their bold/oblique faces, STIX General faces,
Computer Modern ``cmr10 cmb10 cmti10 cmss10 cmtt10``) rendered with PIL and then
distorted: a stroke width change (erosion/dilation), a random affine warp
(rotation, scale, aspect, shear, translation) with a small elastic
displacement, random contrast, a background illumination ramp and pixel noise.
Images are grayscale, light glyph on a dark background, ``image_size`` x
``image_size`` (32 by default).

It exists so that the notebooks, the ``N``/``r`` study and the ablation can
train ProxyGML from scratch on a laptop CPU in minutes with the paper's own
hyper-parameters: ``C = 100`` training classes, ``N = 12`` proxies per class,
``r = 0.05`` (so ``k = ceil(r C N) = 60`` proxies in each subgraph ``W``), and
are evaluated, as in the paper, on 100 *other* classes never seen in training.

How classes are chosen (all automatic and deterministic):

1. A candidate pool of characters (:data:`CANDIDATES`) is checked against each
   face's ``cmap`` (via fontTools); the Computer Modern faces use their own
   TeX encoding, so only the ASCII characters they draw correctly are allowed
   there. Glyphs that are empty or do not fit the canvas are dropped per face.
2. Clean renderings (no distortion) at the final size, lightly blurred, are
   compared face by face with the normalised distance
   ``d(x, y) = ||x - y||^2 / (||x||^2 + ||y||^2)`` (0 = identical, 1 = no
   overlapping ink; ``E`` vs ``F`` is about 0.1). Going through the candidates
   in pool order, against every already kept character: a face is dropped
   where the two renderings are closer than ``face_threshold`` (0.02; ``l``
   loses the faces where it looks like ``I``), and the whole character is
   dropped when the mean distance over the faces left to both is below
   ``class_threshold`` (0.06; Cyrillic ``С`` behind Latin ``C``, ``Й`` behind
   ``И``) or fewer than ``faces_per_class`` faces are left (Greek ``Α`` behind
   ``A``). The manifest lists every dropped character with the reason.
   Look-alikes *across* faces (an oblique ``I`` vs an upright ``l``) are not
   checked; they stay as hard cases, like in real fine-grained data.
3. The kept classes are shuffled with ``seed``; the first ``num_train_classes``
   form the training split, the next ``num_test_classes`` the test split.
   Each class uses ``faces_per_class`` of its faces (a seeded choice) and
   ``images_per_face`` distorted images per face.

Defaults: 100 + 100 classes, 12 faces x 6 images = 72 images per class, i.e.
7,200 training and 7,200 test images of 32 x 32 pixels (225 steps of batch 32
per epoch), generated in about 13 s on 2 busy shared CPU cores and cached as a
compressed archive of about 11 MB. The distortions keep raw pixels from
solving the task: nearest-neighbour retrieval on mean-centred pixels (cosine)
reaches R@1 = 0.69 on the default test split, so a learned embedding has room
to show what it adds.

Cache: ``<data_root>/glyphs/glyphs_<key>.npz`` (compressed; ``images`` uint8
``[n, s, s]``, ``labels`` (Unicode code points), ``split`` (0 train, 1 test),
``face_index``, ``face_names``, ``class_chars``, ``class_split``) plus
``glyphs_<key>.json`` (parameters, counts, per-class faces, dropped characters,
a SHA-256 content hash of the arrays). ``key`` is a hash of the parameters, so
different parameter sets live side by side; both files are written atomically
(temporary file + ``os.replace``). A cache whose manifest, parameters, arrays
or hash do not match is regenerated with a warning that says why.

The arrays are byte-identical for the same parameters and seed with the same
Pillow/FreeType build (glyph rasterisation can differ across FreeType versions).
"""

from __future__ import annotations

import hashlib
import io
import json
import numbers
import os
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from torch.utils.data import Dataset

from ..fileio import atomic_write_bytes, atomic_write_json

__all__ = [
    "CANDIDATES",
    "FACES",
    "GENERATOR_VERSION",
    "GlyphDataset",
    "ensure_glyphs",
    "load_glyphs",
    "read_manifest",
    "glyph_sheet",
    "clean_glyphs",
    "CleanGlyphs",
    "glyph_distances",
    "face_distances",
]

GENERATOR_VERSION = 2

# ----------------------------------------------------------------------------- faces
_CM_SAFE = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" "!#%&()*+,-./:;=?@[]"
)
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


@lru_cache(maxsize=None)
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


@lru_cache(maxsize=None)
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


# ----------------------------------------------------------------------------- distortion
# Ranges of the random distortion (lengths in output pixels). The scale range
# stays below the x-height / cap-height ratio (``c`` vs ``C``) and the vertical
# shift below the gap between ``.`` and ``·``, so no warp turns a class into
# another; horizontal position carries no class information and varies more.
_WARP = dict(
    rotation_deg=10.0,  # rotation in [-10, 10] degrees
    scale=0.08,  # isotropic scale in [0.92, 1.08]
    aspect=0.06,  # width/height ratio change
    shear=0.15,  # horizontal shear factor
    shift_x=3.0,
    shift_y=1.5,
    elastic=0.8,  # std of the random displacement of the 5 x 5 mesh control points
    gradient=50.0,  # max grey-level ramp of the background illumination
    noise=15.0,  # max std of the pixel noise
)


@lru_cache(maxsize=4)
def _mesh_boxes(canvas: int) -> list[tuple[int, int, int, int]]:
    """Output boxes of the elastic mesh cells, row by row."""
    t = np.linspace(0, canvas, _MESH + 1).round().astype(int).tolist()
    return [(t[q], t[r], t[q + 1], t[r + 1]) for r in range(_MESH) for q in range(_MESH)]


def _distort(clean: Image.Image, rng: np.random.Generator, image_size: int) -> np.ndarray:
    """One distorted ``image_size`` x ``image_size`` uint8 image from a clean supersampled rendering.

    Stroke width change (erosion/dilation), affine warp (rotation, scale,
    aspect, shear, shift) plus a piecewise-bilinear elastic displacement, all
    at the supersampled resolution; box downsampling; random contrast,
    background illumination ramp and Gaussian pixel noise.
    """
    w, k = _WARP, _SUPERSAMPLE
    canvas = clean.size[0]
    op = rng.choice(4, p=(0.2, 0.35, 0.3, 0.15))  # thinner, same, bolder, much bolder
    img = clean
    if op == 0:
        thin = clean.filter(ImageFilter.MinFilter(3))
        if np.asarray(thin).sum() >= 0.45 * np.asarray(clean).sum():  # keep hairlines alive
            img = thin
    elif op == 2:
        img = clean.filter(ImageFilter.MaxFilter(3))
    elif op == 3:
        img = clean.filter(ImageFilter.MaxFilter(5))
    theta = np.deg2rad(rng.uniform(-w["rotation_deg"], w["rotation_deg"]))
    scale = rng.uniform(1.0 - w["scale"], 1.0 + w["scale"])
    aspect = rng.uniform(1.0 - w["aspect"], 1.0 + w["aspect"])
    shear = rng.uniform(-w["shear"], w["shear"])
    shift = rng.uniform(-1.0, 1.0, size=2) * np.array([w["shift_x"], w["shift_y"]]) * k
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    fwd = rot @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([scale * aspect, scale / aspect])
    inv = np.linalg.inv(fwd)
    c = np.array([canvas / 2.0, canvas / 2.0])
    offset = c - inv @ (c + shift)  # source = inv @ output + offset
    # elastic part: random displacements of a 5 x 5 grid of control points,
    # bilinear inside each of the 4 x 4 cells (PIL's MESH transform)
    ticks = np.linspace(0, canvas, _MESH + 1).round()  # the box edges of _mesh_boxes
    gx, gy = np.meshgrid(ticks, ticks)  # output vertices, [row, col]
    disp = rng.normal(0.0, w["elastic"] * k, size=(2, _MESH + 1, _MESH + 1))
    sx = inv[0, 0] * gx + inv[0, 1] * gy + offset[0] + disp[0]
    sy = inv[1, 0] * gx + inv[1, 1] * gy + offset[1] + disp[1]
    # corners of each cell's source quad in PIL's order: NW, SW, SE, NE
    quads = np.stack(
        [sx[:-1, :-1], sy[:-1, :-1], sx[1:, :-1], sy[1:, :-1], sx[1:, 1:], sy[1:, 1:], sx[:-1, 1:], sy[:-1, 1:]],
        axis=-1,
    ).reshape(-1, 8)
    mesh = list(zip(_mesh_boxes(canvas), map(tuple, quads.tolist())))
    img = img.transform((canvas, canvas), Image.Transform.MESH, mesh, resample=Image.Resampling.BILINEAR)
    x = np.asarray(img.reduce(k), dtype=np.float32) / 255.0
    bg = rng.uniform(0.0, 60.0)
    fg = rng.uniform(170.0, 255.0)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    u = (np.arange(image_size) + 0.5) / image_size - 0.5
    ramp = rng.uniform(0.0, w["gradient"]) * (np.cos(angle) * u[None, :] + np.sin(angle) * u[:, None])
    sigma = rng.uniform(0.0, w["noise"])
    x = bg + ramp + (fg - bg) * x + rng.normal(0.0, 1.0, size=x.shape) * sigma
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- parameters
_DEFAULTS: dict[str, Any] = dict(
    seed=0,
    image_size=32,
    images_per_face=6,
    faces_per_class=12,
    num_train_classes=100,
    num_test_classes=100,
    face_threshold=0.02,
    class_threshold=0.06,
)
_MIN_FACES = 8


def _check_int(name: str, value, minimum: int, maximum: int | None, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum or (
        maximum is not None and value > maximum
    ):
        rng = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {rng} ({hint}); got {value!r}")
    return int(value)


def _params(**given) -> dict[str, Any]:
    unknown = sorted(set(given) - set(_DEFAULTS))
    if unknown:
        raise ValueError(
            f"unknown glyph parameter(s) {', '.join(unknown)}; the parameters are {', '.join(_DEFAULTS)}"
        )
    p = {**_DEFAULTS, **given}
    p["seed"] = _check_int("seed", p["seed"], 0, None, "any non-negative integer")
    p["image_size"] = _check_int("image_size", p["image_size"], 16, 256, "32 is the default; the small CNN wants 32")
    p["images_per_face"] = _check_int(
        "images_per_face", p["images_per_face"], 1, 1000, "e.g. 6 (default) or 1-2 for quick tests"
    )
    p["faces_per_class"] = _check_int(
        "faces_per_class", p["faces_per_class"], _MIN_FACES, 16, "each class needs at least 8 faces; 12 is the default"
    )
    p["num_train_classes"] = _check_int(
        "num_train_classes", p["num_train_classes"], 2, None, "the paper's C = 100 is the default"
    )
    p["num_test_classes"] = _check_int("num_test_classes", p["num_test_classes"], 2, None, "100 is the default")
    for name in ("face_threshold", "class_threshold"):
        t = p[name]
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0.0 <= float(t) < 1.0:
            raise ValueError(f"{name} must be a number in [0, 1) ({_DEFAULTS[name]} is the default); got {t!r}")
        p[name] = float(t)
    return p


def _key(p: dict[str, Any]) -> str:
    blob = json.dumps({"version": GENERATOR_VERSION, **p}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _content_hash(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- generation
def _generate(p: dict[str, Any], progress: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    s = p["image_size"]
    canvas = s * _SUPERSAMPLE
    kept, dropped = _selection(s, p["faces_per_class"], p["face_threshold"], p["class_threshold"])
    n_train, n_test = p["num_train_classes"], p["num_test_classes"]
    if len(kept) < n_train + n_test:
        raise ValueError(
            f"only {len(kept)} distinct glyph classes have >= {p['faces_per_class']} faces, but "
            f"num_train_classes + num_test_classes = {n_train + n_test}; ask for fewer classes, "
            f"lower faces_per_class, or lower face_threshold/class_threshold (keeps more look-alikes)"
        )
    order = list(kept)  # pool order
    rng = np.random.default_rng([p["seed"], 1])
    perm = rng.permutation(len(order))
    train = sorted((order[i] for i in perm[:n_train]), key=ord)
    test = sorted((order[i] for i in perm[n_train : n_train + n_test]), key=ord)
    unused = sorted((order[i] for i in perm[n_train + n_test :]), key=ord)

    per_class = p["faces_per_class"] * p["images_per_face"]
    total = per_class * (n_train + n_test)
    images = np.empty((total, s, s), dtype=np.uint8)
    labels = np.empty(total, dtype=np.int32)
    split = np.empty(total, dtype=np.uint8)
    face_index = np.empty(total, dtype=np.int16)
    class_faces: dict[str, list[str]] = {}
    i = 0
    with tqdm(total=total, desc="Generating glyphs", unit="img", disable=not progress, leave=False) as bar:
        for part, chars in ((0, train), (1, test)):
            for ch in chars:
                pick = np.random.default_rng([p["seed"], 2, ord(ch)]).choice(
                    np.asarray(kept[ch]), size=p["faces_per_class"], replace=False
                )
                faces = sorted(int(f) for f in pick)
                class_faces[ch] = [FACES[f][0] for f in faces]
                for face in faces:
                    base = _render_clean(ch, face, canvas)
                    frng = np.random.default_rng([p["seed"], 3, ord(ch), face])
                    for _ in range(p["images_per_face"]):
                        images[i] = _distort(base, frng, s)
                        labels[i], split[i], face_index[i] = ord(ch), part, face
                        i += 1
                bar.update(per_class)
    class_chars = np.asarray(train + test)
    arrays = dict(
        images=images,
        labels=labels,
        split=split,
        face_index=face_index,
        face_names=np.asarray([f[0] for f in FACES]),
        class_chars=class_chars,
        class_split=np.asarray([0] * n_train + [1] * n_test, dtype=np.uint8),
    )
    manifest = dict(
        generator_version=GENERATOR_VERSION,
        params=p,
        seed=p["seed"],
        counts=dict(
            classes=n_train + n_test,
            train_classes=n_train,
            test_classes=n_test,
            images_per_class=per_class,
            train_images=per_class * n_train,
            test_images=per_class * n_test,
            candidates=len(CANDIDATES),
            distinct_classes_available=len(kept),
            dropped=len(dropped),
        ),
        train_classes="".join(train),
        test_classes="".join(test),
        unused_classes="".join(unused),
        class_faces=class_faces,
        class_eligible_faces={ch: [FACES[f][0] for f in kept[ch]] for ch in train + test},
        dropped=dropped,
        content_hash=_content_hash(arrays),
        generation_seconds=round(time.perf_counter() - t0, 2),
    )
    return arrays, manifest


def _paths(data_root, p) -> tuple[Path, Path]:
    root = Path(data_root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"data_root {str(root)!r} is a file; pass a folder (it will hold glyphs/)")
    folder = root / "glyphs"
    key = _key(p)
    return folder / f"glyphs_{key}.npz", folder / f"glyphs_{key}.json"


def _read_cache(npz: Path, manifest_path: Path, p: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict] | str:
    """The cached arrays and manifest, or a string saying why the cache cannot be used."""
    if not npz.exists() and not manifest_path.exists():
        return "absent"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"manifest {manifest_path.name} unreadable ({exc})"
    if manifest.get("generator_version") != GENERATOR_VERSION or manifest.get("params") != p:
        return "its parameters or generator version differ from the requested ones"
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # truncated zip, bad CRC, zlib error, missing member...
        return f"archive {npz.name} unreadable ({type(exc).__name__}: {exc})"
    missing = {"images", "labels", "split", "face_index", "face_names", "class_chars", "class_split"} - set(arrays)
    if missing:
        return f"archive {npz.name} lacks {', '.join(sorted(missing))}"
    if _content_hash(arrays) != manifest.get("content_hash"):
        return f"archive {npz.name} does not match the content hash in {manifest_path.name}"
    return arrays, manifest


def _ensure(data_root, progress: bool, **params) -> tuple[Path, dict[str, np.ndarray], dict]:
    p = _params(**params)
    npz, manifest_path = _paths(data_root, p)
    cached = _read_cache(npz, manifest_path, p)
    if not isinstance(cached, str):
        return npz, cached[0], cached[1]
    if cached != "absent":
        warnings.warn(f"glyph cache {npz} cannot be used: {cached}; regenerating it", RuntimeWarning, stacklevel=3)
    arrays, manifest = _generate(p, progress)
    npz.parent.mkdir(parents=True, exist_ok=True)

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(npz, buf.getvalue())
    atomic_write_json(manifest_path, manifest, indent=1, sort_keys=False, ensure_ascii=False)
    return npz, arrays, manifest


def ensure_glyphs(data_root: str | os.PathLike = "data", progress: bool = True, **params) -> Path:
    """Generate the glyph dataset under ``<data_root>/glyphs`` unless a valid cache exists.

    Args:
        data_root: folder that holds (or will hold) ``glyphs/``.
        progress: show a tqdm progress bar while generating.
        **params: ``seed`` (0), ``image_size`` (32), ``images_per_face`` (6),
            ``faces_per_class`` (12, >= 8), ``num_train_classes`` (100, the
            paper's ``C``), ``num_test_classes`` (100), ``face_threshold``
            (0.02) and ``class_threshold`` (0.06), the look-alike thresholds
            of :func:`glyph_distances` (module docstring, step 2).

    Returns:
        the path of the ``.npz`` archive; its ``.json`` manifest sits next to it.

    Raises:
        ValueError: a parameter is out of range (the message says the fix).
    """
    return _ensure(data_root, progress, **params)[0]


def read_manifest(data_root: str | os.PathLike = "data", **params) -> dict:
    """The JSON manifest of the glyph dataset with these parameters (generated if needed)."""
    return _ensure(data_root, True, **params)[2]


# ----------------------------------------------------------------------------- dataset
class GlyphDataset(Dataset):
    """One split of the glyph dataset as a map-style torch ``Dataset``.

    ``ds[i]`` is ``(image, label)``: a PIL ``"L"`` image (or ``transform(image)``)
    and the label in ``0 .. num_classes - 1`` (classes sorted by code point).

    Attributes:
        images: uint8 array ``[n, s, s]`` (fast tensor access without PIL).
        targets: list of int labels, one per image.
        num_classes: number of classes in this split.
        classes: the characters, ``classes[label]``.
        faces: the font face name of each image.
        split: ``"train"`` or ``"test"``.
        transform: applied to the PIL image in ``__getitem__`` (or None).
    """

    def __init__(self, images: np.ndarray, targets, classes, faces, split: str, transform=None):
        self.images = images
        self.targets = [int(t) for t in targets]
        self.classes = list(classes)
        self.num_classes = len(self.classes)
        self.faces = list(faces)
        self.split = split
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        img = Image.fromarray(self.images[index])  # uint8 2-D -> mode "L"
        if self.transform is not None:
            img = self.transform(img)
        return img, self.targets[index]

    def __repr__(self) -> str:
        s = self.images.shape[-1]
        return (
            f"GlyphDataset(split={self.split!r}, images={len(self)}, classes={self.num_classes}, "
            f"size={s}x{s}, transform={self.transform!r})"
        )


def load_glyphs(
    data_root: str | os.PathLike = "data",
    split: str = "train",
    transform: Callable | None = None,
    progress: bool = True,
    **params,
) -> GlyphDataset:
    """Load one split of the glyph dataset, generating it on first use (see :func:`ensure_glyphs`).

    Args:
        data_root: folder holding ``glyphs/``.
        split: ``"train"`` (``num_train_classes`` classes, default the paper's
            ``C = 100``) or ``"test"`` (the other ``num_test_classes`` classes).
        transform: callable applied to each PIL ``"L"`` image.
        progress: tqdm progress bar while generating.
        **params: generation parameters, see :func:`ensure_glyphs`.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if transform is not None and not callable(transform):
        raise ValueError(
            f"transform must be callable (e.g. a torchvision transform) or None; got {type(transform).__name__}"
        )
    _, arrays, _ = _ensure(data_root, progress, **params)
    part = 0 if split == "train" else 1
    rows = np.flatnonzero(arrays["split"] == part)
    chars = [str(c) for c, sp in zip(arrays["class_chars"], arrays["class_split"]) if sp == part]
    chars.sort(key=ord)
    label_of = {ord(c): i for i, c in enumerate(chars)}
    names = [str(n) for n in arrays["face_names"]]
    targets = [label_of[int(cp)] for cp in arrays["labels"][rows]]
    faces = [names[int(f)] for f in arrays["face_index"][rows]]
    return GlyphDataset(np.ascontiguousarray(arrays["images"][rows]), targets, chars, faces, split, transform)


# ----------------------------------------------------------------------------- figure
def glyph_sheet(
    ds: GlyphDataset,
    num_classes: int = 10,
    num_faces: int = 8,
    classes=None,
    cell: float = 0.6,
    show_faces: bool = False,
):
    """A matplotlib ``Figure``: rows are classes, columns one image per distinct face.

    Args:
        ds: a :class:`GlyphDataset` (its ``images``, ``targets``, ``faces`` are used;
            the transform is ignored).
        num_classes: how many classes (rows); the first ones unless ``classes`` is given.
        num_faces: how many faces (columns) per class.
        classes: optional list of labels (ints) or characters to show.
        cell: size of one cell in inches.
        show_faces: write the face name under each image.

    The figure is made without pyplot (no global state): in a notebook leave it
    as the cell's last expression, or call ``fig.savefig(path)``.
    """
    from matplotlib.figure import Figure

    if not isinstance(ds, GlyphDataset):
        raise ValueError(f"glyph_sheet needs a GlyphDataset from load_glyphs(...); got {type(ds).__name__}")
    if classes is None:
        _check_int("num_classes", num_classes, 1, None, "rows of the sheet")
        labels = list(range(min(num_classes, ds.num_classes)))
    else:
        labels = []
        for c in classes:
            if isinstance(c, str):
                if c not in ds.classes:
                    raise ValueError(f"character {c!r} is not a class of this split; pick from ds.classes")
                labels.append(ds.classes.index(c))
            elif isinstance(c, numbers.Integral) and 0 <= c < ds.num_classes:
                labels.append(int(c))
            else:
                raise ValueError(f"class {c!r} must be a label in [0, {ds.num_classes}) or a character of ds.classes")
    _check_int("num_faces", num_faces, 1, None, "columns of the sheet")
    targets = np.asarray(ds.targets)
    rows = []
    for lab in labels:
        seen: dict[str, int] = {}
        for i in np.flatnonzero(targets == lab):
            seen.setdefault(ds.faces[i], int(i))
            if len(seen) == num_faces:
                break
        rows.append(list(seen.items()))
    ncols = max(len(r) for r in rows)
    fig = Figure(figsize=(cell * ncols + 0.4, cell * len(rows) * (1.25 if show_faces else 1.0)))
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for r, (lab, items) in enumerate(zip(labels, rows)):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c < len(items):
                face, i = items[c]
                ax.imshow(ds.images[i], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
                if show_faces:
                    ax.set_xlabel(face, fontsize=4)
            if c == 0:
                ax.set_ylabel(f"{ds.classes[lab]}  ", rotation=0, fontsize=10, ha="right", va="center")
    fig.suptitle(f"glyphs ({ds.split}): {len(rows)} classes x {ncols} faces", fontsize=9)
    fig.tight_layout()
    return fig
