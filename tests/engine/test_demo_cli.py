"""mot-demo: tracks a sequence folder or a video into an MP4 and MOTChallenge text; bad
input ends with one error line."""
import os

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg

from mot_heads import add_mot_config

from mot_heads.cli.demo import load_model, main
from mot_heads.engine import MOTTrainer
from mot_heads.engine.video_io import open_frames
from mot_heads.evaluation import read_mot_results

CONFIG = os.path.join(os.path.dirname(__file__), "../../configs/quick_schedules/siammot_EMM_R18_FPN_GN_synthetic.yaml")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """An untrained tiny SiamMOT saved as a checkpoint (the pipeline, not the scores, is tested)."""
    torch.manual_seed(0)
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(CONFIG)
    cfg.MODEL.DEVICE = "cpu"
    folder = tmp_path_factory.mktemp("weights")
    DetectionCheckpointer(MOTTrainer.build_model(cfg), str(folder)).save("model")
    return str(folder / "model.pth")


def _opts(weights, *extra):
    # A low start threshold lets the untrained model's detections become tracks.
    return ["MODEL.WEIGHTS", weights, "MODEL.DEVICE", "cpu", "TRACKER.PARAMS", "['start_threshold=0.0']", *extra]


def test_demo_tracks_a_sequence_into_video_and_text(synthetic_root, weights, tmp_path):
    sequence = os.path.join(synthetic_root, "val", "synth-val-00")
    main(["--config-file", CONFIG, "--input", sequence, "--output", str(tmp_path), *_opts(weights)])
    with open_frames(str(tmp_path / "synth-val-00.mp4")) as video, open_frames(sequence) as source:
        assert video.num_frames == source.num_frames and (video.width, video.height) == (source.width, source.height)
        assert video.frame_rate == source.frame_rate
    results = read_mot_results(str(tmp_path / "synth-val-00.txt"), "synth-val-00", source.num_frames)
    assert len(results.frames) and results.frames.max() <= source.num_frames


def test_model_loading_names_bad_weights_and_keys(tmp_path, weights):
    with pytest.raises(ValueError, match="MODEL.WEIGHTS is empty"):
        load_model(CONFIG, [])
    with pytest.raises(FileNotFoundError, match="no such weights file"):
        load_model(CONFIG, ["MODEL.WEIGHTS", str(tmp_path / "missing.pth")])
    with pytest.raises(KeyError, match="MODEL.NO_SUCH_KEY"):
        load_model(CONFIG, _opts(weights, "MODEL.NO_SUCH_KEY", 1))


@pytest.mark.parametrize("case", ["missing input", "unreadable video", "missing config"])
def test_bad_input_exits_with_one_line(tmp_path, weights, capsys, case):
    config, source = CONFIG, str(tmp_path / "missing.mp4")
    if case == "unreadable video":
        source = str(tmp_path / "broken.mp4")
        with open(source, "wb") as f:
            f.write(os.urandom(2048))
    if case == "missing config":
        config = str(tmp_path / "missing.yaml")
    with pytest.raises(SystemExit) as exit_info:
        main(["--config-file", config, "--input", source, "--output", str(tmp_path / "out"), *_opts(weights)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: ")


def test_demo_tracks_with_a_one_shot_model_and_the_jde_cascade(synthetic_root, tmp_path):
    config = os.path.join(os.path.dirname(CONFIG), "cstrack_R18_FPN_GN_synthetic.yaml")
    torch.manual_seed(0)
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(config)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES", 10])
    model = MOTTrainer.build_model(cfg)
    with torch.no_grad():
        model.size_head[2].bias.fill_(3.0)  # untrained boxes would be empty: make them 3 x 3 cells
    DetectionCheckpointer(model, str(tmp_path)).save("one_shot")
    sequence = os.path.join(synthetic_root, "val", "synth-val-00")
    main(["--config-file", config, "--input", sequence, "--output", str(tmp_path / "out"),
          "MODEL.WEIGHTS", str(tmp_path / "one_shot.pth"), "MODEL.DEVICE", "cpu",
          "MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES", "10", "TRACKER.PARAMS", "['det_threshold=0.0']"])
    results = read_mot_results(str(tmp_path / "out" / "synth-val-00.txt"), "synth-val-00", 12)
    assert len(results.frames) and len(set(results.ids.tolist())) > 1
