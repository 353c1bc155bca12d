# Quick start:   make demo   (set up, then train + evaluate + draw on the synthetic set)
#                make test   (run the test suite)
PY := .venv/bin/python
CONFIG := configs/quick_schedules/faster_rcnn_R18_FPN_GN_synthetic.yaml
OUT := output/quickstart

.PHONY: setup demo test benchmark
setup:
	./setup.sh

demo: setup
	$(PY) -m mot_heads.data.synthetic --root datasets/synthetic
	$(PY) projects/train_net.py --config-file $(CONFIG) OUTPUT_DIR $(OUT)
	$(PY) projects/demo.py --config-file $(CONFIG) \
		--input datasets/synthetic/val/synth-val-00/img1/000030.jpg \
		--output $(OUT)/detections.jpg MODEL.WEIGHTS $(OUT)/model_final.pth

test: setup
	$(PY) -m pytest -q tests

benchmark: setup
	$(PY) benchmarks/data_loading.py
	$(PY) benchmarks/tracker_update.py
	$(PY) benchmarks/evaluation.py
