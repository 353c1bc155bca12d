"""SiamMOT's IMM (Eq. 2-3), search regions (Sec. 3.1), pooling levels, training triplets
(Sec. 5.2) and the paper's training constants (Sec. 4.2), each against the paper."""
import os

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Boxes, Instances

from mot_heads import add_mot_config
from mot_heads.modeling.siammot.imm import IMM, MOTION_CODER
from mot_heads.modeling.siammot.regions import pool_regions, search_regions
from mot_heads.modeling.siammot.track_head import build_motion_model
from mot_heads.modeling.siammot.triplets import HARD, NEGATIVE, POSITIVE, label_triplets, sample_triplets

CONFIGS = os.path.join(os.path.dirname(__file__), "../../configs")


def xywh(boxes):
    """(x, y, w, h) of x1, y1, x2, y2 boxes, (x, y) the centre."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2, \
        boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]


def random_boxes(n, generator):
    corner = torch.rand(n, 2, generator=generator, dtype=torch.float64) * 100
    size = 5 + torch.rand(n, 2, generator=generator, dtype=torch.float64) * 60
    return torch.cat([corner, corner + size], dim=1)


def test_motion_is_eq2_and_the_box_its_inversion():
    # Eq. 2, SiamMOT: m = [(x' - x) / w, (y' - y) / h, log(w' / w), log(h' / h)], with
    # (x, y, w, h) the parameterisation of R^t (x, y its centre: the paper does not say
    # centre or corner; the centre is Faster R-CNN's box parameterisation [45]).
    gen = torch.Generator().manual_seed(0)
    prev, nxt = random_boxes(50, gen), random_boxes(50, gen)  # moves both ways, grows and shrinks
    x, y, w, h = xywh(prev)
    x2, y2, w2, h2 = xywh(nxt)
    expected = np.stack([(x2 - x) / w, (y2 - y) / h, np.log(w2 / w), np.log(h2 / h)], axis=1)
    assert (expected[:, :2] < 0).any() and (expected[:, :2] > 0).any()
    assert (expected[:, 2:] < 0).any() and (expected[:, 2:] > 0).any()
    np.testing.assert_allclose(MOTION_CODER.get_deltas(prev, nxt).numpy(), expected, rtol=1e-6, atol=1e-9)
    # "We can trivially derive R~ from an inversion transformation of Eq. 2": centre
    # x + m1 w, y + m2 h, size w e^m3, h e^m4.
    m = np.random.default_rng(0).normal(0, 0.5, (50, 4))
    cx, cy, cw, ch = x + m[:, 0] * w, y + m[:, 1] * h, w * np.exp(m[:, 2]), h * np.exp(m[:, 3])
    inverted = np.stack([cx - cw / 2, cy - ch / 2, cx + cw / 2, cy + ch / 2], axis=1)
    # (Detectron2 decodes in float32)
    np.testing.assert_allclose(MOTION_CODER.apply_deltas(torch.tensor(m), prev).numpy(), inverted, rtol=1e-5)


def focal_loss(logit, label, alpha=0.25, gamma=2.0):
    """The focal loss of Lin et al. [38] on one logit: -alpha_t (1 - p_t)^gamma log(p_t)."""
    p = 1 / (1 + np.exp(-logit))
    return np.where(label == 1, -alpha * (1 - p) ** gamma * np.log(p),
                    -(1 - alpha) * p ** gamma * np.log(1 - p))


def smooth_l1(diff, beta=1.0):
    """Fast R-CNN's smooth L1 [20]: 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere."""
    d = np.abs(diff)
    return np.where(d < beta, 0.5 * d ** 2 / beta, d - 0.5 * beta)


def test_imm_loss_is_eq3_with_smooth_l1():
    # Eq. 3, SiamMOT: L = l_focal(v, v*) + 1[v*] l_reg(m, m*), "l_reg the commonly used
    # smooth l1 loss" (Fast R-CNN's, beta = 1; the focal loss with RetinaNet's alpha =
    # 0.25, gamma = 2). Normalisation (ours): the focal terms averaged over triplets, the
    # regression terms over visible triplets.
    cfg = add_mot_config(get_cfg())
    cfg.MODEL.TRACK_HEAD.NAME = "IMM"
    cfg.MODEL.TRACK_HEAD.SEARCH_RESOLUTION = cfg.MODEL.TRACK_HEAD.TEMPLATE_RESOLUTION = 3
    cfg.MODEL.TRACK_HEAD.IMM.HIDDEN_DIM = 16
    torch.manual_seed(0)
    imm = build_motion_model(cfg, in_channels=4).double()
    template, search = torch.randn(6, 4, 3, 3, dtype=torch.float64), torch.randn(6, 4, 3, 3, dtype=torch.float64)
    prev = torch.tensor([[10.0, 10.0, 20.0, 30.0]], dtype=torch.float64).repeat(6, 1)
    # small and large motions: both branches of smooth l1
    target = prev + torch.tensor([[0.5, 0.5, 1.0, 1.0], [0, 0, 0, 0], [-30, 5, 10, 60],
                                  [3, -2, 3, -2], [1, 1, 1, 1], [20, 20, 20, 20]], dtype=torch.float64)
    visible = torch.tensor([True, False, True, True, False, True])
    losses = imm.losses(template, search, prev, search_regions(prev, 2.0), target, visible)
    with torch.no_grad():
        logits, motion = imm(template, search)
    logits, motion, v = logits.numpy(), motion.numpy(), visible.numpy()
    x, y, w, h = xywh(prev.numpy())
    x2, y2, w2, h2 = xywh(target.numpy())
    m_star = np.stack([(x2 - x) / w, (y2 - y) / h, np.log(w2 / w), np.log(h2 / h)], axis=1)  # Eq. 2
    diff = motion - m_star
    assert (np.abs(diff[v]) < 1).any() and (np.abs(diff[v]) > 1).any()
    assert losses["loss_track_vis"].item() == pytest.approx(focal_loss(logits, v.astype(float)).mean(), rel=1e-6)
    assert losses["loss_track_reg"].item() == pytest.approx(smooth_l1(diff[v]).sum() / v.sum(), rel=1e-6)


def test_imm_predicts_boxes_and_visibility():
    torch.manual_seed(0)
    imm = IMM(in_channels=4, template_size=3, search_size=3, hidden_dim=16)
    template, search = torch.randn(5, 4, 3, 3), torch.randn(5, 4, 3, 3)
    prev = torch.tensor([[10.0, 10.0, 20.0, 30.0]]).repeat(5, 1)
    visible = torch.tensor([True, True, False, True, False])
    losses = imm.losses(template, search, prev, search_regions(prev, 2.0), prev + 2, visible)
    sum(losses.values()).backward()
    assert imm.motion.weight.grad.abs().sum() > 0
    boxes, vis = imm.predict(template, search, prev, search_regions(prev, 2.0))
    assert boxes.shape == (5, 4) and ((vis > 0) & (vis < 1)).all()
    assert torch.allclose(boxes, prev, atol=0.5)  # untrained motion is near zero
    none = imm.losses(template[:0], search[:0], prev[:0], prev[:0], prev[:0], visible[:0])
    assert all(v.item() == 0 for v in none.values())
    with pytest.raises(ValueError, match="one size"):
        IMM(in_channels=4, template_size=15, search_size=30)


def test_search_region_is_the_box_expanded_by_r_about_its_centre():
    # Sec. 3.1: "We compute S by expanding R by a factor r (> 1) while maintaining the
    # same geometric center".
    boxes = random_boxes(20, torch.Generator().manual_seed(1))
    for r in (1.5, 2.0):
        x, y, w, h = xywh(boxes.numpy())
        expected = np.stack([x - r * w / 2, y - r * h / 2, x + r * w / 2, y + r * h / 2], axis=1)
        np.testing.assert_allclose(search_regions(boxes, r).numpy(), expected, rtol=1e-12)


def test_regions_are_pooled_at_the_level_of_their_boxes():
    """A search region twice the box size is pooled where the box would be: the
    features of level k are constant k, so the pooled value names the level."""
    pooler = ROIPooler(2, (1 / 4, 1 / 8, 1 / 16), 2, "ROIAlignV2")
    features = [torch.full((1, 1, 64 // s, 64 // s), float(k)) for k, s in enumerate((1, 2, 4))]
    boxes = Boxes(torch.tensor([[0.0, 0.0, 16.0, 16.0], [0.0, 0.0, 60.0, 60.0]]))
    regions = Boxes(search_regions(boxes.tensor, 2.0))
    own_levels = pooler(features, [regions]).mean(dim=(1, 2, 3))
    box_levels = pool_regions(pooler, features, [regions], [boxes]).mean(dim=(1, 2, 3))
    assert box_levels.tolist() == pooler(features, [boxes]).mean(dim=(1, 2, 3)).tolist()
    assert (own_levels >= box_levels).all() and (own_levels > box_levels).any()


def _proposals(boxes, classes, ids):
    p = Instances((100, 100))
    p.proposal_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    p.gt_classes = torch.tensor(classes)
    p.gt_track_ids = torch.tensor(ids)
    return p


def _targets(boxes, classes, ids, visibility):
    t = Instances((100, 100))
    t.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    t.gt_classes = torch.tensor(classes)
    t.gt_track_ids = torch.tensor(ids)
    t.gt_visibility = torch.tensor(visibility)
    return t


def test_triplet_kinds_follow_section_5_2():
    # Sec. 5.2: "negative (N) when R^t does not include a person, positive (P) when R^t
    # and S^{t+delta} includes the same person, and hard (H) when R^t includes a person,
    # but S^{t+delta} does not include the target person". R^t includes a person when
    # the box head matched the proposal to a gt box; S includes it (ours: the paper gives
    # no test) when the person's next box has its centre inside S and is at least
    # MIN_VISIBILITY visible. Class 2 marks a background proposal (num_classes = 2).
    proposals = _proposals(
        [[10, 10, 20, 30],  # id 1, present near by -> P
         [50, 50, 60, 70],  # id 2, absent, another person (id 3) in S -> H
         [80, 10, 90, 30],  # id 4, absent, nobody in S -> H (no distractor needed)
         [10, 60, 20, 80],  # id 5, visible but its centre outside S -> H
         [30, 30, 40, 50],  # background, a person in S -> N
         [10, 10, 20, 30]],  # id 6, visible 5% only (below MIN_VISIBILITY 0.1) -> H
        [0, 0, 0, 0, 2, 0], [1, 2, 4, 5, 1, 6],
    )
    targets = _targets(
        [[12, 12, 22, 32], [52, 48, 62, 68], [82, 12, 92, 32], [70, 60, 80, 80], [11, 11, 21, 31]],
        [0, 0, 1, 0, 0], [1, 3, 7, 5, 6], [1.0, 1.0, 1.0, 1.0, 0.05],
    )
    kinds, target_boxes = label_triplets(proposals, targets, num_classes=2, search_scale=2.0, min_visibility=0.1)
    assert kinds.tolist() == [POSITIVE, HARD, HARD, HARD, NEGATIVE, HARD]
    assert target_boxes[0].tolist() == [12, 12, 22, 32]
    assert target_boxes[1].tolist() == [50, 50, 60, 70]  # no target: the template box
    # a person in frame t and nobody in frame t + delta: hard, not negative
    empty = _targets(torch.zeros((0, 4)).tolist(), [], [], [])
    kinds, _ = label_triplets(proposals, empty, 2, 2.0, 0.1)
    assert kinds.tolist() == [HARD, HARD, HARD, HARD, NEGATIVE, HARD]


def test_triplet_sampling_takes_the_configured_share_of_each_kind():
    # The paper gives no mix; the authors' sampler takes, out of N triplets an image,
    # at most N * POS_RATIO positives and N * HN_RATIO hard ones at random, and fills
    # the rest up to N with negatives (POS_RATIO = HN_RATIO = 0.25, N = 256). Table 2's
    # ablation leaves a kind out.
    torch.manual_seed(0)
    for counts in [(100, 100, 300), (10, 3, 300), (100, 100, 20), (0, 0, 5)]:
        kinds = torch.tensor([POSITIVE] * counts[0] + [HARD] * counts[1] + [NEGATIVE] * counts[2])
        for allowed in [("positive", "hard", "negative"), ("positive", "hard"), ("positive", "negative")]:
            num, pos_share, hard_share = 256, 0.25, 0.25
            n_pos = min(counts[0], int(num * pos_share))
            n_hard = min(counts[1], int(num * hard_share)) if "hard" in allowed else 0
            n_neg = min(counts[2], num - n_pos - n_hard) if "negative" in allowed else 0
            keep = sample_triplets(kinds, allowed, num, pos_share, hard_share)
            assert len(set(keep.tolist())) == len(keep)
            assert [(kinds[keep] == k).sum().item() for k in (POSITIVE, HARD, NEGATIVE)] == [n_pos, n_hard, n_neg]
    for kinds_named in [("positive", "easy"), ()]:
        with pytest.raises(ValueError, match="expected one or more of"):
            sample_triplets(kinds, kinds_named, 8, 0.25, 0.25)
    with pytest.raises(ValueError, match="at most 1"):
        sample_triplets(kinds, ("positive", "hard"), 8, 0.75, 0.5)


def test_default_track_head_keys_are_the_authors_sampler():
    head = add_mot_config(get_cfg()).MODEL.TRACK_HEAD
    assert (head.TRIPLETS_PER_IMAGE, head.POSITIVE_FRACTION, head.HARD_FRACTION) == (256, 0.25, 0.25)
    assert tuple(head.TRIPLETS) == ("positive", "hard", "negative")  # P + H + N, Table 2's best


@pytest.mark.parametrize("name", ["siammot_EMM_R50_FPN", "siammot_IMM_R50_FPN", "siammot_EMM_DLA34_FPN",
                                  "siammot_IMM_DLA34_FPN"])
def test_paper_configs_state_the_papers_constants(name):
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(os.path.join(CONFIGS, "SiamMOT", f"{name}.yaml"))
    head = cfg.MODEL.TRACK_HEAD
    # Sec. 4.2: "We sample 256 image regions from the output of the RPN to train them"
    # (the tracker and the detection network): one sample of 256 regions for both heads.
    assert cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE == 256 and head.TRIPLETS_PER_IMAGE == 256
    # Sec. 4.2: r = 2; 15x15 template; search 30x30 (EMM) or 15x15 (IMM); IMM 512 hidden.
    assert head.SEARCH_REGION_SCALE == 2.0 and head.TEMPLATE_RESOLUTION == 15
    assert head.SEARCH_RESOLUTION == (30 if head.NAME == "EMM" else 15) and head.IMM.HIDDEN_DIM == 512
    assert head.IMM.SMOOTH_L1_BETA == 1.0  # Eq. 3: smooth l1
    # Sec. 4.2: "shorter side has 800 pixels", "learning rate of 0.02 and decrease it by
    # factor 10 after 60% of the iterations, and again after 80%", "weight decay of
    # 10^-4 and a batch size of 16 image pairs", 25K iterations (CrowdHuman).
    assert tuple(cfg.INPUT.MIN_SIZE_TRAIN) == (800,)
    solver = cfg.SOLVER
    assert (solver.BASE_LR, solver.GAMMA, solver.WEIGHT_DECAY, solver.IMS_PER_BATCH) == (0.02, 0.1, 1e-4, 16)
    assert solver.MAX_ITER == 25000 and tuple(solver.STEPS) == (0.6 * 25000, 0.8 * 25000)
    # Sec. 5.2: pairs of frames "at most 1 second apart"; Sec. 4.2: the solver's
    # defaults are alpha 0.4, beta 0.6, tau 30 (tests/trackers/test_siammot_solver.py).
    assert cfg.INPUT.PAIR.MAX_SECONDS == 1.0 and cfg.INPUT.PAIR.MAX_FRAMES == 0
    assert cfg.TRACKER.NAME == "siammot" and list(cfg.TRACKER.PARAMS) == []
