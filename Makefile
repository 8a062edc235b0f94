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

.PHONY: demo test lint typecheck pytest install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,dev]'
	# BFCL v4 data for `fusion eval`: only its data files are read, so none of its pinned, heavy deps.
	$(BIN)/pip install --quiet --no-deps 'bfcl-eval==2026.3.23'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/fusion run "$(PROMPT)"

lint: $(STAMP)
	$(BIN)/ruff check fusion_graph tool_registry tests examples bench

typecheck: $(STAMP)
	$(BIN)/pyright

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
