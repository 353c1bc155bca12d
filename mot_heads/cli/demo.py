"""``mot-demo``: track a video file, an image folder or a MOTChallenge sequence with a
trained model, writing an annotated MP4 and the tracks as MOTChallenge text.

Example::

    mot-demo --config-file configs/quick_schedules/siammot_EMM_R18_FPN_GN_synthetic.yaml \\
        --input street.mp4 --output output/demo MODEL.WEIGHTS output/siammot/model_final.pth

writes ``output/demo/street.mp4`` (boxes and ids in stable colours, short trails) and
``output/demo/street.txt``. SiamMOT models track with their solver in the loop; other
detectors hand their detections to ``TRACKER.NAME``.
"""
import argparse
import os
from typing import List, Optional

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.data.detection_utils import build_augmentation
from detectron2.modeling import build_model
from tqdm import tqdm

from trackers import parse_param_strings

from ..config import add_mot_config, fall_back_to_cpu
from ..engine.drawing import TrackPainter
from ..engine.online import build_driver
from ..engine.tracking import tracks_to_sequence
from ..engine.video_io import VideoWriter, open_frames
from ..evaluation.mot_files import write_mot_results
from .errors import exit_on_bad_input


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mot-demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True, metavar="YAML", help="the model's config")
    parser.add_argument("--input", required=True, metavar="VIDEO|FOLDER",
                        help="a video file, a folder of images, or a MOTChallenge sequence folder")
    parser.add_argument("--output", required=True, metavar="DIR", help="where <name>.mp4 and <name>.txt go")
    parser.add_argument("--frame-rate", type=float, default=None,
                        help="frames per second of the input (default: the video's, seqinfo.ini's, or 30)")
    parser.add_argument("--trail-length", type=int, default=20, help="frames of trail drawn behind each track")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="config overrides, e.g. MODEL.WEIGHTS model_final.pth TRACKER.PARAMS \"['start_threshold=0.7']\"")
    return parser


def load_model(config_file: str, opts: List[str]):
    """The config and the model in eval mode with ``MODEL.WEIGHTS`` loaded."""
    cfg = add_mot_config(get_cfg())
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"{config_file}: no such config file")
    try:
        cfg.merge_from_file(config_file)
        cfg.merge_from_list(opts)
    except AssertionError as e:  # yacs asserts on unknown keys and odd-length override lists
        raise KeyError(f"{config_file}: {e}") from e
    fall_back_to_cpu(cfg)
    if not cfg.MODEL.WEIGHTS:
        raise ValueError("MODEL.WEIGHTS is empty: give the weights of a trained model (MODEL.WEIGHTS path.pth)")
    if not os.path.isfile(cfg.MODEL.WEIGHTS):
        raise FileNotFoundError(f"{cfg.MODEL.WEIGHTS}: no such weights file (MODEL.WEIGHTS)")
    model = build_model(cfg)
    DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    return cfg, model.eval()


def model_input(frame: np.ndarray, augmentation, input_format: str) -> dict:
    """A BGR frame as the test-time input dict Detectron2's models take."""
    image = frame[:, :, ::-1] if input_format == "RGB" else frame
    resized = augmentation.get_transform(image).apply_image(image)
    tensor = torch.as_tensor(np.ascontiguousarray(resized.transpose(2, 0, 1)))
    return {"image": tensor, "height": frame.shape[0], "width": frame.shape[1]}


def track_source(cfg, model, source, output_dir: str, trail_length: int) -> List[str]:
    """Track every frame of ``source``; returns the written video and result paths."""
    driver = build_driver(model, cfg.TRACKER.NAME, source.frame_rate, parse_param_strings(cfg.TRACKER.PARAMS))
    (augmentation,) = build_augmentation(cfg, is_train=False)
    class_names = MetadataCatalog.get(cfg.DATASETS.TEST[0]).get("thing_classes") if cfg.DATASETS.TEST else None
    painter = TrackPainter(trail_length, class_names)
    video_path = os.path.join(output_dir, f"{source.name}.mp4")
    all_tracks = []
    with VideoWriter(video_path, source.frame_rate, source.width, source.height) as writer:
        frames = tqdm(source, total=source.num_frames or None, desc=source.name, unit="frame", disable=None)
        for index, frame in enumerate(frames, start=1):
            _, tracks = driver.step(model_input(frame, augmentation, cfg.INPUT.FORMAT))
            all_tracks.append(tracks)
            writer.write(painter.draw(frame, tracks, index))
    result_path = os.path.join(output_dir, f"{source.name}.txt")
    write_mot_results(result_path, tracks_to_sequence(all_tracks, source.name, len(all_tracks)))
    return [video_path, result_path]


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    with exit_on_bad_input():
        cfg, model = load_model(args.config_file, args.opts)
        with open_frames(args.input, args.frame_rate) as source:
            written = track_source(cfg, model, source, args.output, args.trail_length)
    print("wrote " + " and ".join(written))


if __name__ == "__main__":
    main()
