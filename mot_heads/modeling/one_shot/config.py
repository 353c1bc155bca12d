"""Config keys of the one-shot model (JDE / FairMOT) and of the methods built on it:
CSTrack, OUTrack and KDMOT (``MODEL.ONE_SHOT``)."""
from detectron2.config import CfgNode as CN


def add_one_shot_config(cfg: CN) -> None:
    """The one-shot detection + ReID model of JDE / FairMOT."""
    one_shot = cfg.MODEL.ONE_SHOT = CN()
    one_shot.NUM_CLASSES = 1
    # Backbone levels at strides 4, 8, 16, 32 (finest first). The detection heads read
    # them fused into one stride-4 map (CenterNet's IDA-up); so does the FairMOT ID head.
    one_shot.IN_FEATURES = ["p2", "p3", "p4", "p5"]
    # The fusion's 3x3 convolutions are deformable (FairMOT's DLA-34) or plain.
    one_shot.FUSION_DEFORMABLE = True
    one_shot.FUSION_NORM = "BN"
    # Channels of the hidden 3x3 conv of each head (FairMOT: 256).
    one_shot.HEAD_CONV = 256
    # Box size regressed at each centre: "wh" (CenterNet, FairMOT paper) or "ltrb"
    # (distances to the four sides, FairMOT's later code).
    one_shot.SIZE_FORMAT = "wh"
    # Heatmap Gaussian radius: a box moved by the radius keeps this IoU (CenterNet).
    one_shot.MIN_OVERLAP = 0.7
    one_shot.MAX_OBJECTS = 500  # boxes per image in training (FairMOT: 500)
    # CenterNet's focal loss (alpha 2, beta 4) and the detection loss weights
    # (FairMOT: heatmap 1, size 0.1, offset 1).
    one_shot.FOCAL_ALPHA = 2.0
    one_shot.FOCAL_BETA = 4.0
    one_shot.HEATMAP_WEIGHT = 1.0
    one_shot.SIZE_WEIGHT = 0.1
    one_shot.OFFSET_WEIGHT = 1.0
    # ID branch: embedding dimension (FairMOT: 128; CSTrack: 512).
    one_shot.EMBED_DIM = 128
    one_shot.ID_LOSS = CN()
    # A name in mot_heads.modeling.one_shot.ID_LOSS_REGISTRY: "CrossEntropyIDLoss"
    # (JDE / FairMOT identity classification over the training identities) or
    # "UnsupervisedIDLoss" (OUTrack, no track ids; see ID_LOSS.UNSUPERVISED) or
    # "DistillationIDLoss" (KDMOT, a ReID teacher's embeddings; see ID_LOSS.DISTILLATION).
    one_shot.ID_LOSS.NAME = "CrossEntropyIDLoss"
    # Number of training identities; 0 counts them in DATASETS.TRAIN (JDE's offsets).
    one_shot.ID_LOSS.NUM_IDENTITIES = 0
    # Detection / ID balance: learnable task uncertainty (JDE, FairMOT) with FairMOT's
    # initial log variances; False sums det + ID_WEIGHT * id (CSTrack's Eq. 10 with
    # eta = ID_WEIGHT = 0.02, set in configs/CSTrack).
    one_shot.UNCERTAINTY_WEIGHTING = True
    one_shot.DET_LOG_VAR = -1.85
    one_shot.ID_LOG_VAR = -1.05
    one_shot.ID_WEIGHT = 1.0
    # Inference: peaks kept per image (FairMOT K = 500) and the lowest score returned
    # (the tracker applies its own detection threshold).
    one_shot.TOPK_TEST = 500
    one_shot.SCORE_THRESH_TEST = 0.05


def add_cstrack_config(cfg: CN) -> None:
    """CSTrack's REN and SAAN (Liang et al., IEEE TIP 2022) on the one-shot model."""
    one_shot = cfg.MODEL.ONE_SHOT
    # CSTrack's reciprocal network (Sec. III-B): one REN per level splits it into
    # detection and ID features, on the levels both branches read (IN_FEATURES, or with
    # SAAN those of SAAN.IN_FEATURES); pooled size (6, 10) and lambda init 0.5 (Eq. 4,
    # Sec. IV-A).
    one_shot.REN = CN()
    one_shot.REN.ENABLED = False
    one_shot.REN.POOLED_SIZE = (6, 10)
    one_shot.REN.LAMBDA_INIT = 0.5
    # CSTrack's scale-aware attention network (Sec. III-C): the ID embedding from the
    # stride 8, 16 and 32 levels at stride 8, instead of FairMOT's head on the fused map.
    one_shot.SAAN = CN()
    one_shot.SAAN.ENABLED = False
    one_shot.SAAN.IN_FEATURES = ["p3", "p4", "p5"]


def add_outrack_config(cfg: CN) -> None:
    """OUTrack's unsupervised ReID loss and occlusion estimation (Liu et al., Neurocomputing 2022)."""
    one_shot = cfg.MODEL.ONE_SHOT
    # OUTrack's unsupervised ReID loss ("UnsupervisedIDLoss", Liu et al., Eq. 1-8): no
    # track id, trains on frame pairs (INPUT.TRAIN_MAPPER: "VideoPairMapper").
    one_shot.ID_LOSS.UNSUPERVISED = CN()
    # The placeholder column appended to the similarity matrix (Eq. 1-2): "mean" (the
    # paper's dynamic mean of the off-diagonal similarities), "zero", or "none".
    one_shot.ID_LOSS.UNSUPERVISED.PLACEHOLDER = "mean"
    # Margin m of the inter-frame term (Eq. 4; paper: 0.5).
    one_shot.ID_LOSS.UNSUPERVISED.MARGIN = 0.5
    # r = N_neg / N_pos of Eq. 8 (paper: 0.25): the negative pairs' share r / (1 + r) of
    # the loss; 0 turns negative pairs off (needed with PLACEHOLDER "none").
    one_shot.ID_LOSS.UNSUPERVISED.NEGATIVE_RATIO = 0.25
    # The cycle term: "difference" (Eq. 5, |M_ij - M_ji| across the frames) or
    # "round_trip" (ours: the off-diagonal mass of going to the other frame and back).
    one_shot.ID_LOSS.UNSUPERVISED.CYCLE = "difference"
    # OUTrack's occlusion estimation (Sec. 3.2.1): a heatmap + offset head beside the
    # detection heads, on the fused stride-4 map, predicting the centres of valid
    # occlusions: overlaps of two boxes covering more than OVERLAP_THRESHOLD (tau = 0.7,
    # Eq. 9) of the smaller box. Its loss (focal + L1 offset, Eq. 11-14; OFFSET_WEIGHT 1:
    # the paper sums the two) joins the detection loss with LOSS_WEIGHT (0.5, Sec. 4.1),
    # before the detection / ID balance. Inference keeps TOPK_TEST peaks above
    # SCORE_THRESH_TEST (our choices; the tracker applies its own threshold). The pairs
    # include the boxes of hidden objects, annotated but below the dataset's minimum
    # visibility for detection (HIDDEN_OBJECTS; the paper's MOT17 labels keep them).
    one_shot.OCCLUSION = CN()
    one_shot.OCCLUSION.ENABLED = False
    one_shot.OCCLUSION.OVERLAP_THRESHOLD = 0.7
    one_shot.OCCLUSION.HEAD_CONV = 256
    one_shot.OCCLUSION.LOSS_WEIGHT = 0.5
    one_shot.OCCLUSION.OFFSET_WEIGHT = 1.0
    one_shot.OCCLUSION.MAX_OCCLUSIONS = 500
    one_shot.OCCLUSION.TOPK_TEST = 100
    one_shot.OCCLUSION.SCORE_THRESH_TEST = 0.1
    one_shot.OCCLUSION.HIDDEN_OBJECTS = True


def add_kdmot_config(cfg: CN) -> None:
    """KDMOT's distillation from a ReID teacher and its person-search evaluation (Zhang et al.,
    ACM MM 2021); the teacher's own keys are ``add_reid_config``'s."""
    one_shot = cfg.MODEL.ONE_SHOT
    # KDMOT's distillation ("DistillationIDLoss", Zhang et al., Eq. 6-9): the ID branch
    # regresses a frozen ReID teacher's embedding of each gt box crop (no identity label).
    one_shot.ID_LOSS.DISTILLATION = CN()
    # The teacher: a ReIDBaseline config (e.g. configs/KDMOT/reid_R50_market1501.yaml) and
    # its trained weights (any checkpoint converted to that architecture; a checkpoint of
    # another architecture is an error). Training without weights is an error unless
    # ALLOW_RANDOM_TEACHER (ours, for tests: a random network teaches).
    one_shot.ID_LOSS.DISTILLATION.TEACHER_CONFIG = ""
    one_shot.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS = ""
    one_shot.ID_LOSS.DISTILLATION.ALLOW_RANDOM_TEACHER = False
    # Smooth L1's switch point (Eq. 7 / 9: |d| < 1) and eta of Eq. 6, L_KD = eta L_soft +
    # (1 - eta) L_hard (paper: 1, soft labels only; below 1 the identity classification
    # of Eq. 8 needs INPUT.TRAIN_MAPPER "IdentityMapper").
    one_shot.ID_LOSS.DISTILLATION.SMOOTH_L1_BETA = 1.0
    one_shot.ID_LOSS.DISTILLATION.ETA = 1.0
    # Embeddings of the detections at inference: "head" (the ID branch, one shot) or
    # "teacher": the KDMOT teacher of ID_LOSS.DISTILLATION embeds each detection's crop
    # and the ID branch is not run (the "two-step" baseline of KDMOT's Table 2).
    one_shot.TEST_EMBEDDINGS = "head"
    # KDMOT's person search (TEST.EVALUATOR "person_search", Sec. 4.3): a gallery detection
    # is correct at IoU >= IOU_THRESHOLD with the query person's gt box (paper: 0.5);
    # SIZE_AWARE_IOU (ours, the reference code of Xiao et al.) lowers it to
    # min(0.5, wh / ((w + 10)(h + 10))) for small people. Detections scoring below
    # DET_THRESH are not searched (ours, paper silent: the reference code's 0.5).
    cfg.TEST.PERSON_SEARCH = CN()
    cfg.TEST.PERSON_SEARCH.IOU_THRESHOLD = 0.5
    cfg.TEST.PERSON_SEARCH.SIZE_AWARE_IOU = False
    cfg.TEST.PERSON_SEARCH.DET_THRESH = 0.5
