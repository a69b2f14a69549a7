# paperzoo: `make help` lists the targets. Every target that needs the environment installs uv when it is
# missing and lets `uv run` sync the workspace, so a fresh clone needs no `make setup` first.

SHELL := /bin/bash
.DEFAULT_GOAL := help

UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --all-packages --locked
PYTEST_ARGS ?= -n 2
PAPER ?=
ARGS ?=
# The registry: every package that declares a paper (entry point `paperzoo.papers` in its pyproject.toml).
PACKAGES := $(shell python3 shared/src/paperzoo/core/workspace.py .)
TITLE ?=
ARXIV ?=

.PHONY: help uv setup train reproduce test lint format report readme new bench check-paper

help: ## list the targets
	@echo "paperzoo: make TARGET [PAPER=<name>]"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-12s %s\n", $$1, $$2}'
	@echo "packages: $(PACKAGES)"

uv: ## install uv with pip when it is missing
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

setup: uv ## install the whole workspace (uv sync --all-packages)
	$(UV) sync --all-packages --locked

check-paper:
	@if [ -z "$(PAPER)" ]; then echo "make: PAPER=<name> is required; one of: $(PACKAGES)" >&2; exit 2; fi
	@if [ ! -d "packages/$(PAPER)" ]; then echo "make: no package '$(PAPER)'; one of: $(PACKAGES)" >&2; exit 2; fi

train: uv check-paper ## tiny training run of PAPER on the CPU (configs/tiny.yaml)
	$(RUN) paperzoo-$(PAPER) fit --config packages/$(PAPER)/configs/tiny.yaml $(ARGS)

reproduce: uv check-paper ## run PAPER's acceptance experiment (ARGS="--seeds 0 1 2")
	$(RUN) paperzoo-$(PAPER) reproduce $(ARGS)

test: uv lint ## lint, then every test but the slow ones (PAPER=<name> for one package)
ifeq ($(PAPER),)
	$(RUN) pytest shared/tests $(addsuffix /tests,$(addprefix packages/,$(PACKAGES))) $(PYTEST_ARGS)
else
	@$(MAKE) --no-print-directory check-paper PAPER=$(PAPER)
	$(RUN) pytest packages/$(PAPER)/tests $(PYTEST_ARGS)
endif

lint: uv ## ruff check and ruff format --check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: uv ## apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

report: uv ## build site/index.html from every package's committed results
	$(RUN) python -m paperzoo.eval.report --root . --out site

readme: uv ## regenerate the READMEs' generated blocks (verdicts, results, the status table) from results/
	$(RUN) python -m paperzoo.eval.readme --root .

new: uv ## scaffold packages/PAPER from the template (TITLE="..." ARXIV=2503.xxxxx), add it to the workspace, re-lock
	$(RUN) python -m paperzoo.core.scaffold --root . --name "$(PAPER)" --title "$(TITLE)" --arxiv "$(ARXIV)"

bench: uv ## kernel benchmarks (CPU; GPU sections run when CUDA is there)
	@for script in shared/bench/bench_*.py; do echo "== $$script"; $(RUN) python $$script --quick || exit 1; done
