"""Integration: the tiny CPU detector learns the synthetic set (box AP50 on held-out videos)."""
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


def test_tiny_detector_learns_synthetic_boxes(tmp_path):
    root = str(tmp_path / "synthetic")
    generate_dataset(root, SHORT_SET)
    register_synthetic(root, prefix="learn")
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(CONFIG)
    cfg.merge_from_list(SHORT_SCHEDULE + [
        "DATASETS.TRAIN", ("learn_train",), "DATASETS.TEST", (),
        "OUTPUT_DIR", str(tmp_path / "out"), "MODEL.DEVICE", "cpu",
    ])
    trainer = MOTTrainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    cfg.DATASETS.TEST = ("learn_val",)
    ap50 = MOTTrainer.test(cfg, trainer.model)["bbox"]["AP50"]
    assert ap50 >= MIN_AP50, f"box AP50 {ap50:.1f} on held-out synthetic video"
