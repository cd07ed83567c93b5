# Two entry points, each doing its own set-up on a fresh machine:
#   make demo   creates .venv, installs restoration-zoo (no test extras), runs `zoo run recipe cascaded-flare`
#   make test   creates .venv, installs restoration-zoo + test extras + the example plugin, runs mypy
#               (config in pyproject.toml) then pytest
#   make gpu-check  on a machine with a CUDA GPU: attention, paper-sized training step (fp32 / bf16),
#               the demo on the GPU; one Markdown table in benchmarks/RESULTS-gpu-check.md
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: install demo test bench gpu-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP) pyproject.toml plugins/zoo-loss-example/pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]" -e plugins/zoo-loss-example
	touch $(TEST_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/zoo run recipe cascaded-flare
	@echo "The zoo command is in $(BIN): run 'source $(BIN)/activate' to use it by name."

test: $(TEST_STAMP)
	$(BIN)/python -m mypy zoo
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

gpu-check: $(TEST_STAMP)
	$(BIN)/python benchmarks/gpu_check.py --device cuda --out benchmarks/RESULTS-gpu-check.md

clean:
	rm -rf $(VENV) build *.egg-info
