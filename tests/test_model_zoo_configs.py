"""Every config of the model zoo merges into the project's config and builds its model."""
import glob
import os

import pytest
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from mot_heads import add_mot_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True)
                 if not os.path.basename(p).startswith("Base-"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, os.path.join(REPO, "configs")))
def test_config_builds_its_model(path):
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(path)
    cfg.MODEL.DEVICE = "cpu"
    if cfg.MODEL.META_ARCHITECTURE == "OneShotMOT" and cfg.MODEL.ONE_SHOT.ID_LOSS.NAME == "CrossEntropyIDLoss":
        cfg.MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES = 10  # the training sets (e.g. MOT17) are not on disk here
    # A recipe's KDMOT student names its teacher stage's output, not written here: a random teacher.
    cfg.MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS = ""
    if cfg.MODEL.META_ARCHITECTURE == "DMTrack":
        cfg.MODEL.DMTRACK.NUM_IDENTITIES = 10
    model = build_model(cfg)
    assert sum(p.numel() for p in model.parameters()) > 1_000_000
