"""KDMOT's ReID teacher: the bag-of-tricks person ReID baseline (Luo et al., CVPRW 2019)."""
from .losses import batch_hard_triplet_loss, pairwise_euclidean
from .meta_arch import ReIDBaseline, count_identities, crop_boxes, set_last_stride
