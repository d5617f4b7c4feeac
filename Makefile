# proxygml_lite: every target creates the project's virtual environment on
# first use, from the pinned, tested set in constraints.txt.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP_INSTALL := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: help venv test test-fast lab notebooks notebooks-check book student bench gpu-check studies umap-maps readme clean-venv

help:
	@echo "make lab        - open the notebooks in JupyterLab (creates $(VENV) on first use)"
	@echo "make test       - run the whole test suite (creates $(VENV) on first use)"
	@echo "make notebooks  - execute every notebook in full mode and commit-ready outputs + figures/"
	@echo "make book       - build the notebooks as an offline HTML site: build/book/index.html"
	@echo "make student    - the student edition (no solutions, empty exercises) and its site: build/student/"
	@echo "make bench      - run the benchmark scripts in benchmarks/"
	@echo "make gpu-check  - on a CUDA machine: the prepared GPU check (at most 8 min) -> results/gpu/"
	@echo "make umap-maps  - fit notebook 9's UMAP maps once from the committed snapshots: results/glyphs_hard/umap_maps.npz"
	@echo "make readme     - write the README's study section from the tables in results/glyphs_hard/"
	@echo "make studies    - train the ablation, N x r and probe studies on glyphs_hard (5 seeds) and measure the loss-layer cost: results/glyphs_hard/ (resumes cell by cell)"

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) -e ".[notebooks,faiss,test]"
	@touch $(STAMP)

# The whole suite on every core (pytest-xdist); `make test-fast` leaves out the tests marked slow
# (notebook executions and exercise solutions, JupyterLab and the site in Chromium, the wheel and the student
# edition, the GPU check's CPU mode, the committed cell's rerun and other long trainings).
test: $(STAMP)
	$(BIN)/python -m pytest -n auto

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n auto -m "not slow"

# --allow-root only where you are root (containers); JupyterLab refuses root otherwise.
LAB_FLAGS := --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB_FLAGS) $(LAB_EXTRA)

notebooks: $(STAMP)
	$(BIN)/python scripts/execute_notebooks.py

notebooks-check: $(STAMP)
	$(BIN)/python scripts/execute_notebooks.py --smoke --check

# The committed notebooks (outputs and figures), the contents page and the glossary as a static site
# that works offline (MathJax bundled from the jupyter-server-mathjax package); nothing is executed.
book: $(STAMP)
	$(BIN)/python scripts/build_book.py

# The committed notebooks are the instructor's answer key; the student edition leaves out every solution
# and answer, keeps the implement-it-yourself cells empty (their checkers say "not implemented yet").
student: $(STAMP)
	$(BIN)/python scripts/student_edition.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_loss.py
	$(BIN)/python benchmarks/bench_eval.py
	$(BIN)/python benchmarks/bench_proxy_losses.py
	$(BIN)/python benchmarks/bench_train_step.py
	$(BIN)/python benchmarks/bench_run_overhead.py
	$(BIN)/python benchmarks/bench_data_pipeline.py

gpu-check: $(STAMP)
	$(BIN)/python scripts/gpu_check.py

studies: $(STAMP)
	$(BIN)/python -m proxygml_lite.studies $(STUDIES_FLAGS)
	$(BIN)/python -m proxygml_lite.lab.umap_maps
	$(BIN)/python scripts/update_readme.py

# Notebook 9's UMAP maps are committed numbers: a seeded UMAP still differs a little between processors, so the
# notebook (full mode) and the offline site read this file rather than refit; refit after the snapshots change.
umap-maps: $(STAMP)
	$(BIN)/python -m proxygml_lite.lab.umap_maps

# The README's study section (tables, comparisons, the paper's claims) is generated from the tables.
readme: $(STAMP)
	$(BIN)/python scripts/update_readme.py

clean-venv:
	rm -rf $(VENV)
