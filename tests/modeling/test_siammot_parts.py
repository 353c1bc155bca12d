"""SiamMOT's IMM (Eq. 2-3), search regions, pooling levels and triplet labelling."""
import math

import pytest
import torch
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Boxes, Instances

from mot_heads.modeling.siammot.imm import IMM, MOTION_CODER
from mot_heads.modeling.siammot.regions import pool_regions, search_regions
from mot_heads.modeling.siammot.triplets import HARD, NEGATIVE, POSITIVE, label_triplets, sample_triplets


def test_motion_encoding_is_eq2_and_round_trips():
    prev = torch.tensor([[10.0, 20.0, 30.0, 60.0]])  # centre (20, 40), w 20, h 40
    nxt = torch.tensor([[15.0, 10.0, 55.0, 90.0]])  # centre (35, 50), w 40, h 80
    m = MOTION_CODER.get_deltas(prev, nxt)
    assert m.tolist()[0] == pytest.approx([15 / 20, 10 / 40, math.log(2), math.log(2)])
    assert MOTION_CODER.apply_deltas(m, prev).tolist()[0] == pytest.approx(nxt.tolist()[0], abs=1e-4)


def test_search_region_is_the_box_scaled_about_its_centre():
    boxes = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    assert search_regions(boxes, 2.0).tolist() == [[0.0, 0.0, 40.0, 80.0]]
    assert search_regions(boxes, 1.0).tolist() == boxes.tolist()


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


def test_triplet_labels_follow_section_5_2():
    # Two classes (0, 1); class 2 marks a background proposal (num_classes = 2).
    proposals = _proposals(
        [[10, 10, 20, 30],  # id 1: present nearby -> positive
         [50, 50, 60, 70],  # id 2: absent, id 3 (same class) nearby -> hard
         [80, 10, 90, 30],  # id 4: absent, only a car nearby -> negative
         [10, 60, 20, 80],  # id 5: visible but far outside the search region -> negative
         [30, 30, 40, 50],  # background proposal -> negative
         [10, 10, 20, 30]],  # id 6: below the visibility threshold, id 1 nearby -> hard
        [0, 0, 0, 0, 2, 0], [1, 2, 4, 5, 1, 6],
    )
    targets = _targets(
        [[12, 12, 22, 32], [52, 48, 62, 68], [82, 12, 92, 32], [70, 60, 80, 80], [11, 11, 21, 31]],
        [0, 0, 1, 0, 0], [1, 3, 7, 5, 6], [1.0, 1.0, 1.0, 1.0, 0.05],
    )
    kinds, target_boxes = label_triplets(proposals, targets, num_classes=2, search_scale=2.0, min_visibility=0.1)
    assert kinds.tolist() == [POSITIVE, HARD, NEGATIVE, NEGATIVE, NEGATIVE, HARD]
    assert target_boxes[0].tolist() == [12, 12, 22, 32]
    assert target_boxes[1].tolist() == [50, 50, 60, 70]  # no target: the template box


def test_triplets_without_next_frame_objects_are_negative():
    proposals = _proposals([[10, 10, 20, 30]], [0], [1])
    empty = _targets(torch.zeros((0, 4)).tolist(), [], [], [])
    kinds, _ = label_triplets(proposals, empty, 2, 2.0, 0.1)
    assert kinds.tolist() == [NEGATIVE]


def test_triplet_sampling_respects_kinds_and_fraction():
    kinds = torch.tensor([POSITIVE] * 10 + [HARD] * 10 + [NEGATIVE] * 10)
    keep = sample_triplets(kinds, ("positive", "hard", "negative"), 8, 0.75)
    assert len(keep) == 8 and (kinds[keep] == POSITIVE).sum() == 6
    keep = sample_triplets(kinds, ("positive", "hard"), 30, 0.5)
    assert set(kinds[keep].tolist()) == {POSITIVE, HARD} and len(keep) == 20
    with pytest.raises(ValueError, match="unknown kinds"):
        sample_triplets(kinds, ("positive", "easy"), 8, 0.75)


def test_imm_losses_and_prediction():
    torch.manual_seed(0)
    imm = IMM(in_channels=4, template_size=3, search_size=3, hidden_dim=16)
    template, search = torch.randn(5, 4, 3, 3), torch.randn(5, 4, 3, 3)
    prev = torch.tensor([[10.0, 10.0, 20.0, 30.0]]).repeat(5, 1)
    target = prev + 2
    visible = torch.tensor([True, True, False, True, False])
    losses = imm.losses(template, search, prev, search_regions(prev, 2.0), target, visible)
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values()) and imm.motion.weight.grad.abs().sum() > 0
    boxes, vis = imm.predict(template, search, prev, search_regions(prev, 2.0))
    assert boxes.shape == (5, 4) and ((vis > 0) & (vis < 1)).all()
    # untrained motion is near zero: the box stays where it was
    assert torch.allclose(boxes, prev, atol=0.5)
    none = imm.losses(template[:0], search[:0], prev[:0], prev[:0], prev[:0], visible[:0])
    assert all(v.item() == 0 for v in none.values())
    with pytest.raises(ValueError, match="one size"):
        IMM(in_channels=4, template_size=15, search_size=30)
