"""DMTrack's alternating training data: detection batches of SOT and COCO pairs (no
identities), re-id batches of the MOT sets (their identities only), in turn."""
import itertools
import os

import numpy as np
import pytest
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from detectron2.data.datasets import register_coco_instances

from mot_heads import add_mot_config
from mot_heads.data import IdentityIndex, register_jde_list, register_mot_folder, register_sot_folder
from mot_heads.data.alternating import AlternatingLoader, build_alternating_train_loader
from mot_heads.data.build import build_mot_train_loader
from mot_heads.data.pair_sampling import DetectionPairMapper, IdentityPairMapper
from mot_heads.errors import InputError
from tests.data.coco_fixtures import COCO_BOXES, write_coco
from tests.data.test_sot_data import write_sot_sequence
from tests.recipes.fixture_datasets import write_jde_lists, write_mot_train


def test_loaders_take_turns_as_configured():
    loader = AlternatingLoader([itertools.repeat("detection"), itertools.repeat("reid")], (2, 1))
    assert list(itertools.islice(loader, 7)) == ["detection", "detection", "reid"] * 2 + ["detection"]
    with pytest.raises(InputError, match="ALTERNATION"):
        AlternatingLoader([[], []], (1, 0))


@pytest.fixture(scope="module")
def alternating_datasets(tmp_path_factory):
    """Registered fixtures: a generic SOT sequence and a COCO json (detection), MOT16 and
    a JDE PRW list (re-id); returns (detection names, re-id names, the roots of the MOT data)."""
    root = tmp_path_factory.mktemp("alternating")
    write_sot_sequence(root / "sot" / "cat-1", "2,2,8,6\n4,4,8,6\n3,3,8,6\n", size=(32, 24))
    register_sot_folder("alt_sot", str(root / "sot"), "generic")
    json_file = write_coco(root)
    register_coco_instances("alt_coco", {}, json_file, str(root / "coco" / "train2017"))
    write_mot_train(str(root), "MOT16", ["MOT16-02"])
    register_mot_folder("alt_mot16", str(root / "MOT16" / "train"))
    write_jde_lists(str(root), ["jde_prw_train"])
    register_jde_list("alt_jde_prw", str(root / "JDE" / "prw.train"), str(root / "JDE"))
    return ("alt_sot", "alt_coco"), ("alt_mot16", "alt_jde_prw"), (str(root / "MOT16"), str(root / "JDE"))


def alternating_cfg(detection, reid, *opts):
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file("configs/DMTrack/dmtrack_DLA34.yaml")
    cfg.merge_from_list(["DATASETS.TRAIN", detection, "MODEL.DMTRACK.REID_DATASETS", reid,
                         "DATALOADER.NUM_WORKERS", 0, "SOLVER.IMS_PER_BATCH", 2, "INPUT.MIN_SIZE_TRAIN", (32,),
                         "INPUT.MAX_SIZE_TRAIN", 64, *opts])
    return cfg


def test_batches_alternate_detection_without_identities_and_reid_with_the_mot_identities(alternating_datasets):
    detection, reid, mot_roots = alternating_datasets
    cfg = alternating_cfg(detection, reid, "MODEL.DMTRACK.ALTERNATION", (1, 2))
    loader = build_mot_train_loader(cfg)
    assert isinstance(loader, AlternatingLoader)
    mot_identities = IdentityIndex(reid).num_identities
    assert mot_identities == 2 + 2  # two people in MOT16-02, ids 1 and 2 of the PRW list
    for step, batch in enumerate(itertools.islice(loader, 6)):
        frames = [frame for x in batch for frame in (x, x["pair"])]
        identities = np.concatenate([f["instances"].gt_identities.numpy() for f in frames])
        if step % 3 == 0:  # a detection batch: SOT or COCO, no identity
            assert not any(f["file_name"].startswith(mot_roots) for f in frames)
            assert (identities == -1).all()
        else:  # a re-id batch: MOT frames, every person an identity of the MOT sets
            assert all(f["file_name"].startswith(mot_roots) for f in frames)
            assert len(identities) and ((identities >= 0) & (identities < mot_identities)).all()


def test_jde_image_pairs_keep_their_identities(alternating_datasets):
    """Image pairs renumber track ids to match boxes across the zoom; the identities stay
    those of the JDE list's (scope, id)."""
    _, reid, _ = alternating_datasets
    cfg = alternating_cfg(reid[1:], reid[1:], "INPUT.RANDOM_FLIP", "none")
    mapper, index = IdentityPairMapper(cfg, is_train=True), IdentityIndex(reid[1:])
    record = DatasetCatalog.get("alt_jde_prw")[0]
    out = mapper(record)
    expected = sorted(index(record["identity_scope"], a["track_id"]) for a in record["annotations"])
    assert sorted(out["instances"].gt_identities.tolist()) == expected
    assert set(out["pair"]["instances"].gt_identities.tolist()) <= set(expected)


def test_coco_images_pair_with_their_own_crop_zoom(alternating_datasets):
    """GlobalTrack's COCO use: one image gives the template and search images; every
    non-crowd object is a query of its own (track ids: the boxes' indices), no identity."""
    cfg = alternating_cfg(("alt_coco",), ("alt_mot16",), "INPUT.RANDOM_FLIP", "none",
                          "INPUT.PAIR.CROP_SCALE", (1.0, 1.0), "INPUT.MIN_SIZE_TRAIN", (48,))
    record = DatasetCatalog.get("alt_coco")[0]
    np.random.seed(0)
    out = DetectionPairMapper(cfg, is_train=True)(record)
    boxes = [[x, y, x + w, y + h] for x, y, w, h in COCO_BOXES[:-1]]  # the crowd region is no target
    for frame in (out, out["pair"]):
        assert frame["instances"].gt_boxes.tensor.tolist() == boxes
        assert frame["instances"].gt_track_ids.tolist() == [0, 1]
        assert frame["instances"].gt_identities.tolist() == [-1, -1]
        assert not frame["instances"].has("gt_masks")
    assert os.path.basename(out["pair"]["file_name"]) == os.path.basename(record["file_name"])


def test_alternation_needs_reid_datasets(alternating_datasets):
    detection, _, _ = alternating_datasets
    with pytest.raises(InputError, match="MODEL.DMTRACK.REID_DATASETS"):
        build_alternating_train_loader(alternating_cfg(detection, ()))
