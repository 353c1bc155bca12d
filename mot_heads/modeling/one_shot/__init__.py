"""One-shot JDE / FairMOT-style MOT models: shared backbone with detection and ID branches,
and the parts CSTrack, OUTrack and KDMOT add to them."""
from .centernet import (
    CenterNetDetection, centernet_focal_loss, centernet_targets, decode_centernet, draw_gaussian, gather_at,
    gaussian_kernel, gaussian_radius, regression_l1_loss,
)
from .config import add_cstrack_config, add_kdmot_config, add_one_shot_config, add_outrack_config
from .ren import RelationEnhancement, RelationMaps, TaskDecoupler, build_task_decoupler, reciprocal_relation_maps
from .saan import ChannelAttention, ScaleAwareAttention, SpatialAttention, build_saan
from .id_heads import FairMOTIDHead
from .id_losses import ID_LOSS_REGISTRY, CrossEntropyIDLoss
from .loss_balance import FixedWeighting, UncertaintyWeighting, build_loss_balance
from .occlusion import OcclusionHead, build_occlusion_head
from .unsupervised_id import UnsupervisedIDLoss, adaptive_temperature, association_matrix
from .distillation import DistillationIDLoss, FrozenTeacher, build_crop_embedder, build_teacher
from .meta_arch import OneShotMOT
