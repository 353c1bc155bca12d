"""TUD-Campus and TUD-Stadtmitte (shipped in the motmetrics wheel) in the MOTChallenge layout."""
import os
import shutil

import motmetrics
import numpy as np
import pytest

from mot_heads.evaluation import MOTSequence

from ..conftest import write_sequence

TUD_DIR = os.path.join(os.path.dirname(motmetrics.__file__), "data")
TUD_NAMES = ("TUD-Campus", "TUD-Stadtmitte")


def max_frame(path):
    with open(path) as f:
        return max(int(line.split(",")[0]) for line in f if line.strip())


@pytest.fixture(scope="session")
def tud_dirs(tmp_path_factory):
    """(GT, RES): GT/<seq>/{seqinfo.ini, gt/gt.txt} and RES/<seq>.txt, seqLength = max gt frame."""
    root = tmp_path_factory.mktemp("tud")
    gt_root, res_root = root / "gt", root / "res"
    res_root.mkdir()
    for name in TUD_NAMES:
        gt_txt = os.path.join(TUD_DIR, name, "gt.txt")
        with open(gt_txt) as f:
            write_sequence(gt_root, name, length=max_frame(gt_txt), gt=f.read(), images=[])
        shutil.copy(os.path.join(TUD_DIR, name, "test.txt"), res_root / f"{name}.txt")
    return str(gt_root), str(res_root)


def make_sequence(name, seq_length, rows):
    """A MOTSequence from rows (frame, id, x, y, w, h, score_or_mark, class)."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 8)
    return MOTSequence(
        name=name, seq_length=seq_length, frames=rows[:, 0], ids=rows[:, 1], boxes=rows[:, 2:6],
        scores=rows[:, 6], classes=rows[:, 7], visibility=-np.ones(len(rows)),
    )
