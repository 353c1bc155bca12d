"""The one-shot model (FairMOT-style, CSTrack switches): wiring, losses, per-frame records."""
import math

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from mot_heads import add_mot_config
from mot_heads.modeling.one_shot import (
    FairMOTIDHead, FixedWeighting, OcclusionHead, ScaleAwareAttention, TaskDecoupler, UncertaintyWeighting,
)
from mot_heads.modeling.one_shot.meta_arch import rescale_cells

SWITCHES = {"baseline": [], "ren": ["MODEL.ONE_SHOT.REN.ENABLED", True],
            "saan": ["MODEL.ONE_SHOT.SAAN.ENABLED", True],
            "cstrack": ["MODEL.ONE_SHOT.REN.ENABLED", True, "MODEL.ONE_SHOT.SAAN.ENABLED", True]}


def tiny_model(*opts):
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file("configs/quick_schedules/oneshot_R18_FPN_GN_synthetic.yaml")
    cfg.merge_from_list(["MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES", 5, "MODEL.ONE_SHOT.EMBED_DIM", 16,
                         "MODEL.ONE_SHOT.HEAD_CONV", 16, "MODEL.DEVICE", "cpu", *opts])
    torch.manual_seed(0)
    return build_model(cfg)


def frame(height=64, width=96, with_targets=True):
    record = {"image": torch.randint(0, 255, (3, height, width)).float(), "height": 2 * height, "width": 2 * width}
    if with_targets:
        gt = Instances((height, width))
        gt.gt_boxes = Boxes(torch.tensor([[8.0, 8.0, 24.0, 40.0], [40.0, 20.0, 88.0, 44.0]]))
        gt.gt_classes = torch.tensor([0, 1])
        gt.gt_identities = torch.tensor([3, -1])
        record["instances"] = gt
    return record


def test_rescale_cells_to_a_coarser_map():
    # a 6-wide stride-4 map: cell (x 5, y 3) holds pixel (20, 12): cell (2, 1) at stride 8 of a 3x3 map
    assert rescale_cells(torch.tensor([3 * 6 + 5, 0, 6 + 1]), 6, 4, 8, (3, 3)).tolist() == [1 * 3 + 2, 0, 0]
    assert rescale_cells(torch.tensor([3 * 6 + 5]), 6, 4, 4, (4, 6)).tolist() == [23]  # same stride: same cell
    assert rescale_cells(torch.tensor([3 * 6 + 5]), 6, 4, 8, (1, 2)).tolist() == [1]  # clamped into the map


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_training_step_reaches_every_branch(switch):
    model = tiny_model(*SWITCHES[switch])
    model.train()
    with EventStorage() as storage:
        losses = model([frame(), frame()])
        logged = storage.latest()
    assert set(losses) == {"loss_det_weighted", "loss_id_weighted", "loss_uncertainty"}
    assert {"loss_heatmap", "loss_size", "loss_offset", "loss_id"} <= set(logged)
    sum(losses.values()).backward()
    named = dict(model.named_parameters())
    # no parameter without a gradient (DistributedDataParallel's default requires it)
    assert [n for n, p in named.items() if p.grad is None] == []
    assert named["balance.det_log_var"].grad is not None and named["id_loss.classifier.weight"].grad.abs().sum() > 0
    branch = {"baseline": "id_head", "ren": "decoupler", "saan": "saan", "cstrack": "saan"}[switch]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in named.items() if n.startswith(branch))
    if switch in ("ren", "cstrack"):
        assert all(named[n].grad is not None for n in named if n.endswith("lambda1") or n.endswith("lambda2"))


@pytest.mark.parametrize("switch", ["baseline", "cstrack"])
def test_inference_gives_the_trackers_record(switch):
    model = tiny_model(*SWITCHES[switch], "MODEL.ONE_SHOT.SCORE_THRESH_TEST", 0.0, "MODEL.ONE_SHOT.TOPK_TEST", 7)
    model.eval()
    with torch.no_grad():
        model.size_head[2].bias.fill_(3.0)  # boxes of 3 x 3 cells (untrained ones would be empty)
        instances = model([frame(with_targets=False)])[0]["instances"]
    assert instances.image_size == (128, 192) and len(instances) == 7
    assert instances.pred_embeddings.shape == (7, 16)
    torch.testing.assert_close(instances.pred_embeddings.norm(dim=1), torch.ones(7))
    boxes = instances.pred_boxes.tensor
    assert (boxes[:, 2:] >= boxes[:, :2]).all() and boxes.max() <= 192 and boxes.min() >= 0


# The parts each switch selects, and the prefixes of the model's weights in checkpoints
# (names fixed: checkpoints of any version load).
PARTS = {
    "baseline": (None, FairMOTIDHead, {"id_head"}),
    "ren": (TaskDecoupler, FairMOTIDHead, {"decoupler", "id_fusion", "id_head"}),
    "saan": (None, ScaleAwareAttention, {"saan"}),
    "cstrack": (TaskDecoupler, ScaleAwareAttention, {"decoupler", "saan"}),
}


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_config_selects_the_parts_under_their_checkpoint_names(switch):
    model = tiny_model(*SWITCHES[switch])
    decoupler, id_head, prefixes = PARTS[switch]
    assert isinstance(model.decoupler, decoupler or type(None))
    assert isinstance(model.id_branch, id_head) and model.occlusion is None and model.crop_embedder is None
    assert isinstance(model.balance, UncertaintyWeighting)
    common = {"backbone", "det_fusion", "heatmap_head", "size_head", "offset_head", "id_loss", "balance"}
    assert {k.split(".")[0] for k in model.state_dict()} == common | prefixes


def test_fixed_id_weight_and_occlusion_head_are_parts_too():
    model = tiny_model("MODEL.ONE_SHOT.UNCERTAINTY_WEIGHTING", False, "MODEL.ONE_SHOT.ID_WEIGHT", 0.02,
                       "MODEL.ONE_SHOT.OCCLUSION.ENABLED", True, "MODEL.ONE_SHOT.OCCLUSION.HEAD_CONV", 8)
    assert isinstance(model.balance, FixedWeighting) and model.balance.id_weight == 0.02
    assert isinstance(model.occlusion, OcclusionHead) and model.occlusion.loss_weight == 0.5
    assert {k.split(".")[0] for k in model.state_dict()} >= {"occlusion"}
    assert not any(k.startswith("balance.") for k in model.state_dict())


def paper_cstrack_cfg():
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file("configs/CSTrack/cstrack_DLA34.yaml")
    return cfg


def test_cstrack_total_loss_is_eq_10():
    """Eq. 10, CSTrack: L_total = L_det + eta L_id, "eta is experimentally set to 0.02"
    (Sec. III-D, Table V). The model is the tiny one with REN, SAAN and the paper config's
    balance keys; L_det is our CenterNet head's (FairMOT's weights: heatmap 1, size 0.1,
    offset 1), L_id the identity cross-entropy (Eq. 9)."""
    balance = paper_cstrack_cfg().MODEL.ONE_SHOT
    model = tiny_model(*SWITCHES["cstrack"], "MODEL.ONE_SHOT.UNCERTAINTY_WEIGHTING", balance.UNCERTAINTY_WEIGHTING,
                       "MODEL.ONE_SHOT.ID_WEIGHT", balance.ID_WEIGHT)
    model.train()
    with EventStorage() as storage:
        losses = model([frame(), frame()])
        logged = {k: v[0] for k, v in storage.latest().items()}
    det = logged["loss_heatmap"] + 0.1 * logged["loss_size"] + logged["loss_offset"]
    expected = det + 0.02 * logged["loss_id"]  # Eq. 10
    total = sum(losses.values()).item()
    assert total == pytest.approx(expected, rel=1e-5), f"total loss {total} != L_det + 0.02 L_id = {expected}"
    assert not any(n.startswith("balance.") for n, _ in model.named_parameters())  # eta is fixed, not learnt


def test_cstrack_training_schedule_of_the_paper():
    """Sec. IV-A: "SGD ... for 30 epochs ... batch size is set to 8. The initial learning rate
    is 5 x 10^-4, and we decay the learning rate to 5 x 10^-5 at the 20th epoch"."""
    solver = paper_cstrack_cfg().SOLVER
    assert solver.OPTIMIZER == "SGD" and solver.IMS_PER_BATCH == 8
    assert solver.BASE_LR == 5e-4 and solver.BASE_LR * solver.GAMMA == pytest.approx(5e-5)
    assert solver.EPOCHS == 30 and tuple(solver.STEP_EPOCHS) == (20,)


def test_features_must_start_at_stride_4():
    with pytest.raises(ValueError, match="must start at stride 4"):
        tiny_model("MODEL.ONE_SHOT.IN_FEATURES", ["p3", "p4", "p5"])
    with pytest.raises(ValueError, match=r"asks for backbone features \['up2'\]"):
        tiny_model("MODEL.ONE_SHOT.IN_FEATURES", ["up2", "p3"])


def test_frame_pairs_train_flattened_with_the_occlusion_head():
    model = tiny_model("MODEL.ONE_SHOT.OCCLUSION.ENABLED", True, "MODEL.ONE_SHOT.OCCLUSION.HEAD_CONV", 8)
    model.train()
    occluded = frame()  # a third box inside the second: one valid occlusion (Eq. 9)
    occluded["instances"] = Instances((64, 96), gt_boxes=Boxes(torch.tensor(
        [[8.0, 8.0, 24.0, 40.0], [40.0, 20.0, 88.0, 44.0], [52.0, 22.0, 62.0, 42.0]])),
        gt_classes=torch.tensor([0, 1, 1]), gt_identities=torch.tensor([3, -1, 4]))
    with EventStorage() as storage:
        losses = model([dict(occluded, pair=frame()), dict(frame(), pair=occluded)])
        logged = {k: v[0] for k, v in storage.latest().items()}
    assert logged["loss_occlusion_offset"] > 0 and logged["loss_occlusion_heatmap"] > 0
    # Sec. 4.1, OUTrack: "L_occ is added to the detection loss of FairMOT with the weight of
    # 0.5"; FairMOT's total: 1/2 (e^-s_det L_det + e^-s_id L_id + s_det + s_id), s = -1.85, -1.05
    detection = (logged["loss_heatmap"] + 0.1 * logged["loss_size"] + logged["loss_offset"]
                 + 0.5 * (logged["loss_occlusion_heatmap"] + logged["loss_occlusion_offset"]))
    torch.testing.assert_close(losses["loss_det_weighted"].detach(), torch.tensor(0.5 * math.exp(1.85) * detection),
                               msg=lambda m: f"Sec. 4.1, L_occ inside the detection loss: {m}")
    assert set(losses) == {"loss_det_weighted", "loss_id_weighted", "loss_uncertainty"}
    sum(losses.values()).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    with pytest.raises(ValueError, match="mixes frame pairs and single frames"):
        model([dict(frame(), pair=frame()), frame()])


def test_inference_gives_occlusion_centres_in_input_pixels():
    model = tiny_model("MODEL.ONE_SHOT.OCCLUSION.ENABLED", True, "MODEL.ONE_SHOT.OCCLUSION.HEAD_CONV", 8,
                       "MODEL.ONE_SHOT.OCCLUSION.SCORE_THRESH_TEST", 0.5)
    model.eval()
    with torch.no_grad():
        head = model.occlusion.heatmap[2]
        head.weight.zero_()
        head.bias.fill_(-10.0)
        model.occlusion.offset[2].weight.zero_()
        model.occlusion.offset[2].bias.fill_(0.5)
        maps = model.predict_maps(model.preprocess_image([frame(with_targets=False)]))
    heatmap = torch.full_like(maps["occlusion"]["heatmap"], -10.0)
    heatmap[0, 0, 3, 5] = 2.0  # one peak at cell (x 5, y 3) of the stride-4 map
    model.predict_maps = lambda images, embeddings=True: {**maps, "occlusion": {**maps["occlusion"], "heatmap": heatmap}}
    with torch.no_grad():
        out = model([frame(with_targets=False)])[0]
    # (cell + offset 0.5) * stride 4, then x2 to the 192 x 128 input
    torch.testing.assert_close(out["occlusions"]["centers"], torch.tensor([[44.0, 28.0]]))
    torch.testing.assert_close(out["occlusions"]["scores"], torch.sigmoid(torch.tensor([2.0])))
