"""TEST.EVALUATOR 'retrieval': rank-k and mAP of hand-made embeddings, Market-1501 protocol."""
import json
import math

import pytest
import torch
from detectron2.data import DatasetCatalog

from mot_heads.evaluation.reid_retrieval import ReIDRetrievalEvaluator


def crop(split, person, camera):
    return {"file_name": f"{split}_{person}_{camera}.jpg", "split": split, "person_id": person, "camera_id": camera}


# Queries q0 (person 1, camera 1) and q1 (person 2, camera 1); gallery g0 (1, camera 1:
# same person and camera, left out), g1 (1, camera 2), g2 (2, camera 2), g3 (distractor 0).
RECORDS = [crop("query", 1, 1), crop("query", 2, 1), crop("gallery", 1, 1), crop("gallery", 1, 2),
           crop("gallery", 2, 2), crop("gallery", 0, 3)]
ANGLES = [0, 80, 0, 20, 90, 10]  # degrees of 2-D unit embeddings


@pytest.fixture(scope="module")
def dataset():
    DatasetCatalog.register("rr_test", lambda: [dict(r) for r in RECORDS])
    DatasetCatalog.register("rr_nosplit", lambda: [{"file_name": "a.jpg", "person_id": 1, "camera_id": 1}])
    return "rr_test"


def embedding(degrees):
    return torch.tensor([math.cos(math.radians(degrees)), math.sin(math.radians(degrees))])


def test_rank_and_map_with_same_camera_exclusion(dataset, tmp_path):
    evaluator = ReIDRetrievalEvaluator(dataset, output_dir=str(tmp_path))
    evaluator.reset()
    evaluator.process(RECORDS[:4], [{"embedding": embedding(a)} for a in ANGLES[:4]])
    evaluator.process(RECORDS[4:], [{"embedding": embedding(a)} for a in ANGLES[4:]])
    result = evaluator.evaluate()["retrieval"]
    # q0: g0 (0 deg) is left out, so the ranking is g3 (10, wrong), g1 (20, match), g2:
    # first match at rank 2, AP 1/2. q1 (80 deg): g2 (90) first, its only match: AP 1.
    assert result["rank1"] == pytest.approx(50.0) and result["rank5"] == pytest.approx(100.0)
    assert result["mAP"] == pytest.approx(75.0)
    assert (result["queries"], result["gallery"], result["valid_queries"]) == (2, 4, 2)
    with open(tmp_path / "retrieval_metrics.json") as f:
        assert json.load(f)["cmc"][:2] == pytest.approx([50.0, 100.0])


def test_bad_inputs_are_named(dataset):
    with pytest.raises(ValueError, match="rr_nosplit: TEST.EVALUATOR 'retrieval' needs crops whose 'split'"):
        ReIDRetrievalEvaluator("rr_nosplit")
    evaluator = ReIDRetrievalEvaluator(dataset)
    evaluator.reset()
    with pytest.raises(ValueError, match="outputs carry 'embedding'"):
        evaluator.process(RECORDS[:1], [{"instances": None}])
    evaluator.process(RECORDS[:1], [{"embedding": embedding(0)}])
    with pytest.raises(ValueError, match="rr_test: 1 model outputs for 6 crops"):
        evaluator.evaluate()
