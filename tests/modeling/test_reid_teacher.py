"""KDMOT's ReID teacher (bag-of-tricks baseline): losses by hand, BNNeck, last stride,
RoIAlign crops, and a few training iterations through MOTTrainer on synthetic crops."""
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from scipy.special import log_softmax

from mot_heads import add_mot_config
from mot_heads.data import register_mot_crops, register_synthetic
from mot_heads.engine import MOTTrainer
from mot_heads.modeling.reid import batch_hard_triplet_loss, crop_boxes

QUICK = os.path.join(os.path.dirname(__file__), "../../configs/quick_schedules/reid_R18_synthetic.yaml")


def tiny_cfg(*opts):
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(QUICK)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.REID.NUM_IDENTITIES", 4, "INPUT.REID.SIZE", (64, 32), *opts])
    return cfg


def batch_hard_triplet(features: np.ndarray, labels: np.ndarray, margin: float) -> float:
    """Batch-hard triplet loss (Hermans et al. 2017, Luo et al. Sec. 2): for each anchor a
    with a positive and a negative in the batch, [margin + max_p d(a, p) - min_n d(a, n)]_+,
    Euclidean d; the mean over those anchors."""
    terms = []
    for a in range(len(labels)):
        d = np.linalg.norm(features - features[a], axis=1)
        positive = (labels == labels[a]) & (np.arange(len(labels)) != a)
        negative = labels != labels[a]
        if positive.any() and negative.any():
            terms.append(max(0.0, margin + d[positive].max() - d[negative].min()))
    return float(np.mean(terms))


def test_batch_hard_triplet_picks_farthest_positive_and_nearest_negative():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(9, 4))
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3])  # identity 3: an anchor without a positive
    for margin in (0.3, 3.0):  # hinges active and inactive
        value = batch_hard_triplet_loss(torch.tensor(features), torch.tensor(labels), margin).item()
        assert value == pytest.approx(batch_hard_triplet(features, labels, margin), rel=1e-6)
    duplicates = torch.zeros(4, 3, requires_grad=True)  # zero distances everywhere: finite gradients
    batch_hard_triplet_loss(duplicates, torch.tensor([0, 0, 1, 1]), 0.3).backward()
    assert torch.isfinite(duplicates.grad).all()


def test_baseline_losses_are_luo_et_al():
    torch.manual_seed(0)
    model = build_model(tiny_cfg()).train()
    captured = {}
    model.bnneck.register_forward_hook(lambda module, args, out: captured.update(f_t=args[0].detach()))
    model.classifier.register_forward_hook(lambda module, args, out: captured.update(logits=out.detach()))
    labels = np.arange(8) % 4
    batch = [{"image": torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8), "label": int(y)} for y in labels]
    losses = model(batch)
    # Sec. 3.3, label smoothing: q_i = 1 - (N - 1) eps / N for i = y, eps / N otherwise;
    # L_ID = sum_i -q_i log p_i over the N training identities, eps = 0.1 (averaged over the batch).
    eps, n = 0.1, 4
    log_p = log_softmax(captured["logits"].double().numpy(), axis=1)
    q = np.full(log_p.shape, eps / n)
    q[np.arange(len(labels)), labels] = 1 - (n - 1) * eps / n
    assert losses["loss_id"].item() == pytest.approx(float(-(q * log_p).sum(1).mean()), rel=1e-5)
    # Sec. 3.5: the triplet loss reads f_t, the pooled feature before BNNeck (margin 0.3).
    expected = batch_hard_triplet(captured["f_t"].double().numpy(), labels, 0.3)
    assert losses["loss_triplet"].item() == pytest.approx(expected, rel=1e-5)


def test_bnneck_bias_is_frozen_at_zero_and_last_stride_is_one():
    cfg = tiny_cfg()
    model = build_model(cfg)
    assert not model.bnneck.bias.requires_grad and model.classifier.bias is None
    assert model.backbone.output_shape()["res5"].stride == 16
    features = model.backbone(torch.zeros(2, 3, 64, 32))["res5"]
    assert features.shape[-2:] == (4, 2)  # stride 16, not 32 (2 x 1)
    optimizer = MOTTrainer.build_optimizer(cfg, model)
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert id(model.bnneck.bias) not in optimized
    model.train()
    batch = [{"image": torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8), "label": i % 4} for i in range(8)]
    losses = model(batch)
    assert set(losses) == {"loss_id", "loss_triplet"} and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    optimizer.step()
    assert torch.equal(model.bnneck.bias, torch.zeros_like(model.bnneck.bias))
    model.eval()
    out = model(batch[:3])
    assert len(out) == 3 and out[0]["embedding"].shape == (512,)
    assert out[0]["embedding"].norm().item() == pytest.approx(1.0, abs=1e-5)


def test_crop_boxes_returns_the_box_pixels():
    images = torch.arange(2 * 3 * 20 * 30, dtype=torch.float32).reshape(2, 3, 20, 30)
    boxes = [torch.tensor([[3.0, 2.0, 7.0, 8.0]]), torch.tensor([[0.0, 0.0, 4.0, 6.0], [26.0, 14.0, 30.0, 20.0]])]
    crops = crop_boxes(images, boxes, size=(6, 4))
    assert crops.shape == (3, 3, 6, 4)
    torch.testing.assert_close(crops[0], images[0, :, 2:8, 3:7])
    torch.testing.assert_close(crops[1], images[1, :, 0:6, 0:4])
    torch.testing.assert_close(crops[2], images[1, :, 14:20, 26:30])


def test_embed_boxes_matches_embedding_the_cut_crops_and_swaps_channels():
    model = build_model(tiny_cfg()).eval()
    images = torch.randint(0, 255, (1, 3, 80, 60)).float()
    with torch.no_grad():
        embedded = model.embed_boxes(images, [torch.tensor([[10.0, 8.0, 42.0, 72.0]])])
        direct = model.embed_crops(F.interpolate(images[:, :, 8:72, 10:42], size=(64, 32)))
        assert embedded.shape == (1, 512)
        torch.testing.assert_close(embedded, direct, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(model.embed_crops(images[:, :, :64, :32], input_format="BGR"),
                                   model.embed_crops(images[:, :, :64, :32].flip(1)))
        assert model.embed_crops(torch.zeros(0, 3, 64, 32)).shape == (0, 512)


@pytest.mark.slow
def test_a_few_training_iterations_through_the_trainer(tmp_path, synthetic_root):
    register_synthetic(synthetic_root, prefix="rtt")
    register_mot_crops("rtt_train_reid", "rtt_train")
    register_mot_crops("rtt_val_reid", "rtt_val", stride_frames=5, query_gallery=True)
    cfg = tiny_cfg(
        "MODEL.REID.NUM_IDENTITIES", 0, "DATASETS.TRAIN", ("rtt_train_reid",), "DATASETS.TEST", ("rtt_val_reid",),
        "SOLVER.IMS_PER_BATCH", 8, "SOLVER.MAX_ITER", 3, "SOLVER.WARMUP_ITERS", 1, "SOLVER.STEPS", (),
        "TEST.EVAL_PERIOD", 3, "DATALOADER.NUM_WORKERS", 0, "OUTPUT_DIR", str(tmp_path),
    )
    trainer = MOTTrainer(cfg)
    assert trainer.model.classifier.out_features > 2  # counted in rtt_train_reid
    trainer.resume_or_load(resume=False)
    trainer.train()
    logged = {k: v for k, (v, _) in trainer.storage.latest().items()}
    assert all(math.isfinite(logged[k]) for k in ("loss_id", "loss_triplet"))
    # The end-of-training EvalHook ran the retrieval evaluator on the query / gallery crops.
    assert logged["retrieval/queries"] > 0 and 0.0 < logged["retrieval/mAP"] <= 100.0
