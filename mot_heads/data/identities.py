"""Training identities of one-shot trackers (JDE / FairMOT), and instances that carry them.

JDE (Wang et al., ECCV 2020, Sec. 3.4) learns embeddings by classifying every box into
the identities of the training set: the identities of each dataset are numbered after
those of the datasets before it (per-dataset offsets), so several datasets train one
classifier. Here an identity is a ``(scope, track_id)`` pair: the scope is the record's
``identity_scope`` when it has one (a string unique to its dataset, e.g. the JDE lists
of ``data.jde`` and the person-search training sets, whose ids are per dataset), else its
``video_id`` (track ids are per video, video ids unique across datasets); boxes without
a track id (``-1``, e.g. CrowdHuman) get identity ``-1`` and train detection only.

``IdentityMapper`` (``INPUT.TRAIN_MAPPER: "IdentityMapper"``) maps single frames as
Detectron2's ``DatasetMapper`` does and adds ``instances.gt_identities``, and the boxes of
the frame's hidden objects as ``hidden_boxes`` (see :func:`pop_annotations`).
"""
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import DatasetCatalog, DatasetMapper
from detectron2.data import detection_utils as utils
from detectron2.structures import Instances

from ..errors import InputError
from .build import MAPPER_REGISTRY


class IdentityIndex:
    """Contiguous identities ``0..num_identities-1`` over ``dataset_names``, in order:
    dataset ``k``'s identities start at ``offsets[name_k]``, the count of those before."""

    def __init__(self, dataset_names: Sequence[str]):
        self.offsets: Dict[str, int] = {}
        self._identities: Dict[Tuple[str, int], int] = {}
        owner: Dict[str, str] = {}
        for name in dataset_names:
            self.offsets[name] = len(self._identities)
            for key in sorted(set(_tracked_keys(name, DatasetCatalog.get(name), owner))):
                self._identities[key] = len(self._identities)
        self.num_identities = len(self._identities)

    def __call__(self, scope: Optional[str], track_id: int) -> int:
        """The identity of a box of ``scope`` (see :func:`identity_scope`), or -1 when it
        has no track id."""
        return -1 if track_id < 0 else self._identities[(scope, track_id)]


def identity_scope(record: dict) -> Optional[str]:
    """What a record's track ids are unique within: its ``identity_scope``, else its ``video_id``."""
    return record.get("identity_scope", record.get("video_id"))


def _tracked_keys(name: str, records: Iterable[dict], owner: Dict[str, str]):
    """``(scope, track_id)`` of every box of ``name`` with a track id; a scope (a video)
    may belong to one dataset only (``owner`` maps the scopes seen so far to theirs)."""
    for record in records:
        tracked = [a["track_id"] for a in record.get("annotations", ()) if a.get("track_id", -1) >= 0]
        if not tracked:
            continue
        scope = identity_scope(record)
        if scope is None:
            raise InputError(f"dataset '{name}': {record['file_name']} has track ids but no video_id nor "
                             "identity_scope; identities are (video_id, track_id) pairs")
        if owner.setdefault(scope, name) != name:
            raise InputError(f"video {scope} is in datasets '{owner[scope]}' and '{name}'; "
                             "video ids (identity scopes) must be unique across the training datasets")
        yield from ((scope, t) for t in tracked)


def pop_annotations(dataset_dict: dict, transforms, image_shape) -> List[dict]:
    """The dict's non-crowd annotations, removed from it; sets ``hidden_boxes``: (M, 4)
    XYXY boxes, after ``transforms`` and clipped, of its ``hidden`` annotations (objects
    too little visible to be detection targets, see ``data.mot_challenge``), which
    OUTrack's occlusion targets take with the instances' boxes."""
    annotations = dataset_dict.pop("annotations")
    hidden = [utils.transform_instance_annotations(dict(a), transforms, image_shape)["bbox"]
              for a in annotations if a.get("hidden", 0)]
    boxes = torch.as_tensor(np.asarray(hidden, dtype=np.float32).reshape(-1, 4))
    dataset_dict["hidden_boxes"] = boxes[((boxes[:, 2:] - boxes[:, :2]) > 0).all(dim=1)]
    return [a for a in annotations if a.get("iscrowd", 0) == 0]


def tracked_instances(annotations: List[dict], transforms, image_shape, identities: Optional[List[int]] = None
                      ) -> Instances:
    """Detectron2's instances of non-crowd ``annotations`` after ``transforms``, with
    ``gt_track_ids``, ``gt_visibility`` and (if given) ``gt_identities`` set before
    empty boxes are filtered, so that they stay aligned with the boxes."""
    instances = utils.annotations_to_instances(
        [utils.transform_instance_annotations(a, transforms, image_shape) for a in annotations], image_shape
    )
    instances.gt_track_ids = torch.tensor([a.get("track_id", -1) for a in annotations], dtype=torch.int64)
    instances.gt_visibility = torch.tensor([a.get("visibility", 1.0) for a in annotations], dtype=torch.float32)
    if identities is not None:
        instances.gt_identities = torch.tensor(identities, dtype=torch.int64).reshape(-1)
    return utils.filter_empty_instances(instances)


@MAPPER_REGISTRY.register()
class IdentityMapper(DatasetMapper):
    """``DatasetMapper`` whose instances also carry ``gt_identities`` (an
    :class:`IdentityIndex` over ``cfg.DATASETS.TRAIN``)."""

    @configurable
    def __init__(self, is_train: bool = True, *, identities: IdentityIndex, **kwargs):
        super().__init__(is_train, **kwargs)
        self.identities = identities

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        ret = super().from_config(cfg, is_train)
        ret["identities"] = IdentityIndex(cfg.DATASETS.TRAIN)
        return ret

    def _transform_annotations(self, dataset_dict, transforms, image_shape):
        set_identity_instances(dataset_dict, self.identities, transforms, image_shape)


def set_identity_instances(dataset_dict: dict, identities: IdentityIndex, transforms, image_shape) -> None:
    """Replace the dict's non-crowd ``annotations`` by its ``instances`` carrying ``gt_identities``."""
    annotations = pop_annotations(dataset_dict, transforms, image_shape)
    scope = identity_scope(dataset_dict)
    ids = [identities(scope, a.get("track_id", -1)) for a in annotations]
    dataset_dict["instances"] = tracked_instances(annotations, transforms, image_shape, ids)
