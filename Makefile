# Every target bootstraps .venv on its own, so a fresh clone needs only
# Python 3.11, make and a C compiler.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: test bench run clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The stamp files make re-installs happen only when the metadata changes.
$(VENV)/.test-installed: $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install -q -e '.[test]'
	touch $@

$(VENV)/.bench-installed: $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

# The suite spreads over every usable core (pytest-xdist): most tests wait
# on sockets and child processes, so two workers on two cores finish far
# sooner than one.  PYTEST_ARGS="-n0 ..." runs it in one process.
PYTEST_ARGS ?= -n auto

test: $(VENV)/.test-installed
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.bench-installed
	$(PY) benchmarks/run_all.py

# The finger demo in the foreground: finger on 127.0.0.1:1079, its setter on
# 127.0.0.1:1080.  Ctrl-C stops it.
run: $(VENV)/.test-installed
	$(VENV)/bin/loomd -n --pidfile= -y doc/examples/finger.tac

clean:
	rm -rf $(VENV) build *.egg-info
