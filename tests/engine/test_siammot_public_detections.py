"""SiamMOT with public detections (Table 4, the MOT17 public-detection protocol): the
given boxes take the RPN's place in the box head, so tracks are born only from them,
while tracked instances still come from the track head; from the driver, the evaluator
(TRACKER.PUBLIC_DETECTIONS) and ``mot track --public-detections``."""
import os

import numpy as np
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog

from mot_heads import add_mot_config
from mot_heads.cli.main import main
from mot_heads.data import register_mot_folder
from mot_heads.data.builtin import register_all
from mot_heads.engine import MOTTrainer
from mot_heads.engine.drivers import build_driver
from mot_heads.engine.online import OnlineTracking
from mot_heads.errors import InputError
from mot_heads.evaluation import read_mot_results
from tests.conftest import write_sequence

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIAMMOT = os.path.join(REPO, "configs", "quick_schedules", "siammot_EMM_R18_FPN_GN_synthetic.yaml")
DETECTOR = os.path.join(REPO, "configs", "quick_schedules", "cstrack_R18_FPN_GN_synthetic.yaml")
# The public detections of the 64x48 frames of ``write_sequence``: two people in frame 1
# (x1, y1, x2, y2, 0-based pixels), none later.
PUBLIC = np.array([[4.0, 10.0, 16.0, 36.0], [36.0, 12.0, 48.0, 38.0]])
DET_TXT = "".join(f"1,-1,{x1 + 1:g},{y1 + 1:g},{x2 - x1:g},{y2 - y1:g},0.3,-1,-1,-1\n" for x1, y1, x2, y2 in PUBLIC)


def _config(*opts):
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(SIAMMOT)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    return cfg


def _sure_detector(cfg):
    """An untrained SiamMOT whose box head calls every region a person (class 0) with
    certainty and keeps its box: the detector finds "people" wherever the RPN proposes,
    so a public box is a detection exactly when it is given."""
    torch.manual_seed(0)
    model = MOTTrainer.build_model(cfg).eval()
    predictor = model.roi_heads.box_predictor
    with torch.no_grad():
        for layer in (predictor.cls_score, predictor.bbox_pred):
            layer.weight.zero_()
            layer.bias.zero_()
        predictor.cls_score.bias[0] = 20.0
    return model


@pytest.fixture(scope="module")
def model():
    return _sure_detector(_config())


def _frame(index, public=None):
    frame = {"image": torch.zeros(3, 48, 64, dtype=torch.uint8), "height": 48, "width": 64, "video_id": "seq",
             "frame_idx": index, "frame_rate": 10.0, "file_name": f"seq/img1/{index:06d}.jpg"}
    if public is not None:
        frame["public_detections"] = np.asarray(public, dtype=np.float32).reshape(-1, 5)
    return frame


def _with_scores(boxes, score=0.3):
    return np.concatenate([boxes, np.full((len(boxes), 1), score)], axis=1)


def _sorted_rows(boxes):
    return sorted(np.round(np.asarray(boxes, dtype=np.float64), 3).tolist())


def _iou(a, b):
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def test_public_detections_are_the_only_births(model):
    private = build_driver(model, "siammot", 10.0, {}).step(_frame(1)).tracks
    assert (_iou(private.boxes, PUBLIC).max(axis=1) < 0.5).any(), "the detector alone finds other objects"

    driver = build_driver(model, "siammot", 10.0, {}, public_detections=True)
    born = driver.step(_frame(1, _with_scores(PUBLIC))).tracks
    # Each public box is rescored by the box head (score 0.3 in det.txt, above beta after).
    assert _sorted_rows(born.boxes) == _sorted_rows(PUBLIC) and born.track_ids.tolist() == [1, 2]


def test_tracks_continue_by_the_track_head_without_public_detections(model, monkeypatch):
    head = model.roi_heads.track_head
    propagated = []

    def spy(features, templates, boxes):
        propagated.append(len(boxes))
        return type(head).propagate(head, features, templates, boxes)

    monkeypatch.setattr(head, "propagate", spy)
    driver = build_driver(model, "siammot", 10.0, {}, public_detections=True)
    driver.step(_frame(1, _with_scores(PUBLIC)))
    later = driver.step(_frame(2, np.zeros((0, 5)))).tracks
    assert propagated == [2] and later.track_ids.tolist() == [1, 2]


def test_a_frame_without_public_detections_is_an_error_naming_it(model):
    driver = build_driver(model, "siammot", 10.0, {}, public_detections=True)
    with pytest.raises(InputError, match=r"seq/img1/000001.jpg: no public detections; .*det/det.txt"):
        driver.step(_frame(1))


def test_a_model_without_public_detection_births_refuses_the_option():
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(DETECTOR)
    # no training set on disk: the ID classifier's size given
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES", 10])
    with pytest.raises(InputError, match="TRACKER.PUBLIC_DETECTIONS: .* cannot start tracks from public detections"):
        OnlineTracking(MOTTrainer.build_model(cfg).eval(), "jde", {}, public_detections=True)


@pytest.fixture
def sequence(tmp_path):
    gt = "".join(f"1,{i},{x1 + 1:g},{y1 + 1:g},{x2 - x1:g},{y2 - y1:g},1,1,1.0\n" for i, (x1, y1, x2, y2) in
                 enumerate(PUBLIC, 1))
    return write_sequence(tmp_path / "data", "MOT17-02-SDP", length=3, gt=gt, det=DET_TXT)


def _first_frame_boxes(path, name, length):
    tracks = read_mot_results(path, name, length)
    return tracks.boxes[tracks.frames == 1]


def test_the_evaluator_key_scores_tracks_born_from_det_txt(model, sequence, tmp_path):
    name = "siammot_public_fixture"
    register_mot_folder(name, os.path.dirname(sequence))
    try:
        results = {}
        for public in (True, False):
            out = tmp_path / f"public_{public}"
            cfg = _config("DATASETS.TEST", f"('{name}',)", "TEST.EVALUATOR", "mot", "OUTPUT_DIR", str(out),
                          "TRACKER.PUBLIC_DETECTIONS", str(public))
            MOTTrainer.test(cfg, model)
            boxes = _first_frame_boxes(str(out / "inference" / name / "MOT17-02-SDP.txt"), "MOT17-02-SDP", 3)
            results[public] = np.concatenate([boxes[:, :2] - 1, boxes[:, :2] - 1 + boxes[:, 2:]], axis=1)
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    assert _sorted_rows(results[True]) == _sorted_rows(PUBLIC)
    assert len(results[False]) > len(PUBLIC)


@pytest.fixture(scope="module")
def weights(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    DetectionCheckpointer(model, str(folder)).save("sure")
    return str(folder / "sure.pth")


def test_mot_track_public_detections_flag(weights, sequence, tmp_path):
    out = tmp_path / "res"
    assert main(["track", "--config-file", SIAMMOT, "--public-detections", "--input", sequence, "--output", str(out),
                 "--no-video", "MODEL.WEIGHTS", weights]) == 0
    boxes = _first_frame_boxes(str(out / "MOT17-02-SDP.txt"), "MOT17-02-SDP", 3)
    assert _sorted_rows(np.concatenate([boxes[:, :2] - 1, boxes[:, :2] - 1 + boxes[:, 2:]], axis=1)) == \
        _sorted_rows(PUBLIC)


def test_mot_track_public_detections_without_det_txt_names_the_file(weights, sequence, tmp_path, capsys):
    os.remove(os.path.join(sequence, "det", "det.txt"))
    with pytest.raises(SystemExit) as exit_info:
        main(["track", "--config-file", SIAMMOT, "--public-detections", "--input", sequence,
              "--output", str(tmp_path / "res"), "--no-video", "MODEL.WEIGHTS", weights])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"error: {os.path.join(sequence, 'det', 'det.txt')}: missing; public-detection tracking needs "
                     "det/det.txt"]


def test_all_three_mot17_copies_are_registered_for_the_public_protocol(tmp_path):
    for copy in ("DPM", "FRCNN", "SDP"):
        write_sequence(tmp_path / "MOT17" / "train", f"MOT17-02-{copy}", length=2, det=DET_TXT)
    before = set(DatasetCatalog)
    assert not {"mot17_train", "mot17_train_public"} & before, "MOT17 already registered in this process"
    register_all(str(tmp_path))
    try:
        videos = {n: sorted({d["video_id"] for d in DatasetCatalog.get(n)}) for n in ("mot17_train", "mot17_train_public")}
        assert videos["mot17_train"] == ["MOT17-02-FRCNN"]
        assert videos["mot17_train_public"] == ["MOT17-02-DPM", "MOT17-02-FRCNN", "MOT17-02-SDP"]
        assert all("public_detections" in d for d in DatasetCatalog.get("mot17_train_public"))
    finally:
        for name in set(DatasetCatalog) - before:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
