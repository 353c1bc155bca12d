"""The one-shot detection + ReID model of JDE / FairMOT, and CSTrack on it.

Backbone levels at strides 4..32 (DLA-34 with its up path, or a ResNet-FPN) feed two
branches. Detection (FairMOT Sec. 3.3, CenterNet): the levels fused into one stride-4
map by IDA-up, then heatmap, box size and centre offset heads. ID: a dense embedding
map (FairMOT Sec. 3.4: a head on the same fused map at stride 4) read at object centres.
CSTrack (Liang et al., TIP 2022) switches in, by config, a REN per level that splits
each level into detection and ID features (Sec. III-B) and SAAN, which builds the
embedding from the ID features of strides 8, 16 and 32 at stride 8 (Sec. III-C).

The ID loss is a registered, swappable part (``id_losses.py``); detection and ID losses
are balanced by task uncertainty (FairMOT Eq. 6) or summed with a fixed ID weight
(CSTrack Eq. 10: L_det + 0.02 L_id). At inference each image gives
``Instances`` with ``pred_boxes``, ``scores``, ``pred_classes`` and L2-normalised
``pred_embeddings``: the per-frame record the JDE tracker of ``trackers/`` associates
(or, with ``MODEL.ONE_SHOT.TEST_EMBEDDINGS "teacher"``, the embeddings a ReID model gives
to the detections' crops: KDMOT's "two-step" baseline).

OUTrack (Liu et al., Neurocomputing 2022) is this model with its unsupervised ID loss
(``unsupervised_id.py``, trained on frame pairs, which the model takes flattened) and
its occlusion estimation head (``occlusion.py``), whose peaks each image's result gives
as ``"occlusions"``: ``centers`` (K, 2) x, y and ``scores`` (K,) in input pixels.
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone, detector_postprocess
from detectron2.structures import Boxes, ImageList, Instances
from detectron2.utils.events import get_event_storage
from torch import nn

from ...errors import InputError
from ..backbone.dla_up import IDAUp
from .centernet import (
    HEATMAP_PRIOR, centernet_focal_loss, centernet_targets, decode_centernet, gather_at, prediction_head,
    regression_l1_loss,
)
from .distillation import DistillationIDLoss, build_teacher
from .id_losses import ID_LOSS_REGISTRY
from .loss_balance import UncertaintyWeighting
from .occlusion import OcclusionHead
from .ren import TaskDecoupler
from .saan import ScaleAwareAttention

def rescale_cells(indices: torch.Tensor, width: int, stride: int, target_stride: int, target_size) -> torch.Tensor:
    """Flat cells of a stride-``stride`` map of ``width`` columns as cells of a map at
    ``target_stride`` of ``target_size`` (H, W): the cell holding the same pixel."""
    height, target_width = target_size
    x = torch.div((indices % width) * stride, target_stride, rounding_mode="floor").clamp(max=target_width - 1)
    y = torch.div(torch.div(indices, width, rounding_mode="floor") * stride, target_stride,
                  rounding_mode="floor").clamp(max=height - 1)
    return y * target_width + x


def identities_of(gt: Instances) -> torch.Tensor:
    """The training identities of an image's boxes; -1 for all when the mapper gives none
    (frame pairs for an ID loss that reads no identity)."""
    if gt.has("gt_identities"):
        return gt.gt_identities
    return torch.full((len(gt),), -1, dtype=torch.int64, device=gt.gt_classes.device)


def flatten_pairs(batched_inputs: List[dict]) -> List[dict]:
    """A batch of frame pairs (each dict with its second frame under "pair", as
    ``VideoPairMapper`` gives) as [first_0, second_0, first_1, ...]; single frames as they are."""
    paired = ["pair" in x for x in batched_inputs]
    if not any(paired):
        return batched_inputs
    if not all(paired):
        raise InputError("a training batch mixes frame pairs and single frames; use one INPUT.TRAIN_MAPPER")
    return [frame for x in batched_inputs for frame in (x, x["pair"])]


@META_ARCH_REGISTRY.register()
class OneShotMOT(nn.Module):
    """JDE / FairMOT one-shot tracker's model; CSTrack with REN and SAAN switched on."""

    @configurable
    def __init__(
        self, *, backbone: Backbone, in_features: Sequence[str], num_classes: int, head_conv: int,
        embed_dim: int, fusion_deformable: bool, fusion_norm, size_format: str, min_overlap: float,
        max_objects: int, focal_alpha: float, focal_beta: float, loss_weights: Dict[str, float],
        id_loss: nn.Module, balance: Optional[UncertaintyWeighting], id_weight: float,
        decoupler: Optional[TaskDecoupler], saan: Optional[ScaleAwareAttention], saan_in_features: Sequence[str],
        topk_test: int, score_thresh_test: float, pixel_mean: Sequence[float], pixel_std: Sequence[float],
        occlusion: Optional[OcclusionHead] = None, occlusion_weight: float = 0.5, occlusion_topk_test: int = 100,
        occlusion_score_thresh_test: float = 0.1, crop_embedder: Optional[nn.Module] = None,
        input_format: str = "BGR",
    ):
        super().__init__()
        shapes = backbone.output_shape()
        strides = [shapes[f].stride for f in in_features]
        if strides[0] != 4 or sorted(strides) != strides:
            raise InputError(f"MODEL.ONE_SHOT.IN_FEATURES must start at stride 4, finest first; got {list(in_features)} "
                             f"at strides {strides}")
        self.backbone, self.in_features = backbone, list(in_features)
        channels = [shapes[f].channels for f in in_features]
        self.det_fusion = IDAUp(channels, strides, channels[0], fusion_deformable, fusion_norm)
        self.heatmap_head = prediction_head(channels[0], head_conv, num_classes, HEATMAP_PRIOR)
        self.size_head = prediction_head(channels[0], head_conv, 2 if size_format == "wh" else 4)
        self.offset_head = prediction_head(channels[0], head_conv, 2)
        self.decoupler, self.saan, self.saan_in_features = decoupler, saan, list(saan_in_features)
        if saan is None:  # FairMOT's ID head on a stride-4 fused map (its own when REN splits the levels)
            self.id_fusion = IDAUp(channels, strides, channels[0], fusion_deformable, fusion_norm) if decoupler else None
            self.id_head = prediction_head(channels[0], head_conv, embed_dim)
        self.num_classes, self.size_format = num_classes, size_format
        self.min_overlap, self.max_objects = min_overlap, max_objects
        self.focal_alpha, self.focal_beta, self.loss_weights = focal_alpha, focal_beta, dict(loss_weights)
        self.id_loss, self.balance, self.id_weight = id_loss, balance, id_weight
        self.topk_test, self.score_thresh_test = topk_test, score_thresh_test
        self.occlusion, self.occlusion_weight = occlusion, occlusion_weight
        self.occlusion_topk_test, self.occlusion_score_thresh_test = occlusion_topk_test, occlusion_score_thresh_test
        # a frozen ReID model embedding the detections' crops at inference (two-step), or None;
        # in a list: not a submodule (no checkpoint, no optimiser)
        self._crop_embedder, self.input_format = [crop_embedder] if crop_embedder is not None else [], input_format
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)

    @classmethod
    def from_config(cls, cfg):
        one_shot = cfg.MODEL.ONE_SHOT
        backbone = build_backbone(cfg)
        shapes = backbone.output_shape()
        missing = [f for f in list(one_shot.IN_FEATURES) + list(one_shot.SAAN.IN_FEATURES) if f not in shapes]
        if missing:
            raise InputError(f"MODEL.ONE_SHOT asks for backbone features {missing}; the backbone gives {list(shapes)}")
        decoupler = saan = None
        if one_shot.REN.ENABLED:  # on the levels both branches read (SAAN skips stride 4)
            id_features = one_shot.SAAN.IN_FEATURES if one_shot.SAAN.ENABLED else one_shot.IN_FEATURES
            shared = [f for f in one_shot.IN_FEATURES if f in id_features]
            decoupler = TaskDecoupler({f: shapes[f].channels for f in shared},
                                      tuple(one_shot.REN.POOLED_SIZE), one_shot.REN.LAMBDA_INIT)
        occlusion = None
        if one_shot.OCCLUSION.ENABLED:
            occ = one_shot.OCCLUSION
            occlusion = OcclusionHead(shapes[one_shot.IN_FEATURES[0]].channels, occ.HEAD_CONV, occ.OVERLAP_THRESHOLD,
                                      occ.MAX_OCCLUSIONS, one_shot.MIN_OVERLAP, one_shot.FOCAL_ALPHA,
                                      one_shot.FOCAL_BETA, occ.OFFSET_WEIGHT, occ.HIDDEN_OBJECTS)
        id_loss = ID_LOSS_REGISTRY.get(one_shot.ID_LOSS.NAME)(cfg, one_shot.EMBED_DIM)
        if one_shot.TEST_EMBEDDINGS not in ("head", "teacher"):
            raise InputError(f"MODEL.ONE_SHOT.TEST_EMBEDDINGS is {one_shot.TEST_EMBEDDINGS!r}: 'head' or 'teacher'")
        crop_embedder = None
        if one_shot.TEST_EMBEDDINGS == "teacher":  # KDMOT's two-step baseline: the teacher on detection crops
            distillation = one_shot.ID_LOSS.DISTILLATION
            crop_embedder = id_loss.teacher if isinstance(id_loss, DistillationIDLoss) else build_teacher(
                distillation.TEACHER_CONFIG, distillation.TEACHER_WEIGHTS, cfg.MODEL.DEVICE,
                distillation.ALLOW_RANDOM_TEACHER)
        if one_shot.SAAN.ENABLED:
            saan = ScaleAwareAttention({f: shapes[f].channels for f in one_shot.SAAN.IN_FEATURES}, one_shot.EMBED_DIM,
                                       norm=one_shot.FUSION_NORM)
        return {
            "backbone": backbone, "in_features": one_shot.IN_FEATURES, "num_classes": one_shot.NUM_CLASSES,
            "head_conv": one_shot.HEAD_CONV, "embed_dim": one_shot.EMBED_DIM,
            "fusion_deformable": one_shot.FUSION_DEFORMABLE, "fusion_norm": one_shot.FUSION_NORM,
            "size_format": one_shot.SIZE_FORMAT, "min_overlap": one_shot.MIN_OVERLAP,
            "max_objects": one_shot.MAX_OBJECTS, "focal_alpha": one_shot.FOCAL_ALPHA, "focal_beta": one_shot.FOCAL_BETA,
            "loss_weights": {"heatmap": one_shot.HEATMAP_WEIGHT, "size": one_shot.SIZE_WEIGHT,
                             "offset": one_shot.OFFSET_WEIGHT},
            "id_loss": id_loss,
            "balance": UncertaintyWeighting(one_shot.DET_LOG_VAR, one_shot.ID_LOG_VAR)
            if one_shot.UNCERTAINTY_WEIGHTING else None,
            "id_weight": one_shot.ID_WEIGHT, "decoupler": decoupler, "saan": saan,
            "saan_in_features": one_shot.SAAN.IN_FEATURES, "topk_test": one_shot.TOPK_TEST,
            "score_thresh_test": one_shot.SCORE_THRESH_TEST,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN, "pixel_std": cfg.MODEL.PIXEL_STD,
            "occlusion": occlusion, "occlusion_weight": one_shot.OCCLUSION.LOSS_WEIGHT,
            "occlusion_topk_test": one_shot.OCCLUSION.TOPK_TEST,
            "occlusion_score_thresh_test": one_shot.OCCLUSION.SCORE_THRESH_TEST,
            "crop_embedder": crop_embedder, "input_format": cfg.INPUT.FORMAT,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, batched_inputs: List[dict]) -> ImageList:
        images = [(x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs]
        return ImageList.from_tensors(images, self.backbone.size_divisibility)

    def predict_maps(self, images: ImageList, embeddings: bool = True) -> Dict[str, torch.Tensor]:
        """Heatmap logits, sizes and offsets at stride 4; the embedding map and its stride
        (unless ``embeddings`` is False)."""
        features = self.backbone(images.tensor)
        levels = {f: features[f] for f in self.in_features + self.saan_in_features}
        det_levels, id_levels = levels, levels
        if self.decoupler is not None:
            det, ids = self.decoupler(levels)
            det_levels, id_levels = {**levels, **det}, {**levels, **ids}
        fused = self.det_fusion([det_levels[f] for f in self.in_features])
        maps = {"heatmap": self.heatmap_head(fused), "size": self.size_head(fused), "offset": self.offset_head(fused)}
        if self.occlusion is not None:
            maps["occlusion"] = self.occlusion(fused)
        if not embeddings:
            return maps
        if self.saan is not None:
            maps["embedding"], maps["embedding_stride"] = self.saan({f: id_levels[f] for f in self.saan_in_features}), 8
        else:
            id_map = self.id_fusion([id_levels[f] for f in self.in_features]) if self.id_fusion else fused
            maps["embedding"], maps["embedding_stride"] = self.id_head(id_map), 4
        return maps

    def forward(self, batched_inputs: List[dict]):
        if self.training:
            batched_inputs = flatten_pairs(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        maps = self.predict_maps(images, embeddings=self.training or not self._crop_embedder)
        if not self.training:
            return self.inference(maps, images, batched_inputs)
        return self.losses(maps, [x["instances"].to(self.device) for x in batched_inputs], images, batched_inputs)

    def losses(self, maps: Dict[str, torch.Tensor], gt: List[Instances], images: ImageList,
               inputs: List[dict]) -> Dict[str, torch.Tensor]:
        """CenterNet detection losses (FairMOT Eq. 1-3), with OUTrack's occlusion loss
        (Eq. 11-14) among them when the occlusion head is on, the ID loss, and their balance."""
        size = tuple(maps["heatmap"].shape[-2:])
        per_image = [
            centernet_targets(t.gt_boxes.tensor, t.gt_classes, identities_of(t), self.num_classes, size, 4,
                              self.max_objects, self.min_overlap, self.size_format) for t in gt
        ]
        targets = {k: torch.stack([t[k] for t in per_image]) for k in per_image[0]}
        det = {
            "loss_heatmap": centernet_focal_loss(maps["heatmap"], targets["heatmap"], self.focal_alpha, self.focal_beta),
            "loss_size": regression_l1_loss(maps["size"], targets["indices"], targets["mask"], targets["size"]),
            "loss_offset": regression_l1_loss(maps["offset"], targets["indices"], targets["mask"], targets["offset"]),
        }
        det_loss = sum(self.loss_weights[k[len("loss_"):]] * v for k, v in det.items())
        cells = rescale_cells(targets["indices"], size[1], 4, maps["embedding_stride"], maps["embedding"].shape[-2:])
        picked = gather_at(maps["embedding"], cells)
        embeddings = [picked[i][targets["mask"][i]] for i in range(len(gt))]
        id_terms = self.id_loss(embeddings, [self._kept(t, p) for t, p in zip(gt, per_image)], images, inputs)
        id_loss = sum(id_terms.values())
        occlusion = self.occlusion.losses(maps["occlusion"], [t.gt_boxes.tensor for t in gt], 4,
                                          [x.get("hidden_boxes") for x in inputs]) if self.occlusion else {}
        if occlusion:  # Sec. 4.1, OUTrack: L_occ (Eq. 14) joins the detection loss, weighted 0.5
            det_loss = det_loss + self.occlusion_weight * sum(occlusion.values())
        # the trainer sums the weighted terms; the unweighted parts go to the training log
        get_event_storage().put_scalars(**{k: float(v) for k, v in {**det, **id_terms, **occlusion}.items()})
        if self.balance is not None:
            losses = self.balance(det_loss, id_loss)
        else:
            # Eq. 10, CSTrack: L_total = L_det + eta L_id (the trainer sums the terms)
            losses = {"loss_det_weighted": det_loss, "loss_id_weighted": self.id_weight * id_loss}
        return losses

    @staticmethod
    def _kept(gt: Instances, targets: Dict[str, torch.Tensor]) -> Instances:
        """The gt objects that have a centre on the map, in target order."""
        return gt[targets["objects"][targets["mask"]]]

    def detection_embeddings(self, maps: Dict[str, torch.Tensor], decoded: Dict[str, torch.Tensor],
                             keep: torch.Tensor, batched_inputs: List[dict]) -> List[torch.Tensor]:
        """Each image's L2-normalised embeddings of its kept detections (``keep``: (B, K)
        mask): the embedding map read at their centres, or (two-step) the crop embedder's
        embeddings of their boxes, all crops of the batch in one call."""
        if self._crop_embedder:
            raw = ImageList.from_tensors([x["image"].to(self.device).float() for x in batched_inputs]).tensor
            boxes = [b[k] for b, k in zip(decoded["boxes"], keep)]
            flat = self._crop_embedder[0].to(self.device).embed_boxes(raw, boxes, self.input_format)
            return list(flat.split([len(b) for b in boxes]))
        width4 = maps["heatmap"].shape[-1]
        cells = rescale_cells(decoded["indices"], width4, 4, maps["embedding_stride"], maps["embedding"].shape[-2:])
        embeddings = F.normalize(gather_at(maps["embedding"], cells), dim=2)
        return [e[k] for e, k in zip(embeddings, keep)]

    def inference(self, maps: Dict[str, torch.Tensor], images: ImageList, batched_inputs: List[dict]):
        decoded = decode_centernet(maps["heatmap"], maps["size"], maps["offset"], self.topk_test, 4, self.size_format)
        keep_detections = decoded["scores"] > self.score_thresh_test
        embeddings = self.detection_embeddings(maps, decoded, keep_detections, batched_inputs)
        if self.occlusion is not None:
            occlusion_centres, occlusion_scores = self.occlusion.decode(maps["occlusion"], self.occlusion_topk_test, 4)
        results = []
        for i, (image_size, inputs) in enumerate(zip(images.image_sizes, batched_inputs)):
            keep = keep_detections[i]
            instances = Instances(image_size)
            instances.pred_boxes = Boxes(decoded["boxes"][i][keep])
            instances.scores = decoded["scores"][i][keep]
            instances.pred_classes = decoded["classes"][i][keep]
            instances.pred_embeddings = embeddings[i]
            height, width = inputs.get("height", image_size[0]), inputs.get("width", image_size[1])
            results.append({"instances": detector_postprocess(instances, height, width)})
            if self.occlusion is not None:
                keep = occlusion_scores[i] > self.occlusion_score_thresh_test
                scale = occlusion_centres.new_tensor([width / image_size[1], height / image_size[0]])
                results[-1]["occlusions"] = {"centers": occlusion_centres[i][keep] * scale,
                                             "scores": occlusion_scores[i][keep]}
        return results
