# regx_nb: `make test` and `make study` are the two commands of the README.
# Both create .venv and install the kit into it when it is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.regx-installed
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
# e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu for CPU-only wheels on a CI runner
TORCH_INDEX ?=
NB_WORKERS ?= 2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STUDY_OUT ?= study
TIMED := tools/timed.sh
export STAGE_TIMES ?= $(CURDIR)/.stage-times
# Python keeps compiled bytecode next to the sources; an environment that turns this off (PYTHONDONTWRITEBYTECODE)
# makes every test process and notebook kernel compile the kit again
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup test test-slow sync docs-check test-nbs test-py study readme run-nbs html gpu-check clean

setup:
	@$(TIMED) install $(MAKE) --no-print-directory $(STAMP)

$(STAMP): pyproject.toml
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || \
	  { echo "installing Debian's chromium (the report test opens the study report in it)"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_PINS) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX) --extra-index-url https://pypi.org/simple)
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

# nbdev-export and nbdev-clean must leave no diff
sync: setup
	@BIN=$(BIN) $(TIMED) sync tools/check_sync.sh

# every notebook (one thread per worker: the workers share the cores), in a fresh REGX_HOME that the lessons of this
# session share (the quick study is trained once, by the first lesson that needs it), then the pytest suite
test-nbs: setup
	@home=$$(mktemp -d -t regx-test-home-XXXXXX); \
	  REGX_HOME=$$home OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(TIMED) notebooks $(BIN)/nbdev-test --n-workers $(NB_WORKERS) --timing; \
	  rc=$$?; rm -rf $$home; exit $$rc

# on two workers (most tests wait for the processes they start; one file per worker, so a file's fixtures are built
# once), one thread each; the ten slowest tests are printed; heavier cases are marked slow and run by `make test-slow`
PYTEST_WORKERS ?= 2
test-py: setup
	@OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(TIMED) pytest $(BIN)/python -m pytest tests -m 'not slow' --durations=10 \
	  -n $(PYTEST_WORKERS) --dist loadfile

test-slow: setup
	$(BIN)/python -m pytest tests -m slow --durations=10

# every notebook processed as the docs site shows it (nbdev-proc-nbs, the first step of nbdev-docs, without Quarto)
docs-check: setup
	@$(TIMED) docs $(BIN)/python tools/proc_nbs.py

# each stage prints its time, and the table of all of them closes the run
test:
	@rm -f $(STAGE_TIMES)
	@$(MAKE) --no-print-directory sync docs-check test-nbs test-py; rc=$$?; $(TIMED) --summary; rm -f $(STAGE_TIMES); exit $$rc

# the kit's main job: train the default grid on the shipped data and write $(STUDY_OUT)/report/index.html (resumable)
study: setup
	$(BIN)/regx-study --out $(STUDY_OUT)

readme: setup
	$(BIN)/python tools/make_readme.py

# execute lessons for real (not quick mode) and keep their outputs for the docs: make run-nbs NBS="nbs/05_*.ipynb"
NBS ?= nbs/[0-9]*.ipynb
run-nbs: setup
	for nb in $(NBS); do echo "== $$nb"; REGX_QUICK=0 IN_TEST= $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=-1 "$$nb" || exit 1; done
	$(BIN)/nbdev-clean

# render every notebook to HTML under _html/ to look at the pages without Quarto
html: setup
	mkdir -p _html && cp -r nbs/images _html/ && $(BIN)/jupyter nbconvert --to html --output-dir _html nbs/*.ipynb
	@echo "look at them: $(BIN)/python tools/look.py _html/NN_name.html (headless Chromium screenshots)"

# on a machine with a CUDA GPU (never in CI): the cuda-flagged notebook cells, gpu_tests/, a quick study on CUDA, each timed
gpu-check: setup
	$(BIN)/python tools/gpu_check.py

clean:
	rm -rf _proc _docs _html .pytest_cache .stage-times
