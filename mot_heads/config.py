"""Config keys the project adds to Detectron2's defaults, and safe reading of config files."""
import logging

import torch
import yaml
from detectron2.config import CfgNode as CN

from .errors import InputError
from .files import read_text
from .modeling.backbone.dla import add_dla_config
from .modeling.dmtrack.config import add_dmtrack_config
from .modeling.one_shot.config import add_cstrack_config, add_kdmot_config, add_one_shot_config, add_outrack_config
from .modeling.reid.config import add_reid_config
from .modeling.siammot.config import add_siammot_config


def add_mot_config(cfg: CN) -> CN:
    """Add every key of this project to ``cfg`` (in place) and return it: the keys shared
    by all methods, then each method's (``add_<method>_config``)."""
    # Name in mot_heads.data.MAPPER_REGISTRY of the train-time mapper: single frames
    # ("DatasetMapper"), or the pair / template-search mappers of the tracking models.
    cfg.INPUT.TRAIN_MAPPER = "DatasetMapper"
    # Evaluators run on cfg.DATASETS.TEST, comma-separated: "coco" (box AP of the
    # detector), "mot" (track each test sequence with cfg.TRACKER, then HOTA, CLEAR and
    # Identity metrics; needs a MOTChallenge-layout dataset), "reid" (rank-1 / mAP of the
    # model's embeddings of gt tracklets split into query and gallery halves, OUTrack's
    # Table 7; needs track ids and a model with pred_embeddings), "retrieval" (rank-1 /
    # mAP of a ReID model on a query + gallery set, e.g. market1501_test), "person_search"
    # (KDMOT: mAP / top-k of teacher-embedded queries over gallery scenes; TEST.PERSON_SEARCH),
    # "sot" (DMTrack: one-target success, precision and long-term scores; a SOT dataset).
    cfg.TEST.EVALUATOR = "coco"
    # "SGD" (Detectron2's; CSTrack) or "ADAM" (FairMOT trains with Adam, lr 1e-4).
    cfg.SOLVER.OPTIMIZER = "SGD"
    # A schedule in epochs (the one-shot trackers' papers state theirs so): EPOCHS > 0 sets
    # MAX_ITER and STEPS (STEP_EPOCHS) from the training set's size when the trainer is
    # built (mot_heads/engine/schedule.py); 0 keeps them in iterations.
    cfg.SOLVER.EPOCHS = 0.0
    cfg.SOLVER.STEP_EPOCHS = ()
    # The online tracker of evaluation and inference: a name registered in trackers/
    # ("sort", "jde", "outrack", "siammot", "longterm") and "key=value" overrides of its
    # parameters (paper defaults).
    cfg.TRACKER = CN()
    cfg.TRACKER.NAME = "sort"
    cfg.TRACKER.PARAMS = []
    # Tracks are born from each sequence's public detections (det/det.txt) in place of the
    # model's detector: the MOT17 / HiEve public-detection protocol (SiamMOT Table 4, 6).
    # SiamMOT's box head scores and refines the given boxes (its RPN proposals' place);
    # tracked instances still come from its track head. `mot track --public-detections`.
    cfg.TRACKER.PUBLIC_DETECTIONS = False
    add_dla_config(cfg)
    add_siammot_config(cfg)
    add_one_shot_config(cfg)
    add_cstrack_config(cfg)
    add_outrack_config(cfg)
    add_kdmot_config(cfg)
    add_reid_config(cfg)
    add_dmtrack_config(cfg)
    return cfg


def _yaml_problem(error: yaml.YAMLError, path: str) -> str:
    """One sentence for a YAML error: the file (``path`` unless a ``_BASE_`` file is at
    fault), the line and the problem."""
    mark = getattr(error, "problem_mark", None)
    if mark is None:
        return f"{path}: invalid YAML: {error}"
    name = path if mark.name.startswith("<") else mark.name  # "<unicode string>" for text parsed here
    return f"{name}:{mark.line + 1}: invalid YAML: {getattr(error, 'problem', None) or error}"


def merge_config_file(cfg: CN, path: str) -> CN:
    """Merge the YAML config ``path`` (with its ``_BASE_`` files) into ``cfg``; returns ``cfg``.

    Only plain YAML is read: a Python tag is refused, never run (Detectron2's
    ``merge_from_file`` falls back to ``yaml.unsafe_load`` by default). A missing file
    raises ``FileNotFoundError``; one that is not a regular UTF-8 file, not YAML or not a
    mapping, or a key that is unknown or has a value of the wrong type, an
    :class:`InputError` naming the file.
    """
    try:
        content = yaml.safe_load(read_text(path, "config file"))
    except yaml.YAMLError as e:
        raise InputError(_yaml_problem(e, path)) from None
    if not isinstance(content, dict):
        got = "an empty file" if content is None else type(content).__name__
        raise InputError(f"{path}: expected a YAML mapping of config keys, got {got}")
    try:
        cfg.merge_from_file(path, allow_unsafe=False)
    except yaml.YAMLError as e:  # in a _BASE_ file
        raise InputError(_yaml_problem(e, path)) from None
    except (AssertionError, KeyError, ValueError) as e:  # yacs: unknown keys, values of another type
        raise InputError(f"{path}: {e.args[0] if e.args else e}") from None
    return cfg


def fall_back_to_cpu(cfg: CN) -> CN:
    """Run on CPU when the config asks for CUDA on a machine without a GPU (warns)."""
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logging.getLogger(__name__).warning("MODEL.DEVICE=%s but no GPU is available: using cpu", cfg.MODEL.DEVICE)
        cfg.MODEL.DEVICE = "cpu"
    return cfg
