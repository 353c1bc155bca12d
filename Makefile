# Quick start:   make demo   (set up, then train SiamMOT-EMM on the synthetic set, track the
#                             held-out videos, score them, write an annotated MP4)
#                make test   (run the test suite)
PY := .venv/bin/python
MOT := .venv/bin/mot
CONFIG := configs/quick_schedules/siammot_EMM_R18_FPN_GN_synthetic.yaml
OUT := output/quickstart

.PHONY: setup demo test benchmark
setup:
	./setup.sh

demo: setup
	$(MOT) demo-data --root datasets/synthetic
	$(MOT) train --config-file $(CONFIG) OUTPUT_DIR $(OUT)
	$(MOT) track --config-file $(CONFIG) --input datasets/synthetic/val/synth-val-00 \
		--output $(OUT)/video MODEL.WEIGHTS $(OUT)/model_final.pth

test: setup
	$(PY) -m pytest -q tests

benchmark: setup
	$(MOT) benchmark
