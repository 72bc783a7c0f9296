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

.PHONY: setup test sync test-nbs test-py study readme run-nbs html clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_PINS) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX) --extra-index-url https://pypi.org/simple)
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

# nbdev-export and nbdev-clean must leave no diff
sync: setup
	BIN=$(BIN) tools/check_sync.sh

# every notebook (one thread per worker: the workers share the cores), then the pytest suite
test-nbs: setup
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/nbdev-test --n-workers $(NB_WORKERS) --timing

test-py: setup
	$(BIN)/python -m pytest tests

test: sync test-nbs test-py

study: setup
	$(BIN)/python -c "import sys; from regx_nb.data import get_dls; from regx_nb.models import get_model; \
	from fastai.learner import Learner; from fastai.metrics import accuracy; from fastai.losses import CrossEntropyLossFlat; \
	import fastai.callback.schedule; from regx_nb.core import seed_everything; seed_everything(0); \
	dls = get_dls('fashion_mnist_sample', seed=0); m = get_model('simple_cnn', n_in=dls.n_in, n_out=dls.c, stats=dls.stats); \
	learn = Learner(dls, m, loss_func=CrossEntropyLossFlat(), metrics=accuracy, wd=0.); learn.fit_one_cycle(3, 3e-3); \
	loss, acc = learn.validate(ds_idx=2); print(f'simple_cnn on fashion_mnist_sample: test accuracy {acc:.4f}')"

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
	mkdir -p _html && $(BIN)/jupyter nbconvert --to html --output-dir _html nbs/*.ipynb

clean:
	rm -rf _proc _docs _html .pytest_cache
