"""Two CPU processes training on CrowdHuman images (boxes without identities) next to
MOTChallenge videos (with identities): a process whose batch has no identity must still
give every parameter a gradient, else DistributedDataParallel stops at the next iteration
("Expected to have finished reduction in the prior iteration"). One image a process and
SEED 1: within the six iterations a process gets a CrowdHuman image alone. SiamMOT's
image pairs carry per-box track ids, and its video pairs refuse boxes without one, so its
track head always trains. DMTrack's recipe alternates batches without identities and
batches with them."""
import json
import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import write_sequence
from tests.data.test_crowdhuman import _write as write_crowdhuman

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _person(x, y):
    return {"tag": "person", "fbox": [x, y, 10, 16], "vbox": [x, y, 10, 16], "extra": {"ignore": 0}}


def _mot_gt(length: int) -> str:
    """Two pedestrians walking right, one line a box: frame,id,x,y,w,h,conf,class,visibility."""
    return "".join(f"{f},{t},{4 + 2 * f + 24 * (t - 1)},{8 + 4 * t},12,24,1,1,1.0\n"
                   for f in range(1, length + 1) for t in (1, 2))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mixed_root(tmp_path):
    """A $DETECTRON2_DATASETS with a MOT17 sequence and a CrowdHuman set, in their real layouts."""
    root = tmp_path / "datasets"
    (root / "CrowdHuman").mkdir(parents=True)
    write_sequence(root / "MOT17" / "train", "MOT17-02-FRCNN", length=6, gt=_mot_gt(6))
    names = [f"img-{i}" for i in range(6)]
    entries = [{"ID": name, "gtboxes": [_person(4 + 3 * i, 6), _person(26, 10 + i)]} for i, name in enumerate(names)]
    odgt, _ = write_crowdhuman(root / "CrowdHuman", entries, images=names)
    os.replace(odgt, root / "CrowdHuman" / "annotation_train.odgt")
    return str(root)


# DMTrack's recipe alternates detection batches (here CrowdHuman, no identities) with
# re-id batches of the MOT sets (here MOT17).
DMTRACK_ALTERNATING = ("INPUT.TRAIN_MAPPER", "DetectionPairMapper", "DATALOADER.SAMPLER_TRAIN", "AlternatingSampler",
                       "DATASETS.TRAIN", "('crowdhuman_train',)", "MODEL.DMTRACK.REID_DATASETS", "('mot17_train',)")


@pytest.mark.slow
@pytest.mark.parametrize("config, options", [
    ("oneshot_R18_FPN_GN_synthetic.yaml", ()), ("cstrack_R18_FPN_GN_synthetic.yaml", ()),
    ("dmtrack_R18_FPN_GN_synthetic.yaml", DMTRACK_ALTERNATING),
])
def test_two_processes_train_on_images_without_identities_next_to_videos(mixed_root, tmp_path, config, options):
    env = dict(os.environ, DETECTRON2_DATASETS=mixed_root, OMP_NUM_THREADS="1")
    cmd = [sys.executable, os.path.join(REPO, "projects/train_net.py"), "--num-gpus", "2",
           "--dist-url", f"tcp://127.0.0.1:{_free_port()}",
           "--config-file", os.path.join(REPO, "configs/quick_schedules", config),
           "DATASETS.TRAIN", "('crowdhuman_train', 'mot17_train')", "DATASETS.TEST", "()",
           "SOLVER.MAX_ITER", "6", "SOLVER.IMS_PER_BATCH", "2", "SEED", "1",
           "INPUT.MIN_SIZE_TRAIN", "(96,)", "INPUT.MAX_SIZE_TRAIN", "160",
           "OUTPUT_DIR", str(tmp_path / "out"), "DATALOADER.NUM_WORKERS", "0", *options]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in open(tmp_path / "out" / "metrics.json")]
    assert records[-1]["iteration"] == 5
