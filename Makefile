# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KERNEL := $(VENV)/share/jupyter/kernels/lsdlab/kernel.json

.PHONY: demo test lab kernel lint install sysdeps bench clean

# The 'vad' extra (onnxruntime) and the silero-vad wheel, whose onnx model vad="silero" runs, are
# installed so the tests cover both front ends; --no-deps: that wheel declares torch, the model needs none.
$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory sysdeps
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,vad]'
	$(BIN)/python -m pip install -q --no-deps 'silero-vad==6.2.3'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests and the demo-corpus recipe use; installed only when run as root.
sysdeps:
	@bash scripts/install-sysdeps.sh

demo: $(STAMP)
	$(BIN)/lsdlab demo

REAL_DEV := ../shared/corpora/real-dev

test: $(STAMP) $(KERNEL)
	$(BIN)/ruff check lsdlab tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lsdlab regress corpora/demo --baseline benchmarks/baselines/demo.json --jobs 2 --no-progress
	@if [ -f $(REAL_DEV)/manifest.csv ]; then \
	  $(BIN)/lsdlab regress $(REAL_DEV) --labels machine --channel --lead-in 0.5 --after silence \
	    --baseline benchmarks/baselines/real-dev-machine.json --jobs 2 --no-progress; \
	else echo "note: $(REAL_DEV) absent, its regression check is skipped"; fi
	$(BIN)/python -m pytest -q || { rc=$$?; bash scripts/pytest-postmortem.sh; exit $$rc; }

# The Jupyter kernel "Python (lsdlab)" (name lsdlab), installed inside .venv, runs .venv's
# interpreter; the notebooks name it in their metadata.

$(KERNEL): $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name lsdlab --display-name "Python (lsdlab)"

kernel: $(KERNEL)

lab: $(KERNEL)
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: $(STAMP) $(KERNEL)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
