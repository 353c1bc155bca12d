"""The Detectron2 evaluator of single-object tracking on a hand-made two-video dataset."""
import json

import numpy as np
import pytest
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog

from mot_heads import add_mot_config
from mot_heads.data.sot import register_sot_dataset
from mot_heads.engine import MOTTrainer
from mot_heads.evaluation import SOTEvaluator, read_sot_results

ALL_KEYS = ["success_auc", "precision_20px", "norm_precision", "norm_precision_auc", "success_rate_50",
            "lt_precision", "lt_recall", "lt_fscore", "tpr", "tnr", "maxgm"]
A_BOX, B_BOX = [0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 20.0, 10.0]


def frame(video, t, length, box):
    """The SOT dataset dict of frame ``t``; ``box`` None: the target is absent."""
    return {"file_name": f"{video}/{t:08d}.jpg", "height": 100, "width": 100, "image_id": f"{video}/{t:08d}",
            "video_id": video, "frame_idx": t, "seq_length": length, "sot_box": box, "sot_absent": box is None}


# Video A: 4 frames, the target absent in frame 3; video B: 5 frames, always visible.
RECORDS = ([frame("A", t, 4, None if t == 3 else A_BOX) for t in range(1, 5)]
           + [frame("B", t, 5, B_BOX) for t in range(1, 6)])


@pytest.fixture
def register():
    """Registers SOT datasets of given dicts under given names, scored by a given benchmark
    protocol (None: all metrics); removes them afterwards."""
    names = []

    def _register(name, records, protocol=None):
        register_sot_dataset(name, "", "hand-made", lambda: [dict(r) for r in records], protocol=protocol)
        names.append(name)
        return name

    yield _register
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


@pytest.fixture
def dataset(register):
    return register("soteval_tiny", RECORDS)


def perfect(record):
    """The gt box (None where absent), confidence 0.9 with a box."""
    box = record["sot_box"]
    return {"sot_box": box, "sot_confidence": None if box is None else 0.9}


def run(dataset, outputs, output_dir=None, batches=None):
    """Process ``outputs`` (one per record of RECORDS) in ``batches`` of record indices."""
    evaluator = SOTEvaluator(dataset, output_dir=output_dir)
    evaluator.reset()
    for batch in batches or [[i] for i in range(len(RECORDS))]:
        evaluator.process([RECORDS[i] for i in batch], [outputs[i] for i in batch])
    return evaluator.evaluate()["sot"]


def test_perfect_tracker(dataset):
    metrics = run(dataset, [perfect(r) for r in RECORDS])
    assert list(metrics) == ALL_KEYS
    # IoU 1 succeeds at 20 of 21 thresholds (not > 1); A's absent frame 3 never succeeds
    # but stays in the denominator: A succeeds in 3/4, B in 5/5 frames; the mean curve.
    assert metrics["success_auc"] == pytest.approx(100 * 20 / 21 * (0.75 + 1) / 2)
    for key in ("precision_20px", "norm_precision", "norm_precision_auc"):
        assert metrics[key] == pytest.approx(100 * (0.75 + 1) / 2)
    # Every present frame found, the absent one reported absent; all boxes counted at 0.9.
    for key in ("lt_precision", "lt_recall", "lt_fscore", "tpr", "tnr", "maxgm"):
        assert metrics[key] == pytest.approx(100.0)


SHIFTED = [
    # A: exact; 5 px to the right (IoU 50/150, centre error 5 px = 0.5 widths); reported
    # absent on the absent frame; exact.
    {"sot_box": A_BOX, "sot_confidence": 1.0},
    {"sot_box": [5, 0, 10, 10], "sot_confidence": 0.6},
    {"sot_box": None, "sot_confidence": None},
    {"sot_box": np.array(A_BOX), "sot_confidence": 0.8},
] + [{"sot_box": B_BOX, "sot_confidence": 0.9}] * 4 + [
    # B, frame 5: the target reported absent although visible, with a confidence.
    {"sot_box": None, "sot_confidence": 0.1},
]


def test_hand_computed_metrics_and_files(dataset, tmp_path):
    metrics = run(dataset, SHIFTED, str(tmp_path))
    # Success: A's IoUs 1, 1/3, 0, 1 give 3/4 at t <= 0.3 (7 thresholds), 2/4 at 0.35..0.95
    # (13), 0 at 1; B's 1, 1, 1, 1, 0 give 4/5 at 20 thresholds.
    auc_a, auc_b = (7 * 0.75 + 13 * 0.5) / 21, 20 * 0.8 / 21
    assert metrics["success_auc"] == pytest.approx(100 * (auc_a + auc_b) / 2)
    # Centre errors: A 0, 5, inf, 0 (normalised 0, 0.5, inf, 0); B 0 x 4, inf.
    assert metrics["precision_20px"] == pytest.approx(100 * (3 / 4 + 4 / 5) / 2)
    assert metrics["norm_precision"] == pytest.approx(100 * (2 / 4 + 4 / 5) / 2)
    # A's normalised curve: 2/4 for d < 0.5 (50 thresholds), 3/4 at d = 0.5.
    assert metrics["norm_precision_auc"] == pytest.approx(100 * ((50 * 0.5 + 0.75) / 51 + 0.8) / 2)
    assert metrics["success_rate_50"] == pytest.approx(100 * (2 / 4 + 4 / 5) / 2)  # IoU > 0.5 (TLP)
    # OxUvA, pooled: TP A1 A4 B1-4 (6), FN A2 (IoU < 0.5) B5 (2); TN A3.
    assert metrics["tpr"] == pytest.approx(75.0) and metrics["tnr"] == pytest.approx(100.0)
    assert metrics["maxgm"] == pytest.approx(100 * np.sqrt(0.75))  # TNR > 0.5: sqrt(TPR TNR)
    # VOT-LT, thresholds = confidences of boxes (1, 0.9 x 4, 0.8, 0.6); B5's 0.1 has no box.
    # At 0.8: A counts A1, A4 (Pr 1, Re 2/3), B counts B1-4 (Pr 1, Re 4/5); mean Re 11/15,
    # F = 22/26. At 0.6: Pr (7/9 + 1)/2, Re (7/9 + 4/5)/2, F = 1136/1359 < 22/26; at 0.9:
    # Re (1/3 + 4/5)/2, F 0.72; at 1: Re 1/6.
    assert metrics["lt_precision"] == pytest.approx(100.0)
    assert metrics["lt_recall"] == pytest.approx(100 * 11 / 15)
    assert metrics["lt_fscore"] == pytest.approx(100 * 22 / 26)

    result = read_sot_results(str(tmp_path / "A.txt"), "A", 4)
    np.testing.assert_allclose(result.boxes, [A_BOX, [5, 0, 10, 10], [np.nan] * 4, A_BOX])
    np.testing.assert_allclose(result.confidences, [1.0, 0.6, 0.0, 0.8])  # no box, no confidence: 0
    result = read_sot_results(str(tmp_path / "B.txt"), "B", 5)
    assert np.isnan(result.boxes[4]).all() and result.confidences[4] == pytest.approx(0.1)

    saved = json.loads((tmp_path / "sot_metrics.json").read_text())
    assert list(saved) == ["A", "B", "COMBINED"]
    assert saved["COMBINED"] == pytest.approx(metrics)
    assert saved["A"]["success_auc"] == pytest.approx(100 * auc_a)
    assert saved["B"]["tnr"] is None and saved["B"]["tpr"] == pytest.approx(80.0)
    assert (tmp_path / "success_plot.png").read_bytes()[:4] == b"\x89PNG"


def test_order_and_batches_do_not_matter(dataset):
    in_order = run(dataset, SHIFTED)
    # Shuffled, in batches mixing the videos, one frame output twice.
    batches = [[8, 0, 5], [3], [7, 2, 1, 6], [4, 3]]
    assert run(dataset, SHIFTED, batches=batches) == pytest.approx(in_order)


def test_no_confidence_with_a_box_drops_the_longterm_metrics(dataset, tmp_path):
    outputs = [perfect(r) for r in RECORDS]
    outputs[5] = {"sot_box": B_BOX, "sot_confidence": None}
    metrics = run(dataset, outputs, str(tmp_path))
    assert list(metrics) == [k for k in ALL_KEYS if not k.startswith("lt_")]
    assert read_sot_results(str(tmp_path / "B.txt"), "B", 5).confidences is None


def test_missing_frames_are_an_error(dataset):
    evaluator = SOTEvaluator(dataset)
    evaluator.reset()
    for i in (0, 1, 2, 3, 4, 5, 7):
        evaluator.process([RECORDS[i]], [perfect(RECORDS[i])])
    with pytest.raises(ValueError, match=r"no model output for frames \[3, 5\] of video B"):
        evaluator.evaluate()


def test_bad_outputs_are_errors(dataset):
    evaluator = SOTEvaluator(dataset)
    evaluator.reset()
    with pytest.raises(ValueError, match="frame the dataset does not have"):
        evaluator.process([dict(RECORDS[0], frame_idx=9)], [perfect(RECORDS[0])])
    with pytest.raises(ValueError, match="needs outputs with sot_box and sot_confidence"):
        evaluator.process([RECORDS[0]], [{"instances": None}])
    with pytest.raises(ValueError, match=r"frame 1: expected sot_box \[x, y, w, h\] or None"):
        evaluator.process([RECORDS[0]], [{"sot_box": [1, 2, 3], "sot_confidence": 0.5}])


def test_frames_without_gt_cannot_be_scored(register):
    # GOT-10k test: only the first frame is annotated.
    records = [RECORDS[0]] + [{k: v for k, v in r.items() if not k.startswith("sot_")} for r in RECORDS[1:4]]
    with pytest.raises(ValueError, match=r"video A carries SOT gt .* in its first frame only; .* cannot be scored"):
        SOTEvaluator(register("soteval_got10k_test", records))


def evaluate_outputs(dataset, records, outputs):
    evaluator = SOTEvaluator(dataset)
    evaluator.reset()
    evaluator.process(records, outputs)
    return evaluator.evaluate()["sot"]


def test_oxuva_protocol_scores_labelled_frames_after_the_init_frame(register):
    # OxUvA labels at 1 Hz: frames 2 and 4 carry no gt; the init frame 1 is not scored.
    labels = {1: A_BOX, 3: A_BOX, 5: None}
    records = [frame("V", t, 5, labels[t]) if t in labels
               else {k: v for k, v in frame("V", t, 5, A_BOX).items() if not k.startswith("sot_")} for t in range(1, 6)]
    dataset = register("soteval_oxuva", records, "oxuva")
    # Frame 3 correct (TP), frame 5 a box although absent (FP); frames 2 and 4 are ignored.
    outputs = [{"sot_box": [50, 50, 5, 5] if t in (2, 4) else A_BOX, "sot_confidence": 1.0} for t in range(1, 6)]
    metrics = evaluate_outputs(dataset, records, outputs)
    assert list(metrics) == ["tpr", "tnr", "maxgm"]
    # TPR 1, TNR 0: MaxGM = sqrt(TPR / (4 (1 - TNR))) = 1/2.
    assert metrics == pytest.approx({"tpr": 100.0, "tnr": 0.0, "maxgm": 50.0})
    # The unlabelled frames need no output.
    assert evaluate_outputs(dataset, [records[i] for i in (0, 2, 4)], [outputs[i] for i in (0, 2, 4)]) == metrics


def test_vot_lt_protocol_reports_precision_recall_fscore(register):
    dataset = register("soteval_votlt", RECORDS, "vot_lt")
    metrics = evaluate_outputs(dataset, RECORDS, [perfect(r) for r in RECORDS])
    assert metrics == pytest.approx({"lt_precision": 100.0, "lt_recall": 100.0, "lt_fscore": 100.0})
    assert list(metrics) == ["lt_precision", "lt_recall", "lt_fscore"]
    no_confidence = [{"sot_box": r["sot_box"], "sot_confidence": None} for r in RECORDS]
    with pytest.raises(ValueError, match=r"vot_lt protocol reports lt_precision, lt_recall, lt_fscore, which need"):
        evaluate_outputs(dataset, RECORDS, no_confidence)


def test_tlp_protocol_reports_ope_success_precision_and_success_rate(register):
    dataset = register("soteval_tlp", RECORDS, "tlp")
    metrics = evaluate_outputs(dataset, RECORDS, [perfect(r) for r in RECORDS])
    assert list(metrics) == ["success_auc", "precision_20px", "success_rate_50"]
    # A succeeds in 3/4 frames (its absent frame never does), B in 5/5.
    assert metrics["success_rate_50"] == pytest.approx(100 * (0.75 + 1) / 2)
    assert metrics["success_auc"] == pytest.approx(100 * 20 / 21 * (0.75 + 1) / 2)


def test_built_by_the_trainer(dataset, tmp_path):
    cfg = add_mot_config(get_cfg())
    cfg.TEST.EVALUATOR = "sot"
    evaluator = MOTTrainer.build_evaluator(cfg, dataset, str(tmp_path))
    assert isinstance(evaluator, SOTEvaluator) and evaluator.output_dir == str(tmp_path)
