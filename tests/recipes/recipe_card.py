"""Recipe cards: a stage config's constants compared with a table transcribed from the
paper, and the chain of stages through ``MODEL.WEIGHTS``."""
import functools
import os
import re
from typing import Sequence, Tuple

import pytest
from detectron2.config import CfgNode, get_cfg

from mot_heads import add_mot_config
from mot_heads.cli.train import check_weights
from mot_heads.config import merge_config_file
from tests.recipes.dry_run import REPO

Row = Tuple[str, object, str]  # config key, the paper's value, the paper's words


def load_stage(config: str) -> CfgNode:
    """The stage config ``config`` (relative to the repository), as ``mot train`` loads it."""
    cfg = add_mot_config(get_cfg())
    merge_config_file(cfg, os.path.join(REPO, config))
    return cfg


def config_value(cfg: CfgNode, key: str):
    """The value of the dotted ``key``; lists as tuples."""
    found = functools.reduce(getattr, key.split("."), cfg)
    return tuple(found) if isinstance(found, (list, tuple)) else found


def assert_card(config: str, rows: Sequence[Row]) -> None:
    """Every row's key of ``config`` holds the paper's value."""
    cfg = load_stage(config)
    for key, expected, source in rows:
        found = config_value(cfg, key)
        assert found == expected, f"{config}: {key} = {found!r}, the paper: {expected!r} ({source})"


def final_weights(config: str) -> str:
    """Where the stage ``config`` writes its last checkpoint."""
    return os.path.join(load_stage(config).OUTPUT_DIR, "model_final.pth")


def starting_weights(previous: str) -> str:
    """The ``MODEL.WEIGHTS`` of a stage that follows ``previous``: the final checkpoint of
    that stage config (a ``.yaml``), else ``previous`` itself (initial weights)."""
    return final_weights(previous) if previous.endswith(".yaml") else previous


def assert_names_missing_weights(config: str, weights: str) -> None:
    """``mot train``'s weights check on the stage ``config`` stops with one sentence naming
    its absent initial ``weights`` (a cross-entropy ID loss counts 10 identities: the
    training sets are not on disk)."""
    cfg = load_stage(config)
    cfg.MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES = 10
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(weights)}: no such weights file"):
        check_weights(cfg, resume=False, require_all=False)


# The tests every recipe module shares: a module imports them and states its tables,
# CARDS (stage config -> rows), CHAIN (stage config -> the stage or initial weights it
# starts from) and INITIAL_WEIGHTS (first stage config -> its initial weights file);
# tests/recipes/conftest.py parametrizes each test by its module's table.
def test_stage_constants_are_the_papers(config, card):
    assert_card(config, card)


def test_each_stage_starts_from_the_previous_stage(config, previous):
    assert load_stage(config).MODEL.WEIGHTS == starting_weights(previous)


def test_first_stage_without_its_initial_weights_names_the_file(config, weights):
    assert_names_missing_weights(config, weights)
