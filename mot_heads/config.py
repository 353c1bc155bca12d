"""Config keys the project adds to Detectron2's defaults, and safe reading of config files."""
import logging

import torch
import yaml
from detectron2.config import CfgNode as CN

from .errors import InputError
from .files import read_text
from .modeling.backbone.dla import add_dla_config


def add_mot_config(cfg: CN) -> CN:
    """Add every key of this project to ``cfg`` (in place) and return it."""
    # Name in mot_heads.data.MAPPER_REGISTRY of the train-time mapper: single frames
    # ("DatasetMapper"), or the pair / template-search mappers of the tracking models.
    cfg.INPUT.TRAIN_MAPPER = "DatasetMapper"
    # Evaluators run on cfg.DATASETS.TEST, comma-separated: "coco" (box AP of the
    # detector), "mot" (track each test sequence with cfg.TRACKER, then HOTA, CLEAR and
    # Identity metrics; needs a MOTChallenge-layout dataset), "reid" (rank-1 / mAP of the
    # model's embeddings of gt tracklets split into query and gallery halves, OUTrack's
    # Table 7; needs track ids and a model with pred_embeddings), "retrieval" (rank-1 /
    # mAP of a ReID model on a query + gallery set, e.g. market1501_test), "person_search"
    # (KDMOT: mAP / top-k of teacher-embedded queries over gallery scenes; TEST.PERSON_SEARCH).
    cfg.TEST.EVALUATOR = "coco"
    # The online tracker of evaluation and inference: a name registered in trackers/
    # ("sort", "jde") and "key=value" overrides of its parameters (paper defaults).
    # "SGD" (Detectron2's; CSTrack) or "ADAM" (FairMOT trains with Adam, lr 1e-4).
    cfg.SOLVER.OPTIMIZER = "SGD"
    cfg.TRACKER = CN()
    cfg.TRACKER.NAME = "sort"
    cfg.TRACKER.PARAMS = []
    add_dla_config(cfg)
    _add_pair_config(cfg)
    _add_track_head_config(cfg)
    _add_one_shot_config(cfg)
    _add_reid_config(cfg)
    _add_dmtrack_config(cfg)
    return cfg


def _add_pair_config(cfg: CN) -> None:
    """Frame-pair sampling of SiamMOT's training (Shuai et al., Sec. 4.2)."""
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


def _add_track_head_config(cfg: CN) -> None:
    """SiamMOT's Siamese track head (Shuai et al., CVPR 2021, Sec. 3 and 5.2)."""
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


def _add_one_shot_config(cfg: CN) -> None:
    """The one-shot detection + ReID model (JDE / FairMOT) and CSTrack's REN and SAAN."""
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
    # Detection / ID balance: learnable task uncertainty (JDE, FairMOT) with FairMOT's
    # initial log variances; False sums det + ID_WEIGHT * id (CSTrack's Eq. 10 with
    # eta = ID_WEIGHT = 0.02, set in configs/CSTrack).
    one_shot.UNCERTAINTY_WEIGHTING = True
    one_shot.DET_LOG_VAR = -1.85
    one_shot.ID_LOG_VAR = -1.05
    one_shot.ID_WEIGHT = 1.0
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
    # Inference: peaks kept per image (FairMOT K = 500) and the lowest score returned
    # (the tracker applies its own detection threshold).
    one_shot.TOPK_TEST = 500
    one_shot.SCORE_THRESH_TEST = 0.05
    # Embeddings of the detections at inference: "head" (the ID branch, one shot) or
    # "teacher": the KDMOT teacher of ID_LOSS.DISTILLATION embeds each detection's crop
    # and the ID branch is not run (the "two-step" baseline of KDMOT's Table 2).
    one_shot.TEST_EMBEDDINGS = "head"
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


def _add_reid_config(cfg: CN) -> None:
    """The ReID teacher of KDMOT: the bag-of-tricks baseline (Luo et al., CVPRW 2019), and
    KDMOT's person-search evaluation."""
    reid = cfg.MODEL.REID = CN()
    # Backbone feature pooled into the embedding (ResNet: its last stage).
    reid.IN_FEATURE = "res5"
    # "Last stride" trick (Luo et al., Sec. 3.4: 1): res5 runs at stride 1 (the model
    # sets its strided convolutions to stride 1, without dilation); 2 keeps ResNet's.
    reid.LAST_STRIDE = 1
    # Training identities of the classifier; 0 counts them in DATASETS.TRAIN.
    reid.NUM_IDENTITIES = 0
    # ID loss: cross-entropy with label smoothing epsilon (Sec. 3.3: 0.1); batch-hard
    # triplet loss on the pooled feature with this margin (Sec. 2: 0.3); total
    # L = ID_WEIGHT * L_ID + TRIPLET_WEIGHT * L_Triplet (Sec. 3.6, without center loss).
    reid.LABEL_SMOOTHING = 0.1
    reid.TRIPLET_MARGIN = 0.3
    reid.ID_WEIGHT = 1.0
    reid.TRIPLET_WEIGHT = 1.0
    # Test embedding: the BNNeck output "after" (the baseline's test setting, Sec. 3.5)
    # or the pooled feature "before" it; L2-normalised either way.
    reid.TEST_FEATURE = "after"
    # Person crops (Sec. 2): resized to (height, width) 256x128; random horizontal flip
    # with FLIP_PROB 0.5; zero-padded by PADDING 10 pixels and randomly cropped back;
    # random erasing (Zhong et al., AAAI 2020) with ERASING_PROB 0.5 of a rectangle of
    # ERASING_AREA (0.02, 0.4) of the crop and aspect ratio ERASING_RATIO (0.3, 3.33),
    # filled with the pixel mean (Luo et al. fill with a constant too).
    cfg.INPUT.REID = CN()
    cfg.INPUT.REID.SIZE = (256, 128)
    cfg.INPUT.REID.FLIP_PROB = 0.5
    cfg.INPUT.REID.PADDING = 10
    cfg.INPUT.REID.ERASING_PROB = 0.5
    cfg.INPUT.REID.ERASING_AREA = (0.02, 0.4)
    cfg.INPUT.REID.ERASING_RATIO = (0.3, 3.33)
    # DATALOADER.SAMPLER_TRAIN "IdentitySampler": batches of SOLVER.IMS_PER_BATCH / K
    # identities with K crops each (Sec. 2: P = 16, K = 4).
    cfg.DATALOADER.REID_NUM_INSTANCES = 4
    # Crops per batch when embedding a ReID test set (Luo et al.: 128).
    cfg.DATALOADER.REID_TEST_BATCH_SIZE = 128
    # KDMOT's person search (TEST.EVALUATOR "person_search", Sec. 4.3): a gallery detection
    # is correct at IoU >= IOU_THRESHOLD with the query person's gt box (paper: 0.5);
    # SIZE_AWARE_IOU (ours, the reference code of Xiao et al.) lowers it to
    # min(0.5, wh / ((w + 10)(h + 10))) for small people. Detections scoring below
    # DET_THRESH are not searched (ours, paper silent: the reference code's 0.5).
    cfg.TEST.PERSON_SEARCH = CN()
    cfg.TEST.PERSON_SEARCH.IOU_THRESHOLD = 0.5
    cfg.TEST.PERSON_SEARCH.SIZE_AWARE_IOU = False
    cfg.TEST.PERSON_SEARCH.DET_THRESH = 0.5


def _yaml_problem(error: yaml.YAMLError, path: str) -> str:
    """One sentence for a YAML error: the file (``path`` unless a ``_BASE_`` file is at
    fault), the line and the problem."""
    mark = getattr(error, "problem_mark", None)
    if mark is None:
        return f"{path}: invalid YAML: {error}"
    name = path if mark.name.startswith("<") else mark.name  # "<unicode string>" for text parsed here
    return f"{name}:{mark.line + 1}: invalid YAML: {getattr(error, 'problem', None) or error}"


def merge_config_file(cfg: CN, path: str) -> CN:
    """Merge the YAML config ``path`` (with its ``_BASE_`` files) into ``cfg``; returns ``cfg``.

    Only plain YAML is read: a Python tag is refused, never run (Detectron2's
    ``merge_from_file`` falls back to ``yaml.unsafe_load`` by default). A missing file
    raises ``FileNotFoundError``; one that is not a regular UTF-8 file, not YAML or not a
    mapping, or a key that is unknown or has a value of the wrong type, an
    :class:`InputError` naming the file.
    """
    try:
        content = yaml.safe_load(read_text(path, "config file"))
    except yaml.YAMLError as e:
        raise InputError(_yaml_problem(e, path)) from None
    if not isinstance(content, dict):
        got = "an empty file" if content is None else type(content).__name__
        raise InputError(f"{path}: expected a YAML mapping of config keys, got {got}")
    try:
        cfg.merge_from_file(path, allow_unsafe=False)
    except yaml.YAMLError as e:  # in a _BASE_ file
        raise InputError(_yaml_problem(e, path)) from None
    except (AssertionError, KeyError, ValueError) as e:  # yacs: unknown keys, values of another type
        raise InputError(f"{path}: {e.args[0] if e.args else e}") from None
    return cfg


def fall_back_to_cpu(cfg: CN) -> CN:
    """Run on CPU when the config asks for CUDA on a machine without a GPU (warns)."""
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logging.getLogger(__name__).warning("MODEL.DEVICE=%s but no GPU is available: using cpu", cfg.MODEL.DEVICE)
        cfg.MODEL.DEVICE = "cpu"
    return cfg


def _add_dmtrack_config(cfg: CN) -> None:
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
    # DATASETS.TRAIN). REID_ENABLED False trains detection only.
    dm.REID_ENABLED = True
    dm.REID_FEATURE = "p2"
    dm.EMBED_DIM = 128
    dm.HEAD_CONV = 256
    dm.NUM_IDENTITIES = 0
    # Detection / re-id balance by learnable task uncertainty (JDE; ours: FairMOT's initial values).
    dm.DET_LOG_VAR = -1.85
    dm.ID_LOG_VAR = -1.05
    # Inference: the k highest-scoring locations are the frame's candidates (k: ours); those
    # below the threshold are dropped (FCOS's 0.05). The score: "classification" (Sec. 3.5)
    # or "centerness_weighted", sqrt(classification x centre-ness) as FCOS ranks (ours).
    dm.TOPK_TEST = 10
    dm.SCORE_THRESH_TEST = 0.05
    dm.CANDIDATE_SCORE = "classification"
