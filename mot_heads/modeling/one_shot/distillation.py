"""KDMOT's knowledge-distilled embedding head (Zhang et al., ACM MM 2021, Sec. 3).

The one-shot model's ID branch learns by regressing, with smooth L1, the embedding a
frozen ReID teacher gives to a crop of each gt box (Eq. 7 / 9): no identity label is
needed. The crops are cut from the training images by RoIAlign at the teacher's input
size (256 x 128), all boxes of a batch in one call. An optional hard-label term adds
JDE's identity classification with weight eta (Eq. 6; off by default). The model balances
the ID loss against detection by its learnable uncertainty weights (Eq. 10).

The teacher is any ``ReIDBaseline`` checkpoint: a config (``TEACHER_CONFIG``) and weights
(``TEACHER_WEIGHTS``). It runs in eval mode without gradients, only in training, and is
not a submodule: its weights stay out of the student's optimiser and checkpoints.

Our choices where the paper is silent: the target is the teacher's BNNeck feature before
L2 normalisation (unit-variance channels suit smooth L1; the student's embedding is
normalised at inference, as the teacher's is); smooth L1 is averaged over channels and
boxes (PyTorch's default reduction): summed over 2048 channels it would outweigh
detection by orders of magnitude, which the uncertainty weights cannot undo within a
training run.
"""
import logging
import os
from typing import Dict, List

import torch
import torch.nn.functional as F
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import configurable, get_cfg
from detectron2.modeling import build_model
from detectron2.structures import ImageList, Instances
from torch import nn

from .id_losses import ID_LOSS_REGISTRY, CrossEntropyIDLoss

logger = logging.getLogger(__name__)


def build_teacher(config_file: str, weights: str, device: str = "cpu") -> nn.Module:
    """The frozen ReID teacher of ``config_file`` with ``weights`` on ``device`` (eval
    mode, no gradients)."""
    from ...config import add_mot_config  # the config module imports the model registry

    if not config_file:
        raise ValueError("MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_CONFIG is empty: give the ReID teacher's "
                         "config (e.g. configs/KDMOT/reid_R50_market1501.yaml)")
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"teacher config {config_file} does not exist "
                                "(MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_CONFIG)")
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(config_file)
    if cfg.MODEL.META_ARCHITECTURE != "ReIDBaseline":
        raise ValueError(f"teacher config {config_file}: MODEL.META_ARCHITECTURE is {cfg.MODEL.META_ARCHITECTURE}, "
                         "expected ReIDBaseline")
    cfg.MODEL.REID.NUM_IDENTITIES = cfg.MODEL.REID.NUM_IDENTITIES or 1  # the classifier is not used
    cfg.MODEL.DEVICE = device
    teacher = build_model(cfg)
    if weights:
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"teacher weights {weights} do not exist "
                                    "(MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS)")
        DetectionCheckpointer(teacher).load(weights)
    else:
        logger.warning("KDMOT teacher without weights (MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS): "
                       "the student will regress the embeddings of a random network")
    return teacher.eval().requires_grad_(False)


@ID_LOSS_REGISTRY.register()
class DistillationIDLoss(nn.Module):
    """Smooth L1 from the student's embedding at each gt centre to the teacher's embedding
    of that box's crop (KDMOT Eq. 7 / 9), plus eta x identity cross-entropy (Eq. 6)."""

    @configurable
    def __init__(self, *, teacher: nn.Module, embed_dim: int, input_format: str = "BGR", beta: float = 1.0,
                 hard_label_weight: float = 0.0, hard_label_loss: nn.Module = None):
        super().__init__()
        teacher_dim = teacher.bnneck.num_features
        if teacher_dim != embed_dim:
            raise ValueError(f"the student's MODEL.ONE_SHOT.EMBED_DIM is {embed_dim}, the teacher's embedding "
                             f"{teacher_dim}: they must match (KDMOT: 2048 with a ResNet-50 teacher)")
        if hard_label_weight and hard_label_loss is None:
            raise ValueError("DISTILLATION.HARD_LABEL_WEIGHT > 0 needs the identity classification loss")
        self._teacher = [teacher]  # a list: not a submodule (no optimiser, no checkpoint, no DDP)
        self.input_format, self.beta = input_format, beta
        self.hard_label_weight, self.hard_label_loss = hard_label_weight, hard_label_loss

    @classmethod
    def from_config(cls, cfg, embed_dim: int):
        distillation = cfg.MODEL.ONE_SHOT.ID_LOSS.DISTILLATION
        eta = distillation.HARD_LABEL_WEIGHT
        return {
            "teacher": build_teacher(distillation.TEACHER_CONFIG, distillation.TEACHER_WEIGHTS, cfg.MODEL.DEVICE),
            "embed_dim": embed_dim, "input_format": cfg.INPUT.FORMAT, "beta": distillation.SMOOTH_L1_BETA,
            "hard_label_weight": eta,
            "hard_label_loss": CrossEntropyIDLoss(cfg, embed_dim) if eta else None,
        }

    @property
    def teacher(self) -> nn.Module:
        return self._teacher[0]

    @torch.no_grad()
    def teacher_embeddings(self, targets: List[Instances], inputs: List[dict]) -> torch.Tensor:
        """The teacher's embeddings of the crops of every gt box of the batch, in order
        (cut from the inputs' images, in the student's INPUT.FORMAT)."""
        device = targets[0].gt_boxes.device
        teacher = self.teacher.to(device).eval()
        images = ImageList.from_tensors([x["image"].to(device).float() for x in inputs]).tensor
        return teacher.embed_boxes(images, [t.gt_boxes.tensor for t in targets], self.input_format, normalize=False)

    def forward(self, embeddings: List[torch.Tensor], targets: List[Instances], images: ImageList,
                inputs: List[dict]) -> Dict[str, torch.Tensor]:
        student = torch.cat(embeddings)
        if not len(student):
            return {"loss_id_distillation": student.sum() * 0.0}
        target = self.teacher_embeddings(targets, inputs)
        # Eq. 7 / 9, KDMOT: smooth L1 to the teacher, averaged over boxes and channels
        distance = F.smooth_l1_loss(student, target, beta=self.beta)
        losses = {"loss_id_distillation": distance}
        if self.hard_label_weight:  # Eq. 6, KDMOT: eta x the hard-label (identity) loss
            losses["loss_id_hard_label"] = self.hard_label_weight * self.hard_label_loss(
                embeddings, targets, images, inputs)["loss_id"]
        return losses
