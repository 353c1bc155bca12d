"""The one-shot model (FairMOT-style, CSTrack switches): wiring, losses, per-frame records."""
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from mot_heads import add_mot_config
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


def test_features_must_start_at_stride_4():
    with pytest.raises(ValueError, match="must start at stride 4"):
        tiny_model("MODEL.ONE_SHOT.IN_FEATURES", ["p3", "p4", "p5"])
    with pytest.raises(ValueError, match=r"asks for backbone features \['up2'\]"):
        tiny_model("MODEL.ONE_SHOT.IN_FEATURES", ["up2", "p3"])


def test_frame_pairs_train_flattened_with_the_occlusion_head():
    model = tiny_model("MODEL.ONE_SHOT.OCCLUSION.ENABLED", True, "MODEL.ONE_SHOT.OCCLUSION.HEAD_CONV", 8)
    model.train()
    with EventStorage() as storage:
        losses = model([dict(frame(), pair=frame()), dict(frame(), pair=frame())])
        logged = storage.latest()
    assert set(losses) == {"loss_det_weighted", "loss_id_weighted", "loss_uncertainty", "loss_occlusion_weighted"}
    # the two boxes overlap by less than 0.7 of the smaller one: no valid occlusion, only negatives
    assert logged["loss_occlusion_offset"][0] == 0.0 and logged["loss_occlusion_heatmap"][0] > 0
    torch.testing.assert_close(losses["loss_occlusion_weighted"],
                               torch.tensor(0.5 * (logged["loss_occlusion_heatmap"][0] + 0.0)))
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
