import pytest
from detectron2.config import get_cfg

from mot_heads import add_mot_config
from mot_heads.data import MAPPER_REGISTRY
from mot_heads.engine import MOTTrainer
from mot_heads.modeling.dmtrack.config import add_dmtrack_config
from mot_heads.modeling.one_shot.config import (
    add_cstrack_config, add_kdmot_config, add_one_shot_config, add_outrack_config,
)
from mot_heads.modeling.reid.config import add_reid_config
from mot_heads.modeling.siammot.config import add_siammot_config


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


def flat_keys(node, prefix=""):
    """Every leaf key of a config node, dotted."""
    keys = set()
    for name, value in node.items():
        keys |= flat_keys(value, f"{prefix}{name}.") if isinstance(value, dict) else {prefix + name}
    return keys


# Each method's config function and the config nodes its keys live under.
METHOD_CONFIGS = [
    (add_siammot_config, ("INPUT.PAIR.", "MODEL.TRACK_HEAD.")),
    (add_one_shot_config, ("MODEL.ONE_SHOT.",)),
    (add_cstrack_config, ("MODEL.ONE_SHOT.REN.", "MODEL.ONE_SHOT.SAAN.")),
    (add_outrack_config, ("MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED.", "MODEL.ONE_SHOT.OCCLUSION.")),
    (add_kdmot_config, ("MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.", "MODEL.ONE_SHOT.TEST_EMBEDDINGS",
                        "TEST.PERSON_SEARCH.")),
    (add_reid_config, ("MODEL.REID.", "INPUT.REID.", "DATALOADER.REID_")),
    (add_dmtrack_config, ("MODEL.DMTRACK.",)),
]


def test_add_mot_config_combines_the_config_functions_of_the_methods():
    cfg = get_cfg()
    for add, nodes in METHOD_CONFIGS:
        known = flat_keys(cfg)
        add(cfg)
        added = flat_keys(cfg) - known
        assert added and all(key.startswith(nodes) for key in added), (add.__name__, sorted(added))
    shared = flat_keys(add_mot_config(get_cfg())) - flat_keys(cfg)
    assert {k for k in shared if not k.startswith("MODEL.DLA.")} == {
        "INPUT.TRAIN_MAPPER", "TEST.EVALUATOR", "SOLVER.OPTIMIZER", "SOLVER.EPOCHS", "SOLVER.STEP_EPOCHS",
        "TRACKER.NAME", "TRACKER.PARAMS", "TRACKER.PUBLIC_DETECTIONS"}
