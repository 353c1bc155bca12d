"""DMTrack's alternating training (Zhang et al., CVPR 2021, Sec. 3): "As there are no
multiple objects annotations in single object tracking dataset, we introduce MOT datasets
[...] to train our re-id branch alternatively."

``DATALOADER.SAMPLER_TRAIN: "AlternatingSampler"`` builds two Detectron2 train loaders
(each with its own training sampler, aspect-ratio grouping and workers) and yields their
batches in turn, ``MODEL.DMTRACK.ALTERNATION`` = (detection batches, re-id batches) at a time:

- detection batches: template-search pairs of ``DATASETS.TRAIN`` (COCO, GOT-10k, LaSOT:
  one annotated target, or objects without identities) by ``INPUT.TRAIN_MAPPER``
  (``DetectionPairMapper``: every ``gt_identities`` -1, so no re-id term);
- re-id batches: template-search pairs of ``MODEL.DMTRACK.REID_DATASETS`` (the MOT sets)
  by ``IdentityPairMapper``, whose identities are numbered over those datasets only. They
  train detection too: the paper trains on "the same training data as in [12, 40]", the
  MOT sets of [40] (FairMOT) included.
"""
from typing import Iterable, Iterator, List, Sequence

from detectron2.config import CfgNode
from detectron2.data import build_detection_train_loader, get_detection_dataset_dicts

from ..errors import InputError
from .build import MAPPER_REGISTRY
from .builtin import check_registered
from .pair_sampling import IdentityPairMapper


class AlternatingLoader:
    """Batches of ``loaders`` in turn: ``counts[k]`` batches of loader ``k``, then the next."""

    def __init__(self, loaders: Sequence[Iterable], counts: Sequence[int]):
        if len(loaders) != len(counts) or min(counts) < 1:
            raise InputError(f"MODEL.DMTRACK.ALTERNATION must give a count >= 1 for each of the {len(loaders)} "
                             f"loaders, got {tuple(counts)}")
        self.loaders, self.counts = list(loaders), list(counts)

    def __iter__(self) -> Iterator[List[dict]]:
        iterators = [iter(loader) for loader in self.loaders]
        while True:
            for iterator, count in zip(iterators, self.counts):
                for _ in range(count):
                    yield next(iterator)


def _loader_config(cfg: CfgNode, datasets: Sequence[str]) -> CfgNode:
    """``cfg`` training on ``datasets`` with Detectron2's training sampler."""
    sub = cfg.clone()
    sub.defrost()
    sub.DATASETS.TRAIN = tuple(datasets)
    sub.DATALOADER.SAMPLER_TRAIN = "TrainingSampler"
    sub.freeze()
    return sub


def build_alternating_train_loader(cfg: CfgNode) -> AlternatingLoader:
    """Detection batches of ``DATASETS.TRAIN`` and re-id batches of
    ``MODEL.DMTRACK.REID_DATASETS`` in turn (see the module docstring)."""
    reid_datasets = cfg.MODEL.DMTRACK.REID_DATASETS
    if not reid_datasets:
        raise InputError('DATALOADER.SAMPLER_TRAIN "AlternatingSampler" alternates with re-id batches: set '
                         "MODEL.DMTRACK.REID_DATASETS (the MOT datasets with identities)")
    check_registered(reid_datasets)
    detection_cfg, reid_cfg = _loader_config(cfg, cfg.DATASETS.TRAIN), _loader_config(cfg, reid_datasets)
    detection = _train_loader(detection_cfg, MAPPER_REGISTRY.get(cfg.INPUT.TRAIN_MAPPER)(detection_cfg, is_train=True))
    reid = _train_loader(reid_cfg, IdentityPairMapper(reid_cfg, is_train=True))
    return AlternatingLoader([detection, reid], cfg.MODEL.DMTRACK.ALTERNATION)


def _train_loader(cfg: CfgNode, mapper):
    """Detectron2's train loader over ``cfg.DATASETS.TRAIN``, whose class names may differ
    (COCO's 80, the SOT sets' "target"): DMTrack's detection is class-agnostic."""
    dicts = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS,
                                        check_consistency=False)
    return build_detection_train_loader(cfg, mapper=mapper, dataset=dicts)
