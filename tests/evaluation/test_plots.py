"""PNG plots of training runs, per-sequence scores and their answers to bad input."""
import json
import os

import cv2
import pytest

from mot_heads.evaluation.plots import plot_sequence_bars, plot_training_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TRAINING = [
    {"iteration": i, "total_loss": loss, "loss_cls": 0.6 * loss, "loss_box_reg": 0.4 * loss, "lr": lr,
     "time": 0.5, "data_time": 0.01, "fast_rcnn/cls_accuracy": 0.9}
    for i, loss, lr in ((19, 2.0, 0.001), (39, 1.2, 0.01), (59, 0.8, 0.001))
]
EVALUATIONS = [
    {"iteration": i, "tracking/HOTA": hota, "tracking/MOTA": mota, "tracking/MOTA-person": mota,
     "tracking/IDSW": idsw, "tracking/FP": 3.0 * idsw, "bbox/AP": hota - 10, "bbox/AP50": hota + 10}
    for i, hota, mota, idsw in ((39, 40.0, 35.0, 12.0), (59, 52.0, 48.0, 7.0))
]


def write_metrics(output_dir, records, extra_line=None):
    output_dir.mkdir(exist_ok=True)
    lines = [json.dumps(r) for r in records] + ([extra_line] if extra_line is not None else [])
    (output_dir / "metrics.json").write_text("\n".join(lines) + "\n")
    return str(output_dir)


def read_png(path):
    """The (H, W, 3) image at ``path``, checked to be a PNG."""
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    image = cv2.imread(str(path))
    assert image is not None
    return image


def test_training_curves(tmp_path):
    output_dir = write_metrics(tmp_path / "run", TRAINING + EVALUATIONS)
    paths = plot_training_curves(output_dir, str(tmp_path / "plots"))
    assert paths == [str(tmp_path / "plots" / name) for name in ("losses.png", "learning_rate.png", "evaluation.png")]
    assert read_png(paths[0]).shape == (500, 800, 3)
    assert read_png(paths[1]).shape == (400, 800, 3)
    # Three subplots of 350 px: tracking [%], tracking [count], bbox [%].
    assert read_png(paths[2]).shape == (1050, 800, 3)


def test_training_curves_without_evaluation(tmp_path):
    output_dir = write_metrics(tmp_path / "run", TRAINING)
    paths = plot_training_curves(output_dir, str(tmp_path / "plots"))
    assert [os.path.basename(p) for p in paths] == ["losses.png", "learning_rate.png"]
    assert not (tmp_path / "plots" / "evaluation.png").exists()


def test_training_curves_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"metrics\.json does not exist: expected the OUTPUT_DIR"):
        plot_training_curves(str(tmp_path / "missing"), str(tmp_path / "plots"))
    malformed = write_metrics(tmp_path / "malformed", TRAINING[:1], extra_line="{not json")
    with pytest.raises(ValueError, match=r"metrics\.json:2: not JSON"):
        plot_training_curves(malformed, str(tmp_path / "plots"))
    no_iteration = write_metrics(tmp_path / "no_iteration", TRAINING[:1], extra_line='{"total_loss": 1.0}')
    with pytest.raises(ValueError, match=r"metrics\.json:2: expected a JSON object with an integer \"iteration\""):
        plot_training_curves(no_iteration, str(tmp_path / "plots"))
    eval_only = write_metrics(tmp_path / "eval_only", [dict(EVALUATIONS[0], iteration=0)])
    with pytest.raises(ValueError, match="has no training record"):
        plot_training_curves(eval_only, str(tmp_path / "plots"))
    assert not (tmp_path / "plots").exists()


ROWS = {
    "MOT17-02": {"HOTA": 0.41, "MOTA": 0.38, "IDSW": 12},
    "MOT17-04": {"HOTA": 0.55, "MOTA": -0.05, "IDSW": 30},
    "COMBINED": {"HOTA": 0.50, "MOTA": 0.20, "IDSW": 42},
}


def test_sequence_bars(tmp_path):
    path = str(tmp_path / "bars" / "mot.png")
    assert plot_sequence_bars(ROWS, ["HOTA", "MOTA"], path) == path
    height, width, _ = read_png(path).shape
    assert height == 400 and width >= 600
    # Ratios and counts on an axis each.
    assert read_png(plot_sequence_bars(ROWS, ["HOTA", "IDSW"], path)).shape[0] == 800


def test_sequence_bars_sot_rows_with_undefined_values(tmp_path):
    rows = {"bike-1": {"success_auc": 62.0, "tnr": None}, "COMBINED": {"success_auc": 62.0, "tnr": None}}
    read_png(plot_sequence_bars(rows, ["success_auc", "tnr"], str(tmp_path / "sot.png")))


def test_sequence_bars_bad_input(tmp_path):
    with pytest.raises(ValueError, match="metric 'IDF1' is not in the rows of MOT17-02, MOT17-04, COMBINED"):
        plot_sequence_bars(ROWS, ["HOTA", "IDF1"], str(tmp_path / "bars.png"))
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_sequence_bars({}, ["HOTA"], str(tmp_path / "bars.png"))
    assert not (tmp_path / "bars.png").exists()
