# fairkd_nb — the two commands of the README: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fairkd-installed
PRESET ?= smoke
export PYTHONUNBUFFERED := 1
export MPLBACKEND := Agg

.PHONY: install demo test test-fast lab export clean-runs bench

# Create .venv if missing and install the kit with its dev tools (re-run when pyproject.toml changes).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

install: $(STAMP)

# Run the main job on the bundled SynthFaces data; results in runs/.
demo: install
	$(BIN)/fairkd demo --preset $(PRESET)

# Notebooks clean + package in sync, inline notebook tests, then pytest.
test: install
	bash tools/check_nbdev_sync.sh $(BIN)
	IN_TEST=1 $(BIN)/nbdev-test --n-workers 2 --timing
	IN_TEST=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

lab: install
	$(BIN)/jupyter lab nbs

export: install
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean

clean-runs:
	rm -rf runs
