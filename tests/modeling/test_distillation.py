"""KDMOT (Zhang et al., ACM MM 2021, "Boosting End-to-end Multi-Object Tracking and Person
Search via Knowledge Distillation"): Eq. 1-10 computed here from the paper's text, the
frozen teacher, its weights, and the paper's configuration."""
import math

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from scipy.special import log_softmax
from torch import nn

from mot_heads import add_mot_config
from mot_heads.modeling.one_shot.centernet import centernet_focal_loss, centernet_targets, regression_l1_loss
from mot_heads.modeling.one_shot.distillation import DistillationIDLoss, build_teacher
from mot_heads.modeling.one_shot.id_losses import CrossEntropyIDLoss

QUICK_STUDENT = "configs/quick_schedules/kdmot_R18_FPN_GN_synthetic.yaml"
QUICK_TEACHER = "configs/quick_schedules/reid_R18_synthetic.yaml"
PAPER_STUDENT = "configs/KDMOT/kdmot_DLA34.yaml"
ALLOW_RANDOM = ("MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.ALLOW_RANDOM_TEACHER", True)


def smooth_l1_eq9(student: np.ndarray, teacher: np.ndarray) -> float:
    """Eq. 9 (= Eq. 7, L_soft), KDMOT: 1/C sum_c {0.5 d^2 if |d| < 1, |d| - 0.5 otherwise},
    d = E^_c - E_c. The paper writes |d| of k-vectors; we read it per channel and average
    over the k channels as over the C boxes (the authors' SmoothL1Loss, mean reduction).
    Summing the channels instead is the same Eq. 10 objective with omega_2 started log k
    higher (the paper gives no initial omega)."""
    d = np.asarray(student, np.float64) - np.asarray(teacher, np.float64)
    return float(np.where(np.abs(d) < 1, 0.5 * d ** 2, np.abs(d) - 0.5).mean())


def cross_entropy_eq8(logits: np.ndarray, labels: np.ndarray) -> float:
    """Eq. 8, KDMOT: L_hard = 1/C sum_c sum_i l_i^c log p_i, with p = softmax of the class
    scores and l^c one-hot. The printed sum has no minus sign; as a loss to minimise it is
    the cross-entropy -1/C sum_c log p_{y_c}."""
    log_p = log_softmax(np.asarray(logits, np.float64), axis=1)
    one_hot = np.eye(log_p.shape[1])[labels]
    return float(-(one_hot * log_p).sum() / len(labels))


class FixedTeacher(nn.Module):
    """A stand-in teacher whose embedding of box k is ``targets[k]``; records its inputs."""

    def __init__(self, targets):
        super().__init__()
        self.bnneck = nn.BatchNorm1d(targets.shape[1])
        self.targets, self.calls = targets, []

    def embed_boxes(self, images, boxes, input_format, normalize):
        self.calls.append((images, boxes, input_format, normalize))
        return self.targets


def gt(*boxes, identities=None):
    instances = Instances((16, 16))
    instances.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    if identities is not None:
        instances.gt_identities = torch.tensor(identities)
    return instances


INPUTS = [{"image": torch.zeros(3, 16, 16, dtype=torch.uint8)}, {"image": torch.ones(3, 12, 16, dtype=torch.uint8)}]
# Student and teacher embeddings whose differences reach both cases of Eq. 9: |d| < 1, |d| = 1, |d| > 1.
STUDENT = [torch.tensor([[0.5, 0.0, -0.2], [1.0, 1.0, 2.5]]), torch.tensor([[0.0, 0.0, 0.9]])]
TEACHER = torch.tensor([[0.0, 0.0, 0.3], [1.0, -1.0, -0.5], [0.0, 3.0, 0.0]])


def test_eq9_smooth_l1_to_the_teacher_of_each_gt_box_crop():
    teacher = FixedTeacher(TEACHER)
    loss = DistillationIDLoss(teacher=teacher, embed_dim=3, input_format="BGR")
    student = [s.clone().requires_grad_() for s in STUDENT]
    value = loss(student, [gt([0, 0, 8, 8], [4, 4, 12, 12]), gt([1, 1, 5, 5])], None, INPUTS)
    assert set(value) == {"loss_id_distillation"}  # eta = 1: no hard-label term
    expected = smooth_l1_eq9(torch.cat(STUDENT).numpy(), TEACHER.numpy())
    assert value["loss_id_distillation"].item() == pytest.approx(expected, rel=1e-6)
    value["loss_id_distillation"].backward()
    assert student[0].grad is not None
    images, boxes, input_format, normalize = teacher.calls[0]
    assert images.shape == (2, 3, 16, 16) and images[1, :, :12].eq(1).all()  # one padded batch of raw pixels
    assert [b.tolist() for b in boxes] == [[[0, 0, 8, 8], [4, 4, 12, 12]], [[1, 1, 5, 5]]]
    assert input_format == "BGR" and normalize is False


@pytest.mark.parametrize("eta", [0.5, 0.2, 0.0])
def test_eq6_mixes_soft_and_hard_labels_by_eta(eta):
    torch.manual_seed(0)
    hard = CrossEntropyIDLoss(embed_dim=3, num_identities=4)
    logits = []
    hard.classifier.register_forward_hook(lambda module, args, out: logits.append(out.detach()))
    loss = DistillationIDLoss(teacher=FixedTeacher(TEACHER), embed_dim=3, eta=eta, hard_label_loss=hard)
    identities = [[2, -1], [0]]
    targets = [gt([0, 0, 8, 8], [4, 4, 12, 12], identities=identities[0]), gt([1, 1, 5, 5], identities=identities[1])]
    value = loss(STUDENT, targets, None, INPUTS)
    l_soft = smooth_l1_eq9(torch.cat(STUDENT).numpy(), TEACHER.numpy())
    labels = np.array([i for ids in identities for i in ids])
    l_hard = cross_entropy_eq8(logits[0].numpy(), labels[labels >= 0])  # a box without identity has no hard label
    # Eq. 6, KDMOT: L_KD = eta L_soft + (1 - eta) L_hard
    assert sum(value.values()).item() == pytest.approx(eta * l_soft + (1 - eta) * l_hard, rel=1e-6)


def test_eta_is_one_by_default_and_must_lie_in_0_1():
    # "We set alpha=1 in our framework. In a word, our identity supervision completely comes
    # from pre-trained teacher": the "alpha" of that sentence is Eq. 6's eta (soft labels only).
    assert add_mot_config(get_cfg()).MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.ETA == 1.0
    with pytest.raises(ValueError, match=r"ETA is 1.5: expected 0 <= eta <= 1"):
        DistillationIDLoss(teacher=FixedTeacher(TEACHER), embed_dim=3, eta=1.5)
    with pytest.raises(ValueError, match="ETA < 1 needs the hard-label"):
        DistillationIDLoss(teacher=FixedTeacher(TEACHER), embed_dim=3, eta=0.5)


def test_embedding_sizes_must_match_and_empty_batches_keep_the_graph():
    with pytest.raises(ValueError, match="EMBED_DIM is 8, the teacher's embedding 2"):
        DistillationIDLoss(teacher=FixedTeacher(torch.zeros(1, 2)), embed_dim=8)
    loss = DistillationIDLoss(teacher=FixedTeacher(torch.zeros(0, 2)), embed_dim=2)
    empty = torch.zeros(0, 2, requires_grad=True)
    assert loss([empty], [gt()], None, [{"image": torch.zeros(3, 4, 4)}])["loss_id_distillation"].requires_grad


def test_eq1_centres_sizes_and_offsets_at_stride_4():
    # Eq. 1 as printed takes p^c as the mean of the floored corners, (floor(x1/r) + floor(x2/r)) / 2,
    # which is in general not a cell: no heatmap value would be 1 and Eq. 2 would have no
    # positive. Sec. 3.2.1 "Following [65]" (CenterNet): p~ = floor(p / r) with p the box
    # centre, o = p / r - p~ (the printed o^c with that p~), s the box size in output cells.
    r = 4
    boxes = np.array([[10.0, 6.0, 31.0, 47.0], [50.0, 20.0, 58.0, 36.0]])
    targets = centernet_targets(torch.tensor(boxes, dtype=torch.float32), torch.tensor([0, 0]), torch.tensor([-1, -1]),
                                1, (16, 20), r, 8)
    centre = (boxes[:, :2] + boxes[:, 2:]) / (2 * r)
    cell = np.floor(centre)
    np.testing.assert_allclose(targets["offset"][:2].numpy(), centre - cell, rtol=1e-6)
    np.testing.assert_allclose(targets["size"][:2].numpy(), (boxes[:, 2:] - boxes[:, :2]) / r, rtol=1e-6)
    assert targets["indices"][:2].tolist() == (cell[:, 1] * 20 + cell[:, 0]).astype(int).tolist()
    heatmap = targets["heatmap"][0].numpy()
    assert [heatmap[int(y), int(x)] for x, y in cell] == [1.0, 1.0] and (heatmap == 1).sum() == 2


def test_eq2_focal_loss_of_one_image_over_its_objects():
    alpha, beta = 2.0, 4.0  # "hyper-parameters of the focal loss": the paper gives no values; CenterNet's
    rng = np.random.default_rng(0)
    target = rng.uniform(0.0, 0.95, (1, 1, 5, 6))
    target[0, 0, 1, 2] = target[0, 0, 3, 4] = 1.0  # C = 2 objects
    target[0, 0, 4, 0] = 0.0
    logits = rng.normal(0.0, 1.5, (1, 1, 5, 6))
    h_hat = 1 / (1 + np.exp(-logits))
    # Eq. 2, KDMOT: -1/C sum_xy {(1 - H^)^a log H^ if H = 1; (1 - H)^b H^^a log(1 - H^) otherwise}
    per_cell = np.where(target == 1, (1 - h_hat) ** alpha * np.log(h_hat),
                        (1 - target) ** beta * h_hat ** alpha * np.log(1 - h_hat))
    expected = -per_cell.sum() / 2
    value = centernet_focal_loss(torch.tensor(logits), torch.tensor(target), alpha, beta)
    assert value.item() == pytest.approx(expected, rel=1e-9)


def test_eq3_eq4_l1_of_sizes_and_offsets_at_the_object_centres():
    rng = np.random.default_rng(1)
    prediction = rng.normal(size=(1, 2, 4, 5))
    indices = np.array([[3, 17, 0]])
    mask = np.array([[True, True, False]])
    target = rng.normal(size=(1, 3, 2))
    # Eq. 3 / 4, KDMOT: 1/C sum_c |s^_c - s_c|. Read per coordinate and averaged over the 2
    # coordinates as over the C objects (FairMOT's RegL1Loss, which the authors' code uses,
    # with w_s = 0.1, w_o = 1); summing the coordinates is the same L_det with w_s, w_o
    # halved, and the paper gives no values for them.
    read = prediction.reshape(2, -1)[:, indices[0]].T  # (K, 2): the map at each object's cell
    expected = np.abs(read - target[0])[mask[0]].mean()
    value = regression_l1_loss(torch.tensor(prediction), torch.tensor(indices), torch.tensor(mask), torch.tensor(target))
    assert value.item() == pytest.approx(expected, rel=1e-9)


def student_cfg(*opts):
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(QUICK_STUDENT)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.ONE_SHOT.HEAD_CONV", 16, *opts])
    return cfg


def frame():
    instances = gt([8.0, 8.0, 40.0, 60.0], [50.0, 10.0, 90.0, 40.0])
    instances.gt_classes = torch.tensor([0, 1])
    return {"image": torch.randint(0, 255, (3, 64, 96), dtype=torch.uint8), "instances": instances}


def test_eq10_total_loss_of_eq5_detection_and_eq9_identity():
    torch.manual_seed(0)
    cfg = student_cfg(*ALLOW_RANDOM)
    model = build_model(cfg).train()
    omega_1, omega_2 = 0.3, -0.7
    with torch.no_grad():
        model.balance.det_log_var.fill_(omega_1)
        model.balance.id_log_var.fill_(omega_2)
    with EventStorage() as storage:
        total = sum(model([frame(), frame()]).values()).item()
        logged = {k: v for k, (v, _) in storage.latest().items()}
    one_shot = cfg.MODEL.ONE_SHOT
    # Eq. 5, KDMOT: L_det = w_c L_c + w_s L_s + w_o L_o
    l_det = (one_shot.HEATMAP_WEIGHT * logged["loss_heatmap"] + one_shot.SIZE_WEIGHT * logged["loss_size"]
             + one_shot.OFFSET_WEIGHT * logged["loss_offset"])
    l_id = logged["loss_id_distillation"]
    # Eq. 10, KDMOT: 1/2 (L_det / e^w1 + L_id / e^w2 + w1 + w2). The text prints "1 / (rho w)";
    # we read e^w, the log-variance form of Kendall et al. [20] that the sentence cites.
    expected = 0.5 * (l_det / math.exp(omega_1) + l_id / math.exp(omega_2) + omega_1 + omega_2)
    assert total == pytest.approx(expected, rel=1e-5)


def test_teacher_stays_frozen_and_out_of_the_student():
    torch.manual_seed(0)
    model = build_model(student_cfg(*ALLOW_RANDOM))
    teacher = model.id_loss.teacher
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    assert not any(p is q for p in model.parameters() for q in teacher.parameters())
    assert not any("teacher" in k for k in model.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    for _ in range(2):
        with EventStorage():
            losses = model([frame(), frame()])
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    assert not teacher.training and all(p.grad is None for p in teacher.parameters())
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, before[key]), key  # BN running statistics too (eval mode)


def test_training_without_teacher_weights_is_an_error():
    model = build_model(student_cfg())  # a student tracks without its teacher
    model.train()
    with EventStorage(), pytest.raises(ValueError, match="TEACHER_WEIGHTS is empty"):
        model([frame()])
    with pytest.raises(ValueError, match="TEACHER_WEIGHTS is empty"):  # two-step tracking embeds with it
        build_model(student_cfg("MODEL.ONE_SHOT.TEST_EMBEDDINGS", "teacher"))


def teacher_cfg(*opts):
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(QUICK_TEACHER)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    return cfg


def test_teacher_weights_load_through_the_checked_checkpointer(tmp_path):
    torch.manual_seed(1)
    trained = build_model(teacher_cfg("MODEL.REID.NUM_IDENTITIES", 7))  # with its training classifier
    torch.save({"model": trained.state_dict()}, tmp_path / "teacher.pth")
    teacher = build_model(student_cfg("MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS",
                                      str(tmp_path / "teacher.pth"))).id_loss.teacher
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, trained.state_dict()[key]), key
    detector = build_model(student_cfg(*ALLOW_RANDOM))  # weights of another architecture
    torch.save({"model": detector.state_dict()}, tmp_path / "detector.pth")
    with pytest.raises(ValueError, match=r"detector\.pth: weights of another architecture.*TEACHER_WEIGHTS"):
        build_model(student_cfg("MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS", str(tmp_path / "detector.pth")))


def test_teacher_config_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="TEACHER_CONFIG is empty"):
        build_model(student_cfg("MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_CONFIG", ""))
    with pytest.raises(FileNotFoundError, match="teacher weights .*nope.pth do not exist"):
        build_model(student_cfg("MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS", str(tmp_path / "nope.pth")))
    with pytest.raises(ValueError, match="expected ReIDBaseline"):
        build_model(student_cfg("MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_CONFIG",
                                "configs/quick_schedules/oneshot_R18_FPN_GN_synthetic.yaml"))


def test_the_teacher_embeds_256x128_crops():
    # Sec. 3.3.2 / 4.1: each gt box's patch is resized to 256 x 128 before the teacher.
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(PAPER_STUDENT)
    teacher = build_teacher(cfg.MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_CONFIG, "", allow_random=True)
    shapes = []
    teacher.backbone.register_forward_hook(lambda module, args, out: shapes.append(tuple(args[0].shape)))
    with torch.no_grad():
        embeddings = teacher.embed_boxes(torch.zeros(1, 3, 120, 200), [torch.tensor([[10.0, 5.0, 40.0, 100.0]])])
    assert shapes == [(1, 3, 256, 128)] and embeddings.shape == (1, 2048)


def test_paper_config_is_the_papers():
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(PAPER_STUDENT)
    one_shot, solver = cfg.MODEL.ONE_SHOT, cfg.SOLVER
    assert one_shot.EMBED_DIM == 2048 and one_shot.HEAD_CONV == 256  # k = 2048 (Sec. 3.3.1); 3x3, 256 (Sec. 3.1)
    assert one_shot.ID_LOSS.NAME == "DistillationIDLoss" and one_shot.ID_LOSS.DISTILLATION.ETA == 1.0
    assert not one_shot.ID_LOSS.DISTILLATION.ALLOW_RANDOM_TEACHER
    assert one_shot.UNCERTAINTY_WEIGHTING and cfg.INPUT.TRAIN_MAPPER == "DatasetMapper"  # no identity label
    # Sec. 4.1: Adam, 30 epochs from lr 1e-4, divided by 10 at the 20th; 16 images a batch at 1088x608.
    assert (solver.OPTIMIZER, solver.BASE_LR, solver.GAMMA, solver.IMS_PER_BATCH) == ("ADAM", 1e-4, 0.1, 16)
    assert (solver.EPOCHS, tuple(solver.STEP_EPOCHS)) == (30, (20,))
    assert cfg.DATASETS.TRAIN == ("mot17_train_half",)  # Sec. 4.2.1: first half of each sequence
    assert (tuple(cfg.INPUT.MIN_SIZE_TRAIN), cfg.INPUT.MAX_SIZE_TRAIN) == ((608,), 1088)
    assert cfg.TEST.PERSON_SEARCH.IOU_THRESHOLD == 0.5 and not cfg.TEST.PERSON_SEARCH.SIZE_AWARE_IOU  # Sec. 4.3
    teacher = add_mot_config(get_cfg())
    teacher.merge_from_file(one_shot.ID_LOSS.DISTILLATION.TEACHER_CONFIG)
    assert tuple(teacher.INPUT.REID.SIZE) == (256, 128)


def test_person_search_evaluator_embeds_queries_with_the_teacher(synthetic_root, tmp_path):
    from mot_heads.data import register_synthetic_person_search
    from mot_heads.engine import MOTTrainer
    from mot_heads.engine.trainer import teacher_query_embeddings

    register_synthetic_person_search(synthetic_root, prefix="kdsearch")
    opts = ("DATASETS.TEST", ("kdsearch_ps_gallery",), "TEST.EVALUATOR", "person_search",
            "OUTPUT_DIR", str(tmp_path), "MODEL.ONE_SHOT.SCORE_THRESH_TEST", 0.0)
    with pytest.raises(ValueError, match="TEACHER_WEIGHTS is empty"):  # random query embeddings: refused
        MOTTrainer.build_evaluator(student_cfg(*opts), "kdsearch_ps_gallery")
    cfg = student_cfg(*opts, *ALLOW_RANDOM)
    evaluator = MOTTrainer.build_evaluator(cfg, "kdsearch_ps_gallery")
    assert evaluator.kwargs["iou_threshold"] == 0.5  # Sec. 4.3: "IoU ... above 0.5"
    queries = evaluator.queries[:2]
    embeddings = teacher_query_embeddings(build_model(cfg).id_loss.teacher, queries)
    assert len(queries) >= 1 and embeddings.shape == (len(queries), 512)
    assert abs(float((embeddings ** 2).sum(axis=1)[0]) - 1.0) < 1e-5
    torch.manual_seed(0)
    results = MOTTrainer.test(cfg, build_model(cfg))["person_search"]
    assert set(results) >= {"mAP", "top1", "top5", "top10"}
    assert all(0.0 <= results[k] <= 100.0 for k in ("mAP", "top1"))


def test_two_step_inference_embeds_the_detection_crops_with_the_teacher():
    torch.manual_seed(0)
    model = build_model(student_cfg("MODEL.ONE_SHOT.TEST_EMBEDDINGS", "teacher", *ALLOW_RANDOM,
                                    "MODEL.ONE_SHOT.TOPK_TEST", 5, "MODEL.ONE_SHOT.SCORE_THRESH_TEST", -1.0)).eval()
    with torch.no_grad():
        model.size_head[2].bias.fill_(4.0)  # boxes of 16 x 16 pixels from the untrained heads
    id_head_calls = []
    model.id_head.register_forward_hook(lambda *args: id_head_calls.append(1))
    inputs = [{"image": frame()["image"], "height": 64, "width": 96} for _ in range(2)]
    with torch.no_grad():
        results = model(inputs)
        instances = results[1]["instances"]
        raw = inputs[1]["image"][None].float()
        expected = model.id_loss.teacher.embed_boxes(raw, [instances.pred_boxes.tensor], "BGR")
    assert not id_head_calls  # the ID branch does not run in two-step mode
    assert model.crop_embedder is model.id_loss.frozen_teacher  # one teacher for training and two-step
    assert len(instances)
    assert torch.allclose(instances.pred_embeddings, expected, atol=1e-5)
    assert torch.allclose(instances.pred_embeddings.norm(dim=1), torch.ones(len(instances)))


def test_test_embeddings_must_be_head_or_teacher():
    with pytest.raises(ValueError, match="TEST_EMBEDDINGS is 'crops'"):
        build_model(student_cfg("MODEL.ONE_SHOT.TEST_EMBEDDINGS", "crops"))
