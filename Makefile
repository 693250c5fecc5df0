# The two commands of the README: `make workbook` (the main job) and `make test`.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
RUN ?= $(PROFILE)-$(shell date +%Y%m%d-%H%M%S)
DATA_MIRROR ?= $(if $(wildcard ../shared/data),../shared/data,)
export MTLIB_DATA_DIR ?= data
NOTEBOOKS ?= 01,02,03,04
SEEDS ?= 0
GRID ?=
STUDY_PROFILE ?= study-cpu
STUDY_SEEDS ?= 0,1,2
ROWS ?=
LAUNCHER ?= local
SLURM_ARGS ?=
LAB_CHECK_OUT ?= runs/lab-check

.PHONY: help install data test test-fast workbook sweep study lab lab-check lint format results

$(VENV)/.installed: pyproject.toml
	# WordNet for the EDA synonyms of --use_preprocessing lengths_augmented (Debian's wordnet-base; needs root)
	test -f /usr/share/wordnet/index.noun || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base </dev/null) \
		|| echo "WordNet missing: run apt-get install wordnet-base as root (only --use_preprocessing lengths_augmented needs it)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: a resolver left alone may pick a newer CUDA build of several GB
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	-$(PY) -c 'from mtlib.workbook.notebooks.lab import install_git_filter as f; from mtlib.util.paths import project_root as r; print(f(r()) or "")'
	touch $@

install: $(VENV)/.installed  ## create .venv and install mtlib with its dev tools

data: $(VENV)/.installed  ## fill data/ from $DATA_MIRROR (default ../shared/data) or a download, checking md5 sums
	$(PY) -m mtlib data --dest data $(if $(DATA_MIRROR),--mirror $(DATA_MIRROR),)

test: $(VENV)/.installed data  ## the whole test suite (CPU only)
	$(PY) -m pytest -n 2 --dist loadfile -q

test-fast: $(VENV)/.installed data  ## skip the tests that load the packaged encoder or run notebooks
	$(PY) -m pytest -n 2 -q -m "not slow"

workbook: $(VENV)/.installed data  ## run the committed notebooks 01-04 with PROFILE (cpu | cpu-full | gpu | reference | smoke) into runs/RUN; SEED=n replaces the profile's seed; OVERWRITE=1 retrains a finished RUN; EDITED=1 runs notebooks/ as edited (kept in the run)
	$(PY) -m mtlib.workbook --profile $(PROFILE) --run $(RUN) $(if $(SEED),-p seed=$(SEED),) $(if $(filter 1,$(OVERWRITE)),--overwrite,) $(if $(filter 1,$(EDITED)),--edited-notebooks,)

sweep: $(VENV)/.installed data  ## run PROFILE's recipe for each seed of SEEDS (0,1,2) and each point of GRID (finetune.lr=2e-5,5e-5; several separated by spaces), skipping finished runs, then compare them
	$(PY) -m mtlib sweep --profile $(PROFILE) --seeds $(SEEDS) $(foreach g,$(GRID),--grid '$(g)')

study: $(VENV)/.installed data  ## run the reference report's Table 2 (every runnable row, STUDY_SEEDS 0,1,2, STUDY_PROFILE study-cpu; ROWS=a,b for some), skipping finished runs; then record them into results/study/. LAUNCHER=slurm SLURM_ARGS='--partition gpu --gpus_per_task 1' runs them as one Slurm job array and waits
	$(PY) -m mtlib study --profile $(STUDY_PROFILE) --seeds $(STUDY_SEEDS) $(if $(ROWS),--rows $(ROWS),) --launcher $(LAUNCHER) $(if $(filter slurm,$(LAUNCHER)),--wait,) $(SLURM_ARGS)
	$(PY) -m mtlib study --profile $(STUDY_PROFILE) --record

lab: $(VENV)/.installed data  ## JupyterLab at the project root, opened on labs/PROFILE/ (the profile's own copies of notebooks/; runs/ in the same file browser); they run with PROFILE into runs/interactive-PROFILE; more flags: LAB_ARGS
	$(PY) -m mtlib.workbook.notebooks.lab --profile $(PROFILE) $(LAB_ARGS)

lab-check: $(VENV)/.installed data  ## run NOTEBOOKS (01,02,03,04) in `make lab` in headless Chromium, smoke profile, then open a run's figure and executed notebook there; screenshots to LAB_CHECK_OUT
	$(PY) tests/lab_check.py --notebooks $(NOTEBOOKS) --out $(LAB_CHECK_OUT)

results: $(VENV)/.installed  ## regenerate the tables of docs/results.md from the recorded runs in results/
	$(PY) -m mtlib results --update-readme

lint: $(VENV)/.installed  ## ruff: lint and check formatting
	$(VENV)/bin/ruff check mtlib tests benchmarks
	$(VENV)/bin/ruff format --check mtlib tests benchmarks

format: $(VENV)/.installed  ## ruff: format and fix what it can
	$(VENV)/bin/ruff format mtlib tests benchmarks
	$(VENV)/bin/ruff check --fix mtlib tests benchmarks

help:  ## list the targets
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-z][a-zA-Z_-]*:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
