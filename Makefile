# The workbook's two commands are `make workbook` and `make test`; both set up .venv first.
# asclab runs on Python 3.11, 3.12 and 3.13 (pyproject.toml's requires-python). Without PYTHON=..., the first
# of PYTHON_CANDIDATES that is one of those makes the venv; PYTHON=/path/to/python3.x chooses it yourself.
PYTHON_CANDIDATES := python3.11 python3.12 python3.13 python3
SUPPORTED := 3.11, 3.12 or 3.13
IS_SUPPORTED := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))
PYTHON_ORIGIN := $(origin PYTHON)
ifndef PYTHON
PYTHON := $(shell for p in $(PYTHON_CANDIDATES); do \
	$$p -c '$(IS_SUPPORTED)' >/dev/null 2>&1 && { command -v $$p; break; }; done)
endif
# A pyenv shim refuses a version that is installed but not selected ("pyenv: python3.13: command not found"):
# then PYTHON=python3.13 means pyenv's own copy of it, ~/.pyenv/versions/3.13.*/bin/python3.13.
ifneq ($(PYTHON),)
ifneq ($(shell $(PYTHON) -c 'import sys' >/dev/null 2>&1 && echo runs),runs)
PYENV_COPY := $(shell for p in $${PYENV_ROOT:-$$HOME/.pyenv}/versions/*/bin/$(notdir $(PYTHON)); do \
	$$p -c 'import sys' >/dev/null 2>&1 && { echo $$p; break; }; done)
ifneq ($(PYENV_COPY),)
$(info PYTHON=$(PYTHON) does not run here (a pyenv shim for a version not selected): using $(PYENV_COPY))
override PYTHON := $(PYENV_COPY)
endif
endif
endif
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= demo
ARGS ?=

.PHONY: venv python-check workbook test lint browser-test lab bench student-copy clean

venv: python-check $(VENV)/.installed

# Before a venv is made: is there a supported Python? With a venv and an explicit PYTHON: is it that one's?
python-check:
	@if [ ! -x $(BIN)/python ] && [ -z "$(PYTHON)" ]; then \
		echo "asclab needs Python $(SUPPORTED), and none of $(PYTHON_CANDIDATES) on the PATH is one." >&2; \
		echo "Install one (python.org, Homebrew python@3.12, apt-get install python3.12, pyenv install 3.12)," \
			"then run make again, or name it: make test PYTHON=/path/to/python3.12" >&2; \
		exit 1; \
	fi
	@if [ ! -x $(BIN)/python ] && ! $(PYTHON) -c '$(IS_SUPPORTED)' 2>/dev/null; then \
		echo "PYTHON=$(PYTHON) is not Python $(SUPPORTED) ($$($(PYTHON) --version 2>&1)):" \
			"name another one, e.g. make test PYTHON=/path/to/python3.12" >&2; \
		exit 1; \
	fi
	@if [ -x $(BIN)/python ] && [ "$(PYTHON_ORIGIN)" != undefined ] && \
		[ "$$($(BIN)/python -c 'import sys; print(sys.version_info[:2])')" != \
		  "$$($(PYTHON) -c 'import sys; print(sys.version_info[:2])' 2>&1)" ]; then \
		echo "$(VENV) holds $$($(BIN)/python --version), not the Python of PYTHON=$(PYTHON):" \
			"remove it (rm -rf $(VENV)) or give this one its own folder (make test VENV=.venv-x PYTHON=...)" >&2; \
		exit 1; \
	fi

$(VENV)/.installed: pyproject.toml | python-check
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"; \
		$(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

## Set up, generate the embedded dataset if absent, run every notebook headless.
workbook: venv
	$(BIN)/asclab data synth --profile $(PROFILE) --if-absent
	$(BIN)/asclab run --profile $(PROFILE) $(ARGS)

## Set up and pass the tests (CI runs exactly this; the browser test is separate). The linter runs first.
test: venv lint
	$(BIN)/python -m pytest $(ARGS)

## Ruff over the package (settings in pyproject.toml: lines of 110 characters).
lint: venv
	$(BIN)/ruff check asclab

## The interactive lessons in a real JupyterLab in headless Chromium (tests/browser/). Needs Debian's
## chromium (apt-get install -y chromium) or ASCLAB_CHROMIUM=/path/to/chromium; installs Playwright (the
## browser extra), which drives that Chromium and never downloads one. Screenshots: runs/browser-test/.
browser-test: venv $(VENV)/.browser-installed
	ASCLAB_BROWSER_TEST=1 ASCLAB_BROWSER_ARTIFACTS=runs/browser-test \
		$(BIN)/python -m pytest tests/browser $(ARGS)

$(VENV)/.browser-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[browser]'
	touch $@

## Open the notebooks interactively.
lab: venv
	$(BIN)/jupyter lab notebooks/

## Speed and memory tables (not part of the tests).
bench: venv
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## Student versions of the notebooks (solutions replaced by stubs) in student/.
student-copy: venv
	$(BIN)/asclab student-copy --out student

clean:
	rm -rf runs .pytest_cache
