"""Config keys the project adds to Detectron2's defaults."""
import logging

import torch
from detectron2.config import CfgNode as CN


def add_mot_config(cfg: CN) -> CN:
    """Add every key of this project to ``cfg`` (in place) and return it."""
    # Name in mot_heads.data.MAPPER_REGISTRY of the train-time mapper: single frames
    # ("DatasetMapper"), or the pair / template-search mappers of the tracking models.
    cfg.INPUT.TRAIN_MAPPER = "DatasetMapper"
    # Evaluators run on cfg.DATASETS.TEST, comma-separated: "coco" (box AP of the
    # detector), "mot" (track each test sequence with cfg.TRACKER, then HOTA, CLEAR and
    # Identity metrics; needs a MOTChallenge-layout dataset).
    cfg.TEST.EVALUATOR = "coco"
    # The online tracker of evaluation and inference: a name registered in trackers/
    # ("sort", "jde") and "key=value" overrides of its parameters (paper defaults).
    cfg.TRACKER = CN()
    cfg.TRACKER.NAME = "sort"
    cfg.TRACKER.PARAMS = []
    return cfg


def fall_back_to_cpu(cfg: CN) -> CN:
    """Run on CPU when the config asks for CUDA on a machine without a GPU (warns)."""
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logging.getLogger(__name__).warning("MODEL.DEVICE=%s but no GPU is available: using cpu", cfg.MODEL.DEVICE)
        cfg.MODEL.DEVICE = "cpu"
    return cfg
