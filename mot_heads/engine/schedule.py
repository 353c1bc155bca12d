"""Training schedules stated in epochs, as the one-shot trackers' papers state them.

With ``SOLVER.EPOCHS > 0`` a config's schedule is converted to Detectron2's iterations when
the trainer is built: an epoch is ``len(training set) // SOLVER.IMS_PER_BATCH`` iterations
(the training set as the loader sees it: ``DATASETS.TRAIN`` after
``DATALOADER.FILTER_EMPTY_ANNOTATIONS``; the last incomplete batch is dropped, as the
authors' PyTorch loaders do), ``MAX_ITER = EPOCHS x`` that and ``STEPS = STEP_EPOCHS x``
that. So a recipe names no dataset's length, and the same config trains on a larger mix.
"""
import logging

from detectron2.config import CfgNode
from detectron2.data.build import get_detection_dataset_dicts

from ..errors import InputError


def iterations_per_epoch(cfg: CfgNode) -> int:
    """Iterations that show every training sample once (at least 1)."""
    samples = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    return max(1, len(samples) // cfg.SOLVER.IMS_PER_BATCH)


def check_epoch_schedule(cfg: CfgNode) -> None:
    """Raise an InputError for epoch keys that cannot make a schedule."""
    epochs, steps = cfg.SOLVER.EPOCHS, tuple(cfg.SOLVER.STEP_EPOCHS)
    if epochs < 0:
        raise InputError(f"SOLVER.EPOCHS={epochs}: expected 0 (the schedule in iterations) or a positive number")
    if steps and epochs == 0:
        raise InputError(f"SOLVER.STEP_EPOCHS={steps} needs SOLVER.EPOCHS > 0 (else set SOLVER.STEPS in iterations)")
    if list(steps) != sorted(steps) or any(not 0 < step < epochs for step in steps):
        raise InputError(f"SOLVER.STEP_EPOCHS={steps}: expected increasing epochs between 0 and SOLVER.EPOCHS={epochs}")


def apply_epoch_schedule(cfg: CfgNode) -> CfgNode:
    """``cfg`` itself when its schedule is in iterations (``SOLVER.EPOCHS`` 0), else a copy
    whose ``SOLVER.MAX_ITER`` and ``SOLVER.STEPS`` are the epochs in iterations."""
    check_epoch_schedule(cfg)
    if cfg.SOLVER.EPOCHS == 0:
        return cfg
    per_epoch = iterations_per_epoch(cfg)
    converted = cfg.clone()
    converted.defrost()
    converted.SOLVER.MAX_ITER = max(1, round(cfg.SOLVER.EPOCHS * per_epoch))
    converted.SOLVER.STEPS = tuple(round(step * per_epoch) for step in cfg.SOLVER.STEP_EPOCHS)
    converted.freeze()
    logging.getLogger(__name__).info(
        "%g epochs of %d iterations (%d images a batch): SOLVER.MAX_ITER=%d, SOLVER.STEPS=%s",
        cfg.SOLVER.EPOCHS, per_epoch, cfg.SOLVER.IMS_PER_BATCH, converted.SOLVER.MAX_ITER, converted.SOLVER.STEPS)
    return converted
