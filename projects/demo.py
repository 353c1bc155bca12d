#!/usr/bin/env python
"""Run a trained detector on images and write them with the detections drawn.

    python projects/demo.py --config-file CONFIG --input img1.jpg img2.jpg \
        --output out_dir/ MODEL.WEIGHTS output/model_final.pth
"""
import argparse
import logging
import os
import sys

import cv2
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.engine import DefaultPredictor
from detectron2.utils.logger import setup_logger
from detectron2.utils.visualizer import Visualizer
from tqdm import tqdm

from mot_heads import add_mot_config, fall_back_to_cpu, merge_config_file


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="model config (YAML)")
    parser.add_argument("--input", nargs="+", required=True, help="image files")
    parser.add_argument("--output", required=True,
                        help="output image file (one input) or folder (several inputs)")
    parser.add_argument("--confidence-threshold", type=float, default=0.5, help="minimum score drawn")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE pairs")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    setup_logger(name="mot_heads")
    cfg = add_mot_config(get_cfg())
    merge_config_file(cfg, args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = args.confidence_threshold
    fall_back_to_cpu(cfg)
    cfg.freeze()
    if cfg.MODEL.WEIGHTS and not os.path.isfile(cfg.MODEL.WEIGHTS):
        sys.exit(f"demo: MODEL.WEIGHTS {cfg.MODEL.WEIGHTS} does not exist")
    predictor = DefaultPredictor(cfg)
    metadata = MetadataCatalog.get(cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else "__unused")
    single = len(args.input) == 1 and os.path.splitext(args.output)[1] != ""
    if not single:
        os.makedirs(args.output, exist_ok=True)
    for path in tqdm(args.input, desc="images", disable=single):
        image = cv2.imread(path)
        if image is None:
            sys.exit(f"demo: {path} is missing or not a readable image")
        instances = predictor(image)["instances"].to("cpu")
        drawn = Visualizer(image[:, :, ::-1], metadata).draw_instance_predictions(instances)
        out = args.output if single else os.path.join(args.output, os.path.basename(path))
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        cv2.imwrite(out, drawn.get_image()[:, :, ::-1])
        logging.getLogger("mot_heads").info("%s: %d detections -> %s", path, len(instances), out)


if __name__ == "__main__":
    main()
