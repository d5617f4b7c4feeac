"""Ship the committed study tables in the wheel (the rest of the configuration is in pyproject.toml).

``results/`` stays at the top of the checkout (``make studies`` writes it, the tests read it); in a wheel it becomes
the package data ``proxygml_lite/results/``, which :func:`proxygml_lite.lab.study_tables.committed_results_dir` finds.
setuptools' ``package-dir`` mapping needs the package list here: pyproject.toml cannot add a mapped folder to ``find``.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["proxygml_lite*"]) + ["proxygml_lite.results"],
    package_dir={"proxygml_lite.results": "results"},
)
