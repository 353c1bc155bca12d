"""HOTA + CLEAR + Identity of a set of sequences, per sequence and combined, and a table.

Sequences are combined as TrackEval's ``COMBINED_SEQ``: HOTA by
:func:`~mot_heads.evaluation.hota.combine_hota`, CLEAR/Identity from summed counts;
classes as TrackEval's class average: the mean of each ratio, the sum of each count.
"""
from typing import Dict, Mapping, Sequence, Union

import numpy as np
from tqdm import tqdm

from ..data.mot_challenge import MOT_IGNORE_CLASSES
from .clear_identity import COMBINED, evaluate_clear_identity
from .hota import combine_hota, evaluate_hota, summarize_hota
from .mot_files import MOTSequence
from .preprocessing import preprocess_sequence

# Every key evaluate_mot reports, in table order; ratios in [0, 1] (MOTA may be < 0).
HOTA_KEYS = ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA")
CLEAR_ID_KEYS = ("MOTA", "MOTP", "IDF1", "IDP", "IDR", "IDSW", "FP", "FN", "Frag", "MT", "PT", "ML")
METRIC_KEYS = HOTA_KEYS + CLEAR_ID_KEYS
COUNT_KEYS = ("IDSW", "FP", "FN", "Frag", "MT", "PT", "ML")

Metrics = Dict[str, Union[int, float]]


def check_sequence_names(gts: Mapping[str, object], results: Mapping[str, object]) -> None:
    """Raises ValueError unless ``gts`` and ``results`` name the same sequences, at least
    one, none of them named COMBINED."""
    no_gt = sorted(set(results) - set(gts))
    if no_gt:
        raise ValueError(f"results for sequences without ground truth: {', '.join(no_gt)}")
    no_result = sorted(set(gts) - set(results))
    if no_result:
        raise ValueError(f"no results for ground-truth sequences: {', '.join(no_result)}")
    if COMBINED in gts:
        raise ValueError(f"a sequence may not be named {COMBINED}: the name is kept for the combined row")
    if not gts:
        raise ValueError("no sequence to evaluate")


def evaluate_mot(
    gts: Mapping[str, MOTSequence],
    results: Mapping[str, MOTSequence],
    class_id: int = 1,
    distractor_classes: Sequence[int] = MOT_IGNORE_CLASSES,
    progress: bool = False,
) -> Dict[str, Metrics]:
    """Metrics of each sequence and of ``"COMBINED"`` (keys :data:`METRIC_KEYS`).

    ``gts`` and ``results`` map sequence names to rows; every gt sequence needs a result
    (possibly empty) and every result a gt, else ValueError naming them. Ratios are python
    floats, counts python ints. ``progress`` shows a progress bar over sequences.
    """
    check_sequence_names(gts, results)
    names = sorted(gts)
    prepared, hota = [], {}
    # disable=None: tqdm shows the bar only on a terminal.
    for name in tqdm(names, desc="evaluating", unit="seq", disable=None if progress else True):
        seq = preprocess_sequence(gts[name], results[name], class_id, distractor_classes)
        prepared.append(seq)
        hota[name] = evaluate_hota(seq.gt_ids, seq.tracker_ids, seq.similarity)
    hota[COMBINED] = combine_hota(hota[n] for n in names)
    clear_id = evaluate_clear_identity(prepared)
    out = {}
    for name in names + [COMBINED]:
        summary = summarize_hota(hota[name])
        row = {k: summary[k] for k in HOTA_KEYS}
        row.update(clear_id[name])
        out[name] = {k: (int(row[k]) if k in COUNT_KEYS else float(row[k])) for k in METRIC_KEYS}
    return out


def evaluate_mot_classes(
    gts: Mapping[str, MOTSequence],
    results: Mapping[str, MOTSequence],
    classes: Mapping[str, int],
    distractor_classes: Sequence[int] = MOT_IGNORE_CLASSES,
    progress: bool = False,
) -> Dict[str, Dict[str, Metrics]]:
    """:func:`evaluate_mot` of every class of ``classes`` (name -> gt class id), by name."""
    return {
        name: evaluate_mot(gts, results, class_id, distractor_classes, progress)
        for name, class_id in classes.items()
    }


def average_classes(per_class: Mapping[str, Mapping[str, Metrics]]) -> Dict[str, Metrics]:
    """TrackEval's class average of each row (sequence or COMBINED) of
    :func:`evaluate_mot_classes`'s tables: the mean over classes of each ratio, the sum of
    each count."""
    tables = list(per_class.values())
    averaged = {}
    for row in tables[0]:
        values = {key: [table[row][key] for table in tables] for key in METRIC_KEYS}
        averaged[row] = {key: sum(v) if key in COUNT_KEYS else float(np.mean(v)) for key, v in values.items()}
    return averaged


def format_table(metrics: Mapping[str, Metrics]) -> str:
    """A text table: one row per sequence then COMBINED; ratios as percentages (1 decimal)."""
    names = [n for n in metrics if n != COMBINED] + ([COMBINED] if COMBINED in metrics else [])
    cells = [["Sequence", *METRIC_KEYS]]
    for name in names:
        row = metrics[name]
        cells.append([name] + [str(row[k]) if k in COUNT_KEYS else f"{100 * row[k]:.1f}"
                               for k in METRIC_KEYS])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    if COMBINED in metrics and len(names) > 1:
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)
