# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KERNEL := $(VENV)/share/jupyter/kernels/lsdlab/kernel.json
# The interpreter's version, stamped into .venv: another interpreter (or a .venv left broken
# by an earlier run) makes the next run rebuild .venv from scratch.
PYVER := $(shell $(PY) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)
PYSTAMP := $(VENV)/.python-$(or $(PYVER),missing)

GOAL := $(or $(MAKECMDGOALS),demo)

.PHONY: demo test test-fast lab kernel lint install sysdeps bench clean check-python

# make installs lsdlab[all,dev], whose [sip] extra needs the pjsua2-python wheels: they exist
# for CPython 3.10-3.12 only. (The core, `pip install lsdlab`, also runs on 3.13.)
define CHECK_PYTHON
@if [ -z "$(PYVER)" ]; then \
  echo "error: PY=$(PY) does not run as a Python interpreter; install Python 3.10-3.12 and run e.g. 'make PY=python3.12 $(GOAL)'." >&2; exit 2; fi
@$(PY) -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)' || { \
  echo "error: PY=$(PY) is Python $(PYVER); make needs Python 3.10, 3.11 or 3.12, because the SIP extra's" >&2; \
  echo "  pjsua2-python wheels exist only for those (lsdlab's core alone, 'pip install lsdlab', runs on 3.10-3.13)." >&2; \
  echo "  Install one (e.g. 'uv python install 3.12' or pyenv) and run 'make PY=python3.12 $(GOAL)'; $(VENV) was not touched." >&2; \
  exit 2; }
endef

check-python:
	$(CHECK_PYTHON)

$(PYSTAMP):
	$(CHECK_PYTHON)
	@if [ -d $(VENV) ]; then echo "note: rebuilding $(VENV) for Python $(PYVER) ($(PY))"; rm -rf $(VENV); fi
	$(PY) -m venv $(VENV)
	touch $(PYSTAMP)

# The 'vad' extra (onnxruntime) and the silero-vad wheel, whose onnx model vad="silero" runs, are
# installed so the tests cover both front ends; --no-deps: that wheel declares torch, the model needs none.
$(STAMP): pyproject.toml $(PYSTAMP)
	@$(MAKE) --no-print-directory sysdeps
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all,vad,dask,dev]'
	$(BIN)/python -m pip install -q --no-deps 'silero-vad==6.2.3'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests and the demo-corpus recipe use; installed only when run as root.
sysdeps:
	@bash scripts/install-sysdeps.sh

demo: $(STAMP)
	$(BIN)/lsdlab demo

REAL_DEV := ../shared/corpora/real-dev
# call-shaped real telephone speech, built where it is checked (no licence to commit it)
PHONE_SPEECH := .cache/phone-speech

test: $(STAMP) $(KERNEL)
	$(BIN)/ruff check lsdlab tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lsdlab regress corpora/demo --baseline benchmarks/baselines/demo.json --jobs 2 --no-progress
	@if [ -f $(REAL_DEV)/manifest.csv ]; then \
	  $(BIN)/lsdlab regress $(REAL_DEV) --labels machine --channel --lead-in 0.5 --after silence \
	    --baseline benchmarks/baselines/real-dev-machine.json --jobs 2 --no-progress; \
	else echo "note: $(REAL_DEV) absent, its regression check is skipped"; fi
	@if [ -d $(REAL_DEV)/phone-speech ]; then \
	  mkdir -p $(dir $(PHONE_SPEECH)) && $(BIN)/lsdlab corpus build-phone-speech $(PHONE_SPEECH) --real-dev $(REAL_DEV) >/dev/null && \
	  $(BIN)/lsdlab regress $(PHONE_SPEECH) --baseline benchmarks/baselines/phone-speech.json --jobs 2 --no-progress; \
	else echo "note: $(REAL_DEV)/phone-speech absent, the real-people regression check is skipped"; fi
	$(BIN)/python -m pytest -q || { rc=$$?; bash scripts/pytest-postmortem.sh; exit $$rc; }

# For iteration: the tests without real SIP calls, notebooks or slow ones (see README for times).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not sip and not notebook and not slow"

# The Jupyter kernel "Python (lsdlab)" (name lsdlab), installed inside .venv, runs .venv's
# interpreter; the notebooks name it in their metadata.

# ipykernel builds the spec in a tempfile.mkdtemp() folder it never removes (an empty
# /tmp/tmpXXXX_kernels per install): give it a scratch TMPDIR and remove that.
$(KERNEL): $(STAMP)
	@tmp=$$(mktemp -d) && echo "$(BIN)/python -m ipykernel install --sys-prefix --name lsdlab" && \
	  TMPDIR="$$tmp" $(BIN)/python -m ipykernel install --sys-prefix --name lsdlab --display-name "Python (lsdlab)"; \
	  rc=$$?; rm -rf "$$tmp"; exit $$rc

kernel: $(KERNEL)

# JupyterLab refuses to run as root without --allow-root; pass it only when root.
lab: $(KERNEL)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

bench: $(STAMP) $(KERNEL)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
