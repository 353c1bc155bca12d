"""DMTrack (Zhang et al., CVPR 2021): one-shot FCOS detection with dynamic convolutions
generated from the template."""
from .dynamic_conv import (
    DynamicTower, TemplateController, dynamic_conv1x1, dynamic_parameter_count, parse_integration_places,
)
from .fcos_targets import (
    SIZE_RANGES, FCOSTargets, OneShotFCOSLoss, cross_query_average, fcos_locations, fcos_losses, fcos_targets,
)
from .meta_arch import DMTrack, Template
