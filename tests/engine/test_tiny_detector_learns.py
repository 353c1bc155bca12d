"""Integration: the tiny CPU detector learns the synthetic set: box AP50 and, through the
JDE tracker, tracking metrics on held-out videos, reported by the end-of-training
evaluation (TEST.EVAL_PERIOD) into metrics.json."""
import json
import os
from dataclasses import replace

from detectron2.config import get_cfg

from mot_heads import add_mot_config
from mot_heads.data import SyntheticConfig, generate_dataset, register_synthetic
from mot_heads.engine import MOTTrainer

CONFIG = os.path.join(os.path.dirname(__file__), "../../configs/quick_schedules/faster_rcnn_R18_FPN_GN_synthetic.yaml")
# A short schedule on a smaller set than the quick start; AP50 of an untrained model is ~0.
SHORT_SET = replace(SyntheticConfig(), train_sequences=4, val_sequences=1, num_frames=40)
SHORT_SCHEDULE = ["SOLVER.MAX_ITER", 300, "SOLVER.STEPS", (220, 270), "DATALOADER.NUM_WORKERS", 0]
MIN_AP50 = 70.0  # the foundation issue's target; 40 iterations reach ~14
# Tracking the held-out video with the JDE cascade (IoU only); measured MOTA 68.0,
# IDF1 82.5, HOTA 74.9 (AP50 81.5); an untrained detector gives negative MOTA.
MIN_MOTA, MIN_IDF1 = 55.0, 70.0


def test_tiny_detector_learns_synthetic_boxes(tmp_path):
    root = str(tmp_path / "synthetic")
    generate_dataset(root, SHORT_SET)
    register_synthetic(root, prefix="learn")
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(CONFIG)
    cfg.merge_from_list(SHORT_SCHEDULE + [
        "DATASETS.TRAIN", ("learn_train",), "DATASETS.TEST", ("learn_val",),
        "TEST.EVAL_PERIOD", SHORT_SCHEDULE[1], "TEST.EVALUATOR", "coco,mot", "TRACKER.NAME", "jde",
        "OUTPUT_DIR", str(tmp_path / "out"), "MODEL.DEVICE", "cpu",
    ])
    trainer = MOTTrainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    with open(tmp_path / "out" / "metrics.json") as f:
        evaluated = [m for m in map(json.loads, f) if "bbox/AP50" in m]
    assert len(evaluated) == 1, "one evaluation, at the end of training"
    metrics = evaluated[0]
    assert metrics["bbox/AP50"] >= MIN_AP50, f"box AP50 {metrics['bbox/AP50']:.1f} on held-out synthetic video"
    assert metrics["tracking/MOTA"] >= MIN_MOTA and metrics["tracking/IDF1"] >= MIN_IDF1
