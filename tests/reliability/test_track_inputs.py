"""``mot track``'s inputs: the frame rate, the first-frame box of a single-target model,
files that are not regular files, and a detections-only run that never reads an image."""
import os

import pytest

from mot_heads.cli.main import main
from mot_heads.evaluation import read_sot_results

from ..conftest import write_sequence
from ..cli.test_track_command import DMTRACK, DMTRACK_IDENTITIES, SIAMMOT, _exits_with_one_line, _save, _untrained
from .test_track_outputs import _sequences, model_options, no_model, siammot_weights  # noqa: F401


def _public(source, output, *options, tracker="jde"):
    return main(["track", "--tracker", tracker, "--input", str(source), "--output", str(output), "--no-video",
                 *options])


def _gap_sequence(root):
    """One still box in frames 1-5 and 14-18 of 18 (seqinfo: 10 fps): JDE keeps a lost track
    for frame_rate - 1 frames (30 at 30 fps), so the 8-frame gap splits it below 9 fps."""
    frames = [*range(1, 6), *range(14, 19)]
    det = "".join(f"{f},-1,20,10,12,20,0.9,-1,-1,-1\n" for f in frames)
    seqinfo = "[Sequence]\nname=GAP\nimDir=img1\nframeRate=10\nseqLength=18\nimWidth=64\nimHeight=48\nimExt=.jpg\n"
    return write_sequence(root, "GAP", length=18, det=det, seqinfo=seqinfo)


def _ids(path):
    with open(path) as f:
        return sorted({int(line.split(",")[1]) for line in f})


def test_param_frame_rate_is_the_trackers_frame_rate_in_public_mode(tmp_path):
    seq = _gap_sequence(tmp_path / "seqs")
    assert _public(seq, tmp_path / "default") == 0
    assert _public(seq, tmp_path / "param", "--param", "frame_rate=5") == 0
    assert _public(seq, tmp_path / "option", "--frame-rate", "5") == 0
    assert len(_ids(tmp_path / "default" / "GAP.txt")) == 1
    assert len(_ids(tmp_path / "param" / "GAP.txt")) == 2
    assert (tmp_path / "param" / "GAP.txt").read_text() == (tmp_path / "option" / "GAP.txt").read_text()


def test_param_frame_rate_in_model_mode(tmp_path, siammot_weights):
    seq = write_sequence(tmp_path / "seqs", "SEQ-A", length=2)
    assert main(["track", "--config-file", SIAMMOT, "--input", seq, "--output", str(tmp_path / "out"),
                 "--no-video", "--param", "frame_rate=25", *model_options(siammot_weights)]) == 0


@pytest.mark.parametrize("value", ["inf", "-5", "0", "nan", "fast"])
def test_frame_rate_must_be_a_positive_finite_number(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        _public(_sequences(tmp_path / "seqs"), tmp_path / "out", "--frame-rate", value)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --frame-rate: expected a positive finite number of frames per second, got {value}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("options, expected", [
    (["--param", "frame_rate=25", "--frame-rate", "30"], "--param frame_rate=25 and --frame-rate 30 differ"),
    (["--param", "frame_rate=-1"], "--param frame_rate=-1: expected a positive finite number"),
    (["--param", "frame_rate=inf"], "--param frame_rate=inf: expected a positive finite number"),
])
def test_bad_param_frame_rate_is_one_sentence(tmp_path, capsys, options, expected):
    argv = ["track", "--tracker", "jde", "--input", str(_sequences(tmp_path / "seqs")), "--output",
            str(tmp_path / "out"), *options]
    assert expected in _exits_with_one_line(capsys, argv)


@pytest.fixture(scope="module")
def dmtrack_weights(tmp_path_factory):
    return _save(_untrained(DMTRACK, *DMTRACK_IDENTITIES), tmp_path_factory.mktemp("weights"), "dmtrack")


def _follow(tmp_path, weights, init_box):
    """DMTrack on a 64x48 sequence of 3 frames from ``init_box``; returns the exit status."""
    seq = write_sequence(tmp_path / "seqs", "SEQ-A", length=3)
    return main(["track", "--config-file", DMTRACK, "--input", seq, "--output", str(tmp_path / "out"), "--no-video",
                 f"--init-box={init_box}", "MODEL.WEIGHTS", weights, "MODEL.DEVICE", "cpu", "INPUT.MIN_SIZE_TEST",
                 "96", "INPUT.MAX_SIZE_TEST", "160", *DMTRACK_IDENTITIES])


@pytest.mark.parametrize("init_box, clipped", [
    ("10,12,1e12,30", [10, 12, 54, 30]),
    ("-1e12,12,1000000000020,30", [0, 12, 20, 30]),
    ("-1e300,-1e300,1e308,1e308", [0, 0, 64, 48]),
])
def test_an_init_box_across_the_frame_is_clipped(tmp_path, capsys, dmtrack_weights, init_box, clipped):
    assert _follow(tmp_path, dmtrack_weights, init_box) == 0
    assert f"--init-box {init_box}: clipped to the first frame of SEQ-A" in capsys.readouterr().err
    assert read_sot_results(str(tmp_path / "out" / "SEQ-A.txt"), "SEQ-A", 3).boxes[0].tolist() == clipped


@pytest.mark.parametrize("init_box, expected", [
    ("1e12,12,20,30", "lies outside the first frame of SEQ-A (64x48 pixels)"),
    ("-1e12,-1e12,1e6,1e6", "lies outside the first frame of SEQ-A (64x48 pixels)"),
    ("63.5,12,20,30", "less than 1 pixel wide or high inside the first frame of SEQ-A"),
])
def test_an_init_box_off_the_frame_is_refused(tmp_path, capsys, dmtrack_weights, init_box, expected):
    with pytest.raises(SystemExit) as exit_info:
        _follow(tmp_path, dmtrack_weights, init_box)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err


def _fifo_video(tmp_path):
    os.mkfifo(tmp_path / "camera.mp4")
    return tmp_path / "camera.mp4", "camera.mp4: expected a video file, got a FIFO"


def _device(tmp_path):
    return os.devnull, f"{os.devnull}: expected a video file, got a device"


def _fifo_frame(tmp_path):
    seq = write_sequence(tmp_path, "SEQ-A", length=3)
    frame = os.path.join(seq, "img1", "000002.jpg")
    os.remove(frame)
    os.mkfifo(frame)
    return seq, "000002.jpg: expected a frame image, got a FIFO"


@pytest.mark.parametrize("special", [_fifo_video, _device, _fifo_frame])
def test_an_input_that_is_no_regular_file_is_refused_unopened(tmp_path, capsys, no_model, special):
    source, expected = special(tmp_path)
    error = _exits_with_one_line(capsys, ["track", "--config-file", SIAMMOT, "--input", str(source), "--output",
                                          str(tmp_path / "out"), "MODEL.WEIGHTS", "model.pth"])
    assert expected in error


def test_no_video_reads_no_image_in_public_mode(tmp_path):
    seqs = _sequences(tmp_path / "seqs", names=("SEQ-A",))
    os.remove(seqs / "SEQ-A" / "img1" / "000003.jpg")
    assert _public(seqs, tmp_path / "out", tracker="sort") == 0
    assert len((tmp_path / "out" / "SEQ-A.txt").read_text().splitlines()) > 0
