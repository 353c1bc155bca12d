"""What several sub-commands share: a config and a trained model from the command line."""
import argparse
import functools
import os
from typing import Callable, List

from detectron2.config import CfgNode, get_cfg
from detectron2.modeling import (ANCHOR_GENERATOR_REGISTRY, BACKBONE_REGISTRY, META_ARCH_REGISTRY,
                                 PROPOSAL_GENERATOR_REGISTRY, RPN_HEAD_REGISTRY, ROI_BOX_HEAD_REGISTRY,
                                 ROI_HEADS_REGISTRY, build_model)

from ..config import add_mot_config, fall_back_to_cpu, merge_config_file
from ..data import MAPPER_REGISTRY
from ..engine.checkpoint import CheckedCheckpointer
from ..errors import InputError
from ..modeling.one_shot import ID_LOSS_REGISTRY

# Config keys that name a registered class, checked when the config is loaded (the
# registry's KeyError at build time would name neither the key nor the file).
REGISTERED_NAMES = {
    "MODEL.META_ARCHITECTURE": META_ARCH_REGISTRY,
    "MODEL.BACKBONE.NAME": BACKBONE_REGISTRY,
    "MODEL.ROI_HEADS.NAME": ROI_HEADS_REGISTRY,
    "MODEL.ROI_BOX_HEAD.NAME": ROI_BOX_HEAD_REGISTRY,
    "MODEL.PROPOSAL_GENERATOR.NAME": PROPOSAL_GENERATOR_REGISTRY,
    "MODEL.RPN.HEAD_NAME": RPN_HEAD_REGISTRY,
    "MODEL.ANCHOR_GENERATOR.NAME": ANCHOR_GENERATOR_REGISTRY,
    "MODEL.ONE_SHOT.ID_LOSS.NAME": ID_LOSS_REGISTRY,
    "INPUT.TRAIN_MAPPER": MAPPER_REGISTRY,
}


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text}")
        return value
    return parse


def load_config(config_file: str, opts: List[str]) -> CfgNode:
    """The project's config from ``config_file`` (see :func:`merge_config_file`) with
    ``KEY VALUE`` overrides, on CPU when there is no GPU; a bad file, key or value raises
    an :class:`InputError` naming it."""
    cfg = merge_config_file(add_mot_config(get_cfg()), config_file)
    try:
        cfg.merge_from_list(opts)
    except (AssertionError, KeyError, ValueError) as e:  # yacs: unknown keys, odd-length lists, bad values
        raise InputError(f"{config_file}: {e.args[0] if e.args else e}") from None
    for key, registry in REGISTERED_NAMES.items():
        name = functools.reduce(getattr, key.split("."), cfg)
        if name not in registry and (name or key == "MODEL.META_ARCHITECTURE"):  # "": a part the model lacks
            raise InputError(f"{config_file}: {key} {name!r} is not registered; expected one of "
                             f"{sorted(registered for registered, _ in registry)}")
    return fall_back_to_cpu(cfg)


def load_model(config_file: str, opts: List[str]):
    """The config and its model in eval mode with ``MODEL.WEIGHTS`` loaded; weights that
    are missing, or of another architecture, raise with one sentence."""
    cfg = load_config(config_file, opts)
    if not cfg.MODEL.WEIGHTS:
        raise InputError("MODEL.WEIGHTS is empty: give the weights of a trained model (MODEL.WEIGHTS path.pth)")
    if not os.path.isfile(cfg.MODEL.WEIGHTS):
        raise FileNotFoundError(f"{cfg.MODEL.WEIGHTS}: no such weights file (MODEL.WEIGHTS)")
    model = build_model(cfg)
    CheckedCheckpointer(model, require_all=True).load(cfg.MODEL.WEIGHTS)
    return cfg, model.eval()
