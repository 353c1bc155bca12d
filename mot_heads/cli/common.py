"""What several sub-commands share: a config and a trained model from the command line."""
import os
from typing import List

from detectron2.config import CfgNode, get_cfg
from detectron2.modeling import build_model

from ..config import add_mot_config, fall_back_to_cpu
from ..engine.checkpoint import CheckedCheckpointer


def load_config(config_file: str, opts: List[str]) -> CfgNode:
    """The project's config from ``config_file`` with ``KEY VALUE`` overrides, on CPU when
    there is no GPU; a missing file or an unknown key raises with the file named."""
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"{config_file}: no such config file")
    cfg = add_mot_config(get_cfg())
    try:
        cfg.merge_from_file(config_file)
        cfg.merge_from_list(opts)
    except AssertionError as e:  # yacs asserts on unknown keys and odd-length override lists
        raise KeyError(f"{config_file}: {e}") from e
    except (KeyError, ValueError) as e:  # unknown keys under new_allowed nodes, bad values
        raise KeyError(f"{config_file}: {e.args[0] if e.args else e}") from e
    return fall_back_to_cpu(cfg)


def load_model(config_file: str, opts: List[str]):
    """The config and its model in eval mode with ``MODEL.WEIGHTS`` loaded; weights that
    are missing, or of another architecture, raise with one sentence."""
    cfg = load_config(config_file, opts)
    if not cfg.MODEL.WEIGHTS:
        raise ValueError("MODEL.WEIGHTS is empty: give the weights of a trained model (MODEL.WEIGHTS path.pth)")
    if not os.path.isfile(cfg.MODEL.WEIGHTS):
        raise FileNotFoundError(f"{cfg.MODEL.WEIGHTS}: no such weights file (MODEL.WEIGHTS)")
    model = build_model(cfg)
    CheckedCheckpointer(model, require_all=True).load(cfg.MODEL.WEIGHTS)
    return cfg, model.eval()
