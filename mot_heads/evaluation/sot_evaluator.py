"""Single-object tracking metrics as a Detectron2 evaluator: ``TEST.EVALUATOR "sot"``.

The evaluator collects the tracker's box of every frame of an SOT dataset (the dataset
dicts of :mod:`mot_heads.data.sot`; from all processes), and scores each video against
the dicts' ``sot_box`` / ``sot_absent`` with the LaSOT OPE, VOT-LT and OxUvA metrics of
:mod:`.sot_metrics`. With ``TEST.EVAL_PERIOD`` Detectron2's EvalHook reports them during
training.

Model outputs, one dict per frame:

    sot_box: [x, y, w, h] in pixels of the original frame, None where the tracker
        reports the target absent;
    sot_confidence: the tracker's confidence (a float; may be None where sot_box is).

The first frame is scored as written (trackers start from its gt box and output it),
except under the OxUvA protocol, which scores no init frame. Frames without gt (OxUvA
labels every 30th frame) are tracked but not scored. The long-term (VOT-LT) metrics need
a finite confidence with every box; frames without a box and without a confidence count
as confidence 0. The dataset's metadata ``sot_protocol`` selects the metrics reported
(:data:`.sot_metrics.PROTOCOL_KEYS`; none: all of them).
"""
import itertools
import json
import logging
import math
import os
from collections import OrderedDict, defaultdict
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from .clear_identity import COMBINED
from .plots import plot_success
from .sot_files import SOTSequence, write_sot_results
from .sot_metrics import (
    Metrics,
    compare_sequences,
    evaluate_sot,
    format_sot_table,
    mean_success_curve,
    protocol_metrics,
)

logger = logging.getLogger(__name__)

# Per video: all its frame indices in order, those with gt (scored), and the gt, one row per scored frame.
GroundTruth = Dict[str, Tuple[List[int], List[int], SOTSequence]]


def write_sot_metrics(metrics: Mapping[str, Metrics], path: str) -> None:
    """Write :func:`evaluate_sot`'s metrics as JSON: {sequence or COMBINED: {metric: percent or null}}."""
    with open(path, "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")


def load_sot_gt(dataset_name: str) -> GroundTruth:
    """The gt of every video of ``dataset_name`` (sorted by name), NaN rows where the
    target is absent. Frames without SOT gt are left unscored; a ValueError for a video
    with gt in its first frame only (GOT-10k test, OxUvA test)."""
    records: Dict[str, Dict[int, dict]] = defaultdict(dict)
    for record in DatasetCatalog.get(dataset_name):
        if "video_id" not in record or "frame_idx" not in record:
            raise ValueError(f"{dataset_name}: record {record.get('file_name', '?')} has no video_id / frame_idx; "
                             "the sot evaluator needs the frames of SOT sequences (mot_heads.data.sot)")
        records[record["video_id"]][record["frame_idx"]] = record
    gt = {}
    for video, by_frame in sorted(records.items()):
        frames = sorted(by_frame)
        labelled = [f for f in frames if "sot_box" in by_frame[f] or "sot_absent" in by_frame[f]]
        if len(labelled) < 2 and len(frames) > 1:
            raise ValueError(
                f"{dataset_name}: video {video} carries SOT gt (sot_box / sot_absent) in its first frame only; "
                "sequences whose gt is withheld (GOT-10k test, OxUvA test) cannot be scored here"
            )
        boxes = [
            [math.nan] * 4 if by_frame[f].get("sot_absent") or by_frame[f].get("sot_box") is None
            else by_frame[f]["sot_box"] for f in labelled
        ]
        gt[video] = (frames, labelled, SOTSequence(video, boxes))
    return gt


class SOTEvaluator(DatasetEvaluator):
    """Score the tracker's box in every frame of ``dataset_name`` (see the module docstring).

    Args:
        output_dir: where ``<video>.txt`` results, ``sot_metrics.json`` and
            ``success_plot.png`` go.
    """

    def __init__(self, dataset_name: str, output_dir: Optional[str] = None):
        self.dataset_name = dataset_name
        self.output_dir = output_dir
        self._gt = load_sot_gt(dataset_name)  # no gt: fail now, not after inference
        self._frames = {video: set(frames) for video, (frames, _, _) in self._gt.items()}
        self._protocol = MetadataCatalog.get(dataset_name).get("sot_protocol", None)

    def reset(self) -> None:
        # Per processed frame: video, frame, box (4 floats, NaN when absent), confidence or None.
        self._predictions: List[tuple] = []

    def process(self, inputs, outputs) -> None:
        for inp, out in zip(inputs, outputs):
            video, frame = inp.get("video_id"), inp.get("frame_idx")
            where = f"{self.dataset_name}: video {video!r}, frame {frame!r}"
            if frame not in self._frames.get(video, ()):
                raise ValueError(f"{where}: got an output for a frame the dataset does not have "
                                 "(inputs need its video_id and frame_idx)")
            if "sot_box" not in out or "sot_confidence" not in out:
                raise ValueError(f"{where}: TEST.EVALUATOR 'sot' needs outputs with sot_box and sot_confidence "
                                 f"(a single-object tracker); got {sorted(out)}")
            box = [math.nan] * 4 if out["sot_box"] is None else np.asarray(out["sot_box"], np.float64).ravel()
            if len(box) != 4:
                raise ValueError(f"{where}: expected sot_box [x, y, w, h] or None, got {out['sot_box']!r}")
            confidence = out["sot_confidence"]
            self._predictions.append((video, frame, [float(v) for v in box],
                                      None if confidence is None else float(confidence)))

    def _results(self, by_video: Dict[str, dict]) -> Dict[str, SOTSequence]:
        """Each video's predictions in frame order; with confidences only when every
        sequence has a finite one in every frame (the long-term metrics need all)."""
        results = {}
        for video, (_, frames, _) in self._gt.items():
            missing = [f for f in frames if f not in by_video[video]]
            if missing:
                raise ValueError(f"{self.dataset_name}: no model output for frames {missing[:5]} of video {video}")
            boxes = np.array([by_video[video][f][0] for f in frames], np.float64)
            confidences = np.array([by_video[video][f][1] for f in frames], np.float64)  # None: NaN
            confidences[np.isnan(boxes).any(axis=1) & np.isnan(confidences)] = 0.0
            results[video] = SOTSequence(video, boxes, confidences)
        unscored = [video for video, result in results.items() if not np.isfinite(result.confidences).all()]
        if unscored:
            logger.warning("%s: boxes without a finite sot_confidence in %s; no long-term (VOT-LT) metrics",
                           self.dataset_name, ", ".join(unscored[:5]))
            for result in results.values():
                result.confidences = None
        return results

    def evaluate(self):
        predictions = itertools.chain(*comm.gather(self._predictions, dst=0))
        if not comm.is_main_process():
            return {}
        by_video: Dict[str, dict] = defaultdict(dict)
        for video, frame, box, confidence in predictions:
            by_video[video][frame] = (box, confidence)
        results = self._results(by_video)
        if self.output_dir:
            for video, result in results.items():
                write_sot_results(os.path.join(self.output_dir, f"{video}.txt"), result)
        frames = compare_sequences({video: gt for video, (_, _, gt) in self._gt.items()}, results, progress=True)
        if self._protocol == "oxuva":
            frames = {video: scores.without_first_frame() for video, scores in frames.items()}
        metrics = protocol_metrics(evaluate_sot(frames), self._protocol)
        logger.info("%s:\n%s", self.dataset_name, format_sot_table(metrics))
        if self.output_dir:
            write_sot_metrics(metrics, os.path.join(self.output_dir, "sot_metrics.json"))
            plot_success({"model": mean_success_curve(frames.values())},
                         os.path.join(self.output_dir, "success_plot.png"),
                         title=f"Success plot of OPE on {self.dataset_name}")
        return OrderedDict(sot={key: value for key, value in metrics[COMBINED].items() if value is not None})
