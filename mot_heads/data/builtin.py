"""Datasets registered by name when their files exist under ``$DETECTRON2_DATASETS``.

The root defaults to ``datasets/`` (relative to the working directory), as in
Detectron2. ``datasets/README.md`` documents each expected layout.
"""
import os
from typing import Dict, Iterable, Optional, Tuple

from detectron2.data import DatasetCatalog

from ..errors import InputError
from .crowdhuman import register_crowdhuman
from .jde import JDE_FOLDER, register_jde_folder
from .mot_challenge import MOT20_IGNORE_CLASSES, MOT_IGNORE_CLASSES, register_mot_folder
from .person_search import register_cuhk_sysu, register_prw, register_synthetic_person_search
from .longterm_sot import register_oxuva, register_tlp, register_vot_lt
from .sot import lasot_protocol_list, read_sequence_list, register_sot_folder, register_synthetic_sot
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
    # The public-detection protocol scores every copy (DPM, FRCNN and SDP, each with its
    # own det/det.txt): 21 sequences a split.
    for split in ("train", "test"):
        datasets[f"mot17_{split}_public"] = (f"MOT17/{split}", None, None)
    return datasets


_MOT_DATASETS = _mot_datasets()
_CROWDHUMAN_DATASETS = {
    "crowdhuman_train": ("CrowdHuman/annotation_train.odgt", "CrowdHuman/Images"),
    "crowdhuman_val": ("CrowdHuman/annotation_val.odgt", "CrowdHuman/Images"),
}
_SYNTHETIC_FOLDER = "synthetic"
# Person search: prefix -> (folder under the root, register function); <prefix>_{train,gallery,query}.
_PERSON_SEARCH_DATASETS = {"prw": ("PRW", register_prw), "cuhk_sysu": ("CUHK-SYSU", register_cuhk_sysu)}
# Market-1501 as unzipped (Market-1501-v15.09.15.zip): market1501_{train,query,gallery,test}.
_MARKET_FOLDER = "Market-1501-v15.09.15"
# ReID crops of the synthetic set's gt boxes (data/reid.py): training crops of every frame,
# and a query / gallery set of held-out crops of every 5th frame (fewer near-duplicates).
_SYNTHETIC_CROPS = {"synth_train_reid": ("synth_train", 1, False), "synth_val_reid": ("synth_val", 5, True)}
# Single-object tracking: name -> (folder under the root, layout of data/sot.py).
_SOT_DATASETS = {"lasot": ("LaSOT", "lasot"), "got10k_train": ("GOT-10k/train", "got10k"),
                 "got10k_val": ("GOT-10k/val", "got10k"), "got10k_test": ("GOT-10k/test", "got10k")}
# LaSOT's protocol II (Fan et al., CVPR 2019): training and test sequences named by the
# lists of its toolkit, shipped in the package; a list file of that name in the LaSOT
# folder replaces it. name -> split.
_LASOT_SPLITS = {"lasot_train": "training", "lasot_test": "testing"}
# Long-term SOT benchmarks (data/longterm_sot.py): name or prefix -> (folder, register function).
_LONGTERM_SOT_DATASETS = {"oxuva": ("OxUvA", register_oxuva), "tlp": ("TLP", register_tlp),
                          "vot2018_lt": ("VOT2018-LT", register_vot_lt), "vot2019_lt": ("VOT2019-LT", register_vot_lt)}


def expected_location(name: str, root: str) -> str:
    """Where the files of a built-in dataset are expected, for error messages."""
    if name in _MOT_DATASETS:
        return os.path.join(root, _MOT_DATASETS[name][0]) + " (MOTChallenge sequence folders)"
    if name in _CROWDHUMAN_DATASETS:
        return " and ".join(os.path.join(root, p) for p in _CROWDHUMAN_DATASETS[name])
    if name.startswith("market1501_"):
        return os.path.join(root, _MARKET_FOLDER) + " (bounding_box_train/, query/, bounding_box_test/)"
    for prefix, (folder, _) in _PERSON_SEARCH_DATASETS.items():
        if name in (f"{prefix}_train", f"{prefix}_gallery", f"{prefix}_query"):
            return os.path.join(root, folder) + " (person-search layout)"
    if name.startswith("synth_"):
        return os.path.join(root, _SYNTHETIC_FOLDER) + " (write it with: mot demo-data)"
    if name.startswith("jde_"):
        return os.path.join(root, JDE_FOLDER) + " (an image list <key>.<ext> for jde_<key>_<ext>)"
    for prefix, (folder, _) in _LONGTERM_SOT_DATASETS.items():
        if name == prefix or name.startswith(f"{prefix}_"):
            return os.path.join(root, folder) + " (long-term SOT layout)"
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
    if os.path.isdir(os.path.join(synthetic, "val")) and "synth_ps_gallery" not in DatasetCatalog:
        register_synthetic_person_search(synthetic)
    if all(os.path.isdir(os.path.join(synthetic, s)) for s in SPLITS) and "synth_sot_train" not in DatasetCatalog:
        register_synthetic_sot(synthetic)
    for name, (folder, layout) in _SOT_DATASETS.items():
        if os.path.isdir(os.path.join(root, folder)) and name not in DatasetCatalog:
            register_sot_folder(name, os.path.join(root, folder), layout)
    lasot = os.path.join(root, "LaSOT")
    for name, split in _LASOT_SPLITS.items():
        if os.path.isdir(lasot) and name not in DatasetCatalog:
            user_list = os.path.join(lasot, f"{split}_set.txt")
            path = user_list if os.path.isfile(user_list) else lasot_protocol_list(split)
            register_sot_folder(name, lasot, "lasot", read_sequence_list(path))
    for name, (folder, register) in _LONGTERM_SOT_DATASETS.items():
        path = os.path.join(root, folder)
        if os.path.isdir(path) and not {name, f"{name}_dev", f"{name}_test"} & set(DatasetCatalog):
            register(name, path)
    if os.path.isdir(os.path.join(root, JDE_FOLDER)):
        register_jde_folder(os.path.join(root, JDE_FOLDER))
    for prefix, (folder, register) in _PERSON_SEARCH_DATASETS.items():
        if os.path.isdir(os.path.join(root, folder)) and f"{prefix}_gallery" not in DatasetCatalog:
            register(os.path.join(root, folder), prefix)
    from .reid import register_market1501, register_mot_crops  # here: data/reid.py imports this module

    market = os.path.join(root, _MARKET_FOLDER)
    if os.path.isdir(market) and "market1501_train" not in DatasetCatalog:
        register_market1501(market)
    for name, (source, stride, query_gallery) in _SYNTHETIC_CROPS.items():
        if source in DatasetCatalog and name not in DatasetCatalog:
            register_mot_crops(name, source, stride_frames=stride, query_gallery=query_gallery)


def check_registered(names: Iterable[str]) -> None:
    """Raise an InputError naming the first unknown dataset and where its files were expected."""
    root = datasets_root()
    for name in names:
        if name not in DatasetCatalog:
            where = expected_location(name, root)
            hint = (
                f"its files were expected at {where}" if where
                else "register it first, e.g. mot_heads.data.register_mot_folder(name, folder)"
            )
            raise InputError(f"Dataset '{name}' is not registered: {hint} (see datasets/README.md)")


def datasets_root() -> str:
    return os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
