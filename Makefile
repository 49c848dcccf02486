# The two commands of the README:
#   make course   runs the course (all notebooks, headless, course preset)
#   make test     runs the tests (tiny preset; what CI runs)
# Both create and reuse a local virtual environment in .venv, installed from the
# exact lock requirements.lock (every package, transitive ones included), then
# the project itself with --no-deps: nothing is resolved again at install time.
#   make lock     refreshes requirements.lock from pyproject.toml's ranges
#                 (run it after changing a dependency; then `make test` must pass).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
PIP_VERSION := 26.3
UV_VERSION  := 0.13.9
LOCK_VENV   := build/lock-tools

.PHONY: course test venv lock clean-venv

$(STAMP): $(LOCK) pyproject.toml
	@echo ">> creating the virtual environment in $(VENV) from $(LOCK) (first time: a few minutes, ~5 GB)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "pip==$(PIP_VERSION)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-virtualenv -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	$(BIN)/dualkd doctor --lock-only
	touch $(STAMP)

venv: $(STAMP)

course: $(STAMP)
	$(BIN)/dualkd course

test: $(STAMP)
	$(BIN)/python -m pytest

# One command refreshes the lock: a universal resolution (Linux, macOS, Windows;
# Python >= 3.10) of pyproject.toml's ranges with uv, installable with plain pip.
lock:
	test -x $(LOCK_VENV)/bin/uv || ( $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/python -m pip install --quiet "uv==$(UV_VERSION)" )
	$(LOCK_VENV)/bin/uv pip compile --universal --python-version 3.10 --custom-compile-command "make lock" \
		--annotation-style line --upgrade -o $(LOCK) pyproject.toml
	@echo ">> $(LOCK) refreshed: now run 'make test' (it reinstalls .venv from the new lock) before you commit it"

clean-venv:
	rm -rf $(VENV)
