"""Glyph generation: elastic distortion, the generation parameters and the generator itself."""

from __future__ import annotations

import hashlib
import json
import numbers
import time
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from ...checks import check_int
from .faces import _MESH, _SUPERSAMPLE, CANDIDATES, FACES, _render_clean, _selection

GENERATOR_VERSION = 2


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


def _params(**given) -> dict[str, Any]:
    unknown = sorted(set(given) - set(_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown glyph parameter(s) {', '.join(unknown)}; the parameters are {', '.join(_DEFAULTS)}")
    p = {**_DEFAULTS, **given}
    p["seed"] = check_int("seed", p["seed"], 0, "any non-negative integer")
    p["image_size"] = check_int(
        "image_size", p["image_size"], 16, "32 is the default; the small CNN wants 32", maximum=256
    )
    p["images_per_face"] = check_int(
        "images_per_face", p["images_per_face"], 1, "e.g. 6 (default) or 1-2 for quick tests", maximum=1000
    )
    p["faces_per_class"] = check_int(
        "faces_per_class",
        p["faces_per_class"],
        _MIN_FACES,
        "each class needs at least 8 faces; 12 is the default",
        maximum=16,
    )
    p["num_train_classes"] = check_int(
        "num_train_classes", p["num_train_classes"], 2, "the paper's C = 100 is the default"
    )
    p["num_test_classes"] = check_int("num_test_classes", p["num_test_classes"], 2, "100 is the default")
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
def generate_glyph_arrays(p: dict[str, Any], progress: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Render the glyph dataset of the checked parameters ``p``: its arrays and its manifest (the slow part that
    the cache avoids; the tests replace it to prove that a valid cache is not regenerated)."""
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
