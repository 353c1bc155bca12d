"""Config keys of SiamMOT: frame-pair sampling (``INPUT.PAIR``) and the Siamese track
head (``MODEL.TRACK_HEAD``)."""
from detectron2.config import CfgNode as CN


def add_siammot_config(cfg: CN) -> None:
    """SiamMOT (Shuai et al., CVPR 2021): frame pairs of its training (Sec. 4.2, also
    OUTrack's positive pairs) and the track head (Sec. 3 and 5.2)."""
    cfg.INPUT.PAIR = CN()
    # Video training: the second frame is drawn at most this many seconds from the
    # first, using the sequence's frame rate (paper: 1 s).
    cfg.INPUT.PAIR.MAX_SECONDS = 1.0
    # When > 0, the window is this many frames instead (OUTrack's positive pairs: 20).
    cfg.INPUT.PAIR.MAX_FRAMES = 0
    # Image training ("crop and re-scale" and "motion blur"; the ranges are ours, the
    # paper gives none): the second frame is the same image cropped to a random fraction
    # of its side in this range, rescaled back, and shifted (a fake camera motion).
    cfg.INPUT.PAIR.CROP_SCALE = (0.8, 1.0)
    # ... and blurred along a random direction with a kernel of this many pixels
    # (0 turns motion blur off); applied with this probability.
    cfg.INPUT.PAIR.MOTION_BLUR_KERNEL = (3, 9)
    cfg.INPUT.PAIR.MOTION_BLUR_PROB = 0.5
    # A box with less than this fraction of its area left in the crop is dropped (ours).
    cfg.INPUT.PAIR.MIN_KEPT_FRACTION = 0.1
    cfg.MODEL.TRACK_HEAD = CN()
    # Motion model: "EMM" (explicit, Eq. 4-6) or "IMM" (implicit, Eq. 2-3).
    cfg.MODEL.TRACK_HEAD.NAME = "EMM"
    # r: the search region S is the box R expanded by r about its centre (paper: 2).
    cfg.MODEL.TRACK_HEAD.SEARCH_REGION_SCALE = 2.0
    # RoIAlign sizes (paper: 15x15 template; 30x30 search for EMM, 15x15 for IMM).
    cfg.MODEL.TRACK_HEAD.TEMPLATE_RESOLUTION = 15
    cfg.MODEL.TRACK_HEAD.SEARCH_RESOLUTION = 30
    # RoIAlign ("the ROIAlign layer of Mask-RCNN", Sec. 3.1); aligned, 2 samples (ours).
    cfg.MODEL.TRACK_HEAD.POOLER_TYPE = "ROIAlignV2"
    cfg.MODEL.TRACK_HEAD.POOLER_SAMPLING_RATIO = 2
    # Focal loss on the visibility confidence (Eq. 3 and 6), RetinaNet's constants (ours).
    cfg.MODEL.TRACK_HEAD.FOCAL_ALPHA = 0.25
    cfg.MODEL.TRACK_HEAD.FOCAL_GAMMA = 2.0
    # Weight of the motion loss in the joint loss (RPN + box head + motion).
    cfg.MODEL.TRACK_HEAD.LOSS_WEIGHT = 1.0
    # Training triplets (Sec. 5.2) are sampled from the box head's training proposals of
    # frame t (RPN proposals plus gt boxes, matched by ROI_HEADS.IOU_THRESHOLDS). Kinds:
    # "positive" (the template's object is in its search region in the next frame),
    # "hard" (the template holds an object that is not there), "negative" (the template
    # is background). Table 2 ablates P + H, P + N and P + H + N.
    cfg.MODEL.TRACK_HEAD.TRIPLETS = ("positive", "hard", "negative")
    # Triplets an image: "We sample 256 image regions from the output of the RPN to
    # train them" (Sec. 4.2; set ROI_HEADS.BATCH_SIZE_PER_IMAGE to the same 256).
    cfg.MODEL.TRACK_HEAD.TRIPLETS_PER_IMAGE = 256
    # At most these fractions of an image's triplets are positive and hard; negatives
    # fill the rest (ours: the paper gives no mix; the authors' POS_RATIO and HN_RATIO).
    cfg.MODEL.TRACK_HEAD.POSITIVE_FRACTION = 0.25
    cfg.MODEL.TRACK_HEAD.HARD_FRACTION = 0.25
    # A target below this visibility in the next frame counts as absent (v* = 0; ours).
    cfg.MODEL.TRACK_HEAD.MIN_VISIBILITY = 0.1
    # Inference: the box head refines each propagated box and the track's score becomes
    # the mean of its visibility and the box head's class probability (ours: the paper
    # does not say; the authors' code). False: the motion model's box and visibility.
    cfg.MODEL.TRACK_HEAD.REFINE_WITH_BOX_HEAD = True
    cfg.MODEL.TRACK_HEAD.IMM = CN()
    cfg.MODEL.TRACK_HEAD.IMM.HIDDEN_DIM = 512  # the 2-layer MLP's width (paper: 512)
    # Eq. 3: "the commonly used smooth l1 loss" on m, Fast R-CNN's (beta 1, as the box
    # head of maskrcnn-benchmark, the authors' code base; their IMM is not released).
    cfg.MODEL.TRACK_HEAD.IMM.SMOOTH_L1_BETA = 1.0
    cfg.MODEL.TRACK_HEAD.EMM = CN()
    cfg.MODEL.TRACK_HEAD.EMM.NUM_CONVS = 2  # the fully convolutional head (paper: 2 layers)
    cfg.MODEL.TRACK_HEAD.EMM.NORM = "GN"
    # Eq. 5: eta = lambda * C + (1 - lambda) * S, C a cosine window about the previous
    # centre, S a Gaussian on the log relative change of width and height with this sigma.
    # Both ours (the paper gives neither): lambda 0.4 as the authors' code, sigma 0.4 (the
    # authors' code uses a SiamRPN-style exponential instead).
    cfg.MODEL.TRACK_HEAD.EMM.WINDOW_WEIGHT = 0.4
    cfg.MODEL.TRACK_HEAD.EMM.SCALE_SIGMA = 0.4
