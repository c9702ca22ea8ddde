# Two commands do all set-up on a bare machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench lint clean

run: $(STAMP)
	$(BIN)/roundup-bot run

test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -q

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_core.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_web.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_digest.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_search.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_scale.py --passages 10000

# torch first and pinned: a CPU build on local disk. Plain `torch` or a range pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info
