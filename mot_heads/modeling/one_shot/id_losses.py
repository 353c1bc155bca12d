"""ID losses of the one-shot model, swappable by ``MODEL.ONE_SHOT.ID_LOSS.NAME``.

An ID loss is built as ``ID_LOSS_REGISTRY.get(name)(cfg, embed_dim)`` and called as
``loss(embeddings, targets, images, inputs)``: the ID branch's embedding at the centre of
every gt box of each image (a list of (N_i, D) tensors), the images' gt ``Instances``, the
``ImageList`` (for losses that look at the images, e.g. a distillation teacher) and the
images' dataset dicts. Frame-pair batches (``INPUT.TRAIN_MAPPER: VideoPairMapper``) come
flattened: images 2k and 2k + 1 are the two frames of pair k. It returns a dict of
losses; the model weighs their sum against the detection loss.
"""
import logging
import math
from typing import Dict, List

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.data import DatasetCatalog
from detectron2.structures import ImageList, Instances
from detectron2.utils.registry import Registry
from torch import nn

from ...data.identities import IdentityIndex
from ...errors import InputError
from ..zero_loss import zero_loss

logger = logging.getLogger(__name__)

ID_LOSS_REGISTRY = Registry("ID_LOSS")
ID_LOSS_REGISTRY.__doc__ = "ID losses of the one-shot model, built as Loss(cfg, embed_dim)."


def embedding_scale(num_identities: int) -> float:
    """FairMOT's scale of the normalised embedding before the classifier:
    sqrt(2) * log(nID - 1), so that the softmax can become confident with many classes."""
    return math.sqrt(2) * math.log(max(num_identities - 1, 2))


def count_identities(dataset_names, configured: int, key: str) -> int:
    """``configured`` when set (> 0), else the identities of the training datasets (JDE's
    offsets; ``key`` names the config key in errors and logs)."""
    if configured:
        return configured
    missing = [name for name in dataset_names if name not in DatasetCatalog.list()]
    if missing:
        raise InputError(f"training datasets {missing} are not registered, so their identities cannot be "
                       f"counted: set {key} (the training log gives it)")
    count = IdentityIndex(dataset_names).num_identities
    logger.info("%d training identities in %s (%s)", count, list(dataset_names), key)
    return count


@ID_LOSS_REGISTRY.register()
class CrossEntropyIDLoss(nn.Module):
    """Supervised ReID of JDE / FairMOT (CSTrack Eq. 9): each box's embedding is classified
    into the training identities with a linear layer and cross-entropy, averaged over the
    batch's boxes; boxes without an identity (``gt_identities`` = -1) are left out."""

    @configurable
    def __init__(self, *, embed_dim: int, num_identities: int):
        super().__init__()
        if num_identities < 1:
            raise InputError("CrossEntropyIDLoss needs training identities: the training datasets carry no "
                             "track ids (set MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES or train with track ids)")
        self.scale = embedding_scale(num_identities)
        self.classifier = nn.Linear(embed_dim, num_identities)

    @classmethod
    def from_config(cls, cfg, embed_dim: int):
        count = count_identities(cfg.DATASETS.TRAIN, cfg.MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES,
                                 "MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES")
        return {"embed_dim": embed_dim, "num_identities": count}

    def forward(self, embeddings: List[torch.Tensor], targets: List[Instances], images: ImageList,
                inputs: List[dict]) -> Dict[str, torch.Tensor]:
        if not all(t.has("gt_identities") for t in targets):
            raise InputError("CrossEntropyIDLoss classifies training identities, but the training images carry "
                             "none: set INPUT.TRAIN_MAPPER to 'IdentityMapper'")
        identities = torch.cat([t.gt_identities for t in targets])
        features = torch.cat(embeddings)[identities >= 0]
        if not len(features):  # no identity in the batch: a zero on the ID branch's and classifier's graph
            return {"loss_id": zero_loss(*embeddings, self.classifier)}
        logits = self.classifier(self.scale * F.normalize(features, dim=1))
        return {"loss_id": F.cross_entropy(logits, identities[identities >= 0])}
