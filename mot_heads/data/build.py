"""Train-time data loading: a registry of mappers chosen by ``cfg.INPUT.TRAIN_MAPPER``.

Single-frame detection training uses Detectron2's ``DatasetMapper``; frame-pair and
template/search samplers register their own mapper here and are picked by config.
A mapper is built as ``Mapper(cfg, is_train=True)`` and maps one dataset dict.
"""
from itertools import groupby
from typing import Iterator, List

from detectron2.data import DatasetMapper, build_detection_test_loader, build_detection_train_loader
from detectron2.data.build import get_detection_dataset_dicts
from detectron2.utils import comm
from detectron2.utils.registry import Registry
from torch.utils.data import Sampler

from .builtin import check_registered

MAPPER_REGISTRY = Registry("MAPPER")
MAPPER_REGISTRY.__doc__ = "Train-time mappers, built as Mapper(cfg, is_train=True)."
MAPPER_REGISTRY.register(DatasetMapper)


def build_mot_train_loader(cfg):
    """Detectron2's train loader over ``cfg.DATASETS.TRAIN`` with the configured mapper;
    with ``DATALOADER.SAMPLER_TRAIN "IdentitySampler"``, in P x K batches (data/reid.py);
    with "AlternatingSampler", detection and re-id batches in turn (data/alternating.py)."""
    check_registered(cfg.DATASETS.TRAIN)
    if cfg.DATALOADER.SAMPLER_TRAIN == "AlternatingSampler":  # DMTrack's alternating re-id training
        from .alternating import build_alternating_train_loader  # here: data/alternating.py imports this module

        return build_alternating_train_loader(cfg)
    mapper = MAPPER_REGISTRY.get(cfg.INPUT.TRAIN_MAPPER)(cfg, is_train=True)
    if cfg.DATALOADER.SAMPLER_TRAIN == "IdentitySampler":  # P x K crops of ReID training
        from .reid import build_identity_train_loader  # here: data/reid.py imports this module

        return build_identity_train_loader(cfg, mapper)
    return build_detection_train_loader(cfg, mapper=mapper)


class VideoInferenceSampler(Sampler):
    """Test-time sampler that keeps each video whole and in order in one process
    (online trackers need consecutive frames); videos are dealt to processes in turn.
    Dicts without ``video_id`` count as one-frame videos."""

    def __init__(self, dataset_dicts: List[dict]):
        keys = [d.get("video_id", ("image", i)) for i, d in enumerate(dataset_dicts)]
        videos = [list(indices) for _, indices in groupby(range(len(keys)), key=keys.__getitem__)]
        rank, world = comm.get_rank(), comm.get_world_size()
        self._indices = [i for video in videos[rank::world] for i in video]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices)

    def __len__(self) -> int:
        return len(self._indices)


def build_video_test_loader(cfg, dataset_name: str):
    """Detectron2's test loader over one dataset, sampled by :class:`VideoInferenceSampler`."""
    check_registered([dataset_name])
    dicts = get_detection_dataset_dicts(dataset_name, filter_empty=False)
    return build_detection_test_loader(dicts, mapper=DatasetMapper(cfg, False), sampler=VideoInferenceSampler(dicts))
