# fusion-graph: `make demo` runs a real offline fusion; `make test` runs every check.
# Both create .venv and install the project with the `local` extra (llama-cpp-python builds from
# source: a few minutes the first time, cached by pip afterwards).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROMPT ?= Is 1001 a prime number? Explain briefly.
# Keep the llama.cpp build short: no multimodal (LLaVA) tools.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF

.PHONY: demo test lint typecheck pytest fuzz fuzz-coverage install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,dev]'
	# BFCL v4 data for `fusion eval`: only its data files are read, so none of its pinned, heavy deps.
	$(BIN)/pip install --quiet --no-deps 'bfcl-eval==2026.3.23'
	# GSM-Symbolic for `fusion eval -d gsm-symbolic`: only its stdlib-only generators are loaded (never the
	# package's __init__, which needs heavy deps), so none of its deps.
	$(BIN)/pip install --quiet --no-deps 'reasoning-gym==0.1.25'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/fusion run "$(PROMPT)"

lint: $(STAMP)
	$(BIN)/ruff check fusion_graph tool_registry tests examples bench
	$(BIN)/ruff format --check fusion_graph tool_registry tests examples bench

typecheck: $(STAMP)
	$(BIN)/pyright

# Every test, the fuzz stage included (tests marked `fuzz`: fixed seeds, bounded, 127.0.0.1 only).
pytest: $(STAMP)
	$(BIN)/python -m pytest

# The fuzz stage alone: schemathesis against the served OpenAPI document, hypothesis over chat bodies,
# malformed JSON-RPC to `fusion tools serve --transport http`, hypothesis over configs.
fuzz: $(STAMP)
	$(BIN)/python -m pytest -m fuzz

# schemathesis's coverage phase too (every boundary value of every field; not bounded by an example
# count, so not in `make test`).
fuzz-coverage: $(STAMP)
	FUSION_FUZZ_PHASES=coverage,fuzzing $(BIN)/python -m pytest -m fuzz tests/server/test_fuzz_openapi.py

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
