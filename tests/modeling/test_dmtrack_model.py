"""DMTrack's meta-architecture: query/target pairing, losses reaching every part, the
template's effect on detection, candidates in frame pixels; its online SOT driver."""
import math

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from mot_heads import add_mot_config
from mot_heads.engine.drivers import SOTDriver
from mot_heads.engine.online import OnlineTracking
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


def test_detection_batches_have_no_reid_loss_and_every_parameter_a_gradient():
    """A batch without identities (SOT / COCO pairs, data/alternating.py) trains detection
    only: the re-id branch, its classifier and s_id get zero gradients (not None: DDP)."""
    model = tiny_model()
    model.train()
    losses = {}
    for kind, identities in (("reid", None), ("detection", -1)):
        sample = pair()
        if identities is not None:
            for frame in (sample, sample["pair"]):
                frame["instances"].gt_identities[:] = identities
        model.zero_grad()
        with EventStorage():
            losses[kind] = model([sample])
        sum(losses[kind].values()).backward()
        reid_grads = [p.grad for n, p in model.named_parameters()
                      if n.startswith(("reid_head.", "id_loss.")) or n == "balance.id_log_var"]
        assert all(p.grad is not None for p in model.parameters()), kind
        assert any(g.abs().sum() > 0 for g in reid_grads) == (kind == "reid"), kind
    assert set(losses["reid"]) == set(losses["detection"])  # Detectron2 gathers the processes' losses by name
    assert float(losses["reid"]["loss_id_weighted"]) > 0 and float(losses["detection"]["loss_id_weighted"]) == 0
    det_log_var = float(model.balance.det_log_var)
    assert float(losses["detection"]["loss_uncertainty"]) == pytest.approx(0.5 * det_log_var)


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
    online = OnlineTracking(model, "longterm", {"selection": "top1", "min_score": 0.0})
    outputs = online([_sot_frame("a", 1, [10.0, 20.0, 30.0, 40.0]), _sot_frame("a", 2)])
    assert {k: outputs[0][k] for k in ("sot_box", "sot_confidence")} == {"sot_box": [10.0, 20.0, 30.0, 40.0],
                                                                       "sot_confidence": 1.0}
    assert outputs[0]["tracks"].boxes.tolist() == [[10.0, 20.0, 40.0, 60.0]]
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
    with pytest.raises(ValueError, match="target's box"):
        driver.start(_frame(1))
    tracks = driver.start(_frame(1), np.array([10.0, 10.0, 50.0, 70.0])).tracks
    assert tracks.track_ids.tolist() == [1]


# ---------------------------------------------------------------------------- the paper's rules

def test_paper_config_has_the_stated_constants():
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file("configs/DMTrack/dmtrack_DLA34.yaml")
    # Sec. 4.2: "The image size for inference is set to 735 x 512".
    assert (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST) == (512, 735), "Sec. 4.2: test size 735 x 512"
    # Sec. 4.1: "sampling shorter size of input image from 256 to 608 with interval 32".
    assert tuple(cfg.INPUT.MIN_SIZE_TRAIN) == tuple(range(256, 608 + 1, 32))
    assert cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING == "choice"
    # Sec. 4.1: SGD, "starting learning rate of 1e-3", "360K training iterations and
    # decreased by 10 at iteration 300K and 340K".
    assert (cfg.SOLVER.OPTIMIZER, cfg.SOLVER.BASE_LR, cfg.SOLVER.GAMMA) == ("SGD", 1e-3, 0.1)
    assert (cfg.SOLVER.MAX_ITER, tuple(cfg.SOLVER.STEPS)) == (360_000, (300_000, 340_000))
    dm = cfg.MODEL.DMTRACK
    # Sec. 3.2, 4.1: P3-P5; 256-channel stacks of four convs, a 32-channel encoder; RoIAlign 7;
    # d-convs at "1+6"; 128-d re-id; Eq. 1: r = 1.5; Eq. 7: lambda_n^m = 1 (our reading: the
    # paper gives no other value); Eq. 4-6, 9 plain sums; Sec. 3.5: candidates by the
    # classification score; long-term tracking by re-id association.
    assert dm.IN_FEATURES == ["p3", "p4", "p5"] and cfg.MODEL.FPN.OUT_CHANNELS == 256
    assert (dm.NUM_CONVS, dm.REDUCED_CHANNELS, dm.POOLER_RESOLUTION, dm.INTEGRATION) == (4, 32, 7, "1+6")
    assert (dm.EMBED_DIM, dm.CENTER_RADIUS) == (128, 1.5)
    assert [list(dm.LAMBDA_ALPHA), list(dm.LAMBDA_BETA), list(dm.LAMBDA_GAMMA)] == [[1.0] * 3] * 3
    assert (dm.NORMALIZE_LOSSES, dm.CENTERNESS_WEIGHTED_BOX_LOSS, dm.CANDIDATE_SCORE) == (
        False, False, "classification")
    assert cfg.TRACKER.NAME == "longterm" and "selection=reid" in cfg.TRACKER.PARAMS


def test_paper_model_has_k4_controllers_generating_eq2_parameters():
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file("configs/DMTrack/dmtrack_DLA34.yaml")
    cfg.merge_from_list(["MODEL.DMTRACK.NUM_IDENTITIES", 10, "MODEL.DEVICE", "cpu"])
    model = build_model(cfg)

    def parameter_number(c_in, k_w, k_h, c_out):  # Eq. 3: PN(conv) = (C^u K_w^u K_h^u + 1) C^{u+1}
        return (c_in * k_w * k_h + 1) * c_out

    # Eq. 2: C^g = sum_u PN(conv_cls^u) + sum_v PN(conv_reg^v); 1x1 d-convs ("we simply
    # generate 1 x 1 convolutions") at places 1 (on the 256-channel neck output) and 6 (on
    # the 32-channel encoder output) of both heads.
    c_g = 2 * (parameter_number(256, 1, 1, 256) + parameter_number(32, 1, 1, 32))
    assert len(model.controller.controllers) == 4  # Sec. 4.1: k = 4
    assert sum(c.out_channels for c in model.controller.controllers) == c_g
    assert model.controller.pooler.output_size == (7, 7)  # Sec. 4.1: RoIAlign, output size 7


@pytest.mark.parametrize("candidate_score", ["classification", "centerness_weighted"])
def test_candidates_are_the_top_k_by_classification_score_decoded_at_eq1_locations(candidate_score):
    # Sec. 3.5: "we take the top-k candidates ordered by the classification score"; ours,
    # "centerness_weighted": sqrt(classification x centre-ness), as FCOS ranks.
    model = tiny_model("MODEL.DMTRACK.SCORE_THRESH_TEST", 0.0, "MODEL.DMTRACK.TOPK_TEST", 5,
                       "MODEL.DMTRACK.CANDIDATE_SCORE", candidate_score)
    model.eval()
    template = model.init_template(_frame(1), [10, 10, 50, 70])
    frame = _frame(2)
    candidates = model.detect_candidates(frame, template)
    with torch.no_grad():
        features = model.backbone(model.preprocess_image([frame]).tensor)
        logits, ltrb, centerness = model.search_head([features[f] for f in model.in_features], template.kernels)

    def sigmoid(z):
        return 1 / (1 + math.exp(-z))

    cells = []  # (score, box) of every location, Eq. 1 locations, boxes (x - l, y - t, x + r, y + b)
    for level_logits, level_ltrb, level_centerness, s in zip(logits, ltrb, centerness, (8, 16, 32)):
        height, width = level_logits.shape[-2:]
        for y in range(height):
            for x in range(width):
                px, py = s // 2 + x * s, s // 2 + y * s
                l, t, r, b = level_ltrb[0, :, y, x].tolist()
                score = sigmoid(level_logits[0, 0, y, x].item())
                if candidate_score == "centerness_weighted":
                    score = math.sqrt(score * sigmoid(level_centerness[0, 0, y, x].item()))
                cells.append((score, [px - l, py - t, px + r, py + b]))
    top = sorted(cells, key=lambda c: -c[0])[:5]
    np.testing.assert_allclose(candidates.scores.numpy(), [score for score, _ in top], rtol=1e-5,
                               err_msg="Sec. 3.5: candidates ordered by the classification score")
    frame_boxes = np.clip(np.array([box for _, box in top]) * 2, 0, [192, 128, 192, 128])  # the frame is 2x the input
    np.testing.assert_allclose(candidates.pred_boxes.tensor.numpy(), frame_boxes, rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="CANDIDATE_SCORE"):
        tiny_model("MODEL.DMTRACK.CANDIDATE_SCORE", "centerness")


def test_eq9_sums_the_identity_softmax_losses_balanced_as_jde():
    model = tiny_model()
    model.train()
    samples = [pair(), pair()]
    with EventStorage() as storage:
        losses = model(samples)
        logged = {name: value for name, (value, _) in storage.latest().items()}
    frames = [frame for x in samples for frame in (x, x["pair"])]
    with torch.no_grad():
        features = model.backbone(model.preprocess_image(frames).tensor)
        embedding_map = model.embedding_map(features)
        classifier = model.id_loss.classifier
        expected_id = 0.0
        for index, frame in enumerate(frames):
            gt = frame["instances"]
            for box, identity in zip(gt.gt_boxes.tensor.tolist(), gt.gt_identities.tolist()):
                # Sec. 3.3: the embedding of an object at its centre, on the stride-4 map
                x, y = int((box[0] + box[2]) / 2 // 4), int((box[1] + box[3]) / 2 // 4)
                vector = embedding_map[index, :, y, x]
                logits = classifier(model.id_loss.scale * vector / vector.norm()).tolist()  # as FairMOT [40]
                # Eq. 9: sum over the M objects of the softmax cross-entropy over the J identities
                expected_id += -logits[identity] + math.log(sum(math.exp(v) for v in logits))
    assert logged["loss_id"] == pytest.approx(expected_id, rel=1e-4), "Eq. 9: sum over the objects"
    # JDE's balance ([34]): L = 1/2 sum_i (exp(-s_i) L_i + s_i), for detection and re-id
    s_det, s_id = model.balance.det_log_var.item(), model.balance.id_log_var.item()
    det = logged["loss_fcos_cls"] + logged["loss_fcos_loc"] + logged["loss_fcos_ctr"]
    assert sum(v.item() for v in losses.values()) == pytest.approx(
        0.5 * (math.exp(-s_det) * det + s_det) + 0.5 * (math.exp(-s_id) * expected_id + s_id), rel=1e-4)
