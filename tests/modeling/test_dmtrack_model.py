"""DMTrack's meta-architecture: query/target pairing, losses reaching every part, the
template's effect on detection, candidates in frame pixels; its online SOT driver."""
import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from mot_heads import add_mot_config
from mot_heads.engine.online import SingleTargetTracking, SOTDriver
from mot_heads.modeling.dmtrack.meta_arch import centre_cells, embeddings_at
from trackers import build_tracker


def tiny_model(*opts):
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file("configs/quick_schedules/dmtrack_R18_FPN_GN_synthetic.yaml")
    cfg.merge_from_list(["MODEL.DMTRACK.NUM_IDENTITIES", 6, "MODEL.DMTRACK.EMBED_DIM", 16,
                         "MODEL.DMTRACK.HEAD_CONV", 16, "MODEL.FPN.OUT_CHANNELS", 32, "MODEL.DEVICE", "cpu", *opts])
    torch.manual_seed(0)
    return build_model(cfg)


def instances(boxes, track_ids, identities, size=(64, 96)):
    gt = Instances(size)
    gt.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    gt.gt_classes = torch.zeros(len(track_ids), dtype=torch.int64)
    gt.gt_track_ids = torch.tensor(track_ids, dtype=torch.int64)
    gt.gt_identities = torch.tensor(identities, dtype=torch.int64)
    return gt


def pair():
    """Template with tracks 1 and 2; in the search frame track 1 moved and track 2 left."""
    template = {"image": torch.randint(0, 255, (3, 64, 96)).float(),
                "instances": instances([[8, 8, 24, 40], [50, 10, 80, 50]], [1, 2], [0, 1])}
    search = {"image": torch.randint(0, 255, (3, 64, 96)).float(),
              "instances": instances([[12, 8, 28, 40], [60, 30, 70, 60]], [1, 5], [0, 4])}
    return {**template, "pair": search}


def test_centre_cells_and_embeddings_at_box_centres():
    boxes = torch.tensor([[0.0, 0.0, 8.0, 8.0], [10.0, 2.0, 14.0, 6.0], [30.0, 30.0, 50.0, 50.0]])
    # centres (4, 4), (12, 4), (40, 40) at stride 4 on a 3 x 5 map: cells (1, 1), (3, 1), clamped (4, 2)
    assert centre_cells(boxes, (3, 5), 4).tolist() == [1 * 5 + 1, 1 * 5 + 3, 2 * 5 + 4]
    embedding_map = torch.arange(2 * 15, dtype=torch.float32).view(2, 3, 5)
    assert embeddings_at(embedding_map, boxes[:1]).tolist() == [[6.0, 21.0]]


def test_each_query_targets_its_own_track_in_the_search_frame(monkeypatch):
    model = tiny_model("MODEL.DMTRACK.QUERIES_PER_IMAGE", 4)
    seen = {}

    def record(logits, ltrb, centerness, targets, image_index):
        seen["targets"], seen["image_index"], seen["pairs"] = targets, image_index, logits[0].shape[0]
        return {"loss_fcos_cls": logits[0].sum() * 0}

    monkeypatch.setattr(model, "fcos_loss", record)
    model.train()
    with EventStorage():
        model([pair(), pair()])
    assert seen["pairs"] == 4 and seen["image_index"].tolist() == [0, 0, 1, 1]
    by_size = sorted(seen["targets"], key=len)
    assert [len(t) for t in by_size] == [0, 0, 1, 1]  # track 2 is absent from the search frame
    assert by_size[-1].tolist() == [[12.0, 8.0, 28.0, 40.0]]  # track 1's box there


def test_queries_per_image_limits_the_templates(monkeypatch):
    model = tiny_model("MODEL.DMTRACK.QUERIES_PER_IMAGE", 1)
    counts = []
    monkeypatch.setattr(model, "fcos_loss", lambda logits, *rest: counts.append(len(rest[2])) or {
        "loss_fcos_cls": logits[0].sum() * 0})
    model.train()
    with EventStorage():
        model([pair()])
    assert counts == [1]


def test_training_step_reaches_every_parameter():
    model = tiny_model()
    model.train()
    with EventStorage() as storage:
        losses = model([pair(), pair()])
        logged = storage.latest()
    assert set(losses) == {"loss_det_weighted", "loss_id_weighted", "loss_uncertainty"}
    assert {"loss_fcos_cls", "loss_fcos_loc", "loss_fcos_ctr", "loss_id"} <= set(logged)
    sum(losses.values()).backward()
    named = dict(model.named_parameters())
    assert [n for n, p in named.items() if p.grad is None] == []
    for part in ("controller.", "cls_tower.", "reg_tower.", "reid_head.", "id_loss.", "balance."):
        assert any(p.grad.abs().sum() > 0 for n, p in named.items() if n.startswith(part)), part


def test_without_reid_only_detection_losses():
    model = tiny_model("MODEL.DMTRACK.REID_ENABLED", False)
    model.train()
    with EventStorage():
        losses = model([pair()])
    assert set(losses) == {"loss_fcos_cls", "loss_fcos_loc", "loss_fcos_ctr"} and model.reid_head is None


def test_templates_without_tracked_objects_give_zero_losses_with_gradients():
    model = tiny_model("MODEL.DMTRACK.REID_ENABLED", False)
    sample = pair()
    sample["instances"].gt_track_ids[:] = -1
    model.train()
    with EventStorage():
        losses = model([sample])
    assert all(float(v) == 0.0 for v in losses.values())
    sum(losses.values()).backward()


def test_training_needs_pairs():
    model = tiny_model()
    model.train()
    single = pair()
    del single["pair"]
    with pytest.raises(ValueError, match="IdentityPairMapper"):
        model([single])


def _frame(seed, height=64, width=96):
    generator = torch.Generator().manual_seed(seed)
    return {"image": torch.randint(0, 255, (3, height, width), generator=generator).float(),
            "height": 2 * height, "width": 2 * width}


def test_the_template_changes_the_detections():
    model = tiny_model("MODEL.DMTRACK.SCORE_THRESH_TEST", 0.0)
    with torch.no_grad():  # untrained controllers generate near-zero kernels: make them matter
        for controller in model.controller.controllers:
            controller.weight.normal_(std=0.5)
    model.eval()
    first, later = _frame(1), _frame(2)
    one = model.detect_candidates(later, model.init_template(first, [10, 10, 50, 70]))
    other = model.detect_candidates(later, model.init_template(first, [100, 40, 180, 120]))
    assert not torch.allclose(one.scores, other.scores)


def test_candidates_are_top_k_in_frame_pixels_with_unit_embeddings():
    model = tiny_model("MODEL.DMTRACK.SCORE_THRESH_TEST", 0.0, "MODEL.DMTRACK.TOPK_TEST", 7)
    model.eval()
    template = model.init_template(_frame(1), [10, 10, 50, 70])
    assert len(template.kernels) == 4 and template.embedding.shape == (16,)
    torch.testing.assert_close(template.embedding.norm(), torch.tensor(1.0))
    candidates = model.detect_candidates(_frame(2), template)
    assert candidates.image_size == (128, 192) and len(candidates) == 7
    assert (candidates.scores[:-1] >= candidates.scores[1:]).all()
    torch.testing.assert_close(candidates.pred_embeddings.norm(dim=1), torch.ones(7))
    boxes = candidates.pred_boxes.tensor
    assert boxes.min() >= 0 and boxes[:, 2].max() <= 192 and boxes[:, 3].max() <= 128


def test_eval_forward_points_to_the_tracking_api():
    model = tiny_model()
    model.eval()
    with pytest.raises(RuntimeError, match="init_template"):
        model([_frame(1)])


def _sot_frame(video, index, box=None):
    return {**_frame(index), "video_id": video, "frame_idx": index, "file_name": f"{video}/{index}.jpg",
            "sot_box": box}


def test_single_target_tracking_starts_from_the_first_box_per_video():
    model = tiny_model("MODEL.DMTRACK.SCORE_THRESH_TEST", 0.0)
    model.eval()
    online = SingleTargetTracking(model, "longterm", {"selection": "top1", "min_score": 0.0})
    outputs = online([_sot_frame("a", 1, [10.0, 20.0, 30.0, 40.0]), _sot_frame("a", 2)])
    assert outputs[0] == {"sot_box": [10.0, 20.0, 30.0, 40.0], "sot_confidence": 1.0}
    assert outputs[1]["sot_box"] is not None and len(outputs[1]["sot_box"]) == 4
    assert online([_sot_frame("b", 1, [5.0, 5.0, 10.0, 10.0])])[0]["sot_box"] == [5.0, 5.0, 10.0, 10.0]
    with pytest.raises(ValueError, match="in order"):
        online([_sot_frame("b", 3)])
    with pytest.raises(ValueError, match="no target box"):
        online([_sot_frame("c", 1)])


def test_sot_driver_needs_the_longterm_tracker_and_a_start():
    model = tiny_model()
    with pytest.raises(TypeError, match="longterm"):
        SOTDriver(model, build_tracker("jde"))
    driver = SOTDriver(model.eval(), build_tracker("longterm"))
    with pytest.raises(RuntimeError, match="before start"):
        driver.step(_frame(1))
    tracks = driver.start(_frame(1), np.array([10.0, 10.0, 50.0, 70.0]))
    assert tracks.track_ids.tolist() == [1]
