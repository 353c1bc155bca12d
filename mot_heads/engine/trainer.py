"""The project's DefaultTrainer: configured loaders and evaluators, online tracking in
evaluation, DDP that works on CPU."""
import contextlib
import functools
import logging
import os
import weakref
from typing import Iterator, List

import torch
from torch.nn.parallel import DistributedDataParallel
from detectron2.engine import DefaultTrainer, defaults
from detectron2.data import MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.evaluation import COCOEvaluator, DatasetEvaluators
from detectron2.evaluation.testing import flatten_results_dict
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping
from detectron2.structures import BoxMode
from detectron2.utils.events import EventStorage, JSONWriter

from ..data import build_mot_train_loader, build_video_test_loader
from ..data.reid import build_reid_test_loader
from ..errors import InputError
from ..evaluation.mot_evaluator import MOTEvaluator
from ..evaluation.person_search import PersonSearchEvaluator
from ..evaluation.reid_evaluator import TrackletReIDEvaluator
from ..evaluation.reid_retrieval import ReIDRetrievalEvaluator
from ..evaluation.sot_evaluator import SOTEvaluator
from ..files import temporary_path
from ..modeling.one_shot.distillation import build_teacher
from .checkpoint import CheckedCheckpointer
from .drivers import driver_class
from .online import OnlineTracking
from .schedule import apply_epoch_schedule


def _mot_evaluator(cfg, dataset_name: str, output_dir: str) -> MOTEvaluator:
    meta = MetadataCatalog.get(dataset_name)
    if getattr(meta, "dataset_format", None) != "motchallenge":
        raise InputError(
            f"TEST.EVALUATOR 'mot' needs a MOTChallenge-layout dataset (register_mot_folder); {dataset_name} is not"
        )
    return MOTEvaluator(dataset_name, meta.mot_class_ids, meta.distractor_classes, output_dir)


def teacher_query_embeddings(teacher, queries):
    """(Q, D) L2-normalised embeddings of the person-search queries' boxes by ``teacher``
    (a ReIDBaseline), each cut from its scene image."""
    embeddings = []
    for query in queries:
        image = torch.as_tensor(read_image(query["file_name"], format=teacher.input_format).copy()).permute(2, 0, 1)
        box = torch.tensor([BoxMode.convert(query["bbox"], query.get("bbox_mode", BoxMode.XYWH_ABS),
                                            BoxMode.XYXY_ABS)], dtype=torch.float32)
        with torch.no_grad():
            embeddings.append(teacher.embed_boxes(image[None], [box]).cpu())
    return torch.cat(embeddings).numpy()


def _person_search_evaluator(cfg, dataset_name: str, output_dir: str) -> PersonSearchEvaluator:
    """KDMOT's person search: queries through the distillation teacher
    (MODEL.ONE_SHOT.ID_LOSS.DISTILLATION), gallery scenes through the model."""
    distillation, search = cfg.MODEL.ONE_SHOT.ID_LOSS.DISTILLATION, cfg.TEST.PERSON_SEARCH
    teacher = build_teacher(distillation.TEACHER_CONFIG, distillation.TEACHER_WEIGHTS, cfg.MODEL.DEVICE,
                            distillation.ALLOW_RANDOM_TEACHER)
    return PersonSearchEvaluator(
        dataset_name, query_embeddings=lambda queries: teacher_query_embeddings(teacher, queries),
        det_thresh=search.DET_THRESH, iou_threshold=None if search.SIZE_AWARE_IOU else search.IOU_THRESHOLD,
        output_dir=output_dir)


_EVALUATORS = {
    "coco": lambda cfg, name, out: COCOEvaluator(name, output_dir=out),
    "mot": _mot_evaluator,
    "reid": lambda cfg, name, out: TrackletReIDEvaluator(name, output_dir=out),
    "retrieval": lambda cfg, name, out: ReIDRetrievalEvaluator(name, output_dir=out),
    "person_search": _person_search_evaluator,
    "sot": lambda cfg, name, out: SOTEvaluator(name, output_dir=out),
}
# The evaluators that score tracks: with one of them, every model is evaluated tracking online.
_TRACK_EVALUATORS = {"mot"}


def evaluator_names(cfg) -> List[str]:
    """The evaluators TEST.EVALUATOR names; an unknown name raises an :class:`InputError`."""
    names = [n.strip() for n in cfg.TEST.EVALUATOR.split(",") if n.strip()]
    if not names or any(n not in _EVALUATORS for n in names):
        raise InputError(f"TEST.EVALUATOR={cfg.TEST.EVALUATOR!r}: expected a comma-separated list of "
                         f"{sorted(_EVALUATORS)}")
    return names


def record_evaluation(output_dir: str, results: dict) -> None:
    """Appends ``results`` (flattened as the training's EvalHook does) to
    ``output_dir/metrics.json``: an evaluation-only run leaves the record a training run
    leaves (``benchmarks/results_table.py`` reads either). The record is formatted in a
    temporary file, then appended in one write: an interrupted run leaves no half line,
    and a training appending to the same file keeps its records."""
    path = os.path.join(output_dir, "metrics.json")
    with temporary_path(path) as temporary, EventStorage() as storage:
        writer = JSONWriter(temporary)
        storage.put_scalars(**flatten_results_dict(results), smoothing_hint=False)
        writer.write()
        writer.close()
        with open(temporary, "rb") as f:
            record = f.read()
    metrics = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(metrics, record)
    finally:
        os.close(metrics)


@contextlib.contextmanager
def _ddp_on_cpu() -> Iterator[None]:
    """Without a GPU, Detectron2's ``create_ddp_model`` builds DistributedDataParallel
    without ``device_ids`` during the block: by default it passes the local rank as a GPU
    index, which DDP rejects for CPU modules (gloo backend)."""
    if torch.cuda.is_available():
        yield
        return
    create_ddp_model = defaults.create_ddp_model
    defaults.create_ddp_model = functools.partial(create_ddp_model, device_ids=None)
    try:
        yield
    finally:
        defaults.create_ddp_model = create_ddp_model


class MOTTrainer(DefaultTrainer):
    """DefaultTrainer whose loaders and evaluator come from the config, whose checkpoints
    load through :class:`CheckedCheckpointer`, whose schedule may be given in epochs
    (:func:`apply_epoch_schedule`) and whose evaluation tracks online; with more than one
    process on CPU, DDP is built without ``device_ids``."""

    def __init__(self, cfg):
        with _ddp_on_cpu():
            super().__init__(apply_epoch_schedule(cfg))

    def build_hooks(self):
        """DefaultTrainer's hooks, its checkpointer (and the periodic checkpoints') a
        :class:`CheckedCheckpointer`."""
        self.checkpointer = CheckedCheckpointer(self._trainer.model, self.cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        return super().build_hooks()

    @classmethod
    def build_optimizer(cls, cfg, model):
        """Detectron2's SGD (CSTrack), or Adam (FairMOT) with ``SOLVER.OPTIMIZER: "ADAM"``;
        both take Detectron2's per-parameter settings and gradient clipping."""
        if cfg.SOLVER.OPTIMIZER == "SGD":
            return super().build_optimizer(cfg, model)
        if cfg.SOLVER.OPTIMIZER != "ADAM":
            raise InputError(f"SOLVER.OPTIMIZER={cfg.SOLVER.OPTIMIZER!r}: expected 'SGD' or 'ADAM'")
        params = get_default_optimizer_params(
            model, base_lr=cfg.SOLVER.BASE_LR, weight_decay_norm=cfg.SOLVER.WEIGHT_DECAY_NORM,
            bias_lr_factor=cfg.SOLVER.BIAS_LR_FACTOR, weight_decay_bias=cfg.SOLVER.WEIGHT_DECAY_BIAS,
        )
        return maybe_add_gradient_clipping(cfg, torch.optim.Adam)(
            params, lr=cfg.SOLVER.BASE_LR, weight_decay=cfg.SOLVER.WEIGHT_DECAY)

    @classmethod
    def build_train_loader(cls, cfg):
        return build_mot_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        """Whole videos in order; person crops (ReID datasets, data/reid.py) in batches."""
        if MetadataCatalog.get(dataset_name).get("dataset_format") == "reid":
            return build_reid_test_loader(cfg, dataset_name)
        return build_video_test_loader(cfg, dataset_name)

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        """DefaultTrainer.test, the model tracking online (:class:`OnlineTracking`) with the
        config's tracker when its tracker is in the loop (SiamMOT, DMTrack) or an evaluator
        scores tracks (TEST.EVALUATOR "mot")."""
        module = model.module if isinstance(model, DistributedDataParallel) else model
        if driver_class(module).tracker_in_the_loop or _TRACK_EVALUATORS & set(evaluator_names(cfg)):
            model = OnlineTracking.from_config(cfg, module)
        return super().test(cfg, model, evaluators)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        names = evaluator_names(cfg)
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        logging.getLogger(__name__).info("Evaluating %s with %s", dataset_name, ", ".join(names))
        evaluators = [_EVALUATORS[n](cfg, dataset_name, output_folder) for n in names]
        return evaluators[0] if len(evaluators) == 1 else DatasetEvaluators(evaluators)
