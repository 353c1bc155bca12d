"""The FairMOT base recipe (configs/OneShot/) as the CSTrack, OUTrack and KDMOT papers
describe their FairMOT baseline: each stage config's constants against their words, the
chain of stages through their weights, and a dry run of every stage."""
import pytest

from tests.recipes.dry_run import TINY_ONE_SHOT, run_stage
from tests.recipes.fixture_datasets import write_jde_lists, write_mot_train
from tests.recipes.recipe_card import (  # noqa: F401 (shared tests, parametrized by the tables below)
    test_each_stage_starts_from_the_previous_stage, test_first_stage_without_its_initial_weights_names_the_file,
    test_stage_constants_are_the_papers)

CROWDHUMAN = "configs/OneShot/fairmot_DLA34_crowdhuman.yaml"
MOT17_HALF = "configs/OneShot/fairmot_DLA34.yaml"
MIX = "configs/OneShot/fairmot_DLA34_mix.yaml"
IMAGENET_DLA34 = "weights/imagenet/dla34_d2.pth"
JDE_MIX = ("jde_eth_train", "jde_citypersons_train", "jde_caltech_all", "jde_mot17_train", "jde_cuhksysu_train",
           "jde_prw_train")

# Every stage: (key, value, the paper's words).
FAIRMOT = [
    ("MODEL.BACKBONE.NAME", "build_dla_up_backbone",
     'KDMOT Sec. 3.1: "We employ the architecture of ResNet34 based feature extractor named DLA34 as backbone"'),
    ("MODEL.DLA.UP_DEFORMABLE", True,
     'KDMOT Sec. 3.1: "the original convolution is replaced by 3x3 deformable convolution at every up-sampling layer"'),
    ("MODEL.ONE_SHOT.HEAD_CONV", 256,
     'KDMOT Sec. 3.1: "a 3x3, 256 channels convolution layer, followed by a 1x1 convolution are added before each '
     'output head"'),
    ("MODEL.ONE_SHOT.ID_LOSS.NAME", "CrossEntropyIDLoss",
     'OUTrack Sec. 4.3.1: "FairMOT treats each identity as a class and the Re-ID module is trained in a supervised '
     'classification manner"'),
    ("MODEL.ONE_SHOT.UNCERTAINTY_WEIGHTING", True,
     'KDMOT Sec. 3.4 (after FairMOT [59]): "the uncertainty loss balance strategy proposed in [20]"'),
    ("INPUT.TRAIN_MAPPER", "IdentityMapper", 'OUTrack Sec. 4.3.1: "supervised by identity information"'),
    ("INPUT.MAX_SIZE_TRAIN", 1088, 'KDMOT Sec. 4.1: "all training samples are all re-scaled to size 1088x608"'),
    ("INPUT.MIN_SIZE_TEST", 608, 'KDMOT Sec. 4.1: "1088x608"'),
    ("INPUT.MAX_SIZE_TEST", 1088, 'KDMOT Sec. 4.1: "1088x608"'),
    ("SOLVER.OPTIMIZER", "ADAM", 'OUTrack Sec. 4.1: "By default, the Adam optimizer [22] with the initial learning '
     'rate 1e-4 is used"'),
    ("SOLVER.BASE_LR", 1e-4, 'OUTrack Sec. 4.1: "the initial learning rate 1e-4"'),
    ("SOLVER.GAMMA", 0.1, 'KDMOT Sec. 4.1: "The learning rate drops ... by a factor of 10"'),
    ("TRACKER.NAME", "jde", 'CSTrack Fig. 5: "a cascade matching design following JDE [8]"'),
    ("TRACKER.PARAMS", ("max_output_aspect_ratio=1.6", "min_output_area=100"),
     "the released track.py: vertical = tlwh[2] / tlwh[3] > 1.6; tlwh[2] * tlwh[3] > opt.min_box_area (100)"),
]
FINE_TUNING = [
    ("SOLVER.EPOCHS", 30.0, 'OUTrack Sec. 4.1: "The models in FairMOT and CenterTrack are trained for 30 and 70 '
     'epochs"; KDMOT Table 4 "CH+MOT17": "finetunes on MOT17 for 30 epoches"'),
    ("SOLVER.STEP_EPOCHS", (20.0,), 'KDMOT Sec. 4.1: "The learning rate drops at the 20th epoch by a factor of 10"'),
]
CARDS = {
    CROWDHUMAN: FAIRMOT + [
        ("DATASETS.TRAIN", ("jde_crowdhuman_train",), 'OUTrack Sec. 4.3.3: "the original FairMOT [53] also pre-trains '
         'their model on CrowdHuman ... a unique identity is assigned to each annotated box"'),
        ("SOLVER.EPOCHS", 60.0, 'KDMOT Sec. 4.2.2, Table 4: "CH trains model for 60 epoches only on CrowdHuman"'),
        ("DATASETS.TEST", ("mot17_val_half",), 'OUTrack Table 9: "directly applying the pre-trained trackers on '
         'CrowdHuman without fine-tuning" (MOT17 validation set)'),
    ],
    MOT17_HALF: FAIRMOT + FINE_TUNING + [
        ("DATASETS.TRAIN", ("mot17_train_half",), 'KDMOT Sec. 4.2.1: "first half of frames ... for network training"'),
        ("DATASETS.TEST", ("mot17_val_half",), 'KDMOT Sec. 4.2.1: "second half of frames as validation set"'),
        ("TEST.EVALUATOR", "mot", 'OUTrack Sec. 4.2: "We adopt the standard metrics of MOTChallenge for evaluation"'),
    ],
    MIX: FAIRMOT + FINE_TUNING + [
        ("DATASETS.TRAIN", JDE_MIX, 'CSTrack Sec. IV-A: "the same training datasets as the baseline tracker JDE [8], '
         'consisting of ETH [30], CityPerson [31], CalTech [32], MOT17 [33], CUDK-SYSU [34] and PRW [35]"'),
        ("DATASETS.TEST", (), "OUTrack Table 11: MOT16 / MOT17 test, scored by the MOTChallenge server"),
    ],
}
# The first stage starts from ImageNet DLA-34, the others from CrowdHuman (OUTrack Table
# 10: "fine-tuning the CrowdHuman pre-trained models ... on the MOT17 dataset").
CHAIN = {CROWDHUMAN: IMAGENET_DLA34, MOT17_HALF: CROWDHUMAN, MIX: CROWDHUMAN}
INITIAL_WEIGHTS = {CROWDHUMAN: IMAGENET_DLA34}


@pytest.mark.slow
def test_dry_run_crowdhuman_then_mot17_half_and_the_mix(tmp_path):
    """Every stage two epochs of its fixture data at 64 pixels, no evaluation."""
    root = str(tmp_path)
    write_jde_lists(root, ("jde_crowdhuman_train",) + JDE_MIX)
    write_mot_train(root, "MOT17", ["MOT17-02-FRCNN", "MOT17-04-FRCNN"])
    out = tmp_path / "output"
    crowdhuman = run_stage(CROWDHUMAN, out / "crowdhuman", root, *TINY_ONE_SHOT, weights="")
    run_stage(MOT17_HALF, out / "mot17_half", root, *TINY_ONE_SHOT, weights=crowdhuman)
    run_stage(MIX, out / "mix", root, *TINY_ONE_SHOT, weights=crowdhuman)
