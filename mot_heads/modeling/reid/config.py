"""Config keys of the ReID baseline (``ReIDBaseline``), KDMOT's teacher."""
from detectron2.config import CfgNode as CN


def add_reid_config(cfg: CN) -> None:
    """The bag-of-tricks ReID baseline (Luo et al., CVPRW 2019): the model, its crops and its batches."""
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
