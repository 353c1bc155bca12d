"""Model outputs (Detectron2 ``Instances``) as the per-frame records of ``trackers``."""
from typing import Dict

import numpy as np
import torch
from detectron2.structures import Instances

from trackers import Detections

# Optional Instances fields and the record field each becomes.
EMBEDDING_FIELD = "pred_embeddings"


def instances_to_detections(instances: Instances) -> Detections:
    """``pred_boxes``, ``scores``, ``pred_classes`` (and ``pred_embeddings`` when the
    model has an ID branch) of one image as a :class:`trackers.Detections`."""
    instances = instances.to("cpu")
    embeddings = instances.get(EMBEDDING_FIELD).numpy() if instances.has(EMBEDDING_FIELD) else None
    return Detections(
        instances.pred_boxes.tensor.numpy(), instances.scores.numpy(), instances.pred_classes.numpy(), embeddings
    )


def output_to_detections(output: Dict[str, object]) -> Detections:
    """One image's model output as a record: its ``instances``, and OUTrack's occlusion
    peaks (``"occlusions"``: ``centers``, ``scores``) as the extras the outrack tracker reads."""
    record = instances_to_detections(output["instances"])
    if "occlusions" in output:
        occlusions: Dict[str, torch.Tensor] = output["occlusions"]
        record.extras.update(
            occlusion_centers=occlusions["centers"].cpu().numpy().astype(np.float64).reshape(-1, 2),
            occlusion_scores=occlusions["scores"].cpu().numpy().astype(np.float64).reshape(-1),
        )
    return record
