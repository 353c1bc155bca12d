"""A batch whose images carry no identity (CrowdHuman, COCO next to videos) still gives
every trainable parameter a gradient: DistributedDataParallel stops at the next iteration
otherwise (see tests/engine/test_ddp_mixed_batches.py for the two-process run)."""
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from mot_heads.modeling.zero_loss import zero_loss
from tests.modeling.test_distillation import ALLOW_RANDOM, student_cfg
from tests.modeling.test_distillation import frame as distillation_frame
from tests.modeling.test_one_shot_model import SWITCHES, frame, tiny_model

OCCLUSION = ["MODEL.ONE_SHOT.OCCLUSION.ENABLED", True, "MODEL.ONE_SHOT.OCCLUSION.HEAD_CONV", 8]


def without_identities(record):
    record["instances"].gt_identities = torch.full((len(record["instances"]),), -1)
    return record


def parameters_without_gradient(model, batch):
    model.train()
    with EventStorage():
        sum(model(batch).values()).backward()
    return [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]


@pytest.mark.parametrize("switch", [*SWITCHES, "occlusion"])
def test_one_shot_parts_get_gradients_from_a_batch_without_identities(switch):
    model = tiny_model(*SWITCHES.get(switch, OCCLUSION))
    assert parameters_without_gradient(model, [without_identities(frame()), without_identities(frame())]) == []


@pytest.mark.parametrize("eta", [1.0, 0.5])
def test_kdmot_gets_gradients_from_a_batch_without_identities(eta):
    torch.manual_seed(0)
    cfg = student_cfg(*ALLOW_RANDOM, "MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.ETA", eta,
                      "MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES", 5)
    batch = [without_identities(distillation_frame()), without_identities(distillation_frame())]
    assert parameters_without_gradient(build_model(cfg), batch) == []


def test_zero_loss_reaches_tensors_and_trainable_parameters_only():
    layer, frozen = torch.nn.Linear(2, 3), torch.nn.Linear(2, 2).requires_grad_(False)
    features = torch.ones(0, 2, requires_grad=True)
    loss = zero_loss(features, layer, frozen)
    assert loss.item() == 0.0
    loss.backward()
    assert features.grad is not None and frozen.weight.grad is None
    assert all(p.grad is not None and not p.grad.any() for p in layer.parameters())
