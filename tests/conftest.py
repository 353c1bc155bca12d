"""Shared fixtures: hand-written MOTChallenge sequences and a small synthetic set."""
import os

import cv2
import numpy as np
import pytest

from mot_heads.data import SyntheticConfig, generate_dataset

SEQINFO = """[Sequence]
name={name}
imDir=img1
frameRate=10
seqLength={length}
imWidth=64
imHeight=48
imExt=.jpg
"""


def write_sequence(root, name="SEQ-01", length=4, gt=None, det=None, seqinfo=None, images=None):
    """Write a MOTChallenge sequence folder with tiny images; returns its path."""
    seq = os.path.join(str(root), name)
    os.makedirs(os.path.join(seq, "img1"), exist_ok=True)
    for frame in range(1, length + 1) if images is None else images:
        cv2.imwrite(os.path.join(seq, "img1", f"{frame:06d}.jpg"), np.zeros((48, 64, 3), np.uint8))
    with open(os.path.join(seq, "seqinfo.ini"), "w") as f:
        f.write(SEQINFO.format(name=name, length=length) if seqinfo is None else seqinfo)
    for sub, text in (("gt", gt), ("det", det)):
        if text is not None:
            os.makedirs(os.path.join(seq, sub), exist_ok=True)
            with open(os.path.join(seq, sub, f"{sub}.txt"), "w") as f:
                f.write(text)
    return seq


TINY_SYNTHETIC = SyntheticConfig(seed=3, train_sequences=2, val_sequences=1, num_frames=12)


@pytest.fixture(scope="session")
def datasets_root(tmp_path_factory):
    """A $DETECTRON2_DATASETS holding the tiny synthetic set under synthetic/."""
    root = tmp_path_factory.mktemp("datasets")
    generate_dataset(str(root / "synthetic"), TINY_SYNTHETIC)
    return str(root)


@pytest.fixture(scope="session")
def synthetic_root(datasets_root):
    return os.path.join(datasets_root, "synthetic")
