"""The one-shot detection + ReID model of JDE / FairMOT, composed of the parts each method adds.

Backbone levels at strides 4..32 (DLA-34 with its up path, or a ResNet-FPN) feed two
branches. Detection (FairMOT Sec. 3.3, CenterNet; ``centernet.py``): the levels fused into
one stride-4 map by IDA-up, then heatmap, box size and centre offset heads. ID: an ID head
(``id_heads.py``) gives a dense embedding map read at object centres, and a registered ID
loss (``id_losses.py``) trains it; the two losses are balanced (``loss_balance.py``).

The parts, each chosen by its config keys (``config.py``):

- CSTrack (Liang et al., TIP 2022): a REN per level splitting it into detection and ID
  features (``ren.py``, ``MODEL.ONE_SHOT.REN``) and SAAN as the ID head (``saan.py``);
- OUTrack (Liu et al., Neurocomputing 2022): the unsupervised ID loss (``unsupervised_id.py``,
  trained on frame pairs, which the model takes flattened) and the occlusion head
  (``occlusion.py``), whose peaks each image's result gives as ``"occlusions"``;
- KDMOT (Zhang et al., ACM MM 2021): the distillation ID loss and its frozen ReID teacher
  (``distillation.py``), which can also embed the detections' crops at inference
  (``TEST_EMBEDDINGS "teacher"``: the "two-step" baseline).

At inference each image gives ``Instances`` with ``pred_boxes``, ``scores``,
``pred_classes`` and L2-normalised ``pred_embeddings``: the per-frame record the trackers of
``trackers/`` associate. Every part keeps its attribute name, the prefix of its weights in
checkpoints.
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
from .centernet import CenterNetDetection, gather_at
from .distillation import FrozenTeacher, build_crop_embedder
from .id_heads import FairMOTIDHead
from .id_losses import ID_LOSS_REGISTRY
from .loss_balance import build_loss_balance
from .occlusion import OcclusionHead, build_occlusion_head
from .ren import TaskDecoupler, build_task_decoupler
from .saan import build_saan


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
    """JDE / FairMOT's one-shot model with the parts of CSTrack, OUTrack and KDMOT."""

    @configurable
    def __init__(
        self, *, backbone: Backbone, in_features: Sequence[str], detection: CenterNetDetection, embed_dim: int,
        id_loss: nn.Module, balance: nn.Module, id_head: Optional[nn.Module] = None,
        decoupler: Optional[TaskDecoupler] = None, occlusion: Optional[OcclusionHead] = None,
        crop_embedder: Optional[FrozenTeacher] = None, pixel_mean: Sequence[float], pixel_std: Sequence[float],
    ):
        """``in_features``: the detection's levels, finest (stride 4) first; ``id_head``: an
        ID head in place of FairMOT's, whose embeddings have ``embed_dim`` channels (see
        ``id_heads.py``); ``decoupler``: CSTrack's REN; ``occlusion``: OUTrack's head; ``crop_embedder``: the
        teacher embedding the detections' crops (two-step), which then replaces the ID head
        at inference."""
        super().__init__()
        shapes = backbone.output_shape()
        strides = [shapes[f].stride for f in in_features]
        if strides[0] != detection.stride or sorted(strides) != strides:
            raise InputError(f"MODEL.ONE_SHOT.IN_FEATURES must start at stride 4, finest first; got "
                             f"{list(in_features)} at strides {strides}")
        self.backbone, self.in_features, self.detection = backbone, list(in_features), detection
        channels = [shapes[f].channels for f in in_features]
        fusion = (channels, strides, channels[0], detection.fusion_deformable, detection.fusion_norm)
        self.det_fusion = IDAUp(*fusion)
        heads = detection.heads(channels[0])
        self.heatmap_head, self.size_head, self.offset_head = heads["heatmap"], heads["size"], heads["offset"]
        self.decoupler = decoupler
        reads_fused_map = id_head is None or id_head.reads_fused_map
        # an ID head reading a fused map fuses the REN's ID levels on its own
        self.id_fusion = IDAUp(*fusion) if decoupler is not None and reads_fused_map else None
        if id_head is None:
            id_head = FairMOTIDHead(channels[0], detection.head_conv, embed_dim)
        self.id_head_name = id_head.checkpoint_name
        self.add_module(self.id_head_name, id_head)
        self.id_loss, self.balance, self.occlusion, self.crop_embedder = id_loss, balance, occlusion, crop_embedder
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
        # the parts are built in this order, then the model's own modules: the order fixes
        # the initial weights a seed gives
        decoupler = build_task_decoupler(cfg, shapes)
        occlusion = build_occlusion_head(cfg, shapes[one_shot.IN_FEATURES[0]].channels)
        id_loss = ID_LOSS_REGISTRY.get(one_shot.ID_LOSS.NAME)(cfg, one_shot.EMBED_DIM)
        crop_embedder = build_crop_embedder(cfg, id_loss)
        return {
            "backbone": backbone, "in_features": one_shot.IN_FEATURES, "detection": CenterNetDetection.from_config(cfg),
            "embed_dim": one_shot.EMBED_DIM, "decoupler": decoupler, "occlusion": occlusion, "id_loss": id_loss,
            "crop_embedder": crop_embedder, "id_head": build_saan(cfg, shapes), "balance": build_loss_balance(cfg),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN, "pixel_std": cfg.MODEL.PIXEL_STD,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @property
    def id_branch(self) -> nn.Module:
        """The ID head (FairMOT's ``id_head`` or CSTrack's ``saan``)."""
        return getattr(self, self.id_head_name)

    def preprocess_image(self, batched_inputs: List[dict]) -> ImageList:
        images = [(x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs]
        return ImageList.from_tensors(images, self.backbone.size_divisibility)

    def predict_maps(self, images: ImageList, embeddings: bool = True) -> Dict[str, torch.Tensor]:
        """Heatmap logits, sizes and offsets at stride 4 (and the occlusion head's maps); the
        embedding map and its stride (unless ``embeddings`` is False)."""
        levels = self.backbone(images.tensor)
        det_levels, id_levels = self.decoupler(levels) if self.decoupler is not None else (levels, levels)
        fused = self.det_fusion([det_levels[f] for f in self.in_features])
        maps = {"heatmap": self.heatmap_head(fused), "size": self.size_head(fused), "offset": self.offset_head(fused)}
        if self.occlusion is not None:
            maps["occlusion"] = self.occlusion(fused)
        if embeddings:
            id_fused = self.id_fusion([id_levels[f] for f in self.in_features]) if self.id_fusion is not None else fused
            maps["embedding"], maps["embedding_stride"] = self.id_branch(id_levels, id_fused), self.id_branch.stride
        return maps

    def forward(self, batched_inputs: List[dict]):
        if self.training:
            batched_inputs = flatten_pairs(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        maps = self.predict_maps(images, embeddings=self.training or self.crop_embedder is None)
        if not self.training:
            return self.inference(maps, images, batched_inputs)
        return self.losses(maps, [x["instances"].to(self.device) for x in batched_inputs], images, batched_inputs)

    def losses(self, maps: Dict[str, torch.Tensor], gt: List[Instances], images: ImageList,
               inputs: List[dict]) -> Dict[str, torch.Tensor]:
        """CenterNet detection losses (FairMOT Eq. 1-3), with OUTrack's occlusion loss
        (Eq. 11-14) among them when the occlusion head is on, the ID loss, and their balance."""
        size = tuple(maps["heatmap"].shape[-2:])
        targets = self.detection.targets([t.gt_boxes.tensor for t in gt], [t.gt_classes for t in gt],
                                         [identities_of(t) for t in gt], size)
        det = self.detection.losses(maps, targets)
        det_loss = self.detection.weighted_sum(det)
        cells = rescale_cells(targets["indices"], size[1], self.detection.stride, maps["embedding_stride"],
                              maps["embedding"].shape[-2:])
        picked = gather_at(maps["embedding"], cells)
        embeddings = [picked[i][targets["mask"][i]] for i in range(len(gt))]
        # the gt objects that have a centre on the map, in target order
        kept = [t[objects[mask]] for t, objects, mask in zip(gt, targets["objects"], targets["mask"])]
        id_terms = self.id_loss(embeddings, kept, images, inputs)
        occlusion = {}
        if self.occlusion is not None:  # Sec. 4.1, OUTrack: L_occ (Eq. 14) joins the detection loss, weighted 0.5
            occlusion = self.occlusion.losses(maps["occlusion"], [t.gt_boxes.tensor for t in gt],
                                              self.detection.stride, [x.get("hidden_boxes") for x in inputs])
            det_loss = det_loss + self.occlusion.loss_weight * sum(occlusion.values())
        # the trainer sums the weighted terms; the unweighted parts go to the training log
        get_event_storage().put_scalars(**{k: float(v) for k, v in {**det, **id_terms, **occlusion}.items()})
        return self.balance(det_loss, sum(id_terms.values()))

    def detection_embeddings(self, maps: Dict[str, torch.Tensor], decoded: Dict[str, torch.Tensor],
                             keep: torch.Tensor, batched_inputs: List[dict]) -> List[torch.Tensor]:
        """Each image's L2-normalised embeddings of its kept detections (``keep``: (B, K)
        mask): the embedding map read at their centres, or (two-step) the crop embedder's
        embeddings of their boxes, all crops of the batch in one call."""
        if self.crop_embedder is not None:
            raw = ImageList.from_tensors([x["image"].to(self.device).float() for x in batched_inputs]).tensor
            boxes = [b[k] for b, k in zip(decoded["boxes"], keep)]
            return list(self.crop_embedder.embed_boxes(raw, boxes).split([len(b) for b in boxes]))
        cells = rescale_cells(decoded["indices"], maps["heatmap"].shape[-1], self.detection.stride,
                              maps["embedding_stride"], maps["embedding"].shape[-2:])
        embeddings = F.normalize(gather_at(maps["embedding"], cells), dim=2)
        return [e[k] for e, k in zip(embeddings, keep)]

    def inference(self, maps: Dict[str, torch.Tensor], images: ImageList, batched_inputs: List[dict]):
        decoded = self.detection.decode(maps)
        keep_detections = decoded["scores"] > self.detection.score_thresh_test
        embeddings = self.detection_embeddings(maps, decoded, keep_detections, batched_inputs)
        output_sizes = [(x.get("height", size[0]), x.get("width", size[1]))
                        for x, size in zip(batched_inputs, images.image_sizes)]
        results = []
        for i, (image_size, (height, width)) in enumerate(zip(images.image_sizes, output_sizes)):
            keep = keep_detections[i]
            instances = Instances(image_size)
            instances.pred_boxes = Boxes(decoded["boxes"][i][keep])
            instances.scores = decoded["scores"][i][keep]
            instances.pred_classes = decoded["classes"][i][keep]
            instances.pred_embeddings = embeddings[i]
            results.append({"instances": detector_postprocess(instances, height, width)})
        if self.occlusion is not None:
            occlusions = self.occlusion.results(maps["occlusion"], self.detection.stride, images.image_sizes,
                                                output_sizes)
            for result, image_occlusions in zip(results, occlusions):
                result["occlusions"] = image_occlusions
        return results
