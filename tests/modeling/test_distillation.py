"""KDMOT's distillation ID loss: smooth L1 to a frozen teacher's crop embeddings."""
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from torch import nn

from mot_heads import add_mot_config
from mot_heads.modeling.one_shot.distillation import DistillationIDLoss

TEACHER = "configs/quick_schedules/reid_R18_synthetic.yaml"


class FixedTeacher(nn.Module):
    """A stand-in teacher whose embedding of box k is ``targets[k]``; records its inputs."""

    def __init__(self, targets):
        super().__init__()
        self.bnneck = nn.BatchNorm1d(targets.shape[1])
        self.targets, self.calls = targets, []

    def embed_boxes(self, images, boxes, input_format, normalize):
        self.calls.append((images, boxes, input_format, normalize))
        return self.targets


def gt(*boxes):
    instances = Instances((16, 16))
    instances.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    return instances


def test_smooth_l1_to_the_teacher_by_hand():
    teacher = FixedTeacher(torch.tensor([[0.0, 0.0], [1.0, -1.0], [0.0, 3.0]]))
    loss = DistillationIDLoss(teacher=teacher, embed_dim=2, input_format="BGR")
    student = [torch.tensor([[0.5, 0.0], [1.0, 1.0]], requires_grad=True), torch.tensor([[0.0, 0.0]])]
    inputs = [{"image": torch.zeros(3, 16, 16, dtype=torch.uint8)}, {"image": torch.ones(3, 12, 16, dtype=torch.uint8)}]
    value = loss(student, [gt([0, 0, 8, 8], [4, 4, 12, 12]), gt([1, 1, 5, 5])], None, inputs)["loss_id_distillation"]
    # per element, beta 1: |d| < 1 -> d^2 / 2, else |d| - 1/2; errors 0.5, 0 | 0, 2 | 0, 3
    # -> 0.125 + 0 + 0 + 1.5 + 0 + 2.5 = 4.125 over 3 boxes x 2 channels
    assert value.item() == pytest.approx(4.125 / 6)
    value.backward()
    assert student[0].grad is not None
    images, boxes, input_format, normalize = teacher.calls[0]
    assert images.shape == (2, 3, 16, 16) and images[1, :, :12].eq(1).all()  # one padded batch of raw pixels
    assert [b.tolist() for b in boxes] == [[[0, 0, 8, 8], [4, 4, 12, 12]], [[1, 1, 5, 5]]]
    assert input_format == "BGR" and normalize is False


def test_embedding_sizes_must_match_and_empty_batches_keep_the_graph():
    with pytest.raises(ValueError, match="EMBED_DIM is 8, the teacher's embedding 2"):
        DistillationIDLoss(teacher=FixedTeacher(torch.zeros(1, 2)), embed_dim=8)
    loss = DistillationIDLoss(teacher=FixedTeacher(torch.zeros(0, 2)), embed_dim=2)
    empty = torch.zeros(0, 2, requires_grad=True)
    assert loss([empty], [gt()], None, [{"image": torch.zeros(3, 4, 4)}])["loss_id_distillation"].requires_grad


def student_cfg(*opts):
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file("configs/quick_schedules/kdmot_R18_FPN_GN_synthetic.yaml")
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.ONE_SHOT.HEAD_CONV", 16, *opts])
    return cfg


def frame():
    instances = gt([8.0, 8.0, 40.0, 60.0], [50.0, 10.0, 90.0, 40.0])
    instances.gt_classes = torch.tensor([0, 1])
    return {"image": torch.randint(0, 255, (3, 64, 96), dtype=torch.uint8), "instances": instances}


def test_teacher_stays_frozen_and_out_of_the_student():
    torch.manual_seed(0)
    model = build_model(student_cfg())
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


def test_teacher_config_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="TEACHER_CONFIG is empty"):
        build_model(student_cfg("MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_CONFIG", ""))
    with pytest.raises(FileNotFoundError, match="teacher weights .*nope.pth do not exist"):
        build_model(student_cfg("MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS", str(tmp_path / "nope.pth")))
    with pytest.raises(ValueError, match="expected ReIDBaseline"):
        build_model(student_cfg("MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_CONFIG",
                                "configs/quick_schedules/oneshot_R18_FPN_GN_synthetic.yaml"))


def test_person_search_evaluator_embeds_queries_with_the_teacher(synthetic_root, tmp_path):
    from mot_heads.data import register_synthetic_person_search
    from mot_heads.engine import MOTTrainer
    from mot_heads.engine.trainer import teacher_query_embeddings

    register_synthetic_person_search(synthetic_root, prefix="kdsearch")
    cfg = student_cfg("DATASETS.TEST", ("kdsearch_ps_gallery",), "TEST.EVALUATOR", "person_search",
                      "OUTPUT_DIR", str(tmp_path), "MODEL.ONE_SHOT.SCORE_THRESH_TEST", 0.0)
    evaluator = MOTTrainer.build_evaluator(cfg, "kdsearch_ps_gallery")
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
    model = build_model(student_cfg("MODEL.ONE_SHOT.TEST_EMBEDDINGS", "teacher",
                                    "MODEL.ONE_SHOT.TOPK_TEST", 5, "MODEL.ONE_SHOT.SCORE_THRESH_TEST", -1.0)).eval()
    id_head_calls = []
    model.id_head.register_forward_hook(lambda *args: id_head_calls.append(1))
    inputs = [{"image": frame()["image"], "height": 64, "width": 96} for _ in range(2)]
    with torch.no_grad():
        results = model(inputs)
        instances = results[1]["instances"]
        raw = inputs[1]["image"][None].float()
        expected = model.id_loss.teacher.embed_boxes(raw, [instances.pred_boxes.tensor], "BGR")
    assert not id_head_calls  # the ID branch does not run in two-step mode
    assert len(instances)  # detector_postprocess drops the untrained heads' empty boxes
    assert torch.allclose(instances.pred_embeddings, expected, atol=1e-5)
    assert torch.allclose(instances.pred_embeddings.norm(dim=1), torch.ones(len(instances)))


def test_test_embeddings_must_be_head_or_teacher():
    with pytest.raises(ValueError, match="TEST_EMBEDDINGS is 'crops'"):
        build_model(student_cfg("MODEL.ONE_SHOT.TEST_EMBEDDINGS", "crops"))
