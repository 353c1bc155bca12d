"""Schedules in epochs converted to iterations from the training set's size."""
import pytest
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog

from mot_heads import add_mot_config
from mot_heads.engine import MOTTrainer
from mot_heads.engine.schedule import apply_epoch_schedule
from mot_heads.errors import InputError

BOX = {"bbox": [1, 1, 20, 20], "bbox_mode": 0, "category_id": 0}


@pytest.fixture(scope="module")
def ten_images(tmp_path_factory):
    """A dataset of 10 images with a box and 3 without any."""
    name = "schedule_ten_images"
    if name not in DatasetCatalog:
        records = [{"file_name": f"{i}.jpg", "image_id": i, "height": 48, "width": 64,
                    "annotations": [BOX] if i < 10 else []} for i in range(13)]
        DatasetCatalog.register(name, lambda: [dict(r) for r in records])
    return name


def config(dataset, *options):
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_list(["DATASETS.TRAIN", (dataset,), "SOLVER.IMS_PER_BATCH", 4, *options])
    return cfg


def test_epochs_become_iterations_of_whole_batches(ten_images):
    # 10 images with boxes, 4 a batch: 2 whole batches an epoch (the incomplete one dropped)
    cfg = apply_epoch_schedule(config(ten_images, "SOLVER.EPOCHS", 30.0, "SOLVER.STEP_EPOCHS", (20,)))
    assert (cfg.SOLVER.MAX_ITER, cfg.SOLVER.STEPS) == (60, (40,))
    # images without boxes count when the loader keeps them: 13 // 4 = 3
    cfg = apply_epoch_schedule(config(ten_images, "SOLVER.EPOCHS", 2.5, "SOLVER.STEP_EPOCHS", (1, 2),
                                      "DATALOADER.FILTER_EMPTY_ANNOTATIONS", False))
    assert (cfg.SOLVER.MAX_ITER, cfg.SOLVER.STEPS) == (8, (3, 6))


def test_a_schedule_in_iterations_is_left_alone(ten_images):
    cfg = config(ten_images, "SOLVER.MAX_ITER", 7, "SOLVER.STEPS", (5,))
    assert apply_epoch_schedule(cfg) is cfg and cfg.SOLVER.MAX_ITER == 7


@pytest.mark.parametrize("options, message", [
    (("SOLVER.EPOCHS", -1.0), "SOLVER.EPOCHS=-1.0: expected 0"),
    (("SOLVER.STEP_EPOCHS", (20,)), "SOLVER.STEP_EPOCHS=(20,) needs SOLVER.EPOCHS > 0"),
    (("SOLVER.EPOCHS", 30.0, "SOLVER.STEP_EPOCHS", (20, 10)), "expected increasing epochs between 0 and"),
    (("SOLVER.EPOCHS", 30.0, "SOLVER.STEP_EPOCHS", (30,)), "expected increasing epochs between 0 and"),
])
def test_unusable_epoch_keys_are_refused(ten_images, options, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        apply_epoch_schedule(config(ten_images, *options))


def test_the_trainer_runs_the_converted_schedule(ten_images, tmp_path):
    cfg = config(ten_images, "SOLVER.EPOCHS", 3.0, "SOLVER.STEP_EPOCHS", (2,), "MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", 0, "SOLVER.WARMUP_ITERS", 0,
                 "OUTPUT_DIR", str(tmp_path))
    cfg.merge_from_list(["MODEL.RESNETS.DEPTH", 18, "MODEL.RESNETS.RES2_OUT_CHANNELS", 64, "MODEL.BACKBONE.FREEZE_AT", 0])
    trainer = MOTTrainer(cfg)
    assert (trainer.max_iter, trainer.cfg.SOLVER.STEPS) == (6, (4,))
    learning_rates = []
    for _ in range(6):
        learning_rates.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.scheduler.step()
    assert learning_rates == pytest.approx([cfg.SOLVER.BASE_LR] * 4 + [cfg.SOLVER.BASE_LR * cfg.SOLVER.GAMMA] * 2)
