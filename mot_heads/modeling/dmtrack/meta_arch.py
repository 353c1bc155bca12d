"""DMTrack (Zhang et al., CVPR 2021, arXiv 2104.12041) as a Detectron2 meta-architecture.

One backbone + FPN serves a template image and a search image. The template branch
RoIAligns the target box (7x7) and turns it, by controllers, into the kernels of the
dynamic 1x1 convs of the FCOS towers (Eq. 2-3, ``dynamic_conv.py``); the search branch runs
the class-agnostic FCOS head with those kernels, so it detects this target only (focal
classification, IoU regression, centre-ness; Eq. 1, 4-8, ``fcos_targets.py``). A re-id
branch gives a 128-d embedding at stride 4 on low-level features, trained as identity
classification (Eq. 9) and balanced with detection by learnable task uncertainty (JDE).

Training samples are template-search frame pairs of one video (``IdentityPairMapper``):
up to ``QUERIES_PER_IMAGE`` objects of the template frame are queries, each with its own
kernels, and the search frame's box of the same track (none when it is absent) is the
query's only positive; the other objects of its class are negatives, which is what
teaches the head to tell the target from distractors. The queries of one search image
share its features and their losses are averaged (Eq. 8).

Inference is online and stateful outside the model: :meth:`DMTrack.init_template` gives a
:class:`Template` (kernels + re-id embedding of the target in the first frame), and
:meth:`DMTrack.detect_candidates` the top-k candidates of a later frame with their
embeddings, which the long-term tracker (``trackers/longterm.py``) associates.
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone, detector_postprocess
from detectron2.modeling.meta_arch.dense_detector import permute_to_N_HWA_K
from detectron2.structures import Boxes, ImageList, Instances
from detectron2.utils.events import get_event_storage
from torch import nn

from ...errors import InputError
from ..one_shot.centernet import prediction_head
from ..one_shot.id_losses import CrossEntropyIDLoss, count_identities
from ..one_shot.loss_balance import UncertaintyWeighting
from ..zero_loss import zero_loss
from .dynamic_conv import INIT_STD, DynamicTower, Kernels, TemplateController
from .fcos_targets import INF, OneShotFCOSLoss, fcos_locations

REID_STRIDE = 4
# Ranking of the candidates at inference: the classification score (Sec. 3.5), or ours,
# sqrt(classification x centre-ness) as FCOS ranks its detections.
CANDIDATE_SCORES = ("classification", "centerness_weighted")


@dataclass
class Template:
    """What tracking needs of the first frame: the kernels of the dynamic convs (one
    template) and the target's L2-normalised re-id embedding (None without re-id)."""

    kernels: List[Kernels]
    embedding: Optional[torch.Tensor] = None


class Scale(nn.Module):
    """A learnable scalar per FPN level (FCOS's ``Scale``)."""

    def __init__(self, value: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def _prediction_conv(in_channels: int, out_channels: int, bias: float = 0.0) -> nn.Conv2d:
    conv = Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
    nn.init.normal_(conv.weight, std=INIT_STD)
    nn.init.constant_(conv.bias, bias)
    return conv


def centre_cells(boxes: torch.Tensor, size: Tuple[int, int], stride: int) -> torch.Tensor:
    """Flat index of the stride-``stride`` cell holding each (N, 4) box's centre on a map of ``size``."""
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    x = torch.div(centres[:, 0], stride, rounding_mode="floor").long().clamp(0, size[1] - 1)
    y = torch.div(centres[:, 1], stride, rounding_mode="floor").long().clamp(0, size[0] - 1)
    return y * size[1] + x


def embeddings_at(embedding_map: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """(N, D) vectors of one image's (D, H, W) map at the cells of the boxes' centres."""
    cells = centre_cells(boxes, embedding_map.shape[-2:], REID_STRIDE)
    return embedding_map.flatten(1)[:, cells].T


@META_ARCH_REGISTRY.register()
class DMTrack(nn.Module):
    """DMTrack's model: template-conditioned FCOS + re-id branch (see the module docstring)."""

    tracking_driver = "SOTDriver"  # mot_heads.engine.drivers: one target with the long-term tracker

    @configurable
    def __init__(
        self, *, backbone: Backbone, in_features: Sequence[str], controller: TemplateController,
        cls_tower: DynamicTower, reg_tower: DynamicTower, fcos_loss: OneShotFCOSLoss, prior_prob: float,
        queries_per_image: int, reid_feature: str, embed_dim: int, head_conv: int, id_loss: Optional[nn.Module] = None,
        balance: Optional[UncertaintyWeighting] = None, normalize_id_loss: bool = False, topk_test: int,
        score_thresh_test: float, candidate_score: str = "classification", pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
    ):
        super().__init__()
        shapes = backbone.output_shape()
        self.backbone, self.in_features = backbone, list(in_features)
        self.strides = [shapes[f].stride for f in in_features]
        channels = shapes[in_features[0]].channels
        self.controller, self.cls_tower, self.reg_tower = controller, cls_tower, reg_tower
        self.cls_logits = _prediction_conv(cls_tower.out_channels, 1, -math.log((1 - prior_prob) / prior_prob))
        self.bbox_pred = _prediction_conv(reg_tower.out_channels, 4)
        self.centerness = _prediction_conv(reg_tower.out_channels, 1)
        self.scales = nn.ModuleList(Scale() for _ in in_features)
        self.fcos_loss, self.queries_per_image = fcos_loss, queries_per_image
        self.reid_feature, self.id_loss, self.balance = reid_feature, id_loss, balance
        self.normalize_id_loss = normalize_id_loss
        self.reid_head = prediction_head(shapes[reid_feature].channels, head_conv, embed_dim) if id_loss else None
        if candidate_score not in CANDIDATE_SCORES:
            raise InputError(f"MODEL.DMTRACK.CANDIDATE_SCORE must be one of {CANDIDATE_SCORES}, "
                             f"got {candidate_score!r}")
        self.topk_test, self.score_thresh_test, self.candidate_score = topk_test, score_thresh_test, candidate_score
        self.num_cls_kernels = len(cls_tower.places)
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        if channels != controller.controllers[0].in_channels:
            raise ValueError(f"the controller reads {controller.controllers[0].in_channels} channels, the FPN gives "
                             f"{channels}")

    @classmethod
    def from_config(cls, cfg):
        dm = cfg.MODEL.DMTRACK
        backbone = build_backbone(cfg)
        shapes = backbone.output_shape()
        wanted = list(dm.IN_FEATURES) + ([dm.REID_FEATURE] if dm.REID_ENABLED else [])
        missing = [f for f in wanted if f not in shapes]
        if missing:
            raise InputError(f"MODEL.DMTRACK asks for backbone features {missing}; the backbone gives {list(shapes)}")
        if dm.REID_ENABLED and shapes[dm.REID_FEATURE].stride != REID_STRIDE:
            raise InputError(f"MODEL.DMTRACK.REID_FEATURE {dm.REID_FEATURE!r} is at stride "
                             f"{shapes[dm.REID_FEATURE].stride}; the re-id branch works at stride {REID_STRIDE}")
        strides = [shapes[f].stride for f in dm.IN_FEATURES]
        bounds = [0.0, *dm.SIZE_BOUNDS, INF]
        if len(bounds) != len(strides) + 1:
            raise InputError(f"MODEL.DMTRACK.SIZE_BOUNDS has {len(dm.SIZE_BOUNDS)} bounds for {len(strides)} "
                             f"levels; expected {len(strides) - 1}")
        channels = shapes[dm.IN_FEATURES[0]].channels
        towers = [DynamicTower(channels, dm.NUM_CONVS, dm.REDUCED_CHANNELS, dm.INTEGRATION) for _ in range(2)]
        controller = TemplateController(
            channels, towers[0].dynamic_channels + towers[1].dynamic_channels, strides, dm.POOLER_RESOLUTION,
            dm.POOLER_SAMPLING_RATIO, dm.POOLER_TYPE)
        id_loss = balance = None
        if dm.REID_ENABLED:
            count = count_identities(dm.REID_DATASETS or cfg.DATASETS.TRAIN, dm.NUM_IDENTITIES,
                                     "MODEL.DMTRACK.NUM_IDENTITIES")
            id_loss = CrossEntropyIDLoss(embed_dim=dm.EMBED_DIM, num_identities=count)
            balance = UncertaintyWeighting(dm.DET_LOG_VAR, dm.ID_LOG_VAR)
        return {
            "backbone": backbone, "in_features": dm.IN_FEATURES, "controller": controller,
            "cls_tower": towers[0], "reg_tower": towers[1],
            "fcos_loss": OneShotFCOSLoss(
                strides, list(zip(bounds[:-1], bounds[1:])), dm.CENTER_RADIUS,
                (dm.LAMBDA_ALPHA, dm.LAMBDA_BETA, dm.LAMBDA_GAMMA), dm.FOCAL_ALPHA, dm.FOCAL_GAMMA, dm.BOX_LOSS,
                dm.NORMALIZE_LOSSES, dm.CENTERNESS_WEIGHTED_BOX_LOSS),
            "prior_prob": dm.PRIOR_PROB, "queries_per_image": dm.QUERIES_PER_IMAGE,
            "reid_feature": dm.REID_FEATURE, "embed_dim": dm.EMBED_DIM, "head_conv": dm.HEAD_CONV,
            "id_loss": id_loss, "balance": balance, "normalize_id_loss": dm.NORMALIZE_LOSSES,
            "topk_test": dm.TOPK_TEST, "score_thresh_test": dm.SCORE_THRESH_TEST,
            "candidate_score": dm.CANDIDATE_SCORE, "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, frames: List[dict]) -> ImageList:
        images = [(x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in frames]
        return ImageList.from_tensors(images, self.backbone.size_divisibility)

    # ------------------------------------------------------------------ heads

    def search_head(self, levels: List[torch.Tensor], kernels: List[Kernels]):
        """FCOS predictions of B template-search pairs: per level (B, 1, H, W) logits,
        (B, 4, H, W) distances in pixels, (B, 1, H, W) centre-ness logits."""
        cls_features = self.cls_tower(levels, kernels[:self.num_cls_kernels])
        reg_features = self.reg_tower(levels, kernels[self.num_cls_kernels:])
        logits = [self.cls_logits(x) for x in cls_features]
        # Distances stride * exp(s_l x): FCOS's exp(s_l x), scaled by the level's stride so
        # that an untrained head predicts boxes of about the level's size (ours).
        ltrb = [stride * torch.exp(scale(self.bbox_pred(x)).clamp(max=math.log(1e4)))
                for x, scale, stride in zip(reg_features, self.scales, self.strides)]
        centerness = [self.centerness(x) for x in reg_features]
        return logits, ltrb, centerness

    def embedding_map(self, features: Dict[str, torch.Tensor]) -> torch.Tensor:
        return self.reid_head(features[self.reid_feature])

    # ------------------------------------------------------------------ training

    def forward(self, batched_inputs: List[dict]):
        if not self.training:
            raise RuntimeError("DMTrack tracks one target through a video: call init_template on the first frame "
                               "and detect_candidates on the others (mot_heads.engine.drivers.SOTDriver)")
        if not all("pair" in x for x in batched_inputs):
            raise InputError("DMTrack trains on template-search pairs: set INPUT.TRAIN_MAPPER to "
                             "'IdentityPairMapper' (or 'VideoPairMapper' with MODEL.DMTRACK.REID_ENABLED False)")
        frames = [frame for x in batched_inputs for frame in (x, x["pair"])]
        images = self.preprocess_image(frames)
        features = self.backbone(images.tensor)
        gt = [x["instances"].to(self.device) for x in frames]
        det = self.detection_losses([features[f] for f in self.in_features], gt[0::2], gt[1::2])
        get_event_storage().put_scalars(**{k: float(v) for k, v in det.items()})
        det_loss = sum(det.values())
        if self.id_loss is None:
            return det
        emb = self.embedding_map(features)
        objects = sum(int((t.gt_identities >= 0).sum()) for t in gt)
        if not objects:  # a detection batch (data/alternating.py): no re-id loss
            return self.detection_batch_losses(det_loss, emb)
        embeddings = [embeddings_at(emb[i], t.gt_boxes.tensor) for i, t in enumerate(gt)]
        id_terms = self.id_loss(embeddings, gt, images, frames)  # softmax cross-entropy, mean over the objects
        if not self.normalize_id_loss:  # Eq. 9: the sum over the M objects
            id_terms = {name: value * objects for name, value in id_terms.items()}
        get_event_storage().put_scalars(**{k: float(v) for k, v in id_terms.items()})
        return self.balance(det_loss, sum(id_terms.values()))  # Eq. 9 balanced as JDE

    def detection_batch_losses(self, det_loss: torch.Tensor, embedding_map: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The losses of a batch without identities: the detection half of the task
        uncertainty balance, 1/2 (exp(-s_det) L_det + s_det) (ours). The re-id term is a
        zero on the re-id branch, its classifier and s_id, so that every parameter has a
        gradient (DistributedDataParallel without find_unused_parameters), none moves, and
        the loss names are those of a re-id batch (Detectron2 gathers them by name)."""
        return {
            "loss_det_weighted": 0.5 * torch.exp(-self.balance.det_log_var) * det_loss,
            "loss_id_weighted": zero_loss(embedding_map, self.balance.id_log_var, self.id_loss),
            "loss_uncertainty": 0.5 * self.balance.det_log_var,
        }

    def _queries(self, template: Instances) -> torch.Tensor:
        """Indices of up to ``queries_per_image`` tracked objects of a template frame, at random."""
        tracked = torch.nonzero(template.gt_track_ids >= 0).flatten()
        return tracked[torch.randperm(len(tracked), device=tracked.device)[:self.queries_per_image]]

    def detection_losses(self, levels: List[torch.Tensor], templates: List[Instances],
                         searches: List[Instances]) -> Dict[str, torch.Tensor]:
        """Eq. 4-8 over the pairs; ``levels`` hold the template and search images interleaved."""
        queries = [self._queries(t) for t in templates]
        pair_of_query = torch.cat([torch.full((len(q),), i, dtype=torch.int64) for i, q in enumerate(queries)])
        if not len(pair_of_query):  # no tracked object in any template: zero losses on the graph
            zero = sum(p.sum() for p in self.parameters()) * 0.0
            return {"loss_fcos_cls": zero, "loss_fcos_loc": zero, "loss_fcos_ctr": zero}
        template_levels = [x[0::2] for x in levels]
        kernels = self.controller(template_levels, [t.gt_boxes[q] for t, q in zip(templates, queries)])
        search_levels = [x[1::2][pair_of_query.to(x.device)] for x in levels]
        logits, ltrb, centerness = self.search_head(search_levels, kernels)
        targets = []
        for template, search, query in zip(templates, searches, queries):
            for track_id in template.gt_track_ids[query]:
                targets.append(search.gt_boxes.tensor[search.gt_track_ids == track_id])
        return self.fcos_loss(logits, ltrb, centerness, targets, pair_of_query.to(self.device))

    # ------------------------------------------------------------------ tracking

    def _scale(self, frame: dict, image_size: Tuple[int, int]) -> torch.Tensor:
        """(sx, sy) from the frame's original pixels to the model input's."""
        height, width = frame.get("height", image_size[0]), frame.get("width", image_size[1])
        return torch.tensor([image_size[1] / width, image_size[0] / height], device=self.device).repeat(2)

    @torch.no_grad()
    def init_template(self, frame: dict, box: Sequence[float]) -> Template:
        """The :class:`Template` of the target at ``box`` (x1, y1, x2, y2 in the frame's
        original pixels) in ``frame`` (a test-mapped dataset dict)."""
        images = self.preprocess_image([frame])
        features = self.backbone(images.tensor)
        box = torch.as_tensor(box, dtype=torch.float32, device=self.device).reshape(1, 4)
        box = box * self._scale(frame, images.image_sizes[0])
        kernels = self.controller([features[f] for f in self.in_features], [Boxes(box)])
        embedding = None
        if self.reid_head is not None:
            embedding = F.normalize(embeddings_at(self.embedding_map(features)[0], box), dim=1)[0]
        return Template(kernels, embedding)

    @torch.no_grad()
    def detect_candidates(self, frame: dict, template: Template) -> Instances:
        """The top-k candidates of the template's target in ``frame``: ``pred_boxes`` in
        the frame's original pixels, ``scores`` (see :data:`CANDIDATE_SCORES`),
        ``pred_classes`` (0) and, with re-id, ``pred_embeddings`` (L2-normalised)."""
        images = self.preprocess_image([frame])
        features = self.backbone(images.tensor)
        levels = [features[f] for f in self.in_features]
        logits, ltrb, centerness = self.search_head(levels, template.kernels)
        scores = [torch.sigmoid(x) for x in logits]  # Sec. 3.5: ordered by the classification score
        if self.candidate_score == "centerness_weighted":
            scores = [(s * torch.sigmoid(c)).sqrt() for s, c in zip(scores, centerness)]
        scores = torch.cat([permute_to_N_HWA_K(x, 1) for x in scores], dim=1)[0, :, 0]
        distances = torch.cat([permute_to_N_HWA_K(x, 4) for x in ltrb], dim=1)[0]
        locations = torch.cat(fcos_locations([x.shape[-2:] for x in logits], self.strides, self.device))
        top = scores.topk(min(self.topk_test, len(scores))).indices
        top = top[scores[top] > self.score_thresh_test]
        boxes = torch.cat([locations[top] - distances[top, :2], locations[top] + distances[top, 2:]], dim=1)
        instances = Instances(images.image_sizes[0])
        instances.pred_boxes = Boxes(boxes)
        instances.scores = scores[top]
        instances.pred_classes = torch.zeros(len(top), dtype=torch.int64, device=self.device)
        if self.reid_head is not None:
            instances.pred_embeddings = F.normalize(embeddings_at(self.embedding_map(features)[0], boxes), dim=1)
        image_size = images.image_sizes[0]
        return detector_postprocess(instances, frame.get("height", image_size[0]), frame.get("width", image_size[1]))
