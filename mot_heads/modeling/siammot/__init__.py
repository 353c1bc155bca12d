"""SiamMOT (Shuai et al., CVPR 2021): registers the meta-architecture and ROI heads."""
from .meta_arch import SiamMOT
from .roi_heads import SiamMOTROIHeads
