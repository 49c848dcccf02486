# The two commands of the README:
#   make course   runs the course (all notebooks, headless, course preset)
#   make test     runs the tests (tiny preset; what CI runs)
# Both create and reuse a local virtual environment in .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: course test venv clean-venv

$(STAMP): pyproject.toml
	@echo ">> creating the virtual environment in $(VENV) (first time: about 2 minutes, ~5 GB)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

venv: $(STAMP)

course: $(STAMP)
	$(BIN)/dualkd course

test: $(STAMP)
	$(BIN)/python -m pytest

clean-venv:
	rm -rf $(VENV)
