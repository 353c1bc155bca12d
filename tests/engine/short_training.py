"""A short training run on a small synthetic set, evaluated once at the end (EvalHook)."""
import json
import os
from dataclasses import replace
from typing import List

from detectron2.config import get_cfg
from detectron2.utils.env import seed_all_rng

from mot_heads import add_mot_config
from mot_heads.data import SyntheticConfig, generate_dataset, register_synthetic
from mot_heads.data.sot import register_synthetic_sot
from mot_heads.engine import MOTTrainer

CONFIGS = os.path.join(os.path.dirname(__file__), "../../configs/quick_schedules")
# Smaller than the quick start's set: 4 training sequences and 1 held-out, 40 frames each.
SHORT_SET = replace(SyntheticConfig(), train_sequences=4, val_sequences=1, num_frames=40)
# A learning run's weights and sample order come from this seed, not from whatever state
# earlier tests (e.g. `mot train`, which seeds randomly as Detectron2's default_setup does)
# left the random generators in.
LEARNING_SEED = 0


def train_short(tmp_path, config_file: str, prefix: str, iterations: int, steps, *opts,
                test_split: str = "val") -> List[dict]:
    """Train ``config_file`` (of quick_schedules) ``iterations`` times on a fresh short
    set registered as ``<prefix>_train`` / ``<prefix>_val`` (and ``<prefix>_sot_val``, one
    target per sequence), evaluate ``<prefix>_<test_split>`` at the end, and return the
    entries of its metrics.json."""
    root = str(tmp_path / "synthetic")
    generate_dataset(root, SHORT_SET)
    register_synthetic(root, prefix=prefix)
    register_synthetic_sot(root, prefix=prefix)
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(os.path.join(CONFIGS, config_file))
    cfg.merge_from_list([
        "SOLVER.MAX_ITER", iterations, "SOLVER.STEPS", tuple(steps), "DATALOADER.NUM_WORKERS", 0,
        "DATASETS.TRAIN", (f"{prefix}_train",), "DATASETS.TEST", (f"{prefix}_{test_split}",), "TEST.EVAL_PERIOD", iterations,
        "OUTPUT_DIR", str(tmp_path / "out"), "MODEL.DEVICE", "cpu", *opts,
    ])
    seed_all_rng(LEARNING_SEED)
    trainer = MOTTrainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    with open(tmp_path / "out" / "metrics.json") as f:
        return [json.loads(line) for line in f]
