"""``python -m proxygml_lite.studies``: see :func:`proxygml_lite.studies.main`."""

from . import main

raise SystemExit(main())
