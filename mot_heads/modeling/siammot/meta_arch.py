"""SiamMOT's meta-architecture: Faster R-CNN trained on frame pairs with a Siamese
track head (Shuai et al., CVPR 2021), run frame by frame at inference."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.structures import Boxes, Instances

from ...errors import InputError
from .roi_heads import SiamMOTROIHeads


@dataclass
class FrameFeatures:
    """Backbone features of one frame and the scale from its original size to the
    model's input (x, y): what template extraction needs after the solver ran."""

    features: Dict[str, torch.Tensor]
    scale: torch.Tensor


@META_ARCH_REGISTRY.register()
class SiamMOT(GeneralizedRCNN):
    """GeneralizedRCNN whose ROI heads carry a track head.

    Training inputs are frame pairs (a pair mapper puts the second frame under "pair");
    the loss is l_rpn + l_detect + l_motion (joint training, Sec. 3.4), the detection
    losses over both frames (ours: the paper does not say), the motion loss over the
    triplets of frame t tracked into frame t + delta.
    ``inference`` is plain detection; :meth:`track_frame` also propagates live tracks.
    """

    tracking_driver = "SiamMOTDriver"  # mot_heads.engine.drivers: the solver in the loop

    @configurable
    def __init__(self, *, refine_tracks: bool = True, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(self.roi_heads, SiamMOTROIHeads):
            raise InputError("SiamMOT needs MODEL.ROI_HEADS.NAME: SiamMOTROIHeads")
        self.refine_tracks = refine_tracks

    @classmethod
    def from_config(cls, cfg):
        return {**super().from_config(cfg), "refine_tracks": cfg.MODEL.TRACK_HEAD.REFINE_WITH_BOX_HEAD}

    def forward(self, batched_inputs: List[dict]):
        if not self.training:
            return self.inference(batched_inputs)
        if any("pair" not in x for x in batched_inputs):
            raise InputError(
                "SiamMOT trains on frame pairs: set INPUT.TRAIN_MAPPER to VideoPairMapper or ImagePairMapper"
            )
        frames = list(batched_inputs) + [x["pair"] for x in batched_inputs]
        images = self.preprocess_image(frames)
        targets = [x["instances"].to(self.device) for x in frames]
        features = self.backbone(images.tensor)
        proposals, losses = self.proposal_generator(images, features, targets)
        proposals, detector_losses = self.roi_heads(images, features, proposals, targets)
        losses.update(detector_losses)
        losses.update(self.roi_heads.track_losses(features, proposals, targets))
        return losses

    @torch.no_grad()
    def track_frame(self, frame: dict, prev_boxes: torch.Tensor, templates: torch.Tensor, classes: torch.Tensor,
                    given_boxes: Optional[torch.Tensor] = None
                    ) -> Tuple[Instances, torch.Tensor, torch.Tensor, FrameFeatures]:
        """Detect in one frame and propagate the live tracks into it.

        Args:
            frame: a test-mapper dict (image, height, width).
            prev_boxes: (N, 4) XYXY last boxes of the live tracks, original image pixels.
            templates: (N, ...) their cached templates (see :meth:`track_templates`).
            classes: (N,) their classes (the box head refines a track's box for its class).
            given_boxes: (K, 4) XYXY public detections, original pixels, or None: the box
                head then scores and refines these boxes in place of the RPN's proposals
                (the authors' given detections); the track head runs as usual.
        Returns:
            detections (Instances in original pixels), propagated boxes (N, 4) in
            original pixels clipped to the image, their visibility (N,), and the frame's
            features for :meth:`track_templates`.
        """
        images = self.preprocess_image([frame])
        features = self.backbone(images.tensor)
        height, width = images.image_sizes[0]
        original = (frame.get("height", height), frame.get("width", width))
        scale = torch.tensor([width / original[1], height / original[0]] * 2, device=self.device)
        if given_boxes is None:
            proposals, _ = self.proposal_generator(images, features, None)
        else:
            given = Boxes(given_boxes.to(self.device, torch.float32).reshape(-1, 4) * scale)
            given.clip((height, width))
            proposals = [Instances((height, width), proposal_boxes=given)]
        detections, _ = self.roi_heads(images, features, proposals, None)
        detections = self._postprocess(detections, [frame], images.image_sizes)[0]["instances"]
        state = FrameFeatures(features, scale)
        if not len(prev_boxes):
            return detections, prev_boxes.new_zeros((0, 4)), prev_boxes.new_zeros((0,)), state
        boxes, visibility = self.roi_heads.track_head.propagate(
            features, templates.to(self.device), prev_boxes.to(self.device, torch.float32) * scale
        )
        if self.refine_tracks:
            boxes, visibility = self.roi_heads.refine_tracks(features, boxes, classes.to(self.device), visibility)
        boxes = Boxes(boxes / scale)
        boxes.clip(original)
        return detections, boxes.tensor, visibility, state

    @torch.no_grad()
    def track_templates(self, state: FrameFeatures, boxes: torch.Tensor) -> torch.Tensor:
        """Templates of (M, 4) XYXY boxes (original pixels) in the frame of ``state``."""
        scaled = Boxes(boxes.to(self.device, torch.float32) * state.scale)
        return self.roi_heads.track_head.template_features(state.features, [scaled])
