"""Fixtures shared by the test files; the builders of tiny runs are in ``_fabricate.py``, one copy each.

* ``data_root``: a class-disjoint tiny folder dataset (6 training classes, 4 test classes, 16x16 images),
  made once per test module, with ``TINY_PER_CLASS`` images per class where the module sets it (default 4).
* ``_fabricate.tiny_config`` / ``tiny_argv``: a seconds-long CPU run on it, as a config or a command line;
  a test file states what its runs change with ``functools.partial(tiny_config, ...)``.
* ``_fabricate.tiny_study_settings`` / ``tiny_study_flags``: the same for a study's cells.
"""

import pytest
from _fabricate import make_tiny_folder_dataset


@pytest.fixture(scope="module")
def data_root(request, tmp_path_factory):
    per_class = getattr(request.module, "TINY_PER_CLASS", 4)
    return make_tiny_folder_dataset(tmp_path_factory.mktemp("tiny"), per_class=per_class)
