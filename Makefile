# Two entry points (see README): `make demo` installs everything and runs the main
# job on the embedded defaults; `make test` installs and runs the test suite.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/xp data build
	$(BIN)/xp data info
	$(BIN)/xp candidates --anchor "ground coffee"

test: install
	$(BIN)/python -m pytest -m "not slow" -q

test-all: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/mba_bench.py

clean:
	rm -rf $(VENV) .xp
