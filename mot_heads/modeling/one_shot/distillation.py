"""KDMOT's knowledge-distilled embedding head (Zhang et al., ACM MM 2021, "Boosting
End-to-end Multi-Object Tracking and Person Search via Knowledge Distillation", Sec. 3.3).

The one-shot model's ID branch learns by regressing, with smooth L1, the embedding a
frozen ReID teacher gives to a crop of each gt box (Eq. 7 / 9): no identity label is
needed. The crops are cut from the training images by RoIAlign at the teacher's input
size (256 x 128, Sec. 3.3.2), all boxes of a batch in one call. Eq. 6 mixes in JDE's
identity classification (Eq. 8) as eta L_soft + (1 - eta) L_hard; the paper's eta is 1
(soft labels only). The model balances the ID loss against detection by its learnable
uncertainty weights (Eq. 10).

The teacher is any ``ReIDBaseline`` checkpoint: a config (``TEACHER_CONFIG``) and weights
(``TEACHER_WEIGHTS``), loaded through the project's checked checkpointer. It is a
:class:`FrozenTeacher`: eval mode, no gradients, outside the student's optimiser and
checkpoints. It runs in training, and at inference only for the "two-step" baseline
(``TEST_EMBEDDINGS "teacher"``: it embeds the detections' crops). Training without teacher
weights is an error unless ``ALLOW_RANDOM_TEACHER`` opts in (tests); a student tracks
without its teacher.

Our choices where the paper is silent: the target is the teacher's BNNeck feature before
L2 normalisation (unit-variance channels suit smooth L1; the student's embedding is
normalised at inference, as the teacher's is); Eq. 9 is read per channel and averaged
over the k channels as over the C boxes (the authors' code: ``SmoothL1Loss``, mean
reduction; summed over the channels it is the same Eq. 10 objective with omega_2
started log k higher); the hard-label probabilities of Eq. 8 come from JDE's classifier
(``CrossEntropyIDLoss``).
"""
import os
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from detectron2.config import configurable, get_cfg
from detectron2.modeling import build_model
from detectron2.structures import ImageList, Instances
from torch import nn

from ...errors import InputError
from ..zero_loss import zero_loss
from .id_losses import ID_LOSS_REGISTRY, CrossEntropyIDLoss

WEIGHTS_KEY = "MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS"
MISSING_WEIGHTS = (f"{WEIGHTS_KEY} is empty: KDMOT's teacher must be a trained ReID model (train one, e.g. "
                   "configs/KDMOT/reid_R50_market1501.yaml, and give its checkpoint); "
                   "MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.ALLOW_RANDOM_TEACHER True lets a random network teach (tests)")


def build_teacher(config_file: str, weights: str, device: str = "cpu", allow_random: bool = False) -> nn.Module:
    """The frozen ReID teacher of ``config_file`` with ``weights`` on ``device`` (eval
    mode, no gradients, no classifier). Without ``weights`` it is an error unless
    ``allow_random`` (the network keeps its random initialisation)."""
    from ...config import add_mot_config, merge_config_file  # the config module imports the model registry
    from ...engine.checkpoint import CheckedCheckpointer  # the engine imports this module

    if not config_file:
        raise InputError("MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_CONFIG is empty: give the ReID teacher's "
                         "config (e.g. configs/KDMOT/reid_R50_market1501.yaml)")
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"teacher config {config_file} does not exist "
                                "(MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_CONFIG)")
    if not weights and not allow_random:
        raise InputError(MISSING_WEIGHTS)
    if weights and not os.path.isfile(weights):
        raise FileNotFoundError(f"teacher weights {weights} do not exist ({WEIGHTS_KEY})")
    cfg = add_mot_config(get_cfg())
    merge_config_file(cfg, config_file)
    if cfg.MODEL.META_ARCHITECTURE != "ReIDBaseline":
        raise InputError(f"teacher config {config_file}: MODEL.META_ARCHITECTURE is {cfg.MODEL.META_ARCHITECTURE}, "
                         "expected ReIDBaseline")
    cfg.MODEL.REID.NUM_IDENTITIES, cfg.DATASETS.TRAIN = 0, ()  # embeddings only: no training classifier
    cfg.MODEL.DEVICE = device
    teacher = build_model(cfg)
    if weights:
        CheckedCheckpointer(teacher, require_all=True, weights_key=WEIGHTS_KEY).load(weights)
    return teacher.eval().requires_grad_(False)


class FrozenTeacher:
    """A frozen ReID model that embeds box crops of the student's input images.

    Not an ``nn.Module`` on purpose: a submodule's weights would enter the student's
    state_dict (its checkpoints) and DDP's parameters; the teacher's come from its own file.
    """

    def __init__(self, model: nn.Module, input_format: str = "BGR", ready: bool = True):
        """``input_format``: the student's INPUT.FORMAT; ``ready``: the model has weights, or
        a random one is allowed (otherwise using it raises)."""
        self._model, self.input_format, self.ready = model, input_format, ready

    def require_weights(self) -> "FrozenTeacher":
        """This teacher; an error when it has no weights and none was allowed."""
        if not self.ready:
            raise InputError(MISSING_WEIGHTS)
        return self

    @property
    def model(self) -> nn.Module:
        """The ReID model (see :meth:`require_weights`)."""
        return self.require_weights()._model

    @torch.no_grad()
    def embed_boxes(self, images: torch.Tensor, boxes: List[torch.Tensor], normalize: bool = True) -> torch.Tensor:
        """Embeddings of every box of ``boxes`` (one (N_i, 4) XYXY tensor an image of the raw
        ``images``, (B, 3, H, W)), in order."""
        model = self.model.to(images.device).eval()
        return model.embed_boxes(images, boxes, self.input_format, normalize=normalize)


def build_crop_embedder(cfg, id_loss: nn.Module) -> Optional[FrozenTeacher]:
    """The teacher that embeds the detections' crops at inference (MODEL.ONE_SHOT.TEST_EMBEDDINGS
    "teacher": KDMOT's two-step baseline): the distillation loss's own, or one built from
    ID_LOSS.DISTILLATION; None for "head" (the ID branch embeds)."""
    one_shot = cfg.MODEL.ONE_SHOT
    if one_shot.TEST_EMBEDDINGS not in ("head", "teacher"):
        raise InputError(f"MODEL.ONE_SHOT.TEST_EMBEDDINGS is {one_shot.TEST_EMBEDDINGS!r}: 'head' or 'teacher'")
    if one_shot.TEST_EMBEDDINGS == "head":
        return None
    if isinstance(id_loss, DistillationIDLoss):
        return id_loss.frozen_teacher.require_weights()
    distillation = one_shot.ID_LOSS.DISTILLATION
    teacher = build_teacher(distillation.TEACHER_CONFIG, distillation.TEACHER_WEIGHTS, cfg.MODEL.DEVICE,
                            distillation.ALLOW_RANDOM_TEACHER)
    return FrozenTeacher(teacher, cfg.INPUT.FORMAT)


@ID_LOSS_REGISTRY.register()
class DistillationIDLoss(nn.Module):
    """KDMOT's L_KD (Eq. 6): eta x smooth L1 from the student's embedding at each gt centre
    to the teacher's embedding of that box's crop (L_soft, Eq. 7 / 9) + (1 - eta) x the
    identity cross-entropy (L_hard, Eq. 8)."""

    @configurable
    def __init__(self, *, teacher: nn.Module, embed_dim: int, input_format: str = "BGR", beta: float = 1.0,
                 eta: float = 1.0, hard_label_loss: nn.Module = None, teacher_ready: bool = True):
        """``teacher_ready``: the teacher has weights, or a random one is allowed. Without,
        the student builds (it tracks without its teacher) but training raises."""
        super().__init__()
        teacher_dim = teacher.bnneck.num_features
        if teacher_dim != embed_dim:
            raise InputError(f"the student's MODEL.ONE_SHOT.EMBED_DIM is {embed_dim}, the teacher's embedding "
                             f"{teacher_dim}: they must match (KDMOT: 2048 with a ResNet-50 teacher)")
        if not 0.0 <= eta <= 1.0:
            raise InputError(f"MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.ETA is {eta}: expected 0 <= eta <= 1 (Eq. 6)")
        if eta < 1.0 and hard_label_loss is None:
            raise InputError("DISTILLATION.ETA < 1 needs the hard-label identity loss (Eq. 6, 8)")
        self.frozen_teacher = FrozenTeacher(teacher, input_format, teacher_ready)
        self.beta, self.eta, self.hard_label_loss = beta, eta, hard_label_loss

    @classmethod
    def from_config(cls, cfg, embed_dim: int):
        distillation = cfg.MODEL.ONE_SHOT.ID_LOSS.DISTILLATION
        weights, eta = distillation.TEACHER_WEIGHTS, distillation.ETA
        return {
            "teacher": build_teacher(distillation.TEACHER_CONFIG, weights, cfg.MODEL.DEVICE, allow_random=True),
            "embed_dim": embed_dim, "input_format": cfg.INPUT.FORMAT, "beta": distillation.SMOOTH_L1_BETA,
            # ours: Eq. 8's probabilities from JDE's identity classifier
            "eta": eta, "hard_label_loss": CrossEntropyIDLoss(cfg, embed_dim) if eta < 1.0 else None,
            "teacher_ready": bool(weights) or distillation.ALLOW_RANDOM_TEACHER,
        }

    @property
    def teacher(self) -> nn.Module:
        """The frozen teacher's ReID model; an error when it has no weights and none was allowed."""
        return self.frozen_teacher.model

    def teacher_embeddings(self, targets: List[Instances], inputs: List[dict]) -> torch.Tensor:
        """The teacher's embeddings of the crops of every gt box of the batch, in order
        (cut from the inputs' images)."""
        device = targets[0].gt_boxes.device
        images = ImageList.from_tensors([x["image"].to(device).float() for x in inputs]).tensor
        # ours: the BNNeck feature before L2 normalisation (the paper: "the output feature vector")
        return self.frozen_teacher.embed_boxes(images, [t.gt_boxes.tensor for t in targets], normalize=False)

    def forward(self, embeddings: List[torch.Tensor], targets: List[Instances], images: ImageList,
                inputs: List[dict]) -> Dict[str, torch.Tensor]:
        student = torch.cat(embeddings)
        if not len(student):
            return {"loss_id_distillation": zero_loss(student, self)}  # self: the hard-label classifier
        target = self.teacher_embeddings(targets, inputs)
        # Eq. 7 / 9, KDMOT: smooth L1 to the teacher, averaged over boxes and (ours) channels; Eq. 6: x eta
        losses = {"loss_id_distillation": self.eta * F.smooth_l1_loss(student, target, beta=self.beta)}
        if self.eta < 1.0:  # Eq. 6, KDMOT: + (1 - eta) x the hard-label loss (Eq. 8)
            losses["loss_id_hard_label"] = (1.0 - self.eta) * self.hard_label_loss(
                embeddings, targets, images, inputs)["loss_id"]
        return losses
