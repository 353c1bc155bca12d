"""One-shot JDE / FairMOT-style MOT models: shared backbone with detection and ID branches."""
from .centernet import (
    centernet_focal_loss, centernet_targets, decode_centernet, draw_gaussian, gather_at, gaussian_kernel,
    gaussian_radius, regression_l1_loss,
)
from .ren import RelationEnhancement, RelationMaps, TaskDecoupler, reciprocal_relation_maps
from .saan import ChannelAttention, ScaleAwareAttention, SpatialAttention
from .id_losses import ID_LOSS_REGISTRY, CrossEntropyIDLoss
from .loss_balance import UncertaintyWeighting
from .unsupervised_id import UnsupervisedIDLoss, adaptive_temperature, association_matrix
from .distillation import DistillationIDLoss, build_teacher
from .meta_arch import OneShotMOT
