"""OUTrack's recipe (Liu et al., Neurocomputing 2022), FairMOT-based (OUTrack_fm): each
stage config's constants against the paper, the chain of stages through their weights,
and a dry run of every stage."""
import pytest

from tests.recipes.dry_run import TINY_ONE_SHOT, run_stage
from tests.recipes.fixture_datasets import write_crowdhuman, write_mot_train
from tests.recipes.recipe_card import (  # noqa: F401 (shared tests, parametrized by the tables below)
    test_each_stage_starts_from_the_previous_stage, test_first_stage_without_its_initial_weights_names_the_file,
    test_stage_constants_are_the_papers)

CROWDHUMAN = "configs/OUTrack/outrack_DLA34_crowdhuman.yaml"
MOT17_HALF = "configs/OUTrack/outrack_DLA34.yaml"
MOT17 = "configs/OUTrack/outrack_DLA34_mot17.yaml"
MOT20 = "configs/OUTrack/outrack_DLA34_mot20.yaml"
IMAGENET_DLA34 = "weights/imagenet/dla34_d2.pth"

# Every stage: (key, value, the paper's words).
MODEL_AND_SCHEDULE = [
    ("MODEL.ONE_SHOT.EMBED_DIM", 256, 'Sec. 4.1: "The dimension D of Re-ID feature is set to 256"'),
    ("MODEL.ONE_SHOT.ID_LOSS.NAME", "UnsupervisedIDLoss",
     'Sec. 4.1: "we directly substitute the original Re-ID loss in FairMOT with the loss L_id in Eq. (8)"'),
    ("MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED.NEGATIVE_RATIO", 0.25,
     'Sec. 3.1.2: "In our default setting, N^neg / N^pos is set to 0.25"'),
    ("MODEL.ONE_SHOT.OCCLUSION.ENABLED", True, 'Sec. 4.1: "The occlusion loss L_occ is added to the detection loss"'),
    ("MODEL.ONE_SHOT.OCCLUSION.LOSS_WEIGHT", 0.5, 'Sec. 4.1: "... of FairMOT and CenterTrack with the weight of 0.5"'),
    ("MODEL.ONE_SHOT.OCCLUSION.HEAD_CONV", 256, 'Sec. 4.1: "one 3x3 convolutional layer whose output is a 256-channel '
     'feature map"'),
    ("MODEL.ONE_SHOT.OCCLUSION.OVERLAP_THRESHOLD", 0.7, 'Sec. 4.3.2: "we set it [tau] to 0.7 by default"'),
    ("INPUT.TRAIN_MAPPER", "VideoPairMapper", 'Sec. 4.1: "the adjacent frames are randomly sampled from consecutive 20 '
     'frames"; Sec. 4.3.3: "two augmentations of an image are treated as a positive sample pair"'),
    ("INPUT.PAIR.MAX_FRAMES", 19, 'Sec. 4.1: "randomly sampled from consecutive 20 frames" (at most 19 apart)'),
    ("SOLVER.OPTIMIZER", "ADAM", 'Sec. 4.1: "By default, the Adam optimizer [22] with the initial learning rate 1e-4"'),
    ("SOLVER.BASE_LR", 1e-4, 'Sec. 4.1: "the initial learning rate 1e-4 is used"'),
    ("SOLVER.EPOCHS", 30.0, 'Sec. 4.1: "The models in FairMOT and CenterTrack are trained for 30 and 70 epochs"'),
    ("INPUT.MIN_SIZE_TEST", 608, 'Sec. 4.1: FairMOT\'s "while keeping other unchanged" (1088x608)'),
    ("INPUT.MAX_SIZE_TEST", 1088, 'Sec. 4.1: FairMOT\'s "while keeping other unchanged" (1088x608)'),
    ("TRACKER.NAME", "outrack", 'Sec. 3.2.2: "the lost object refinding mechanism" (Algorithm 1)'),
    ("TRACKER.PARAMS", ("det_threshold=0.5", "max_output_aspect_ratio=1.6", "min_output_area=100"),
     'Sec. 4.4: "A higher detection confidence (0.5) is used in OTrack_fm"; Sec. 4.1: FairMOT\'s output filter '
     '"while keeping other unchanged"'),
]
CARDS = {
    CROWDHUMAN: MODEL_AND_SCHEDULE + [
        ("DATASETS.TRAIN", ("crowdhuman_train",), 'Sec. 4.2: "External dataset CrowdHuman [36] is adopted for '
         'pre-training"'),
        ("DATASETS.TEST", ("mot17_val_half",), 'Table 9: "directly applying the pre-trained trackers on CrowdHuman '
         'without fine-tuning", MOT17 validation set'),
    ],
    MOT17_HALF: MODEL_AND_SCHEDULE + [
        ("DATASETS.TRAIN", ("mot17_train_half",), 'Sec. 4.3: "split each video in the training set into two half '
         'videos, the first part is for training"'),
        ("DATASETS.TEST", ("mot17_val_half",), 'Sec. 4.3: "the second part is for validation"'),
        ("TEST.EVALUATOR", "mot", 'Sec. 4.2: "We adopt the standard metrics of MOTChallenge for evaluation"'),
    ],
    MOT17: MODEL_AND_SCHEDULE + [
        ("DATASETS.TRAIN", ("mot17_train",), 'Sec. 4.4: "For private detection, we follow CenterTrack and FairMOT to '
         'pre-train our tracker with the CrowdHuman dataset"'),
        ("DATASETS.TEST", (), "Table 11: MOT16 / MOT17 test, scored by the MOTChallenge server"),
    ],
    MOT20: MODEL_AND_SCHEDULE + [
        ("DATASETS.TRAIN", ("mot20_train",), 'Sec. 4.4: "we fine-tune the model on MOT20 after pre-training on '
         'CrowdHuman"'),
        ("DATASETS.TEST", (), "Table 11: MOT20 test, scored by the MOTChallenge server"),
    ],
}
# Each stage starts from the one before it (Table 10: "fine-tuning the CrowdHuman
# pre-trained trackers on the MOT17 dataset"); the first from ImageNet DLA-34 (FairMOT's).
CHAIN = {CROWDHUMAN: IMAGENET_DLA34, MOT17_HALF: CROWDHUMAN, MOT17: CROWDHUMAN, MOT20: CROWDHUMAN}
INITIAL_WEIGHTS = {CROWDHUMAN: IMAGENET_DLA34}


@pytest.mark.slow
def test_dry_run_crowdhuman_then_mot17_and_mot20(tmp_path):
    root = str(tmp_path)
    write_crowdhuman(root)
    write_mot_train(root, "MOT17", ["MOT17-02-FRCNN", "MOT17-04-FRCNN"])
    write_mot_train(root, "MOT20", ["MOT20-01"])
    out = tmp_path / "output"
    crowdhuman = run_stage(CROWDHUMAN, out / "crowdhuman", root, *TINY_ONE_SHOT, weights="")
    for config, folder in ((MOT17_HALF, "mot17_half"), (MOT17, "mot17"), (MOT20, "mot20")):
        run_stage(config, out / folder, root, *TINY_ONE_SHOT, weights=crowdhuman)
