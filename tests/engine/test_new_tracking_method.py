"""A sixth method with a driver of its own joins evaluation and video tracking through
two registrations in its own files (here: this one), without any change to the engine,
the evaluators or the command line."""
import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from detectron2.modeling import META_ARCH_REGISTRY
from torch import nn

from mot_heads import add_mot_config
from mot_heads.data import register_synthetic
from mot_heads.engine import MOTTrainer
from mot_heads.engine.drivers import DRIVER_REGISTRY, FrameResult, TrackingDriver
from mot_heads.engine.video_tracking import VideoTracker
from mot_heads.evaluation import read_mot_results
from trackers import Detections

STEPPED = []  # (video_id, frame_idx) of every frame a ForegroundDriver stepped, in order


@META_ARCH_REGISTRY.register()
class ForegroundBoxer(nn.Module):
    """The toy method's model: one box around the pixels far from the frame's median colour."""

    tracking_driver = "ForegroundDriver"

    def __init__(self, cfg):
        super().__init__()
        self.threshold = nn.Parameter(torch.tensor(40.0))

    def forward(self, batched_inputs):
        raise RuntimeError("ForegroundBoxer tracks through its driver")

    def foreground_box(self, frame: dict) -> np.ndarray:
        """(0 or 1, 4) x1, y1, x2, y2 in pixels of the original frame."""
        image = frame["image"].float()
        median = image.flatten(1).median(dim=1).values[:, None, None]
        ys, xs = torch.nonzero((image - median).abs().amax(dim=0) > self.threshold, as_tuple=True)
        if not len(xs):
            return np.zeros((0, 4))
        box = torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).double()
        scale = torch.tensor([frame["width"] / image.shape[2], frame["height"] / image.shape[1]] * 2)
        return (box * scale).numpy()[None]


@DRIVER_REGISTRY.register()
class ForegroundDriver(TrackingDriver):
    """The toy method's driver: the model's box, followed by the configured tracker."""

    tracker_in_the_loop = True

    def step(self, frame: dict) -> FrameResult:
        STEPPED.append((frame.get("video_id"), frame.get("frame_idx")))
        with torch.no_grad():
            boxes = self.model.foreground_box(frame)
        return FrameResult(self.tracker.update(Detections(boxes, np.ones(len(boxes)))), {})


@pytest.fixture(scope="module")
def config(synthetic_root, tmp_path_factory):
    register_synthetic(synthetic_root, prefix="sixth")
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_list([
        "MODEL.META_ARCHITECTURE", "ForegroundBoxer", "MODEL.DEVICE", "cpu", "DATASETS.TEST", ("sixth_val",),
        "TEST.EVALUATOR", "mot", "TRACKER.NAME", "sort", "TRACKER.PARAMS", ["min_hits=0"],
        "INPUT.MIN_SIZE_TEST", 96, "INPUT.MAX_SIZE_TEST", 160, "DATALOADER.NUM_WORKERS", 0,
        "OUTPUT_DIR", str(tmp_path_factory.mktemp("sixth")),
    ])
    return cfg


def test_evaluation_tracks_with_the_models_own_driver(config):
    STEPPED.clear()
    model = MOTTrainer.build_model(config)
    metrics = MOTTrainer.test(config, model)["tracking"]
    records = DatasetCatalog.get("sixth_val")
    assert STEPPED == [(r["video_id"], r["frame_idx"]) for r in records]  # every frame, in order
    assert {"HOTA", "MOTA", "IDF1", "HOTA-person"} <= set(metrics)
    video = records[0]["video_id"]
    result = read_mot_results(f"{config.OUTPUT_DIR}/inference/sixth_val/{video}.txt", video, len(records))
    assert result.frames.tolist() == list(range(1, len(records) + 1))  # one foreground box a frame
    assert set(result.ids.tolist()) == {1}  # followed as one track


def test_video_tracking_uses_the_same_driver(config):
    STEPPED.clear()
    model = MOTTrainer.build_model(config).eval()
    frames = [np.zeros((48, 64, 3), np.uint8) for _ in range(3)]
    for frame, x in zip(frames, (10, 12, 14)):
        frame[20:30, x:x + 8] = 255
    video_tracker = VideoTracker(config, model)
    assert not video_tracker.single_target
    steps = list(video_tracker.track(frames, frame_rate=10.0))
    assert len(STEPPED) == 3 and [f is frame for (f, _), frame in zip(steps, frames)] == [True] * 3
    assert [tracks.track_ids.tolist() for _, tracks in steps] == [[1], [1], [1]]
    np.testing.assert_allclose(steps[0][1].boxes, [[10, 20, 18, 30]], atol=1.5)  # resized and back
