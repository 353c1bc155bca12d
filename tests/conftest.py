"""Shared fixtures: hand-written MOTChallenge sequences and a small synthetic set.

Imports of OpenCV and mot_heads stay inside the functions, so that tests which need
neither (tests/trackers) run where only numpy and scipy are installed.
"""
import os

import numpy as np
import pytest

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
    import cv2

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


@pytest.fixture(scope="session")
def tiny_synthetic():
    """The configuration of the tiny synthetic set: 2 training and 1 validation video of 12 frames."""
    from mot_heads.data import SyntheticConfig

    return SyntheticConfig(seed=3, train_sequences=2, val_sequences=1, num_frames=12)


@pytest.fixture(scope="session")
def datasets_root(tmp_path_factory, tiny_synthetic):
    """A $DETECTRON2_DATASETS holding the tiny synthetic set under synthetic/."""
    from mot_heads.data import generate_dataset

    root = tmp_path_factory.mktemp("datasets")
    generate_dataset(str(root / "synthetic"), tiny_synthetic)
    return str(root)


@pytest.fixture(scope="session")
def synthetic_root(datasets_root):
    return os.path.join(datasets_root, "synthetic")
