"""SiamMOT's recipe (Shuai et al., CVPR 2021): each stage config's constants against the
paper, the chain of stages through their weights, and a dry run of every chain, its
last stage scored on MOT17 with the public detections of all three copies."""
import os

import pytest

from tests.recipes.dry_run import run_stage
from tests.recipes.fixture_datasets import PEOPLE, write_crowdhuman, write_mot_train
from tests.recipes.recipe_card import (  # noqa: F401 (shared tests, parametrized by the tables below)
    test_each_stage_starts_from_the_previous_stage, test_first_stage_without_its_initial_weights_names_the_file,
    test_stage_constants_are_the_papers)

EMM_CROWDHUMAN = "configs/SiamMOT/siammot_EMM_DLA34_FPN_crowdhuman.yaml"
EMM_MOT17 = "configs/SiamMOT/siammot_EMM_DLA34_FPN_mot17.yaml"
IMM_CROWDHUMAN = "configs/SiamMOT/siammot_IMM_DLA34_FPN_crowdhuman.yaml"
R50_CROWDHUMAN = "configs/SiamMOT/siammot_EMM_R50_FPN_crowdhuman.yaml"
R50_MOT17 = "configs/SiamMOT/siammot_EMM_R50_FPN_mot17.yaml"
IMAGENET_DLA34 = "weights/imagenet/dla34_fpn_d2.pth"
IMAGENET_R50 = "detectron2://ImageNetPretrained/MSRA/R-50.pkl"

# Every stage: (key, value, the paper's words).
TRAINING = [
    ("MODEL.META_ARCHITECTURE", "SiamMOT", 'Sec. 3: "a region-based Siamese Multi-Object Tracking network"'),
    ("MODEL.TRACK_HEAD.SEARCH_REGION_SCALE", 2.0, 'Sec. 4.2: "We set r = 2"'),
    ("MODEL.TRACK_HEAD.TEMPLATE_RESOLUTION", 15, 'Sec. 4.2: "f_R_i^t in R^{c x 15 x 15}"'),
    ("MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 256, 'Sec. 4.2: "We sample 256 image regions from the output of the RPN"'),
    ("MODEL.TRACK_HEAD.TRIPLETS_PER_IMAGE", 256, 'Sec. 4.2: "... to train them" (the tracker and the detector)'),
    ("MODEL.TRACK_HEAD.TRIPLETS", ("positive", "hard", "negative"), 'Sec. 5.2: "P + H + N achieves the best results"'),
    ("SOLVER.OPTIMIZER", "SGD", 'Sec. 4.2: "We use SGD with momentum as the optimizer"'),
    ("SOLVER.MAX_ITER", 25000, 'Sec. 4.2: "we train our model for 25K ... iterations, for CrowdHuman"'),
    ("INPUT.MIN_SIZE_TRAIN", (800,), 'Sec. 4.2: "its shorter side has 800 pixels"'),
    ("SOLVER.BASE_LR", 0.02, 'Sec. 4.2: "We start training with a learning rate of 0.02"'),
    ("SOLVER.STEPS", (15000, 20000), 'Sec. 4.2: "decrease it by factor 10 after 60% of the iterations, and again after '
     '80%"'),
    ("SOLVER.GAMMA", 0.1, 'Sec. 4.2: "decrease it by factor 10"'),
    ("SOLVER.WEIGHT_DECAY", 1e-4, 'Sec. 4.2: "We use a fixed weight decay of 10^-4"'),
    ("SOLVER.IMS_PER_BATCH", 16, 'Sec. 4.2: "a batch size of 16 image pairs"'),
    ("TRACKER.NAME", "siammot", 'Sec. 3.4: "we adopt a standard online solver"'),
    ("TRACKER.PARAMS", (), 'Sec. 4.2: "alpha = 0.4 and detection confidence beta = 0.6", "tau = 30" (the solver\'s '
     'defaults)'),
    ("TEST.EVALUATOR", "mot", 'Sec. 4.1: "MOTA ..., IDF1 ..., FP ..., FN ... and IDsw"'),
]
DLA34 = [
    ("MODEL.BACKBONE.NAME", "build_dla_fpn_backbone", 'Sec. 4.2: "a standard DLA-34 [69] with feature pyramid [37]"'),
    ("MODEL.DLA.DEPTH", 34, 'Sec. 4.2: "a standard DLA-34"'),
]
EMM = [
    ("MODEL.TRACK_HEAD.NAME", "EMM", 'Sec. 6: "We use EMM as the tracker of SiamMOT"'),
    ("MODEL.TRACK_HEAD.SEARCH_RESOLUTION", 30, 'Sec. 4.2: "f_S_i^{t+delta} in R^{c x 30 x 30}"'),
    ("MODEL.TRACK_HEAD.EMM.NUM_CONVS", 2, 'Sec. 4.2: "the model is a 2-layer fully convolutional network"'),
    ("MODEL.TRACK_HEAD.EMM.NORM", "GN", 'Sec. 4.2: "3 x 3 convolution kernels and group normalization"'),
]
IMM = [
    ("MODEL.TRACK_HEAD.NAME", "IMM", 'Table 1: "SiamMOT + IMM"'),
    ("MODEL.TRACK_HEAD.SEARCH_RESOLUTION", 15, 'Sec. 4.2: "In IMM, f_S^t and f_S^{t+delta} have the same shape '
     'R^{c x 15 x 15}"'),
    ("MODEL.TRACK_HEAD.IMM.HIDDEN_DIM", 512, 'Sec. 4.2: "a 2-layer MLP with 512 hidden neurons"'),
]
CROWDHUMAN = [
    ("INPUT.TRAIN_MAPPER", "ImagePairMapper", 'Sec. 4.2: "When video annotations are not available, we ... employ '
     'image training"'),
    ("DATASETS.TRAIN", ("crowdhuman_train", "crowdhuman_val"), 'Sec. 5: "we train models from the full-body annotation '
     'of CrowdHuman"'),
    ("DATASETS.TEST", ("mot17_train",), 'Sec. 5: "and evaluate it on MOT17-train"'),
    ("TRACKER.PUBLIC_DETECTIONS", False, "Table 1: the model's own detections"),
]
MOT17 = [
    ("INPUT.TRAIN_MAPPER", "VideoPairMapper", 'Sec. 6: "train on MOT17 using video training"'),
    ("INPUT.PAIR.MAX_SECONDS", 1.0, 'Sec. 4.2: "pairs of two random frames that are at most 1 second apart"'),
    ("DATASETS.TRAIN", ("mot17_train",), 'Sec. 6: "train on MOT17 using video training"'),
    ("DATASETS.TEST", (), 'Sec. 6: "We report results on the test set", "submitting SiamMOT predictions to the official '
     'evaluation server"'),
    ("TRACKER.PUBLIC_DETECTIONS", True, 'Sec. 6: "using publicly released detections, as done for the official MOT17 '
     'Challenge"'),
]
CARDS = {
    EMM_CROWDHUMAN: TRAINING + DLA34 + EMM + CROWDHUMAN,
    EMM_MOT17: TRAINING + DLA34 + EMM + MOT17,
    IMM_CROWDHUMAN: TRAINING + DLA34 + IMM + CROWDHUMAN,
    R50_CROWDHUMAN: TRAINING + EMM + CROWDHUMAN + [("MODEL.RESNETS.DEPTH", 50, "ours: a ResNet-50-FPN variant")],
    R50_MOT17: TRAINING + EMM + MOT17 + [("MODEL.RESNETS.DEPTH", 50, "ours: a ResNet-50-FPN variant")],
}
# Sec. 6: "pre-train using image training on CrowdHuman and train on MOT17"; the first
# stages from ImageNet weights.
CHAIN = {EMM_CROWDHUMAN: IMAGENET_DLA34, EMM_MOT17: EMM_CROWDHUMAN, IMM_CROWDHUMAN: IMAGENET_DLA34,
         R50_CROWDHUMAN: IMAGENET_R50, R50_MOT17: R50_CROWDHUMAN}
INITIAL_WEIGHTS = {EMM_CROWDHUMAN: IMAGENET_DLA34, IMM_CROWDHUMAN: IMAGENET_DLA34}


# The dry runs: 64-pixel inputs, 16 regions an image, a step after the first of two
# iterations, no evaluation but that of the last stage.
TINY = ("INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "96", "INPUT.MIN_SIZE_TEST", "64",
        "INPUT.MAX_SIZE_TEST", "96", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "16",
        "MODEL.TRACK_HEAD.TRIPLETS_PER_IMAGE", "16", "SOLVER.STEPS", "(1,)", "DATASETS.TEST", "()")
# The public-detection protocol on the fixtures: every copy of MOT17-02, scored.
PUBLIC_EVALUATION = ("DATASETS.TEST", "('mot17_train_public',)")
COPIES = ("DPM", "FRCNN", "SDP")


def _write_fixtures(root: str) -> None:
    """CrowdHuman (both splits) and the three copies of one MOT17 sequence, each with the
    two people of its gt as public detections (det/det.txt)."""
    for split in ("train", "val"):
        write_crowdhuman(root, split)
    for copy in COPIES:
        name = f"MOT17-02-{copy}"
        write_mot_train(root, "MOT17", [name])
        det = "".join(f"{frame},-1,{x + 2 * frame},{y},{w},{h},0.9\n" for frame in range(1, 5) for x, y, w, h in PEOPLE)
        os.makedirs(os.path.join(root, "MOT17", "train", name, "det"))
        with open(os.path.join(root, "MOT17", "train", name, "det", "det.txt"), "w") as f:
            f.write(det)


@pytest.mark.slow
@pytest.mark.parametrize("first, second", [(EMM_CROWDHUMAN, EMM_MOT17), (IMM_CROWDHUMAN, None),
                                           (R50_CROWDHUMAN, R50_MOT17)])
def test_dry_run_crowdhuman_then_mot17_with_public_detections(tmp_path, first, second):
    root = str(tmp_path)
    _write_fixtures(root)
    out = tmp_path / "output"
    crowdhuman = run_stage(first, out / "crowdhuman", root, *TINY, weights="")
    if second is None:
        return
    run_stage(second, out / "mot17", root, *TINY, *PUBLIC_EVALUATION, weights=crowdhuman)
    scored = out / "mot17" / "inference" / "mot17_train_public"
    assert sorted(os.listdir(scored)) == sorted(["mot_metrics.json", *(f"MOT17-02-{copy}.txt" for copy in COPIES)])
