"""DMTrack's recipe (Zhang et al., CVPR 2021): the stage config's constants against the
paper, its initial weights, and a dry run on fixtures of every training set's format."""
import os

import pytest

from mot_heads.cli.train import check_weights
from tests.data.coco_fixtures import write_coco
from tests.data.jde_fixtures import write_jde_dataset
from tests.data.test_sot_data import write_sot_sequence
from tests.recipes.dry_run import run_stage
from tests.recipes.fixture_datasets import PEOPLE, write_jde_lists
from tests.recipes.recipe_card import assert_card, load_stage

RECIPE = "configs/DMTrack/dmtrack_DLA34.yaml"
IMAGENET_DLA34_FPN = "weights/imagenet/dla34_fpn_d2.pth"

CARD = [
    ("MODEL.BACKBONE.NAME", "build_dla_fpn_backbone",
     'Sec. 4.1: "We use light version of FCOS [30] with DLA-34 [39] backbone"'),
    ("MODEL.DMTRACK.IN_FEATURES", ("p3", "p4", "p5"), "Sec. 3.2: FCOS on P3-P5"),
    ("MODEL.DMTRACK.NUM_CONVS", 4, 'Sec. 4.1: "256 for four stack convolutions"'),
    ("MODEL.FPN.OUT_CHANNELS", 256, 'Sec. 4.1: "The feature channels are 256 for four stack convolutions"'),
    ("MODEL.DMTRACK.REDUCED_CHANNELS", 32, 'Sec. 4.1: "and 32 for the encoder behind these"'),
    ("MODEL.DMTRACK.POOLER_RESOLUTION", 7, 'Sec. 4.1: "we use RoIAlign [10] with output feature size of 7"'),
    ("MODEL.DMTRACK.INTEGRATION", "1+6", 'Table 1: the "1+6" layers of the final model'),
    ("MODEL.DMTRACK.EMBED_DIM", 128, 'Sec. 4.1: "a convolution layer on top of the backbone features with 128 '
     'channels"'),
    ("MODEL.DMTRACK.CENTER_RADIUS", 1.5, "Eq. 1: the centre region of radius 1.5 strides"),
    ("MODEL.DMTRACK.REID_DATASETS", ("jde_caltech_all", "jde_mot16_train", "jde_cuhksysu_train", "jde_prw_train"),
     'Sec. 3: "we introduce MOT datasets [7, 25, 36, 44] to train our re-id branch alternatively"'),
    ("DATALOADER.SAMPLER_TRAIN", "AlternatingSampler", 'Sec. 3: "to train our re-id branch alternatively"'),
    ("INPUT.TRAIN_MAPPER", "DetectionPairMapper",
     'Sec. 3: "there are no multiple objects annotations in single object tracking dataset"'),
    ("DATASETS.TRAIN", ("coco_2017_train", "got10k_train", "lasot_train"),
     'Sec. 4.1: "We use the same training data as in [12, 40]" (GlobalTrack: COCO, GOT-10k, LaSOT)'),
    ("DATASETS.TEST", ("lasot_test",), 'Sec. 4.2: "we conduct ablation analysis ... using the LaSOT [8] benchmark"'),
    ("INPUT.MIN_SIZE_TRAIN", tuple(range(256, 608 + 1, 32)),
     'Sec. 4.1: "sampling shorter size of input image from 256 to 608 with interval 32"'),
    ("INPUT.MIN_SIZE_TRAIN_SAMPLING", "choice", 'Sec. 4.1: "sampling shorter size"'),
    ("INPUT.MIN_SIZE_TEST", 512, 'Sec. 4.2: "The image size for inference is set to 735 x 512 for all testing"'),
    ("INPUT.MAX_SIZE_TEST", 735, 'Sec. 4.2: "The image size for inference is set to 735 x 512 for all testing"'),
    ("SOLVER.OPTIMIZER", "SGD", 'Sec. 4.1: "trained with stochastic gradient descent (SGD)"'),
    ("SOLVER.BASE_LR", 1e-3, 'Sec. 4.1: "a starting learning rate of 1 x 10^-3"'),
    ("SOLVER.MAX_ITER", 360_000, 'Sec. 4.1: "We use 360K training iterations"'),
    ("SOLVER.STEPS", (300_000, 340_000), 'Sec. 4.1: "decreased by 10 at iteration 300K and 340K respectively"'),
    ("SOLVER.GAMMA", 0.1, 'Sec. 4.1: "decreased by 10"'),
    ("SOLVER.EPOCHS", 0.0, 'Sec. 4.1: "360K training iterations" (an iteration schedule)'),
    ("TRACKER.NAME", "longterm", 'Sec. 3.5: "Online Box Linking" of all candidates into tracklets'),
    ("TRACKER.PARAMS", ("selection=reid",), 'Table 1: "Re-id" selection of the final model'),
    ("MODEL.WEIGHTS", IMAGENET_DLA34_FPN,
     "Sec. 4.1: DLA-34 [39] backbone of FCOS (ImageNet weights; the file is ours)"),
]


def test_recipe_constants_are_the_papers():
    assert_card(RECIPE, CARD)


def test_recipe_without_its_initial_weights_names_the_file():
    cfg = load_stage(RECIPE)
    cfg.MODEL.DMTRACK.NUM_IDENTITIES = 10  # the MOT sets are not on disk here
    with pytest.raises(FileNotFoundError, match=f"^{IMAGENET_DLA34_FPN}: no such weights file"):
        check_weights(cfg, resume=False, require_all=False)


def write_dmtrack_datasets(root: str) -> None:
    """Every training set of the recipe in its real layout: COCO's json, GOT-10k's and
    LaSOT's sequence folders, and FairMOT's Caltech, MOT16, CUHK-SYSU and PRW lists."""
    write_coco(root)
    got10k = os.path.join(root, "GOT-10k", "train")
    write_sot_sequence(os.path.join(got10k, "GOT-10k_Train_000001"), "2,2,10,8\n3,3,10,8\n4,4,10,8\n")
    with open(os.path.join(got10k, "list.txt"), "w") as f:
        f.write("GOT-10k_Train_000001\n")
    lasot = os.path.join(root, "LaSOT")
    for name in ("cat-1", "cat-2"):
        write_sot_sequence(os.path.join(lasot, "cat", name), "1,2,9,7\n2,2,9,7\n0,0,0,0\n", frame_dir="img",
                           flags={"full_occlusion.txt": "0,0,1", "out_of_view.txt": "0,0,0"})
    for split, name in (("training", "cat-1"), ("testing", "cat-2")):
        with open(os.path.join(lasot, f"{split}_set.txt"), "w") as f:
            f.write(f"{name}\n")
    write_jde_lists(root, ["jde_caltech_all", "jde_cuhksysu_train", "jde_prw_train"])
    width, height = 64, 48
    boxes = [(0, pid, (x + w / 2) / width, (y + h / 2) / height, w / width, h / height)
             for pid, (x, y, w, h) in enumerate(PEOPLE, 1)]
    write_jde_dataset(root, "mot16", "train", {f"MOT16/images/train/MOT16-02/img1/{t:06d}.jpg": boxes
                                               for t in (1, 2, 3)})
    with open(os.path.join(root, "JDE", "MOT16", "images", "train", "MOT16-02", "seqinfo.ini"), "w") as f:
        f.write("[Sequence]\nname=MOT16-02\nimDir=img1\nframeRate=30\nseqLength=3\nimWidth=64\nimHeight=48\n"
                "imExt=.jpg\n")


@pytest.mark.slow
def test_dry_run_alternating_detection_and_reid_batches(tmp_path):
    root = str(tmp_path / "datasets")
    write_dmtrack_datasets(root)
    tiny = ("INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "96", "DATASETS.TEST", "()")
    run_stage(RECIPE, tmp_path / "output", root, *tiny, weights="")
