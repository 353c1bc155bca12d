"""ROI heads with SiamMOT's track head beside Detectron2's box head."""
from typing import Dict, List

import torch
from detectron2.config import configurable
from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.structures import Boxes, Instances

from ..poolers import with_fast_backward
from .track_head import SiamTrackHead


@ROI_HEADS_REGISTRY.register()
class SiamMOTROIHeads(StandardROIHeads):
    """StandardROIHeads (box head; no mask or keypoint head) plus ``track_head``.

    Detection runs through the inherited ``forward``; the meta-architecture asks for the
    motion losses of a batch of frame pairs with :meth:`track_losses`.
    """

    @configurable
    def __init__(self, *, track_head: SiamTrackHead, **kwargs):
        super().__init__(**kwargs)
        self.track_head = track_head

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret["track_head"] = SiamTrackHead(cfg, input_shape)
        return ret

    @classmethod
    def _init_box_head(cls, cfg, input_shape):
        """Detectron2's box head, its pooler with the CPU-friendly RoIAlign backward."""
        ret = super()._init_box_head(cfg, input_shape)
        ret["box_pooler"] = with_fast_backward(ret["box_pooler"])
        return ret

    def track_losses(self, features: Dict[str, torch.Tensor], proposals: List[Instances],
                     targets: List[Instances]) -> Dict[str, torch.Tensor]:
        """Motion losses of a batch whose first half are frames t and second half the
        frames t+delta of the same pairs; ``proposals`` are the box head's training
        proposals returned by ``forward`` (they carry the matched gt's track ids)."""
        pairs = len(proposals) // 2
        first = {k: v[:pairs] for k, v in features.items()}
        second = {k: v[pairs:] for k, v in features.items()}
        return self.track_head.losses(first, second, proposals[:pairs], targets[pairs:])

    def refine_tracks(self, features: Dict[str, torch.Tensor], boxes: torch.Tensor, classes: torch.Tensor,
                      visibility: torch.Tensor):
        """The box head on propagated boxes (one image), as the authors' code does (ours:
        the paper does not say; MODEL.TRACK_HEAD.REFINE_WITH_BOX_HEAD): the
        box regressed for the track's class, and a score averaging the visibility with
        the box head's probability of that class."""
        proposals = Instances((0, 0), proposal_boxes=Boxes(boxes))
        pooled = self.box_pooler([features[f] for f in self.box_in_features], [proposals.proposal_boxes])
        predictions = self.box_predictor(self.box_head(pooled))
        probabilities = self.box_predictor.predict_probs(predictions, [proposals])[0]
        regressed = self.box_predictor.predict_boxes(predictions, [proposals])[0]
        rows = torch.arange(len(boxes), device=boxes.device)
        regressed = regressed.view(len(boxes), -1, 4)[rows, classes if regressed.shape[1] > 4 else 0]
        return regressed, (visibility + probabilities[rows, classes]) / 2
