"""``mot track``'s result files: complete or absent, never mixed with a partial run, one run
per output folder, named by the sequence folder, an unusable output folder found first, an
empty result said out loud."""
import itertools
import os
import signal

import pytest

from mot_heads.cli import track
from mot_heads.engine import track_outputs
from mot_heads.cli.main import main
from mot_heads.engine.track_files import read_tracks_json
from mot_heads.engine.video_io import open_frames
from mot_heads.files import FolderLock
from trackers.sort import SORT

from ..conftest import write_sequence
from ..cli.test_track_command import SIAMMOT, _exits_with_one_line, _results, _save, _untrained


def _det_lines(length, score=0.9):
    """det.txt of two boxes moving right, one line each per frame."""
    return "".join(f"{f},-1,{5 + 2 * f},10,12,20,{score},-1,-1,-1\n{f},-1,{30 + f},20,10,16,{score},-1,-1,-1\n"
                   for f in range(1, length + 1))


def _sequences(root, names=("SEQ-A", "SEQ-B"), length=6, score=0.9):
    """MOTChallenge sequence folders with images and public detections; returns ``root``."""
    for name in names:
        write_sequence(root, name, length, det=_det_lines(length, score))
    return root


def _public(source, output, *options):
    return main(["track", "--tracker", "sort", "--input", str(source), "--output", str(output), *options])


def _contents(folder):
    return {name: (folder / name).read_bytes() for name in _results(folder)}


@pytest.fixture
def ctrl_c_at(monkeypatch):
    """``ctrl_c_at(k)``: Ctrl-C arrives while SORT tracks the k-th frame of the run (None: never)."""
    original, armed = SORT.update, {}

    def update(self, detections):
        if next(armed["calls"]) == armed["frame"]:
            raise KeyboardInterrupt
        return original(self, detections)

    def arm(frame):
        armed.update(calls=itertools.count(1), frame=frame)

    monkeypatch.setattr(SORT, "update", update)
    return arm


def test_ctrl_c_keeps_finished_sequences_and_writes_the_one_in_progress_as_partial(tmp_path, capsys, ctrl_c_at):
    out = tmp_path / "out"
    ctrl_c_at(9)  # frame 3 of SEQ-B
    assert _public(_sequences(tmp_path / "seqs"), out, "--no-video") == 130
    assert _results(out) == ["SEQ-A.csv", "SEQ-A.json", "SEQ-A.txt",
                             "SEQ-B.partial.csv", "SEQ-B.partial.json", "SEQ-B.partial.txt"]
    assert len(read_tracks_json(str(out / "SEQ-A.json"))) == 6
    assert [entry["frame"] for entry in read_tracks_json(str(out / "SEQ-B.partial.json"))] == [1, 2]
    summary = capsys.readouterr().out
    assert "stopped by Ctrl-C" in summary and "for 1 complete sequence" in summary
    assert "the first 2 frames of SEQ-B as SEQ-B.partial.txt" in summary


def test_ctrl_c_never_replaces_a_complete_result(tmp_path, ctrl_c_at):
    seqs, out = _sequences(tmp_path / "seqs", names=("SEQ-A",)), tmp_path / "out"
    ctrl_c_at(None)
    assert _public(seqs, out, "--no-video") == 0
    complete = _contents(out)
    ctrl_c_at(3)
    assert _public(seqs, out, "--no-video") == 130
    after = _contents(out)
    assert {name: after[name] for name in complete} == complete
    assert sorted(set(after) - set(complete)) == ["SEQ-A.partial.csv", "SEQ-A.partial.json", "SEQ-A.partial.txt"]


def test_a_complete_run_removes_stale_partial_files(tmp_path, ctrl_c_at):
    seqs, out = _sequences(tmp_path / "seqs", names=("SEQ-A",)), tmp_path / "out"
    ctrl_c_at(3)
    assert _public(seqs, out, "--no-video") == 130
    ctrl_c_at(None)
    assert _public(seqs, out, "--no-video") == 0
    assert _results(out) == ["SEQ-A.csv", "SEQ-A.json", "SEQ-A.txt"]


def test_ctrl_c_with_video_writes_a_whole_partial_mp4_beside_the_complete_one(tmp_path, ctrl_c_at):
    seqs, out = _sequences(tmp_path / "seqs", names=("SEQ-A",)), tmp_path / "out"
    ctrl_c_at(None)
    assert _public(seqs, out) == 0
    complete = (out / "SEQ-A.mp4").read_bytes()
    ctrl_c_at(4)
    assert _public(seqs, out) == 130
    assert (out / "SEQ-A.mp4").read_bytes() == complete
    with open_frames(str(out / "SEQ-A.partial.mp4")) as video:
        assert len(list(video)) == 3
    assert "SEQ-A.partial.mp4" in _results(out)


def test_ctrl_c_inside_the_json_writer_leaves_the_earlier_result_whole(tmp_path, monkeypatch, capsys):
    seqs, out = _sequences(tmp_path / "seqs", names=("SEQ-A",)), tmp_path / "out"
    assert _public(seqs, out, "--no-video") == 0
    complete = _contents(out)

    def half_then_ctrl_c(path, entries):
        with open(path, "w") as f:
            f.write('[{"frame": 1, "tra')
        raise KeyboardInterrupt

    monkeypatch.setattr(track_outputs, "write_tracks_json", half_then_ctrl_c)
    assert _public(seqs, out, "--no-video") == 130
    assert _contents(out) == complete  # no half file, no temporary file, nothing replaced
    assert "stopped by Ctrl-C" in capsys.readouterr().out


def test_ctrl_c_pressed_during_the_final_writes_takes_effect_after_them(tmp_path, monkeypatch):
    seqs, out = _sequences(tmp_path / "seqs", names=("SEQ-A",)), tmp_path / "out"
    write_json = track_outputs.write_tracks_json

    def ctrl_c_then_write(path, entries):
        os.kill(os.getpid(), signal.SIGINT)
        write_json(path, entries)

    monkeypatch.setattr(track_outputs, "write_tracks_json", ctrl_c_then_write)
    assert _public(seqs, out, "--no-video") == 130
    assert _results(out) == ["SEQ-A.csv", "SEQ-A.json", "SEQ-A.txt"]
    assert len(read_tracks_json(str(out / "SEQ-A.json"))) == 6


def test_a_second_run_into_the_same_output_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with FolderLock(str(out), "mot track"):
        error = _exits_with_one_line(capsys, ["track", "--tracker", "sort", "--input",
                                              str(_sequences(tmp_path / "seqs")), "--output", str(out)])
    assert "another mot track run is writing to this folder" in error
    assert _results(out) == []


@pytest.fixture
def no_model(monkeypatch):
    """Model mode must stop before loading the model: loading it fails the test."""
    def load_model(*args):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(track, "load_model", load_model)


def _model_run(source, output):
    return ["track", "--config-file", SIAMMOT, "--input", str(source), "--output", str(output),
            "MODEL.WEIGHTS", "model.pth"]


def test_the_lock_is_taken_before_the_model_is_loaded(tmp_path, capsys, no_model):
    out = tmp_path / "out"
    out.mkdir()
    with FolderLock(str(out), "mot track"):
        error = _exits_with_one_line(capsys, _model_run(write_sequence(tmp_path, "SEQ-A"), out))
    assert "another mot track run" in error


def _output_is_a_file(tmp_path):
    (tmp_path / "out").write_text("")
    return tmp_path / "out", "the output folder is a file"


def _output_under_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    return tmp_path / "file" / "out", "cannot write to the output folder"


def _output_not_writable(tmp_path):
    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc, a folder where no one may create files")
    return "/proc", "cannot write to the output folder"


@pytest.mark.parametrize("unusable", [_output_is_a_file, _output_under_a_file, _output_not_writable])
def test_an_unusable_output_is_refused_before_the_work(tmp_path, capsys, no_model, unusable):
    out, expected = unusable(tmp_path)
    error = _exits_with_one_line(capsys, _model_run(write_sequence(tmp_path, "SEQ-A"), out))
    assert expected in error and str(out) in error


@pytest.fixture(scope="module")
def siammot_weights(tmp_path_factory):
    return _save(_untrained(SIAMMOT), tmp_path_factory.mktemp("weights"), "siammot")


def model_options(weights):
    """Overrides: ``weights`` on CPU at a small test size; the untrained model's detections become
    tracks (a low start threshold), 4 at most a frame."""
    return ["MODEL.WEIGHTS", weights, "MODEL.DEVICE", "cpu", "INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST",
            "160", "TEST.DETECTIONS_PER_IMAGE", "4", "TRACKER.PARAMS", "['start_threshold=0.0']"]


def test_outputs_are_named_by_the_sequence_folder(tmp_path, siammot_weights):
    seqinfo = "[Sequence]\nname=street\nimDir=img1\nframeRate=10\nseqLength=2\nimWidth=64\nimHeight=48\nimExt=.jpg\n"
    for folder in ("CAM-1", "CAM-2"):
        write_sequence(tmp_path / "seqs", folder, length=2, seqinfo=seqinfo)
    assert main(["track", "--config-file", SIAMMOT, "--input", str(tmp_path / "seqs"), "--output",
                 str(tmp_path / "out"), "--no-video", *model_options(siammot_weights)]) == 0
    assert _results(tmp_path / "out") == [f"CAM-{i}.{kind}" for i in (1, 2) for kind in ("csv", "json", "txt")]


def test_two_sequences_with_one_output_name_are_refused(tmp_path, capsys):
    seqs = _sequences(tmp_path / "seqs", names=("cam-1", "CAM-1"))
    error = _exits_with_one_line(capsys, ["track", "--tracker", "sort", "--input", str(seqs), "--output",
                                          str(tmp_path / "out")])
    assert "CAM-1" in error and "cam-1" in error and "one output name" in error


def test_a_sequence_without_tracks_is_named_on_stderr(tmp_path, capsys):
    seqs = _sequences(tmp_path / "seqs", names=("SEQ-A",))
    _sequences(seqs, names=("SEQ-B",), score=0.2)
    assert _public(seqs, tmp_path / "out", "--no-video", "--param", "score_threshold=0.5") == 0
    err = capsys.readouterr().err
    assert "warning: SEQ-B: no track in any of its 6 frames" in err and "SEQ-A" not in err


def test_a_run_without_any_track_exits_3(tmp_path, capsys):
    seqs = _sequences(tmp_path / "seqs", score=0.2)
    assert _public(seqs, tmp_path / "out", "--no-video", "--param", "score_threshold=0.5") == 3
    captured = capsys.readouterr()
    assert captured.err.count("warning:") == 2
    assert "wrote 6 files (txt, csv, json) for 2 sequences" in captured.out
