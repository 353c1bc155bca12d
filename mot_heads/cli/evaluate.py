"""Score tracking result files (MOT or SOT) against ground truth, or evaluate a model on its test set.

Examples::

    mot evaluate --gt-dir datasets/MOT17/train --results-dir results/sort
    mot evaluate --gt-dir datasets/MOT20/train --results-dir results/jde \\
        --distractor-classes 2,6,7,8,12 --json scores.json --csv scores.csv
    mot evaluate --gt-dir datasets/synthetic/val --results-dir output/track \\
        --classes 1,2 --class-names person,car --distractor-classes '' --plot-dir output/plots
    mot evaluate --gt-dir datasets/LaSOT_test --results-dir results/dmtrack --json scores.json --plot-dir plots
    mot evaluate --config-file CONFIG MODEL.WEIGHTS output/run/model_final.pth

Result files (--gt-dir and --results-dir): the tracker's output is RES/<seq>.txt, one per
ground-truth sequence; whether GT holds MOT or SOT sequences is read from its layout.
RES/<seq>.partial.txt files (what an interrupted `mot track` run wrote) are left out, with
a warning. --json, --csv and --plot-dir are checked before scoring, and each file appears
only once complete.

MOT: every GT/<seq>/ with a seqinfo.ini is a sequence, its ground truth GT/<seq>/gt/gt.txt
(a folder with gt/, img1/ or det/ but no seqinfo.ini is an error); gt files have 9 columns
(MOT16/17/20) or 10 (MOT15, no class), gt classes are 1..13, -1 or one of --classes and
--distractor-classes. Results in the MOTChallenge format, 7 to 10 columns, one format per
file: column 8, when given, is the class (an integer), except in MOT15-3D files (columns
8-10 world coordinates), which are read without a class, with a warning. Ids are integers
(at most 2^53). A --classes id without gt rows is an error. HOTA follows
TrackEval's definition, CLEAR and Identity come from motmetrics, both after TrackEval's
MOTChallenge preprocessing (boxes on distractors and zero-marked gt do not count). Ratios
are printed as percentages; COMBINED scores all sequences together. With several
--classes, each class gets its table and COMBINED averages the classes as TrackEval does
(the mean of each ratio, the sum of each count). The synthetic set (mot demo-data) has
classes 1 (person) and 2 (car) and no distractors: pass --distractor-classes ''.

SOT: every GT/<seq>/ with a groundtruth.txt is a sequence; frames flagged in
full_occlusion.txt, out_of_view.txt (LaSOT) or absence.label (GOT-10k), or whose line is
nan,nan,nan,nan or 0,0,0,0, have no target. RES/<seq>.txt holds one line per frame:
x,y,w,h, or x,y,w,h,confidence in every file for the long-term metrics; nan or 0,0,0,0
reports the target absent. Printed, in percent: LaSOT success AUC, precision at 20 px,
normalised precision (at 0.2, and its AUC over 0..0.5); OxUvA TPR, TNR and MaxGM; VOT-LT
precision, recall and F-score when the results carry confidences. COMBINED scores all
sequences together, each benchmark's way.

A model (--config-file): `mot train --eval-only` on DATASETS.TEST with TEST.EVALUATOR, in
one process; the results are printed and appended to OUTPUT_DIR/metrics.json, the
evaluators' files (e.g. the tracks) go to OUTPUT_DIR/inference/<dataset>/.
"""
import argparse
import contextlib
import logging
import os
import sys
from typing import Dict, Iterable, List, Mapping, Tuple

import numpy as np
from detectron2.evaluation.testing import flatten_results_dict
from tqdm import tqdm

from ..data.mot_challenge import MOT_IGNORE_CLASSES, NOT_GIVEN, find_sequences, looks_like_sequence
from ..data.sot import GT_FILE, find_sot_sequences
from ..errors import InputError
from ..evaluation.clear_identity import COMBINED
from ..evaluation.metric_tables import Table, write_tables_csv, write_tables_json
from ..evaluation.mot_files import MOTSequence, read_mot_gt, read_mot_results
from ..evaluation.mot_metrics import average_classes, evaluate_mot_classes, format_table
from ..evaluation.plots import plot_sequence_bars, plot_success
from ..evaluation.sot_files import SOTSequence, read_sot_gt, read_sot_results
from ..evaluation.sot_metrics import compare_sequences, evaluate_sot, format_sot_table, mean_success_curve
from ..files import writable_folder
from .errors import exit_on_bad_input
from .train import check_inputs, train_or_evaluate

# Options of the result-file mode, by flag; None when not given (defaults come later).
FILE_OPTIONS = {"--json": "json", "--csv": "csv", "--plot-dir": "plot_dir", "--classes": "classes",
                "--class-names": "class_names", "--distractor-classes": "distractor_classes"}
MOT_OPTIONS = ("--classes", "--class-names", "--distractor-classes")
DEFAULT_CLASSES = (1,)  # MOTChallenge's pedestrian
BAR_KEYS = ("HOTA", "MOTA", "IDF1")
PARTIAL_SUFFIX = ".partial.txt"  # the result of a `mot track` run stopped by Ctrl-C


def _class_list(text: str) -> Tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class ids such as 2,7,8,12, got {text!r}")


def _name_list(text: str) -> List[str]:
    return [v.strip() for v in text.split(",")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt-dir", metavar="GT",
                        help="folder of sequence folders: MOT, each with seqinfo.ini and gt/gt.txt (e.g. "
                        "datasets/MOT17/train); SOT, each with groundtruth.txt and optionally full_occlusion.txt, "
                        "out_of_view.txt or absence.label")
    parser.add_argument("--results-dir", metavar="RES",
                        help="folder of result files named <seq>.txt, one per gt sequence (e.g. as mot track "
                        "writes them)")
    parser.add_argument("--json", metavar="FILE",
                        help="also write the metrics as JSON: {sequence or COMBINED: {metric: value}}; with "
                        "several --classes {class or COMBINED: {sequence or COMBINED: {metric: value}}}")
    parser.add_argument("--csv", metavar="FILE",
                        help="also write the metrics as CSV, one row per sequence and one for COMBINED; with "
                        "several --classes the rows of each class and of COMBINED, the class in the first column")
    parser.add_argument("--plot-dir", metavar="DIR",
                        help="also write PNG plots there: MOT, bars of HOTA, MOTA and IDF1 per sequence "
                        "(sequences.png, or sequences-<class>.png per class and COMBINED); SOT, the success "
                        "plot (success.png)")
    parser.add_argument("--classes", type=_class_list, metavar="IDS",
                        help="MOT: the gt classes scored, each apart (default 1, MOTChallenge's pedestrian; "
                        "1,2 for the synthetic set's person and car); result rows of another class > 0 do not "
                        "count for a class, rows of class -1 or 0 count for every class")
    parser.add_argument("--class-names", type=_name_list, metavar="NAMES",
                        help="MOT: a name for each of --classes, for the tables and files (e.g. person,car; "
                        "default: the ids)")
    parser.add_argument("--distractor-classes", type=_class_list, metavar="IDS",
                        help="MOT: gt classes whose matched result boxes are ignored (default "
                        f"{','.join(map(str, MOT_IGNORE_CLASSES))} as TrackEval for MOT16/17; 2,6,7,8,12 for "
                        "MOT20; '' for none, e.g. for the synthetic set, whose class 2 is car)")
    parser.add_argument("--config-file", metavar="FILE",
                        help="evaluate a model instead of result files: its config, MODEL.WEIGHTS among the "
                        "KEY VALUE overrides")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="with --config-file: config overrides, e.g. MODEL.WEIGHTS output/run/model_final.pth")


def run(args: argparse.Namespace) -> int:
    with exit_on_bad_input():
        uses_model = _uses_model(args)
    if uses_model:
        evaluate_model(args.config_file, args.opts)
    else:
        evaluate_files(args)
    return 0


def _uses_model(args: argparse.Namespace) -> bool:
    """True for a model, False for result files; raises when the options mix the modes or
    miss one of a mode's options."""
    files = args.gt_dir is not None or args.results_dir is not None
    if files == (args.config_file is not None):
        raise InputError("give --gt-dir and --results-dir to score result files, or --config-file to evaluate "
                         "a model" + (", not both" if files else ""))
    if args.config_file is not None:
        given = [flag for flag, dest in FILE_OPTIONS.items() if getattr(args, dest) is not None]
        if given:
            raise InputError(f"{', '.join(given)} apply to result files, not to a model (--config-file), "
                             "whose results go to OUTPUT_DIR")
        return True
    if args.gt_dir is None or args.results_dir is None:
        raise InputError("scoring result files needs both --gt-dir and --results-dir")
    if args.opts:
        raise InputError(f"the config overrides {' '.join(args.opts)} need --config-file (a model to evaluate)")
    return False


# ---------------------------------------------------------------------------- a model

def evaluate_model(config_file: str, opts: List[str]) -> None:
    """``mot train --eval-only`` in this process; prints the results."""
    train_args = argparse.Namespace(config_file=config_file, opts=opts, eval_only=True, resume=False)
    with exit_on_bad_input():
        cfg = check_inputs(train_args)
    results = flatten_results_dict(train_or_evaluate(train_args, cfg))
    print(f"results on {', '.join(cfg.DATASETS.TEST)} (also in {os.path.join(cfg.OUTPUT_DIR, 'metrics.json')}):")
    width = max(map(len, results), default=0)
    for key, value in results.items():
        shown = str(value) if isinstance(value, (int, np.integer)) else f"{value:.2f}"
        print(f"  {key.ljust(width)}  {shown}")


# ---------------------------------------------------------------------------- result files

def gt_kind(gt_dir: str) -> str:
    """``"mot"`` when GT's sequence folders hold seqinfo.ini, ``"sot"`` when they hold groundtruth.txt."""
    if not os.path.isdir(gt_dir):
        raise FileNotFoundError(f"{gt_dir}: no such folder; expected sequence folders inside")
    folders = [os.path.join(gt_dir, d) for d in os.listdir(gt_dir)]
    if any(looks_like_sequence(d) for d in folders):
        return "mot"
    if any(os.path.exists(os.path.join(d, GT_FILE)) for d in folders):
        return "sot"
    raise InputError(f"{gt_dir}: no sequence folder inside holds seqinfo.ini and gt/gt.txt (MOT) or {GT_FILE} (SOT)")


def _result_paths(gt_dir: str, results_dir: str, names: List[str]) -> Dict[str, str]:
    """RES/<seq>.txt of every gt sequence, sorted by name, checked one to one; partial
    results are left out with a warning."""
    if not os.path.isdir(results_dir):
        raise FileNotFoundError(f"{results_dir}: no such folder; expected one <seq>.txt result file per sequence")
    listed = [f for f in os.listdir(results_dir) if f.endswith(".txt") and not f.startswith(".")]  # not hidden
    partial = sorted(f for f in listed if f.endswith(PARTIAL_SUFFIX))
    if partial:
        print(f"warning: {results_dir}: left out {', '.join(partial)}, the partial results of an interrupted "
              "mot track run", file=sys.stderr)
    files = {f[:-4] for f in listed if f not in partial}
    no_gt, no_result = sorted(files - set(names)), sorted(set(names) - files)
    if no_gt:
        raise InputError(f"{results_dir}: results for sequences without ground truth in {gt_dir}: {', '.join(no_gt)}")
    if no_result:
        raise InputError(f"{results_dir}: no <seq>.txt result file for the sequences {', '.join(no_result)}")
    return {name: os.path.join(results_dir, f"{name}.txt") for name in sorted(names)}


def read_folders(
    gt_dir: str, results_dir: str, known_classes: Iterable[int] = ()
) -> Tuple[Dict[str, MOTSequence], Dict[str, MOTSequence]]:
    """MOT ground truth and results of every sequence, checked one to one; gt classes
    beyond MOTChallenge's must be among ``known_classes``."""
    seq_dirs = {os.path.basename(os.path.normpath(d)): d for d in find_sequences(gt_dir)}
    paths = _result_paths(gt_dir, results_dir, list(seq_dirs))
    gts, results = {}, {}
    for name in tqdm(paths, desc="reading", unit="seq", disable=None):
        gts[name] = read_mot_gt(seq_dirs[name], known_classes)
        results[name] = read_mot_results(paths[name], name, gts[name].seq_length)
    return gts, results


def read_sot_folders(gt_dir: str, results_dir: str) -> Tuple[Dict[str, SOTSequence], Dict[str, SOTSequence]]:
    """SOT ground truth and results of every sequence, checked one to one."""
    seq_dirs = {os.path.basename(d): d for d in find_sot_sequences(gt_dir)}
    paths = _result_paths(gt_dir, results_dir, list(seq_dirs))
    gts, results = {}, {}
    for name in tqdm(paths, desc="reading", unit="seq", disable=None):
        gts[name] = read_sot_gt(seq_dirs[name])
        results[name] = read_sot_results(paths[name], name, len(gts[name]))
    return gts, results


def evaluate_files(args: argparse.Namespace) -> None:
    """Score, print and write what the options ask for; bad input exits with one sentence."""
    with exit_on_bad_input():
        kind = gt_kind(args.gt_dir)
        _check_outputs(args)
        if kind == "mot":
            _evaluate_mot_files(args)
        else:
            given = [flag for flag in MOT_OPTIONS if getattr(args, FILE_OPTIONS[flag]) is not None]
            if given:
                raise InputError(f"{', '.join(given)} apply to MOT ground truth; {args.gt_dir} holds SOT sequences")
            _evaluate_sot_files(args)


def _check_outputs(args: argparse.Namespace) -> None:
    """--json, --csv and --plot-dir can be written (checked before any scoring)."""
    for flag, path in (("--json", args.json), ("--csv", args.csv)):
        if path is None:
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise InputError(f"{path}: {flag} names a folder; expected a file name")
        if not os.path.exists(folder):
            raise InputError(f"{path}: cannot write (No such file or directory); {flag} expects a file in an "
                             "existing folder")
        writable_folder(folder, f"folder of {flag}")
    if args.plot_dir is not None:
        writable_folder(args.plot_dir, "--plot-dir folder")


def _check_selection(gts: Mapping[str, MOTSequence], classes: Mapping[str, int], gt_dir: str) -> None:
    """Every scored class has gt rows (of that class or without a class, mark not 0) in
    some sequence: a score of nothing (MOTA of -FP) is no score."""
    for class_id in classes.values():
        if not any((np.isin(g.classes, (class_id, NOT_GIVEN)) & (g.scores.astype(int) != 0)).any()
                   for g in gts.values()):
            raise InputError(f"--classes {class_id}: no sequence in {gt_dir} has a gt row of class {class_id} "
                             "(with a mark other than 0), so there is nothing to score for it")


def _mot_classes(args: argparse.Namespace) -> Dict[str, int]:
    """Class name -> gt class id, from --classes and --class-names."""
    ids = DEFAULT_CLASSES if args.classes is None else args.classes
    names = [str(i) for i in ids] if args.class_names is None else args.class_names
    if not ids:
        raise InputError("--classes is empty: give at least one gt class id, e.g. --classes 1")
    if len(names) != len(ids):
        raise InputError(f"--class-names gives {len(names)} names for {len(ids)} --classes")
    if len(set(ids)) < len(ids) or len(set(names)) < len(names) or COMBINED in names or "" in names:
        raise InputError(f"--classes and --class-names must be distinct and not empty, and no class named {COMBINED}")
    return dict(zip(names, ids))


def _evaluate_mot_files(args: argparse.Namespace) -> None:
    classes = _mot_classes(args)
    distractors = MOT_IGNORE_CLASSES if args.distractor_classes is None else args.distractor_classes
    both = sorted(set(classes.values()) & set(distractors))
    if both:
        raise InputError(f"gt class {both[0]} is scored and also a distractor class (--distractor-classes "
                         f"{','.join(map(str, distractors))}); for the synthetic set pass --distractor-classes ''")
    # What preprocessing removed, per sequence, on stderr; not also through the root
    # logger, which motmetrics' logging.info calls give a handler.
    log = logging.getLogger("mot_heads.evaluation")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        gts, results = read_folders(args.gt_dir, args.results_dir, [*classes.values(), *distractors])
        _check_selection(gts, classes, args.gt_dir)
        tables = evaluate_mot_classes(gts, results, classes, distractors, progress=True)
    finally:
        log.removeHandler(handler)
        log.propagate = True
    if len(tables) > 1:
        tables[COMBINED] = average_classes(tables)
        for name, table in tables.items():
            title = f"class {name} (gt class {classes[name]})" if name in classes else (
                f"{COMBINED}: the class average (mean of each ratio, sum of each count)")
            print(f"{title}\n{format_table(table)}\n")
    else:
        print(format_table(next(iter(tables.values()))))
    _write_tables(args, tables)
    if args.plot_dir:
        for name, table in tables.items():
            path = os.path.join(args.plot_dir, "sequences.png" if len(tables) == 1 else f"sequences-{name}.png")
            with _writing(path):
                plot_sequence_bars(table, BAR_KEYS, path)
            print(f"wrote {path}")


def _evaluate_sot_files(args: argparse.Namespace) -> None:
    gts, results = read_sot_folders(args.gt_dir, args.results_dir)
    frames = compare_sequences(gts, results, progress=True)
    metrics = evaluate_sot(frames)
    print(format_sot_table(metrics))
    _write_tables(args, {"sot": metrics})
    if args.plot_dir:
        path = os.path.join(args.plot_dir, "success.png")
        tracker = os.path.basename(os.path.normpath(args.results_dir))
        with _writing(path):
            plot_success({tracker: mean_success_curve(frames.values())}, path)
        print(f"wrote {path}")


@contextlib.contextmanager
def _writing(path: str):
    """An OSError while writing ``path`` as one sentence (an InputError)."""
    try:
        yield
    except OSError as e:
        raise InputError(f"{e.filename or path}: cannot write ({e.strerror or e})") from e


def _write_tables(args: argparse.Namespace, tables: Mapping[str, Table]) -> None:
    """--json and --csv: one table as it is, several by class (see the options' help)."""
    if args.json:
        with _writing(args.json):
            write_tables_json(args.json, tables)
    if args.csv:
        with _writing(args.csv):
            write_tables_csv(args.csv, tables)
