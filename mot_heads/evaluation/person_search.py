"""Person-search mAP and top-k (the standard protocol), and its Detectron2 evaluator.

The protocol of Xiao et al. (CVPR 2017), as their evaluation code computes it
(``evaluate_search`` of person_search's ``psdb.py``; for PRW ``eval_search_prw`` of
its successors, e.g. SeqNet), with KDMOT's IoU threshold (Sec. 4.3: 0.5):

1. Gallery detections scoring below ``det_thresh`` (0.5) are dropped.
2. Each detection of each image of a query's gallery gets the cosine similarity of its
   embedding to the query's (from a ReID teacher on the query crop, in KDMOT).
3. In a gallery image that holds the query's identity, the most similar detection whose
   IoU with that gt box is at least ``iou_threshold`` (0.5) is the one true positive;
   every other detection is a false positive. ``iou_threshold=None`` takes the reference
   code's min(0.5, w h / ((w + 10) (h + 10))) for a w x h gt box, lower for small people.
4. The AP of a query is the average precision of all its gallery detections ranked by
   similarity, times the recall rate: true positives / gallery images holding the
   identity (a person the detector missed lowers the AP). Top-k: whether a true
   positive is among the k most similar detections.
5. mAP and top-1/5/10 are means over the queries. A query whose gallery does not hold
   its identity at all is left out and counted (the reference code divides by zero).

A query's gallery is its ``gallery`` list, or else every gallery image but its own
(PRW, the CUHK-SYSU full set); ``exclude_same_camera`` leaves out the images of the
query's camera too (PRW's "multi-view gallery"; the standard PRW protocol keeps them).
Ties of similarity rank in gallery order (:func:`retrieval_metrics`) where the
reference's scikit-learn ``average_precision_score`` groups them.
"""
import itertools
import json
import logging
import os
from collections import OrderedDict, defaultdict
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.structures import BoxMode
from detectron2.utils import comm

from trackers import Detections
from trackers.costs import cosine_distance, iou_matrix

from ..engine.records import EMBEDDING_FIELD, instances_to_detections
from .reid_metrics import retrieval_metrics

logger = logging.getLogger(__name__)

TOPK = (1, 5, 10)


def search_iou_threshold(width: float, height: float) -> float:
    """IoU a detection needs with a gt box of this size: min(0.5, wh / ((w + 10)(h + 10)))."""
    return min(0.5, width * height / ((width + 10.0) * (height + 10.0)))


def rank_query(
    distances: np.ndarray,
    images: np.ndarray,
    boxes: np.ndarray,
    gt_boxes: Mapping[int, np.ndarray],
    iou_threshold: Optional[float] = 0.5,
) -> Tuple[float, np.ndarray]:
    """AP (times the recall rate) and top-1/5/10 hits (0 or 1) of one query.

    Args:
        distances: (N,) cosine distances of the query to its gallery detections.
        images: (N,) the gallery image of each detection; boxes: (N, 4) their xyxy boxes.
        gt_boxes: the xyxy box of the query's identity in each gallery image holding it.
        iou_threshold: IoU a true positive needs; None for the size rule of
            :func:`search_iou_threshold`.
    """
    labels = np.zeros(len(distances), bool)
    for image, gt in gt_boxes.items():
        threshold = search_iou_threshold(*(gt[2:] - gt[:2])) if iou_threshold is None else iou_threshold
        in_image = np.flatnonzero(images == image)
        matching = in_image[iou_matrix(gt[None], boxes[in_image])[0] >= threshold]
        if len(matching):  # one true positive per image: the most similar matching detection
            labels[matching[np.argmin(distances[matching])]] = True
    if not labels.any():
        return 0.0, np.zeros(len(TOPK))
    ranking = retrieval_metrics(distances[None], [True], labels, max_rank=max(TOPK))
    recall_rate = labels.sum() / len(gt_boxes)
    return ranking["mAP"] * recall_rate, ranking["cmc"][np.array(TOPK) - 1]


def query_gallery(query: dict, index: Mapping[str, int], cameras: np.ndarray, exclude_same_camera: bool) -> np.ndarray:
    """(G,) mask of the gallery images a query searches (see the module docstring)."""
    mask = np.zeros(len(index), bool)
    if "gallery" in query:
        unknown = [i for i in query["gallery"] if i not in index]
        if unknown:
            raise ValueError(f"query of person {query['person_id']} in {query['image_id']}: gallery image "
                             f"{unknown[0]!r} is not a scene of the gallery dataset")
        mask[[index[i] for i in query["gallery"]]] = True
    else:
        mask[:] = True
        mask[index.get(query["image_id"], [])] = False
    if exclude_same_camera:
        if "camera_id" not in query:
            raise ValueError(f"exclude_same_camera: query {query['image_id']} has no camera_id (a PRW query has)")
        mask &= cameras != query["camera_id"]
    return mask


def person_search_metrics(
    queries: Sequence[dict],
    gallery_detections: Mapping[str, Detections],
    query_embeddings: np.ndarray,
    gallery: Sequence[dict],
    exclude_same_camera: bool = False,
    det_thresh: float = 0.5,
    iou_threshold: Optional[float] = 0.5,
) -> Dict[str, float]:
    """mAP and top-1/5/10 (fractions) of the person-search protocol (module docstring).

    Args:
        queries: query dicts (:mod:`mot_heads.data.person_search`): ``image_id``,
            ``person_id``, optionally ``gallery`` and ``camera_id``.
        gallery_detections: image id -> the detections of that gallery scene, with embeddings.
        query_embeddings: (Q, D), one row per query.
        gallery: the gallery scene dicts; gt: annotations with ``person_id >= 0``.

    Also returns ``num_queries`` (evaluated) and ``skipped_queries`` (identity absent
    from their gallery).
    """
    query_embeddings = np.asarray(query_embeddings, np.float64)
    if query_embeddings.ndim != 2 or len(query_embeddings) != len(queries):
        raise ValueError(f"query_embeddings: expected shape ({len(queries)}, D), one row per query, "
                         f"got {query_embeddings.shape}")
    index = {scene["image_id"]: i for i, scene in enumerate(gallery)}
    missing = [i for i in index if i not in gallery_detections]
    if missing:
        raise ValueError(f"no detections for {len(missing)} gallery images, e.g. {missing[:3]}")
    dim = query_embeddings.shape[1]
    kept = []  # per gallery image: boxes and embeddings of its detections scoring >= det_thresh
    for image_id in index:
        d = gallery_detections[image_id]
        if d.embeddings is None or d.embeddings.shape[1] != dim:
            got = "none" if d.embeddings is None else f"{d.embeddings.shape[1]} dimensions"
            raise ValueError(f"detections of gallery image {image_id!r}: expected {dim}-d embeddings as the "
                             f"queries', got {got}")
        keep = d.scores >= det_thresh
        kept.append((d.boxes[keep], d.embeddings[keep]))
    images = np.repeat(np.arange(len(kept)), [len(b) for b, _ in kept]).astype(np.int64)
    boxes = np.concatenate([np.zeros((0, 4))] + [b for b, _ in kept])
    embeddings = np.concatenate([np.zeros((0, dim))] + [e for _, e in kept])
    gt: Dict[int, Dict[int, np.ndarray]] = defaultdict(dict)  # person id -> gallery image -> xyxy box
    for i, scene in enumerate(gallery):
        for a in scene.get("annotations", ()):
            if a.get("person_id", -1) >= 0 and not a.get("iscrowd", 0):
                box = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
                gt[a["person_id"]].setdefault(i, np.asarray(box, np.float64))
    cameras = np.array([scene.get("camera_id", -1) for scene in gallery])

    aps, hits = [], []
    for query, embedding in zip(queries, query_embeddings):
        in_gallery = query_gallery(query, index, cameras, exclude_same_camera)
        truth = {i: box for i, box in gt.get(query["person_id"], {}).items() if in_gallery[i]}
        if not truth:
            continue
        searched = in_gallery[images]
        ap, top = rank_query(cosine_distance(embedding[None], embeddings[searched])[0], images[searched],
                             boxes[searched], truth, iou_threshold)
        aps.append(ap)
        hits.append(top)
    skipped = len(queries) - len(aps)
    if skipped:
        logger.warning("person search: %d of %d queries have no gt box of their identity in their gallery; "
                       "left out", skipped, len(queries))
    top = np.mean(hits, axis=0) if hits else np.full(len(TOPK), np.nan)
    return {
        "mAP": float(np.mean(aps)) if aps else float("nan"),
        **{f"top{k}": float(v) for k, v in zip(TOPK, top)},
        "num_queries": len(aps),
        "skipped_queries": skipped,
    }


QueryEmbeddings = Union[np.ndarray, Callable[[List[dict]], np.ndarray], None]


class PersonSearchEvaluator(DatasetEvaluator):
    """Person-search mAP and top-1/5/10 (percent) of a model run over a gallery dataset.

    Args:
        dataset_name: the gallery dataset; its metadata ``query_dataset`` names the queries.
        query_embeddings: (Q, D) embeddings of the query crops (a ReID teacher's), or a
            callable queries -> (Q, D) run at :meth:`evaluate`; also :meth:`set_query_embeddings`.
        exclude_same_camera, det_thresh, iou_threshold: see :func:`person_search_metrics`.
        person_class: the predicted class searched (None: every detection).
        output_dir: where ``person_search_metrics.json`` goes.
    """

    def __init__(
        self,
        dataset_name: str,
        query_embeddings: QueryEmbeddings = None,
        exclude_same_camera: bool = False,
        det_thresh: float = 0.5,
        iou_threshold: Optional[float] = 0.5,
        person_class: Optional[int] = 0,
        output_dir: Optional[str] = None,
    ):
        query_dataset = MetadataCatalog.get(dataset_name).get("query_dataset")
        if query_dataset is None:
            raise ValueError(f"{dataset_name}: its metadata names no query_dataset; register a person-search "
                             "set (register_prw, register_cuhk_sysu, register_synthetic_person_search)")
        self.dataset_name = dataset_name
        self.queries = DatasetCatalog.get(query_dataset)
        self.gallery = DatasetCatalog.get(dataset_name)
        self.kwargs = dict(exclude_same_camera=exclude_same_camera, det_thresh=det_thresh, iou_threshold=iou_threshold)
        self.person_class = person_class
        self.output_dir = output_dir
        self.set_query_embeddings(query_embeddings)

    def set_query_embeddings(self, query_embeddings: QueryEmbeddings) -> None:
        self._query_embeddings = query_embeddings

    def reset(self) -> None:
        self._detections: Dict[str, Detections] = {}

    def process(self, inputs, outputs) -> None:
        for inp, out in zip(inputs, outputs):
            if "instances" not in out or not out["instances"].has(EMBEDDING_FIELD):
                raise ValueError(f"person search needs model outputs whose instances carry {EMBEDDING_FIELD}")
            d = instances_to_detections(out["instances"])
            if self.person_class is not None:
                keep = d.classes == self.person_class
                d = Detections(d.boxes[keep], d.scores[keep], d.classes[keep], d.embeddings[keep])
            self._detections[inp["image_id"]] = d

    def evaluate(self):
        gathered = comm.gather(self._detections, dst=0)
        if not comm.is_main_process():
            return {}
        detections = dict(itertools.chain(*(part.items() for part in gathered)))
        embeddings = self._query_embeddings
        if callable(embeddings):
            embeddings = embeddings(self.queries)
        if embeddings is None:
            raise ValueError("no query embeddings: give PersonSearchEvaluator(query_embeddings=...) or call "
                             "set_query_embeddings with the (Q, D) embeddings of the query crops")
        metrics = person_search_metrics(self.queries, detections, embeddings, self.gallery, **self.kwargs)
        result = {k: 100.0 * metrics[k] for k in ("mAP", *(f"top{k}" for k in TOPK))}
        logger.info("%s person search: mAP %.1f, top-1 %.1f (%d queries)", self.dataset_name, result["mAP"],
                    result["top1"], metrics["num_queries"])
        if self.output_dir:
            os.makedirs(self.output_dir, exist_ok=True)
            with open(os.path.join(self.output_dir, "person_search_metrics.json"), "w") as f:
                json.dump(dict(metrics, **self.kwargs), f, indent=1)
        return OrderedDict(person_search=result)
