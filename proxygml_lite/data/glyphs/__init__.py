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

The code is split into modules of this package: :mod:`.faces` (fonts, clean
renderings, similarity, the choice of classes), :mod:`.generate`
(distortion, parameters, generation), :mod:`.cache` (the cache under
``<data_root>/glyphs``) and :mod:`.dataset` (the dataset, :func:`load_glyphs`,
:func:`glyph_sheet`); every name is importable from here as before.
"""

from __future__ import annotations

from .cache import ensure_glyphs, read_manifest
from .dataset import GlyphDataset, glyph_sheet, load_glyphs
from .faces import CANDIDATES, FACES, CleanGlyphs, clean_glyphs, face_distances, glyph_distances, look_alike_pairs
from .faces import _selection as _selection  # used by the tests
from .generate import _DEFAULTS as _DEFAULTS  # used by the tests
from .generate import GENERATOR_VERSION

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
    "look_alike_pairs",
    "face_distances",
]
