"""CLEAR and Identity metrics on TUD equal motmetrics' own evaluation and its published numbers."""
import os

import motmetrics as mm
import numpy as np
import pytest

from mot_heads.evaluation import evaluate_mot, read_mot_gt, read_mot_results

from .conftest import TUD_DIR, TUD_NAMES, make_sequence

# Our key -> motmetrics metric name; MOTP is compared as 1 - motmetrics' distance MOTP.
MM_NAMES = {
    "MOTA": "mota", "IDF1": "idf1", "IDP": "idp", "IDR": "idr", "IDSW": "num_switches",
    "FP": "num_false_positives", "FN": "num_misses", "Frag": "num_fragmentations",
    "MT": "mostly_tracked", "PT": "partially_tracked", "ML": "mostly_lost",
}
# py-motmetrics' tests/test_metrics.py::test_motchallenge_files (asserted there with atol 1e-3):
# idf1, idp, idr, MT, PT, ML, FP, FN, IDSW, Frag, MOTA, MOTP (as a distance).
PUBLISHED = {
    "TUD-Campus": (0.557659, 0.729730, 0.451253, 1, 6, 1, 13, 150, 7, 7, 0.526462, 0.277201),
    "TUD-Stadtmitte": (0.644619, 0.819760, 0.531142, 5, 4, 1, 45, 452, 7, 6, 0.564014, 0.345904),
    "COMBINED": (0.624296, 0.799176, 0.512211, 6, 10, 2, 58, 602, 14, 13, 0.555116, 0.330177),
}
PUBLISHED_KEYS = ("IDF1", "IDP", "IDR", "MT", "PT", "ML", "FP", "FN", "IDSW", "Frag", "MOTA")


@pytest.fixture(scope="module")
def ours(tud_dirs):
    gt_root, res_root = tud_dirs
    gts = {n: read_mot_gt(os.path.join(gt_root, n)) for n in TUD_NAMES}
    results = {
        n: read_mot_results(os.path.join(res_root, f"{n}.txt"), n, gts[n].seq_length) for n in TUD_NAMES
    }
    return evaluate_mot(gts, results)


@pytest.fixture(scope="module")
def motmetrics_own():
    """TUD scored the way motmetrics' test suite and eval_motchallenge app do."""
    accs = []
    for name in TUD_NAMES:
        gt = mm.io.loadtxt(os.path.join(TUD_DIR, name, "gt.txt"), fmt="mot15-2D", min_confidence=1)
        ts = mm.io.loadtxt(os.path.join(TUD_DIR, name, "test.txt"), fmt="mot15-2D")
        accs.append(mm.utils.compare_to_groundtruth(gt, ts, "iou", distth=0.5))
    mh = mm.metrics.create()
    summary = mh.compute_many(accs, metrics=mm.metrics.motchallenge_metrics, names=list(TUD_NAMES),
                              generate_overall=True)
    return summary.rename(index={"OVERALL": "COMBINED"})


@pytest.mark.parametrize("name", TUD_NAMES + ("COMBINED",))
def test_equal_to_motmetrics(ours, motmetrics_own, name):
    row = motmetrics_own.loc[name]
    for key, mm_name in MM_NAMES.items():
        assert ours[name][key] == pytest.approx(float(row[mm_name]), abs=1e-12), key
    assert ours[name]["MOTP"] == pytest.approx(1 - float(row["motp"]), abs=1e-12)


@pytest.mark.parametrize("name", TUD_NAMES + ("COMBINED",))
def test_equal_to_published_numbers(ours, name):
    *values, motp_distance = PUBLISHED[name]
    for key, value in zip(PUBLISHED_KEYS, values):
        if isinstance(value, int):
            assert ours[name][key] == value, key
        else:
            assert ours[name][key] == pytest.approx(value, abs=1e-6), key
    assert ours[name]["MOTP"] == pytest.approx(1 - motp_distance, abs=1e-6)


def test_types_and_ranges(ours):
    for row in ours.values():
        for key in ("IDSW", "FP", "FN", "Frag", "MT", "PT", "ML"):
            assert type(row[key]) is int
        for key in ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA",
                    "MOTP", "IDF1", "IDP", "IDR"):
            assert type(row[key]) is float and 0 <= row[key] <= 1


def test_empty_sequences_take_trackeval_values():
    # A: no tracker boxes; B: no gt; C: neither. motmetrics gives NaN / -inf for some of
    # these; TrackEval's x / max(1, n) values are reported instead.
    gts = {"A": make_sequence("A", 2, [[1, 1, 0, 0, 10, 10, 1, 1], [2, 1, 0, 0, 10, 10, 1, 1]]),
           "B": make_sequence("B", 2, []), "C": make_sequence("C", 2, [])}
    results = {"A": make_sequence("A", 2, []), "B": make_sequence("B", 2, [[1, 5, 0, 0, 10, 10, 1, -1]]),
               "C": make_sequence("C", 2, [])}
    m = evaluate_mot(gts, results)
    a = m["A"]
    assert (a["MOTA"], a["FN"], a["ML"], a["MOTP"], a["IDF1"]) == (0.0, 2, 1, 0.0, 0.0)
    assert (m["B"]["MOTA"], m["B"]["FP"], m["B"]["IDP"]) == (-1.0, 1, 0.0)  # (0 - 1 - 0) / max(1, 0)
    assert all(np.isfinite(v) for v in m["C"].values())
    assert (m["COMBINED"]["MOTA"], m["COMBINED"]["MOTP"]) == (-0.5, 0.0)  # (0 - 1 - 0) / 2
