"""ReID quality of a one-shot MOT model as a Detectron2 evaluator: ``TEST.EVALUATOR "reid"``.

OUTrack (Liu et al., Neurocomputing 2022, Table 7) reports rank-1 and mAP of the
embeddings of a tracking model with "tracklets split into query and gallery halves".
The paper leaves the rest open; this module's protocol, our choices marked (*):

1. Ground truth: the dataset dicts of ``DatasetCatalog.get(dataset_name)``; every
   annotation with ``track_id >= 0`` that is not an ignore region (``iscrowd``) (*).
2. Per frame, each gt box takes the embedding of the detection matched to it one to one:
   Hungarian on IoU (``trackers.assignment``), IoU >= ``min_iou`` (0.5), same class (*).
   Classes compare directly: Detectron2 dataset dicts carry contiguous ``category_id``
   (``register_mot_folder`` and ``load_coco_json`` map them at load time), as the model's
   ``pred_classes`` are. Unmatched gt boxes are left out and counted (``matched_fraction``).
3. A tracklet is the matched boxes of one identity ``(video_id, track_id)`` in frame
   order; tracklets with fewer than 2 matched boxes are left out (*). The first
   ``floor(n / 2)`` boxes are queries, the rest gallery (*: split by time, not at random).
4. Distance: cosine distance of the L2-normalised embeddings; CMC and mAP by
   :func:`retrieval_metrics`, with no same-camera exclusion (*: the halves are disjoint
   in time; a query's own tracklet's gallery half is its true match).

Gallery entries of every video are ranked for every query, so cross-video confusions
count as errors (*). Results are in percent, as Detectron2's other evaluators report.
"""
import itertools
import json
import logging
import os
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.structures import BoxMode
from detectron2.utils import comm

from trackers.assignment import linear_assignment
from trackers.costs import cosine_distance, forbid_cross_class, iou_matrix

from ..engine.records import EMBEDDING_FIELD, instances_to_detections
from .reid_metrics import retrieval_metrics

logger = logging.getLogger(__name__)

# Per frame: gt boxes (N, 4) xyxy, their contiguous classes (N,) and track ids (N,).
GroundTruth = Dict[Tuple[str, int], Tuple[np.ndarray, np.ndarray, np.ndarray]]


def load_tracked_gt(dataset_name: str) -> GroundTruth:
    """The identity-carrying gt boxes of every frame of ``dataset_name``, keyed by
    ``(video_id, frame_idx)``; a ValueError when no box has a track id."""
    gt: GroundTruth = {}
    for record in DatasetCatalog.get(dataset_name):
        if "video_id" not in record or "frame_idx" not in record:
            raise ValueError(f"{dataset_name}: record {record.get('file_name', '?')} has no video_id / frame_idx; "
                             "the reid evaluator needs video frames (e.g. register_mot_folder)")
        anns = [a for a in record.get("annotations", ()) if a.get("track_id", -1) >= 0 and not a.get("iscrowd", 0)]
        boxes = np.array([a["bbox"] for a in anns], np.float64).reshape(-1, 4)
        modes = np.array([a["bbox_mode"] for a in anns])
        for mode in set(modes.tolist()):  # one conversion per box mode (usually one per dataset)
            boxes[modes == mode] = BoxMode.convert(boxes[modes == mode], BoxMode(mode), BoxMode.XYXY_ABS)
        gt[(record["video_id"], record["frame_idx"])] = (
            boxes,
            np.array([a["category_id"] for a in anns], np.int64),
            np.array([a["track_id"] for a in anns], np.int64),
        )
    if not any(len(ids) for _, _, ids in gt.values()):
        raise ValueError(f"{dataset_name}: no annotation has a track_id >= 0; the reid evaluator needs "
                         "ground truth identities (tracked videos, e.g. MOTChallenge gt.txt)")
    return gt


class TrackletReIDEvaluator(DatasetEvaluator):
    """Rank-1 / rank-5 / rank-10 and mAP of gt tracklets' embeddings (see the module docstring).

    Args:
        min_iou: least IoU of a detection matched to a gt box.
        output_dir: where ``reid_metrics.json`` goes.
    """

    def __init__(self, dataset_name: str, min_iou: float = 0.5, output_dir: Optional[str] = None):
        if not 0.0 < min_iou <= 1.0:
            raise ValueError(f"min_iou: expected a value in (0, 1], got {min_iou}")
        self.dataset_name = dataset_name
        self.min_iou = float(min_iou)
        self.output_dir = output_dir
        self.num_classes = len(MetadataCatalog.get(dataset_name).get("thing_classes", ())) or None
        self._gt = load_tracked_gt(dataset_name)  # no identities: fail now, not after inference

    def reset(self) -> None:
        # Per processed frame: video, frame, number of gt boxes, matched track ids, their embeddings.
        self._frames = []

    def process(self, inputs, outputs) -> None:
        for inp, out in zip(inputs, outputs):
            key = (inp.get("video_id"), inp.get("frame_idx"))
            if key not in self._gt:
                raise ValueError(f"{self.dataset_name}: got an output for video {key[0]!r}, frame {key[1]!r}, "
                                 "which the dataset does not have (inputs need its video_id and frame_idx)")
            if "instances" not in out or not out["instances"].has(EMBEDDING_FIELD):
                what = "tracks of a model tracking in the loop" if "tracks" in out else f"no {EMBEDDING_FIELD}"
                raise ValueError(f"TEST.EVALUATOR 'reid' needs a model whose outputs carry {EMBEDDING_FIELD} "
                                 f"(e.g. the one-shot models: JDE, FairMOT, CSTrack, OUTrack); got {what}")
            detections = instances_to_detections(out["instances"])
            if self.num_classes and len(detections) and detections.classes.max() >= self.num_classes:
                raise ValueError(f"{self.dataset_name}: the model predicted class id {detections.classes.max()}, "
                                 f"the dataset has {self.num_classes} classes; check MODEL.*.NUM_CLASSES")
            gt_boxes, gt_classes, track_ids = self._gt[key]
            cost = forbid_cross_class(1.0 - iou_matrix(gt_boxes, detections.boxes), gt_classes, detections.classes)
            matches, _, _ = linear_assignment(cost, 1.0 - self.min_iou)
            self._frames.append((*key, len(gt_boxes), track_ids[matches[:, 0]],
                                 detections.embeddings[matches[:, 1]].astype(np.float32)))

    def evaluate(self):
        gathered = itertools.chain(*comm.gather(self._frames, dst=0))
        if not comm.is_main_process():
            return {}
        by_frame = {f[:2]: f for f in gathered}  # a frame processed twice counts once
        frames = [by_frame[k] for k in sorted(by_frame)]
        missing = sorted(set(self._gt) - set(by_frame))
        if missing:
            raise ValueError(f"{self.dataset_name}: no model output for {len(missing)} frames, e.g. "
                             f"(video, frame) {missing[:3]}")
        num_gt = sum(f[2] for f in frames)
        dims = {f[4].shape[1] for f in frames}
        if len(dims) > 1:
            raise ValueError(f"{self.dataset_name}: embeddings of different sizes {sorted(dims)} across frames")
        # One row per matched box, in (video, frame) order: identity index of (video, track id), embedding.
        index: Dict[Tuple[str, int], int] = {}
        identity = np.array([index.setdefault((f[0], t), len(index)) for f in frames for t in f[3]], np.int64)
        embeddings = np.concatenate([f[4] for f in frames])
        # Tracklets: the rows of one identity, in frame order (the sort is stable).
        order = np.argsort(identity, kind="stable")
        identity, embeddings = identity[order], embeddings[order]
        size = np.bincount(identity, minlength=len(index))
        position = np.arange(len(identity)) - np.searchsorted(identity, identity)
        kept = size[identity] >= 2
        query = kept & (position < size[identity] // 2)
        gallery = kept & ~query
        metrics = retrieval_metrics(
            cosine_distance(embeddings[query], embeddings[gallery]), identity[query], identity[gallery], max_rank=10
        )
        result = {
            "rank1": 100.0 * metrics["rank1"],
            "rank5": 100.0 * metrics["rank5"],
            "rank10": 100.0 * metrics["rank10"],
            "mAP": 100.0 * metrics["mAP"],
            "queries": int(query.sum()),
            "gallery": int(gallery.sum()),
            "matched_fraction": 100.0 * len(identity) / num_gt,  # num_gt > 0: checked in __init__
        }
        num_tracklets, short = int(np.sum(size >= 2)), int(np.sum(size < 2))
        logger.info(
            "%s ReID: rank-1 %.1f, mAP %.1f (%d queries, %d gallery, %d tracklets, %d with < 2 matched boxes "
            "left out; %.1f%% of %d gt boxes matched at IoU >= %g)", self.dataset_name, result["rank1"],
            result["mAP"], result["queries"], result["gallery"], num_tracklets, short,
            result["matched_fraction"], num_gt, self.min_iou,
        )
        if not result["queries"]:
            logger.warning("%s: no tracklet has 2 matched boxes; the ReID metrics are NaN", self.dataset_name)
        if self.output_dir:
            os.makedirs(self.output_dir, exist_ok=True)
            with open(os.path.join(self.output_dir, "reid_metrics.json"), "w") as f:
                json.dump(dict(result, cmc=(100.0 * metrics["cmc"]).tolist(), tracklets=num_tracklets,
                               short_tracklets=short, gt_boxes=num_gt, min_iou=self.min_iou), f, indent=1)
        return OrderedDict(reid=result)
