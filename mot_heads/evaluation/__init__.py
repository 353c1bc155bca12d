"""MOT evaluation: MOTChallenge files, preprocessing, HOTA (as TrackEval), CLEAR and
Identity (through motmetrics), and their combination over sequences; ReID retrieval
metrics (CMC, mAP) and the tracklet ReID evaluator of one-shot models; person search;
single-object tracking (LaSOT, VOT-LT, OxUvA) files, metrics and evaluator."""
from .clear_identity import COMBINED, evaluate_clear_identity
from .hota import ALPHAS, combine_hota, evaluate_hota, summarize_hota
from .mot_files import MOTSequence, read_mot_gt, read_mot_results, write_mot_results
from .mot_evaluator import MOTEvaluator
from .mot_metrics import METRIC_KEYS, evaluate_mot, format_table
from .person_search import PersonSearchEvaluator, person_search_metrics
from .plots import plot_sequence_bars, plot_success, plot_training_curves
from .preprocessing import PreprocessedSequence, box_iou_xywh, preprocess_sequence
from .reid_evaluator import TrackletReIDEvaluator
from .reid_metrics import retrieval_metrics
from .sot_evaluator import SOTEvaluator
from .sot_files import SOTFormatError, SOTSequence, read_sot_gt, read_sot_results, write_sot_results
from .sot_metrics import FrameScores, compare_frames, compare_sequences, evaluate_sot

__all__ = [
    "ALPHAS",
    "COMBINED",
    "FrameScores",
    "METRIC_KEYS",
    "MOTEvaluator",
    "MOTSequence",
    "PersonSearchEvaluator",
    "PreprocessedSequence",
    "SOTEvaluator",
    "SOTFormatError",
    "SOTSequence",
    "TrackletReIDEvaluator",
    "box_iou_xywh",
    "combine_hota",
    "compare_frames",
    "compare_sequences",
    "evaluate_clear_identity",
    "evaluate_hota",
    "evaluate_mot",
    "evaluate_sot",
    "format_table",
    "person_search_metrics",
    "plot_sequence_bars",
    "plot_success",
    "plot_training_curves",
    "preprocess_sequence",
    "read_mot_gt",
    "read_mot_results",
    "read_sot_gt",
    "read_sot_results",
    "retrieval_metrics",
    "summarize_hota",
    "write_mot_results",
    "write_sot_results",
]
