# Quick start:   make demo   (set up, then train SiamMOT-EMM on the synthetic set, track the
#                             held-out videos, score them, write an annotated MP4)
#                make test   (run the test suite)
PY := .venv/bin/python
CONFIG := configs/quick_schedules/siammot_EMM_R18_FPN_GN_synthetic.yaml
OUT := output/quickstart

.PHONY: setup demo test benchmark
setup:
	./setup.sh

demo: setup
	$(PY) -m mot_heads.data.synthetic --root datasets/synthetic
	$(PY) projects/train_net.py --config-file $(CONFIG) OUTPUT_DIR $(OUT)
	$(PY) -m mot_heads.cli.demo --config-file $(CONFIG) --input datasets/synthetic/val/synth-val-00 \
		--output $(OUT)/video MODEL.WEIGHTS $(OUT)/model_final.pth

test: setup
	$(PY) -m pytest -q tests

benchmark: setup
	$(PY) benchmarks/data_loading.py
	$(PY) benchmarks/tracker_update.py
	$(PY) benchmarks/evaluation.py
	$(PY) benchmarks/siammot_speed.py
	$(PY) benchmarks/oneshot_speed.py
	$(PY) benchmarks/kdmot_speed.py
