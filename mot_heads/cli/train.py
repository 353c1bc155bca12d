"""Train a model from its config, or evaluate it (``--eval-only``), as Detectron2's train_net.py.

Examples::

    mot train --config-file configs/quick_schedules/faster_rcnn_R18_FPN_GN_synthetic.yaml
    mot train --config-file CONFIG OUTPUT_DIR output/run SOLVER.MAX_ITER 2000
    mot train --config-file CONFIG --eval-only MODEL.WEIGHTS output/run/model_final.pth
    mot train --config-file CONFIG --resume OUTPUT_DIR output/run
    mot train --config-file CONFIG --num-gpus 8
    mot train --config-file CONFIG --num-machines 2 --machine-rank 0 --dist-url tcp://10.0.0.1:50000

Training writes checkpoints, ``log.txt`` and ``metrics.json`` to ``OUTPUT_DIR``, and at the
end PNG plots of the losses, learning rate and evaluations to ``OUTPUT_DIR/plots``.
``--eval-only`` evaluates ``MODEL.WEIGHTS`` on ``DATASETS.TEST`` with ``TEST.EVALUATOR`` and
appends the results to ``OUTPUT_DIR/metrics.json``, as training does. ``--num-gpus N``
starts N processes (NCCL on GPUs, gloo on CPU). The config file (plain YAML: Python tags
are refused, never run), its keys, the datasets, the evaluators, the tracker and its
parameters, the weights and a writable OUTPUT_DIR are checked before any process starts:
bad input ends with one sentence on stderr and exit status 2.
"""
import argparse
import logging
import os

from detectron2.config import CfgNode
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.evaluation import verify_results
from detectron2.modeling import build_model
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from trackers import build_tracker, parse_param_strings

from ..data import check_registered
from ..engine import MOTTrainer, evaluator_names, record_evaluation
from ..engine.checkpoint import CheckedCheckpointer
from ..engine.schedule import check_epoch_schedule
from ..errors import InputError
from ..evaluation.plots import plot_training_curves
from ..files import writable_folder
from .common import int_at_least, load_config
from .errors import exit_on_bad_input

# Detectron2's default: a local port derived from the user id.
DEFAULT_DIST_URL = default_argument_parser().get_default("dist_url")

# Receives the checkpointer's warnings while the weights are checked: before logging is
# set up they would reach stderr, and the ValueError already says what is wrong.
_QUIET = logging.getLogger(f"{__name__}.weights_check")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Detectron2's ``default_argument_parser`` options."""
    parser.add_argument("--config-file", required=True, metavar="FILE",
                        help="the model's YAML config (e.g. configs/SiamMOT/siammot_EMM_DLA34_FPN.yaml)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the last checkpoint in OUTPUT_DIR, the file OUTPUT_DIR/last_checkpoint "
                        "names inside it (without one, start from MODEL.WEIGHTS)")
    parser.add_argument("--eval-only", action="store_true",
                        help="evaluate MODEL.WEIGHTS on DATASETS.TEST instead of training")
    parser.add_argument("--num-gpus", type=int_at_least(1), default=1, metavar="N",
                        help="processes per machine: one per GPU, or CPU processes on a machine without GPUs "
                        "(default 1)")
    parser.add_argument("--num-machines", type=int_at_least(1), default=1, metavar="N",
                        help="total number of machines (default 1)")
    parser.add_argument("--machine-rank", type=int_at_least(0), default=0, metavar="RANK",
                        help="the rank of this machine, 0 to num-machines - 1 (default 0)")
    parser.add_argument("--dist-url", default=DEFAULT_DIST_URL, metavar="URL",
                        help="where the processes meet, e.g. tcp://10.0.0.1:50000 on the first machine "
                        f"(default {DEFAULT_DIST_URL})")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="config overrides, e.g. OUTPUT_DIR output/run SOLVER.MAX_ITER 2000")


def check_inputs(args: argparse.Namespace) -> CfgNode:
    """The config of ``args``, once everything the run reads or writes is known to be
    usable: the config file and its keys, the datasets, evaluators and tracker it names,
    the weights it starts from and OUTPUT_DIR (created). Bad input raises with one sentence
    (caught by :func:`exit_on_bad_input`)."""
    if not args.config_file:
        raise FileNotFoundError("no --config-file given: name the model's YAML config")
    cfg = load_config(args.config_file, args.opts)
    if args.eval_only and not cfg.DATASETS.TEST:
        raise InputError(f"{args.config_file}: DATASETS.TEST is empty, nothing to evaluate")
    check_registered(cfg.DATASETS.TEST if args.eval_only else [*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST])
    if cfg.DATASETS.TEST:
        evaluator_names(cfg)
    check_epoch_schedule(cfg)
    build_tracker(cfg.TRACKER.NAME, **parse_param_strings(cfg.TRACKER.PARAMS))
    check_weights(cfg, resume=args.resume, require_all=args.eval_only)
    writable_folder(cfg.OUTPUT_DIR, "output folder (OUTPUT_DIR)")
    return cfg


def check_weights(cfg: CfgNode, resume: bool, require_all: bool) -> None:
    """Load the weights the run starts from (OUTPUT_DIR's last checkpoint with ``resume``,
    else ``MODEL.WEIGHTS``) into a CPU copy of the model, which loads KDMOT's teacher
    itself: a missing, unsafe or corrupt file, or weights of another architecture (see
    :class:`CheckedCheckpointer`), raise."""
    if not (cfg.MODEL.WEIGHTS or resume or cfg.MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS):
        return
    cpu_cfg = cfg.clone()
    cpu_cfg.MODEL.DEVICE = "cpu"
    checkpointer = CheckedCheckpointer(build_model(cpu_cfg), cfg.OUTPUT_DIR, require_all=require_all)
    checkpointer.logger = _QUIET
    resuming = resume and checkpointer.has_checkpoint()
    path = checkpointer.get_checkpoint_file() if resuming else cfg.MODEL.WEIGHTS
    if not path:
        return
    if "://" not in path and not os.path.isfile(path):  # not a URL or a detectron2:// model-zoo path
        named_by = os.path.join(cfg.OUTPUT_DIR, "last_checkpoint") if resuming else "MODEL.WEIGHTS"
        raise FileNotFoundError(f"{path}: no such weights file ({named_by})")
    checkpointer.load(path)


def setup(cfg: CfgNode, args: argparse.Namespace) -> CfgNode:
    """``cfg`` frozen; Detectron2's logging, environment dump and seeding."""
    cfg.freeze()
    default_setup(cfg, args)
    # The project's own log lines (e.g. the per-class MOT metric tables) beside Detectron2's.
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="mot_heads")
    return cfg


def train_or_evaluate(args: argparse.Namespace, cfg: CfgNode, trainer_class=MOTTrainer):
    """One process's run (what ``launch`` starts) of :func:`check_inputs`'s config: the
    evaluation results with ``args.eval_only``, else those of the training's final
    evaluation, if any."""
    cfg = setup(cfg, args)
    if args.eval_only:
        model = trainer_class.build_model(cfg)
        CheckedCheckpointer(model, cfg.OUTPUT_DIR, require_all=True).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume)
        results = trainer_class.test(cfg, model)
        verify_results(cfg, results)
        if comm.is_main_process():
            record_evaluation(cfg.OUTPUT_DIR, results)
        return results
    trainer = trainer_class(cfg)
    trainer.resume_or_load(resume=args.resume)
    results = trainer.train()
    if comm.is_main_process():
        for path in plot_training_curves(cfg.OUTPUT_DIR, os.path.join(cfg.OUTPUT_DIR, "plots")):
            print(f"wrote {path}")
    return results


def run(args: argparse.Namespace, trainer_class=MOTTrainer) -> int:
    """Check the inputs, then train or evaluate in ``args.num_gpus`` processes per machine."""
    with exit_on_bad_input():
        if args.machine_rank >= args.num_machines:
            raise InputError(f"--machine-rank {args.machine_rank}: expected 0 to {args.num_machines - 1} "
                             f"(--num-machines {args.num_machines})")
        cfg = check_inputs(args)
        launch(
            train_or_evaluate,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args, cfg, trainer_class),
        )
    return 0
