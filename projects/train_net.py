#!/usr/bin/env python
"""Train or evaluate a registered model of this project, Detectron2 style (``mot train``).

    python projects/train_net.py --config-file configs/quick_schedules/faster_rcnn_R18_FPN_GN_synthetic.yaml
    python projects/train_net.py --config-file CONFIG --eval-only MODEL.WEIGHTS output/model_final.pth
    python projects/train_net.py --config-file CONFIG --num-gpus 2   # 2 processes (GPUs, or CPU with gloo)
"""
import sys

from detectron2.engine import default_argument_parser

from mot_heads.cli.train import run
from mot_heads.engine import MOTTrainer


class Trainer(MOTTrainer):
    """Override build_train_loader / build_evaluator here to experiment."""


if __name__ == "__main__":
    sys.exit(run(default_argument_parser().parse_args(), Trainer))
