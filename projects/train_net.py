#!/usr/bin/env python
"""Train or evaluate a registered model of this project, Detectron2 style.

    python projects/train_net.py --config-file configs/quick_schedules/faster_rcnn_R18_FPN_GN_synthetic.yaml
    python projects/train_net.py --config-file CONFIG --eval-only MODEL.WEIGHTS output/model_final.pth
    python projects/train_net.py --config-file CONFIG --num-gpus 2   # 2 processes (GPUs, or CPU with gloo)
"""
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.evaluation import verify_results
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from mot_heads import add_mot_config, fall_back_to_cpu
from mot_heads.engine import MOTTrainer, record_evaluation


class Trainer(MOTTrainer):
    """Override build_train_loader / build_evaluator here to experiment."""


def setup(args):
    cfg = get_cfg()
    add_mot_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    fall_back_to_cpu(cfg)
    cfg.freeze()
    default_setup(cfg, args)
    # The project's own log lines (e.g. the per-class MOT metric tables) beside Detectron2's.
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="mot_heads")
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        results = Trainer.test(cfg, model)
        verify_results(cfg, results)
        if comm.is_main_process():
            record_evaluation(cfg.OUTPUT_DIR, results)
        return results
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
