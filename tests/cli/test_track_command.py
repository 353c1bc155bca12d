"""``mot track`` end to end: a model over sequences, folders, images, a real video and a
webcam; public detections scored by the MOT metrics; DMTrack from a first-frame box;
bad input ends with one error line and exit 2."""
import os
import shutil

import cv2
import numpy as np
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg

from mot_heads import add_mot_config
from mot_heads.cli.main import main
from mot_heads.data import SyntheticConfig, generate_dataset, register_synthetic
from mot_heads.data.mot_challenge import find_sequences, read_seqinfo
from mot_heads.engine import MOTTrainer, video_io
from mot_heads.engine.track_files import COLUMNS, read_tracks_csv, read_tracks_json, table_rows
from mot_heads.engine.video_io import open_frames
from mot_heads.evaluation import evaluate_mot, read_mot_gt, read_mot_results, read_sot_results

from ..conftest import write_sequence

REPO = os.path.join(os.path.dirname(__file__), "..", "..")
CONFIGS = os.path.join(REPO, "configs", "quick_schedules")
SIAMMOT = os.path.join(CONFIGS, "siammot_EMM_R18_FPN_GN_synthetic.yaml")
CSTRACK = os.path.join(CONFIGS, "cstrack_R18_FPN_GN_synthetic.yaml")
DMTRACK = os.path.join(CONFIGS, "dmtrack_R18_FPN_GN_synthetic.yaml")
STREET_VIDEO = os.path.join(REPO, "..", "shared", "data", "street_8f_1080p.mp4")
DATASET_PREFIX = "track_command"
# DMTrack sizes its re-id classifier by the identities of DATASETS.TRAIN, which need not
# be registered here.
DMTRACK_IDENTITIES = ["MODEL.DMTRACK.NUM_IDENTITIES", "10"]


def _untrained(config, *opts):
    """An untrained tiny model of ``config`` (the pipeline, not the scores, is tested)."""
    torch.manual_seed(0)
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(config)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    return MOTTrainer.build_model(cfg)


def _save(model, folder, name):
    DetectionCheckpointer(model, str(folder)).save(name)
    return str(folder / f"{name}.pth")


@pytest.fixture(scope="module")
def siammot_weights(tmp_path_factory):
    return _save(_untrained(SIAMMOT), tmp_path_factory.mktemp("weights"), "siammot")


@pytest.fixture(scope="module")
def dmtrack_weights(tmp_path_factory):
    return _save(_untrained(DMTRACK, *DMTRACK_IDENTITIES), tmp_path_factory.mktemp("weights"), "dmtrack")


@pytest.fixture(scope="module")
def sequence(synthetic_root):
    """A synthetic val sequence (12 frames, people and cars), its set registered so the
    model's classes have names."""
    register_synthetic(synthetic_root, prefix=DATASET_PREFIX)
    return os.path.join(synthetic_root, "val", "synth-val-00")


def _model_args(weights, config=SIAMMOT):
    """Config overrides: ``weights`` on CPU at a small test size (speed), and for SiamMOT a low
    start threshold that lets the untrained model's detections become tracks, 4 at most a frame."""
    args = ["MODEL.WEIGHTS", weights, "MODEL.DEVICE", "cpu", "DATASETS.TEST", f"('{DATASET_PREFIX}_val',)",
            "INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "160"]
    if config == SIAMMOT:
        args += ["TRACKER.PARAMS", "['start_threshold=0.0']", "TEST.DETECTIONS_PER_IMAGE", "4"]
    if config == DMTRACK:
        args += DMTRACK_IDENTITIES
    return args


def _track(source, output, weights, *options, config=SIAMMOT):
    return main(["track", "--config-file", config, "--input", str(source), "--output", str(output), *options,
                 *_model_args(weights, config)])


def _check_track_files(output, name, num_frames):
    """The txt, csv and json of a MOT sequence agree row by row; returns the csv rows."""
    entries = read_tracks_json(str(output / f"{name}.json"))
    assert [e["frame"] for e in entries] == list(range(1, num_frames + 1))
    rows = read_tracks_csv(str(output / f"{name}.csv"))
    with open(output / f"{name}.csv") as f:
        assert f.readline().strip() == ",".join(COLUMNS)
    assert rows == table_rows(entries)
    text = read_mot_results(str(output / f"{name}.txt"), name, num_frames)
    assert len(text) == len(rows)
    by_key = {(r["frame"], r["track_id"]): r for r in rows}
    for frame, track_id, box, score, class_id in zip(text.frames, text.ids, text.boxes, text.scores, text.classes):
        row = by_key[(frame, track_id)]
        assert [row["x"] + 1, row["y"] + 1, row["w"], row["h"]] == pytest.approx(box.tolist(), abs=2e-3)
        assert (row["score"], row["class_id"]) == (pytest.approx(score, abs=1e-3), class_id)
    return rows


def _results(folder):
    """The files in ``folder`` but the lock file of ``mot track``."""
    return sorted(name for name in os.listdir(folder) if name != ".lock")


def _check_video(path, num_frames, width, height):
    with open_frames(str(path)) as video:
        assert (video.num_frames, video.width, video.height) == (num_frames, width, height)
        assert len(list(video)) == num_frames


def test_sequence_into_video_text_csv_json(sequence, siammot_weights, tmp_path, capsys):
    assert _track(sequence, tmp_path, siammot_weights) == 0
    name = "synth-val-00"
    assert f"wrote 4 files (mp4, txt, csv, json) for 1 sequence to {tmp_path}" in capsys.readouterr().out
    with open_frames(sequence) as source:
        _check_video(tmp_path / f"{name}.mp4", source.num_frames, source.width, source.height)
    rows = _check_track_files(tmp_path, name, source.num_frames)
    assert rows, "the low start threshold makes tracks of the untrained model's detections"
    # Classes as the MOT evaluator writes them: the dataset's class ids (person 1, car 2).
    assert {(r["class_id"], r["class_name"]) for r in rows} <= {(1, "person"), (2, "car")}


def test_folder_of_sequences_one_output_set_each(siammot_weights, tmp_path):
    for name in ("SEQ-A", "SEQ-B"):
        write_sequence(tmp_path / "seqs", name, length=3)
    assert _track(tmp_path / "seqs", tmp_path / "out", siammot_weights, "--no-video") == 0
    assert _results(tmp_path / "out") == [f"SEQ-{s}.{e}" for s in "AB" for e in ("csv", "json", "txt")]
    for name in ("SEQ-A", "SEQ-B"):
        _check_track_files(tmp_path / "out", name, 3)


def test_image_folder(siammot_weights, tmp_path):
    os.makedirs(tmp_path / "shots")
    for index in (1, 2, 10):
        cv2.imwrite(str(tmp_path / "shots" / f"{index}.png"), np.full((40, 56, 3), 20 * index, np.uint8))
    assert _track(tmp_path / "shots", tmp_path / "out", siammot_weights, "--trail-length", "0") == 0
    _check_video(tmp_path / "out" / "shots.mp4", 3, 56, 40)
    _check_track_files(tmp_path / "out", "shots", 3)


@pytest.mark.skipif(not os.path.isfile(STREET_VIDEO), reason="../shared/data/street_8f_1080p.mp4 is absent")
@pytest.mark.slow
def test_real_video(siammot_weights, tmp_path):
    assert _track(STREET_VIDEO, tmp_path, siammot_weights) == 0
    _check_video(tmp_path / "street_8f_1080p.mp4", 8, 1920, 1080)
    _check_track_files(tmp_path, "street_8f_1080p", 8)


def test_one_shot_model_with_the_jde_cascade(sequence, tmp_path):
    model = _untrained(CSTRACK, "MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES", 10)
    with torch.no_grad():
        model.size_head[2].bias.fill_(3.0)  # untrained boxes would be empty: make them 3 x 3 cells
    weights = _save(model, tmp_path, "one_shot")
    assert main(["track", "--config-file", CSTRACK, "--input", sequence, "--output", str(tmp_path / "out"),
                 "--no-video", "--param", "det_threshold=0.0", *_model_args(weights, CSTRACK),
                 "MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES", "10", "MODEL.ONE_SHOT.TOPK_TEST", "8"]) == 0
    rows = _check_track_files(tmp_path / "out", "synth-val-00", 12)
    assert len({r["track_id"] for r in rows}) > 1


class FakeCamera:
    """Stands in for ``cv2.VideoCapture(index)``: endless 48x64 frames; with ``interrupt_at``,
    Ctrl-C arrives while the tracking capture (the second one opened) waits for that frame."""

    opened = 0
    interrupt_at = None

    def __init__(self, index):
        assert index == 0
        FakeCamera.opened += 1
        self.tracking, self.reads = FakeCamera.opened > 1, 0

    def isOpened(self):
        return True

    def read(self):
        self.reads += 1
        if self.tracking and self.reads == FakeCamera.interrupt_at:
            raise KeyboardInterrupt
        return True, np.full((48, 64, 3), 10 * self.reads % 256, np.uint8)

    def get(self, prop):
        return 0.0  # webcams declare no frame count, often no rate

    def release(self):
        pass


@pytest.fixture
def camera(monkeypatch):
    FakeCamera.opened, FakeCamera.interrupt_at = 0, None
    monkeypatch.setattr(video_io.cv2, "VideoCapture", FakeCamera)
    return FakeCamera


def test_webcam_stops_after_max_frames(camera, siammot_weights, tmp_path):
    assert _track("0", tmp_path, siammot_weights, "--max-frames", "4", "--no-video") == 0
    _check_track_files(tmp_path, "webcam0", 4)


def test_webcam_ctrl_c_writes_what_was_tracked(camera, siammot_weights, tmp_path, capsys):
    camera.interrupt_at = 4
    assert _track("0", tmp_path, siammot_weights, "--no-video") == 130
    _check_track_files(tmp_path, "webcam0.partial", 3)
    assert "the first 3 frames of webcam0 as webcam0.partial.txt" in capsys.readouterr().out


def test_max_frames_on_a_sequence(sequence, siammot_weights, tmp_path):
    assert _track(sequence, tmp_path, siammot_weights, "--max-frames", "5") == 0
    with open_frames(sequence) as source:
        _check_video(tmp_path / "synth-val-00.mp4", 5, source.width, source.height)
    _check_track_files(tmp_path, "synth-val-00", 5)


@pytest.mark.slow
def test_dmtrack_follows_the_init_box(sequence, dmtrack_weights, tmp_path):
    assert _track(sequence, tmp_path, dmtrack_weights, "--init-box", "10,12,20,30", config=DMTRACK) == 0
    name = "synth-val-00"
    result = read_sot_results(str(tmp_path / f"{name}.txt"), name, 12)
    assert result.boxes[0].tolist() == [10, 12, 20, 30] and result.confidences[0] == 1
    entries = read_tracks_json(str(tmp_path / f"{name}.json"))
    assert len(entries) == 12 and all(len(e["tracks"]) <= 1 for e in entries)
    for box, entry in zip(result.boxes, entries):  # absent frames: no track, no box
        assert (len(entry["tracks"]) == 1) == (not np.isnan(box).any())
    assert read_tracks_csv(str(tmp_path / f"{name}.csv")) == table_rows(entries)
    with open_frames(sequence) as source:
        _check_video(tmp_path / f"{name}.mp4", 12, source.width, source.height)


# Public detections: two val sequences of 40 frames (about 1 s to generate); no train split.
PUBLIC_SET = SyntheticConfig(seed=1, train_sequences=0, val_sequences=2, num_frames=40)


@pytest.fixture(scope="module")
def val_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("public") / "synthetic"
    generate_dataset(str(root), PUBLIC_SET)
    return str(root / "val")


# COMBINED scores on PUBLIC_SET: sort MOTA 0.935, IDF1 0.967; jde with the second
# association MOTA 0.944, IDF1 0.966. The thresholds leave a margin for tracker changes.
@pytest.mark.parametrize(
    "tracker, params, min_mota, min_idf1",
    [("sort", [], 0.88, 0.91), ("jde", ["--param", "second_association=true"], 0.88, 0.91)],
)
def test_public_detections_scored(val_dir, tmp_path, capsys, tracker, params, min_mota, min_idf1):
    out = tmp_path / "res"
    assert main(["track", "--tracker", tracker, "--input", val_dir, "--output", str(out), *params]) == 0
    assert f"wrote 8 files (mp4, txt, csv, json) for 2 sequences to {out}" in capsys.readouterr().out
    gts, results = {}, {}
    for seq_dir in find_sequences(val_dir):
        name, info = os.path.basename(seq_dir), read_seqinfo(seq_dir)
        with open(out / f"{name}.txt") as f:
            assert len(f.readline().split(",")) == 10  # frame, id, x, y, w, h, score, class, -1, -1
        rows = _check_track_files(out, name, info.seq_length)
        assert {r["class_id"] for r in rows} == {-1}  # det.txt has no class
        _check_video(out / f"{name}.mp4", info.seq_length, info.width, info.height)
        gts[name], results[name] = read_mot_gt(seq_dir), read_mot_results(str(out / f"{name}.txt"), name, 40)
    # The gt holds class 1 (person) and 2 (car), public detections have no class, so the
    # tracks cover both: score persons, and make cars distractors so that tracks on cars
    # are neither true nor false positives.
    combined = evaluate_mot(gts, results, class_id=1, distractor_classes=(2,))["COMBINED"]
    assert combined["MOTA"] >= min_mota and combined["IDF1"] >= min_idf1, combined


@pytest.fixture
def det_dir(val_dir, tmp_path):
    """A writable copy of the val sequences without images (so no MP4 is drawn)."""
    copy = tmp_path / "val"
    shutil.copytree(val_dir, copy, ignore=shutil.ignore_patterns("img1"))
    return copy


def _append_det(det_dir, line):
    path = det_dir / "synth-val-00" / "det" / "det.txt"
    with open(path) as f:
        line_no = sum(1 for _ in f) + 1
    with open(path, "a") as f:
        f.write(line + "\n")
    return line_no


def test_public_detections_without_images_write_no_video(det_dir, tmp_path):
    out = tmp_path / "res"
    assert main(["track", "--tracker", "sort", "--input", str(det_dir / "synth-val-01"), "--output", str(out),
                 "--max-frames", "10"]) == 0
    assert _results(out) == ["synth-val-01.csv", "synth-val-01.json", "synth-val-01.txt"]
    _check_track_files(out, "synth-val-01", 10)


def _missing_det_dir(det_dir):
    shutil.rmtree(det_dir)
    return [], "no such folder"


def _missing_det_txt(det_dir):
    os.remove(det_dir / "synth-val-01" / "det" / "det.txt")
    return [], "synth-val-01/det/det.txt: missing"


def _nan_box(det_dir):
    line_no = _append_det(det_dir, "3,-1,nan,20,10,20,0.9,-1,-1,-1")
    return [], f"det.txt:{line_no}: expected finite numbers"


def _frame_beyond_length(det_dir):
    line_no = _append_det(det_dir, "41,-1,10,20,10,20,0.9,-1,-1,-1")
    return [], f"det.txt:{line_no}: frame 41 is outside 1..40 (seqLength)"


def _unknown_param(det_dir):
    return ["--param", "max_lost=3"], "unknown parameter(s) ['max_lost']"


def _badly_typed_param(det_dir):
    return ["--param", "max_age=three"], "max_age='three': expected an integer"


def _param_without_value(det_dir):
    return ["--param", "max_age"], "expected key=value"


def _config_override(det_dir):
    return ["MODEL.WEIGHTS", "model.pth"], "need a model (--config-file)"


def _exits_with_one_line(capsys, argv):
    """Runs ``mot`` with ``argv``; it must exit 2 with one ``error:`` line; returns the line."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.mark.parametrize(
    "breaks",
    [_missing_det_dir, _missing_det_txt, _nan_box, _frame_beyond_length, _unknown_param, _badly_typed_param,
     _param_without_value, _config_override],
)
def test_public_bad_input(det_dir, tmp_path, capsys, breaks):
    params, expected = breaks(det_dir)
    out = tmp_path / "res"
    error = _exits_with_one_line(capsys, ["track", "--tracker", "sort", "--input", str(det_dir), "--output", str(out),
                                          *params])
    assert expected in error
    assert not out.exists() or not os.listdir(out)  # every input is checked before writing


def _write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


@pytest.mark.parametrize("case, expected", [
    ("missing input", "no such file or folder"),
    ("unreadable video", "could not be read as a video"),
    ("missing config", "no such config file"),
    ("unknown config key", "MODEL.NO_SUCH_KEY"),
    ("no weights", "MODEL.WEIGHTS is empty"),
    ("missing weights", "no such weights file"),
    ("weights of another architecture", "weights of another architecture"),
    ("init box for a multi-object model", "only for single-target models"),
    ("tracker of another kind", "SiamMOT tracks with the 'siammot' solver"),
])
def test_model_bad_input(sequence, siammot_weights, dmtrack_weights, tmp_path, capsys, case, expected):
    config, source, options, overrides = SIAMMOT, sequence, [], _model_args(siammot_weights)
    if case == "missing input":
        source = str(tmp_path / "missing.mp4")
    elif case == "unreadable video":
        source = _write_file(tmp_path / "x.mp4", b"not a video\n")
    elif case == "missing config":
        config = str(tmp_path / "missing.yaml")
    elif case == "unknown config key":
        overrides += ["MODEL.NO_SUCH_KEY", "1"]
    elif case == "no weights":
        overrides += ["MODEL.WEIGHTS", ""]
    elif case == "missing weights":
        overrides += ["MODEL.WEIGHTS", str(tmp_path / "missing.pth")]
    elif case == "weights of another architecture":
        overrides += ["MODEL.WEIGHTS", dmtrack_weights]
    elif case == "init box for a multi-object model":
        options = ["--init-box", "1,2,3,4"]
    else:
        overrides += ["TRACKER.NAME", "sort", "TRACKER.PARAMS", "[]"]
    error = _exits_with_one_line(capsys, ["track", "--config-file", config, "--input", source,
                                          "--output", str(tmp_path / "out"), *options, *overrides])
    assert expected in error


@pytest.mark.parametrize("init_box, expected", [
    (None, "give its box in the first frame (--init-box x,y,w,h)"),
    ("10,12,20", "expected four comma-separated numbers"),
    ("a,b,c,d", "expected four comma-separated numbers"),
    ("10,12,0,30", "positive width and height"),
    ("500,12,20,30", "lies outside the first frame"),
])
def test_dmtrack_bad_init_box(sequence, dmtrack_weights, tmp_path, capsys, init_box, expected):
    options = [] if init_box is None else ["--init-box", init_box]
    error = _exits_with_one_line(capsys, ["track", "--config-file", DMTRACK, "--input", sequence, "--output",
                                          str(tmp_path), *options, *_model_args(dmtrack_weights, DMTRACK)])
    assert expected in error


def test_webcam_that_cannot_be_opened(monkeypatch, tmp_path, capsys):
    class Unplugged(FakeCamera):
        def isOpened(self):
            return False

    monkeypatch.setattr(video_io.cv2, "VideoCapture", Unplugged)
    error = _exits_with_one_line(capsys, ["track", "--config-file", SIAMMOT, "--input", "0", "--output",
                                          str(tmp_path)])
    assert error.startswith("error: webcam 0 could not be opened")


@pytest.mark.parametrize("argv, expected", [
    ([], "one of the arguments --config-file --tracker is required"),
    (["--config-file", SIAMMOT, "--tracker", "sort"], "not allowed with argument"),
    (["--tracker", "deepsort"], "invalid choice: 'deepsort'"),
])
def test_mode_is_an_argparse_error(tmp_path, capsys, argv, expected):
    with pytest.raises(SystemExit) as exit_info:
        main(["track", "--input", str(tmp_path), "--output", str(tmp_path / "out"), *argv])
    assert exit_info.value.code == 2
    assert expected in capsys.readouterr().err


def test_help_explains_every_option_with_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["track", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "Examples" in text and "mot track --config-file" in text and "mot track --tracker sort" in text
    for option in ("--config-file", "--tracker", "--input", "--output", "--param", "--init-box", "--max-frames",
                   "--frame-rate", "--trail-length", "--no-video", "KEY VALUE"):
        assert option in text
    assert text.count("e.g.") >= 11  # every option shows an example
