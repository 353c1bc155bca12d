"""PNG plots: a training run's curves (Detectron2's ``metrics.json``), per-sequence scores
as grouped bars, and SOT success curves.

matplotlib is imported on use (it is slow to import and only plotting needs it); figures
are drawn on the Agg canvas, without a display and without pyplot's global state.
"""
import json
import os
from collections import defaultdict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from ..files import atomic_path, read_text
from .clear_identity import COMBINED
from .mot_metrics import COUNT_KEYS, METRIC_KEYS
from .sot_metrics import SUCCESS_THRESHOLDS

# Result families of the evaluators (MOT, COCO, SOT, ReID, person search); a metrics.json
# key ``[<dataset>/]<family>/<metric>`` of one of them is an evaluation score, in percent.
EVALUATION_FAMILIES = ("tracking", "bbox", "segm", "keypoints", "sot", "reid", "person_search")
# Evaluation metrics that are counts rather than percentages.
COUNT_METRICS = frozenset(COUNT_KEYS) | {"queries", "gallery"}
# evaluate_mot's ratios, fractions in [0, 1] (MOTA may be < 0); plotted in percent.
FRACTION_METRICS = frozenset(METRIC_KEYS) - frozenset(COUNT_KEYS)

Records = List[dict]


def _new_figure(width: float, height: float):
    """A matplotlib Figure on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: str) -> str:
    """Write ``figure`` as the PNG ``path``, which appears only once complete."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    return path


def plot_success(curves: Mapping[str, np.ndarray], path: str, title: str = "Success plots of OPE") -> None:
    """Write a PNG success plot: one curve per tracker (fractions at
    :data:`SUCCESS_THRESHOLDS`), the legend ``name [AUC]`` sorted by AUC as the toolkits."""
    figure = _new_figure(6, 5)
    axes = figure.add_subplot()
    for name, curve in sorted(curves.items(), key=lambda item: -float(np.mean(item[1]))):
        axes.plot(SUCCESS_THRESHOLDS, 100 * np.asarray(curve), linewidth=2,
                  label=f"{name} [{100 * float(np.mean(curve)):.1f}]")
    axes.set(xlabel="Overlap threshold", ylabel="Success rate [%]", xlim=(0, 1), ylim=(0, 100), title=title)
    axes.grid(True, linestyle=":")
    axes.legend(loc="lower left")
    _save(figure, path)


# ---------------------------------------------------------------------------- training runs

def read_metrics_json(output_dir: str) -> Records:
    """The records of ``output_dir/metrics.json``, one JSON object per line."""
    path = os.path.join(output_dir, "metrics.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist: expected the OUTPUT_DIR of a Detectron2 run, "
                                "where training writes metrics.json")
    records = []
    for number, line in enumerate(read_text(path, "metrics file").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{number}: not JSON ({e.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("iteration"), int):
            raise InputError(f"{path}:{number}: expected a JSON object with an integer \"iteration\"")
        records.append(record)
    return records


def _series(records: Records, key: str) -> Tuple[List[int], List[float]]:
    """Iterations and values of ``key`` over the records that have it, in file order."""
    points = [(r["iteration"], r[key]) for r in records if key in r]
    return [i for i, _ in points], [v for _, v in points]


def _evaluation_groups(records: Records) -> Dict[str, List[str]]:
    """Evaluation keys by subplot title: ``<family> [%]`` or ``<family> [count]``, in
    first-seen order. Per-class scores (``<metric>-<class>``) are left out."""
    groups = defaultdict(list)
    for record in records:
        for key in record:
            family, _, metric = key.rpartition("/")
            if family.rpartition("/")[2] not in EVALUATION_FAMILIES or "-" in metric:
                continue
            title = f"{family} [{'count' if metric in COUNT_METRICS else '%'}]"
            if key not in groups[title]:
                groups[title].append(key)
    return dict(groups)


def _plot_lines(axes, records: Records, keys: Sequence[str], strip_prefix: bool = False) -> None:
    for key in keys:
        iterations, values = _series(records, key)
        axes.plot(iterations, values, marker="o" if len(values) < 20 else None, markersize=4,
                  label=key.rpartition("/")[2] if strip_prefix else key)
    axes.set_xlabel("iteration")
    axes.grid(True, linestyle=":")
    axes.legend(fontsize="small")


def _plot_losses(records: Records, path: str) -> str:
    keys = ["total_loss"] + sorted({k for r in records for k in r if k.startswith("loss_")})
    figure = _new_figure(8, 5)
    axes = figure.add_subplot()
    _plot_lines(axes, records, keys)
    values = np.array([v for k in keys for v in _series(records, k)[1]], dtype=np.float64)
    # Log scale when the losses span more than two decades (and are all positive).
    if (values > 0).all() and values.max() > 100 * values.min():
        axes.set_yscale("log")
    axes.set(ylabel="loss", title="Training losses")
    return _save(figure, path)


def _plot_learning_rate(records: Records, path: str) -> str:
    figure = _new_figure(8, 4)
    axes = figure.add_subplot()
    _plot_lines(axes, records, ["lr"])
    axes.set(ylabel="learning rate", title="Learning rate")
    return _save(figure, path)


def _plot_evaluations(records: Records, groups: Dict[str, List[str]], path: str) -> str:
    figure = _new_figure(8, 3.5 * len(groups))
    for index, (title, keys) in enumerate(groups.items(), start=1):
        axes = figure.add_subplot(len(groups), 1, index)
        _plot_lines(axes, records, keys, strip_prefix=True)
        axes.set_title(title)
    figure.suptitle("Evaluations")
    figure.tight_layout()
    return _save(figure, path)


def plot_training_curves(output_dir: str, out_dir: str) -> List[str]:
    """Plot a Detectron2 run's ``output_dir/metrics.json`` into ``out_dir``; the paths written.

    ``losses.png``: ``total_loss`` and every ``loss_*`` over iterations (log scale when
    they span more than two decades); ``learning_rate.png`` when ``lr`` is logged;
    ``evaluation.png`` when the run has evaluations: one subplot per evaluator family
    (tracking, bbox, sot, ...), percentages and counts apart; per-class scores are left
    out. An evaluation-only run's record is plotted at the iteration it logged (0).
    """
    records = read_metrics_json(output_dir)
    training = [r for r in records if "total_loss" in r]
    if not training:
        raise InputError(f"{os.path.join(output_dir, 'metrics.json')} has no training record (no total_loss): "
                         "nothing to plot for an evaluation-only run")
    written = [_plot_losses(training, os.path.join(out_dir, "losses.png"))]
    if any("lr" in r for r in training):
        written.append(_plot_learning_rate(training, os.path.join(out_dir, "learning_rate.png")))
    groups = _evaluation_groups(records)
    if groups:
        written.append(_plot_evaluations(records, groups, os.path.join(out_dir, "evaluation.png")))
    return written


# ---------------------------------------------------------------------------- per-sequence bars

def _bar_unit(key: str) -> str:
    return "count" if key in COUNT_KEYS else "%"


def _bar_value(row: Mapping[str, Optional[float]], key: str) -> float:
    """The value as plotted: evaluate_mot's fractions in percent, None (undefined) as NaN."""
    value = row[key]
    if value is None:
        return float("nan")
    return 100.0 * value if key in FRACTION_METRICS else float(value)


def plot_sequence_bars(metrics: Dict[str, Dict[str, float]], keys: Sequence[str], path: str) -> str:
    """Grouped bars of ``keys``, one group per sequence, COMBINED last and set apart; ``path``.

    ``metrics`` is :func:`~mot_heads.evaluation.mot_metrics.evaluate_mot`'s (ratios as
    fractions, plotted in percent) or :func:`~mot_heads.evaluation.sot_metrics.evaluate_sot`'s
    (percentages; None left blank). Percentages and counts get one axis each.
    """
    if not metrics or not keys:
        raise ValueError("nothing to plot: give at least one sequence and one metric")
    for key in keys:
        lacking = [name for name, row in metrics.items() if key not in row]
        if lacking:
            raise ValueError(f"metric {key!r} is not in the rows of {', '.join(lacking)}; "
                             f"they have {', '.join(next(iter(metrics.values())))}")
    names = [n for n in metrics if n != COMBINED] + ([COMBINED] if COMBINED in metrics else [])
    # A gap of one bar-group width before COMBINED sets it apart.
    positions = np.arange(len(names), dtype=np.float64)
    if COMBINED in metrics and len(names) > 1:
        positions[-1] += 0.5
    units = {unit: [k for k in keys if _bar_unit(k) == unit] for unit in ("%", "count")}
    units = {unit: unit_keys for unit, unit_keys in units.items() if unit_keys}
    width = 0.8 / len(keys)
    figure = _new_figure(max(6.0, 1.5 + len(names) * (0.25 * len(keys) + 0.4)), 4.0 * len(units))
    for index, (unit, unit_keys) in enumerate(units.items(), start=1):
        axes = figure.add_subplot(len(units), 1, index)
        for offset, key in enumerate(unit_keys):
            bars = axes.bar(positions + (offset - (len(unit_keys) - 1) / 2) * width,
                            [_bar_value(metrics[n], key) for n in names], width, label=key)
            if names[-1] == COMBINED:
                bars[-1].set_hatch("//")
                bars[-1].set_edgecolor("black")
        if COMBINED in metrics and len(names) > 1:
            axes.axvline((positions[-2] + positions[-1]) / 2, color="gray", linestyle="--")
        axes.set_xticks(positions)
        axes.set_xticklabels(names, rotation=45 if len(names) > 8 else 0, ha="right" if len(names) > 8 else "center")
        if names[-1] == COMBINED:
            axes.get_xticklabels()[-1].set_fontweight("bold")
        axes.set_ylabel("percent" if unit == "%" else "count")
        axes.grid(True, axis="y", linestyle=":")
        axes.legend(fontsize="small", ncol=min(len(unit_keys), 6))
    figure.tight_layout()
    return _save(figure, path)
