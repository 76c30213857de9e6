# fairkd_nb — the two commands of the README: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fairkd-installed
PRESET ?= demo
export PYTHONUNBUFFERED := 1
export MPLBACKEND := Agg

.PHONY: install demo test test-fast lab export clean-runs bench

# Create .venv if missing and install the kit with its dev tools (re-run when pyproject.toml changes).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,browser]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

install: $(STAMP)

# The main job: every method notebook under the demo preset on SynthFaces, then the report (runs/bench/report.html).
# A second `make demo` reruns nothing that finished; `make demo FORCE=--force` reruns all.
demo: install
	$(BIN)/fairkd bench --preset $(PRESET) $(FORCE)

# Notebooks clean + package in sync, inline notebook tests, then pytest (2 processes; tests of one file share a process).
test: install browser-deps
	bash tools/check_nbdev_sync.sh $(BIN)
	@# every run the tests make goes to a scratch folder, never into runs/
	runs=$$(mktemp -d -t fairkd-test-runs.XXXXXX); export FAIRKD_RUNS=$$runs IN_TEST=1 FAIRKD_BROWSER_REQUIRED=1; \
	$(BIN)/nbdev-test --n-workers 2 --timing && $(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=12 tests; rc=$$?; \
	rm -rf $$runs; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

lab: install
	$(BIN)/jupyter lab nbs

export: install
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean

clean-runs:
	rm -rf runs

# ---- documentation site and real-browser test (tools/build_docs.py, tests/test_browser.py) ----
.PHONY: docs test-browser browser-deps
DOCS_OUT ?= _site
DOCS_JOBS ?= 2
DOCS_PRESET ?= smoke

# Static HTML site of every notebook in nbs/, executed (DOCS_PRESET, default smoke), figures embedded -> _site/.
docs: install
	$(BIN)/python tools/build_docs.py --out $(DOCS_OUT) --jobs $(DOCS_JOBS) --preset $(DOCS_PRESET)

# What tests/test_browser.py needs: Chromium (the Debian package, installed when root with apt-get and missing) and
# the Playwright driver in .venv (its own browser download, `playwright install`, is not used). Never fails: what
# cannot be installed makes the browser test skip, with the reason.
browser-deps: install
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "browser-deps: apt-get install chromium"; \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
	      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; } \
	      || echo "browser-deps: could not install chromium; tests/test_browser.py will be skipped"; \
	  else echo "browser-deps: no Chromium (Debian: apt-get install chromium); tests/test_browser.py will be skipped"; fi; \
	fi
	@$(BIN)/python -c "import playwright.sync_api" 2>/dev/null || $(BIN)/python -m pip install -q playwright \
	  || echo "browser-deps: could not install playwright; tests/test_browser.py will be skipped"

# JupyterLab + headless Chromium: run the tutorial, drag its explorer's slider, check the plot changes.
test-browser: browser-deps
	IN_TEST=1 FAIRKD_BROWSER_REQUIRED=1 $(BIN)/python -m pytest -q -p no:cacheprovider -rs -s tests/test_browser.py
