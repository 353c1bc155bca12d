"""Datasets registered by name when their files exist under ``$DETECTRON2_DATASETS``.

The root defaults to ``datasets/`` (relative to the working directory), as in
Detectron2. ``datasets/README.md`` documents each expected layout.
"""
import os
from typing import Dict, Iterable, Optional, Tuple

from detectron2.data import DatasetCatalog

from .crowdhuman import register_crowdhuman
from .mot_challenge import MOT20_IGNORE_CLASSES, MOT_IGNORE_CLASSES, register_mot_folder
from .synthetic import SPLITS, register_synthetic



def _mot_datasets() -> Dict[str, Tuple[str, Optional[str], Optional[str]]]:
    """name -> (folder under the root, sequence-name filter, split of each sequence).

    MOT17 ships every sequence three times (one per public detector) with the same gt:
    the FRCNN copies are the training set, as in ByteTrack.
    """
    datasets = {}
    for year, name_filter in (("16", None), ("17", "FRCNN"), ("20", None)):
        for suffix, split in (("train", None), ("train_half", "first_half"), ("val_half", "second_half")):
            datasets[f"mot{year}_{suffix}"] = (f"MOT{year}/train", name_filter, split)
        datasets[f"mot{year}_test"] = (f"MOT{year}/test", name_filter, None)
    return datasets


_MOT_DATASETS = _mot_datasets()
_CROWDHUMAN_DATASETS = {
    "crowdhuman_train": ("CrowdHuman/annotation_train.odgt", "CrowdHuman/Images"),
    "crowdhuman_val": ("CrowdHuman/annotation_val.odgt", "CrowdHuman/Images"),
}
_SYNTHETIC_FOLDER = "synthetic"


def expected_location(name: str, root: str) -> str:
    """Where the files of a built-in dataset are expected, for error messages."""
    if name in _MOT_DATASETS:
        return os.path.join(root, _MOT_DATASETS[name][0]) + " (MOTChallenge sequence folders)"
    if name in _CROWDHUMAN_DATASETS:
        return " and ".join(os.path.join(root, p) for p in _CROWDHUMAN_DATASETS[name])
    if name.startswith("synth_"):
        return os.path.join(root, _SYNTHETIC_FOLDER) + " (python -m mot_heads.data.synthetic)"
    return ""


def register_all(root: str) -> None:
    """Register every built-in dataset whose files are present under ``root``."""
    for name, (folder, name_filter, split) in _MOT_DATASETS.items():
        path = os.path.join(root, folder)
        if os.path.isdir(path) and name not in DatasetCatalog:
            ignore = MOT20_IGNORE_CLASSES if name.startswith("mot20") else MOT_IGNORE_CLASSES
            register_mot_folder(name, path, name_filter=name_filter, split=split, ignore_classes=ignore)
    for name, (odgt, images) in _CROWDHUMAN_DATASETS.items():
        odgt, images = os.path.join(root, odgt), os.path.join(root, images)
        if os.path.isfile(odgt) and name not in DatasetCatalog:
            register_crowdhuman(name, odgt, images)
    synthetic = os.path.join(root, _SYNTHETIC_FOLDER)
    if all(os.path.isdir(os.path.join(synthetic, s)) for s in SPLITS) and "synth_train" not in DatasetCatalog:
        register_synthetic(synthetic)


def check_registered(names: Iterable[str]) -> None:
    """Raise a KeyError naming each unknown dataset and where its files were expected."""
    root = datasets_root()
    for name in names:
        if name not in DatasetCatalog:
            where = expected_location(name, root)
            hint = (
                f"its files were expected at {where}" if where
                else "register it first, e.g. mot_heads.data.register_mot_folder(name, folder)"
            )
            raise KeyError(f"Dataset '{name}' is not registered: {hint} (see datasets/README.md)")


def datasets_root() -> str:
    return os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
