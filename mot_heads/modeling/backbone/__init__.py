"""Backbones of the project (importing registers them in Detectron2's BACKBONE_REGISTRY)."""
from .dla import DLA, add_dla_config, build_dla_backbone, build_dla_fpn_backbone, convert_public_dla_weights
from .dla_up import DLAUpBackbone, IDAUp, build_dla_up_backbone, convert_fairmot_dla_weights
