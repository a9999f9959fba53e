# The workbook's two commands are `make workbook` and `make test`; both set up .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= demo
ARGS ?=

.PHONY: venv workbook test lab bench student-copy clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

## Set up, generate the embedded dataset if absent, run every notebook headless.
workbook: venv
	$(BIN)/asclab data synth --profile $(PROFILE) --if-absent
	$(BIN)/asclab run --profile $(PROFILE) $(ARGS)

## Set up and pass the tests (CI runs exactly this).
test: venv
	$(BIN)/python -m pytest $(ARGS)

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
