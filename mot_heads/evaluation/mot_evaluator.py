"""Tracking metrics as a Detectron2 evaluator: ``TEST.EVALUATOR "mot"``.

The evaluator collects the tracks of every frame of a MOTChallenge-layout test set
(from all processes; the model's outputs carry them, see ``OnlineTracking``), writes
them as MOTChallenge text, and scores them against the sequences' ``gt/gt.txt`` with
:func:`evaluate_mot`, once per class of the dataset. With ``TEST.EVAL_PERIOD``
Detectron2's EvalHook reports these metrics during training.
"""
import itertools
import json
import logging
import os
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from ..engine.tracking import tracks_to_sequence
from .clear_identity import COMBINED
from .mot_files import MOTSequence, read_mot_gt, write_mot_results
from .mot_metrics import COUNT_KEYS, METRIC_KEYS, average_classes, evaluate_mot_classes, format_table

logger = logging.getLogger(__name__)


def crop_frames(seq: MOTSequence, first: int, last: int) -> MOTSequence:
    """Rows of frames ``first..last`` renumbered from 1 (a half-split validation set)."""
    keep = (seq.frames >= first) & (seq.frames <= last)
    return MOTSequence(
        seq.name, last - first + 1, seq.frames[keep] - first + 1, seq.ids[keep], seq.boxes[keep],
        seq.scores[keep], seq.classes[keep], seq.visibility[keep],
    )


class MOTEvaluator(DatasetEvaluator):
    """Score the tracks of every sequence of ``dataset_name``: HOTA, CLEAR and Identity.

    Args:
        mot_class_ids: the gt.txt class id of each contiguous category.
        distractor_classes: gt classes whose matched predictions are ignored.
        output_dir: where ``<sequence>.txt`` results and ``mot_metrics.json`` go.
    """

    def __init__(
        self,
        dataset_name: str,
        mot_class_ids: Sequence[int],
        distractor_classes: Sequence[int],
        output_dir: Optional[str] = None,
    ):
        self.dataset_name = dataset_name
        self.mot_class_ids = list(mot_class_ids)
        self.class_names = MetadataCatalog.get(dataset_name).thing_classes
        self.distractor_classes = list(distractor_classes)
        self.output_dir = output_dir

    def reset(self) -> None:
        self._frames: List[tuple] = []

    def process(self, inputs, outputs) -> None:
        for inp, out in zip(inputs, outputs):
            if "tracks" not in out:
                raise ValueError(f"{self.dataset_name}: the MOT evaluator scores tracks, and the model's output of "
                                 f"{inp['file_name']} has none; evaluate the model tracking online (OnlineTracking, "
                                 "as MOTTrainer.test does with TEST.EVALUATOR 'mot')")
            self._frames.append((inp["video_id"], inp["frame_idx"], out["tracks"]))

    def _sequences(self) -> Dict[str, dict]:
        """Per video: its folder and frame indices, from the dataset dicts."""
        info = {}
        for record in DatasetCatalog.get(self.dataset_name):
            video = info.setdefault(record["video_id"], {
                "dir": os.path.dirname(os.path.dirname(record["file_name"])), "frames": [],
            })
            video["frames"].append(record["frame_idx"])
        return info

    def evaluate(self):
        frames = list(itertools.chain(*comm.gather(self._frames, dst=0)))
        if not comm.is_main_process():
            return {}
        by_video = defaultdict(dict)
        for video, frame, tracks in frames:
            by_video[video][frame] = tracks
        gts, results = {}, {}
        for video, meta in sorted(self._sequences().items()):
            first, last = min(meta["frames"]), max(meta["frames"])
            missing = sorted(set(range(first, last + 1)) - set(by_video[video]))
            if missing:
                raise ValueError(f"{self.dataset_name}: no model output for frames {missing[:5]} of {video}")
            result = tracks_to_sequence([by_video[video][f] for f in range(first, last + 1)], video, last - first + 1)
            unknown = np.unique(result.classes[result.classes >= len(self.mot_class_ids)])
            if len(unknown):
                raise ValueError(
                    f"{self.dataset_name}: the model predicted class ids {unknown.tolist()}, the dataset has "
                    f"{len(self.mot_class_ids)} classes {self.class_names}; check MODEL.*.NUM_CLASSES"
                )
            result.classes = np.asarray(self.mot_class_ids)[result.classes]
            results[video] = result
            known = self.mot_class_ids + self.distractor_classes
            gts[video] = crop_frames(read_mot_gt(meta["dir"], known), first, last)
            if self.output_dir:
                write_mot_results(os.path.join(self.output_dir, f"{video}.txt"), result)
        return OrderedDict(tracking=self._score(gts, results))

    def _score(self, gts, results) -> Dict[str, float]:
        """Per class ``<metric>-<class>``; unsuffixed: TrackEval's class average
        (:func:`average_classes`). Ratios in percent, as Detectron2's other evaluators."""
        classes = dict(zip(self.class_names, self.mot_class_ids))
        per_class = evaluate_mot_classes(gts, results, classes, self.distractor_classes)
        for name, metrics in per_class.items():
            logger.info("%s, class %s:\n%s", self.dataset_name, name, format_table(metrics))
        combined = {name: metrics[COMBINED] for name, metrics in per_class.items()}
        if self.output_dir:
            with open(os.path.join(self.output_dir, "mot_metrics.json"), "w") as f:
                json.dump(combined, f, indent=1)
        average = average_classes(per_class)[COMBINED]
        flat = {}
        for key in METRIC_KEYS:
            flat[key] = _percent(key, average[key])
            if len(per_class) > 1:
                for name, metrics in combined.items():
                    flat[f"{key}-{name}"] = _percent(key, metrics[key])
        return flat


def _percent(key: str, value):
    """A ratio of :data:`METRIC_KEYS` in percent; counts as they are."""
    return value if key in COUNT_KEYS else 100.0 * value
