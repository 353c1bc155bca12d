"""Config keys of DMTrack (``MODEL.DMTRACK``)."""
from detectron2.config import CfgNode as CN


def add_dmtrack_config(cfg: CN) -> None:
    """DMTrack (Zhang et al., CVPR 2021): FCOS with template-generated dynamic convolutions,
    a re-id branch, long-term tracking of one target (TRACKER.NAME "longterm")."""
    dm = cfg.MODEL.DMTRACK = CN()
    # FPN levels of the FCOS head, finest first (P3-P5, strides 8, 16, 32).
    dm.IN_FEATURES = ["p3", "p4", "p5"]
    # FCOS towers: 3x3 conv + GN + ReLU layers, then a 1x1 reduction to this many channels
    # (the authors' code: 4 convs, 32 channels).
    dm.NUM_CONVS = 4
    dm.REDUCED_CHANNELS = 32
    # Places of the dynamic 1x1 convs in both towers (Fig. 5; "1+6": before the first conv
    # and after the reduction); with "1+6" there are k = 4 controllers (Eq. 2-3).
    dm.INTEGRATION = "1+6"
    # RoIAlign of the template box on the head features (7x7).
    dm.POOLER_RESOLUTION = 7
    dm.POOLER_SAMPLING_RATIO = 0
    dm.POOLER_TYPE = "ROIAlignV2"
    # Positives: inside the centre region of this radius in strides (Eq. 1: 1.5), and
    # max(l, t, r, b) inside the level's range; the bounds between P3/P4 and P4/P5 (FCOS).
    dm.CENTER_RADIUS = 1.5
    dm.SIZE_BOUNDS = [64.0, 128.0]
    # Focal classification loss (Eq. 4; FCOS's alpha 0.25, gamma 2), box loss L_IoU of Eq. 5
    # "iou" (-ln IoU, FCOS) or "giou" (ours), initial foreground probability of the
    # classifier (FCOS: 0.01).
    dm.FOCAL_ALPHA = 0.25
    dm.FOCAL_GAMMA = 2.0
    dm.BOX_LOSS = "iou"
    dm.PRIOR_PROB = 0.01
    # Eq. 7: lambda_n^m, the weight of loss n (ALPHA classification, BETA regression, GAMMA
    # centre-ness) on level m, one value per level of IN_FEATURES (ours: 1, the paper gives none).
    dm.LAMBDA_ALPHA = [1.0, 1.0, 1.0]
    dm.LAMBDA_BETA = [1.0, 1.0, 1.0]
    dm.LAMBDA_GAMMA = [1.0, 1.0, 1.0]
    # Eq. 4-6 and 9 are sums over locations and objects. Ours (FCOS's and FairMOT's code):
    # NORMALIZE_LOSSES divides Eq. 4-6 by the number of positive locations (Eq. 5, weighted,
    # by the sum of its weights) and Eq. 9 by the number of objects;
    # CENTERNESS_WEIGHTED_BOX_LOSS weights Eq. 5 at each positive by its centre-ness target.
    dm.NORMALIZE_LOSSES = False
    dm.CENTERNESS_WEIGHTED_BOX_LOSS = False
    # Templates (targets) drawn from each template image per training pair; their losses
    # on the shared search image are averaged (cross-query loss, Eq. 8). Ours: 4.
    dm.QUERIES_PER_IMAGE = 4
    # Re-id branch (Eq. 9): an embedding of this size (128) at stride 4 on this low-level
    # feature (ours: the FPN's P2), from a 3x3 conv (HEAD_CONV channels) + ReLU + 1x1 conv
    # (ours: FairMOT's head); classified into the training identities (0: counted in
    # REID_DATASETS, else DATASETS.TRAIN). REID_ENABLED False trains detection only.
    dm.REID_ENABLED = True
    dm.REID_FEATURE = "p2"
    dm.EMBED_DIM = 128
    dm.HEAD_CONV = 256
    dm.NUM_IDENTITIES = 0
    # Sec. 3: "As there are no multiple objects annotations in single object tracking
    # dataset, we introduce MOT datasets [7, 25, 36, 44] to train our re-id branch
    # alternatively." With DATALOADER.SAMPLER_TRAIN "AlternatingSampler" (data/alternating.py),
    # batches of DATASETS.TRAIN (detection only, no identities) alternate with batches of
    # these datasets (detection and re-id; the identities are theirs only). The recipe names
    # the paper's Caltech, MOT16, CUHK-SYSU and PRW; empty: identities of DATASETS.TRAIN.
    dm.REID_DATASETS = ()
    # The alternation (ours: the paper is silent): this many detection batches, then this
    # many re-id batches, in turn.
    dm.ALTERNATION = (1, 1)
    # Detection / re-id balance by learnable task uncertainty (JDE; ours: FairMOT's initial values).
    dm.DET_LOG_VAR = -1.85
    dm.ID_LOG_VAR = -1.05
    # Inference: the k highest-scoring locations are the frame's candidates (k: ours); those
    # below the threshold are dropped (FCOS's 0.05). The score: "classification" (Sec. 3.5)
    # or "centerness_weighted", sqrt(classification x centre-ness) as FCOS ranks (ours).
    dm.TOPK_TEST = 10
    dm.SCORE_THRESH_TEST = 0.05
    dm.CANDIDATE_SCORE = "classification"
