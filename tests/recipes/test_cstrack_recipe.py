"""CSTrack's recipe (Liang et al., IEEE TIP 2022): each stage config's constants against
the paper, the initial weights of its stages, and a dry run of every stage."""
import pytest

from tests.recipes.dry_run import TINY_ONE_SHOT, run_stage
from tests.recipes.fixture_datasets import write_jde_lists, write_mot_train
from tests.recipes.recipe_card import (  # noqa: F401 (shared tests, parametrized by the tables below)
    test_first_stage_without_its_initial_weights_names_the_file, test_stage_constants_are_the_papers)

MOT17_HALF = "configs/CSTrack/cstrack_DLA34.yaml"
MIX = "configs/CSTrack/cstrack_DLA34_mix.yaml"
IMAGENET_DLA34 = "weights/imagenet/dla34_d2.pth"
SEVEN_DATASETS = ("jde_crowdhuman_train", "jde_eth_train", "jde_citypersons_train", "jde_caltech_all",
                  "jde_mot17_train", "jde_cuhksysu_train", "jde_prw_train")

# Every stage: (key, value, the paper's words).
CSTRACK = [
    ("MODEL.ONE_SHOT.REN.ENABLED", True, 'Sec. III-B: "reciprocal network (REN)"'),
    ("MODEL.ONE_SHOT.REN.POOLED_SIZE", (6, 10), 'Sec. IV-A: "the feature size after avg-pooling layer as '
     '(H\', W\') = (6, 10)"'),
    ("MODEL.ONE_SHOT.REN.LAMBDA_INIT", 0.5, 'Sec. IV-A: "initialize the trainable parameters lambda_1/2 = 0.5"'),
    ("MODEL.ONE_SHOT.SAAN.ENABLED", True, 'Sec. III-C: "scale-aware attention network (SAAN)"'),
    ("MODEL.ONE_SHOT.EMBED_DIM", 512, 'Sec. III-C: "a 3x3 convolution layer to map features to 512 channels"'),
    ("MODEL.ONE_SHOT.UNCERTAINTY_WEIGHTING", False, 'Eq. 10: "a handcrafted weight eta" (Sec. IV-B)'),
    ("MODEL.ONE_SHOT.ID_WEIGHT", 0.02, 'Sec. IV-B: "We set eta to 0.02"'),
    ("SOLVER.OPTIMIZER", "SGD", 'Sec. IV-A: "We train our network with the SGD optimizer for 30 epochs"'),
    ("SOLVER.EPOCHS", 30.0, 'Sec. IV-A: "for 30 epochs"'),
    ("SOLVER.IMS_PER_BATCH", 8, 'Sec. IV-A: "The batch size is set to 8"'),
    ("SOLVER.BASE_LR", 5e-4, 'Sec. IV-A: "The initial learning rate is 5 x 10^-4"'),
    ("SOLVER.STEP_EPOCHS", (20.0,), 'Sec. IV-A: "we decay the learning rate to 5 x 10^-5 at the 20th epoch"'),
    ("SOLVER.GAMMA", 0.1, 'Sec. IV-A: "5 x 10^-4 ... to 5 x 10^-5"'),
    ("TRACKER.NAME", "jde", 'Fig. 5: "a cascade matching design following JDE [8]"'),
    ("TRACKER.PARAMS", ("det_threshold=0.5", "max_output_aspect_ratio=1.6", "min_output_area=100"),
     "not in the paper: the released tracker's --conf_thres 0.5 and its track.py's box filter "
     "(tlwh[2] / tlwh[3] > 1.6, area > min_box_area 100)"),
    ("MODEL.WEIGHTS", IMAGENET_DLA34, 'Sec. IV-A: "The Backbone and Neck networks are initialized with the '
     'parameters pre-trained on COCO" (differs: ImageNet DLA-34)'),
]
CARDS = {
    MOT17_HALF: CSTRACK + [
        ("DATASETS.TRAIN", ("mot17_train_half",), 'Sec. IV-B: "We train all the models on half of the training set"'),
        ("DATASETS.TEST", ("mot17_val_half",), 'Sec. IV-B: "and validate on another half"; Table II: "MOT17 '
         'validation set"'),
        ("TEST.EVALUATOR", "mot", 'Sec. IV-A: "we adopt the CLEAR metric [39] ... ID F1 Score (IDF1) [40]"'),
    ],
    MIX: CSTRACK + [
        ("DATASETS.TRAIN", SEVEN_DATASETS, 'Sec. IV-A: "ETH [30], CityPerson [31], CalTech [32], MOT17 [33], '
         'CUDK-SYSU [34] and PRW [35] ... we introduce CrowdHuman [36] into training"; Table IV "B": "the seven '
         'datasets"'),
        ("DATASETS.TEST", (), 'Sec. IV-A: "We evaluate our network on MOT16 [33], MOT17 [33]" (the test sets, '
         "scored by the MOTChallenge server)"),
    ],
}


INITIAL_WEIGHTS = {config: IMAGENET_DLA34 for config in CARDS}  # each stage starts from ImageNet DLA-34


@pytest.mark.slow
def test_dry_run_mot17_half_and_the_seven_datasets(tmp_path):
    """Every stage two epochs of its fixture data at 64 pixels, no evaluation."""
    root = str(tmp_path)
    write_jde_lists(root, SEVEN_DATASETS)
    write_mot_train(root, "MOT17", ["MOT17-02-FRCNN", "MOT17-04-FRCNN"])
    out = tmp_path / "output"
    run_stage(MOT17_HALF, out / "mot17_half", root, *TINY_ONE_SHOT, weights="")
    run_stage(MIX, out / "mix", root, *TINY_ONE_SHOT, weights="")
