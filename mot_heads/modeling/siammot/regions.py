"""Search regions and their RoIAlign features (SiamMOT, Sec. 3.1)."""
from typing import List

import torch
from detectron2.modeling.poolers import ROIPooler, assign_boxes_to_levels, convert_boxes_to_pooler_format
from detectron2.structures import Boxes


def search_regions(boxes: torch.Tensor, scale: float) -> torch.Tensor:
    """S: the XYXY boxes R expanded by ``scale`` (r) about their centres."""
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) * (scale / 2)
    return torch.cat([centres - half, centres + half], dim=1)


def pool_regions(pooler: ROIPooler, features: List[torch.Tensor], regions: List[Boxes], level_of: List[Boxes]) -> torch.Tensor:
    """RoIAlign of ``regions`` at the FPN level Detectron2 assigns to ``level_of``.

    Template and search features of one target must come from one level so that their
    cells have the same size (the cross-correlation compares them cell by cell); the
    level is the one of the target box R, not of the larger search region (ours: the
    paper does not say).
    """
    pooler_boxes = convert_boxes_to_pooler_format(regions)
    size = pooler.output_size
    if len(pooler.level_poolers) == 1:
        return pooler.level_poolers[0](features[0], pooler_boxes)
    levels = assign_boxes_to_levels(
        level_of, pooler.min_level, pooler.max_level, pooler.canonical_box_size, pooler.canonical_level
    )
    output = features[0].new_zeros((len(pooler_boxes), features[0].shape[1], *size))
    for level, level_pooler in enumerate(pooler.level_poolers):
        rows = torch.nonzero(levels == level, as_tuple=True)[0]
        output.index_put_((rows,), level_pooler(features[level], pooler_boxes[rows]))
    return output
