import pytest
from detectron2.config import get_cfg

from mot_heads import add_mot_config
from mot_heads.data import MAPPER_REGISTRY
from mot_heads.engine import MOTTrainer


def test_added_keys_and_defaults():
    cfg = add_mot_config(get_cfg())
    assert cfg.INPUT.TRAIN_MAPPER == "DatasetMapper" and cfg.TEST.EVALUATOR == "coco"
    assert cfg.TRACKER.NAME == "sort" and list(cfg.TRACKER.PARAMS) == []
    assert MAPPER_REGISTRY.get(cfg.INPUT.TRAIN_MAPPER).__name__ == "DatasetMapper"


def test_unknown_evaluator_and_mapper_are_named():
    cfg = add_mot_config(get_cfg())
    cfg.TEST.EVALUATOR = "hota"
    with pytest.raises(ValueError, match="TEST.EVALUATOR='hota': expected a comma-separated list of \\['coco', 'mot', 'person_search', 'reid', 'retrieval', 'sot'\\]"):
        MOTTrainer.build_evaluator(cfg, "any")
    with pytest.raises(KeyError, match="PairMapper"):
        MAPPER_REGISTRY.get("PairMapper")


def test_mot_evaluator_needs_a_motchallenge_dataset():
    cfg = add_mot_config(get_cfg())
    cfg.TEST.EVALUATOR = "mot"
    with pytest.raises(ValueError, match="needs a MOTChallenge-layout dataset"):
        MOTTrainer.build_evaluator(cfg, "some_coco_images")
