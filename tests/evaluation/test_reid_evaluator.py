"""The tracklet ReID evaluator (OUTrack Table 7) on hand-made videos with chosen embeddings."""
import json
from collections import Counter

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, BoxMode, Instances

from mot_heads import add_mot_config
from mot_heads.data import register_synthetic
from mot_heads.engine import MOTTrainer
from mot_heads.evaluation import TrackletReIDEvaluator

# Three tracklets of 4 frames, (video, track id) -> embedding; ("a", 1) and ("b", 1)
# share a track id but are different identities.
EMBEDDINGS = {("a", 1): [1.0, 0.0, 0.0], ("a", 2): [0.0, 1.0, 0.0], ("b", 1): [0.0, 0.0, 1.0]}
START_X = {("a", 1): 0, ("a", 2): 50, ("b", 1): 0}
FRAMES = (1, 2, 3, 4)


def make_records(track_ids=True):
    """Frames 1-4 of videos a and b; boxes 20x40 moving 2 px a frame; video b also has
    an ignore region (iscrowd), which is no gt box of the evaluator."""
    records = []
    for video in ("a", "b"):
        for frame in FRAMES:
            anns = [
                {"bbox": [START_X[(v, t)] + 2 * frame, 10, 20, 40], "bbox_mode": BoxMode.XYWH_ABS,
                 "category_id": 0, "track_id": t if track_ids else -1, "iscrowd": 0}
                for v, t in START_X if v == video
            ]
            if video == "b":
                anns.append({"bbox": [60, 10, 20, 40], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0,
                             "track_id": 5, "iscrowd": 1})
            records.append({"file_name": f"{video}/{frame}.jpg", "height": 100, "width": 120,
                            "image_id": f"{video}/{frame}", "video_id": video, "frame_idx": frame,
                            "annotations": anns})
    return records


@pytest.fixture
def dataset(request):
    """A registered copy of :func:`make_records` under a name unique to the test."""
    names = []

    def register(**kwargs):
        name = f"reid_eval_{request.node.name}_{len(names)}"
        DatasetCatalog.register(name, lambda: make_records(**kwargs))
        MetadataCatalog.get(name).set(thing_classes=["person", "car"])
        names.append(name)
        return name

    yield register
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def output(record, embedding=lambda video, track, frame: EMBEDDINGS[(video, track)], edits=None):
    """A detection on every annotation (ignore regions too) with ``embedding(video,
    track, frame)``; ``edits[(video, track, frame)]`` shifts a box (``dx``) or sets its class."""
    boxes, classes, embeddings = [], [], []
    for ann in record["annotations"]:
        where = (record["video_id"], ann["track_id"], record["frame_idx"])
        edit = (edits or {}).get(where, {})
        box = BoxMode.convert(ann["bbox"], ann["bbox_mode"], BoxMode.XYXY_ABS)
        boxes.append([box[0] + edit.get("dx", 0), box[1], box[2] + edit.get("dx", 0), box[3]])
        classes.append(edit.get("cls", ann["category_id"]))
        embeddings.append([1.0, 1.0, 1.0] if ann["iscrowd"] else embedding(*where))
    instances = Instances((record["height"], record["width"]))
    instances.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    instances.scores = torch.full((len(boxes),), 0.9)
    instances.pred_classes = torch.tensor(classes, dtype=torch.int64)
    instances.pred_embeddings = torch.nn.functional.normalize(torch.tensor(embeddings), dim=1)
    return {"instances": instances}


def run(evaluator, dataset_name, **kwargs):
    evaluator.reset()
    for record in reversed(DatasetCatalog.get(dataset_name)):  # order must not matter
        evaluator.process([record], [output(record, **kwargs)])
    return evaluator.evaluate()["reid"]


def build(name, out=None):
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_list(["TEST.EVALUATOR", "reid"])
    return MOTTrainer.build_evaluator(cfg, name, out)


def test_distinct_embeddings_retrieve_perfectly(dataset, tmp_path):
    name = dataset()
    evaluator = build(name, str(tmp_path / "out"))
    assert isinstance(evaluator, TrackletReIDEvaluator)
    result = run(evaluator, name)
    # 3 tracklets of 4 boxes: frames 1-2 queries, 3-4 gallery.
    assert result == {"rank1": 100.0, "rank5": 100.0, "rank10": 100.0, "mAP": 100.0,
                      "queries": 6, "gallery": 6, "matched_fraction": 100.0}
    written = json.load(open(tmp_path / "out" / "reid_metrics.json"))
    assert written["mAP"] == 100.0 and written["tracklets"] == 3 and written["gt_boxes"] == 12


def test_swapped_gallery_embeddings_retrieve_nothing(dataset):
    name = dataset()
    identities = list(EMBEDDINGS)

    def shifted(video, track, frame):
        # The gallery half (frames 3-4) of each identity carries the next identity's embedding.
        i = identities.index((video, track))
        return EMBEDDINGS[identities[(i + 1) % 3] if frame > 2 else identities[i]]

    result = run(TrackletReIDEvaluator(name), name, embedding=shifted)
    # Each query's nearest gallery entries (distance 0) are another identity's; its own
    # two come after at best at ranks 3 and 4: AP <= (1/3 + 2/4) / 2 = 41.7%.
    assert result["rank1"] == 0.0 and result["mAP"] <= 100 * (1 / 3 + 2 / 4) / 2 + 1e-9


def test_unmatched_boxes_are_left_out_and_counted(dataset):
    name = dataset()
    edits = {
        ("a", 2, 4): {"dx": 15},  # IoU 5/35 = 0.14 < 0.5: not matched; ("a", 2) keeps 3 boxes
        ("b", 1, 1): {"cls": 1},  # right box, other class: not matched
        ("b", 1, 2): {"dx": 7},  # IoU 13/27 = 0.48 < 0.5
        ("b", 1, 3): {"dx": 6},  # IoU 14/26 = 0.54: matched, ("b", 1)'s only box
        ("b", 1, 4): {"dx": 40},  # no overlap
    }
    result = run(TrackletReIDEvaluator(name), name, edits=edits)
    # Matched: 4 + 3 + 1 of 12 gt boxes. ("b", 1) has one box: left out. Queries: 2 of
    # ("a", 1) + floor(3/2) = 1 of ("a", 2); gallery 2 + 2.
    assert result["matched_fraction"] == pytest.approx(100 * 8 / 12)
    assert (result["queries"], result["gallery"], result["rank1"], result["mAP"]) == (3, 4, 100.0, 100.0)
    # At IoU >= 0.1 the boxes at IoU 0.14 and 0.48 match too: 10 of 12.
    loose = run(TrackletReIDEvaluator(name, min_iou=0.1), name, edits=edits)
    assert loose["matched_fraction"] == pytest.approx(100 * 10 / 12)


def test_a_duplicate_detection_does_not_take_the_gt_box(dataset):
    name = dataset()
    evaluator = TrackletReIDEvaluator(name)
    evaluator.reset()
    for record in DatasetCatalog.get(name):
        out = output(record)
        # A second detection on ("a", 1) at IoU 0.9 with ("a", 2)'s embedding.
        if record["video_id"] == "a":
            dup = out["instances"][torch.tensor([0])]
            dup.pred_boxes.tensor[:, [0, 2]] += 1.0
            dup.pred_embeddings = out["instances"].pred_embeddings[[1]]
            out["instances"] = Instances.cat([dup, out["instances"]])
        evaluator.process([record], [out])
    assert evaluator.evaluate()["reid"]["rank1"] == 100.0


def test_outputs_without_embeddings_are_an_error(dataset):
    name = dataset()
    evaluator = TrackletReIDEvaluator(name)
    evaluator.reset()
    record = DatasetCatalog.get(name)[0]
    instances = output(record)["instances"]
    instances.remove("pred_embeddings")
    with pytest.raises(ValueError, match="needs a model whose outputs carry pred_embeddings.*got no pred_embeddings"):
        evaluator.process([record], [{"instances": instances}])
    with pytest.raises(ValueError, match="pred_embeddings.*got tracks of a model tracking in the loop"):
        evaluator.process([record], [{"instances": instances, "tracks": None}])


def test_bad_dataset_and_frames_are_errors(dataset):
    with pytest.raises(ValueError, match="no annotation has a track_id >= 0"):
        TrackletReIDEvaluator(dataset(track_ids=False))
    name = dataset()
    evaluator = TrackletReIDEvaluator(name)
    evaluator.reset()
    records = DatasetCatalog.get(name)
    with pytest.raises(ValueError, match="video 'a', frame 9, which the dataset does not have"):
        evaluator.process([dict(records[0], frame_idx=9)], [output(records[0])])
    for record in records[1:]:
        evaluator.process([record], [output(record)])
    with pytest.raises(ValueError, match=r"no model output for 1 frames, e.g. \(video, frame\) \[\('a', 1\)\]"):
        evaluator.evaluate()
    wrong_class = output(records[0], edits={("a", 1, 1): {"cls": 4}})
    with pytest.raises(ValueError, match="predicted class id 4, the dataset has 2 classes"):
        evaluator.process([records[0]], [wrong_class])


def test_perfect_embeddings_on_the_synthetic_set(synthetic_root, tmp_path):
    """The MOTChallenge reader's records (ignore regions, XYWH boxes, two classes): gt
    boxes with a one-hot embedding per identity retrieve perfectly."""
    name = register_synthetic(synthetic_root, prefix="reideval")[1]
    records = DatasetCatalog.get(name)
    tracked = [(r, a) for r in records for a in r["annotations"] if not a["iscrowd"]]
    identities = sorted({(r["video_id"], a["track_id"]) for r, a in tracked})
    evaluator = build(name, str(tmp_path))
    evaluator.reset()
    for record in records:
        anns = [a for a in record["annotations"] if not a["iscrowd"]]
        instances = Instances((record["height"], record["width"]))
        instances.pred_boxes = Boxes(torch.tensor(
            [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in anns]).reshape(-1, 4))
        instances.scores = torch.full((len(anns),), 0.9)
        instances.pred_classes = torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)
        one_hot = np.eye(len(identities), dtype=np.float32)
        instances.pred_embeddings = torch.from_numpy(
            one_hot[[identities.index((record["video_id"], a["track_id"])) for a in anns]].reshape(len(anns), -1))
        evaluator.process([record], [{"instances": instances}])
    result = evaluator.evaluate()["reid"]
    assert result["rank1"] == result["mAP"] == result["matched_fraction"] == 100.0
    lengths = Counter((r["video_id"], a["track_id"]) for r, a in tracked).values()
    assert result["queries"] == sum(n // 2 for n in lengths if n >= 2) > 5
    assert result["gallery"] == sum(n - n // 2 for n in lengths if n >= 2)
