"""Person-search mAP / top-k on hand-made galleries with answers computed by hand."""
import json

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, BoxMode, Instances

from mot_heads.evaluation import PersonSearchEvaluator, person_search_metrics
from mot_heads.evaluation.person_search import rank_query, search_iou_threshold
from trackers import Detections

GT = [0.0, 0.0, 40.0, 100.0]  # XYWH of both people below: 40 x 100, IoU threshold 0.5
FAR = [200.0, 0.0, 40.0, 100.0]


def embedding(s1, s2):
    """Unit vector whose cosine similarity is s1 to query 1 (axis 0) and s2 to query 2 (axis 1)."""
    return [s1, s2, np.sqrt(max(0.0, 1.0 - s1 ** 2 - s2 ** 2))]


def xyxy(box):
    return BoxMode.convert(box, BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)


def scene(image_id, camera, people):
    return {"image_id": image_id, "file_name": f"{image_id}.jpg", "height": 300, "width": 400, "camera_id": camera,
            "annotations": [{"bbox": box, "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "person_id": pid,
                             "iscrowd": 0} for pid, box in people]}


# Gallery scenes Q (query 1's own frame), A, B, C; person 7 is in Q, A, B; person 8 in C.
GALLERY = [
    scene("Q", 1, [(7, GT)]),
    scene("A", 1, [(7, GT), (-1, [100.0, 0.0, 40.0, 100.0])]),
    scene("B", 2, [(7, GT)]),
    scene("C", 2, [(8, GT)]),
]
QUERIES = [
    {"image_id": "Q", "person_id": 7, "camera_id": 1, "bbox": GT},  # gallery: every scene but Q
    {"image_id": "X", "person_id": 8, "camera_id": 3, "bbox": GT, "gallery": ["A", "B", "C"]},
]
QUERY_EMBEDDINGS = np.eye(3)[:2]
# (box, score, similarity to query 1, to query 2) per detection.
DETECTIONS = {
    "Q": [(GT, 0.9, 1.0, 0.0)],  # query 1's own frame: never in its gallery
    "A": [(GT, 0.9, 0.9, 0.2), ([100.0, 0.0, 40.0, 100.0], 0.9, 0.95, 0.1)],
    "B": [(FAR, 0.9, 0.3, 0.5)],  # the detector missed person 7 in B
    "C": [(GT, 0.9, 0.8, 0.6), (FAR, 0.2, 0.99, 0.05)],  # score 0.2 < det_thresh: dropped
}


def detections(table=DETECTIONS):
    return {
        image: Detections(np.array([xyxy(d[0]) for d in dets]), np.array([d[1] for d in dets]),
                          embeddings=np.array([embedding(d[2], d[3]) for d in dets]))
        for image, dets in table.items()
    }


def test_hand_made_gallery():
    # Query 1 (person 7, gallery A, B, C): detections by similarity A2 0.95 (FP), A1 0.9
    # (TP), C1 0.8 (FP), B1 0.3 (FP). AP of the ranking: precision 1/2 at the one TP =
    # 0.5; recall rate: 1 TP of 2 gallery images holding person 7 (B: missed) = 0.5;
    # AP = 0.25. Top-1 false, top-5 true.
    # Query 2 (person 8, in C): C1 0.6 (TP), B1 0.5, A1 0.2, A2 0.1: AP = 1, top-1 true;
    # C2 (similarity 0.05, score 0.2) is dropped by det_thresh.
    metrics = person_search_metrics(QUERIES, detections(), QUERY_EMBEDDINGS, GALLERY)
    assert metrics["mAP"] == pytest.approx((0.25 + 1.0) / 2)
    assert (metrics["top1"], metrics["top5"], metrics["top10"]) == (0.5, 1.0, 1.0)
    assert (metrics["num_queries"], metrics["skipped_queries"]) == (2, 0)
    # Keeping C2 (similarity 0.99 to query 1): it ranks first for query 1, AP 1/3 * 0.5.
    kept = person_search_metrics(QUERIES[:1], detections(), QUERY_EMBEDDINGS[:1], GALLERY, det_thresh=0.1)
    assert kept["mAP"] == pytest.approx(0.5 / 3)


def test_multi_view_gallery_and_skipped_queries():
    # exclude_same_camera: query 1 (camera 1) searches B and C only; its one gt image
    # (B) is missed by the detector: AP 0, top-1 0.
    metrics = person_search_metrics(QUERIES[:1], detections(), QUERY_EMBEDDINGS[:1], GALLERY,
                                    exclude_same_camera=True)
    assert (metrics["mAP"], metrics["top1"], metrics["top10"]) == (0.0, 0.0, 0.0)
    # Person 8 is absent from a gallery of A and B: the query is left out and counted.
    absent = dict(QUERIES[1], gallery=["A", "B"])
    metrics = person_search_metrics([QUERIES[0], absent], detections(), QUERY_EMBEDDINGS, GALLERY)
    assert (metrics["mAP"], metrics["num_queries"], metrics["skipped_queries"]) == (0.25, 1, 1)


def test_one_true_positive_per_image():
    # Image 0: two detections on the gt box (similarities 0.9, 0.85); image 1: one (0.8).
    # Ranked: TP (0.9), FP (0.85, the second match in image 0), TP (0.8):
    # AP = (1/1 + 2/3) / 2 = 5/6, recall rate 2/2, top-1 true.
    gt = np.array(xyxy(GT))
    boxes = np.array([gt, gt + [1, 0, 1, 0], gt])
    ap, top = rank_query(1.0 - np.array([0.9, 0.85, 0.8]), np.array([0, 0, 1]), boxes, {0: gt, 1: gt})
    assert ap == pytest.approx(5 / 6)
    assert top.tolist() == [1.0, 1.0, 1.0]


def iou(a, b):
    """Intersection over union of two xyxy boxes."""
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_a_detection_counts_at_iou_half():
    # KDMOT Sec. 4.3: "Only when candidates' IoU to the ground truth bounding boxes is above
    # 0.5 will be count as correct". We take IoU >= 0.5, the comparison of the standard
    # protocol's code the sentence refers to ("the standard metrics as in most person search
    # literature"). A 10 x 20 person; detections of its top 10 x 8, 10 x 10 and 10 x 12.
    gt = np.array([0.0, 0.0, 10.0, 20.0])
    for height in (8.0, 10.0, 12.0):
        det = np.array([[0.0, 0.0, 10.0, height]])
        counted = iou(gt, det[0]) >= 0.5
        ap = person_search_metrics([dict(QUERIES[1], gallery=["S"])],
                                   {"S": Detections(det, np.array([0.9]), embeddings=np.array([[0.0, 1.0, 0.0]]))},
                                   QUERY_EMBEDDINGS[1:], [scene("S", 1, [(8, [0.0, 0.0, 10.0, 20.0])])])["mAP"]
        assert ap == float(counted), (height, iou(gt, det[0]))


def test_size_aware_iou_of_the_reference_code_for_small_boxes():
    assert search_iou_threshold(40, 100) == 0.5  # 4000 / (50 * 110) > 0.5
    assert search_iou_threshold(10, 20) == pytest.approx(200 / (20 * 30))  # 1/3
    # A 10 x 20 person and a detection of its top 10 x 8: IoU 80 / 200 = 0.4 >= 1/3.
    gt, det = np.array([0.0, 0.0, 10.0, 20.0]), np.array([[0.0, 0.0, 10.0, 8.0]])
    assert rank_query(np.array([0.1]), np.array([0]), det, {0: gt}, iou_threshold=None)[0] == 1.0
    assert rank_query(np.array([0.1]), np.array([0]), det, {0: gt})[0] == 0.0


def test_input_errors():
    with pytest.raises(ValueError, match=r"expected shape \(2, D\)"):
        person_search_metrics(QUERIES, detections(), np.eye(3), GALLERY)
    with pytest.raises(ValueError, match="no detections for 1 gallery images"):
        person_search_metrics(QUERIES, {k: v for k, v in detections().items() if k != "B"}, QUERY_EMBEDDINGS,
                              GALLERY)
    with pytest.raises(ValueError, match="gallery image 'Z' is not a scene"):
        person_search_metrics([dict(QUERIES[1], gallery=["Z"])], detections(), QUERY_EMBEDDINGS[:1], GALLERY)


@pytest.fixture
def registered():
    """GALLERY and QUERIES as a registered person-search pair."""
    names = {"gallery": "ps_eval_gallery", "query": "ps_eval_query"}
    DatasetCatalog.register(names["gallery"], lambda: GALLERY)
    DatasetCatalog.register(names["query"], lambda: QUERIES)
    for name in names.values():
        MetadataCatalog.get(name).set(thing_classes=["person"], query_dataset=names["query"])
    yield names["gallery"]
    for name in names.values():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def model_output(dets, extra_class=False):
    instances = Instances((300, 400))
    instances.pred_boxes = Boxes(torch.tensor([xyxy(d[0]) for d in dets], dtype=torch.float32))
    instances.scores = torch.tensor([d[1] for d in dets], dtype=torch.float32)
    instances.pred_classes = torch.full((len(dets),), int(extra_class), dtype=torch.int64)
    instances.pred_embeddings = torch.tensor([embedding(d[2], d[3]) for d in dets], dtype=torch.float32)
    return {"instances": instances}


def test_evaluator(registered, tmp_path):
    evaluator = PersonSearchEvaluator(registered, output_dir=str(tmp_path))
    evaluator.reset()
    for image, dets in DETECTIONS.items():
        evaluator.process([{"image_id": image}], [model_output(dets)])
    # a detection of another class (class 1) in A, most similar to query 1: not searched
    evaluator.process([{"image_id": "A"}],
                      [{"instances": Instances.cat([model_output(DETECTIONS["A"])["instances"],
                                                    model_output([(FAR, 0.9, 1.0, 0.0)], True)["instances"]])}])
    with pytest.raises(ValueError, match="no query embeddings"):
        evaluator.evaluate()
    evaluator.set_query_embeddings(lambda queries: QUERY_EMBEDDINGS[: len(queries)])
    result = evaluator.evaluate()["person_search"]
    assert result == pytest.approx({"mAP": 62.5, "top1": 50.0, "top5": 100.0, "top10": 100.0})
    assert json.loads((tmp_path / "person_search_metrics.json").read_text())["num_queries"] == 2


def test_evaluator_needs_embeddings_and_queries(registered):
    evaluator = PersonSearchEvaluator(registered, query_embeddings=QUERY_EMBEDDINGS)
    evaluator.reset()
    output = model_output(DETECTIONS["A"])
    output["instances"].remove("pred_embeddings")
    with pytest.raises(ValueError, match="pred_embeddings"):
        evaluator.process([{"image_id": "A"}], [output])
    MetadataCatalog.get("ps_eval_no_queries").set(thing_classes=["person"])
    with pytest.raises(ValueError, match="names no query_dataset"):
        PersonSearchEvaluator("ps_eval_no_queries")
    MetadataCatalog.remove("ps_eval_no_queries")
