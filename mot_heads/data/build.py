"""Train-time data loading: a registry of mappers chosen by ``cfg.INPUT.TRAIN_MAPPER``.

Single-frame detection training uses Detectron2's ``DatasetMapper``; frame-pair and
template/search samplers register their own mapper here and are picked by config.
A mapper is built as ``Mapper(cfg, is_train=True)`` and maps one dataset dict.
"""
from detectron2.data import DatasetMapper, build_detection_train_loader
from detectron2.utils.registry import Registry

from .builtin import check_registered

MAPPER_REGISTRY = Registry("MAPPER")
MAPPER_REGISTRY.__doc__ = "Train-time mappers, built as Mapper(cfg, is_train=True)."
MAPPER_REGISTRY.register(DatasetMapper)


def build_mot_train_loader(cfg):
    """Detectron2's train loader over ``cfg.DATASETS.TRAIN`` with the configured mapper."""
    check_registered(cfg.DATASETS.TRAIN)
    mapper = MAPPER_REGISTRY.get(cfg.INPUT.TRAIN_MAPPER)(cfg, is_train=True)
    return build_detection_train_loader(cfg, mapper=mapper)
