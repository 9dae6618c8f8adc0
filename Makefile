# The two commands in the README:
#   make serve   set up (first time) and run the language server over stdio (ARGS=... for flags)
#   make test    set up (first time) and run every test (Python, Neovim, VS Code)
# Set-up output goes to stderr so `make serve` keeps stdout clean for LSP.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# llama.cpp: a portable build (the native one crashes on AMX CPUs with quantized models and
# does not move between machines).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup serve test test-python lint system-deps bench bench-smoke clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV) >&2
	@$(PY) -m pip install -q --upgrade pip wheel >&2
	@echo "installing starcoder-lsp and its dependencies into $(VENV) (llama-cpp-python compiles: a few minutes the first time)" >&2
	@# torch pinned first: 2.13.0 is the CPU wheel this machine image ships; an unpinned
	@# torch would pull several GB of CUDA packages (tests run the transformers backend on CPU).
	@$(PY) -m pip install -q "torch==2.13.0" >&2
	@$(PY) -m pip install -q -e ".[llama,gpu,dev]" >&2
	@touch $(STAMP)

serve: setup
	@exec $(VENV)/bin/starcoder-lsp $(ARGS)

# Debian packages the editor tests need (Neovim); installed only when missing.
system-deps:
	@command -v nvim >/dev/null || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim >&2; }

lint: setup
	$(VENV)/bin/ruff check lsp_server model tests bench
	$(VENV)/bin/mypy

test: setup system-deps lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-python: setup
	$(PY) -m pytest -m "not editor" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
