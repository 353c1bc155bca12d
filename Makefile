# Quick start:   make demo   (set up, then train SiamMOT-EMM on the synthetic set, track the
#                             held-out videos, score them, write an annotated MP4)
#                make test-fast      (the tests without the slow tier, for development)
#                make test           (all tests, as CI runs them)
#                make test-trackers  (the tracker tests in a venv without torch)
PY := .venv/bin/python
MOT := .venv/bin/mot
CONFIG := configs/quick_schedules/siammot_EMM_R18_FPN_GN_synthetic.yaml
OUT := output/quickstart

TRACKERS_VENV := .venv-trackers
TRACKERS_PYTHON ?= python3

.PHONY: setup demo test test-fast test-trackers benchmark
setup:
	./setup.sh

demo: setup
	$(MOT) demo-data --root datasets/synthetic
	$(MOT) train --config-file $(CONFIG) OUTPUT_DIR $(OUT)
	$(MOT) track --config-file $(CONFIG) --input datasets/synthetic/val/synth-val-00 \
		--output $(OUT)/video MODEL.WEIGHTS $(OUT)/model_final.pth

test: setup
	$(PY) -m pytest -q tests

test-fast: setup
	$(PY) -m pytest -q -m "not slow" tests

# trackers/ needs numpy, scipy and lap only; current releases here (numpy 2), as the pins of
# requirements.txt belong to the Detectron2 stack. filterpy is the Kalman tests' reference;
# its plotting dependency (matplotlib) is left out. The root tests/conftest.py is not loaded.
test-trackers: $(TRACKERS_VENV)/.installed
	$(TRACKERS_VENV)/bin/python -m pytest -q --confcutdir=tests/trackers tests/trackers

$(TRACKERS_VENV)/.installed: Makefile
	$(TRACKERS_PYTHON) -m venv $(TRACKERS_VENV)
	$(TRACKERS_VENV)/bin/python -m pip install --quiet numpy scipy lap pytest
	$(TRACKERS_VENV)/bin/python -m pip install --quiet --no-deps filterpy
	touch $@

benchmark: setup
	$(MOT) benchmark
